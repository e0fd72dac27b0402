//! Atom columns: finding and measuring the bright columns of an atomic-resolution image.
//!
//! [`find_atoms`] runs the two steps Atomap popularised: [`detect`] finds candidate columns as
//! Laplacian-of-Gaussian blobs (scikit-image's `blob_log`), then [`refine()`] moves each one to
//! the centre of mass of its neighbourhood and fits an elliptical 2-D Gaussian there. Both steps
//! take their scale from [`AtomParams::spacing_px`], the expected distance between neighbouring
//! columns, which [`AtomParams::for_image`] reads off the image's power spectrum
//! ([`dominant_spacing`]).
//!
//! Non-finite pixels (NaN, ±∞) count as the image's smallest finite value, so a hole in the
//! data reads as background rather than as a column.

use crate::dataset::Image;

pub mod log;
pub mod modality;
pub mod pdf;
pub mod refine;
pub mod spacing;
pub mod wasserstein;

pub use log::{Blob, detect};
pub use modality::AtomChips;
pub use refine::{AtomColumn, Fit, refine};
pub use spacing::dominant_spacing;

/// Spacing assumed when the image shows no clear lattice period: 0.3 nm columns sampled at
/// about 0.04 nm per pixel, the typical HAADF-STEM setting.
const FALLBACK_SPACING_PX: f32 = 8.0;

/// Default relative threshold: a blob must reach a fifth of the strongest LoG response. Column
/// intensities vary with atomic number (HAADF contrast goes as about Z^1.7), so a light column
/// next to a heavy one can be a third as bright; 0.2 keeps those while rejecting the noise
/// maxima of the background, which on shot-noise-limited images sit well below 0.1.
const DEFAULT_THRESHOLD: f32 = 0.2;

/// The settings of a column search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AtomParams {
    /// Expected distance between neighbouring columns, in pixels.
    pub spacing_px: f32,
    /// Detection threshold relative to the strongest blob response, 0–1 (scikit-image's
    /// `threshold_rel`).
    pub threshold: f32,
}

impl AtomParams {
    /// Settings for `image`: the spacing of its strongest lattice fringes ([`dominant_spacing`],
    /// or 8 px when it has none) and a relative threshold of 0.2.
    pub fn for_image(image: &Image) -> AtomParams {
        AtomParams {
            spacing_px: dominant_spacing(image).unwrap_or(FALLBACK_SPACING_PX),
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// Finds the atom columns of `image`: [`detect`] then [`refine()`].
pub fn find_atoms(image: &Image, params: &AtomParams) -> Vec<AtomColumn> {
    let blobs = detect(image, params);
    refine(image, &blobs, params)
}

/// The pixels with every non-finite value replaced by the smallest finite one (0 when none is
/// finite).
fn finite_pixels(image: &Image) -> Vec<f32> {
    let floor = image.finite_range().map_or(0.0, |(lo, _)| lo);
    image
        .pixels()
        .iter()
        .map(|&v| if v.is_finite() { v } else { floor })
        .collect()
}

/// Most cells along a side of a [`Grid`]; points beyond share the last cell, which keeps the
/// queries complete (merely slower) when a tiny cell is asked of a large image.
const MAX_CELLS_PER_SIDE: usize = 1024;

/// Points bucketed into square cells, for neighbour queries within one cell size.
struct Grid {
    cell: f32,
    columns: usize,
    rows: usize,
    /// Point indices, cell after cell.
    members: Vec<usize>,
    /// Where each cell's members start in `members` (one more entry than cells).
    starts: Vec<usize>,
}

impl Grid {
    /// Buckets `points` (x, y) into cells of side `cell` (> 0).
    fn new(points: &[(f32, f32)], cell: f32) -> Grid {
        let (max_x, max_y) = points
            .iter()
            .fold((0.0f32, 0.0f32), |(mx, my), &(x, y)| (mx.max(x), my.max(y)));
        let columns = ((max_x / cell) as usize).min(MAX_CELLS_PER_SIDE) + 1;
        let rows = ((max_y / cell) as usize).min(MAX_CELLS_PER_SIDE) + 1;
        let mut grid = Grid {
            cell,
            columns,
            rows,
            members: Vec::with_capacity(points.len()),
            starts: vec![0; columns * rows + 1],
        };
        let cells: Vec<usize> = points.iter().map(|&(x, y)| grid.cell_of(x, y)).collect();
        for &c in &cells {
            grid.starts[c + 1] += 1;
        }
        for c in 0..columns * rows {
            grid.starts[c + 1] += grid.starts[c];
        }
        let mut next = grid.starts.clone();
        grid.members.resize(points.len(), 0);
        for (i, &c) in cells.iter().enumerate() {
            grid.members[next[c]] = i;
            next[c] += 1;
        }
        grid
    }

    fn cell_of(&self, x: f32, y: f32) -> usize {
        let cx = ((x.max(0.0) / self.cell) as usize).min(self.columns - 1);
        let cy = ((y.max(0.0) / self.cell) as usize).min(self.rows - 1);
        cy * self.columns + cx
    }

    /// Indices of the points in the 3 × 3 cells around (`x`, `y`): every point within one cell
    /// size of it, and some farther ones.
    fn near(&self, x: f32, y: f32) -> impl Iterator<Item = usize> + '_ {
        let centre = self.cell_of(x, y);
        let (cx, cy) = (centre % self.columns, centre / self.columns);
        let rows = cy.saturating_sub(1)..(cy + 2).min(self.rows);
        rows.flat_map(move |row| {
            let first = row * self.columns + cx.saturating_sub(1);
            let last = row * self.columns + (cx + 1).min(self.columns - 1);
            self.members[self.starts[first]..self.starts[last + 1]]
                .iter()
                .copied()
        })
    }
}

#[cfg(test)]
pub(crate) mod synthetic {
    //! Synthetic lattices with known column positions, shared by the module's tests.

    use super::Image;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Poisson};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// A lattice image and the true (x, y) of its columns.
    pub struct Lattice {
        pub image: Image,
        pub truth: Vec<(f32, f32)>,
    }

    /// Columns at `origin + i·a + j·b` (pixels) covering a `size × size` image, each a Gaussian
    /// of standard deviation `sigma` and height 1 on a background of 0.1; with `dose` > 0, each
    /// pixel is a Poisson count of mean `dose × value` (seeded by `seed`).
    pub fn lattice(
        size: usize,
        a: (f32, f32),
        b: (f32, f32),
        origin: (f32, f32),
        sigma: f32,
        dose: f32,
        seed: u64,
    ) -> Lattice {
        let truth = positions(size as f32, a, b, origin);
        let mut pixels = vec![0.1f32; size * size];
        for &(x, y) in &truth {
            splat(&mut pixels, size, x, y, sigma);
        }
        if dose > 0.0 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            for v in &mut pixels {
                *v = Poisson::new(f64::from(*v * dose)).unwrap().sample(&mut rng) as f32;
            }
        }
        Lattice {
            image: Image::new(size, size, pixels),
            truth,
        }
    }

    /// The lattice points inside `[-4, size + 4)²`.
    fn positions(size: f32, a: (f32, f32), b: (f32, f32), origin: (f32, f32)) -> Vec<(f32, f32)> {
        let reach = (2.0 * size / a.0.hypot(a.1).min(b.0.hypot(b.1))) as i32 + 2;
        let mut points = Vec::new();
        for i in -reach..=reach {
            for j in -reach..=reach {
                let x = origin.0 + i as f32 * a.0 + j as f32 * b.0;
                let y = origin.1 + i as f32 * a.1 + j as f32 * b.1;
                if (-4.0..size + 4.0).contains(&x) && (-4.0..size + 4.0).contains(&y) {
                    points.push((x, y));
                }
            }
        }
        points
    }

    /// Adds a unit-height Gaussian at (`x`, `y`) to the pixels within 5 σ.
    fn splat(pixels: &mut [f32], size: usize, x: f32, y: f32, sigma: f32) {
        let reach = 5.0 * sigma;
        let span = |c: f32| {
            let lo = (c - reach).floor().max(0.0) as usize;
            let hi = ((c + reach).ceil().max(0.0) as usize).min(size);
            lo..hi
        };
        for row in span(y) {
            for col in span(x) {
                let d2 = (col as f32 - x).powi(2) + (row as f32 - y).powi(2);
                pixels[row * size + col] += (-d2 / (2.0 * sigma * sigma)).exp();
            }
        }
    }

    /// Precision, recall and mean matched distance of `found` against `truth`, both counted
    /// only at least `margin` pixels inside a `size × size` image; a match is within `tolerance`.
    pub fn score(
        found: &[(f32, f32)],
        truth: &[(f32, f32)],
        size: usize,
        margin: f32,
        tolerance: f32,
    ) -> (f32, f32, f32) {
        let inside = |&&(x, y): &&(f32, f32)| {
            let hi = size as f32 - 1.0 - margin;
            (margin..=hi).contains(&x) && (margin..=hi).contains(&y)
        };
        let nearest = |p: (f32, f32), set: &[(f32, f32)]| {
            set.iter()
                .map(|q| (p.0 - q.0).hypot(p.1 - q.1))
                .fold(f32::INFINITY, f32::min)
        };
        let found_inside: Vec<_> = found.iter().filter(inside).collect();
        let truth_inside: Vec<_> = truth.iter().filter(inside).collect();
        let hits: Vec<f32> = found_inside
            .iter()
            .map(|&&p| nearest(p, truth))
            .filter(|&d| d <= tolerance)
            .collect();
        let recalled = truth_inside
            .iter()
            .filter(|&&&p| nearest(p, found) <= tolerance)
            .count();
        (
            hits.len() as f32 / found_inside.len() as f32,
            recalled as f32 / truth_inside.len() as f32,
            hits.iter().sum::<f32>() / hits.len() as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::synthetic::{lattice, score};
    use super::*;

    #[test]
    fn grid_finds_every_point_within_one_cell() {
        let points: Vec<(f32, f32)> = (0..200)
            .map(|i| ((i * 37 % 101) as f32 * 0.7, (i * 53 % 97) as f32 * 0.9))
            .collect();
        assert_complete(&points, &Grid::new(&points, 5.0), 5.0);
        // A copy 6000 px away makes 1214 cells a side: capped at 1024, queries stay complete.
        let mut far = points.clone();
        far.extend(points.iter().map(|&(x, y)| (x + 6000.0, y + 6000.0)));
        let grid = Grid::new(&far, 5.0);
        assert_eq!(grid.columns, MAX_CELLS_PER_SIDE + 1);
        assert_complete(&far, &grid, 5.0);
    }

    fn assert_complete(points: &[(f32, f32)], grid: &Grid, cell: f32) {
        for &(x, y) in points {
            let mut near: Vec<usize> = grid.near(x, y).collect();
            near.sort_unstable();
            for (j, q) in points.iter().enumerate() {
                if (x - q.0).hypot(y - q.1) <= cell {
                    assert!(near.binary_search(&j).is_ok());
                }
            }
        }
    }

    #[test]
    fn finite_pixels_replace_nan_by_the_minimum() {
        let image = Image::new(3, 1, vec![2.0, f32::NAN, -1.0]);
        assert_eq!(finite_pixels(&image), vec![2.0, -1.0, -1.0]);
        let blank = Image::new(2, 1, vec![f32::NAN, f32::INFINITY]);
        assert_eq!(finite_pixels(&blank), vec![0.0, 0.0]);
    }

    #[test]
    fn for_image_reads_the_lattice_spacing() {
        let square = lattice(128, (9.0, 0.0), (0.0, 9.0), (3.3, 4.6), 1.6, 0.0, 0);
        let params = AtomParams::for_image(&square.image);
        assert!((params.spacing_px - 9.0).abs() < 0.2, "{params:?}");
        assert_eq!(params.threshold, 0.2);
        let flat = Image::new(40, 40, vec![1.0; 1600]);
        assert_eq!(AtomParams::for_image(&flat).spacing_px, FALLBACK_SPACING_PX);
    }

    /// Accuracy on noisy square and hexagonal lattices with known sub-pixel positions.
    #[test]
    fn find_atoms_recovers_known_lattices() {
        let hexagonal = ((7.5, 0.0), (3.75, 7.5 * 3f32.sqrt() / 2.0));
        let square = ((9.75, 0.4), (-0.4, 9.75));
        for (n, (a, b)) in [square, hexagonal].into_iter().enumerate() {
            let synthetic = lattice(160, a, b, (2.37, 5.81), 1.4, 200.0, n as u64);
            let params = AtomParams {
                spacing_px: a.0.hypot(a.1),
                threshold: 0.2,
            };
            let columns = find_atoms(&synthetic.image, &params);
            let fitted: Vec<(f32, f32)> = columns
                .iter()
                .filter(|c| c.fit == Fit::Gaussian)
                .map(|c| (c.x, c.y))
                .collect();
            let all: Vec<(f32, f32)> = columns.iter().map(|c| (c.x, c.y)).collect();
            let (precision, recall, _) = score(&all, &synthetic.truth, 160, 3.0, 1.0);
            let (_, _, error) = score(&fitted, &synthetic.truth, 160, 3.0, 1.0);
            println!(
                "lattice {n}: {} columns, {} fitted, precision {precision}, recall {recall}, \
                 mean error {error} px",
                columns.len(),
                fitted.len()
            );
            assert!(precision >= 0.99 && recall >= 0.99, "{precision} {recall}");
            assert!(error < 0.1, "mean error {error}");
            assert!(fitted.len() * 10 >= columns.len() * 9);
        }
    }

    #[test]
    fn degenerate_images_give_no_columns_and_no_panic() {
        let params = AtomParams {
            spacing_px: 8.0,
            threshold: 0.2,
        };
        for (w, h) in [(0, 0), (1, 1), (2, 3), (5, 1)] {
            let image = Image::new(w, h, vec![1.0; w * h]);
            assert!(find_atoms(&image, &params).is_empty());
            let _ = AtomParams::for_image(&image);
        }
        let constant = Image::new(50, 40, vec![3.0; 2000]);
        assert!(find_atoms(&constant, &params).is_empty());
        let nan = Image::new(50, 40, vec![f32::NAN; 2000]);
        assert!(find_atoms(&nan, &params).is_empty());
        assert!(dominant_spacing(&nan).is_none());
    }

    #[test]
    fn nan_pixels_read_as_background() {
        let mut synthetic = lattice(64, (8.0, 0.0), (0.0, 8.0), (4.2, 3.9), 1.4, 0.0, 0);
        let clean = find_atoms(&synthetic.image, &AtomParams::for_image(&synthetic.image));
        let mut pixels = synthetic.image.pixels().to_vec();
        pixels[10 * 64 + 30] = f32::NAN;
        synthetic.image = Image::new(64, 64, pixels);
        let holed = find_atoms(&synthetic.image, &AtomParams::for_image(&synthetic.image));
        assert!(holed.iter().all(|c| c.x.is_finite() && c.y.is_finite()));
        assert!(holed.len().abs_diff(clean.len()) <= 1);
    }

    /// Speed on a 1024 × 1024 lattice of about 10 000 columns: run with
    /// `cargo test --workspace --release -p chipscope-core bench_find_atoms -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_find_atoms() {
        let synthetic = lattice(1024, (10.0, 0.0), (0.0, 10.0), (3.1, 2.7), 1.5, 200.0, 7);
        let started = std::time::Instant::now();
        let params = AtomParams::for_image(&synthetic.image);
        let spacing = started.elapsed();
        let columns = find_atoms(&synthetic.image, &params);
        println!(
            "1024 × 1024, {} true columns: spacing {:.2} px in {spacing:?}, {} columns found in {:?}",
            synthetic.truth.len(),
            params.spacing_px,
            columns.len(),
            started.elapsed() - spacing
        );
    }
}
