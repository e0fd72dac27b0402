//! The spectral modality: every chip's summed spectrum, turned into a vector by the raw encoder
//! or by spec2vec, and classified like image embeddings (Euclidean distance to the mean of the
//! supports' vectors); and each class's mean spectrum, for the plots.

use serde::{Deserialize, Serialize};

use super::chips::{MismatchError, RawSettings, check_match, chip_spectra, raw_vectors};
use super::spec2vec::{
    Document, Spec2VecParams, Trainer, Vocabulary, WordVectors, document, documents,
};
use super::{EnergyAxis, SpectrumImage};
use crate::dataset::{Calibration, Dataset};
use crate::embeddings::Embeddings;
use crate::grid::ChipGrid;

/// How chip spectra become vectors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpectralEncoder {
    /// The chip spectrum itself.
    Raw(RawSettings),
    /// spec2vec word vectors trained on the chips of the data at hand.
    Spec2vec(Spec2VecParams),
}

impl Default for SpectralEncoder {
    /// spec2vec with its defaults.
    fn default() -> Self {
        SpectralEncoder::Spec2vec(Spec2VecParams::default())
    }
}

impl SpectralEncoder {
    /// The raw encoder normalised to total counts over the whole axis.
    pub fn raw() -> Self {
        SpectralEncoder::Raw(RawSettings {
            range_kev: None,
            normalise: true,
        })
    }

    /// Checks the settings, as a session file may hold anything.
    pub fn check(&self) -> Result<(), String> {
        match self {
            SpectralEncoder::Raw(raw) => match raw.range_kev {
                Some((low, high)) if !(low.is_finite() && high.is_finite() && low < high) => {
                    Err("the raw encoder's energy range is not a range".into())
                }
                _ => Ok(()),
            },
            SpectralEncoder::Spec2vec(params) => check_spec2vec(params),
        }
    }
}

fn check_spec2vec(p: &Spec2VecParams) -> Result<(), String> {
    let within =
        |value: f64, low: f64, high: f64| value.is_finite() && (low..=high).contains(&value);
    let checks = [
        (
            within(p.word_kev, 0.001, 1.0),
            "word width is not 1–1000 eV",
        ),
        (
            within(p.max_words as f64, 1.0, 1024.0),
            "words per chip are not 1–1024",
        ),
        (
            within(p.dim as f64, 2.0, 512.0),
            "vector length is not 2–512",
        ),
        (within(p.window as f64, 1.0, 64.0), "window is not 1–64"),
        (
            within(p.negative as f64, 1.0, 64.0),
            "negative samples are not 1–64",
        ),
        (within(p.epochs as f64, 1.0, 500.0), "epochs are not 1–500"),
        (
            within(f64::from(p.learning_rate), 1e-6, 1.0)
                && within(
                    f64::from(p.min_learning_rate),
                    0.0,
                    f64::from(p.learning_rate),
                ),
            "learning rates are not 0 < min ≤ start ≤ 1",
        ),
        (
            within(p.sample, 0.0, 1.0),
            "subsampling threshold is not 0–1",
        ),
        (
            within(f64::from(p.intensity_power), 0.0, 4.0),
            "intensity power is not 0–4",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, what)) => Err(format!("the spec2vec {what}")),
        None => Ok(()),
    }
}

/// Every chip's spectrum on one energy axis, in grid order.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralChips {
    /// The map's energy axis, shared by every chip spectrum.
    pub axis: EnergyAxis,
    /// Per chip, in grid order: summed counts per channel of `axis`.
    pub spectra: Vec<Vec<u64>>,
}

impl SpectralChips {
    /// The chips of `grid` (an image's) laid on `map` (see [`chip_spectra`]).
    pub fn new(map: &SpectrumImage, grid: &ChipGrid) -> Self {
        Self {
            axis: map.axis,
            spectra: chip_spectra(map, grid),
        }
    }

    /// The chips of `grid` on `dataset`'s image laid on `map`, refused when the map does not
    /// show the image's field of view ([`check_match`]).
    pub fn for_image(
        map: &SpectrumImage,
        dataset: &Dataset,
        grid: &ChipGrid,
    ) -> Result<Self, MismatchError> {
        let image = &dataset.image;
        let pixel_nm = dataset.calibration.as_ref().and_then(Calibration::pixel_nm);
        check_match(map, image.width(), image.height(), pixel_nm)?;
        Ok(Self::new(map, grid))
    }

    /// The spec2vec vocabulary and every chip's document.
    pub fn documents(&self, params: &Spec2VecParams) -> (Vocabulary, Vec<Document>) {
        documents(&self.spectra, &self.axis, params)
    }

    /// The mean spectrum (counts per chip) of the chips assigned to each of `classes` classes;
    /// `None` for a class without chips.
    pub fn class_means(
        &self,
        assignments: &[Option<usize>],
        classes: usize,
    ) -> Vec<Option<Vec<f64>>> {
        let mut sums = vec![vec![0.0f64; self.axis.channels]; classes];
        let mut counts = vec![0usize; classes];
        for (spectrum, class) in self.spectra.iter().zip(assignments) {
            let Some(class) = class.filter(|&c| c < classes) else {
                continue;
            };
            counts[class] += 1;
            sums[class]
                .iter_mut()
                .zip(spectrum)
                .for_each(|(sum, &n)| *sum += n as f64);
        }
        sums.into_iter()
            .zip(counts)
            .map(|(sum, count)| {
                (count > 0).then(|| sum.into_iter().map(|s| s / count as f64).collect())
            })
            .collect()
    }
}

/// A spectral encoder ready to turn chips into vectors: spec2vec's word vectors once trained.
#[derive(Clone, Debug, PartialEq)]
pub enum SpectralModel {
    /// The raw encoder, which needs no training.
    Raw(RawSettings),
    /// spec2vec, trained on the chips it was fitted to.
    Spec2vec {
        /// The settings it was trained with; chip documents are made with them too.
        params: Spec2VecParams,
        /// The energy words of the chips' axis.
        vocabulary: Vocabulary,
        /// One learned vector per word of `vocabulary`.
        words: WordVectors,
    },
}

impl SpectralModel {
    /// `encoder` fitted to `chips`: spec2vec is trained on their documents in one go (the page
    /// steps a [`Spec2VecTrainer`] in slices to the same model).
    pub fn fit(encoder: SpectralEncoder, chips: &SpectralChips) -> Self {
        match encoder {
            SpectralEncoder::Raw(settings) => SpectralModel::Raw(settings),
            SpectralEncoder::Spec2vec(params) => Spec2VecTrainer::new(params, chips).finish(),
        }
    }

    /// Every chip's vector.
    pub fn vectors(&self, chips: &SpectralChips) -> Embeddings {
        match self {
            SpectralModel::Raw(settings) => raw_vectors(&chips.spectra, &chips.axis, *settings),
            SpectralModel::Spec2vec {
                params,
                vocabulary,
                words,
            } => {
                let documents: Vec<Document> = chips
                    .spectra
                    .iter()
                    .map(|counts| document(counts, &chips.axis, vocabulary, params.max_words))
                    .collect();
                words.embed(&documents, params.intensity_power)
            }
        }
    }
}

/// spec2vec fitted to chips a slice at a time: [`Spec2VecTrainer::step`] trains on a budget of
/// documents and reports the fraction done, [`Spec2VecTrainer::finish`] trains what is left and
/// hands over the model — bit for bit the one [`SpectralModel::fit`] makes in one go, however
/// the training was sliced.
pub struct Spec2VecTrainer {
    params: Spec2VecParams,
    vocabulary: Vocabulary,
    trainer: Trainer<'static>,
}

impl Spec2VecTrainer {
    /// A trainer on the documents of `chips`.
    pub fn new(params: Spec2VecParams, chips: &SpectralChips) -> Self {
        let (vocabulary, documents) = chips.documents(&params);
        let trainer = Trainer::new(documents, vocabulary.words, params);
        Self {
            params,
            vocabulary,
            trainer,
        }
    }

    /// Trains on up to `documents` more chip documents; returns the fraction of training done
    /// (1 when finished).
    pub fn step(&mut self, documents: usize) -> f32 {
        self.trainer.step(documents)
    }

    /// The fraction of training done.
    pub fn progress(&self) -> f32 {
        self.trainer.progress()
    }

    /// Trains to the end and hands over the model.
    pub fn finish(self) -> SpectralModel {
        SpectralModel::Spec2vec {
            params: self.params,
            vocabulary: self.vocabulary,
            words: self.trainer.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::SpectrumImageBuilder;

    /// `channels` channels of 1 keV from 0.
    fn unit_axis(channels: usize) -> EnergyAxis {
        EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 1.0,
            channels,
        }
    }

    /// A 4 × 2 map on 4 channels: the left half has counts in channel 1, the right in 3 (one map
    /// pixel per chip of a 64 × 32 image in 16-px chips).
    fn two_halves() -> SpectrumImage {
        let mut builder = SpectrumImageBuilder::new(4, 2, unit_axis(4), 1).unwrap();
        for _ in 0..2 {
            for x in 0..4 {
                builder
                    .push_sparse([(if x < 2 { 1 } else { 3 }, 5)])
                    .unwrap();
            }
        }
        builder.finish(None, None).unwrap()
    }

    #[test]
    fn class_means_average_the_assigned_chips() {
        let grid = ChipGrid::new(64, 32, 16).unwrap();
        let chips = SpectralChips::new(&two_halves(), &grid);
        let assignments = [
            Some(0),
            Some(0),
            Some(1),
            None,
            Some(0),
            Some(0),
            None,
            None,
        ];
        let means = chips.class_means(&assignments, 3);
        assert_eq!(means[0], Some(vec![0.0, 5.0, 0.0, 0.0]));
        assert_eq!(means[1], Some(vec![0.0, 0.0, 0.0, 5.0]));
        assert_eq!(means[2], None);
    }

    #[test]
    fn raw_and_spec2vec_models_separate_the_halves() {
        let grid = ChipGrid::new(64, 32, 16).unwrap();
        let chips = SpectralChips::new(&two_halves(), &grid);
        let distance = |v: &Embeddings, a: usize, b: usize| -> f32 {
            v.row(a)
                .iter()
                .zip(v.row(b))
                .map(|(x, y)| (x - y).powi(2))
                .sum()
        };
        let params = Spec2VecParams {
            word_kev: 1.0,
            dim: 8,
            ..Spec2VecParams::default()
        };
        for encoder in [SpectralEncoder::raw(), SpectralEncoder::Spec2vec(params)] {
            let vectors = SpectralModel::fit(encoder, &chips).vectors(&chips);
            assert_eq!(vectors.count(), 8);
            assert!(distance(&vectors, 0, 5) < 1e-9, "{encoder:?}");
            assert!(distance(&vectors, 0, 3) > 0.1, "{encoder:?}");
        }
    }

    /// Chips of a 6 × 4 map whose pixels hold different mixes of 16 channels, so documents
    /// differ in length and words.
    fn mixed_chips() -> SpectralChips {
        let mut builder = SpectrumImageBuilder::new(6, 4, unit_axis(16), 1).unwrap();
        for pixel in 0..24u64 {
            let counts = (0..16u64).filter_map(|c| {
                let n = (pixel * 7 + c * 3) % 11;
                (n > 4).then_some((c as usize, n))
            });
            builder.push_sparse(counts).unwrap();
        }
        let map = builder.finish(None, None).unwrap();
        SpectralChips::new(&map, &ChipGrid::new(96, 64, 16).unwrap())
    }

    #[test]
    fn sliced_spec2vec_training_is_bit_identical_to_fitting_in_one_go() {
        let chips = mixed_chips();
        let params = Spec2VecParams {
            word_kev: 1.0,
            dim: 8,
            window: 3,
            epochs: 3,
            ..Spec2VecParams::default()
        };
        let one_go = SpectralModel::fit(SpectralEncoder::Spec2vec(params), &chips);
        // The word-level trainer run in one go, as before the model-level trainer existed.
        let (vocabulary, documents) = chips.documents(&params);
        let words = Trainer::new(&documents, vocabulary.words, params).finish();
        let bits = |model: &SpectralModel| match model {
            SpectralModel::Spec2vec { words, .. } => {
                words.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            }
            SpectralModel::Raw(_) => panic!("spec2vec expected"),
        };
        let reference = words.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one_go), reference);
        assert_eq!(documents.len(), 24);
        for budgets in [vec![1], vec![5, 2, 9], vec![24], vec![1000]] {
            let mut trainer = Spec2VecTrainer::new(params, &chips);
            assert_eq!(trainer.progress(), 0.0);
            let (mut last, mut given) = (0.0, 0);
            for &budget in budgets.iter().cycle() {
                let done = trainer.step(budget);
                assert!(done >= last && done <= 1.0);
                last = done;
                given += budget;
                if done >= 1.0 {
                    // 24 documents × 3 epochs: finished by the slice that reached them.
                    assert!(given >= 72 && given - budget < 72, "budgets {budgets:?}");
                    break;
                }
            }
            let sliced = trainer.finish();
            assert_eq!(bits(&sliced), reference, "budgets {budgets:?}");
            assert_eq!(sliced, one_go);
            assert_eq!(sliced.vectors(&chips), one_go.vectors(&chips));
        }
        // Stopped half way, finish trains the rest to the same model.
        let mut trainer = Spec2VecTrainer::new(params, &chips);
        assert!((trainer.step(36) - 0.5).abs() < 1e-6);
        assert_eq!(trainer.finish(), one_go);
    }

    #[test]
    fn settings_round_trip_and_are_checked() {
        let encoder = SpectralEncoder::default();
        let json = serde_json::to_string(&encoder).unwrap();
        assert!(json.contains("\"kind\":\"spec2vec\""), "{json}");
        assert_eq!(
            serde_json::from_str::<SpectralEncoder>(&json).unwrap(),
            encoder
        );
        let partial: SpectralEncoder =
            serde_json::from_str(r#"{"kind":"spec2vec","dim":32}"#).unwrap();
        assert_eq!(partial.check(), Ok(()));
        let bad = SpectralEncoder::Spec2vec(Spec2VecParams {
            dim: 0,
            ..Spec2VecParams::default()
        });
        assert!(bad.check().unwrap_err().contains("vector length"));
        let raw = SpectralEncoder::Raw(RawSettings {
            range_kev: Some((5.0, 1.0)),
            normalise: true,
        });
        assert!(raw.check().is_err());
    }
}
