//! Display mapping: raw values to screen grey levels by a contrast stretch. The data are never
//! changed; only the rendered pixels are.

use crate::dataset::Image;
use serde::{Deserialize, Serialize};

/// How the display range is chosen from the image's values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stretch {
    /// From the smallest to the largest finite value.
    MinMax,
    /// Between two percentiles (0–100) of the finite values, clipping outliers.
    Percentile {
        /// The percentile shown black, %.
        low: f64,
        /// The percentile shown white, %.
        high: f64,
    },
    /// A range the user typed.
    Manual {
        /// The raw value shown black.
        low: f32,
        /// The raw value shown white.
        high: f32,
    },
}

impl Default for Stretch {
    /// Percentiles 0.5–99.5: a few hot or dead pixels do not wash out the image.
    fn default() -> Self {
        Stretch::Percentile {
            low: 0.5,
            high: 99.5,
        }
    }
}

/// The raw values shown as black (`low`) and white (`high`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisplayRange {
    /// The raw value shown black; values below it clip to black.
    pub low: f32,
    /// The raw value shown white; values above it clip to white.
    pub high: f32,
}

impl DisplayRange {
    /// The range `stretch` picks for `image`; (0, 1) when no pixel is finite.
    pub fn of(image: &Image, stretch: Stretch) -> Self {
        let (low, high) = match stretch {
            Stretch::MinMax => image.finite_range().unwrap_or((0.0, 1.0)),
            Stretch::Percentile { low, high } => {
                percentiles(image.pixels(), low, high).unwrap_or((0.0, 1.0))
            }
            Stretch::Manual { low, high } => (low, high),
        };
        Self { low, high }
    }

    /// The grey level (0–255) of a raw value; non-finite values show black.
    pub fn grey(&self, value: f32) -> u8 {
        if !value.is_finite() {
            return 0;
        }
        let span = self.high - self.low;
        if span <= 0.0 {
            return if value > self.low { 255 } else { 0 };
        }
        ((value - self.low) / span * 255.0)
            .round()
            .clamp(0.0, 255.0) as u8
    }
}

/// The image as opaque RGBA bytes, row by row, ready for a canvas or a PNG.
pub fn render_rgba(image: &Image, range: DisplayRange) -> Vec<u8> {
    image
        .pixels()
        .iter()
        .flat_map(|&value| {
            let grey = range.grey(value);
            [grey, grey, grey, 255]
        })
        .collect()
}

/// A small picture of `image` at most `side` pixels on its longer side, `(width, height, rgba)`:
/// each pixel the mean of the block of the image it covers, shown under `range`.
pub fn thumbnail_rgba(image: &Image, range: DisplayRange, side: usize) -> (usize, usize, Vec<u8>) {
    let (width, height) = (image.width(), image.height());
    let step = width.max(height).div_ceil(side.max(1)).max(1);
    let (small_w, small_h) = (width.div_ceil(step), height.div_ceil(step));
    let mut rgba = Vec::with_capacity(small_w * small_h * 4);
    for y in 0..small_h {
        for x in 0..small_w {
            let columns = x * step..((x + 1) * step).min(width);
            let rows = y * step..((y + 1) * step).min(height);
            let block = rows.flat_map(|row| columns.clone().map(move |col| image.get(col, row)));
            let finite = block.filter(|v| v.is_finite());
            let (sum, count) = finite.fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v), n + 1));
            let grey = range.grey((sum / count.max(1) as f64) as f32);
            rgba.extend([grey, grey, grey, 255]);
        }
    }
    (small_w, small_h, rgba)
}

/// `values` as a `colour` overlay: transparent at 0, opaque `colour` from their 99th percentile
/// up (an element map over the image).
pub fn heat_rgba(values: &[f32], colour: [u8; 3]) -> Vec<u8> {
    let top = percentiles(values, 99.0, 99.0).map_or(0.0, |(_, top)| top);
    let scale = if top > 0.0 { 1.0 / top } else { 0.0 };
    values
        .iter()
        .flat_map(|&v| {
            let alpha = (v * scale).clamp(0.0, 1.0) * 255.0;
            [colour[0], colour[1], colour[2], alpha.round() as u8]
        })
        .collect()
}

/// The `low` and `high` percentiles (0–100) of the finite `values`, interpolated linearly between
/// order statistics as NumPy's default `np.percentile` does.
pub fn percentiles(values: &[f32], low: f64, high: f64) -> Option<(f32, f32)> {
    let mut finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    Some((
        percentile_of(&mut finite, low),
        percentile_of(&mut finite, high),
    ))
}

fn percentile_of(values: &mut [f32], percent: f64) -> f32 {
    let rank = percent.clamp(0.0, 100.0) / 100.0 * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let (_, &mut at_below, above) = values.select_nth_unstable_by(below, f32::total_cmp);
    let Some(next) = above.iter().copied().min_by(f32::total_cmp) else {
        return at_below;
    };
    let fraction = (rank - below as f64) as f32;
    at_below + (next - at_below) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5 × 3 image at most 2 px wide: 3-px blocks, the last ones cut by the edges.
    #[test]
    fn thumbnails_average_the_blocks_they_cover() {
        let pixels = (0..15).map(|v| v as f32).collect();
        let image = Image::new(5, 3, pixels);
        let range = DisplayRange {
            low: 0.0,
            high: 14.0,
        };
        let (width, height, rgba) = thumbnail_rgba(&image, range, 2);
        assert_eq!((width, height), (2, 1));
        // Block 1: columns 0–2 of rows 0–2, mean 6; block 2: columns 3–4, mean 8.5.
        assert_eq!(rgba[0], range.grey(6.0));
        assert_eq!(rgba[4], range.grey(8.5));
        assert_eq!(rgba.len(), 8);
    }

    #[test]
    fn heat_overlays_fade_from_transparent_to_the_colour() {
        let values: Vec<f32> = (0..=100).map(|v| v as f32).collect();
        let rgba = heat_rgba(&values, [255, 0, 128]);
        assert_eq!(&rgba[..4], [255, 0, 128, 0]);
        assert_eq!(rgba[4 * 50 + 3], 129, "half of the 99th percentile (99)");
        assert_eq!(&rgba[4 * 100..], [255, 0, 128, 255]);
        assert!(heat_rgba(&[0.0; 4], [1, 2, 3]).chunks(4).all(|p| p[3] == 0));
    }

    #[test]
    fn percentiles_match_numpy() {
        // Reference: numpy 2.4.6, np.percentile(np.arange(1, 11) ** 2, [1, 25, 50, 99.5])
        // → [1.27, 10.75, 30.5, 99.145]
        let values: Vec<f32> = (1..=10).map(|v| (v * v) as f32).rev().collect();
        let (p1, p995) = percentiles(&values, 1.0, 99.5).unwrap();
        let (p25, p50) = percentiles(&values, 25.0, 50.0).unwrap();
        for (got, want) in [(p1, 1.27), (p25, 10.75), (p50, 30.5), (p995, 99.145)] {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
    }

    #[test]
    fn stretch_ignores_non_finite_values() {
        let image = Image::new(4, 1, vec![f32::NAN, 10.0, 20.0, f32::NEG_INFINITY]);
        assert_eq!(
            DisplayRange::of(&image, Stretch::MinMax),
            DisplayRange {
                low: 10.0,
                high: 20.0
            }
        );
        assert_eq!(
            render_rgba(&image, DisplayRange::of(&image, Stretch::MinMax))[..8],
            [0, 0, 0, 255, 0, 0, 0, 255]
        );
    }

    #[test]
    fn grey_levels_clip_outside_the_range() {
        let range = DisplayRange {
            low: 100.0,
            high: 200.0,
        };
        assert_eq!(
            [range.grey(50.0), range.grey(150.0), range.grey(250.0)],
            [0, 128, 255]
        );
        let flat = DisplayRange {
            low: 5.0,
            high: 5.0,
        };
        assert_eq!([flat.grey(5.0), flat.grey(6.0)], [0, 255]);
    }

    #[test]
    fn rendering_leaves_the_data_untouched() {
        let image = Image::new(2, 1, vec![-3.5, 70000.0]);
        let before = image.clone();
        let rgba = render_rgba(
            &image,
            DisplayRange::of(
                &image,
                Stretch::Percentile {
                    low: 0.0,
                    high: 100.0,
                },
            ),
        );
        assert_eq!(rgba, vec![0, 0, 0, 255, 255, 255, 255, 255]);
        assert_eq!(image, before);
    }
}
