//! The example dataset: a deterministic simulated HAADF-STEM micrograph of a heterostructure with
//! a known label map, made here so the project ships data it owns.
//!
//! The specimen has four regions: vacuum above a wavy surface, a square perovskite-like lattice
//! (0.39 nm, bright A columns with weaker B columns at the cell centres) beside a hexagonal lattice
//! (0.30 nm, rotated 12°) across a tilted interface, and an amorphous support at the bottom.
//! Columns are Gaussians of the probe's width on a slowly varying thickness background; the
//! expected counts are Poisson-sampled and read out with Gaussian noise on a detector offset, as
//! a 16-bit detector would record them.

use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::f64::consts::TAU;

/// Names of the regions, indexed by their value in [`Simulation::labels`].
pub const CLASS_NAMES: [&str; 4] = ["vacuum", "square lattice", "hexagonal lattice", "amorphous"];
/// Pixel size of the simulated image.
pub const PIXEL_SIZE_NM: f64 = 0.04;
/// Side of the example image in pixels.
pub const DEFAULT_SIZE: usize = 512;
/// Seed of the example image.
pub const DEFAULT_SEED: u64 = 1;

const VACUUM: u8 = 0;
const SQUARE: u8 = 1;
const HEXAGONAL: u8 = 2;
const AMORPHOUS: u8 = 3;

const SQUARE_SPACING_NM: f64 = 0.39;
const HEXAGONAL_SPACING_NM: f64 = 0.30;
const HEXAGONAL_ROTATION_DEG: f64 = 12.0;
/// Column width: probe blur and column spread together, in pixels.
const COLUMN_SIGMA_PX: f64 = 1.4;
const AMORPHOUS_SIGMA_PX: f64 = 1.8;
/// Peak expected counts of each kind of column.
const SQUARE_A_COUNTS: f64 = 120.0;
const SQUARE_B_COUNTS: f64 = 45.0;
const HEXAGONAL_COUNTS: f64 = 85.0;
const AMORPHOUS_COUNTS: f64 = 22.0;
/// Amorphous atoms per square pixel.
const AMORPHOUS_DENSITY: f64 = 1.0 / 30.0;
/// Expected counts between columns, per region.
const BACKGROUND_COUNTS: [f64; 4] = [0.5, 6.0, 6.0, 9.0];
const DETECTOR_OFFSET: f64 = 50.0;
const READOUT_NOISE: f64 = 1.5;

/// A simulated micrograph and the region of every pixel.
pub struct Simulation {
    /// The image, calibrated, with a note on what it shows.
    pub dataset: Dataset,
    /// Region of each pixel, row-major, indexing [`CLASS_NAMES`].
    pub labels: Vec<u8>,
}

/// Where the interface between the lattices meets the middle of the example, as a fraction of
/// its width.
const EXAMPLE_INTERFACE: f64 = 0.45;
/// Where the interface of [`growth`] starts and ends, fractions of the width.
const GROWTH_INTERFACE: [f64; 2] = [0.15, 0.85];
/// Seconds between the frames of [`growth`].
pub const GROWTH_INTERVAL_S: f64 = 0.5;

/// Simulates a `size × size` heterostructure; the same `seed` gives the same image on a platform.
pub fn heterostructure(size: usize, seed: u64) -> Simulation {
    scene(size, seed, EXAMPLE_INTERFACE, PIXEL_SIZE_NM, "")
}

/// The heterostructure recorded at `pixel_nm` per pixel instead of [`PIXEL_SIZE_NM`], as at
/// another magnification: the lattices, the probe and the amorphous atoms keep their sizes in
/// nm, the regions their places in the field of view (`size × pixel_nm` wide), and each column
/// its peak counts.
pub fn heterostructure_at(size: usize, seed: u64, pixel_nm: f64) -> Simulation {
    let note = format!(", {pixel_nm} nm/px");
    scene(size, seed, EXAMPLE_INTERFACE, pixel_nm, &note)
}

/// Frame `frame` of `frames` of an in-situ movie of the heterostructure: the square lattice
/// grows into the hexagonal one, its interface moving at a constant speed from 15 % to 85 % of
/// the width, frames [`GROWTH_INTERVAL_S`] apart, each with its own noise (seed + frame).
pub fn growth(size: usize, seed: u64, frame: usize, frames: usize) -> Simulation {
    let progress = frame as f64 / frames.saturating_sub(1).max(1) as f64;
    let [start, end] = GROWTH_INTERFACE;
    let interface = start + (end - start) * progress;
    let note = format!(", growth frame {} of {frames}", frame + 1);
    let seed = seed.wrapping_add(frame as u64);
    scene(size, seed, interface, PIXEL_SIZE_NM, &note)
}

/// The heterostructure with its interface at `interface` (fraction of the width, mid-height),
/// `pixel_nm` per pixel.
fn scene(size: usize, seed: u64, interface: f64, pixel_nm: f64, note: &str) -> Simulation {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let labels: Vec<u8> = (0..size * size)
        .map(|i| region(i % size, i / size, size, interface))
        .collect();
    let mut expected: Vec<f64> = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| BACKGROUND_COUNTS[label as usize] * thickness(i % size, i / size, size))
        .collect();
    let mut canvas = Canvas {
        size,
        px_per_example_px: PIXEL_SIZE_NM / pixel_nm,
        labels: &labels,
        expected: &mut expected,
    };
    canvas.draw_square_lattice();
    canvas.draw_hexagonal_lattice();
    canvas.draw_amorphous(&mut rng);
    let note = format!(
        "simulated HAADF-STEM heterostructure (seed {seed}{note}): vacuum, square \
         {SQUARE_SPACING_NM} nm and hexagonal {HEXAGONAL_SPACING_NM} nm lattices, amorphous support"
    );
    Simulation {
        dataset: recorded(size, pixel_nm, &expected, &mut rng, note),
        labels,
    }
}

/// The region at pixel (`x`, `y`): wavy vacuum surface on top, amorphous support at the bottom,
/// a tilted, slightly wavy interface between the two lattices, at `interface` of the width
/// half-way down.
fn region(x: usize, y: usize, size: usize, interface: f64) -> u8 {
    let (u, v) = (x as f64 / size as f64, y as f64 / size as f64);
    if v < 0.12 + 0.04 * (TAU * 1.3 * u).sin() {
        VACUUM
    } else if v > 0.82 + 0.03 * (TAU * 2.0 * u + 1.0).sin() {
        AMORPHOUS
    } else if u < interface + 0.12 * (v - 0.5) + 0.02 * (TAU * 3.0 * v).sin() {
        SQUARE
    } else {
        HEXAGONAL
    }
}

/// Relative specimen thickness: a gentle wedge with a slow ripple.
fn thickness(x: usize, y: usize, size: usize) -> f64 {
    let (u, v) = (x as f64 / size as f64, y as f64 / size as f64);
    0.9 + 0.15 * v + 0.05 * (TAU * (u + 0.5 * v)).sin()
}

/// Expected counts being drawn, with the label map that says where each structure lives.
struct Canvas<'a> {
    size: usize,
    /// Pixels of this image per pixel of the example ([`PIXEL_SIZE_NM`]): what the sizes given
    /// in example pixels are multiplied by.
    px_per_example_px: f64,
    labels: &'a [u8],
    expected: &'a mut [f64],
}

impl Canvas<'_> {
    fn draw_square_lattice(&mut self) {
        let scale = self.px_per_example_px;
        let spacing = SQUARE_SPACING_NM / PIXEL_SIZE_NM * scale;
        let (origin, sigma) = (3.0 * scale, COLUMN_SIGMA_PX * scale);
        let cells = (self.size as f64 / spacing).ceil() as i64 + 1;
        for i in -1..=cells {
            for j in -1..=cells {
                let (x, y) = (i as f64 * spacing + origin, j as f64 * spacing + origin);
                self.column(x, y, SQUARE, SQUARE_A_COUNTS, sigma);
                self.column(
                    x + spacing / 2.0,
                    y + spacing / 2.0,
                    SQUARE,
                    SQUARE_B_COUNTS,
                    sigma,
                );
            }
        }
    }

    fn draw_hexagonal_lattice(&mut self) {
        let centre = self.size as f64 / 2.0;
        let spacing = HEXAGONAL_SPACING_NM / PIXEL_SIZE_NM * self.px_per_example_px;
        self.draw_lattice(
            &Lattice::hexagonal(spacing, HEXAGONAL_ROTATION_DEG),
            (centre, centre),
            HEXAGONAL,
            HEXAGONAL_COUNTS,
        );
    }

    /// Columns of `peak` counts at every point of `lattice` laid about `centre`, where the
    /// label map says `region`.
    fn draw_lattice(&mut self, lattice: &Lattice, centre: (f64, f64), region: u8, peak: f64) {
        let (sin, cos) = lattice.rotation_deg.to_radians().sin_cos();
        let (a1, a2) = (lattice.a1, lattice.a2);
        let reach = (2.0 * self.size as f64 / lattice.spacing).ceil() as i64;
        for i in -reach..=reach {
            for j in -reach..=reach {
                let (px, py) = (
                    i as f64 * a1.0 + j as f64 * a2.0,
                    i as f64 * a1.1 + j as f64 * a2.1,
                );
                let (x, y) = (
                    centre.0 + px * cos - py * sin,
                    centre.1 + px * sin + py * cos,
                );
                self.column(x, y, region, peak, COLUMN_SIGMA_PX * self.px_per_example_px);
            }
        }
    }

    fn draw_amorphous(&mut self, rng: &mut impl Rng) {
        let example_px = (self.size as f64 / self.px_per_example_px).powi(2);
        let atoms = (AMORPHOUS_DENSITY * example_px) as usize;
        for _ in 0..atoms {
            let (x, y) = (
                rng.random::<f64>() * self.size as f64,
                rng.random::<f64>() * self.size as f64,
            );
            let brightness = AMORPHOUS_COUNTS * (0.6 + 0.8 * rng.random::<f64>());
            let sigma = AMORPHOUS_SIGMA_PX * self.px_per_example_px;
            self.column(x, y, AMORPHOUS, brightness, sigma);
        }
    }

    /// Adds a Gaussian column of `peak` counts at (`x`, `y`) if that point lies in `region`,
    /// scaled by the local thickness; it spreads over whatever pixels lie within 4 σ.
    fn column(&mut self, x: f64, y: f64, region_label: u8, peak: f64, sigma: f64) {
        let size = self.size as f64;
        if !(0.0..size).contains(&x) || !(0.0..size).contains(&y) {
            return;
        }
        let (cx, cy) = (x as usize, y as usize);
        if self.labels[cy * self.size + cx] != region_label {
            return;
        }
        let peak = peak * thickness(cx, cy, self.size);
        let reach = (4.0 * sigma).ceil() as usize;
        let two_var = 2.0 * sigma * sigma;
        for py in cy.saturating_sub(reach)..(cy + reach + 1).min(self.size) {
            for px in cx.saturating_sub(reach)..(cx + reach + 1).min(self.size) {
                let (dx, dy) = (px as f64 - x, py as f64 - y);
                self.expected[py * self.size + px] += peak * (-(dx * dx + dy * dy) / two_var).exp();
            }
        }
    }
}

/// A 2-D Bravais lattice: its two vectors (pixels), their shortest length, and a rotation.
struct Lattice {
    a1: (f64, f64),
    a2: (f64, f64),
    spacing: f64,
    rotation_deg: f64,
}

impl Lattice {
    fn hexagonal(spacing: f64, rotation_deg: f64) -> Lattice {
        Lattice {
            a1: (spacing, 0.0),
            a2: (spacing * 0.5, spacing * 3f64.sqrt() / 2.0),
            spacing,
            rotation_deg,
        }
    }

    /// Columns per square pixel.
    fn density(&self) -> f64 {
        1.0 / (self.a1.0 * self.a2.1 - self.a1.1 * self.a2.0).abs()
    }
}

/// Names of the phases of [`grains`], indexed by their value in [`Simulation::labels`].
pub const GRAIN_PHASES: [&str; 2] = ["hexagonal 8.0 px", "hexagonal 8.4 px"];
/// Nearest column spacing of the two phases of [`grains`], pixels: 5 % apart, as for two
/// phases with a small lattice mismatch.
pub const GRAIN_SPACINGS_PX: [f64; 2] = [8.0, 8.4];
/// Mean grain diameter of [`grains`], pixels.
const GRAIN_DIAMETER_PX: f64 = 110.0;
/// Peak counts of a column of the first phase; the sparser second phase has proportionally
/// brighter columns, so both have the same mean intensity.
const GRAIN_COLUMN_COUNTS: f64 = 100.0;
/// Each grain's brightness varies by up to this fraction (thickness and zone-axis tilt).
const GRAIN_BRIGHTNESS_SPREAD: f64 = 0.3;

/// Simulates a `size × size` polycrystal of two hexagonal phases whose column spacings differ
/// by 5 % at the same mean intensity: randomly oriented Voronoi grains, alternately of each
/// phase, each a little brighter or darker (thickness, tilt). Orientation and brightness vary
/// more within a phase than between the phases, so an image encoder struggles, while the
/// columns' pair distances (rotation- and intensity-invariant) tell the phases apart: the case
/// the atom modality is for.
pub fn grains(size: usize, seed: u64) -> Simulation {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let count = ((size * size) as f64 / (GRAIN_DIAMETER_PX * GRAIN_DIAMETER_PX)).ceil() as usize;
    let seeds: Vec<(f64, f64)> = (0..count.clamp(2, 255))
        .map(|_| {
            (
                rng.random::<f64>() * size as f64,
                rng.random::<f64>() * size as f64,
            )
        })
        .collect();
    let grain_of: Vec<u8> = (0..size * size)
        .map(|i| nearest_seed(&seeds, (i % size) as f64, (i / size) as f64))
        .collect();
    let mut expected: Vec<f64> = (0..size * size)
        .map(|i| BACKGROUND_COUNTS[SQUARE as usize] * thickness(i % size, i / size, size))
        .collect();
    let mut canvas = Canvas {
        size,
        px_per_example_px: 1.0,
        labels: &grain_of,
        expected: &mut expected,
    };
    let first_density = Lattice::hexagonal(GRAIN_SPACINGS_PX[0], 0.0).density();
    for (grain, &centre) in seeds.iter().enumerate() {
        let rotation = rng.random::<f64>() * 90.0;
        let lattice = Lattice::hexagonal(GRAIN_SPACINGS_PX[grain % 2], rotation);
        let tilt = 1.0 + GRAIN_BRIGHTNESS_SPREAD * (2.0 * rng.random::<f64>() - 1.0);
        let peak = tilt * GRAIN_COLUMN_COUNTS * first_density / lattice.density();
        canvas.draw_lattice(&lattice, centre, grain as u8, peak);
    }
    let note = format!(
        "simulated polycrystal (seed {seed}): randomly oriented hexagonal grains with {} or {} px \
         column spacing and the same mean intensity",
        GRAIN_SPACINGS_PX[0], GRAIN_SPACINGS_PX[1]
    );
    Simulation {
        dataset: recorded(size, PIXEL_SIZE_NM, &expected, &mut rng, note),
        labels: grain_of.iter().map(|&g| g % 2).collect(),
    }
}

/// The index of the seed nearest to (`x`, `y`).
fn nearest_seed(seeds: &[(f64, f64)], x: f64, y: f64) -> u8 {
    let distance = |&(sx, sy): &(f64, f64)| (sx - x).powi(2) + (sy - y).powi(2);
    (0..seeds.len())
        .min_by(|&a, &b| distance(&seeds[a]).total_cmp(&distance(&seeds[b])))
        .unwrap_or(0) as u8
}

/// The `size × size` image a 16-bit detector records of the `expected` counts, calibrated at
/// `pixel_nm`, with `note` saying what it shows.
fn recorded(
    size: usize,
    pixel_nm: f64,
    expected: &[f64],
    rng: &mut impl Rng,
    note: String,
) -> Dataset {
    Dataset {
        image: Image::new(size, size, record(expected, rng)),
        calibration: Some(Calibration {
            pixel_size: pixel_nm,
            unit: "nm".into(),
        }),
        metadata: Metadata {
            format: "simulation",
            sample_type: SampleType::U16,
            channels: 1,
            notes: vec![note],
            properties: vec![],
        },
    }
}

/// Detector counts: Poisson shot noise on the expected counts, then offset and readout noise,
/// rounded and clamped to the 16-bit range.
fn record(expected: &[f64], rng: &mut impl Rng) -> Vec<f32> {
    let readout = Normal::new(DETECTOR_OFFSET, READOUT_NOISE).expect("valid readout noise");
    expected
        .iter()
        .map(|&mean| {
            let shot = Poisson::new(mean.max(1e-3))
                .expect("positive mean")
                .sample(rng);
            (shot + readout.sample(rng)).round().clamp(0.0, 65535.0) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_where(simulation: &Simulation, label: u8) -> f64 {
        let values: Vec<f64> = simulation
            .labels
            .iter()
            .zip(simulation.dataset.image.pixels())
            .filter(|(l, _)| **l == label)
            .map(|(_, &v)| f64::from(v))
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    }

    #[test]
    fn same_seed_same_image_and_other_seed_other_noise() {
        let a = heterostructure(96, 7);
        let b = heterostructure(96, 7);
        let c = heterostructure(96, 8);
        assert_eq!(a.dataset.image, b.dataset.image);
        assert_ne!(a.dataset.image, c.dataset.image);
        assert_eq!(a.labels, c.labels);
    }

    #[test]
    fn every_region_is_present_in_sensible_proportions() {
        let simulation = heterostructure(DEFAULT_SIZE, DEFAULT_SEED);
        for label in [VACUUM, SQUARE, HEXAGONAL, AMORPHOUS] {
            let fraction = simulation.labels.iter().filter(|&&l| l == label).count() as f64
                / simulation.labels.len() as f64;
            assert!(
                (0.08..0.5).contains(&fraction),
                "{}: {fraction}",
                CLASS_NAMES[label as usize]
            );
        }
    }

    #[test]
    fn vacuum_is_darkest_and_crystals_brightest() {
        let simulation = heterostructure(256, 3);
        let vacuum = mean_where(&simulation, VACUUM);
        let amorphous = mean_where(&simulation, AMORPHOUS);
        let square = mean_where(&simulation, SQUARE);
        let hexagonal = mean_where(&simulation, HEXAGONAL);
        assert!((vacuum - DETECTOR_OFFSET).abs() < 2.0, "vacuum {vacuum}");
        assert!(
            vacuum < amorphous && amorphous < hexagonal.min(square),
            "{vacuum} {amorphous} {hexagonal} {square}"
        );
    }

    #[test]
    fn grains_have_both_phases_at_the_same_mean_intensity() {
        let simulation = grains(384, 5);
        let fraction = simulation.labels.iter().filter(|&&l| l == 1).count() as f64
            / simulation.labels.len() as f64;
        assert!(
            (0.2..0.8).contains(&fraction),
            "hexagonal fraction {fraction}"
        );
        let (first, second) = (mean_where(&simulation, 0), mean_where(&simulation, 1));
        assert!((first / second - 1.0).abs() < 0.05, "{first} vs {second}");
        assert_eq!(grains(384, 5).dataset.image, simulation.dataset.image);
    }

    #[test]
    fn square_region_repeats_at_its_lattice_spacing() {
        let simulation = heterostructure(DEFAULT_SIZE, DEFAULT_SEED);
        let image = &simulation.dataset.image;
        // A patch well inside the square lattice; autocorrelation along x at the lattice period
        // (9.75 px) beats half a period.
        let patch = image.crop(40, 150, 120, 120);
        let correlation = |shift: usize| {
            let mut sum = 0.0;
            for y in 0..120 {
                for x in 0..120 - shift {
                    sum += f64::from(patch.get(x, y)) * f64::from(patch.get(x + shift, y));
                }
            }
            sum / (120 * (120 - shift)) as f64
        };
        assert!(correlation(10) > correlation(5) * 1.1);
        assert!(
            simulation.labels[150 * DEFAULT_SIZE + 40..150 * DEFAULT_SIZE + 160]
                .iter()
                .all(|&l| l == SQUARE)
        );
    }
}
