//! The one place where a session's labelled chips and an image's measured chips become a
//! segmentation; the page, the CLI and the experiments all go through [`segment`].
//!
//! The steps, for one image:
//!
//! 1. The session's [`Fusion`] says which modalities take part ([`Fusion::taking_part`]).
//! 2. Each of them measures every chip of the image into a [`ChipMeasure`]: the image by a CNN
//!    embedding ([`crate::encoders`]), the atoms by their g(r) and its quantile vector
//!    ([`crate::atoms::modality`]), the spectra by their raw or spec2vec vectors
//!    ([`crate::spectra::modality`]). This is the slow part: the page does it asynchronously
//!    (embedding in batches, spec2vec training in slices, the atom search off the main loop)
//!    and the CLI with progress on the terminal; neither decides anything else.
//! 3. Each modality learns its prototypes from the support chips of the labelled image
//!    ([`Learned`]): the supports' vectors, and for the atoms the barycenters of their g(r).
//!    The page learns on the image it shows; the CLI once on the labelled image, then applies
//!    them to every image.
//! 4. [`segment`] measures every chip's distance to every class in each modality (Euclidean to
//!    the supports' mean, Wasserstein to the g(r) barycenter) and fuses them
//!    ([`crate::fusion`]).
//! 5. The segmentation is summarised ([`crate::results`]) and written as the
//!    [`crate::exports::ExportFile`]s.

use crate::atoms::modality::AtomChips;
use crate::classify::{PrototypeClassifier, Segmentation, Support};
use crate::embeddings::Embeddings;
use crate::fusion::{Fusion, Measurement, Modality, fuse};

/// One modality's measurement of every chip of one image, in grid order.
#[derive(Clone, Copy)]
pub struct ChipMeasure<'a> {
    /// The modality that measured the chips.
    pub modality: Modality,
    /// Every chip's vector: what concatenated fusion joins, and what the image and spectral
    /// modalities compare by Euclidean distance.
    pub vectors: &'a Embeddings,
    /// The atom modality's g(r) per chip, compared by the Wasserstein distance instead.
    pub atoms: Option<&'a AtomChips>,
}

impl<'a> ChipMeasure<'a> {
    /// Vectors compared by Euclidean distance to the mean of the supports' (image, spectra).
    pub fn euclidean(modality: Modality, vectors: &'a Embeddings) -> Self {
        Self {
            modality,
            vectors,
            atoms: None,
        }
    }

    /// The atom columns' g(r), with their quantile vectors for concatenated fusion.
    pub fn atoms(chips: &'a AtomChips, quantiles: &'a Embeddings) -> Self {
        Self {
            modality: Modality::Atoms,
            vectors: quantiles,
            atoms: Some(chips),
        }
    }
}

/// What one modality learned from the labelled image's support chips.
#[derive(Clone, Debug, PartialEq)]
pub struct Learned {
    /// The modality whose measurement it learned from.
    pub modality: Modality,
    /// The support chips of each class, as indices into the labelled image's grid.
    pub classes: Vec<Vec<usize>>,
    /// One row per support, classes in order.
    pub vectors: Embeddings,
    /// The atom modality's prototypes: each class's g(r) barycenter (`None` when none of its
    /// supports has atoms).
    barycenters: Option<Vec<Option<Vec<f32>>>>,
}

impl Learned {
    /// Learns from every chip of the labelled image; `classes[k]` are the support chips of
    /// class k.
    pub fn from_chips(measure: &ChipMeasure, classes: &[Vec<usize>]) -> Self {
        Self {
            modality: measure.modality,
            classes: classes.to_vec(),
            vectors: measure.vectors.gather(classes.iter().flatten().copied()),
            barycenters: measure.atoms.map(|atoms| atoms.prototypes(classes)),
        }
    }

    /// A Euclidean modality learned from the supports' vectors alone (one row per support,
    /// classes in order), when only the support chips were measured.
    ///
    /// # Panics
    /// If the rows do not match the supports.
    pub fn from_supports(
        modality: Modality,
        classes: Vec<Vec<usize>>,
        vectors: Embeddings,
    ) -> Self {
        let supports: usize = classes.iter().map(Vec::len).sum();
        assert_eq!(vectors.count(), supports, "one vector per support");
        Self {
            modality,
            classes,
            vectors,
            barycenters: None,
        }
    }

    /// The supports' vectors per class, each named by its chip index.
    fn supports(&self) -> Vec<Vec<Support<'_>>> {
        let mut row = 0;
        self.classes
            .iter()
            .map(|class| {
                class
                    .iter()
                    .map(|&id| {
                        row += 1;
                        Support {
                            id,
                            vector: self.vectors.row(row - 1),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Every chip's distance to each class: W1 to the g(r) barycenters for the atoms,
    /// Euclidean to the mean of `supports` (this modality's, from [`Self::supports`])
    /// otherwise, through `classifier` when given, which must have been made for `measure`'s
    /// vectors.
    fn distances(
        &self,
        measure: &ChipMeasure,
        supports: &[Vec<Support>],
        classifier: Option<&mut PrototypeClassifier>,
    ) -> Segmentation {
        if let (Some(atoms), Some(barycenters)) = (measure.atoms, &self.barycenters) {
            return atoms.distances(barycenters);
        }
        match classifier {
            Some(classifier) => classifier.classify(measure.vectors, supports),
            None => PrototypeClassifier::new(measure.vectors).classify(measure.vectors, supports),
        }
    }
}

/// Classifies every chip of one image: each modality's distances to the prototypes it
/// learned, fused as `fusion` says. `measured` and `learned` hold the modalities that take part
/// ([`Fusion::taking_part`]), in the same order. `image_classifier`, when given, is a
/// classifier prepared for the image modality's vectors and kept between calls, so that a
/// click in the page costs one distance column.
///
/// # Panics
/// If `measured` is empty or its modalities differ from `learned`'s.
pub fn segment(
    fusion: &Fusion,
    learned: &[Learned],
    measured: &[ChipMeasure],
    mut image_classifier: Option<&mut PrototypeClassifier>,
) -> Segmentation {
    assert!(!measured.is_empty(), "no modality measured");
    assert!(
        learned
            .iter()
            .map(|l| l.modality)
            .eq(measured.iter().map(|m| m.modality)),
        "the learned and measured modalities differ"
    );
    let supports: Vec<Vec<Vec<Support>>> = learned.iter().map(Learned::supports).collect();
    let distances: Vec<Segmentation> = learned
        .iter()
        .zip(measured)
        .zip(&supports)
        .map(|((learned, measure), supports)| {
            let cache = match measure.modality {
                Modality::Image => image_classifier.as_deref_mut(),
                _ => None,
            };
            learned.distances(measure, supports, cache)
        })
        .collect();
    let measurements: Vec<Measurement> = supports
        .into_iter()
        .zip(measured)
        .zip(&distances)
        .map(|((supports, measure), distances)| Measurement {
            weight: fusion.weight(measure.modality),
            chips: measure.vectors,
            supports,
            distances,
        })
        .collect();
    fuse(fusion.mode, &measurements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::FusionMode;

    fn chips() -> Embeddings {
        Embeddings::from_rows(&[&[0.0, 0.0], &[1.0, 0.0], &[9.0, 9.0], &[10.0, 9.0]])
    }

    #[test]
    fn supports_learned_from_all_chips_or_from_their_rows_agree() {
        let chips = chips();
        let measure = ChipMeasure::euclidean(Modality::Image, &chips);
        let classes = vec![vec![0], vec![3, 2]];
        let from_chips = Learned::from_chips(&measure, &classes);
        let rows = Embeddings::from_rows(&[&[0.0, 0.0], &[10.0, 9.0], &[9.0, 9.0]]);
        assert_eq!(
            from_chips,
            Learned::from_supports(Modality::Image, classes, rows)
        );
    }

    /// One modality: the Euclidean distances to the supports' means, (0, 0) and (9.5, 9).
    #[test]
    fn one_modality_gives_its_distances_to_the_supports_mean() {
        let chips = chips();
        let measure = ChipMeasure::euclidean(Modality::Image, &chips);
        let learned = Learned::from_chips(&measure, &[vec![0], vec![2, 3]]);
        let fusion = Fusion::default();
        let plain = segment(&fusion, std::slice::from_ref(&learned), &[measure], None);
        assert_eq!(plain.distances(0)[0], 0.0);
        assert!((plain.distances(1)[1] - (8.5f32.powi(2) + 81.0).sqrt()).abs() < 1e-4);
        let mut cached = PrototypeClassifier::new(&chips);
        let again = segment(&fusion, &[learned], &[measure], Some(&mut cached));
        assert_eq!(again, plain, "the kept classifier gives the same distances");
    }

    #[test]
    #[should_panic(expected = "modalities differ")]
    fn learned_and_measured_modalities_must_match() {
        let chips = chips();
        let image = ChipMeasure::euclidean(Modality::Image, &chips);
        let spectra = ChipMeasure::euclidean(Modality::Spectra, &chips);
        let learned = Learned::from_chips(&spectra, &[vec![0], vec![2]]);
        let fusion = Fusion {
            mode: FusionMode::Distances,
            weights: [(Modality::Image, 1.0)].into(),
        };
        segment(&fusion, &[learned], &[image], None);
    }
}
