//! Synthetic EDS spectrum images for tests and the multimodal evaluation: every pixel of a label
//! map (e.g. [`crate::simulate`]'s) emits X-ray counts of its region's composition — Gaussian
//! lines of the elements (from [`super::lines`]) on a bremsstrahlung background — at the low
//! doses of real STEM-EDS maps, Poisson-sampled event by event.

use super::lines::{XrayLine, lines_of};
use super::{EnergyAxis, EventCollector, SpectrumError, SpectrumImage};
use crate::dataset::Calibration;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Detector resolution: FWHM of every line, keV (a silicon drift detector near Mn Kα).
const LINE_FWHM_KEV: f64 = 0.130;
/// Strength of the softer line families (L beside K, M beside L) relative to the hardest one.
const SOFT_FAMILY_WEIGHT: f64 = 0.3;
/// Share of a spectrum's counts in the bremsstrahlung background.
const BACKGROUND_SHARE: f64 = 0.3;

/// What one region of the label map is made of: elements and their relative line intensities.
/// No element (vacuum) emits nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Composition {
    /// (element symbol, relative intensity of its lines), such as `("Fe", 1.0)`.
    pub elements: Vec<(&'static str, f64)>,
}

/// How a synthetic map is recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acquisition {
    /// Expected counts in a pixel of a non-empty composition.
    pub counts_per_pixel: f64,
    /// The detector's energy channels.
    pub axis: EnergyAxis,
    /// Acceleration voltage, kV: the top of the bremsstrahlung background.
    pub beam_kv: f64,
    /// Seed of the random counts and their energies; the same seed gives the same map.
    pub seed: u64,
}

/// The map of `width × height` pixels labelled by `labels` (row-major, indexing
/// `compositions`). The same acquisition seed gives the same map.
pub fn eds_map(
    labels: &[u8],
    (width, height): (usize, usize),
    compositions: &[Composition],
    acquisition: Acquisition,
) -> Result<SpectrumImage, SpectrumError> {
    let Acquisition {
        counts_per_pixel,
        axis,
        beam_kv,
        seed,
    } = acquisition;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let cumulative: Vec<Option<Vec<f64>>> = compositions
        .iter()
        .map(|c| cumulative(&spectrum_shape(c, &axis, beam_kv)))
        .collect();
    let dose = Poisson::new(counts_per_pixel.max(1e-9)).expect("positive dose");
    let mut events = EventCollector::new(width, height, axis, 1)?;
    for (pixel, &label) in labels.iter().enumerate().take(width * height) {
        let Some(Some(cumulative)) = cumulative.get(usize::from(label)) else {
            continue;
        };
        for _ in 0..dose.sample(&mut rng) as usize {
            let u = rng.random::<f64>();
            let channel = cumulative
                .partition_point(|&c| c < u)
                .min(axis.channels - 1);
            events.push(pixel % width, pixel / width, channel);
        }
    }
    events.finish(None::<Calibration>, Some(beam_kv))
}

/// Expected counts per channel (unnormalised) of `composition`: each line a Gaussian of the
/// detector's width weighted by the element's intensity, the line's weight in its family and
/// the family's strength (`family_weight`), plus a
/// Kramers-like background (E₀ − E)/E, absorbed below 1 keV, holding `BACKGROUND_SHARE`.
pub fn spectrum_shape(composition: &Composition, axis: &EnergyAxis, beam_kv: f64) -> Vec<f64> {
    let sigma = LINE_FWHM_KEV / (8.0 * 2f64.ln()).sqrt();
    let centre = |c: usize| axis.energy(c) + axis.scale_kev / 2.0;
    let mut lines = vec![0.0; axis.channels];
    for &(element, intensity) in &composition.elements {
        let element_lines = lines_of(element);
        for line in &element_lines {
            let weight = intensity * line.weight * family_weight(line.line, &element_lines);
            for (c, value) in lines.iter_mut().enumerate() {
                let z = (centre(c) - line.energy_kev) / sigma;
                *value += weight * (-0.5 * z * z).exp();
            }
        }
    }
    let background: Vec<f64> = (0..axis.channels)
        .map(|c| {
            let e = centre(c);
            match e > 0.1 && e < beam_kv {
                true => (beam_kv - e) / e * (1.0 - (-e * e).exp()),
                false => 0.0,
            }
        })
        .collect();
    let (line_total, background_total): (f64, f64) = (lines.iter().sum(), background.iter().sum());
    if line_total <= 0.0 || background_total <= 0.0 {
        return vec![0.0; axis.channels];
    }
    let scale = BACKGROUND_SHARE / (1.0 - BACKGROUND_SHARE) * line_total / background_total;
    lines
        .iter()
        .zip(&background)
        .map(|(l, b)| l + scale * b)
        .collect()
}

/// Relative strength of a line family within an element: the most energetic family in the
/// table (K when present, else L) has 1, the softer ones 0.3 — at 200 kV the soft lines are
/// weaker, being less often excited and more absorbed.
fn family_weight(line: &str, element_lines: &[XrayLine]) -> f64 {
    let family = |name: &str| name.chars().next().unwrap_or('K');
    let hardest = element_lines
        .iter()
        .map(|l| family(l.line))
        .min()
        .unwrap_or('K');
    if family(line) == hardest {
        1.0
    } else {
        SOFT_FAMILY_WEIGHT
    }
}

/// The normalised cumulative sum of `shape`, `None` when it holds nothing.
fn cumulative(shape: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = shape.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut sum = 0.0;
    Some(
        shape
            .iter()
            .map(|v| {
                sum += v / total;
                sum
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis() -> EnergyAxis {
        EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 0.02,
            channels: 1024,
        }
    }

    /// Iron on the left half, vacuum on the right.
    fn iron_and_vacuum(seed: u64) -> SpectrumImage {
        let compositions = [
            Composition {
                elements: vec![("Fe", 1.0)],
            },
            Composition { elements: vec![] },
        ];
        let labels: Vec<u8> = (0..64 * 64).map(|i| u8::from(i % 64 >= 32)).collect();
        let acquisition = Acquisition {
            counts_per_pixel: 2.0,
            axis: axis(),
            beam_kv: 200.0,
            seed,
        };
        eds_map(&labels, (64, 64), &compositions, acquisition).unwrap()
    }

    #[test]
    fn a_map_has_its_dose_and_its_lines() {
        let map = iron_and_vacuum(1);
        let expected = 2.0 * 32.0 * 64.0;
        let total = map.total_counts() as f64;
        assert!((total - expected).abs() < 4.0 * expected.sqrt(), "{total}");
        assert_eq!(map.region_sum(32, 0, 32, 64).iter().sum::<u64>(), 0);
        let sum = map.sum_spectrum();
        let peak = (0..sum.len()).max_by_key(|&c| sum[c]).unwrap();
        assert_eq!(
            axis().channel_of(6.4039),
            Some(peak),
            "Fe Kα is the strongest channel"
        );
        assert_eq!(map, iron_and_vacuum(1));
        assert_ne!(map, iron_and_vacuum(2));
    }

    #[test]
    fn the_background_holds_its_share() {
        let shape = spectrum_shape(
            &Composition {
                elements: vec![("Cu", 1.0)],
            },
            &axis(),
            200.0,
        );
        let total: f64 = shape.iter().sum();
        let far_from_lines: f64 = shape[100..200].iter().sum(); // 2–4 keV: background only
        assert!(far_from_lines > 0.0 && far_from_lines < BACKGROUND_SHARE * total);
    }
}
