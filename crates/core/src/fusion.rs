//! Fusing the modalities (image, atoms, spectra) into one segmentation, in the two ways of the
//! multimodal pyCHIP report:
//!
//! - **c1, concatenate**: each chip's per-modality vectors are joined into one vector and
//!   classified by one Euclidean distance to the joined prototypes. So that a 2048-d image
//!   embedding does not drown a 32-d atom vector, each block is first divided by its spread
//!   (the root mean square distance of the chips to their mean) and multiplied by √(weight / Σ
//!   weights): a block's share of the squared distance is then its weight.
//! - **c2, average distances**: each modality measures its own distances (Euclidean for the
//!   image, Wasserstein for atoms); each table is divided by its largest finite entry and the
//!   tables are averaged with the weights. A chip a modality cannot measure (NaN) is averaged
//!   over the other modalities.
//!
//! With a single modality both modes give that modality's own distances unchanged, so its
//! distance scale (and a session's "unassigned beyond" limit) stays as it was.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::classify::{PrototypeClassifier, Segmentation, Support};
use crate::embeddings::Embeddings;
use serde::{Deserialize, Serialize};

/// A way of measuring chips; its lower-case name is the key of its weight in a session
/// (`"atoms"`, `"image"`, `"spectra"`), and a session naming another is refused.
///
/// Declared in the order of those keys, so the weights of a session serialize as before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// The atom columns' g(r), compared by the Wasserstein distance.
    Atoms,
    /// The pretrained CNN's embedding of the chip.
    Image,
    /// The EDS spectra of the chip's pixels, raw or through spec2vec.
    Spectra,
}

impl Modality {
    /// Every modality, in the order the page shows them.
    pub const ALL: [Modality; 3] = [Modality::Image, Modality::Atoms, Modality::Spectra];

    /// The name used in sessions and shown to users.
    pub fn key(self) -> &'static str {
        match self {
            Modality::Atoms => "atoms",
            Modality::Image => "image",
            Modality::Spectra => "spectra",
        }
    }
}

/// Concatenated embeddings (c1), or per-modality distances scaled by their maximum and averaged
/// (c2); a session records the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FusionMode {
    /// c1: per-modality vectors, each scaled by its spread and weight, joined into one vector.
    Concatenate,
    /// c2: per-modality distances, each scaled by its largest finite entry, averaged with the
    /// weights.
    Distances,
}

/// How modalities are combined, as a session records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// Whether vectors are joined or distances averaged; only matters with two modalities or
    /// more.
    pub mode: FusionMode,
    /// Weight per modality; a missing modality has weight 0.
    pub weights: BTreeMap<Modality, f32>,
}

impl Fusion {
    /// The weight of `modality` (0 when absent).
    pub fn weight(&self, modality: Modality) -> f32 {
        self.weights.get(&modality).copied().unwrap_or(0.0)
    }

    /// Whether `modality` has a positive weight.
    pub fn weighs(&self, modality: Modality) -> bool {
        self.weight(modality) > 0.0
    }

    /// The modalities that take part in a segmentation — the one rule the page and the CLI
    /// share: those with a positive weight that are `ready` (measured, or configured), or the
    /// image alone when none is.
    pub fn taking_part(&self, ready: impl Fn(Modality) -> bool) -> Vec<Modality> {
        let weighed: Vec<Modality> = Modality::ALL
            .into_iter()
            .filter(|&m| self.weighs(m) && ready(m))
            .collect();
        match weighed.is_empty() {
            true => vec![Modality::Image],
            false => weighed,
        }
    }

    /// The fusion a project of `images` images is classified with: this one for one image, the
    /// image modality alone for several — atom columns and spectrum images are measured on the
    /// image they belong to, and their prototypes are not joined across images.
    pub fn for_images(&self, images: usize) -> Fusion {
        match images {
            0 | 1 => self.clone(),
            _ => Fusion {
                mode: self.mode,
                weights: BTreeMap::from([(Modality::Image, 1.0)]),
            },
        }
    }
}

impl Default for Fusion {
    /// The image alone.
    fn default() -> Self {
        Self {
            mode: FusionMode::Concatenate,
            weights: BTreeMap::from([(Modality::Image, 1.0)]),
        }
    }
}

/// One modality's measurement of the chips being segmented, as fusion takes it.
#[derive(Clone)]
pub struct Measurement<'a> {
    /// Relative weight, ≥ 0; a modality of weight 0 is left out.
    pub weight: f32,
    /// Every chip's vector (for concatenation).
    pub chips: &'a Embeddings,
    /// The supports' vectors, per class, in the same space.
    pub supports: Vec<Vec<Support<'a>>>,
    /// The modality's own distances from every chip to every class prototype.
    pub distances: &'a Segmentation,
}

/// The fused segmentation of the modalities with a positive weight (all of them if none has).
///
/// # Panics
/// If `modalities` is empty, or they differ in chip or class count.
pub fn fuse(mode: FusionMode, modalities: &[Measurement]) -> Segmentation {
    assert!(!modalities.is_empty(), "no modality to fuse");
    let mut used: Vec<&Measurement> = modalities.iter().filter(|m| m.weight > 0.0).collect();
    if used.is_empty() {
        used = modalities.iter().collect();
    }
    if let [only] = used[..] {
        return only.distances.clone();
    }
    match mode {
        FusionMode::Concatenate => concatenated(&used),
        FusionMode::Distances => averaged(&used),
    }
}

/// c1: one Euclidean distance on the scaled, joined vectors.
fn concatenated(modalities: &[&Measurement]) -> Segmentation {
    let weighted: Vec<(f32, &Embeddings)> =
        modalities.iter().map(|m| (m.weight, m.chips)).collect();
    let (scales, chips) = scaled_join(&weighted);
    let support_vectors = join_supports(modalities, &scales);
    let classes: Vec<Vec<Support>> = support_vectors
        .iter()
        .map(|class| {
            class
                .iter()
                .map(|(id, vector)| Support { id: *id, vector })
                .collect()
        })
        .collect();
    PrototypeClassifier::new(&chips).classify(&chips, &classes)
}

/// Every chip's vector as concatenated fusion (c1) sees it: the blocks `(weight, vectors)` of
/// the modalities with a positive weight (all of them, equally, if none has), each scaled by
/// √(weight / Σ weights) / spread and joined; a single block's own vectors unchanged, as fusion
/// leaves a single modality's distances. What chips are compared by when no prototype is
/// involved (clustering, the diversity of suggestions).
///
/// # Panics
/// If `blocks` is empty or they differ in chip count.
pub fn joined_vectors<'a>(blocks: &[(f32, &'a Embeddings)]) -> Cow<'a, Embeddings> {
    assert!(!blocks.is_empty(), "no modality to join");
    let mut used: Vec<(f32, &Embeddings)> =
        blocks.iter().copied().filter(|(w, _)| *w > 0.0).collect();
    if used.is_empty() {
        used = blocks.iter().map(|(_, e)| (1.0, *e)).collect();
    }
    if let [(_, only)] = used[..] {
        return Cow::Borrowed(only);
    }
    Cow::Owned(scaled_join(&used).1)
}

/// The blocks `(weight, vectors)` each scaled by √(weight / Σ weights) / spread and joined:
/// the scales, and the joined vectors.
fn scaled_join(blocks: &[(f32, &Embeddings)]) -> (Vec<f32>, Embeddings) {
    let total: f32 = blocks.iter().map(|(w, _)| w).sum();
    let scaled: Vec<(f32, &Embeddings)> = blocks
        .iter()
        .map(|&(weight, vectors)| ((weight / total).sqrt() / spread(vectors), vectors))
        .collect();
    let scales = scaled.iter().map(|(scale, _)| *scale).collect();
    (scales, join(&scaled))
}

/// The root mean square distance of the rows of `vectors` to their mean (1 when it is 0).
pub(crate) fn spread(vectors: &Embeddings) -> f32 {
    let count = vectors.count().max(1);
    let mut mean = vec![0.0f64; vectors.dim];
    for i in 0..vectors.count() {
        mean.iter_mut()
            .zip(vectors.row(i))
            .for_each(|(m, &v)| *m += f64::from(v));
    }
    mean.iter_mut().for_each(|m| *m /= count as f64);
    let squares: f64 = (0..vectors.count())
        .map(|i| {
            vectors
                .row(i)
                .iter()
                .zip(&mean)
                .map(|(&v, m)| (f64::from(v) - m).powi(2))
                .sum::<f64>()
        })
        .sum();
    let spread = (squares / count as f64).sqrt() as f32;
    if spread > 0.0 && spread.is_finite() {
        spread
    } else {
        1.0
    }
}

/// Row-wise concatenation of the blocks, each multiplied by its scale.
fn join(blocks: &[(f32, &Embeddings)]) -> Embeddings {
    let count = blocks[0].1.count();
    let dim = blocks.iter().map(|(_, b)| b.dim).sum();
    let mut values = Vec::with_capacity(count * dim);
    for i in 0..count {
        for (scale, block) in blocks {
            values.extend(block.row(i).iter().map(|v| v * scale));
        }
    }
    Embeddings { dim, values }
}

/// Each support's joined, scaled vector with its id, per class.
fn join_supports(modalities: &[&Measurement], scales: &[f32]) -> Vec<Vec<(u64, Vec<f32>)>> {
    let first = &modalities[0].supports;
    (0..first.len())
        .map(|class| {
            (0..first[class].len())
                .map(|s| {
                    let vector = modalities
                        .iter()
                        .zip(scales)
                        .flat_map(|(m, scale)| {
                            m.supports[class][s].vector.iter().map(move |v| v * scale)
                        })
                        .collect();
                    (first[class][s].id, vector)
                })
                .collect()
        })
        .collect()
}

/// c2: each table scaled by its largest finite entry, averaged with the weights over the
/// modalities that measured the chip.
fn averaged(modalities: &[&Measurement]) -> Segmentation {
    let classes = modalities[0].distances.class_count();
    let chips = modalities[0].distances.chip_count();
    let maxima: Vec<f32> = modalities.iter().map(|m| largest(m.distances)).collect();
    let mut values = Vec::with_capacity(chips * classes);
    for chip in 0..chips {
        let measured: Vec<(f32, &[f32], f32)> = modalities
            .iter()
            .zip(&maxima)
            .filter(|(m, _)| m.distances.is_measured(chip))
            .map(|(m, &max)| (m.weight, m.distances.distances(chip), max))
            .collect();
        let weight: f32 = measured.iter().map(|(w, _, _)| w).sum();
        for class in 0..classes {
            let sum: f32 = measured
                .iter()
                .map(|(w, row, max)| w * row[class] / max)
                .sum();
            values.push(if weight > 0.0 { sum / weight } else { f32::NAN });
        }
    }
    Segmentation::from_distances(classes, values)
}

/// The largest finite distance of the table (1 when there is none or it is 0).
pub(crate) fn largest(table: &Segmentation) -> f32 {
    let max = (0..table.chip_count())
        .flat_map(|chip| table.distances(chip).iter().copied())
        .filter(|d| d.is_finite())
        .fold(0.0f32, f32::max);
    if max > 0.0 { max } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::supports_of;

    fn embeddings(rows: &[&[f32]]) -> Embeddings {
        Embeddings::from_rows(rows)
    }

    /// Each block scaled to a mean square of weight / Σ weights: the joined vectors' spread is
    /// 1 and the weight-3 block holds three quarters of it; one block is passed through.
    #[test]
    fn joined_vectors_give_each_block_its_weight() {
        let image = embeddings(&[&[0.0, 0.0], &[4.0, 0.0], &[0.0, 4.0], &[4.0, 4.0]]);
        let spectra = embeddings(&[&[1.0], &[3.0], &[1.0], &[3.0]]);
        let joined = joined_vectors(&[(1.0, &image), (3.0, &spectra)]);
        assert_eq!(joined.dim, 3);
        assert!((spread(&joined) - 1.0).abs() < 1e-6);
        let last = Embeddings {
            dim: 1,
            values: (0..4).map(|i| joined.row(i)[2]).collect(),
        };
        assert!((spread(&last).powi(2) - 0.75).abs() < 1e-6);
        assert!(matches!(
            joined_vectors(&[(1.0, &image), (0.0, &spectra)]),
            Cow::Borrowed(_)
        ));
    }

    fn table(rows: &[&[f32]]) -> Segmentation {
        Segmentation::from_distances(
            rows[0].len(),
            rows.iter().flat_map(|r| r.to_vec()).collect(),
        )
    }

    fn supports<'a>(chips: &'a Embeddings, classes: &[&[usize]]) -> Vec<Vec<Support<'a>>> {
        let classes: Vec<Vec<usize>> = classes.iter().map(|c| c.to_vec()).collect();
        supports_of(chips, &classes)
    }

    #[test]
    fn the_weighted_ready_modalities_take_part_else_the_image() {
        let fusion = |weights: &[(Modality, f32)]| Fusion {
            mode: FusionMode::Concatenate,
            weights: weights.iter().copied().collect(),
        };
        let all = |_| true;
        assert_eq!(Fusion::default().taking_part(all), [Modality::Image]);
        let atoms_only = fusion(&[(Modality::Image, 0.0), (Modality::Atoms, 1.0)]);
        assert_eq!(atoms_only.taking_part(all), [Modality::Atoms]);
        assert_eq!(
            atoms_only.taking_part(|m| m != Modality::Atoms),
            [Modality::Image],
            "atoms weighted but not ready"
        );
        let three = fusion(&[
            (Modality::Spectra, 2.0),
            (Modality::Atoms, 1.0),
            (Modality::Image, 0.5),
        ]);
        let order = [Modality::Image, Modality::Atoms, Modality::Spectra];
        assert_eq!(three.taking_part(all), order, "always in this order");
        assert_eq!(fusion(&[]).taking_part(all), [Modality::Image]);
    }

    #[test]
    fn weights_serialize_under_their_lower_case_names() {
        let fusion = Fusion {
            mode: FusionMode::Distances,
            weights: [
                (Modality::Spectra, 2.0),
                (Modality::Image, 1.0),
                (Modality::Atoms, 0.5),
            ]
            .into(),
        };
        let json = serde_json::to_string(&fusion).unwrap();
        assert_eq!(
            json,
            r#"{"mode":"distances","weights":{"atoms":0.5,"image":1.0,"spectra":2.0}}"#
        );
        assert_eq!(serde_json::from_str::<Fusion>(&json).unwrap(), fusion);
        let other = json.replace("spectra", "spectrum");
        assert!(serde_json::from_str::<Fusion>(&other).is_err());
    }

    #[test]
    fn one_modality_keeps_its_own_distances() {
        let chips = embeddings(&[&[0.0], &[3.0]]);
        let own = table(&[&[0.0, 3.0], &[3.0, 0.0]]);
        let other = table(&[&[9.0, 9.0], &[9.0, 9.0]]);
        let image = Measurement {
            weight: 1.0,
            chips: &chips,
            supports: supports(&chips, &[&[0], &[1]]),
            distances: &own,
        };
        let atoms = Measurement {
            weight: 0.0,
            chips: &chips,
            supports: supports(&chips, &[&[0], &[1]]),
            distances: &other,
        };
        for mode in [FusionMode::Concatenate, FusionMode::Distances] {
            assert_eq!(fuse(mode, &[image.clone(), atoms.clone()]), own);
        }
    }

    /// Worked by hand: image maxima 4, atoms maxima 2 (the NaN chip is skipped); weights 3:1.
    #[test]
    fn averaged_distances_scale_by_maximum_and_skip_unmeasured_chips() {
        let chips = embeddings(&[&[0.0], &[1.0], &[2.0]]);
        let image = table(&[&[0.0, 4.0], &[2.0, 2.0], &[4.0, 0.0]]);
        let atoms = table(&[&[2.0, 0.0], &[1.0, 1.0], &[f32::NAN, f32::NAN]]);
        let s = supports(&chips, &[&[0], &[2]]);
        let fused = fuse(
            FusionMode::Distances,
            &[
                Measurement {
                    weight: 3.0,
                    chips: &chips,
                    supports: s.clone(),
                    distances: &image,
                },
                Measurement {
                    weight: 1.0,
                    chips: &chips,
                    supports: s,
                    distances: &atoms,
                },
            ],
        );
        // chip 0: (3·0/4 + 1·2/2)/4 = 0.25 and (3·4/4 + 0)/4 = 0.75
        assert_eq!(fused.distances(0), &[0.25, 0.75]);
        assert_eq!(fused.distances(1), &[0.5, 0.5]);
        // chip 2: the image alone, scaled: 1 and 0.
        assert_eq!(fused.distances(2), &[1.0, 0.0]);
    }

    /// Two blocks of very different scale: after scaling, each contributes its weight's share
    /// of the squared distance.
    #[test]
    fn concatenation_balances_blocks_by_spread_and_weight() {
        let image = embeddings(&[&[0.0, 0.0], &[200.0, 0.0], &[0.0, 0.0], &[200.0, 0.0]]);
        let atoms = embeddings(&[&[0.0], &[0.0], &[2.0], &[2.0]]);
        let zeros: [&[f32]; 4] = [&[0.0, 0.0]; 4];
        let (di, da) = (table(&zeros), table(&zeros));
        let fused = |wi: f32, wa: f32| {
            fuse(
                FusionMode::Concatenate,
                &[
                    Measurement {
                        weight: wi,
                        chips: &image,
                        supports: supports(&image, &[&[0], &[3]]),
                        distances: &di,
                    },
                    Measurement {
                        weight: wa,
                        chips: &atoms,
                        supports: supports(&atoms, &[&[0], &[3]]),
                        distances: &da,
                    },
                ],
            )
        };
        // Spreads: image 100, atoms 1. Chip 1 differs from class 0 by the image block only,
        // chip 2 by the atom block only: each squared distance is 4 × the block's weight share.
        let even = fused(1.0, 1.0);
        assert!((even.distances(1)[0] - 2.0f32.sqrt()).abs() < 1e-5);
        assert!((even.distances(2)[0] - 2.0f32.sqrt()).abs() < 1e-5);
        let atoms_heavy = fused(1.0, 3.0);
        assert!((atoms_heavy.distances(1)[0] - 1.0).abs() < 1e-5);
        assert!((atoms_heavy.distances(2)[0] - 3.0f32.sqrt()).abs() < 1e-5);
    }
}
