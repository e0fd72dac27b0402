//! The chip grid: square chips laid from the top-left corner, pyCHIP's convention, with the right
//! and bottom remainders cropped.

use crate::dataset::Image;
use thiserror::Error;

/// Smallest chip side in pixels.
pub const MIN_CHIP_SIZE: usize = 8;

/// A grid of `rows × cols` square chips of `chip_size` pixels over an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipGrid {
    image_width: usize,
    image_height: usize,
    chip_size: usize,
    rows: usize,
    cols: usize,
}

/// One chip's place in the grid and in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chip {
    /// Grid row, 0 at the top.
    pub row: usize,
    /// Grid column, 0 at the left.
    pub col: usize,
    /// Image column of the chip's left edge.
    pub x: usize,
    /// Image row of the chip's top edge.
    pub y: usize,
}

/// Why a grid cannot be laid.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GridError {
    /// The image's shorter side is under [`MIN_CHIP_SIZE`].
    #[error(
        "the image ({width} × {height} px) is smaller than the smallest chip ({MIN_CHIP_SIZE} px)"
    )]
    ImageTooSmall {
        /// Image width, pixels.
        width: usize,
        /// Image height, pixels.
        height: usize,
    },
    /// The chip size asked for is below [`MIN_CHIP_SIZE`] or above the image's shorter side.
    #[error(
        "chip size {chip_size} px is outside the allowed {MIN_CHIP_SIZE}–{max} px for this image"
    )]
    ChipSizeOutOfRange {
        /// The chip side asked for, pixels.
        chip_size: usize,
        /// The largest allowed chip side, pixels: the image's shorter side.
        max: usize,
    },
}

impl ChipGrid {
    /// Lays chips of `chip_size` pixels over a `width × height` image.
    pub fn new(width: usize, height: usize, chip_size: usize) -> Result<Self, GridError> {
        let max = Self::max_chip_size(width, height)?;
        if !(MIN_CHIP_SIZE..=max).contains(&chip_size) {
            return Err(GridError::ChipSizeOutOfRange { chip_size, max });
        }
        Ok(Self {
            image_width: width,
            image_height: height,
            chip_size,
            rows: height / chip_size,
            cols: width / chip_size,
        })
    }

    /// Largest allowed chip: the image's shorter side.
    pub fn max_chip_size(width: usize, height: usize) -> Result<usize, GridError> {
        let shorter = width.min(height);
        if shorter < MIN_CHIP_SIZE {
            return Err(GridError::ImageTooSmall { width, height });
        }
        Ok(shorter)
    }

    /// A starting chip size: the largest power of two giving at least 12 chips along the shorter
    /// side (32 px for 512 px, 64 px for 1024 px), never below [`MIN_CHIP_SIZE`].
    pub fn default_chip_size(width: usize, height: usize) -> Result<usize, GridError> {
        let shorter = Self::max_chip_size(width, height)?;
        let target = (shorter / 12).max(MIN_CHIP_SIZE);
        Ok((1usize << target.ilog2()).min(shorter))
    }

    /// Chip side in pixels.
    pub fn chip_size(&self) -> usize {
        self.chip_size
    }

    /// Number of chip rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of chip columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of chips.
    pub fn chip_count(&self) -> usize {
        self.rows * self.cols
    }

    /// Width and height of the image the grid is laid on.
    pub fn image_size(&self) -> (usize, usize) {
        (self.image_width, self.image_height)
    }

    /// Width and height of the area the chips cover.
    pub fn covered_size(&self) -> (usize, usize) {
        (self.cols * self.chip_size, self.rows * self.chip_size)
    }

    /// Pixels left out at the right and bottom.
    pub fn cropped_pixels(&self) -> usize {
        let (width, height) = self.covered_size();
        self.image_width * self.image_height - width * height
    }

    /// "16 rows × 16 columns = 256 chips; 0 px cropped (0.0 %)".
    pub fn summary(&self) -> String {
        format!(
            "{} = {} chips; {}",
            self.layout_summary(),
            self.chip_count(),
            self.cropped_summary()
        )
    }

    /// "16 rows × 16 columns".
    pub fn layout_summary(&self) -> String {
        format!("{} rows × {} columns", self.rows, self.cols)
    }

    /// "0 px cropped (0.0 %)".
    pub fn cropped_summary(&self) -> String {
        let cropped = self.cropped_pixels();
        let percent = 100.0 * cropped as f64 / (self.image_width * self.image_height) as f64;
        format!("{cropped} px cropped ({percent:.1} %)")
    }

    /// Every chip in row-major order (row 0 is the top).
    pub fn chips(&self) -> impl Iterator<Item = Chip> + '_ {
        (0..self.rows).flat_map(move |row| {
            (0..self.cols).map(move |col| Chip {
                row,
                col,
                x: col * self.chip_size,
                y: row * self.chip_size,
            })
        })
    }

    /// The pixels of `chip` cut from `image`, which must be the image the grid was laid on.
    pub fn chip_image(&self, image: &Image, chip: Chip) -> Image {
        assert_eq!(
            (image.width(), image.height()),
            (self.image_width, self.image_height),
            "grid laid on another image"
        );
        image.crop(chip.x, chip.y, self.chip_size, self.chip_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remainder_is_cropped_at_right_and_bottom() {
        let grid = ChipGrid::new(100, 70, 32).unwrap();
        assert_eq!((grid.rows(), grid.cols(), grid.chip_count()), (2, 3, 6));
        assert_eq!(grid.covered_size(), (96, 64));
        assert_eq!(grid.cropped_pixels(), 100 * 70 - 96 * 64);
        assert_eq!(
            grid.summary(),
            "2 rows × 3 columns = 6 chips; 856 px cropped (12.2 %)"
        );
    }

    #[test]
    fn chips_are_row_major_from_the_top_left() {
        let grid = ChipGrid::new(24, 16, 8).unwrap();
        let chips: Vec<_> = grid.chips().map(|c| (c.row, c.col, c.x, c.y)).collect();
        assert_eq!(
            chips[..4],
            [(0, 0, 0, 0), (0, 1, 8, 0), (0, 2, 16, 0), (1, 0, 0, 8)]
        );
        assert_eq!(chips.len(), 6);
    }

    #[test]
    fn chip_image_holds_the_chip_pixels() {
        let image = Image::new(16, 8, (0..128).map(|v| v as f32).collect());
        let grid = ChipGrid::new(16, 8, 8).unwrap();
        let second = grid.chips().nth(1).unwrap();
        let chip = grid.chip_image(&image, second);
        assert_eq!(chip.get(0, 0), 8.0);
        assert_eq!(chip.get(7, 7), 7.0 * 16.0 + 15.0);
    }

    #[test]
    fn chip_size_is_bounded_by_eight_and_the_shorter_side() {
        assert!(ChipGrid::new(512, 300, 8).is_ok());
        assert!(ChipGrid::new(512, 300, 300).is_ok());
        assert_eq!(
            ChipGrid::new(512, 300, 301),
            Err(GridError::ChipSizeOutOfRange {
                chip_size: 301,
                max: 300
            })
        );
        assert!(ChipGrid::new(512, 300, 7).is_err());
        assert_eq!(
            ChipGrid::new(5, 300, 8),
            Err(GridError::ImageTooSmall {
                width: 5,
                height: 300
            })
        );
        let full = ChipGrid::new(300, 300, 300).unwrap();
        assert_eq!((full.chip_count(), full.cropped_pixels()), (1, 0));
    }

    #[test]
    fn default_chip_size_scales_with_the_image() {
        assert_eq!(ChipGrid::default_chip_size(512, 512), Ok(32));
        assert_eq!(ChipGrid::default_chip_size(1024, 2048), Ok(64));
        assert_eq!(ChipGrid::default_chip_size(4096, 4096), Ok(256));
        assert_eq!(ChipGrid::default_chip_size(64, 64), Ok(8));
        assert_eq!(ChipGrid::default_chip_size(10, 9), Ok(8));
    }
}
