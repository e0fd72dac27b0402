//! JPEG: 8-bit grey or colour, through the `image` crate.

use super::raster::{RasterFormat, read_with};
use image::codecs::jpeg::JpegDecoder;
use std::io::Cursor;

/// Reads JPEG files.
pub(super) const JPEG: RasterFormat = RasterFormat {
    name: "JPEG",
    extensions: &["jpg", "jpeg"],
    magic: &[0xFF, 0xD8, 0xFF],
    decode: |name, bytes| read_with(name, JpegDecoder::new(Cursor::new(bytes))),
};
