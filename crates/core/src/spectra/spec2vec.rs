//! spec2vec for EDS chips: every chip spectrum becomes a document of peak words (energy bins
//! such as `E@6.40`), word2vec learns a vector per word from the documents of the data at hand,
//! and a chip's vector is Σ intensityᵖ · word vector over its words (Huber et al. 2021, here on
//! X-ray spectra as in the multimodal pyCHIP report).
//!
//! The word2vec is gensim's: CBOW (the mean of the context vectors predicts the centre word) or
//! skip-gram (each context word predicts the centre word), trained by negative sampling from the
//! unigram distribution to the power 0.75, with frequent-word subsampling, a random reduced
//! window per position and a learning rate decaying linearly over all epochs. [`Trainer`] runs
//! it a slice at a time so the page can show progress and stay responsive.

use std::borrow::Cow;

use crate::embeddings::Embeddings;
use crate::spectra::EnergyAxis;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// How documents are made from chip spectra and how word2vec is trained (fields missing from a
/// session file take their defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spec2VecParams {
    /// Width of an energy word, keV.
    pub word_kev: f64,
    /// Words per document: the most intense bins.
    pub max_words: usize,
    /// Word vector length.
    pub dim: usize,
    /// Largest distance between a centre word and a context word (energy-ordered positions).
    pub window: usize,
    /// Negative samples per prediction.
    pub negative: usize,
    /// Passes over the documents.
    pub epochs: usize,
    /// Learning rate at the start, decaying linearly to `min_learning_rate`.
    pub learning_rate: f32,
    /// Learning rate at the end of the last epoch.
    pub min_learning_rate: f32,
    /// Subsampling threshold of frequent words (gensim's `sample`; 0: none).
    pub sample: f64,
    /// Skip-gram instead of CBOW.
    pub skip_gram: bool,
    /// Power p of the intensity weighting of word vectors in a chip vector.
    pub intensity_power: f32,
    /// Seed of the random initial vectors, negative samples, subsampling and windows; the
    /// same seed and chips give the same vectors.
    pub seed: u64,
}

impl Default for Spec2VecParams {
    /// 20 eV words, the 64 most intense per chip, 64-d CBOW vectors, window 10, 5 negatives,
    /// 20 epochs, p = 0.5.
    fn default() -> Self {
        Self {
            word_kev: 0.02,
            max_words: 64,
            dim: 64,
            window: 10,
            negative: 5,
            epochs: 20,
            learning_rate: 0.025,
            min_learning_rate: 0.0001,
            sample: 1e-3,
            skip_gram: false,
            intensity_power: 0.5,
            seed: 1,
        }
    }
}

/// A chip's document: word ids in increasing energy and their intensities (the most intense
/// word has 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Word ids (indices into the [`Vocabulary`]), increasing in energy.
    pub words: Vec<usize>,
    /// Each word's summed counts relative to the document's most intense word, 0–1.
    pub intensities: Vec<f32>,
}

/// The energy words of an axis: word `w` covers `[w, w + 1) × word_kev` keV.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vocabulary {
    /// Width of a word, keV.
    pub word_kev: f64,
    /// Number of words, from 0 keV to the top of the axis.
    pub words: usize,
}

impl Vocabulary {
    /// Words covering `axis` (from 0 keV up to its last channel).
    pub fn for_axis(axis: &EnergyAxis, word_kev: f64) -> Vocabulary {
        let top = axis.energy(axis.channels).max(word_kev);
        Vocabulary {
            word_kev,
            words: (top / word_kev).ceil() as usize,
        }
    }

    /// The word's name, e.g. "E@6.40" (its lower energy, keV).
    pub fn name(&self, word: usize) -> String {
        format!("E@{:.2}", word as f64 * self.word_kev)
    }
}

/// The document of one chip spectrum (counts per channel of `axis`): counts summed into words,
/// the `max_words` largest kept, in order of energy. Channels below 0 keV are ignored.
pub fn document(
    counts: &[u64],
    axis: &EnergyAxis,
    vocabulary: &Vocabulary,
    max_words: usize,
) -> Document {
    let mut words = vec![0u64; vocabulary.words];
    for (channel, &n) in counts.iter().enumerate() {
        let kev = axis.energy(channel) + axis.scale_kev / 2.0;
        let word = (kev / vocabulary.word_kev).floor();
        if n > 0 && word >= 0.0 && (word as usize) < words.len() {
            words[word as usize] += n;
        }
    }
    let mut ranked: Vec<usize> = (0..words.len()).filter(|&w| words[w] > 0).collect();
    ranked.sort_by(|&a, &b| words[b].cmp(&words[a]).then(a.cmp(&b)));
    ranked.truncate(max_words);
    ranked.sort_unstable();
    let top = ranked.iter().map(|&w| words[w]).max().unwrap_or(1) as f32;
    Document {
        intensities: ranked.iter().map(|&w| words[w] as f32 / top).collect(),
        words: ranked,
    }
}

/// The vocabulary of `axis` and the document of every chip spectrum, as `params` says.
pub fn documents(
    spectra: &[Vec<u64>],
    axis: &EnergyAxis,
    params: &Spec2VecParams,
) -> (Vocabulary, Vec<Document>) {
    let vocabulary = Vocabulary::for_axis(axis, params.word_kev);
    let documents = spectra
        .iter()
        .map(|counts| document(counts, axis, &vocabulary, params.max_words))
        .collect();
    (vocabulary, documents)
}

/// Learned word vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct WordVectors {
    /// Length of each word vector, and of the chip vectors made from them.
    pub dim: usize,
    /// One row of `dim` values per word of the vocabulary.
    pub values: Vec<f32>,
}

impl WordVectors {
    /// The vector of `word`.
    pub fn word(&self, word: usize) -> &[f32] {
        &self.values[word * self.dim..(word + 1) * self.dim]
    }

    /// Every document's vector Σ intensityᵖ · word vector, scaled to unit length (so Euclidean
    /// distances between chips order them as spec2vec's cosine similarity does); a document
    /// without words gets zeros.
    pub fn embed(&self, documents: &[Document], power: f32) -> Embeddings {
        let mut values = Vec::with_capacity(documents.len() * self.dim);
        for document in documents {
            let mut vector = vec![0.0f32; self.dim];
            for (&word, &intensity) in document.words.iter().zip(&document.intensities) {
                let weight = intensity.powf(power);
                for (v, w) in vector.iter_mut().zip(self.word(word)) {
                    *v += weight * w;
                }
            }
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                vector.iter_mut().for_each(|v| *v /= norm);
            }
            values.extend(vector);
        }
        Embeddings {
            dim: self.dim,
            values,
        }
    }
}

/// Size of the table negative samples are drawn from.
const NEGATIVE_TABLE: usize = 1 << 20;

/// word2vec training in slices: [`Trainer::step`] trains on some documents and reports the
/// fraction done; [`Trainer::finish`] hands over the word vectors.
pub struct Trainer<'a> {
    /// Borrowed, or owned by a trainer that outlives its caller's documents.
    documents: Cow<'a, [Document]>,
    params: Spec2VecParams,
    /// Input (word) vectors, gensim's `syn0`.
    input: Vec<f32>,
    /// Output vectors of negative sampling, gensim's `syn1neg`.
    output: Vec<f32>,
    negatives: Vec<u32>,
    keep: Vec<f64>,
    rng: Xoshiro256PlusPlus,
    /// Words trained over all epochs, for the learning-rate decay.
    words_done: u64,
    words_total: u64,
    /// Next (epoch, document) to train.
    epoch: usize,
    next: usize,
}

impl<'a> Trainer<'a> {
    /// A trainer of `vocabulary_size` word vectors on `documents` (borrowed, as `&docs`, or
    /// owned, as a `Vec`).
    pub fn new(
        documents: impl Into<Cow<'a, [Document]>>,
        vocabulary_size: usize,
        params: Spec2VecParams,
    ) -> Self {
        let documents = documents.into();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let dim = params.dim;
        let input = (0..vocabulary_size * dim)
            .map(|_| (rng.random::<f32>() - 0.5) / dim as f32)
            .collect();
        let mut frequency = vec![0u64; vocabulary_size];
        for document in documents.iter() {
            document.words.iter().for_each(|&w| frequency[w] += 1);
        }
        let total: u64 = frequency.iter().sum();
        Self {
            documents,
            params,
            input,
            output: vec![0.0; vocabulary_size * dim],
            negatives: negative_table(&frequency),
            keep: keep_probabilities(&frequency, params.sample),
            rng,
            words_done: 0,
            words_total: (total * params.epochs as u64).max(1),
            epoch: 0,
            next: 0,
        }
    }

    /// Trains on up to `documents` more documents; returns the fraction of training done.
    pub fn step(&mut self, documents: usize) -> f32 {
        for _ in 0..documents {
            if self.epoch >= self.params.epochs || self.documents.is_empty() {
                break;
            }
            let words = self.subsampled(self.next);
            self.train_document(&words);
            self.words_done += self.documents[self.next].words.len() as u64;
            self.next += 1;
            if self.next == self.documents.len() {
                self.next = 0;
                self.epoch += 1;
            }
        }
        self.progress()
    }

    /// Fraction of training done.
    pub fn progress(&self) -> f32 {
        if self.documents.is_empty() {
            return 1.0;
        }
        let done = self.epoch * self.documents.len() + self.next;
        done as f32 / (self.params.epochs * self.documents.len()).max(1) as f32
    }

    /// Trains to the end and hands over the word vectors.
    pub fn finish(mut self) -> WordVectors {
        while self.progress() < 1.0 {
            self.step(usize::MAX);
        }
        WordVectors {
            dim: self.params.dim,
            values: self.input,
        }
    }

    /// The words of document `index` left after subsampling frequent words.
    fn subsampled(&mut self, index: usize) -> Vec<usize> {
        let (keep, rng) = (&self.keep, &mut self.rng);
        self.documents[index]
            .words
            .iter()
            .copied()
            .filter(|&w| keep[w] >= 1.0 || rng.random::<f64>() < keep[w])
            .collect()
    }

    fn learning_rate(&self) -> f32 {
        let done = self.words_done as f32 / self.words_total as f32;
        let p = &self.params;
        (p.learning_rate - (p.learning_rate - p.min_learning_rate) * done).max(p.min_learning_rate)
    }

    fn train_document(&mut self, words: &[usize]) {
        let alpha = self.learning_rate();
        let dim = self.params.dim;
        let mut hidden = vec![0.0f32; dim];
        let mut error = vec![0.0f32; dim];
        for centre in 0..words.len() {
            let reach = self.params.window - self.rng.random_range(0..self.params.window.max(1));
            let context: Vec<usize> = (centre.saturating_sub(reach)
                ..(centre + reach + 1).min(words.len()))
                .filter(|&j| j != centre)
                .map(|j| words[j])
                .collect();
            if context.is_empty() {
                continue;
            }
            if self.params.skip_gram {
                for &word in &context {
                    hidden.copy_from_slice(&self.input[word * dim..(word + 1) * dim]);
                    self.predict(words[centre], &hidden, &mut error, alpha);
                    add(&mut self.input[word * dim..(word + 1) * dim], &error, 1.0);
                }
            } else {
                hidden.fill(0.0);
                for &word in &context {
                    add(&mut hidden, &self.input[word * dim..(word + 1) * dim], 1.0);
                }
                hidden.iter_mut().for_each(|h| *h /= context.len() as f32);
                self.predict(words[centre], &hidden, &mut error, alpha);
                for &word in &context {
                    add(&mut self.input[word * dim..(word + 1) * dim], &error, 1.0);
                }
            }
        }
    }

    /// One negative-sampling update predicting `target` from `hidden`: updates the output
    /// vectors and leaves in `error` what the input side must add.
    fn predict(&mut self, target: usize, hidden: &[f32], error: &mut [f32], alpha: f32) {
        let dim = self.params.dim;
        error.fill(0.0);
        for k in 0..=self.params.negative {
            let (word, label) = match k {
                0 => (target, 1.0),
                _ => {
                    let word =
                        self.negatives[self.rng.random_range(0..self.negatives.len())] as usize;
                    if word == target {
                        continue;
                    }
                    (word, 0.0)
                }
            };
            let output = &mut self.output[word * dim..(word + 1) * dim];
            let dot: f32 = hidden.iter().zip(output.iter()).map(|(h, o)| h * o).sum();
            let gradient = (label - sigmoid(dot)) * alpha;
            add(error, output, gradient);
            add(output, hidden, gradient);
        }
    }
}

/// `target += scale × source`.
fn add(target: &mut [f32], source: &[f32], scale: f32) {
    target
        .iter_mut()
        .zip(source)
        .for_each(|(t, s)| *t += scale * s);
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-6.0, 6.0)).exp())
}

/// Word ids repeated in proportion to frequency^0.75, for drawing negative samples.
fn negative_table(frequency: &[u64]) -> Vec<u32> {
    let weights: Vec<f64> = frequency.iter().map(|&f| (f as f64).powf(0.75)).collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return vec![0];
    }
    let mut table = Vec::with_capacity(NEGATIVE_TABLE);
    let mut cumulative = 0.0;
    for (word, weight) in weights.iter().enumerate() {
        cumulative += weight / total;
        let end = (cumulative * NEGATIVE_TABLE as f64).round() as usize;
        while table.len() < end.min(NEGATIVE_TABLE) {
            table.push(word as u32);
        }
    }
    table
}

/// gensim's probability of keeping each occurrence of a word: (√(f/t) + 1) · t/f with
/// t = `sample` × all occurrences (1 for rare words and when `sample` is 0).
fn keep_probabilities(frequency: &[u64], sample: f64) -> Vec<f64> {
    let threshold = sample * frequency.iter().sum::<u64>() as f64;
    frequency
        .iter()
        .map(|&f| {
            if sample <= 0.0 || f == 0 {
                return 1.0;
            }
            let f = f as f64;
            ((f / threshold).sqrt() + 1.0) * threshold / f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis() -> EnergyAxis {
        EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 0.01,
            channels: 1000,
        }
    }

    #[test]
    fn documents_keep_the_most_intense_words_in_energy_order() {
        let mut counts = vec![0u64; 1000];
        counts[640] = 50; // 6.40 keV
        counts[641] = 10; // same 20 eV word
        counts[100] = 30;
        counts[900] = 5;
        let vocabulary = Vocabulary::for_axis(&axis(), 0.02);
        assert_eq!(vocabulary.words, 500);
        let document = document(&counts, &axis(), &vocabulary, 2);
        assert_eq!(document.words, [50, 320]);
        assert_eq!(vocabulary.name(320), "E@6.40");
        assert_eq!(document.intensities, [0.5, 1.0]);
    }

    #[test]
    fn keep_probabilities_match_gensim() {
        // gensim 4.4.0 `Word2Vec(sample=1e-3)` keeps a word of count c among N words with
        // probability (sqrt(c / (1e-3 N)) + 1) * (1e-3 N) / c: 0.16142… for c = 500 of 10 000.
        let keep = keep_probabilities(&[500, 9500], 1e-3);
        let t = 10.0;
        assert!((keep[0] - ((500.0f64 / t).sqrt() + 1.0) * t / 500.0).abs() < 1e-12);
        assert!((keep[0] - 0.161_421_356).abs() < 1e-6);
        assert_eq!(keep_probabilities(&[5, 0], 0.0), [1.0, 1.0]);
    }

    #[test]
    fn negative_table_follows_frequency_to_the_three_quarters() {
        let table = negative_table(&[16, 1]);
        let share = table.iter().filter(|&&w| w == 1).count() as f64 / table.len() as f64;
        assert!((share - 1.0 / 9.0).abs() < 1e-4, "{share}");
    }

    /// Two kinds of documents, words 0–9 and 10–19: after training, chips of one kind are
    /// nearer each other than chips of the other kind, for CBOW and skip-gram alike.
    #[test]
    fn training_groups_documents_that_share_words() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let documents: Vec<Document> = (0..60)
            .map(|i| {
                let base = if i % 2 == 0 { 0 } else { 10 };
                let words: Vec<usize> = (0..10)
                    .filter(|_| rng.random::<f32>() < 0.7)
                    .map(|w| base + w)
                    .collect();
                Document {
                    intensities: vec![1.0; words.len()],
                    words,
                }
            })
            .collect();
        for skip_gram in [false, true] {
            let params = Spec2VecParams {
                dim: 16,
                epochs: 30,
                skip_gram,
                sample: 0.0,
                ..Spec2VecParams::default()
            };
            let mut trainer = Trainer::new(&documents, 20, params);
            assert!(trainer.step(60) > 0.0);
            let vectors = trainer.finish().embed(&documents, 0.5);
            let distance = |a: usize, b: usize| -> f32 {
                vectors
                    .row(a)
                    .iter()
                    .zip(vectors.row(b))
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum()
            };
            assert!(distance(0, 2) < distance(0, 1), "skip-gram {skip_gram}");
            assert!(distance(1, 3) < distance(1, 2), "skip-gram {skip_gram}");
        }
    }
}
