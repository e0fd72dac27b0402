//! Spectral chips: the chip grid of the image laid on a spectrum image (scaled when the map has
//! fewer or more pixels than the image over the same field of view), each chip's summed
//! spectrum, and the raw encoder that uses the chip spectrum itself as the vector.

use serde::{Deserialize, Serialize};

use crate::dataset::Calibration;
use crate::embeddings::Embeddings;
use crate::grid::ChipGrid;
use crate::spectra::{EnergyAxis, SpectrumImage};

/// Largest relative difference between the image's and the map's aspect ratios for them to
/// count as the same field of view.
const ASPECT_TOLERANCE: f64 = 0.02;

/// Why a spectrum image cannot be laid on an image.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MismatchError {
    /// The map's and the image's aspect ratios differ by more than 2 %.
    #[error(
        "the spectrum image is {map_width} × {map_height} px and the image {image_width} × \
         {image_height} px: their aspect ratios differ, so they do not show the same field of view"
    )]
    Aspect {
        /// Image width, pixels.
        image_width: usize,
        /// Image height, pixels.
        image_height: usize,
        /// Map width, pixels.
        map_width: usize,
        /// Map height, pixels.
        map_height: usize,
    },
    /// Both are calibrated in nm and their widths differ by more than 2 %.
    #[error(
        "the spectrum image's field of view ({map_nm:.1} nm wide) differs from the image's \
         ({image_nm:.1} nm) by more than 2 %"
    )]
    FieldOfView {
        /// The image's width, nm.
        image_nm: f64,
        /// The map's width, nm.
        map_nm: f64,
    },
}

/// Checks that `map` covers the same field of view as an `image_width × image_height` image
/// (of pixel size `image_pixel_nm`, when known): same aspect ratio, and the same width in nm
/// when both are calibrated in nm.
pub fn check_match(
    map: &SpectrumImage,
    image_width: usize,
    image_height: usize,
    image_pixel_nm: Option<f64>,
) -> Result<(), MismatchError> {
    let image_aspect = image_width as f64 / image_height as f64;
    let map_aspect = map.width as f64 / map.height as f64;
    if (image_aspect / map_aspect - 1.0).abs() > ASPECT_TOLERANCE {
        return Err(MismatchError::Aspect {
            image_width,
            image_height,
            map_width: map.width,
            map_height: map.height,
        });
    }
    let map_pixel_nm = map.calibration.as_ref().and_then(Calibration::pixel_nm);
    if let (Some(image_pixel), Some(map_pixel)) = (image_pixel_nm, map_pixel_nm) {
        let (image_nm, map_nm) = (
            image_pixel * image_width as f64,
            map_pixel * map.width as f64,
        );
        if (image_nm / map_nm - 1.0).abs() > ASPECT_TOLERANCE {
            return Err(MismatchError::FieldOfView { image_nm, map_nm });
        }
    }
    Ok(())
}

/// Each chip's spectrum, in grid order: the sum of the map pixels under the chip, with the
/// chip's image-pixel bounds scaled to the map (a map pixel counts for the chip holding its
/// centre, so every map pixel inside the grid is counted once).
pub fn chip_spectra(map: &SpectrumImage, grid: &ChipGrid) -> Vec<Vec<u64>> {
    let (image_width, image_height) = grid.image_size();
    let scale_x = map.width as f64 / image_width as f64;
    let scale_y = map.height as f64 / image_height as f64;
    let to_map = |pixel: usize, scale: f64| (pixel as f64 * scale).round() as usize;
    let size = grid.chip_size();
    grid.chips()
        .map(|chip| {
            let (x0, x1) = (
                to_map(chip.col * size, scale_x),
                to_map((chip.col + 1) * size, scale_x),
            );
            let (y0, y1) = (
                to_map(chip.row * size, scale_y),
                to_map((chip.row + 1) * size, scale_y),
            );
            map.region_sum(x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0))
        })
        .collect()
}

/// How the raw encoder turns a chip spectrum into a vector.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawSettings {
    /// Energy range kept, keV (both ends included); `None`: the whole axis.
    pub range_kev: Option<(f64, f64)>,
    /// Divide each chip's spectrum by its total counts in the range, so chips compare by
    /// composition rather than by dose or thickness.
    pub normalise: bool,
}

/// The raw encoder: every chip spectrum (on `axis`) as its vector, cut to the energy range and
/// optionally normalised to unit total; compared by Euclidean distance.
pub fn raw_vectors(spectra: &[Vec<u64>], axis: &EnergyAxis, settings: RawSettings) -> Embeddings {
    let channels = match settings.range_kev {
        Some((low, high)) => {
            let first = axis.channel_of(low.max(axis.offset_kev)).unwrap_or(0);
            let last = axis.channel_of(high).unwrap_or(axis.channels - 1);
            first..last + 1
        }
        None => 0..axis.channels,
    };
    let dim = channels.len();
    let mut values = Vec::with_capacity(spectra.len() * dim);
    for spectrum in spectra {
        let kept = &spectrum[channels.clone()];
        let total: u64 = kept.iter().sum();
        let divisor = match (settings.normalise, total) {
            (true, 0) | (false, _) => 1.0,
            (true, total) => total as f32,
        };
        values.extend(kept.iter().map(|&n| n as f32 / divisor));
    }
    Embeddings { dim, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::SpectrumImageBuilder;

    fn axis() -> EnergyAxis {
        EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 1.0,
            channels: 3,
        }
    }

    /// A `width × height` map whose pixel (x, y) has x + 1 counts in channel y % 3.
    fn map(width: usize, height: usize, pixel_nm: Option<f64>) -> SpectrumImage {
        let mut builder = SpectrumImageBuilder::new(width, height, axis(), 1).unwrap();
        for y in 0..height {
            for x in 0..width {
                builder.push_sparse([(y % 3, x as u64 + 1)]).unwrap();
            }
        }
        let calibration = pixel_nm.map(|pixel_size| Calibration {
            pixel_size,
            unit: "nm".into(),
        });
        builder.finish(calibration, None).unwrap()
    }

    #[test]
    fn a_half_size_map_is_scaled_onto_the_chips() {
        // Image 32 × 16 in 16-px chips (2 × 1 chips); map 16 × 8: each chip covers 8 × 8 map
        // pixels, rows 0, 3, 6 in channel 0, rows 1, 4, 7 in channel 1, rows 2, 5 in channel 2,
        // each row summing x + 1 over its 8 columns (36 on the left, 100 on the right).
        let grid = ChipGrid::new(32, 16, 16).unwrap();
        let spectra = chip_spectra(&map(16, 8, None), &grid);
        assert_eq!(spectra, [vec![108, 108, 72], vec![300, 300, 200]]);
        let total: u64 = spectra.iter().flatten().sum();
        assert_eq!(total, map(16, 8, None).total_counts());
    }

    #[test]
    fn mismatched_maps_are_refused_with_a_reason() {
        let square = map(4, 4, Some(2.0));
        assert_eq!(check_match(&square, 8, 8, Some(1.0)), Ok(()));
        let error = check_match(&square, 8, 4, None).unwrap_err().to_string();
        assert!(error.contains("aspect ratios differ"), "{error}");
        let error = check_match(&square, 8, 8, Some(1.5))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("12.0 nm") && error.contains("8.0 nm"),
            "{error}"
        );
    }

    #[test]
    fn raw_vectors_cut_the_range_and_normalise() {
        let spectra = vec![vec![1, 3, 4], vec![0, 0, 0]];
        let settings = RawSettings {
            range_kev: Some((1.0, 2.5)),
            normalise: true,
        };
        let vectors = raw_vectors(&spectra, &axis(), settings);
        assert_eq!(vectors.dim, 2);
        assert_eq!(vectors.row(0), [3.0 / 7.0, 4.0 / 7.0]);
        assert_eq!(vectors.row(1), [0.0, 0.0]);
        let whole = raw_vectors(
            &spectra,
            &axis(),
            RawSettings {
                range_kev: None,
                normalise: false,
            },
        );
        assert_eq!(whole.row(0), [1.0, 3.0, 4.0]);
    }
}
