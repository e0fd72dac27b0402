//! Laplacian-of-Gaussian blob detection, following scikit-image's `blob_log`.
//!
//! The image is scaled to [0, 1] (min–max of its finite values). For `NUM_SIGMA` scales σ spread
//! evenly from spacing / (4√2) to spacing / (2√2), the scale-normalised response −σ²∇²G_σ is
//! computed as SciPy's `gaussian_laplace` does it: the sum over both axes of a second-derivative
//! Gaussian along that axis and a Gaussian along the other, each a separable 1-D kernel
//! truncated at 4 σ, with `reflect` (half-sample symmetric) borders. A blob is a point of the
//! (y, x, σ) stack that is at least as large as its 26 neighbours (scales beyond the ends repeat
//! the end scale), strictly above `max(stack minimum, threshold × stack maximum)` and not on the
//! image's outermost pixels. Of two blobs overlapping by more than half of the smaller disc
//! (radius σ√2), the larger is kept, as `_prune_blobs` does; of two equal ones, the stronger
//! (scikit-image drops the stronger, an accident of its pair order).
//!
//! The σ range: a blob's radius is σ√2, so at spacing / (2√2) neighbouring columns' discs just
//! touch, the largest scale that cannot merge two columns; columns of HAADF images are rarely
//! narrower than a quarter of their spacing, and narrower ones peak at the smallest scale anyway.

use super::{AtomParams, Grid, finite_pixels};
use crate::dataset::Image;
use crate::smoothing::{convolve_columns, convolve_rows, gaussian_kernel};
use std::f32::consts::SQRT_2;

/// Scales between the smallest and the largest σ (scikit-image's `num_sigma`).
const NUM_SIGMA: usize = 5;
/// Overlap fraction above which the smaller of two blobs is dropped (scikit-image's `overlap`).
const OVERLAP: f64 = 0.5;

/// A candidate column: the position of a LoG maximum and the scale that gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blob {
    /// Column, in pixels (the pixel's centre is an integer).
    pub x: f32,
    /// Row, in pixels.
    pub y: f32,
    /// Standard deviation of the detecting Gaussian, in pixels; the blob's radius is σ√2.
    pub sigma: f32,
}

/// Finds the columns of `image` as Laplacian-of-Gaussian blobs, strongest first.
pub fn detect(image: &Image, params: &AtomParams) -> Vec<Blob> {
    let (width, height) = (image.width(), image.height());
    let usable = params.spacing_px.is_finite() && params.spacing_px > 0.0;
    if width < 3 || height < 3 || !usable {
        return Vec::new();
    }
    let Some(pixels) = unit_range(finite_pixels(image)) else {
        return Vec::new();
    };
    let sigmas = sigma_list(params.spacing_px);
    let blobs = scale_space_maxima(&pixels, width, &sigmas, params.threshold);
    prune(blobs)
}

/// The pixels scaled to [0, 1], or `None` for a constant image.
fn unit_range(mut pixels: Vec<f32>) -> Option<Vec<f32>> {
    let (lo, hi) = pixels
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    pixels.iter_mut().for_each(|v| *v = (*v - lo) / (hi - lo));
    Some(pixels)
}

/// `NUM_SIGMA` scales spread evenly over [spacing / (4√2), spacing / (2√2)].
fn sigma_list(spacing: f32) -> Vec<f32> {
    let (lo, hi) = (spacing / (4.0 * SQRT_2), spacing / (2.0 * SQRT_2));
    (0..NUM_SIGMA)
        .map(|i| lo + (hi - lo) * i as f32 / (NUM_SIGMA - 1) as f32)
        .collect()
}

/// A local maximum of the scale stack.
struct Peak {
    index: usize,
    layer: usize,
    value: f32,
}

/// The thresholded 3 × 3 × 3 maxima of the LoG stack over `sigmas`, strongest first. The stack
/// is computed one scale ahead of the one searched, so only three layers are ever held.
fn scale_space_maxima(pixels: &[f32], width: usize, sigmas: &[f32], threshold: f32) -> Vec<Blob> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut respond = |sigma: f32| {
        let layer = scaled_laplace(pixels, width, sigma);
        for &v in &layer {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        layer
    };
    let mut peaks = Vec::new();
    let mut previous: Option<Vec<f32>> = None;
    let mut current = respond(sigmas[0]);
    for layer in 0..sigmas.len() {
        let next = sigmas.get(layer + 1).map(|&s| respond(s));
        let others: Vec<&[f32]> = [previous.as_deref(), next.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        collect_maxima(&current, &others, width, layer, &mut peaks);
        previous = Some(current);
        current = next.unwrap_or_default();
    }
    let floor = lo.max(threshold * hi);
    peaks.retain(|p| p.value > floor);
    peaks.sort_by(|a, b| b.value.total_cmp(&a.value));
    peaks
        .into_iter()
        .map(|p| Blob {
            x: (p.index % width) as f32,
            y: (p.index / width) as f32,
            sigma: sigmas[p.layer],
        })
        .collect()
}

/// Pushes the pixels of `layer`, away from the outermost ones, that are at least as large as
/// their 3 × 3 neighbourhood in `layer` and in each of `others`.
fn collect_maxima(
    layer: &[f32],
    others: &[&[f32]],
    width: usize,
    index: usize,
    peaks: &mut Vec<Peak>,
) {
    let height = layer.len() / width;
    let dominates = |values: &[f32], i: usize, v: f32| {
        [i - width, i, i + width]
            .iter()
            .all(|&c| values[c - 1] <= v && values[c] <= v && values[c + 1] <= v)
    };
    for y in 1..height - 1 {
        for i in y * width + 1..(y + 1) * width - 1 {
            let v = layer[i];
            if dominates(layer, i, v) && others.iter().all(|o| dominates(o, i, v)) {
                peaks.push(Peak {
                    index: i,
                    layer: index,
                    value: v,
                });
            }
        }
    }
}

/// −σ² times SciPy's `gaussian_laplace(pixels, σ)`.
fn scaled_laplace(pixels: &[f32], width: usize, sigma: f32) -> Vec<f32> {
    let smooth = gaussian_kernel(sigma, false);
    let curve = gaussian_kernel(sigma, true);
    let along_y = convolve_columns(&convolve_rows(pixels, width, &smooth), width, &curve);
    let along_x = convolve_rows(&convolve_columns(pixels, width, &smooth), width, &curve);
    let scale = -sigma * sigma;
    along_y
        .iter()
        .zip(&along_x)
        .map(|(a, b)| scale * (a + b))
        .collect()
}

/// Drops the smaller of every two blobs that overlap by more than `OVERLAP`.
fn prune(blobs: Vec<Blob>) -> Vec<Blob> {
    let Some(largest) = blobs.iter().map(|b| b.sigma).reduce(f32::max) else {
        return blobs;
    };
    let reach = 2.0 * largest * SQRT_2;
    let points: Vec<(f32, f32)> = blobs.iter().map(|b| (b.x, b.y)).collect();
    let grid = Grid::new(&points, reach);
    let mut dropped = vec![false; blobs.len()];
    for (i, a) in blobs.iter().enumerate() {
        for j in grid.near(a.x, a.y).filter(|&j| j > i) {
            let b = &blobs[j];
            if dropped[i] || dropped[j] || overlap(a, b) <= OVERLAP {
                continue;
            }
            dropped[if b.sigma > a.sigma { i } else { j }] = true;
        }
    }
    blobs
        .into_iter()
        .zip(dropped)
        .filter_map(|(b, gone)| (!gone).then_some(b))
        .collect()
}

/// The area shared by the discs of radius σ√2 of `a` and `b`, as a fraction of the smaller.
fn overlap(a: &Blob, b: &Blob) -> f64 {
    let (big, small) = if a.sigma > b.sigma { (a, b) } else { (b, a) };
    let unit = f64::from(big.sigma) * std::f64::consts::SQRT_2;
    let d = f64::from(a.x - b.x).hypot(f64::from(a.y - b.y)) / unit;
    let r = f64::from(small.sigma / big.sigma);
    if d > 1.0 + r {
        0.0
    } else if d <= 1.0 - r {
        1.0
    } else {
        lens_area(d, 1.0, r) / (std::f64::consts::PI * r * r)
    }
}

/// The area of the intersection of two discs of radii `r1`, `r2` whose centres are `d` apart
/// (the discs cross: |r1 − r2| < d < r1 + r2).
fn lens_area(d: f64, r1: f64, r2: f64) -> f64 {
    let angle = |ra: f64, rb: f64| {
        ((d * d + ra * ra - rb * rb) / (2.0 * d * ra))
            .clamp(-1.0, 1.0)
            .acos()
    };
    let kite = (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2);
    r1 * r1 * angle(r1, r2) + r2 * r2 * angle(r2, r1) - 0.5 * kite.abs().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoothing::gaussian_smooth;

    /// 6 × 7 test array, `a[y, x] = sin(0.7 x + 1.3 y) + 0.1 (x − 3)² + 0.05 x y`.
    fn ramp() -> Vec<f32> {
        (0..6)
            .flat_map(|y| {
                (0..7).map(move |x| {
                    let (x, y) = (f64::from(x), f64::from(y));
                    ((0.7 * x + 1.3 * y).sin() + 0.1 * (x - 3.0).powi(2) + 0.05 * x * y) as f32
                })
            })
            .collect()
    }

    fn assert_close(ours: &[f32], reference: &[f64]) {
        for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{i}: {a} vs {b}");
        }
    }

    /// Reference values from SciPy 1.17.1 (NumPy 2.4.6, float64):
    /// ```python
    /// import numpy as np; from scipy import ndimage as ndi
    /// y, x = np.mgrid[0:6, 0:7].astype(float)
    /// a = np.sin(0.7*x + 1.3*y) + 0.1*(x - 3)**2 + 0.05*x*y
    /// ndi.gaussian_filter(a, 1.3)[[0, 2, 5], :].round(7)   # mode='reflect', truncate=4.0
    /// ndi.gaussian_laplace(a, 0.9)[[0, 3, 5], :].round(7)
    /// ```
    #[test]
    fn filters_match_scipy() {
        let a = ramp();
        let filtered = gaussian_smooth(&a, 7, 1.3);
        let reference_filter: [[f64; 7]; 3] = [
            [
                1.0924450, 0.9422208, 0.6933533, 0.4326979, 0.2625821, 0.2388006, 0.2913908,
            ],
            [
                0.7386598, 0.5489535, 0.3473672, 0.3141470, 0.5148504, 0.8708796, 1.1612908,
            ],
            [
                0.7734052, 0.8771105, 1.0444833, 1.2237146, 1.3915813, 1.5477083, 1.6571461,
            ],
        ];
        for (row, values) in [0, 2, 5].iter().zip(&reference_filter) {
            assert_close(&filtered[row * 7..row * 7 + 7], values);
        }
        let laplace = scaled_laplace(&a, 7, 0.9);
        let reference_laplace: [[f64; 7]; 3] = [
            [
                0.0853944, -0.2022048, -0.4759728, -0.4466908, -0.0848582, 0.2891606, 0.3219469,
            ],
            [
                0.4043897, 0.9064952, 0.9440011, 0.4689351, -0.1675029, -0.7886052, -1.2985693,
            ],
            [
                -0.3490027, -0.5795421, -0.6485061, -0.3774843, 0.0963304, 0.3960467, 0.2965309,
            ],
        ];
        for (row, values) in [0, 3, 5].iter().zip(&reference_laplace) {
            let ours: Vec<f32> = laplace[row * 7..row * 7 + 7]
                .iter()
                .map(|v| v / -(0.9f32 * 0.9))
                .collect();
            assert_close(&ours, values);
        }
    }

    /// scikit-image 0.26.0's `blob_log` (SciPy 1.17.1, NumPy 2.4.6) on the image of
    /// [`formula_lattice`], as (row, column); all its blobs have σ = 1.4142:
    /// ```python
    /// import numpy as np; from skimage.feature import blob_log
    /// y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    /// img = 0.1 + 0.05*np.sin(12.9898*x + 78.233*y)
    /// for i in range(-2, 10):
    ///     for j in range(-2, 10):
    ///         cx = 4.3 + 8.1*i + 0.6*j; cy = 3.7 + 8.1*j - 0.6*i
    ///         amp = 1 + 0.3*np.sin(1.3*i + 0.7*j)
    ///         img += amp*np.exp(-((x-cx)**2 + (y-cy)**2)/(2*1.5**2))
    /// img = img.astype(np.float32)
    /// img = (img - img.min())/(img.max() - img.min())
    /// s = 8.0
    /// blob_log(img, min_sigma=s/(4*np.sqrt(2)), max_sigma=s/(2*np.sqrt(2)), num_sigma=5,
    ///          threshold=None, threshold_rel=0.2, overlap=0.5, exclude_border=1)
    /// ```
    const SKIMAGE_BLOBS: [(u8, u8); 55] = [
        (2, 29),
        (2, 37),
        (3, 12),
        (3, 21),
        (4, 4),
        (8, 54),
        (8, 61),
        (9, 37),
        (9, 45),
        (10, 29),
        (11, 13),
        (11, 21),
        (12, 5),
        (16, 54),
        (17, 38),
        (17, 46),
        (18, 30),
        (19, 14),
        (19, 22),
        (20, 5),
        (24, 55),
        (25, 47),
        (26, 30),
        (26, 38),
        (27, 14),
        (27, 22),
        (28, 6),
        (33, 47),
        (33, 55),
        (34, 31),
        (34, 39),
        (35, 23),
        (36, 7),
        (36, 15),
        (41, 48),
        (41, 56),
        (42, 32),
        (42, 40),
        (43, 23),
        (44, 7),
        (44, 15),
        (49, 48),
        (49, 56),
        (50, 40),
        (51, 24),
        (51, 32),
        (52, 8),
        (52, 16),
        (57, 49),
        (57, 57),
        (58, 41),
        (59, 25),
        (59, 33),
        (60, 8),
        (60, 17),
    ];

    /// The 64 × 64 image of the Python snippet above, computed in `f64` and stored as `f32`.
    fn formula_lattice() -> Image {
        let mut pixels = vec![0.0f32; 64 * 64];
        for (k, p) in pixels.iter_mut().enumerate() {
            let (x, y) = ((k % 64) as f64, (k / 64) as f64);
            let mut v = 0.1 + 0.05 * (12.9898 * x + 78.233 * y).sin();
            for i in -2..10 {
                for j in -2..10 {
                    let (i, j) = (f64::from(i), f64::from(j));
                    let (cx, cy) = (4.3 + 8.1 * i + 0.6 * j, 3.7 + 8.1 * j - 0.6 * i);
                    let amp = 1.0 + 0.3 * (1.3 * i + 0.7 * j).sin();
                    v += amp * (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * 1.5 * 1.5)).exp();
                }
            }
            *p = v as f32;
        }
        Image::new(64, 64, pixels)
    }

    #[test]
    fn detect_matches_scikit_image_blob_log() {
        let params = AtomParams {
            spacing_px: 8.0,
            threshold: 0.2,
        };
        let ours = detect(&formula_lattice(), &params);
        let theirs: Vec<(f32, f32)> = SKIMAGE_BLOBS
            .iter()
            .map(|&(row, col)| (f32::from(col), f32::from(row)))
            .collect();
        let near = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1) <= 1.0;
        for blob in &ours {
            assert!(
                theirs.iter().any(|&t| near(t, (blob.x, blob.y))),
                "{blob:?}"
            );
        }
        for &t in &theirs {
            assert!(ours.iter().any(|b| near(t, (b.x, b.y))), "{t:?}");
        }
        assert_eq!(ours.len(), SKIMAGE_BLOBS.len());
    }

    #[test]
    fn overlap_matches_disc_geometry() {
        let blob = |x: f32, sigma: f32| Blob { x, y: 0.0, sigma };
        assert_eq!(overlap(&blob(0.0, 2.0), &blob(10.0, 2.0)), 0.0);
        assert_eq!(overlap(&blob(0.0, 2.0), &blob(0.5, 1.0)), 1.0);
        // Equal unit discs one radius apart share 2π/3 − √3/2 of their area π.
        let half = overlap(&blob(0.0, 1.0), &blob(SQRT_2, 1.0));
        let expected =
            (2.0 * std::f64::consts::PI / 3.0 - 3f64.sqrt() / 2.0) / std::f64::consts::PI;
        assert!((half - expected).abs() < 1e-6, "{half} vs {expected}");
    }

    #[test]
    fn prune_keeps_the_larger_and_on_ties_the_stronger() {
        let blobs = vec![
            Blob {
                x: 10.0,
                y: 10.0,
                sigma: 1.0,
            },
            Blob {
                x: 10.0,
                y: 11.0,
                sigma: 2.0,
            },
            Blob {
                x: 30.0,
                y: 30.0,
                sigma: 2.0,
            },
            Blob {
                x: 31.0,
                y: 30.0,
                sigma: 2.0,
            },
        ];
        assert_eq!(prune(blobs.clone()), vec![blobs[1], blobs[2]]);
    }
}
