//! PNG: 8- and 16-bit grey or colour, through the `image` crate.

use super::raster::{RasterFormat, read_with};
use image::codecs::png::PngDecoder;
use std::io::Cursor;

/// Reads PNG files.
pub(super) const PNG: RasterFormat = RasterFormat {
    name: "PNG",
    extensions: &["png"],
    magic: b"\x89PNG\r\n\x1a\n",
    decode: |name, bytes| read_with(name, PngDecoder::new(Cursor::new(bytes))),
};
