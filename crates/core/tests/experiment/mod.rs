//! What the experiments share (`two_phases.rs`, `spectral_fusion.rs`, `dense_embeddings.rs`,
//! `dense_real_mosaics.rs`, `guided_labelling.rs`): the true class of every chip from a label map, random support draws
//! among pure chips, the accuracy on chips that are mostly one class (and its mean over draws),
//! the chips embedded by a shipped encoder (per chip, or pooled from its dense map), their segmentation by the pipeline the page and the
//! CLI use, and Poisson noise.

// Each experiment uses a part of these helpers.
#![allow(dead_code)]

use burn::tensor::Device;
use chipscope_core::classify::Segmentation;
use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::{DenseSettings, Tiling, dense_features};
use chipscope_core::encoders::preprocess::ScaledImage;
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::fusion::{Fusion, FusionMode, Modality};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::pipeline::{self, ChipMeasure, Learned};
use chipscope_core::weights::read_weights;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Poisson};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Chips at least this pure count in the accuracy (region boundaries cross the others).
const MIN_PURITY: f64 = 0.75;

/// Every chip's majority class among `classes` in the row-major `labels` of the grid's image,
/// and the fraction of its pixels in that class (a tie goes to the lower class).
pub fn chip_truth(labels: &[u8], grid: &ChipGrid, classes: usize) -> Vec<(usize, f64)> {
    let (width, _) = grid.image_size();
    let size = grid.chip_size();
    grid.chips()
        .map(|chip| {
            let mut counts = vec![0usize; classes];
            for y in chip.row * size..(chip.row + 1) * size {
                for x in chip.col * size..(chip.col + 1) * size {
                    counts[labels[y * width + x] as usize] += 1;
                }
            }
            let majority = (0..classes)
                .max_by_key(|&k| (counts[k], std::cmp::Reverse(k)))
                .expect("at least one class");
            (majority, counts[majority] as f64 / (size * size) as f64)
        })
        .collect()
}

/// `per_class` pure chips of each of `classes` classes, drawn at random with `seed`.
pub fn draw_supports(
    truth: &[(usize, f64)],
    classes: usize,
    per_class: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    (0..classes)
        .map(|class| {
            order
                .iter()
                .copied()
                .filter(|&i| truth[i] == (class, 1.0))
                .take(per_class)
                .collect()
        })
        .collect()
}

/// Every chip classified by the pipeline from the supports `classes` among the same chips, the
/// `measured` modalities fused in `mode` with equal weights.
pub fn segment(mode: FusionMode, measured: &[ChipMeasure], classes: &[Vec<usize>]) -> Segmentation {
    let fusion = Fusion {
        mode,
        weights: measured.iter().map(|m| (m.modality, 1.0)).collect(),
    };
    let learned: Vec<Learned> = measured
        .iter()
        .map(|m| Learned::from_chips(m, classes))
        .collect();
    pipeline::segment(&fusion, &learned, measured, None)
}

/// The fraction of the chips at least [`MIN_PURITY`] one class that are classified as it.
pub fn accuracy(segmentation: &Segmentation, truth: &[(usize, f64)]) -> f64 {
    let assignments = segmentation.assignments(None);
    let scored: Vec<bool> = (0..truth.len())
        .filter(|&i| truth[i].1 >= MIN_PURITY)
        .map(|i| assignments[i] == Some(truth[i].0))
        .collect();
    scored.iter().filter(|&&ok| ok).count() as f64 / scored.len() as f64
}

/// The mean of each column of `rows`, to three decimals.
pub fn column_means(rows: &[Vec<f64>]) -> Vec<String> {
    (0..rows[0].len())
        .map(|c| {
            format!(
                "{:.3}",
                rows.iter().map(|r| r[c]).sum::<f64>() / rows.len() as f64
            )
        })
        .collect()
}

/// The mean [`accuracy`] of nearest-prototype classification of `embeddings` (Euclidean, the
/// image modality alone) over `draws` draws (seeds `0..draws`) of `per_class` supports per class.
pub fn mean_accuracy(
    embeddings: &Embeddings,
    truth: &[(usize, f64)],
    classes: usize,
    draws: u64,
    per_class: usize,
) -> f64 {
    let measure = ChipMeasure::euclidean(Modality::Image, embeddings);
    let total: f64 = (0..draws)
        .map(|draw| {
            let supports = draw_supports(truth, classes, per_class, draw);
            accuracy(
                &segment(FusionMode::Concatenate, &[measure], &supports),
                truth,
            )
        })
        .sum();
    total / draws as f64
}

/// `image` as a detector counting `mean` electrons a pixel on average would record it:
/// Poisson counts of the image scaled to that mean.
pub fn with_poisson_noise(image: &Image, mean: f64, seed: u64) -> Image {
    let average =
        image.pixels().iter().map(|&v| f64::from(v)).sum::<f64>() / image.pixels().len() as f64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let pixels = image
        .pixels()
        .iter()
        .map(|&v| {
            let rate = (f64::from(v) / average * mean).max(1e-9);
            Poisson::new(rate).unwrap().sample(&mut rng) as f32
        })
        .collect();
    Image::new(image.width(), image.height(), pixels)
}

/// The shipped encoder `weights/<file>.safetensors` on Chipscope's CPU kernels (the CLI's
/// default), with the CPU device for what is made beside it.
pub fn shipped_encoder(file: &str) -> (ImageEncoder, Device) {
    let encoder = ImageEncoder::packed(&shipped_weights(file)).unwrap();
    (encoder, Device::flex())
}

/// The shipped encoder `weights/<file>.safetensors` on burn's Flex CPU backend.
#[allow(dead_code)] // used by some of the test binaries that include this module
pub fn shipped_burn_encoder(file: &str) -> (ImageEncoder, Device) {
    let device = Device::flex();
    let encoder = ImageEncoder::from_weights(&shipped_weights(file), &device).unwrap();
    (encoder, device)
}

fn shipped_weights(file: &str) -> chipscope_core::weights::TensorMap {
    let path = format!(
        "{}/../../weights/{file}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    read_weights(&std::fs::read(path).unwrap()).unwrap()
}

/// Every chip of `grid` on `image` embedded by the shipped encoder `weights/<file>.safetensors`
/// on the CPU, in the default contrast.
pub fn embed(file: &str, image: &Image, grid: &ChipGrid) -> Embeddings {
    let (encoder, device) = shipped_encoder(file);
    let source = ChipSource {
        image,
        grid,
        range: DisplayRange::of(image, Stretch::default()),
    };
    let chips: Vec<Chip> = grid.chips().collect();
    encoder
        .embed_chips(source, &chips, 16, &device, |_| {})
        .unwrap()
}

/// Every chip of `grid` on `image` pooled from the dense map of the shipped encoder
/// `weights/<file>.safetensors` at its recommended settings (the page's default mode), on the
/// CPU, in the default contrast.
pub fn embed_dense(file: &str, image: &Image, grid: &ChipGrid) -> Embeddings {
    let (encoder, device) = shipped_encoder(file);
    let settings = DenseSettings::recommended(&encoder);
    let range = DisplayRange::of(image, Stretch::default());
    let scaled = ScaledImage::new(image, range, settings.scale);
    let map = dense_features(
        &encoder,
        &scaled,
        &settings,
        Tiling::default(),
        &device,
        |_, _| {},
    );
    map.unwrap().pool(grid)
}
