//! Parity with PyTorch: the shipped encoders embed real chips of a real STEM image
//! (`multi_signal.dm3`, see `common`) as torchvision does with the same weights. The reference
//! embeddings and preprocessed inputs in `tests/fixtures/encoders/` were made by
//! `scripts/weights/reference.py` (its command and versions are recorded in `cases.json`).
//! Error is measured per embedding as `max|ours − reference| / max|reference|`.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::npy;
use chipscope_core::weights::{TensorMap, read_weights};
use serde_json::Value;

/// The bound on the relative error of every embedding.
const TOLERANCE: f32 = 1e-4;

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read_npy(path: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(repo_file(path)).unwrap();
    npy::read_f32(&bytes).unwrap()
}

fn cases() -> Value {
    let text = std::fs::read_to_string(repo_file("tests/fixtures/encoders/cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture's chips as (grid, chip) pairs of the decoded image.
struct Fixture {
    image: chipscope_core::dataset::Image,
    range: DisplayRange,
    chips: Vec<(ChipGrid, Chip)>,
}

fn fixture() -> Option<Fixture> {
    let cases = cases();
    let source = cases["source"]["path"].as_str().unwrap();
    let dataset = common::read(source)?.unwrap();
    let image = dataset.image;
    let range = DisplayRange::of(&image, Stretch::default());
    let expected_range = &cases["display_range"];
    assert_eq!(range.low as f64, expected_range["low"].as_f64().unwrap());
    assert_eq!(range.high as f64, expected_range["high"].as_f64().unwrap());
    let chips = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let size = case["chip_size"].as_u64().unwrap() as usize;
            let grid = ChipGrid::new(image.width(), image.height(), size).unwrap();
            let chip = grid
                .chips()
                .nth(case["index"].as_u64().unwrap() as usize)
                .unwrap();
            assert_eq!(chip.row as u64, case["row"].as_u64().unwrap());
            assert_eq!(chip.col as u64, case["col"].as_u64().unwrap());
            (grid, chip)
        })
        .collect();
    Some(Fixture {
        image,
        range,
        chips,
    })
}

/// `max|got − want| / max|want|`.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    worst / scale
}

#[test]
fn preprocessing_matches_torch_interpolate() {
    let Some(fixture) = fixture() else { return };
    let (shape, reference) = read_npy("tests/fixtures/encoders/preprocessed.npy");
    assert_eq!(shape[1..], [224, 224]);
    let firsts_and_last = [0, fixture.chips.len() - 1];
    for (plane, &case) in reference.chunks_exact(224 * 224).zip(&firsts_and_last) {
        let (grid, chip) = &fixture.chips[case];
        let source = ChipSource {
            image: &fixture.image,
            grid,
            range: fixture.range,
        };
        let ours = source.scaled_chip(*chip);
        let worst = ours
            .iter()
            .zip(plane)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("case {case}: max preprocessing difference {worst:e}");
        assert!(worst < 1e-5, "case {case}: {worst}");
    }
}

/// Checks the encoder `file` on `device`, built by `build` (burn's engine on the device, or
/// Chipscope's kernels) and named `backend` in messages.
fn check_encoder(
    file: &str,
    device: &Device,
    backend: &str,
    build: impl Fn(&TensorMap) -> ImageEncoder,
) {
    let Some(fixture) = fixture() else { return };
    let weights =
        read_weights(&std::fs::read(repo_file(&format!("weights/{file}.safetensors"))).unwrap())
            .unwrap();
    let encoder = build(&weights);
    let (shape, reference) = read_npy(&format!("tests/fixtures/encoders/{file}.npy"));
    assert_eq!(shape, [fixture.chips.len(), encoder.dim()]);
    // Chips of one grid go through the network as one batch, so batching is covered too.
    let mut case = 0;
    while case < fixture.chips.len() {
        let grid = &fixture.chips[case].0;
        let batch: Vec<Chip> = fixture.chips[case..]
            .iter()
            .take_while(|(other, _)| other.chip_size() == grid.chip_size())
            .map(|(_, chip)| *chip)
            .collect();
        let source = ChipSource {
            image: &fixture.image,
            grid,
            range: fixture.range,
        };
        let got = encoder
            .embed_chips(source, &batch, batch.len(), device, |_| {})
            .unwrap();
        for (offset, chip) in batch.iter().enumerate() {
            let want = &reference[(case + offset) * encoder.dim()..][..encoder.dim()];
            let error = relative_error(got.row(offset), want);
            println!(
                "{} on {backend}, {}-px chip {:?}: relative error {error:.2e}",
                encoder.name(),
                grid.chip_size(),
                (chip.row, chip.col)
            );
            assert!(error < TOLERANCE, "{file} on {backend}: {error}");
        }
        case += batch.len();
    }
}

#[allow(deprecated)] // ndarray is measured against Flex; see the README
fn ndarray() -> Device {
    Device::ndarray()
}

fn check_on_burn(file: &str, device: Device, backend: &str) {
    check_encoder(file, &device, backend, |weights| {
        ImageEncoder::from_weights(weights, &device).unwrap()
    });
}

fn check_on_kernels(file: &str) {
    check_encoder(file, &Device::flex(), "Chipscope's kernels", |weights| {
        ImageEncoder::packed(weights).unwrap()
    });
}

#[test]
fn resnet50_matches_pytorch_on_ndarray() {
    check_on_burn("resnet50", ndarray(), "ndarray");
}

#[test]
fn mobilenet_v2_matches_pytorch_on_ndarray() {
    check_on_burn("mobilenet_v2", ndarray(), "ndarray");
}

#[test]
fn resnet50_matches_pytorch_on_flex() {
    check_on_burn("resnet50", Device::flex(), "Flex");
}

#[test]
fn mobilenet_v2_matches_pytorch_on_flex() {
    check_on_burn("mobilenet_v2", Device::flex(), "Flex");
}

#[test]
fn resnet50_matches_pytorch_on_the_kernels() {
    check_on_kernels("resnet50");
}

#[test]
fn mobilenet_v2_matches_pytorch_on_the_kernels() {
    check_on_kernels("mobilenet_v2");
}
