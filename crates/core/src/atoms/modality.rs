//! The atom modality of the classifier: every chip's pair distribution function g(r), a class
//! prototype as the Wasserstein barycenter of its supports' g(r), and the W1 distance from every
//! chip to every prototype.
//!
//! For concatenated fusion the modality also gives each chip a fixed-length vector: its quantile
//! function (the r below which a given fraction of its g(r) mass lies) at evenly spaced levels.
//! In 1-D the Euclidean distance between quantile vectors is (up to a constant) the
//! Wasserstein-2 distance, and the mean of the supports' quantile vectors is exactly the
//! barycenter's, so concatenation keeps the geometry of the Wasserstein comparison.

use super::pdf::{RGrid, chip_pdfs};
use super::wasserstein::{barycenter, distances};
use super::{AtomColumn, AtomParams};
use crate::classify::Segmentation;
use crate::embeddings::Embeddings;
use crate::grid::ChipGrid;

/// Levels of the quantile vector used in concatenated fusion.
pub const QUANTILE_LEVELS: usize = 32;

/// The g(r) of every chip of one image, on one r grid.
#[derive(Clone, Debug, PartialEq)]
pub struct AtomChips {
    /// The r bins shared by every chip and prototype.
    pub r: RGrid,
    /// g(r) per chip in grid order; all zeros for a chip with fewer than two columns.
    pub pdfs: Vec<Vec<f32>>,
}

impl AtomChips {
    /// The g(r) of every chip of `grid` from the image's refined `columns`, on the r grid that
    /// `params`' spacing gives for the grid's chip size (the same for every image segmented
    /// with the same settings, so prototypes carry over).
    pub fn new(columns: &[AtomColumn], grid: &ChipGrid, params: &AtomParams) -> AtomChips {
        let r = RGrid::for_spacing(params.spacing_px, grid.chip_size());
        let positions: Vec<[f32; 2]> = columns.iter().map(|c| [c.x, c.y]).collect();
        AtomChips {
            r,
            pdfs: chip_pdfs(&positions, grid, &r),
        }
    }

    /// Whether chip `chip` has the two or more columns a g(r) needs.
    pub fn has_atoms(&self, chip: usize) -> bool {
        self.pdfs[chip].iter().any(|&g| g > 0.0)
    }

    /// The prototype of every class: the barycenter of its support chips' g(r) (`classes[k]`
    /// are chip indices), `None` when none of the supports has atoms.
    pub fn prototypes(&self, classes: &[Vec<usize>]) -> Vec<Option<Vec<f32>>> {
        let values = self.r.centres();
        classes
            .iter()
            .map(|supports| {
                let members: Vec<&[f32]> = supports.iter().map(|&i| &self.pdfs[i][..]).collect();
                barycenter(&values, &members)
            })
            .collect()
    }

    /// W1 distances (pixels) from every chip to each prototype (made on the same r grid); NaN
    /// for a chip without atoms, infinity to a prototype that is `None`.
    pub fn distances(&self, prototypes: &[Option<Vec<f32>>]) -> Segmentation {
        let empty = vec![0.0; self.r.bins];
        let prototypes: Vec<Vec<f32>> = prototypes
            .iter()
            .map(|p| p.clone().unwrap_or_else(|| empty.clone()))
            .collect();
        let table = distances(&self.r.centres(), &self.pdfs, &prototypes);
        let values = table
            .into_iter()
            .flat_map(|row| match row {
                Some(row) => row.into_iter().map(|d| d as f32).collect(),
                None => vec![f32::NAN; prototypes.len()],
            })
            .collect();
        Segmentation::from_distances(prototypes.len(), values)
    }

    /// Every chip's quantile vector ([`QUANTILE_LEVELS`] values, pixels) for concatenated
    /// fusion. A chip without atoms gets the mean vector of those with atoms (zeros when none
    /// has any), so it sits at the same place for every class rather than at the origin.
    pub fn quantile_vectors(&self) -> Embeddings {
        let rows: Vec<Option<Vec<f32>>> = self
            .pdfs
            .iter()
            .map(|pdf| quantiles(pdf, &self.r))
            .collect();
        let known: Vec<&Vec<f32>> = rows.iter().flatten().collect();
        let mut mean = vec![0.0f32; QUANTILE_LEVELS];
        for row in &known {
            mean.iter_mut().zip(row.iter()).for_each(|(m, v)| *m += v);
        }
        let scale = 1.0 / known.len().max(1) as f32;
        mean.iter_mut().for_each(|m| *m *= scale);
        let values = rows
            .iter()
            .flat_map(|row| row.as_ref().unwrap_or(&mean).iter().copied())
            .collect();
        Embeddings {
            dim: QUANTILE_LEVELS,
            values,
        }
    }
}

/// The quantile function of `pdf` (mass spread evenly within each bin) at the middles of
/// [`QUANTILE_LEVELS`] equal steps; `None` when it has no mass.
fn quantiles(pdf: &[f32], r: &RGrid) -> Option<Vec<f32>> {
    let total: f64 = pdf.iter().map(|&g| f64::from(g.max(0.0))).sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let dr = f64::from(r.dr());
    let mut out = Vec::with_capacity(QUANTILE_LEVELS);
    let (mut bin, mut below) = (0, 0.0_f64);
    for step in 0..QUANTILE_LEVELS {
        let level = (step as f64 + 0.5) / QUANTILE_LEVELS as f64 * total;
        while bin + 1 < pdf.len() && below + f64::from(pdf[bin].max(0.0)) < level {
            below += f64::from(pdf[bin].max(0.0));
            bin += 1;
        }
        let mass = f64::from(pdf[bin].max(0.0));
        let within = if mass > 0.0 {
            ((level - below) / mass).clamp(0.0, 1.0)
        } else {
            0.5
        };
        out.push(((bin as f64 + within) * dr) as f32);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::lattice;
    use super::*;
    use crate::atoms::find_atoms;

    fn params(spacing_px: f32) -> AtomParams {
        AtomParams {
            spacing_px,
            threshold: 0.2,
        }
    }

    /// Two square lattices side by side, 8 px and 10 px apart, equally bright.
    fn two_lattices() -> (Vec<AtomColumn>, ChipGrid) {
        let left = lattice(128, (8.0, 0.0), (0.0, 8.0), (4.0, 4.0), 1.3, 100.0, 1);
        let right = lattice(128, (10.0, 0.0), (0.0, 10.0), (5.0, 5.0), 1.3, 100.0, 2);
        let mut columns = find_atoms(&left.image, &params(9.0));
        columns.extend(
            find_atoms(&right.image, &params(9.0))
                .into_iter()
                .map(|c| AtomColumn {
                    x: c.x + 128.0,
                    ..c
                }),
        );
        (columns, ChipGrid::new(256, 128, 32).unwrap())
    }

    #[test]
    fn separates_lattice_spacings_by_w1() {
        let (columns, grid) = two_lattices();
        let chips = AtomChips::new(&columns, &grid, &params(9.0));
        let (left, right) = (grid.cols() + 1, grid.cols() + 6);
        let prototypes = chips.prototypes(&[vec![left], vec![right]]);
        let segmentation = chips.distances(&prototypes);
        for chip in grid.chips() {
            let index = chip.row * grid.cols() + chip.col;
            let expected = usize::from(chip.col >= grid.cols() / 2);
            assert_eq!(segmentation.nearest(index), expected, "chip {chip:?}");
        }
    }

    #[test]
    fn quantile_prototype_is_the_mean_of_support_quantiles() {
        let (columns, grid) = two_lattices();
        let chips = AtomChips::new(&columns, &grid, &params(9.0));
        let vectors = chips.quantile_vectors();
        assert_eq!(vectors.count(), grid.chip_count());
        // Quantiles increase and the first shell of the 8 px lattice sits below the 10 px one's.
        let (left, right) = (vectors.row(grid.cols() + 1), vectors.row(grid.cols() + 6));
        assert!(left.windows(2).all(|w| w[0] <= w[1]));
        assert!(left[0] < right[0], "{} vs {}", left[0], right[0]);
        assert!((left[0] - 8.0).abs() < 1.0, "first quantile {}", left[0]);
    }

    #[test]
    fn chips_without_atoms_have_no_distance_and_the_mean_vector() {
        let (columns, grid) = two_lattices();
        let few: Vec<AtomColumn> = columns.into_iter().filter(|c| c.x < 128.0).collect();
        let chips = AtomChips::new(&few, &grid, &params(9.0));
        let empty = grid.cols() - 1;
        assert!(!chips.has_atoms(empty) && chips.has_atoms(0));
        let segmentation = chips.distances(&chips.prototypes(&[vec![1], vec![empty]]));
        assert!(segmentation.distances(empty).iter().all(|d| d.is_nan()));
        assert!(segmentation.distances(1)[1].is_infinite());
        let vectors = chips.quantile_vectors();
        let known: Vec<usize> = (0..grid.chip_count())
            .filter(|&i| chips.has_atoms(i))
            .collect();
        let mean0 = known.iter().map(|&i| vectors.row(i)[0]).sum::<f32>() / known.len() as f32;
        assert!((vectors.row(empty)[0] - mean0).abs() < 1e-4);
    }

    #[test]
    fn quantiles_of_a_single_bin_spread_evenly_across_it() {
        let r = RGrid {
            r_max: 4.0,
            bins: 4,
        };
        let q = quantiles(&[0.0, 0.0, 2.0, 0.0], &r).unwrap();
        assert!((q[0] - (2.0 + 0.5 / 32.0)).abs() < 1e-6);
        assert!((q[31] - (2.0 + 31.5 / 32.0)).abs() < 1e-6);
        assert!(quantiles(&[0.0; 4], &r).is_none());
    }
}
