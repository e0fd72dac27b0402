//! PNG: 8- and 16-bit grey or colour, through the `image` crate.

use super::raster::read_with;
use super::{Contents, Holds, Reader};
use image::codecs::png::PngDecoder;
use std::io::Cursor;

const FORMAT: &str = "PNG";

/// Reads PNG files.
pub(super) const PNG: Reader = Reader::new(
    FORMAT,
    &["png"],
    Holds::Images,
    |bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
    |bytes, options| {
        let decoder = PngDecoder::new(Cursor::new(bytes));
        read_with(FORMAT, decoder, &options.limits).map(Contents::Image)
    },
);
