//! Nearest-prototype classification (prototypical networks, as in pyCHIP): a class's prototype
//! is the mean embedding of its support chips, and every chip goes to the class whose prototype
//! is nearest in Euclidean distance.
//!
//! Built for live updates: with ‖x − p‖² = ‖x‖² − 2 x·p + ‖p‖² and x·p the mean of x·s over
//! the supports s, the classifier keeps each chip's ‖x‖² and, per support, the column of dot
//! products x·s over all chips. A click adds one support, so it costs one column (chips × dim
//! multiply-adds) and a pass over the cached columns; removing a support costs no dot product.

use crate::embeddings::Embeddings;
use std::collections::HashMap;

/// A support chip's embedding; `id` names it for the column cache, so one id must always come
/// with the same vector.
#[derive(Clone, Copy, Debug)]
pub struct Support<'a> {
    /// Names the support in the column cache: the chip's index in grid order for
    /// [`Support::chip`] (with its image's place in a project above bit 32, see
    /// [`crate::pipeline::Learned::on_image`]).
    pub id: u64,
    /// The support's embedding, as long as the chips' embeddings.
    pub vector: &'a [f32],
}

impl<'a> Support<'a> {
    /// Chip `index` of `embeddings` as a support.
    pub fn chip(embeddings: &'a Embeddings, index: usize) -> Self {
        Self {
            id: index as u64,
            vector: embeddings.row(index),
        }
    }
}

/// Classifies the chips of one embedding set against prototypes, keeping what it computed for
/// the next call.
#[derive(Debug, Default)]
pub struct PrototypeClassifier {
    norms: Vec<f32>,
    columns: HashMap<u64, Vec<f32>>,
}

impl PrototypeClassifier {
    /// Prepares to classify `chips` (their squared norms).
    pub fn new(chips: &Embeddings) -> Self {
        let norms = (0..chips.count())
            .map(|i| dot(chips.row(i), chips.row(i)))
            .collect();
        Self {
            norms,
            columns: HashMap::new(),
        }
    }

    /// Distances from every chip of `chips` (the set given to [`Self::new`]) to each class's
    /// prototype; `classes[k]` are the supports of class k, none of them empty.
    ///
    /// # Panics
    /// If a class has no support or a support's length differs from the embedding dimension.
    pub fn classify(&mut self, chips: &Embeddings, classes: &[Vec<Support>]) -> Segmentation {
        assert_eq!(
            self.norms.len(),
            chips.count(),
            "classifier made for another set"
        );
        self.columns
            .retain(|id, _| classes.iter().flatten().any(|s| s.id == *id));
        let mut missing: Vec<Support> = Vec::new();
        for support in classes.iter().flatten() {
            assert_eq!(
                support.vector.len(),
                chips.dim,
                "support of another dimension"
            );
            if !self.columns.contains_key(&support.id) && missing.iter().all(|m| m.id != support.id)
            {
                missing.push(*support);
            }
        }
        let new_columns = dot_columns(chips, &missing);
        self.columns
            .extend(missing.iter().map(|s| s.id).zip(new_columns));
        let mut distances = vec![0.0; chips.count() * classes.len()];
        for (k, supports) in classes.iter().enumerate() {
            assert!(!supports.is_empty(), "class {k} has no support");
            let prototype_norm = squared_norm_of_mean(supports);
            let columns: Vec<&[f32]> = supports.iter().map(|s| &self.columns[&s.id][..]).collect();
            let scale = 1.0 / supports.len() as f32;
            for (chip, norm) in self.norms.iter().enumerate() {
                let projection = columns.iter().map(|column| column[chip]).sum::<f32>() * scale;
                let squared = norm - 2.0 * projection + prototype_norm;
                distances[chip * classes.len() + k] = squared.max(0.0).sqrt();
            }
        }
        Segmentation::from_distances(classes.len(), distances)
    }
}

/// The chips `classes[k]` (indices into `embeddings`) as the supports of class k.
pub fn supports_of<'a>(
    embeddings: &'a Embeddings,
    classes: &[Vec<usize>],
) -> Vec<Vec<Support<'a>>> {
    classes
        .iter()
        .map(|class| {
            class
                .iter()
                .map(|&index| Support::chip(embeddings, index))
                .collect()
        })
        .collect()
}

/// Mean of the supports' vectors.
pub fn prototype(supports: &[Support]) -> Vec<f32> {
    let mut mean = vec![0.0f32; supports[0].vector.len()];
    for support in supports {
        for (m, v) in mean.iter_mut().zip(support.vector) {
            *m += v;
        }
    }
    let scale = 1.0 / supports.len() as f32;
    mean.iter_mut().for_each(|m| *m *= scale);
    mean
}

fn squared_norm_of_mean(supports: &[Support]) -> f32 {
    let mean = prototype(supports);
    dot(&mean, &mean)
}

/// x·s for every chip x and support s, one column per support, in a single pass over the
/// chips (the embeddings are far larger than the cache; each row is read once).
fn dot_columns(chips: &Embeddings, supports: &[Support]) -> Vec<Vec<f32>> {
    let mut columns: Vec<Vec<f32>> = supports
        .iter()
        .map(|_| Vec::with_capacity(chips.count()))
        .collect();
    for i in 0..chips.count() {
        let row = chips.row(i);
        for (column, support) in columns.iter_mut().zip(supports) {
            column.push(dot(row, support.vector));
        }
    }
    columns
}

/// Lanes of the dot product: eight independent partial sums, one SIMD register pair.
const LANES: usize = 8;

/// Dot product in [`LANES`] independent partial sums (SIMD natively and in WebAssembly), added
/// in a fixed order, so every platform gets the same bits.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let body = a.len() / LANES * LANES;
    let lanes = lane_sums(&a[..body], &b[..body]);
    let tail: f32 = a[body..].iter().zip(&b[body..]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// Per-lane sums of x·y over chunks of [`LANES`]; the compiler vectorises this loop natively.
#[cfg(not(target_arch = "wasm32"))]
fn lane_sums(a: &[f32], b: &[f32]) -> [f32; LANES] {
    let mut lanes = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes
}

/// Per-lane sums of x·y over chunks of [`LANES`] with SIMD128 (the app is not compiled with
/// SIMD128 everywhere, so the loop above would stay scalar in the browser).
#[cfg(target_arch = "wasm32")]
fn lane_sums(a: &[f32], b: &[f32]) -> [f32; LANES] {
    // The page's module already holds SIMD128 code (burn's kernels, `--enable-simd`): an engine
    // without SIMD128 rejects the whole module before anything runs.
    lane_sums_simd128(a, b)
}

#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn lane_sums_simd128(a: &[f32], b: &[f32]) -> [f32; LANES] {
    use core::arch::wasm32::{f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, v128_load};
    let (mut low, mut high) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        // SAFETY: each chunk holds eight floats; v128.load accepts unaligned addresses.
        let (x_low, x_high, y_low, y_high) = unsafe {
            (
                v128_load(x.as_ptr().cast()),
                v128_load(x.as_ptr().add(4).cast()),
                v128_load(y.as_ptr().cast()),
                v128_load(y.as_ptr().add(4).cast()),
            )
        };
        low = f32x4_add(low, f32x4_mul(x_low, y_low));
        high = f32x4_add(high, f32x4_mul(x_high, y_high));
    }
    [
        f32x4_extract_lane::<0>(low),
        f32x4_extract_lane::<1>(low),
        f32x4_extract_lane::<2>(low),
        f32x4_extract_lane::<3>(low),
        f32x4_extract_lane::<0>(high),
        f32x4_extract_lane::<1>(high),
        f32x4_extract_lane::<2>(high),
        f32x4_extract_lane::<3>(high),
    ]
}

/// Every chip's distance to every class prototype, with the nearest class and a confidence.
/// A chip that a modality cannot measure (an atom modality chip without columns) has NaN
/// distances: it is left unassigned.
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    classes: usize,
    distances: Vec<f32>,
}

impl Segmentation {
    /// From a chips × classes matrix of distances (row-major).
    pub fn from_distances(classes: usize, distances: Vec<f32>) -> Self {
        assert!(classes > 0 && distances.len().is_multiple_of(classes));
        Self { classes, distances }
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.classes
    }

    /// Number of chips.
    pub fn chip_count(&self) -> usize {
        self.distances.len() / self.classes
    }

    /// Distances of chip `chip` to each prototype.
    pub fn distances(&self, chip: usize) -> &[f32] {
        &self.distances[chip * self.classes..(chip + 1) * self.classes]
    }

    /// The class with the nearest prototype (the first on a tie).
    pub fn nearest(&self, chip: usize) -> usize {
        let distances = self.distances(chip);
        (0..self.classes)
            .min_by(|&a, &b| distances[a].total_cmp(&distances[b]))
            .expect("at least one class")
    }

    /// Distance to the nearest prototype.
    pub fn nearest_distance(&self, chip: usize) -> f32 {
        self.distances(chip)[self.nearest(chip)]
    }

    /// Whether chip `chip` has a finite distance to some prototype.
    pub fn is_measured(&self, chip: usize) -> bool {
        self.nearest_distance(chip).is_finite()
    }

    /// Relative margin between the nearest (d₁) and second-nearest (d₂) prototype,
    /// (d₂ − d₁) / d₂: 0 on a tie, 1 on the prototype itself; 1 when there is one class; 0 for
    /// an unmeasured chip.
    pub fn confidence(&self, chip: usize) -> f32 {
        if !self.is_measured(chip) {
            return 0.0;
        }
        let nearest = self.nearest(chip);
        let distances = self.distances(chip);
        let second = (0..self.classes)
            .filter(|&k| k != nearest)
            .map(|k| distances[k])
            .min_by(f32::total_cmp);
        match second {
            None => 1.0,
            Some(second) if second.is_infinite() => 1.0,
            Some(second) if second > 0.0 => (second - distances[nearest]) / second,
            Some(_) => 0.0,
        }
    }

    /// The class of every chip; with `unassigned_beyond`, chips farther than that from every
    /// prototype get none, and so do unmeasured chips.
    pub fn assignments(&self, unassigned_beyond: Option<f32>) -> Vec<Option<usize>> {
        (0..self.chip_count())
            .map(|chip| {
                let nearest = self.nearest(chip);
                match unassigned_beyond {
                    _ if !self.is_measured(chip) => None,
                    Some(limit) if self.distances(chip)[nearest] > limit => None,
                    _ => Some(nearest),
                }
            })
            .collect()
    }

    /// The largest nearest-prototype distance (the top of the "unassigned" slider).
    pub fn max_nearest_distance(&self) -> f32 {
        (0..self.chip_count())
            .map(|chip| self.nearest_distance(chip))
            .filter(|d| d.is_finite())
            .fold(0.0, f32::max)
    }
}

/// What [`time_live_update`] measured, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveTiming {
    /// Classifying every chip from scratch (all support columns computed).
    pub first_ms: f64,
    /// Median over clicks of one added support and the reclassification of every chip.
    pub click_ms: f64,
}

/// Times live classification on `chips × dim` pseudo-random embeddings (uniform 0–1, like
/// pooled ReLU features) with `classes` classes of `supports` supports each; `now` is a
/// millisecond clock (the page and the CLI pass their own, as WebAssembly has no
/// `std::time::Instant`).
pub fn time_live_update(
    chips: usize,
    dim: usize,
    classes: usize,
    supports: usize,
    clicks: usize,
    now: &dyn Fn() -> f64,
) -> LiveTiming {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let embeddings = Embeddings {
        dim,
        values: (0..chips * dim).map(|_| rng.random::<f32>()).collect(),
    };
    let stride = (chips / (classes * supports + clicks + 1)).max(1);
    let mut next_chip = (0..).map(|i| (i * stride) % chips);
    let mut indices: Vec<Vec<usize>> = (0..classes)
        .map(|_| next_chip.by_ref().take(supports).collect())
        .collect();
    let as_supports = |indices: &[Vec<usize>]| -> Vec<Vec<Support>> {
        let pick = |i: &usize| Support::chip(&embeddings, *i);
        indices
            .iter()
            .map(|c| c.iter().map(pick).collect())
            .collect()
    };
    let started = now();
    let mut classifier = PrototypeClassifier::new(&embeddings);
    classifier.classify(&embeddings, &as_supports(&indices));
    let first_ms = now() - started;
    let mut clicks_ms: Vec<f64> = (0..clicks)
        .map(|click| {
            indices[click % classes].push(next_chip.next().expect("endless"));
            let started = now();
            classifier.classify(&embeddings, &as_supports(&indices));
            now() - started
        })
        .collect();
    clicks_ms.sort_by(f64::total_cmp);
    LiveTiming {
        first_ms,
        click_ms: clicks_ms
            .get(clicks_ms.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embeddings(rows: &[&[f32]]) -> Embeddings {
        Embeddings::from_rows(rows)
    }

    /// Reference values from NumPy 2.4 (float64):
    /// x = [[0,0,0],[1,0,0],[0,2,0],[1,1,1],[3,0,4]]; p0 = x[[0,1]].mean(0); p1 = x[[2,3]].mean(0)
    /// numpy.linalg.norm(x[:, None] - [p0, p1], axis=2)
    #[test]
    fn distances_match_numpy() {
        let chips = embeddings(&[
            &[0., 0., 0.],
            &[1., 0., 0.],
            &[0., 2., 0.],
            &[1., 1., 1.],
            &[3., 0., 4.],
        ]);
        let classes = vec![
            vec![Support::chip(&chips, 0), Support::chip(&chips, 1)],
            vec![Support::chip(&chips, 2), Support::chip(&chips, 3)],
        ];
        let segmentation = PrototypeClassifier::new(&chips).classify(&chips, &classes);
        let expected = [
            [0.5, 1.6583124],
            [0.5, 1.6583124],
            [2.0615528, 0.8660254],
            [1.5, 0.8660254],
            [4.716_991, 4.555_217],
        ];
        for (chip, row) in expected.iter().enumerate() {
            for (got, want) in segmentation.distances(chip).iter().zip(row) {
                assert!((got - want).abs() < 1e-5, "chip {chip}: {got} vs {want}");
            }
        }
        let nearest: Vec<_> = (0..5).map(|c| segmentation.nearest(c)).collect();
        assert_eq!(nearest, [0, 0, 1, 1, 1]);
    }

    #[test]
    fn prototype_is_the_mean_of_the_supports() {
        let chips = embeddings(&[&[1., 2.], &[3., 6.]]);
        let supports = [Support::chip(&chips, 0), Support::chip(&chips, 1)];
        assert_eq!(prototype(&supports), vec![2.0, 4.0]);
    }

    #[test]
    fn cached_columns_give_the_same_answer_as_a_fresh_classifier() {
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                (0..37)
                    .map(|j| ((i * 7 + j * 3) % 11) as f32 * 0.1)
                    .collect()
            })
            .collect();
        let chips = Embeddings {
            dim: 37,
            values: rows.concat(),
        };
        let mut live = PrototypeClassifier::new(&chips);
        let first = vec![
            vec![Support::chip(&chips, 1)],
            vec![Support::chip(&chips, 2)],
        ];
        live.classify(&chips, &first);
        let second = vec![
            vec![Support::chip(&chips, 1), Support::chip(&chips, 9)],
            vec![Support::chip(&chips, 20)],
        ];
        let fresh = PrototypeClassifier::new(&chips).classify(&chips, &second);
        assert_eq!(live.classify(&chips, &second), fresh);
        assert_eq!(live.columns.len(), 3);
    }

    #[test]
    fn a_support_sits_on_its_single_support_prototype() {
        let chips = embeddings(&[&[0.3, -1.2, 2.5, 0.7], &[1.0, 1.0, 1.0, 1.0]]);
        let classes = vec![
            vec![Support::chip(&chips, 0)],
            vec![Support::chip(&chips, 1)],
        ];
        let segmentation = PrototypeClassifier::new(&chips).classify(&chips, &classes);
        assert!(segmentation.distances(0)[0] < 1e-3);
        assert!(segmentation.confidence(0) > 0.999);
    }

    #[test]
    fn confidence_is_the_relative_margin() {
        let segmentation =
            Segmentation::from_distances(3, vec![1.0, 4.0, 2.0, 3.0, 3.0, 5.0, 0.0, 0.0, 1.0]);
        assert_eq!(segmentation.confidence(0), 0.5);
        assert_eq!(segmentation.confidence(1), 0.0);
        assert_eq!(segmentation.confidence(2), 0.0);
        let single = Segmentation::from_distances(1, vec![2.0, 7.0]);
        assert_eq!(single.confidence(1), 1.0);
    }

    #[test]
    fn far_chips_can_stay_unassigned() {
        let segmentation = Segmentation::from_distances(2, vec![1.0, 4.0, 6.0, 5.0]);
        assert_eq!(segmentation.assignments(None), [Some(0), Some(1)]);
        assert_eq!(segmentation.assignments(Some(4.5)), [Some(0), None]);
        assert_eq!(segmentation.max_nearest_distance(), 5.0);
    }

    #[test]
    fn live_timing_measures_clicks() {
        let clock = std::time::Instant::now();
        let now = || clock.elapsed().as_secs_f64() * 1e3;
        let timing = time_live_update(500, 64, 3, 2, 5, &now);
        assert!(timing.first_ms >= 0.0 && timing.click_ms >= 0.0);
    }

    #[test]
    fn dot_product_handles_tails() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let expected: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), expected);
    }
}
