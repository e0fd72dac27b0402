//! The dominant lattice spacing of an image, from its power spectrum.
//!
//! The centred square crop of the image (at most 1024 pixels a side) has its mean removed, is
//! multiplied by a 2-D Hann window and Fourier transformed; the power spectrum is averaged over
//! rings of integer radius k (cycles per crop). The spacing is crop side / k at the strongest
//! ring that stands out from its surroundings: a local maximum of the ring profile at least
//! `MIN_CONTRAST` times the median of the rings around it, at k ≥ `LOW_CUTOFF` (periods longer
//! than a quarter of the crop are thickness or contrast variations, not a lattice), its position
//! refined by a parabola through the logarithms of it and its two neighbours.
//!
//! This is the period of the lattice's strongest fringes: the nearest-neighbour distance for a
//! square lattice, √3/2 of it for a hexagonal one — close enough to set detection scales.

use super::finite_pixels;
use crate::dataset::Image;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Largest crop side transformed: enough rings for a 1 % spacing, a fast transform.
const MAX_SIDE: usize = 1024;
/// Smallest crop side with a meaningful spectrum.
const MIN_SIDE: usize = 16;
/// Rings below this radius (cycles per crop) are background, not lattice.
const LOW_CUTOFF: usize = 4;
/// How many times a peak ring must exceed the median of its surroundings.
const MIN_CONTRAST: f32 = 4.0;

/// The period, in pixels, of the strongest lattice fringes of `image`, or `None` when its
/// spectrum has no clear peak (or the image is smaller than 16 pixels a side).
pub fn dominant_spacing(image: &Image) -> Option<f32> {
    let side = image.width().min(image.height()).min(MAX_SIDE);
    if side < MIN_SIDE {
        return None;
    }
    let power = power_spectrum(&centred_crop(image, side), side);
    let k = strongest_ring(&ring_profile(&power, side))?;
    Some(side as f32 / k)
}

/// The centred `side × side` crop of `image`, non-finite pixels at its minimum.
fn centred_crop(image: &Image, side: usize) -> Vec<f32> {
    let x = (image.width() - side) / 2;
    let y = (image.height() - side) / 2;
    finite_pixels(&image.crop(x, y, side, side))
}

/// |FFT|² of the mean-free, Hann-windowed `side × side` `pixels`, transposed (which a ring
/// average does not see).
fn power_spectrum(pixels: &[f32], side: usize) -> Vec<f32> {
    let mean = pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len() as f64;
    let hann: Vec<f64> = (0..side)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / side as f64).cos())
        .collect();
    let mut data: Vec<Complex<f32>> = pixels
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let weight = hann[i % side] * hann[i / side];
            Complex::new(((f64::from(v) - mean) * weight) as f32, 0.0)
        })
        .collect();
    let fft = FftPlanner::new().plan_fft_forward(side);
    fft.process(&mut data);
    let mut transposed: Vec<Complex<f32>> = (0..side * side)
        .map(|i| data[(i % side) * side + i / side])
        .collect();
    fft.process(&mut transposed);
    transposed.iter().map(|c| c.norm_sqr()).collect()
}

/// Mean power on each ring of integer radius 0..=side/2 (cycles per side).
fn ring_profile(power: &[f32], side: usize) -> Vec<f32> {
    let rings = side / 2 + 1;
    let mut sums = vec![0.0f64; rings];
    let mut counts = vec![0usize; rings];
    let frequency = |k: usize| k.min(side - k) as f64;
    for (i, &p) in power.iter().enumerate() {
        let r = frequency(i % side).hypot(frequency(i / side)).round() as usize;
        if r < rings {
            sums[r] += f64::from(p);
            counts[r] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(&s, &n)| (s / n.max(1) as f64) as f32)
        .collect()
}

/// The sub-ring radius of the strongest clear peak of `profile`.
fn strongest_ring(profile: &[f32]) -> Option<f32> {
    (LOW_CUTOFF..profile.len().saturating_sub(1))
        .filter(|&k| profile[k] >= profile[k - 1] && profile[k] >= profile[k + 1])
        .filter(|&k| profile[k] >= MIN_CONTRAST * surroundings(profile, k))
        .max_by(|&a, &b| profile[a].total_cmp(&profile[b]))
        .map(|k| k as f32 + vertex_offset(profile[k - 1], profile[k], profile[k + 1]))
}

/// The median of the rings within max(3, k/4) of ring `k`; rings cover a peak's few bins
/// but mostly background.
fn surroundings(profile: &[f32], k: usize) -> f32 {
    let reach = (k / 4).max(3);
    let mut window = profile[k.saturating_sub(reach)..(k + reach + 1).min(profile.len())].to_vec();
    window.sort_by(f32::total_cmp);
    let median = window[window.len() / 2];
    // A flat (all-zero) profile has no peak: no ring is "above" a zero background.
    if median > 0.0 { median } else { f32::INFINITY }
}

/// Offset from the middle sample of the vertex of the parabola through the logarithms of three
/// samples, within ±½.
fn vertex_offset(before: f32, peak: f32, after: f32) -> f32 {
    let [a, b, c] = [before, peak, after].map(|v| v.max(f32::MIN_POSITIVE).ln());
    let curvature = a - 2.0 * b + c;
    if curvature < 0.0 {
        (0.5 * (a - c) / curvature).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::lattice;
    use super::*;

    #[test]
    fn recovers_the_period_of_square_and_hexagonal_lattices() {
        let angle: f32 = 0.3;
        let (sin, cos) = angle.sin_cos();
        let a = 7.3;
        let square = lattice(
            256,
            (a * cos, a * sin),
            (-a * sin, a * cos),
            (1.0, 2.0),
            1.3,
            100.0,
            3,
        );
        let found = dominant_spacing(&square.image).unwrap();
        assert!((found / a - 1.0).abs() < 0.02, "square: {found}");
        let h = 9.0;
        let hexagonal = lattice(
            200,
            (h, 0.0),
            (h / 2.0, h * 0.866_025_4),
            (0.0, 0.0),
            1.5,
            0.0,
            0,
        );
        let found = dominant_spacing(&hexagonal.image).unwrap();
        let fringes = h * 3f32.sqrt() / 2.0;
        assert!((found / fringes - 1.0).abs() < 0.02, "hexagonal: {found}");
    }

    #[test]
    fn no_peak_no_spacing() {
        let ramp: Vec<f32> = (0..64 * 64).map(|i| (i % 64) as f32).collect();
        assert_eq!(dominant_spacing(&Image::new(64, 64, ramp)), None);
        assert_eq!(
            dominant_spacing(&Image::new(64, 48, vec![2.0; 64 * 48])),
            None
        );
        assert_eq!(
            dominant_spacing(&Image::new(15, 100, vec![2.0; 1500])),
            None
        );
    }

    #[test]
    fn vertex_offset_finds_a_gaussian_peak() {
        let g = |x: f32| (-(x - 0.3).powi(2)).exp();
        assert!((vertex_offset(g(-1.0), g(0.0), g(1.0)) - 0.3).abs() < 1e-5);
        assert_eq!(vertex_offset(1.0, 1.0, 1.0), 0.0);
    }
}
