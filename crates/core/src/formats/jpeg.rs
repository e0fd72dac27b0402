//! JPEG: 8-bit grey or colour, through the `image` crate.

use super::raster::read_with;
use super::{Contents, Holds, Reader};
use image::codecs::jpeg::JpegDecoder;
use std::io::Cursor;

const FORMAT: &str = "JPEG";

/// Reads JPEG files.
pub(super) const JPEG: Reader = Reader::new(
    FORMAT,
    &["jpg", "jpeg"],
    Holds::Images,
    |bytes| bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
    |bytes, options| {
        let decoder = JpegDecoder::new(Cursor::new(bytes));
        read_with(FORMAT, decoder, &options.limits).map(Contents::Image)
    },
);
