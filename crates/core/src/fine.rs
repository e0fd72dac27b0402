//! Boundaries finer than a chip: every cell of a dense feature map
//! ([`crate::encoders::dense::FeatureMap`], one cell every `stride / scale` pixels) classified
//! against the prototypes the chips are classified against ([`crate::pipeline::segment_cells`]).
//!
//! The rules:
//!
//! - **Image**: a cell's distance to a class is the Euclidean distance from its vector,
//!   averaged over a neighbourhood a quarter of a chip wide ([`CellContext`]), to the class
//!   prototype, the mean of the support chips' pooled vectors — the same prototypes, and the
//!   same distance scale, as the chips'.
//! - **Atoms and spectra** are measured per chip: a cell takes the distances (and vectors) of
//!   the chip that holds its centre.
//! - **Fusion** follows the chips' rule with the chips' constants: averaged distances divide
//!   each modality's table by the largest entry of its chip table; concatenation weighs each
//!   modality's squared Euclidean distance by `weight / Σ weights / spread²`, spread measured
//!   over the chips — so a cell whose vector equals its chip's gets the chip's fused distances.
//!   A session's "unassigned beyond" limit applies unchanged.
//! - Cells whose centre lies outside the chip grid (the cropped margins) are unassigned; when
//!   the image modality does not take part, every cell takes its chip's distances.

use crate::classify::Segmentation;
use crate::dataset::Calibration;
use crate::encoders::dense::FeatureMap;
use crate::exports::encode_label_png;
use crate::grid::ChipGrid;
use crate::labels::ClassLabel;
use crate::smoothing::gaussian_smooth;
use serde::Serialize;

/// The cells of a dense map, each classified.
#[derive(Clone, Debug, PartialEq)]
pub struct FineLabels {
    /// Cells across.
    pub cols: usize,
    /// Cells down.
    pub rows: usize,
    /// Image pixels per cell side.
    pub cell_px: f64,
    /// Every cell's distance to each class, cells row-major; unmeasured cells (outside the
    /// chip grid) have none.
    pub segmentation: Segmentation,
}

/// Which chip of `grid` holds the centre of each of `cols × rows` cells of `cell_px` pixels,
/// cells row-major; `None` outside the grid.
pub fn chip_of_cells(
    grid: &ChipGrid,
    cols: usize,
    rows: usize,
    cell_px: f64,
) -> Vec<Option<usize>> {
    let size = grid.chip_size() as f64;
    let chip = |cell: usize, count: usize| {
        let index = ((cell as f64 + 0.5) * cell_px / size).floor() as usize;
        (index < count).then_some(index)
    };
    (0..rows)
        .flat_map(|row| (0..cols).map(move |col| (row, col)))
        .map(|(row, col)| Some(chip(row, grid.rows())? * grid.cols() + chip(col, grid.cols())?))
        .collect()
}

/// What classifying the cells of a map for chips of one size needs besides the map: each
/// cell's vector is averaged over a Gaussian neighbourhood of σ = a quarter of a chip (SciPy's
/// `gaussian_filter` per channel, reflect borders) before its distances are measured.
///
/// Why the neighbourhood: one cell sees a few lattice periods, and its vector swings with the
/// lattice's phase under it, so cells alone are noisy; a neighbourhood a chip wide would blur
/// boundaries back to the chips'. Measured on the simulated example (MobileNetV2 `features.6`
/// ×2, 4-px cells; pixel accuracy against the true regions, the three classes of the CLI's
/// tests): 256² at 64-px chips, cells alone 0.789, σ = 8 px 0.954, 16 px (a quarter) 0.928,
/// 32 px 0.850, chips 0.735; 512² with 3 supports a class at 32-px chips, σ = 8 px (a quarter)
/// 0.974, cells alone 0.853, chips 0.957; at 64-px chips, σ = 16 px 0.989, cells alone 0.861,
/// chips 0.939.
///
/// Why not a blurred copy of the map: the map can be hundreds of megabytes (ResNet `layer3`,
/// 1024 channels). The squared distance from a cell's averaged vector x̄ to a prototype p is
/// ‖x̄‖² − 2 x̄·p + ‖p‖², and x̄·p is the average of x·p, so only ‖x̄‖² per cell is kept (one
/// channel blurred at a time) and x·p is blurred per class when the cells are classified.
#[derive(Clone, Debug, PartialEq)]
pub struct CellContext {
    /// The neighbourhood's σ, in cells (0: none).
    pub sigma: f32,
    /// ‖x̄‖² of every cell, row-major.
    norms: Vec<f32>,
}

impl CellContext {
    /// The context of `map`'s cells for chips of `chip_size` pixels.
    pub fn new(map: &FeatureMap, chip_size: usize) -> Self {
        Self::with_sigma(map, (chip_size as f64 / 4.0 / map.cell_px) as f32)
    }

    /// The context for a neighbourhood of `sigma` cells.
    pub fn with_sigma(map: &FeatureMap, sigma: f32) -> Self {
        let mut context = Self {
            sigma,
            norms: vec![0.0; map.cols * map.rows],
        };
        let mut plane = vec![0.0; map.cols * map.rows];
        for channel in 0..map.channels {
            plane
                .iter_mut()
                .zip(map.values.iter().skip(channel).step_by(map.channels))
                .for_each(|(p, &v)| *p = v);
            let mean = context.average(&plane, map.cols);
            context
                .norms
                .iter_mut()
                .zip(mean)
                .for_each(|(n, m)| *n += m * m);
        }
        context
    }

    /// `plane` (one value per cell, `cols` wide) averaged over each cell's neighbourhood.
    pub fn average(&self, plane: &[f32], cols: usize) -> Vec<f32> {
        match self.sigma > 0.0 {
            true => gaussian_smooth(plane, cols, self.sigma),
            false => plane.to_vec(),
        }
    }

    /// Every cell's Euclidean distance from its averaged vector to `prototype` (of
    /// `map.channels` values).
    pub fn distances(&self, map: &FeatureMap, prototype: &[f32]) -> Vec<f32> {
        let dots: Vec<f32> = map
            .values
            .chunks_exact(map.channels)
            .map(|cell| cell.iter().zip(prototype).map(|(v, p)| v * p).sum())
            .collect();
        let square: f32 = prototype.iter().map(|p| p * p).sum();
        self.average(&dots, map.cols)
            .iter()
            .zip(&self.norms)
            .map(|(dot, norm)| (norm - 2.0 * dot + square).max(0.0).sqrt())
            .collect()
    }
}

impl FineLabels {
    /// The class of every cell; with `unassigned_beyond`, cells farther than that from every
    /// prototype get none, as chips do.
    pub fn assignments(&self, unassigned_beyond: Option<f32>) -> Vec<Option<usize>> {
        self.segmentation.assignments(unassigned_beyond)
    }

    /// The cell holding image pixel (`x`, `y`).
    fn cell_at(&self, x: usize, y: usize) -> Option<usize> {
        let col = (x as f64 / self.cell_px) as usize;
        let row = (y as f64 / self.cell_px) as usize;
        (col < self.cols && row < self.rows).then(|| row * self.cols + col)
    }

    /// The class of every pixel of the `width × height` image (row-major) from the cells'
    /// `assignments`.
    pub fn pixel_classes(
        &self,
        assignments: &[Option<usize>],
        width: usize,
        height: usize,
    ) -> Vec<Option<usize>> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| self.cell_at(x, y).and_then(|cell| assignments[cell]))
            .collect()
    }

    /// A PNG of the `width × height` image with each pixel's class number (1, 2, …; 0:
    /// unassigned or outside the grid), as [`crate::exports::Results::label_png`] at cell
    /// resolution.
    pub fn label_png(
        &self,
        classes: usize,
        assignments: &[Option<usize>],
        width: usize,
        height: usize,
    ) -> Vec<u8> {
        encode_label_png(
            &self.pixel_classes(assignments, width, height),
            width,
            height,
            classes,
        )
    }

    /// Each class's share of the chip grid's pixels at cell resolution, with areas from
    /// `calibration`: the pixels [`Self::pixel_classes`] gives each class, counted per cell
    /// (pixels per column of cells × per row) rather than pixel by pixel.
    pub fn summary(
        &self,
        classes: &[ClassLabel],
        assignments: &[Option<usize>],
        grid: &ChipGrid,
        calibration: Option<&Calibration>,
    ) -> FineSummary {
        let (width, height) = grid.covered_size();
        let across = self.pixels_per_cell(width, self.cols);
        let down = self.pixels_per_cell(height, self.rows);
        // Class k's pixels at k, unassigned ones (and those beyond the cells) last.
        let mut counts = vec![0usize; classes.len() + 1];
        for (row, &rows) in down.iter().enumerate() {
            for (col, &cols) in across.iter().enumerate() {
                let cell = (row < self.rows && col < self.cols).then(|| row * self.cols + col);
                let class = cell.and_then(|cell| assignments[cell]);
                counts[class.unwrap_or(classes.len())] += rows * cols;
            }
        }
        let total = (width * height).max(1);
        let names = classes.iter().map(|class| class.name.as_str());
        FineSummary {
            cell_px: self.cell_px,
            shares: names
                .chain(["unassigned"])
                .zip(counts)
                .map(|(name, pixels)| FineShare {
                    name: name.to_string(),
                    fraction: pixels as f64 / total as f64,
                    area: calibration.map(|c| c.pixel_size.powi(2) * pixels as f64),
                })
                .collect(),
        }
    }

    /// How many of `length` pixels along an axis fall in each of its `cells` cells, and last
    /// how many fall beyond them.
    fn pixels_per_cell(&self, length: usize, cells: usize) -> Vec<usize> {
        let mut counts = vec![0; cells + 1];
        for pixel in 0..length {
            let cell = (pixel as f64 / self.cell_px) as usize;
            counts[cell.min(cells)] += 1;
        }
        counts
    }
}

/// The classes' shares at cell resolution: the fine view's figures and the summary JSON's
/// `fine` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FineSummary {
    /// Image pixels per cell side.
    pub cell_px: f64,
    /// One share per class in class order, then `unassigned`.
    pub shares: Vec<FineShare>,
}

/// One class's share of the grid's pixels at cell resolution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FineShare {
    /// The class's name, or `unassigned`.
    pub name: String,
    /// Fraction of the chip grid's pixels, 0–1.
    pub fraction: f64,
    /// Area in the summary's area unit, when the image is calibrated.
    pub area: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::named_classes;

    /// 40 × 24 px, 16-px chips: a 2 × 1 grid covering 32 × 16 px. Cells of 8 px: 5 × 3, and
    /// the centres of the last column (x = 36) and last two rows (y = 20) lie outside it.
    #[test]
    fn cells_take_the_chip_under_their_centre() {
        let grid = ChipGrid::new(40, 24, 16).unwrap();
        let chips = chip_of_cells(&grid, 5, 3, 8.0);
        let first_row: Vec<Option<usize>> = chips[..5].to_vec();
        assert_eq!(first_row, [Some(0), Some(0), Some(1), Some(1), None]);
        assert_eq!(chips[5..10], first_row[..]);
        assert!(chips[10..].iter().all(Option::is_none));
    }

    /// Two cells of 8 px on a 16-px image: the left half class 0, the right half class 1; a
    /// quarter of the pixels in each of two 8-px columns.
    #[test]
    fn fine_labels_cover_the_pixels_of_their_cells() {
        let fine = FineLabels {
            cols: 2,
            rows: 2,
            cell_px: 8.0,
            segmentation: Segmentation::from_distances(
                2,
                vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
            ),
        };
        let assignments = fine.assignments(None);
        let pixels = fine.pixel_classes(&assignments, 16, 16);
        assert_eq!(pixels[7], Some(0));
        assert_eq!(pixels[8], Some(1));
        assert_eq!(pixels[16 * 15 + 15], Some(1));
        let grid = ChipGrid::new(16, 16, 16).unwrap();
        let classes = named_classes(&["a", "b"]);
        let summary = fine.summary(&classes, &assignments, &grid, None);
        let fractions: Vec<f64> = summary.shares.iter().map(|s| s.fraction).collect();
        assert_eq!(fractions, [0.5, 0.5, 0.0]);
    }

    /// The distances from averaged vectors, computed from x·p and ‖x̄‖², equal those of a map
    /// whose every channel was blurred first.
    #[test]
    fn neighbourhood_distances_equal_those_of_a_blurred_map() {
        let (cols, rows, channels) = (7, 5, 3);
        let values: Vec<f32> = (0..cols * rows * channels)
            .map(|i| ((i * 37) % 11) as f32 * 0.3 - 1.0)
            .collect();
        let map = FeatureMap {
            channels,
            cols,
            rows,
            cell_px: 4.0,
            values,
        };
        let context = CellContext::new(&map, 24); // σ = 1.5 cells
        let planes: Vec<Vec<f32>> = (0..channels)
            .map(|c| {
                let plane: Vec<f32> = map
                    .values
                    .iter()
                    .skip(c)
                    .step_by(channels)
                    .copied()
                    .collect();
                gaussian_smooth(&plane, cols, 1.5)
            })
            .collect();
        let prototype = [0.5, -0.25, 1.0];
        for (cell, ours) in context.distances(&map, &prototype).iter().enumerate() {
            let theirs: f32 = (0..channels)
                .map(|c| (planes[c][cell] - prototype[c]).powi(2))
                .sum::<f32>()
                .sqrt();
            assert!(
                (ours - theirs).abs() < 1e-5,
                "cell {cell}: {ours} against {theirs}"
            );
        }
    }
}
