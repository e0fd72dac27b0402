//! The pair distribution function g(r) of the atom columns of every chip.
//!
//! For a chip, the columns inside it are the *centres*; their neighbours are counted among all
//! columns of the image, also those just outside the chip, so chips at the grid's edges are not
//! starved of pairs (they are found with the module's cell grid, cells of r_max). With n(r) the
//! number of (centre, neighbour) pairs at a distance in [r, r + dr), the estimate is
//!
//! g(r) = n(r) / (ρ · π((r + dr)² − r²) · Σᵢ fᵢ(r)),
//!
//! where ρ is the number density of columns around the chip and fᵢ(r) is the fraction of the
//! circle of radius r (the bin's middle) about centre i that lies inside the image, so a centre
//! near the image border expects only that fraction of the pairs it would have inside a larger
//! image (the ratio form of Ripley's isotropic edge correction). fᵢ is exact for the circle: the
//! arcs between the circle's crossings with the four border lines are kept when their middle lies
//! inside the image; using the bin's middle circle for the whole annulus is the only
//! approximation, of order dr² / r².
//!
//! ρ is local: the columns in the block of 3 × 3 chips around the chip (fewer at the grid's
//! edges) divided by the block's area. A phase then has g → 1 at large r whatever the density of
//! other phases in the image, and the block is large enough (at least 2 × 2 chips) that where a
//! lattice period does not divide the chip the count varies by little. Only g's scale depends on
//! ρ: the Wasserstein comparison normalises g to unit mass.
//!
//! A chip with fewer than two centres gets an all-zero g(r): it carries no atom information and
//! the classifier must skip it ([`super::wasserstein::distances`] gives it no distances).

use super::Grid;
use crate::grid::{Chip, ChipGrid};
use std::f64::consts::{PI, TAU};

/// The r grid shared by all chips: `bins` bins of equal width from 0 to `r_max` (pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RGrid {
    /// The largest pair distance counted, pixels.
    pub r_max: f32,
    /// Number of distance bins, each `r_max / bins` pixels wide.
    pub bins: usize,
}

impl RGrid {
    /// The grid for columns `spacing_px` apart on chips of `chip_size` pixels: three neighbour
    /// shells (r_max = 3 · spacing) but no further than half a chip, since pairs much longer than
    /// the chip say little about it; bins of about spacing / 20, fine enough to separate the
    /// peaks of a square (a, a√2) or hexagonal (a, a√3, 2a) lattice.
    ///
    /// # Panics
    /// If `spacing_px` is not positive and finite or `chip_size` is zero.
    pub fn for_spacing(spacing_px: f32, chip_size: usize) -> RGrid {
        assert!(
            spacing_px > 0.0 && spacing_px.is_finite(),
            "spacing must be positive"
        );
        assert!(chip_size > 0, "chip size must be positive");
        let r_max = (3.0 * spacing_px).min(chip_size as f32 / 2.0);
        let bins = (r_max / (spacing_px / 20.0)).round().max(1.0) as usize;
        RGrid { r_max, bins }
    }

    /// Bin width.
    pub fn dr(&self) -> f32 {
        self.r_max / self.bins as f32
    }

    /// The middle of every bin.
    pub fn centres(&self) -> Vec<f32> {
        let dr = self.dr();
        (0..self.bins).map(|b| (b as f32 + 0.5) * dr).collect()
    }
}

/// g(r) of every chip of `grid`, row-major, from the column `positions` ((x, y) in pixels of the
/// image the grid is laid on; non-finite ones are ignored), on the bins of `r`.
///
/// # Panics
/// If `r` has no bins or a non-positive or non-finite `r_max`.
pub fn chip_pdfs(positions: &[[f32; 2]], grid: &ChipGrid, r: &RGrid) -> Vec<Vec<f32>> {
    assert!(r.bins > 0, "the r grid has no bins");
    assert!(
        r.r_max > 0.0 && r.r_max.is_finite(),
        "r_max must be positive"
    );
    let points: Vec<(f32, f32)> = positions
        .iter()
        .map(|&[x, y]| {
            if x.is_finite() && y.is_finite() {
                (x, y)
            } else {
                (f32::NAN, f32::NAN)
            }
        })
        .collect();
    let cells = Grid::new(&points, r.r_max);
    let centres = centres_by_chip(&points, grid);
    let image = grid.image_size();
    grid.chips()
        .map(|chip| {
            let mine = &centres[chip.row * grid.cols() + chip.col];
            if mine.len() < 2 {
                return vec![0.0; r.bins];
            }
            let pairs = pair_counts(&points, &cells, mine, r);
            let exposure = exposure(&points, mine, image, r);
            let density = density(&centres, grid, chip);
            normalise(&pairs, &exposure, density, r)
        })
        .collect()
}

/// The indices of the columns inside each chip, row-major.
fn centres_by_chip(points: &[(f32, f32)], grid: &ChipGrid) -> Vec<Vec<usize>> {
    let mut centres = vec![Vec::new(); grid.chip_count()];
    let size = grid.chip_size() as f32;
    for (i, &(x, y)) in points.iter().enumerate() {
        if x.is_nan() || y.is_nan() || x < 0.0 || y < 0.0 {
            continue;
        }
        let (col, row) = ((x / size) as usize, (y / size) as usize);
        if col < grid.cols() && row < grid.rows() {
            centres[row * grid.cols() + col].push(i);
        }
    }
    centres
}

/// Pairs (centre, any other column) per distance bin.
fn pair_counts(points: &[(f32, f32)], cells: &Grid, centres: &[usize], r: &RGrid) -> Vec<f64> {
    let mut counts = vec![0.0; r.bins];
    let r_max = f64::from(r.r_max);
    let per_px = r.bins as f64 / r_max;
    for &i in centres {
        let (x, y) = point(points, i);
        for j in cells.near(points[i].0, points[i].1) {
            let (u, v) = point(points, j);
            let distance = (u - x).hypot(v - y);
            if j != i && distance < r_max {
                counts[((distance * per_px) as usize).min(r.bins - 1)] += 1.0;
            }
        }
    }
    counts
}

/// Σᵢ fᵢ(r) per bin: the part of each bin's middle circle about each centre inside the `image`
/// (width, height).
fn exposure(
    points: &[(f32, f32)],
    centres: &[usize],
    image: (usize, usize),
    r: &RGrid,
) -> Vec<f64> {
    let radii: Vec<f64> = r.centres().into_iter().map(f64::from).collect();
    let (width, height) = (image.0 as f64, image.1 as f64);
    let mut sum = vec![0.0; r.bins];
    for &i in centres {
        let (x, y) = point(points, i);
        for (total, &radius) in sum.iter_mut().zip(&radii) {
            *total += circle_fraction_inside(x, y, radius, width, height);
        }
    }
    sum
}

/// Columns per pixel² in the block of up to 3 × 3 chips around `chip`.
fn density(centres: &[Vec<usize>], grid: &ChipGrid, chip: Chip) -> f64 {
    let rows = chip.row.saturating_sub(1)..(chip.row + 2).min(grid.rows());
    let cols = chip.col.saturating_sub(1)..(chip.col + 2).min(grid.cols());
    let count: usize = rows
        .clone()
        .flat_map(|row| cols.clone().map(move |col| row * grid.cols() + col))
        .map(|k| centres[k].len())
        .sum();
    let side = grid.chip_size() as f64;
    count as f64 / (rows.len() as f64 * cols.len() as f64 * side * side)
}

/// g(r) from the pair counts, the summed border fractions and the density.
fn normalise(pairs: &[f64], exposure: &[f64], density: f64, r: &RGrid) -> Vec<f32> {
    let dr = f64::from(r.dr());
    (0..r.bins)
        .map(|b| {
            let inner = b as f64 * dr;
            let shell = PI * ((inner + dr).powi(2) - inner.powi(2));
            (pairs[b] / (density * shell * exposure[b])) as f32
        })
        .collect()
}

/// The fraction of the circle of `radius` about (`x`, `y`) that lies inside the image
/// [0, `width`] × [0, `height`]: the circle is cut at its crossings with the lines of the
/// image's four sides, and each arc between consecutive crossings is inside or outside as a
/// whole, which its middle tells.
fn circle_fraction_inside(x: f64, y: f64, radius: f64, width: f64, height: f64) -> f64 {
    let inside = |(u, v): (f64, f64)| (0.0..=width).contains(&u) && (0.0..=height).contains(&v);
    let clearance = x.min(y).min(width - x).min(height - y);
    if radius <= clearance {
        return 1.0;
    }
    let mut angles = crossings(x, y, radius, width, height);
    if angles.is_empty() {
        return if inside((x + radius, y)) { 1.0 } else { 0.0 };
    }
    angles.sort_by(f64::total_cmp);
    let ends = angles.iter().skip(1).copied().chain([angles[0] + TAU]);
    let arcs: f64 = angles
        .iter()
        .zip(ends)
        .filter(|&(&start, end)| {
            let middle = 0.5 * (start + end);
            inside((x + radius * middle.cos(), y + radius * middle.sin()))
        })
        .map(|(&start, end)| end - start)
        .sum();
    arcs / TAU
}

/// The angles in [0, 2π) at which the circle of `radius` about (`x`, `y`) crosses the lines
/// x = 0, x = `width`, y = 0 and y = `height` (tangent points left out).
fn crossings(x: f64, y: f64, radius: f64, width: f64, height: f64) -> Vec<f64> {
    let mut angles = Vec::with_capacity(8);
    for line in [0.0, width] {
        let c = (line - x) / radius;
        if c.abs() < 1.0 {
            let a = c.acos();
            angles.extend([a, TAU - a]);
        }
    }
    for line in [0.0, height] {
        let s = (line - y) / radius;
        if s.abs() < 1.0 {
            let a = s.asin();
            angles.extend([a.rem_euclid(TAU), PI - a]);
        }
    }
    angles
}

/// Point `i` in f64.
fn point(points: &[(f32, f32)], i: usize) -> (f64, f64) {
    (f64::from(points[i].0), f64::from(points[i].1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A square lattice of spacing `a` over a `size`-px image, offset by a/2.
    fn square(a: f32, size: usize) -> Vec<[f32; 2]> {
        let n = (size as f32 / a) as usize;
        (0..n * n)
            .map(|k| [a * ((k % n) as f32 + 0.5), a * ((k / n) as f32 + 0.5)])
            .collect()
    }

    /// A hexagonal lattice of spacing `a` over a `size`-px image: rows a√3/2 apart, every other
    /// row shifted by a/2.
    fn hexagonal(a: f32, size: usize) -> Vec<[f32; 2]> {
        let row_gap = a * 3f32.sqrt() / 2.0;
        let (cols, rows) = (
            (size as f32 / a) as usize - 1,
            (size as f32 / row_gap) as usize,
        );
        (0..rows * cols)
            .map(|k| {
                let (row, col) = (k / cols, k % cols);
                let shift = if row % 2 == 1 { 0.5 } else { 0.0 };
                [
                    a * (col as f32 + 0.25 + shift),
                    row_gap * (row as f32 + 0.5),
                ]
            })
            .collect()
    }

    /// Asserts that `g` is non-zero only within one bin of `radii`, and has a peak near each of
    /// them short of r_max.
    fn assert_peaks_at(g: &[f32], r: &RGrid, radii: &[f32]) {
        let dr = r.dr();
        let near = |b: usize| {
            let (low, high) = (b as f32 * dr, (b + 1) as f32 * dr);
            radii.iter().any(|&p| p > low - dr && p < high + dr)
        };
        for (b, &value) in g.iter().enumerate() {
            assert!(
                value == 0.0 || near(b),
                "g = {value} at bin {b}, no peak there"
            );
        }
        for &p in radii.iter().filter(|&&p| p < r.r_max - dr) {
            let bin = (p / dr) as usize;
            let around = bin.saturating_sub(1)..(bin + 2).min(r.bins);
            assert!(g[around].iter().any(|&v| v > 0.5), "no peak at r = {p}");
        }
    }

    #[test]
    fn r_grid_follows_the_spacing_and_the_chip() {
        let r = RGrid::for_spacing(8.0, 64);
        assert_eq!((r.r_max, r.bins, r.dr()), (24.0, 60, 0.4));
        let small_chip = RGrid::for_spacing(10.0, 32);
        assert_eq!((small_chip.r_max, small_chip.bins), (16.0, 32));
        let centres = r.centres();
        assert_eq!(centres.len(), 60);
        assert!((centres[0] - 0.2).abs() < 1e-6 && (centres[59] - 23.8).abs() < 1e-5);
    }

    #[test]
    fn square_lattice_peaks_at_a_and_a_root_two() {
        let a = 8.0;
        let grid = ChipGrid::new(256, 256, 64).unwrap();
        let r = RGrid::for_spacing(a, 64);
        let pdfs = chip_pdfs(&square(a, 256), &grid, &r);
        let radii = [1.0, 2f32.sqrt(), 2.0, 5f32.sqrt(), 8f32.sqrt(), 3.0].map(|m| m * a);
        for g in &pdfs {
            assert_peaks_at(g, &r, &radii);
        }
    }

    #[test]
    fn hexagonal_lattice_peaks_at_a_a_root_three_and_two_a() {
        let a = 8.0;
        let grid = ChipGrid::new(256, 256, 64).unwrap();
        let r = RGrid::for_spacing(a, 64);
        let pdfs = chip_pdfs(&hexagonal(a, 256), &grid, &r);
        let radii = [1.0, 3f32.sqrt(), 2.0, 7f32.sqrt(), 3.0].map(|m| m * a);
        for g in &pdfs {
            assert_peaks_at(g, &r, &radii);
        }
    }

    #[test]
    fn g_tends_to_one_at_large_r() {
        let a = 8.0;
        let grid = ChipGrid::new(512, 512, 128).unwrap();
        let r = RGrid {
            r_max: 8.0 * a,
            bins: 64,
        };
        let pdfs = chip_pdfs(&square(a, 512), &grid, &r);
        let dr = r.dr();
        for chip in [0, 5] {
            // The shell-area-weighted mean of g over 4a ≤ r < 8a: pairs over expected pairs.
            let (mut pairs, mut area) = (0.0, 0.0);
            for (b, &g) in pdfs[chip].iter().enumerate().skip(32) {
                let shell = (b + 1) as f32 * (b + 1) as f32 - (b * b) as f32;
                pairs += g * shell * dr * dr;
                area += shell * dr * dr;
            }
            let mean = pairs / area;
            assert!((mean - 1.0).abs() < 0.03, "chip {chip}: mean g = {mean}");
        }
    }

    #[test]
    fn corner_edge_and_interior_chips_agree() {
        let a = 8.0;
        let grid = ChipGrid::new(256, 256, 64).unwrap();
        let r = RGrid::for_spacing(a, 64);
        let pdfs = chip_pdfs(&square(a, 256), &grid, &r);
        // Measured: 0.28 at the corner and 0.14 along the edges, of a peak of 12.4 (2.2 % and
        // 1.1 %); without the border correction the corner chip is off by up to 2.06 (17 %).
        let interior = &pdfs[5];
        let peak = interior.iter().copied().fold(0.0, f32::max);
        for chip in [0, 1, 4] {
            let diff = pdfs[chip]
                .iter()
                .zip(interior)
                .map(|(g, h)| (g - h).abs())
                .fold(0.0, f32::max);
            assert!(
                diff < 0.03 * peak,
                "chip {chip}: max |Δg| = {diff} of {peak}"
            );
        }
    }

    #[test]
    fn chips_with_fewer_than_two_columns_are_zero() {
        let grid = ChipGrid::new(128, 64, 64).unwrap();
        let r = RGrid::for_spacing(8.0, 64);
        let pdfs = chip_pdfs(&[[10.0, 10.0], [70.0, 10.0], [75.0, 12.0]], &grid, &r);
        assert!(pdfs[0].iter().all(|&g| g == 0.0));
        assert!(pdfs[1].iter().any(|&g| g > 0.0));
        let empty = chip_pdfs(&[], &grid, &r);
        assert!(empty.iter().flatten().all(|&g| g == 0.0));
    }

    /// Reference from numpy 2.4.6 (Python 3.11) with the same estimator written directly:
    /// all-pairs distances, `np.add.at` into the bins, the 3 × 3-chip block density, and the
    /// fraction of each middle circle inside the image by sampling 400 000 angles
    /// (`theta = (np.arange(400000) + 0.5) * 2π / 400000`, points counted with 0 ≤ x ≤ 192,
    /// 0 ≤ y ≤ 128), on the thinned, jittered lattice built below (exact in f32).
    #[test]
    fn matches_a_direct_numpy_estimate() {
        let positions: Vec<[f32; 2]> = (0..24 * 16)
            .map(|k: i32| (k / 16, k % 16))
            .filter(|&(i, j)| (i * i + 2 * j) % 7 != 0 && (i < 8 || j < 8 || (i + j) % 3 != 0))
            .map(|(i, j)| {
                let jitter = |m: i32| 0.5 * ((m % 5) - 2) as f32;
                [
                    4.0 + 8.0 * i as f32 + jitter(7 * i + 13 * j),
                    4.0 + 8.0 * j as f32 + jitter(11 * i + 3 * j),
                ]
            })
            .collect();
        assert_eq!(positions.len(), 296);
        let grid = ChipGrid::new(192, 128, 64).unwrap();
        let r = RGrid {
            r_max: 24.0,
            bins: 12,
        };
        let pdfs = chip_pdfs(&positions, &grid, &r);
        let references: [(usize, [f32; 9]); 3] = [
            (
                0,
                [
                    1.505309, 1.698056, 1.316618, 0.258129, 0.794695, 1.326684, 1.6807, 0.572058,
                    0.851603,
                ],
            ),
            (
                1,
                [
                    1.500473, 1.761522, 1.354769, 0.237915, 0.855444, 1.320913, 1.65801, 0.567595,
                    0.814551,
                ],
            ),
            (
                4,
                [
                    1.008142, 1.025731, 1.052953, 0.209218, 0.453946, 1.014763, 1.384337, 0.505750,
                    0.766863,
                ],
            ),
        ];
        for (chip, expected) in references {
            let g = &pdfs[chip];
            assert_eq!(g[..3], [0.0; 3], "no pairs closer than 6 px");
            for (value, reference) in g[3..].iter().zip(expected) {
                assert!(
                    (value - reference).abs() < 1e-4,
                    "{value} vs numpy {reference}"
                );
            }
        }
    }
}
