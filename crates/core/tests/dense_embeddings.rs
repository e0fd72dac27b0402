//! Dense embeddings: the trunk's feature map of a whole image matches PyTorch's, a tiled pass
//! matches a single pass, and pooling it per chip classifies as the single pass does.
//!
//! The PyTorch maps in `tests/fixtures/dense/` were made by `scripts/weights/dense_reference.py`
//! (its command, versions and the compared quantity are recorded in `cases.json`): the shipped
//! weights on the top-left 256² crop of `multi_signal.dm3` scaled to [0, 1], enlarged ×2 (or
//! not) and run to a stage in one pass — and on the whole image at its default display range
//! (`whole_cases`, what the page's parity test reproduces); the first 16 channels of each map
//! are stored.

mod common;
mod experiment;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::ImageEncoder;
use chipscope_core::encoders::dense::{DenseSettings, FeatureMap, Tiling, dense_features};
use chipscope_core::encoders::preprocess::ScaledImage;
use chipscope_core::fusion::{FusionMode, Modality};
use chipscope_core::grid::ChipGrid;
use chipscope_core::npy;
use chipscope_core::pipeline::ChipMeasure;
use chipscope_core::simulate::{grains, heterostructure};
use experiment::{
    chip_truth, column_means, draw_supports, embed, mean_accuracy, segment, shipped_burn_encoder,
    shipped_encoder, with_poisson_noise,
};
use serde_json::Value;

/// The bound on the relative error of a map against PyTorch.
const TOLERANCE: f32 = 1e-4;
const SINGLE_PASS: Tiling = Tiling::SINGLE_PASS;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/dense")
        .join(name)
}

fn read_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    npy::read_f32(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

/// The map of `image` (raw values mapped through `range`) up to `stage`, enlarged `scale` times.
fn map(
    encoder: &(ImageEncoder, burn::tensor::Device),
    image: &Image,
    range: DisplayRange,
    stage: &str,
    scale: usize,
    tiling: Tiling,
) -> FeatureMap {
    let settings = DenseSettings {
        stage: stage.into(),
        scale,
    };
    let scaled = ScaledImage::new(image, range, scale);
    dense_features(
        &encoder.0,
        &scaled,
        &settings,
        tiling,
        &encoder.1,
        |_, _| {},
    )
    .unwrap()
}

/// max |ours − reference| / max |reference| over the `channels × rows × cols` reference, a
/// (C, H, W) array of the map's first channels and top-left cells.
fn relative_error(ours: &FeatureMap, reference: &[f32], [channels, rows, cols]: [usize; 3]) -> f32 {
    let (mut error, mut largest) = (0.0f32, 0.0f32);
    for channel in 0..channels {
        for row in 0..rows {
            for col in 0..cols {
                let expected = reference[(channel * rows + row) * cols + col];
                error = error.max((ours.cell(col, row)[channel] - expected).abs());
                largest = largest.max(expected.abs());
            }
        }
    }
    error / largest
}

#[test]
fn the_shipped_encoders_offer_their_stages_and_recommended_settings() {
    let (mobilenet, _) = shipped_encoder("mobilenet_v2");
    let cut = mobilenet.cut("features.13").unwrap();
    assert_eq!((cut.channels, cut.stride), (96, 16));
    assert_eq!(mobilenet.cut("features.6").unwrap().stride, 8);
    assert_eq!(mobilenet.cuts().len(), 19);
    let (resnet, _) = shipped_encoder("resnet50");
    let cut = resnet.cut("layer3").unwrap();
    assert_eq!((cut.channels, cut.stride), (1024, 16));
    let names: Vec<&str> = resnet.cuts().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["layer1", "layer2", "layer3", "layer4"]);
    let recommended = |encoder| {
        let DenseSettings { stage, scale } = DenseSettings::recommended(encoder);
        (stage, scale)
    };
    assert_eq!(recommended(&mobilenet), ("features.6".into(), 2));
    assert_eq!(recommended(&resnet), ("layer3".into(), 2));
}

#[test]
fn dense_maps_match_pytorch() {
    let text = std::fs::read_to_string(fixture("cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let (shape, values) = read_npy("input_x1.npy");
    let crop = Image::new(shape[1], shape[0], values);
    let unit = DisplayRange {
        low: 0.0,
        high: 1.0,
    };
    let mut encoders = HashMap::new();
    for (case, engine) in cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|case| ENGINES.map(|engine| (case, engine)))
    {
        let name = case["encoder"].as_str().unwrap();
        let encoder = encoders
            .entry((name.to_string(), engine.0))
            .or_insert_with(|| (engine.1)(name));
        let stage = case["stage"].as_str().unwrap();
        let scale = case["scale"].as_u64().unwrap() as usize;
        let ours = map(encoder, &crop, unit, stage, scale, SINGLE_PASS);
        let (stored, reference) = read_npy(case["file"].as_str().unwrap());
        let full: Vec<usize> = serde_json::from_value(case["full_shape"].clone()).unwrap();
        assert_eq!(
            [ours.channels, ours.rows, ours.cols],
            full[..],
            "{name} {stage}"
        );
        let [channels, rows, cols] = stored[..] else {
            panic!("a (C, H, W) fixture")
        };
        let relative = relative_error(&ours, &reference, [channels, rows, cols]);
        let engine = engine.0;
        eprintln!("{name} {stage} ×{scale} on {engine}: relative error {relative:.2e}");
        assert!(
            relative <= TOLERANCE,
            "{name} {stage} ×{scale} on {engine}: {relative}"
        );
    }
}

/// The engines that run the encoders on the CPU, by name: Chipscope's kernels and burn's Flex.
type Engine = (
    &'static str,
    fn(&str) -> (ImageEncoder, burn::tensor::Device),
);
const ENGINES: [Engine; 2] = [
    ("the kernels", shipped_encoder),
    ("Flex", shipped_burn_encoder),
];

/// The whole-image cases (`whole_cases` in `cases.json`), which the page's parity test
/// (`tests/e2e/dense.test.mjs`) reproduces: the whole `multi_signal.dm3` at its default display
/// range, ×2, in one pass and in the page's 512-px windows with the 128-px halo.
#[test]
fn whole_image_maps_match_pytorch() {
    let text = std::fs::read_to_string(fixture("cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let Some(dataset) = common::read(cases["source"]["path"].as_str().unwrap()) else {
        return;
    };
    let image = dataset.unwrap().image;
    let range = DisplayRange::of(&image, Stretch::default());
    let expected = &cases["display_range"];
    assert_eq!(f64::from(range.low), expected["low"].as_f64().unwrap());
    assert_eq!(f64::from(range.high), expected["high"].as_f64().unwrap());
    let page = Tiling {
        kept_px: 512,
        halo_px: 128,
    };
    let whole_cases = cases["whole_cases"].as_array().unwrap().iter();
    for (case, (engine, build)) in whole_cases.flat_map(|case| ENGINES.map(|e| (case, e))) {
        let name = case["encoder"].as_str().unwrap();
        let encoder = build(name);
        let stage = case["stage"].as_str().unwrap();
        let scale = case["scale"].as_u64().unwrap() as usize;
        let (stored, reference) = read_npy(case["file"].as_str().unwrap());
        let [channels, rows, cols] = stored[..] else {
            panic!("a (C, H, W) fixture")
        };
        for (tiling, how) in [(SINGLE_PASS, "one pass"), (page, "the page's windows")] {
            let ours = map(&encoder, &image, range, stage, scale, tiling);
            let full: Vec<usize> = serde_json::from_value(case["full_shape"].clone()).unwrap();
            assert_eq!([ours.channels, ours.rows, ours.cols], full[..]);
            let relative = relative_error(&ours, &reference, [channels, rows, cols]);
            eprintln!(
                "whole image, {name} {stage} ×{scale}, {how}, on {engine}: relative error \
                 {relative:.2e}"
            );
            assert!(
                relative <= TOLERANCE,
                "{name} {stage} ×{scale}, {how}, on {engine}: {relative}"
            );
        }
    }
}

/// The halo by measurement, for MobileNetV2 after `features.13` (stride 16) and `features.6`
/// (stride 8, the recommended stage).
#[test]
fn tiled_maps_match_a_single_pass() {
    tiled_against_single_pass("mobilenet_v2", "features.13");
    tiled_against_single_pass("mobilenet_v2", "features.6");
}

/// The same for ResNet-50 after `layer3` and `layer2` (about two minutes: run with
/// `--ignored`).
#[test]
#[ignore]
fn tiled_resnet_maps_match_a_single_pass() {
    tiled_against_single_pass("resnet50", "layer3");
    tiled_against_single_pass("resnet50", "layer2");
}

/// The map of the simulated example (512², ×2) run in 256-px windows with halos of 0–128 px
/// against one pass: the largest cell difference relative to the map's largest value, the same
/// for the 32-px chips pooled from it, and whether 3-support classifications (5 draws) change.
/// The default halo must change no classification.
fn tiled_against_single_pass(encoder: &str, stage: &str) {
    let simulation = heterostructure(512, 1);
    let image = &simulation.dataset.image;
    let range = DisplayRange::of(image, Stretch::default());
    let encoder = shipped_encoder(encoder);
    let grid = ChipGrid::new(512, 512, 32).unwrap();
    let truth = chip_truth(&simulation.labels, &grid, 4);
    let whole = map(&encoder, image, range, stage, 2, SINGLE_PASS);
    let whole_chips = whole.pool(&grid);
    let largest = whole.values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let expected = classes(&whole_chips, &truth);
    for halo_px in [0, 32, 64, 128] {
        let tiling = Tiling {
            kept_px: 256,
            halo_px,
        };
        let tiled = map(&encoder, image, range, stage, 2, tiling);
        let cells = difference(&tiled.values, &whole.values) / largest;
        let chips = tiled.pool(&grid);
        let pooled = difference(&chips.values, &whole_chips.values) / largest;
        let same = classes(&chips, &truth) == expected;
        eprintln!(
            "{} {stage}, halo {halo_px} px: largest cell difference {cells:.1e}, pooled \
             {pooled:.1e} (relative to the largest value); classifications {}",
            encoder.0.name(),
            if same { "identical" } else { "differ" }
        );
        if halo_px == Tiling::default().halo_px {
            assert!(same, "the default halo changes classifications");
            assert!(pooled < 1e-3, "pooled difference {pooled}");
        }
    }
}

/// Every chip's class for 5 draws of 3 supports per class.
fn classes(embeddings: &Embeddings, truth: &[(usize, f64)]) -> Vec<Vec<Option<usize>>> {
    let measure = ChipMeasure::euclidean(Modality::Image, embeddings);
    (0..5)
        .map(|draw| {
            let supports = draw_supports(truth, 4, 3, draw);
            segment(FusionMode::Concatenate, &[measure], &supports).assignments(None)
        })
        .collect()
}

fn difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// One embedding of every chip of a scene, named for the table.
struct Variant {
    name: String,
    embeddings: Embeddings,
}

/// Per-chip (224²) and dense embeddings of `image`'s `chip`-px chips with `encoder`, for each
/// `(stage, scale)`.
fn variants(
    file: &str,
    image: &Image,
    chip: usize,
    dense: &[(&str, usize)],
) -> (Vec<Variant>, ChipGrid) {
    let grid = ChipGrid::new(image.width(), image.height(), chip).unwrap();
    let encoder = shipped_encoder(file);
    let range = DisplayRange::of(image, Stretch::default());
    let mut variants = vec![Variant {
        name: "per chip 224²".into(),
        embeddings: embed(file, image, &grid),
    }];
    for &(stage, scale) in dense {
        let map = map(&encoder, image, range, stage, scale, Tiling::default());
        variants.push(Variant {
            name: format!("{stage} ×{scale}"),
            embeddings: map.pool(&grid),
        });
    }
    (variants, grid)
}

/// Mean chip accuracy of each variant over 20 draws of 5 supports per class.
fn accuracies(variants: &[Variant], truth: &[(usize, f64)], classes: usize) -> Vec<f64> {
    variants
        .iter()
        .map(|variant| mean_accuracy(&variant.embeddings, truth, classes, 20, 5))
        .collect()
}

/// Dense against per-chip chip accuracy on the simulated scenes (the heterostructure's four
/// regions, the grains' two lattices), clean and with Poisson noise of 8 counts a pixel, at
/// 32- and 64-px chips; printed as a table, one row per scene and chip size. Returns the
/// accuracies, per-chip first.
fn dense_against_per_chip(file: &str, dense: &[(&str, usize)]) -> Vec<Vec<f64>> {
    let scenes = [
        ("heterostructure", heterostructure(512, 1), 4),
        ("grains", grains(512, 1), 2),
    ];
    let mut rows = Vec::new();
    for (scene, simulation, classes) in &scenes {
        for noisy in [false, true] {
            let image = match noisy {
                true => with_poisson_noise(&simulation.dataset.image, 8.0, 5),
                false => simulation.dataset.image.clone(),
            };
            for chip in [32, 64] {
                let (variants, grid) = variants(file, &image, chip, dense);
                let truth = chip_truth(&simulation.labels, &grid, *classes);
                let row = accuracies(&variants, &truth, *classes);
                let cells: Vec<String> = variants
                    .iter()
                    .zip(&row)
                    .map(|(v, a)| format!("{} {a:.3}", v.name))
                    .collect();
                let noise = if noisy { "Poisson 8/px" } else { "clean" };
                eprintln!("{file}, {scene}, {noise}, {chip} px: {}", cells.join(", "));
                rows.push(row);
            }
        }
    }
    rows
}

/// MobileNetV2 over every stage and scale considered (a few minutes: run with `--ignored`).
#[test]
#[ignore]
fn dense_mobilenet_against_per_chip() {
    let rows = dense_against_per_chip(
        "mobilenet_v2",
        &[
            ("features.13", 1),
            ("features.13", 2),
            ("features.13", 4),
            ("features.6", 1),
            ("features.6", 2),
            ("features.6", 4),
            ("features.3", 2),
            ("features.16", 2),
        ],
    );
    print_means(&rows);
}

/// The mean of each column over the rows.
fn print_means(rows: &[Vec<f64>]) {
    eprintln!(
        "means, in the order above: {}",
        column_means(rows).join(", ")
    );
}

/// ResNet-50 (several minutes: run with `--ignored`).
#[test]
#[ignore]
fn dense_resnet_against_per_chip() {
    let rows = dense_against_per_chip(
        "resnet50",
        &[
            ("layer3", 1),
            ("layer3", 2),
            ("layer2", 2),
            ("layer2", 4),
            ("layer1", 2),
        ],
    );
    print_means(&rows);
}
