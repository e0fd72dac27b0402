//! How much a reader may take on: one [`Limits`] value, as the `image` crate's `image::Limits`,
//! passed to [`super::open`] and every reader, so that a caller with more memory than a browser
//! tab (the CLI) can lift the page's caps.

use super::DecodeError;

/// What a reader may allocate or walk. Every size a file declares is checked against these
/// before anything is allocated; [`Limits::default`] is [`Limits::BROWSER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest image, in pixels (width × height); also the largest spectrum-image raster.
    pub max_pixels: usize,
    /// Largest array a reader reads whole, in bytes: TIFF's and PNG's/JPEG's decoding buffer,
    /// Bruker's header XML, a Berkeley EMD array counted at 8 bytes a value.
    pub max_bytes: usize,
    /// Deepest nesting of a tree format (DM tag tree, JEOL tag tree, Bruker SFS folders;
    /// a Berkeley EMD's HDF5 groups are searched at most 16 deep, and no deeper than this).
    pub max_depth: usize,
    /// Most objects a tree format may list (Berkeley EMD HDF5 objects, Bruker SFS entries).
    pub max_objects: usize,
}

impl Limits {
    /// What a browser tab holds: 8192 × 8192 pixels (256 MiB as `f32`), arrays of 512 MiB,
    /// trees 64 deep and 10 000 objects (real files nest about 10 deep and list a few hundred).
    pub const BROWSER: Limits = Limits {
        max_pixels: 8192 * 8192,
        max_bytes: 512 << 20,
        max_depth: 64,
        max_objects: 10_000,
    };

    /// Checks an image's (or a map's) size from its header, before any pixel is allocated.
    pub fn check_image(&self, width: usize, height: usize) -> Result<(), DecodeError> {
        if width == 0 || height == 0 {
            return Err(DecodeError::NoPixels { width, height });
        }
        match width.checked_mul(height) {
            Some(pixels) if pixels <= self.max_pixels => Ok(()),
            _ => Err(DecodeError::TooLarge {
                width,
                height,
                limit: self.max_pixels,
            }),
        }
    }

    /// Whether `count` values of `size` bytes each fit in [`Limits::max_bytes`].
    pub fn fits(&self, count: u64, size: u64) -> bool {
        count
            .checked_mul(size)
            .is_some_and(|bytes| bytes <= self.max_bytes as u64)
    }
}

impl Default for Limits {
    /// [`Limits::BROWSER`].
    fn default() -> Self {
        Limits::BROWSER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_against_the_limit_used() {
        let limits = Limits::default();
        assert_eq!(
            limits.check_image(0, 10),
            Err(DecodeError::NoPixels {
                width: 0,
                height: 10
            })
        );
        assert!(limits.check_image(8192, 8192).is_ok());
        assert!(matches!(
            limits.check_image(8193, 8192),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            limits.check_image(usize::MAX, 2),
            Err(DecodeError::TooLarge { .. })
        ));
        let error = limits.check_image(9000, 9000).unwrap_err().to_string();
        assert!(error.contains("67 megapixels"), "{error}");
        let lifted = Limits {
            max_pixels: 16384 * 16384,
            ..limits
        };
        assert!(lifted.check_image(9000, 9000).is_ok());
        let error = lifted.check_image(20000, 20000).unwrap_err().to_string();
        assert!(error.contains("268 megapixels"), "{error}");
        assert!(limits.fits(1 << 26, 8) && !limits.fits(1 << 26, 9) && !limits.fits(u64::MAX, 2));
    }
}
