//! Real EMSA/MSA spectra, Lispix ripple spectrum images and DigitalMicrograph spectra (see
//! `common`), read by the small spectral readers.
//!
//! Reference values come from RosettaSciIO 0.15.0 (Python 3.11, numpy), run in the test-data
//! folder `$HOME/.cache/chipscope/testdata/hyperspy`:
//! - MSA: `d = rsciio.msa.file_reader(path)[0]`; `d["axes"][0]` gives offset, scale and units,
//!   `y = d["data"]` gives `y.shape`, `float(y.sum())`, `y[0]`, `y[-1]`, `y.argmax()`, `y.max()`.
//! - Ripple: `d = rsciio.ripple.file_reader(path)[0]`: every file holds `np.arange(n)` in the
//!   shape `d["data"].shape` — `(depth,)`, `(width, depth)` or `(height, width, depth)` for
//!   `record-by vector`, `(depth, height, width)` for `record-by image` — with the axes of
//!   `d["axes"]` (offset, scale, units per axis).
//! - DigitalMicrograph: `d = rsciio.digitalmicrograph.file_reader(path)[0]`, `y =
//!   d["data"].astype(float)`, `i = np.arange(y.size)`: `y.sum()`, `(i * y).sum()`,
//!   `y.argmax()`, `y[0]`, `y[-1]`, and the axes of `d["axes"]`. For `EELS_SI.dm4` (`y` of shape
//!   (energy, y, x)): `(y != np.round(y)).sum()`, `(y < 0).sum()`, and for the floored counts
//!   `c = np.floor(np.clip(y, 0, None))`: `c.sum()`, `c.sum(axis=0)`, `s = c.sum(axis=(1, 2))`
//!   with `s.argmax()`, `s.max()`, `s.reshape(-1, 4).sum(axis=1)[:4]`, `c[100:105, 0, 1]`; the
//!   data offset 156 270 is `Data.offset` of rsciio's parsed tags.

mod common;

use chipscope_core::formats::dm::DM;
use chipscope_core::formats::msa::MSA;
use chipscope_core::formats::ripple::{RIPPLE, read_pair};
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::formats::{DecodeError, Limits, Select};
use chipscope_core::spectra::{EnergyAxis, Spectrum};
use std::time::Instant;

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} ≠ {expected}"
    );
}

fn assert_axis(axis: &EnergyAxis, offset_kev: f64, scale_kev: f64, channels: usize) {
    assert_close(axis.offset_kev, offset_kev, "offset");
    assert_close(axis.scale_kev, scale_kev, "scale");
    assert_eq!(axis.channels, channels);
}

fn spectrum_of(file: SpectralFile) -> Spectrum {
    assert!(file.map.is_none());
    file.spectrum.expect("a spectrum")
}

/// Sum, `Σ i × value`, argmax and maximum of a spectrum.
fn summary(counts: &[f64]) -> (f64, f64, usize, f64) {
    let sum = counts.iter().sum();
    let weighted = counts.iter().enumerate().map(|(i, v)| i as f64 * v).sum();
    let (argmax, max) =
        counts.iter().enumerate().fold(
            (0, f64::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        );
    (sum, weighted, argmax, max)
}

/// `bytes` cut at 1/7 … 6/7 of their length and at `last_cut`: each must be refused as
/// damaged, without a panic.
fn assert_cuts_are_corrupt(
    bytes: &[u8],
    last_cut: usize,
    read: impl Fn(&[u8]) -> Result<SpectralFile, DecodeError>,
) {
    let cuts = (1..7).map(|k| bytes.len() * k / 7).chain([last_cut]);
    for cut in cuts {
        match read(&bytes[..cut]) {
            Err(DecodeError::Corrupt { detail, .. }) => println!("cut at {cut}: {detail}"),
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EMSA/MSA

#[test]
fn msa_xy_spectrum_matches_rosettasciio() {
    for name in ["example1.msa", "example1_wrong_date.msa"] {
        let Some(bytes) = common::bytes(&format!("msa_files/{name}")) else {
            return;
        };
        assert!(MSA.recognises(&bytes));
        let file = MSA.read_spectra(&bytes, 1).unwrap();
        assert_eq!(file.format, "EMSA/MSA");
        assert_eq!(file.notes, ["the header announces 20 points; 21 were read"]);
        let spectrum = spectrum_of(file);
        // rsciio: 21 values, offset 520.13 eV, scale 3.1 eV.
        assert_axis(&spectrum.axis, 0.52013, 0.0031, 21);
        let (sum, _, argmax, max) = summary(&spectrum.counts);
        println!("{name}: {} channels, sum {sum}", spectrum.counts.len());
        assert_eq!((sum, argmax, max), (104_070.0, 7, 7809.0));
        assert_eq!((spectrum.counts[0], spectrum.counts[20]), (4066.0, 4217.0));
    }
}

#[test]
fn msa_y_spectrum_matches_rosettasciio() {
    let Some(bytes) = common::bytes("msa_files/example2.msa") else {
        return;
    };
    let file = MSA.read_spectra(&bytes, 1).unwrap();
    assert!(file.notes.is_empty(), "{:?}", file.notes);
    let spectrum = spectrum_of(file);
    // rsciio: 80 values, offset 200 eV, scale 10 eV.
    assert_axis(&spectrum.axis, 0.2, 0.01, 80);
    let (sum, _, argmax, max) = summary(&spectrum.counts);
    println!("example2.msa: 80 channels, sum {sum}");
    assert_close(sum, 21_060.105, "sum");
    assert_eq!((argmax, max), (64, 872.97));
    assert_eq!((spectrum.counts[0], spectrum.counts[79]), (65.82, 49.442));
}

#[test]
fn msa_without_unit_is_read_in_ev_with_a_note() {
    let Some(bytes) = common::bytes("msa_files/minimum_metadata.msa") else {
        return;
    };
    let file = MSA.read_spectra(&bytes, 1).unwrap();
    assert_eq!(file.notes, ["the file gives no energy unit: eV assumed"]);
    let spectrum = spectrum_of(file);
    // rsciio: 1 value (0.0), offset 0, scale 1, no unit.
    assert_axis(&spectrum.axis, 0.0, 0.001, 1);
    assert_eq!(spectrum.counts, [0.0]);
}

#[test]
fn truncated_msa_files_are_damaged_not_a_panic() {
    let Some(bytes) = common::bytes("msa_files/example2.msa") else {
        return;
    };
    // The last 40 bytes hold the end of the data and #ENDOFDATA.
    assert_cuts_are_corrupt(&bytes, bytes.len() - 40, |cut| MSA.read_spectra(cut, 1));
}

#[test]
fn other_formats_are_not_taken_for_msa() {
    for path in [
        "ripple_files/test_ripple_sdim-1_ndim-2_uint16.rpl",
        "dm3_1D_data/test-EDS_spectrum.dm3",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        assert!(!MSA.recognises(&bytes), "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Lispix ripple

fn ripple_pair(stem: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let rpl = common::bytes(&format!("ripple_files/{stem}.rpl"))?;
    let raw = common::bytes(&format!("ripple_files/{stem}.raw"))?;
    Some((rpl, raw))
}

const RIPPLE_TYPES: [&str; 6] = ["uint8", "uint16", "int32", "int64", "float32", "float64"];

#[test]
fn ripple_single_spectra_match_rosettasciio() {
    for data_type in RIPPLE_TYPES {
        for meta in ["", "_meta"] {
            let stem = format!("test_ripple_sdim-1_ndim-0_{data_type}{meta}");
            let Some((rpl, raw)) = ripple_pair(&stem) else {
                return;
            };
            assert!(RIPPLE.recognises(&rpl), "{stem}");
            let file = read_pair(&rpl, &raw, 1, &Limits::default()).unwrap();
            assert!(file.notes.is_empty(), "{stem}: {:?}", file.notes);
            let spectrum = spectrum_of(file);
            // rsciio: [0, 1, 2], offset 0.5 eV, scale 100 eV.
            assert_axis(&spectrum.axis, 0.0005, 0.1, 3);
            assert_eq!(spectrum.counts, [0.0, 1.0, 2.0], "{stem}");
        }
    }
}

#[test]
fn ripple_line_and_map_match_rosettasciio() {
    for data_type in RIPPLE_TYPES {
        for meta in ["", "_meta"] {
            // rsciio: arange(6) as (width 2, depth 3): offset 1 eV, scale 200 eV; x: 100 m.
            let stem = format!("test_ripple_sdim-1_ndim-1_{data_type}{meta}");
            let Some((rpl, raw)) = ripple_pair(&stem) else {
                return;
            };
            let file = read_pair(&rpl, &raw, 1, &Limits::default()).unwrap();
            let line = file.map.expect("a map");
            assert_eq!((line.width, line.height), (2, 1), "{stem}");
            assert_axis(&line.axis, 0.001, 0.2, 3);
            let calibration = line.calibration.as_ref().unwrap();
            assert_eq!(
                (calibration.pixel_size, calibration.unit.as_str()),
                (100.0, "m")
            );
            assert_eq!(
                line.pixel(1, 0).collect::<Vec<_>>(),
                [(0, 3), (1, 4), (2, 5)]
            );
            assert_eq!(line.total_counts(), 15);

            // rsciio: arange(24) as (height 2, width 3, depth 4): offset 1.5 eV, scale 300 eV;
            // x scale 200 m, y scale 100 m (different: no pixel size).
            let stem = format!("test_ripple_sdim-1_ndim-2_{data_type}{meta}");
            let Some((rpl, raw)) = ripple_pair(&stem) else {
                return;
            };
            let map = read_pair(&rpl, &raw, 1, &Limits::default())
                .unwrap()
                .map
                .expect("a map");
            assert_eq!((map.width, map.height), (3, 2), "{stem}");
            assert_axis(&map.axis, 0.0015, 0.3, 4);
            assert!(map.calibration.is_none());
            for (x, y) in [(0, 0), (2, 0), (1, 1), (2, 1)] {
                let first = 4 * (3 * y + x) as u32;
                let expected: Vec<_> = (0..4)
                    .map(|c| (c, first + c as u32))
                    .filter(|&(_, n)| n > 0)
                    .collect();
                assert_eq!(map.pixel(x, y).collect::<Vec<_>>(), expected, "{stem}");
            }
            assert_eq!(map.total_counts(), (0..24).sum::<u64>());
            assert_eq!(map.beam_kv, (!meta.is_empty()).then_some(100.0));
        }
    }
}

#[test]
fn ripple_image_order_is_read_with_strides() {
    // The record-by image files are stacks of images (depth in metres); relabelled in eV they
    // are spectrum images of 4 × 3 pixels and 2 channels: rsciio's arange(24) as (depth 2,
    // height 3, width 4), so channel c of pixel (x, y) holds 12 c + 4 y + x.
    for data_type in RIPPLE_TYPES {
        let stem = format!("test_ripple_sdim-2_ndim-1_{data_type}");
        let Some((rpl, raw)) = ripple_pair(&stem) else {
            return;
        };
        let error = read_pair(&rpl, &raw, 1, &Limits::default()).unwrap_err();
        assert!(error.to_string().contains("a stack of 2 images"), "{error}");
        let text = String::from_utf8(rpl)
            .unwrap()
            .replace("depth-units\tm", "depth-units\teV");
        let map = read_pair(text.as_bytes(), &raw, 1, &Limits::default())
            .unwrap()
            .map
            .expect("a map");
        assert_eq!((map.width, map.height), (4, 3));
        assert_axis(&map.axis, 0.0005, 0.1, 2);
        for (x, y) in [(0, 0), (3, 0), (1, 2)] {
            let expected: Vec<_> = (0..2)
                .map(|c| (c, (12 * c + 4 * y + x) as u32))
                .filter(|&(_, n)| n > 0)
                .collect();
            assert_eq!(map.pixel(x, y).collect::<Vec<_>>(), expected, "{stem}");
        }
    }
}

#[test]
fn ripple_single_images_are_refused_with_a_reason() {
    let Some((rpl, raw)) = ripple_pair("test_ripple_sdim-2_ndim-0_uint16") else {
        return;
    };
    let error = read_pair(&rpl, &raw, 1, &Limits::default()).unwrap_err();
    assert!(matches!(error, DecodeError::Unsupported { .. }), "{error}");
    println!("{error}");
}

#[test]
fn ripple_header_alone_asks_for_its_raw_file() {
    let Some((rpl, _)) = ripple_pair("test_ripple_sdim-1_ndim-2_uint16") else {
        return;
    };
    let error = RIPPLE.read_spectra(&rpl, 1).unwrap_err();
    assert!(
        error.to_string().contains("together with its .raw file"),
        "{error}"
    );
}

#[test]
fn truncated_ripple_files_are_damaged_not_a_panic() {
    let Some((rpl, raw)) = ripple_pair("test_ripple_sdim-1_ndim-2_uint16_meta") else {
        return;
    };
    // Keys are sorted, so the header's sevenths lose 'width', and the last cut falls inside it.
    let width_line = rpl.windows(7).position(|w| w == b"\nwidth\t").unwrap();
    assert_cuts_are_corrupt(&rpl, width_line + 3, |cut| {
        read_pair(cut, &raw, 1, &Limits::default())
    });
    assert_cuts_are_corrupt(&raw, raw.len() - 1, |cut| {
        read_pair(&rpl, cut, 1, &Limits::default())
    });
}

// ---------------------------------------------------------------------------------------------
// DigitalMicrograph

#[test]
fn dm_eds_spectrum_matches_rosettasciio() {
    let Some(bytes) = common::bytes("dm3_1D_data/test-EDS_spectrum.dm3") else {
        return;
    };
    assert!(DM.offers(&bytes, Select::Spectra));
    let file = DM.read_spectra(&bytes, 1).unwrap();
    assert!(file.notes.is_empty(), "{:?}", file.notes);
    let spectrum = spectrum_of(file);
    // rsciio: 4096 channels, offset −0.47799998168647306 keV, scale 0.004999999888241291 keV.
    assert_axis(
        &spectrum.axis,
        -0.47799998168647306,
        0.004999999888241291,
        4096,
    );
    let (sum, weighted, argmax, max) = summary(&spectrum.counts);
    println!("test-EDS_spectrum.dm3: 4096 channels, sum {sum}");
    assert_eq!(
        (sum, weighted, argmax, max),
        (17_051.0, 1_637_430.0, 96, 3525.0)
    );
}

#[test]
fn dm_eels_spectrum_keeps_its_intensities() {
    let Some(bytes) = common::bytes("dm3_1D_data/test-EELS_spectrum.dm3") else {
        return;
    };
    let spectrum = spectrum_of(DM.read_spectra(&bytes, 1).unwrap());
    // rsciio: 2048 channels, offset −100 eV, scale 0.5 eV; float32 intensities.
    assert_axis(&spectrum.axis, -0.1, 0.0005, 2048);
    let (sum, weighted, argmax, _) = summary(&spectrum.counts);
    assert!((sum + 7678.557067871094).abs() < 1e-6, "{sum}");
    assert!((weighted + 10_929_578.903686523).abs() < 1e-3, "{weighted}");
    assert_eq!(argmax, 2039);
    assert_eq!(spectrum.counts[0], -20.6795654296875);
    assert_eq!(spectrum.counts[2047], -113.7320556640625);
}

#[test]
fn dm_uncalibrated_spectra_of_every_real_type() {
    // HyperSpy's test files: [1, 2] (a binary image: both true) in each DM data type.
    for version in [3, 4] {
        for (code, expected) in [
            (1, [1.0, 2.0]),
            (2, [1.0, 2.0]),
            (6, [1.0, 2.0]),
            (7, [1.0, 2.0]),
            (9, [1.0, 2.0]),
            (10, [1.0, 2.0]),
            (11, [1.0, 2.0]),
            (12, [1.0, 2.0]),
            (14, [1.0, 1.0]),
        ] {
            let path = format!("dm{version}_1D_data/test-{code}.dm{version}");
            let Some(bytes) = common::bytes(&path) else {
                return;
            };
            assert!(DM.offers(&bytes, Select::Spectra), "{path}");
            let file = DM.read_spectra(&bytes, 1).unwrap();
            assert_eq!(file.notes, ["the spectral axis has no unit: eV assumed"]);
            let spectrum = spectrum_of(file);
            assert_axis(&spectrum.axis, 0.0, 0.001, 2);
            assert_eq!(spectrum.counts, expected, "{path}");
        }
        for code in [3, 5, 8, 13, 23] {
            let path = format!("dm{version}_1D_data/test-{code}.dm{version}");
            let Some(bytes) = common::bytes(&path) else {
                return;
            };
            let error = DM.read_spectra(&bytes, 1).unwrap_err();
            assert!(
                matches!(error, DecodeError::Unsupported { .. }),
                "{path}: {error}"
            );
        }
    }
}

#[test]
fn dm_eels_spectrum_image_is_refused_as_intensities() {
    let Some(bytes) = common::bytes("dm4_3D_data/EELS_SI.dm4") else {
        return;
    };
    assert!(DM.offers(&bytes, Select::Spectra));
    let error = DM.read_spectra(&bytes, 1).unwrap_err();
    println!("EELS_SI.dm4: {error}");
    // rsciio: 8180 of the 8192 values are not whole, 14 are negative.
    assert!(matches!(error, DecodeError::Unsupported { .. }));
    assert!(
        error
            .to_string()
            .contains("(8180 values not whole, 14 negative)"),
        "{error}"
    );
    // Opened as an image, it is refused for the same reason.
    let image_error = common::read("dm4_3D_data/EELS_SI.dm4")
        .unwrap()
        .unwrap_err();
    assert!(
        image_error
            .to_string()
            .contains("(8180 values not whole, 14 negative)"),
        "{image_error}"
    );
}

/// `EELS_SI.dm4` with its float32 values replaced by `floor(max(v, 0))`: whole counts.
fn eels_si_as_counts() -> Option<Vec<u8>> {
    let mut bytes = common::bytes("dm4_3D_data/EELS_SI.dm4")?;
    let data = 156_270..156_270 + 4 * 2 * 2 * 2048;
    for sample in bytes[data].chunks_exact_mut(4) {
        let value = f32::from_le_bytes(sample.try_into().unwrap());
        sample.copy_from_slice(&value.max(0.0).floor().to_le_bytes());
    }
    Some(bytes)
}

#[test]
fn dm_spectrum_image_of_counts_matches_rosettasciio() {
    let Some(bytes) = eels_si_as_counts() else {
        return;
    };
    let start = Instant::now();
    let file = DM.read_spectra(&bytes, 1).unwrap();
    println!("EELS_SI.dm4 as counts read in {:?}", start.elapsed());
    assert!(file.notes.is_empty(), "{:?}", file.notes);
    assert!(file.images.is_empty());
    let map = file.map.expect("a map");
    // rsciio: x, y of 2 px at 0.0019920736085623503 µm; 2048 channels from 300 eV, 1 eV wide.
    assert_eq!((map.width, map.height), (2, 2));
    assert_axis(&map.axis, 0.3, 0.001, 2048);
    let calibration = map.calibration.as_ref().unwrap();
    assert_eq!(calibration.unit, "µm");
    assert_close(calibration.pixel_size, 0.0019920736085623503, "pixel size");
    assert_eq!(map.beam_kv, Some(200.0));
    println!(
        "EELS_SI.dm4 as counts: {} counts, {} bytes sparse",
        map.total_counts(),
        map.memory_bytes()
    );
    assert_eq!(map.total_counts(), 7_165_129);
    let pixel_totals: Vec<u64> = [(0, 0), (1, 0), (0, 1), (1, 1)]
        .iter()
        .map(|&(x, y)| map.region_sum(x, y, 1, 1).iter().sum())
        .collect();
    assert_eq!(pixel_totals, [1_857_975, 1_721_294, 1_752_367, 1_833_493]);
    let sum = map.sum_spectrum();
    assert_eq!((sum[0], sum[2], sum[2047]), (32_558, 32_789, 337));
    let pixel: Vec<_> = map
        .pixel(1, 0)
        .filter(|&(c, _)| (100..105).contains(&c))
        .collect();
    assert_eq!(
        pixel,
        [
            (100, 3784),
            (101, 3825),
            (102, 4029),
            (103, 4115),
            (104, 4015)
        ]
    );

    let binned = DM.read_spectra(&bytes, 4).unwrap().map.unwrap();
    assert_axis(&binned.axis, 0.3, 0.004, 512);
    assert_eq!(
        binned.sum_spectrum()[..4],
        [130_140, 125_188, 118_902, 114_541]
    );
    assert_eq!(binned.total_counts(), 7_165_129);
}

#[test]
fn dm_cathodoluminescence_is_refused_for_its_wavelength_axis() {
    for path in [
        "dm4_2D_data/test-MonarcCL_spectrum-SI.dm4",
        "dm4_2D_data/test-MonoCL_spectrum-SI.dm4",
        "dm4_1D_data/test-MonoCL_spectrum-ccd.dm4",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        assert!(DM.offers(&bytes, Select::Spectra), "{path}");
        let error = DM.read_spectra(&bytes, 1).unwrap_err();
        println!("{path}: {error}");
        assert!(
            error.to_string().contains("in nm, not an energy"),
            "{path}: {error}"
        );
    }
}

#[test]
fn dm_images_and_image_stacks_are_left_to_the_image_reader() {
    for path in [
        "dm3_2D_data/multi_signal.dm3",
        "dm3_2D_data/test_STEM_image.dm3",
        "dm3_3D_data/test-1.dm3",
        "dm4_3D_data/test-2.dm4",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        assert!(!DM.offers(&bytes, Select::Spectra), "{path}");
        let error = DM.read_spectra(&bytes, 1).unwrap_err();
        assert!(
            matches!(error, DecodeError::Unsupported { .. }),
            "{path}: {error}"
        );
    }
}

#[test]
fn truncated_dm_spectra_are_damaged_not_a_panic() {
    for path in [
        "dm3_1D_data/test-EDS_spectrum.dm3",
        "dm4_3D_data/EELS_SI.dm4",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        // The files end with zero padding after the tag tree: cut inside the tree.
        assert_cuts_are_corrupt(&bytes, bytes.len() - 40, |cut| DM.read_spectra(cut, 1));
    }
}
