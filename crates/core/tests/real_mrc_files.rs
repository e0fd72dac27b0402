//! MRC files written by `scripts/mrc_fixtures.py` with mrcfile 1.5.4 (Python 3.11.7) into
//! `tests/fixtures/mrc/` (our own data). The reference values are what the script prints from
//! `mrcfile.open(f)`: `data` (its first frame for the stack; `abs` for complex) shape, dtype,
//! sum and pixels, and `voxel_size`. Pixel (x, y) of the 7 × 5 images holds the script's
//! `value(x, y)`, recomputed here.

mod common;

use chipscope_core::dataset::{Dataset, SampleType};
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{DecodeError, Limits, decode};
use common::pixel_sum;
use std::path::PathBuf;

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mrc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(name: &str) -> Dataset {
    decode(name, &fixture_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Asserts the size, type, 1.5 Å (0.15 nm) calibration and every pixel against `value(x, y)`.
fn assert_image(name: &str, sample_type: SampleType, value: impl Fn(i32, i32) -> f32) {
    let dataset = read(name);
    assert_eq!((dataset.image.width(), dataset.image.height()), (7, 5));
    assert_eq!(dataset.metadata.format, "MRC");
    assert_eq!(dataset.metadata.sample_type, sample_type, "{name}");
    let calibration = dataset.calibration.as_ref().expect(name);
    assert_eq!(calibration.unit, "nm");
    assert!((calibration.pixel_size - 0.15).abs() < 1e-9, "{name}");
    for y in 0..5 {
        for x in 0..7 {
            let got = dataset.image.get(x as usize, y as usize);
            assert_eq!(got, value(x, y), "{name} at ({x}, {y})");
        }
    }
}

fn float_value(x: i32, y: i32) -> f32 {
    (x as f32 - 2.5 * y as f32) * 0.75 + 0.125
}

fn int16_value(x: i32, y: i32) -> f32 {
    (3000 * x - 7000 * y) as f32
}

#[test]
fn every_mode_mrcfile_writes() {
    assert_image("int8.mrc", SampleType::I8, |x, y| {
        (17 * x - 29 * y + 3) as f32
    });
    assert_image("int16.mrc", SampleType::I16, int16_value);
    assert_image("float32.mrc", SampleType::F32, float_value);
    assert_image("uint16.mrc", SampleType::U16, |x, y| {
        (1000 * x + 7 * y + 40_000) as f32
    });
    assert_image("float16.mrc", SampleType::F16, float_value);
    assert_eq!(pixel_sum(&read("int8.mrc")), -140.0);
    assert_eq!(pixel_sum(&read("int16.mrc")), -175_000.0);
    assert_eq!(pixel_sum(&read("float32.mrc")), -48.125);
    assert_eq!(pixel_sum(&read("uint16.mrc")), 1_505_490.0);
    assert_eq!(pixel_sum(&read("float16.mrc")), -48.125);
    for name in ["int8.mrc", "float32.mrc", "float16.mrc"] {
        assert!(read(name).metadata.notes.is_empty(), "{name}");
    }
}

#[test]
fn complex_image_shows_its_modulus() {
    let modulus = |x: i32, y: i32| ((x + 1) as f32).hypot((y - 2) as f32);
    assert_image("complex64.mrc", SampleType::F32, modulus);
    let dataset = read("complex64.mrc");
    assert!((pixel_sum(&dataset) - 150.641_053_438_186_65).abs() < 1e-4);
    assert_eq!(dataset.image.get(6, 4), 7.28011);
    assert_eq!(
        dataset.metadata.notes,
        ["complex data: the modulus is shown"]
    );
}

#[test]
fn unequal_voxel_sizes_leave_the_image_uncalibrated() {
    let dataset = read("unequal.mrc");
    assert_eq!(dataset.calibration, None);
    assert_eq!(
        dataset.metadata.notes,
        ["axes calibrated differently (0.15 nm, 0.2 nm); sizes in pixels"]
    );
    assert_eq!(pixel_sum(&dataset), -48.125);
}

#[test]
fn stack_gives_its_first_frame() {
    let dataset = read("stack.mrcs");
    assert_eq!((dataset.image.width(), dataset.image.height()), (12, 10));
    assert_eq!(pixel_sum(&dataset), -502.5);
    assert_eq!(dataset.image.get(0, 1), -1.75);
    assert_eq!(dataset.image.get(11, 9), -8.5);
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 3 frames; the first was read"]
    );
    assert!((dataset.calibration.unwrap().pixel_size - 0.15).abs() < 1e-9);
}

/// As a series, frame k is the first plus 100 k everywhere (the script's `value + 100 k`):
/// `mrcfile.open(f).data[k]`.
#[test]
fn stack_opens_as_a_series_of_its_frames() {
    let bytes = fixture_bytes("stack.mrcs");
    let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!((series.len(), series.frame_size()), (3, (12, 10)));
    for k in 0..3 {
        let frame = series.frame(k).unwrap();
        assert_eq!(pixel_sum(&frame), -502.5 + 100.0 * 120.0 * k as f64);
        assert_eq!(frame.image.get(0, 1), -1.75 + 100.0 * k as f32);
    }
    // A single image is no series.
    assert!(
        Series::open(&fixture_bytes("float32.mrc"), &Limits::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn extended_header_and_big_endian_files() {
    assert_image("extended.mrc", SampleType::I16, int16_value);
    assert_image("big_endian.mrc", SampleType::I16, int16_value);
    assert_eq!(pixel_sum(&read("big_endian.mrc")), -175_000.0);
}

#[test]
fn truncated_files_are_damaged_not_a_panic() {
    for name in ["stack.mrcs", "extended.mrc", "complex64.mrc"] {
        let bytes = fixture_bytes(name);
        for sevenths in 1..7 {
            let cut = bytes.len() * sevenths / 7;
            let error = decode(name, &bytes[..cut]).unwrap_err();
            // Cut before the `MAP ` tag at byte 208, nothing says the file is MRC.
            let expected = if cut < 212 {
                matches!(error, DecodeError::Unrecognised { .. })
            } else {
                matches!(error, DecodeError::Corrupt { format: "MRC", .. })
            };
            assert!(expected, "{name} cut at {cut}: {error}");
        }
    }
}
