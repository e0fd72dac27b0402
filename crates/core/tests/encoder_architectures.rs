//! The ResNet layouts Chipscope accepts beyond the shipped ResNet-50: ResNet-18/34 (basic
//! blocks), ResNet-101/152 and Wide ResNet-50-2, against PyTorch without their weight files.
//! Every tensor is filled from a formula that `scripts/weights/synthetic_reference.py` applies
//! in PyTorch too, bit for bit in f32; that script recorded torchvision's pooled features in
//! `tests/fixtures/encoders/synthetic.json` (with its command and versions). The key layout is
//! generated here, independently of the encoder code, and checked against a digest of
//! torchvision's. Also covered: key prefixes, classifier heads, and the errors for files that
//! do not fit. Error is measured per input row as `max|ours − reference| / max|reference|` over
//! the sampled features, and relatively on the row's sum and norm.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use chipscope_core::encoders::{EncoderError, ImageEncoder};
use chipscope_core::weights::{TensorMap, WeightTensor};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The bound on every relative error, as for the shipped encoders.
const TOLERANCE: f64 = 1e-4;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("tests/fixtures/encoders/synthetic.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's entry for torchvision constructor `constructor`.
fn architecture(fixture: &Value, constructor: &str) -> Value {
    fixture["architectures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["torchvision"] == constructor)
        .unwrap_or_else(|| panic!("{constructor} is not in synthetic.json"))
        .clone()
}

fn as_usize(value: &Value) -> usize {
    value.as_u64().unwrap() as usize
}

/// The formula's hash of element `index` of tensor `k` (see the script).
fn hash(index: usize, k: usize) -> u32 {
    let index = u32::try_from(index).unwrap();
    let k = u32::try_from(k).unwrap();
    let mut h = index.wrapping_mul(0x9E37_79B1) ^ (k + 1).wrapping_mul(0x85EB_CA77);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7FEB_352D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846C_A68B);
    h ^= h >> 16;
    h
}

/// `u24 / 2^24 − 0.5`, exact in f32.
fn unit(index: usize, k: usize) -> f32 {
    (hash(index, k) >> 8) as f32 / 16_777_216.0 - 0.5
}

/// The formula's values of tensor `key` (number `k` in sorted key order).
fn synthetic_values(key: &str, shape: &[usize], k: usize, conv_gain: f64) -> Vec<f32> {
    let count: usize = shape.iter().product();
    match shape.len() {
        4 => {
            let fan_in = shape[1] * shape[2] * shape[3];
            let scale = (conv_gain / fan_in as f64).sqrt() as f32;
            (0..count).map(|i| unit(i, k) * scale).collect()
        }
        1 => {
            let q16 = |i| (hash(i, k) >> 16) as f32;
            let formula: fn(f32) -> f32 = if key.ends_with(".running_var") {
                |q| 0.5 + q / 65_536.0
            } else if key.ends_with(".weight") {
                |q| 0.75 + q / 131_072.0
            } else if key.ends_with(".bias") || key.ends_with(".running_mean") {
                |q| (q - 32_768.0) / 262_144.0
            } else {
                panic!("no formula for {key}")
            };
            (0..count).map(|i| formula(q16(i))).collect()
        }
        _ => panic!("no formula for {key} {shape:?}"),
    }
}

/// torchvision's state-dict layout of a ResNet without its head and `num_batches_tracked`:
/// key → shape, in sorted key order.
fn torchvision_layout(entry: &Value) -> BTreeMap<String, Vec<usize>> {
    let bottleneck = entry["bottleneck"].as_bool().unwrap();
    let blocks: Vec<usize> = entry["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_usize)
        .collect();
    let width_per_group = as_usize(&entry["width_per_group"]);
    let expansion = if bottleneck { 4 } else { 1 };

    let mut layout = BTreeMap::new();
    let mut conv_bn = |conv: String, norm: String, shape: [usize; 4]| {
        for field in ["weight", "bias", "running_mean", "running_var"] {
            layout.insert(format!("{norm}.{field}"), vec![shape[0]]);
        }
        layout.insert(format!("{conv}.weight"), shape.to_vec());
    };
    conv_bn("conv1".into(), "bn1".into(), [64, 3, 7, 7]);
    let mut in_channels = 64;
    for (layer, (&count, planes)) in blocks.iter().zip([64, 128, 256, 512]).enumerate() {
        for index in 0..count {
            let name = format!("layer{}.{index}", layer + 1);
            let stride = if layer > 0 && index == 0 { 2 } else { 1 };
            let out_channels = planes * expansion;
            let convs: Vec<[usize; 4]> = match bottleneck {
                true => {
                    let width = planes * width_per_group / 64;
                    vec![
                        [width, in_channels, 1, 1],
                        [width, width, 3, 3],
                        [out_channels, width, 1, 1],
                    ]
                }
                false => vec![[planes, in_channels, 3, 3], [planes, planes, 3, 3]],
            };
            for (number, shape) in convs.into_iter().enumerate() {
                let number = number + 1;
                conv_bn(
                    format!("{name}.conv{number}"),
                    format!("{name}.bn{number}"),
                    shape,
                );
            }
            if stride != 1 || in_channels != out_channels {
                conv_bn(
                    format!("{name}.downsample.0"),
                    format!("{name}.downsample.1"),
                    [out_channels, in_channels, 1, 1],
                );
            }
            in_channels = out_channels;
        }
    }
    layout
}

/// The digest the script records: sha256 of `"{key} {d0}x{d1}…\n"` per tensor, in key order.
fn layout_digest(layout: &BTreeMap<String, Vec<usize>>) -> String {
    let mut hasher = Sha256::new();
    for (key, shape) in layout {
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        hasher.update(format!("{key} {}\n", dims.join("x")));
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The synthetic state dict of the fixture's `entry`, keys prefixed by `prefix`.
fn synthetic_weights(fixture: &Value, entry: &Value, prefix: &str) -> TensorMap {
    let conv_gain = fixture["formula"]["conv_gain"].as_f64().unwrap();
    torchvision_layout(entry)
        .into_iter()
        .enumerate()
        .map(|(k, (key, shape))| {
            let values = synthetic_values(&key, &shape, k, conv_gain);
            (format!("{prefix}{key}"), WeightTensor { shape, values })
        })
        .collect()
}

/// The formula's input batch: fine noise plus a coarse pattern of square cells.
fn synthetic_input(fixture: &Value, device: &Device) -> Tensor<4> {
    let formula = &fixture["formula"];
    let shape: Vec<usize> = formula["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_usize)
        .collect();
    let [batch, channels, height, width] = shape[..] else {
        panic!("input_shape {shape:?}")
    };
    let cell = as_usize(&formula["input_cell"]);
    let (fine_k, coarse_k) = (
        as_usize(&formula["input_fine_k"]),
        as_usize(&formula["input_coarse_k"]),
    );
    let mut values = Vec::with_capacity(batch * channels * height * width);
    for plane in 0..batch * channels {
        for y in 0..height {
            for x in 0..width {
                let i = (plane * height + y) * width + x;
                let j = (plane * (height / cell) + y / cell) * (width / cell) + x / cell;
                values.push(2.0 * unit(i, fine_k) + 2.0 * unit(j, coarse_k));
            }
        }
    }
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The pooled features of `input`, `[batch, dim]` row-major.
fn features(encoder: &ImageEncoder, input: Tensor<4>) -> Vec<f32> {
    encoder
        .forward(input)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
}

fn load(weights: &TensorMap) -> ImageEncoder {
    match ImageEncoder::from_weights(weights, &Device::flex()) {
        Ok(encoder) => encoder,
        Err(error) => panic!("the weights did not load: {error}"),
    }
}

fn load_error(weights: &TensorMap) -> EncoderError {
    match ImageEncoder::from_weights(weights, &Device::flex()) {
        Ok(encoder) => panic!("the weights loaded as {}", encoder.name()),
        Err(error) => error,
    }
}

/// `max|got − want| / max|want|`.
fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (g, w)| m.max((g - w).abs()));
    worst / scale
}

/// Builds the fixture's `constructor` from synthetic weights and compares its features.
fn check_architecture(constructor: &str) {
    let fixture = fixture();
    let entry = architecture(&fixture, constructor);
    let start = Instant::now();
    let weights = synthetic_weights(&fixture, &entry, "");
    assert_eq!(weights.len(), as_usize(&entry["tensors"]));
    let encoder = load(&weights);
    let loaded = start.elapsed();
    assert_eq!(encoder.name(), entry["name"].as_str().unwrap());
    assert_eq!(encoder.dim(), as_usize(&entry["dim"]));

    let device = Device::flex();
    let got = features(&encoder, synthetic_input(&fixture, &device));
    let dim = encoder.dim();
    let rows = entry["rows"].as_array().unwrap();
    assert_eq!(got.len(), rows.len() * dim);
    let indices: Vec<usize> = entry["sample_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_usize)
        .collect();
    for (index, (row, reference)) in got.chunks_exact(dim).zip(rows).enumerate() {
        let want: Vec<f64> = reference["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_f64().unwrap())
            .collect();
        let ours: Vec<f64> = indices.iter().map(|&i| row[i] as f64).collect();
        let sampled = relative_error(&ours, &want);
        let relative = |ours: f64, key: &str| {
            let want = reference[key].as_f64().unwrap();
            (ours - want).abs() / want.abs()
        };
        let sum = relative(row.iter().map(|&v| v as f64).sum(), "sum");
        let norm = relative(
            row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt(),
            "norm",
        );
        let max = relative(row.iter().fold(0f32, |m, &v| m.max(v)) as f64, "max");
        println!(
            "{}, row {index}: relative error {sampled:.2e} over {} sampled features; \
             sum {sum:.2e}, norm {norm:.2e}, max {max:.2e}",
            encoder.name(),
            indices.len()
        );
        for (what, error) in [
            ("sampled", sampled),
            ("sum", sum),
            ("norm", norm),
            ("max", max),
        ] {
            assert!(
                error < TOLERANCE,
                "{constructor}, row {index}, {what}: {error:e}"
            );
        }
    }
    println!(
        "{}: {} tensors built and loaded in {:.1?}, total {:.1?}",
        encoder.name(),
        weights.len(),
        loaded,
        start.elapsed()
    );
}

#[test]
fn generated_layouts_are_torchvisions() {
    let fixture = fixture();
    for entry in fixture["architectures"].as_array().unwrap() {
        let layout = torchvision_layout(entry);
        assert_eq!(layout.len(), as_usize(&entry["tensors"]), "{entry:#}");
        assert_eq!(
            layout_digest(&layout),
            entry["layout_sha256"].as_str().unwrap(),
            "{}",
            entry["torchvision"]
        );
    }
}

#[test]
fn resnet18_matches_pytorch() {
    check_architecture("resnet18");
}

#[test]
fn resnet34_matches_pytorch() {
    check_architecture("resnet34");
}

#[test]
fn resnet101_matches_pytorch() {
    check_architecture("resnet101");
}

#[test]
fn resnet152_matches_pytorch() {
    check_architecture("resnet152");
}

#[test]
fn wide_resnet50_2_matches_pytorch() {
    check_architecture("wide_resnet50_2");
}

/// The name and the features of the fixture's input of the encoder `weights` describe.
fn features_of(fixture: &Value, weights: &TensorMap) -> (String, Vec<f32>) {
    let encoder = load(weights);
    let input = synthetic_input(fixture, &Device::flex());
    (encoder.name().to_string(), features(&encoder, input))
}

#[test]
fn a_key_prefix_gives_identical_features() {
    let fixture = fixture();
    // Basic blocks, and bottlenecks with a projection shortcut in every layer.
    for constructor in ["resnet18", "wide_resnet50_2"] {
        let entry = architecture(&fixture, constructor);
        let plain = features_of(&fixture, &synthetic_weights(&fixture, &entry, ""));
        for prefix in ["module.", "model.backbone."] {
            let prefixed = synthetic_weights(&fixture, &entry, prefix);
            assert!(prefixed.keys().all(|key| key.starts_with(prefix)));
            assert_eq!(features_of(&fixture, &prefixed), plain, "{prefix}");
        }
    }
}

#[test]
fn a_classifier_head_is_ignored() {
    let fixture = fixture();
    let entry = architecture(&fixture, "resnet18");
    for prefix in ["", "module."] {
        let plain = synthetic_weights(&fixture, &entry, prefix);
        let mut with_head = plain.clone();
        let head = |shape: Vec<usize>| WeightTensor {
            values: (0..shape.iter().product()).map(|i| unit(i, 7)).collect(),
            shape,
        };
        with_head.insert(format!("{prefix}fc.weight"), head(vec![1000, 512]));
        with_head.insert(format!("{prefix}fc.bias"), head(vec![1000]));
        assert_eq!(
            features_of(&fixture, &with_head),
            features_of(&fixture, &plain)
        );
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let fixture = fixture();
    for (constructor, missing) in [
        ("resnet18", "bn1.running_var"),
        ("resnet18", "layer1.1.conv2.weight"),
        ("resnet18", "layer2.0.downsample.0.weight"),
        ("resnet18", "layer3.0.downsample.1.bias"),
        ("resnet18", "layer4.1.bn2.running_mean"),
        ("wide_resnet50_2", "layer1.0.downsample.0.weight"),
        ("wide_resnet50_2", "layer3.5.conv3.weight"),
    ] {
        let entry = architecture(&fixture, constructor);
        for prefix in ["", "module."] {
            let mut weights = synthetic_weights(&fixture, &entry, prefix);
            let key = format!("{prefix}{missing}");
            assert!(weights.remove(&key).is_some(), "{key}");
            let error = load_error(&weights);
            let message = error.to_string();
            println!("{constructor} without {key}: {message}");
            assert!(
                matches!(&error, EncoderError::MissingTensor(name) if *name == key),
                "{constructor} without {key}: {message}"
            );
            assert!(message.contains(&key), "{message}");
        }
    }
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    let fixture = fixture();
    let entry = architecture(&fixture, "resnet18");
    for (key, wrong) in [
        ("layer3.0.conv2.weight", vec![256, 128, 3, 3]),
        ("layer1.0.conv1.weight", vec![64, 64, 1, 1]),
        ("layer2.0.downsample.0.weight", vec![128, 64, 3, 3]),
        ("layer4.1.conv1.weight", vec![512, 512, 3]),
    ] {
        for prefix in ["", "module."] {
            let mut weights = synthetic_weights(&fixture, &entry, prefix);
            let key = format!("{prefix}{key}");
            let tensor = weights.get_mut(&key).unwrap();
            let right = format!("{:?}", tensor.shape);
            tensor.values.resize(wrong.iter().product(), 0.5);
            tensor.shape = wrong.clone();
            let error = load_error(&weights);
            let message = error.to_string();
            println!("{key} as {wrong:?}: {message}");
            assert!(
                matches!(&error, EncoderError::WrongShape { name, shape, .. }
                    if *name == key && *shape == wrong),
                "{message}"
            );
            assert!(message.contains(&key), "{message}");
            assert!(message.contains(&format!("{wrong:?}")), "{message}");
            if wrong.len() == 4 {
                assert!(message.contains(&right), "{message}");
            }
        }
    }
}

#[test]
fn other_files_are_not_taken_for_encoders() {
    let tensor = |shape: Vec<usize>| WeightTensor {
        values: vec![0.0; shape.iter().product()],
        shape,
    };
    let unrelated: TensorMap = [
        ("decoder.bias", vec![10]),
        ("encoder.layers.0.attention.weight", vec![10, 10]),
        ("encoder.layers.0.norm.weight", vec![10]),
    ]
    .into_iter()
    .map(|(key, shape)| (key.to_string(), tensor(shape)))
    .collect();
    for weights in [TensorMap::new(), unrelated] {
        let error = load_error(&weights);
        let message = error.to_string();
        println!("{} tensors: {message}", weights.len());
        assert!(matches!(error, EncoderError::UnknownArchitecture(_)));
        assert!(
            message.contains("not a torchvision ResNet or MobileNetV2"),
            "{message}"
        );
        match weights.keys().next() {
            Some(first) => assert!(message.contains(first), "{message}"),
            None => assert!(message.contains("no float tensors"), "{message}"),
        }
    }
}
