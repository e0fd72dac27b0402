//! Real Berkeley (NCEM) EMD files (see `common`): HyperSpy's `emd_files/example_*.emd` and the
//! Prismatic simulations `Si100_*.emd`. Reference values were produced with rosettasciio
//! 0.15.0 (h5py): `s = rsciio.emd.file_reader(path)[i]` (`i` the signal Chipscope reads, the
//! first holding 2-D or 3-D data), `d = s["data"]`; the frame read is
//! `f = d.reshape(-1, *d.shape[-2:])[0].astype(numpy.float32)`, and the values are `f.shape`,
//! `f.astype(numpy.float64).sum()`, `f.ravel()[:3]`, `f[-1, -1]`, `f.max()` and
//! `numpy.unravel_index(f.argmax(), f.shape)`; `d.shape` gives the frame count and
//! `len(file_reader(path))` and `s["metadata"]["General"]["title"]` the signals. The pixel size
//! is `s["axes"][-1]["scale"]` with its `units` (equal for the two image axes, "nm" or "[]");
//! the 4D-STEM, spectrum and text files' content is `d.shape` and `d.dtype`. The voltage of
//! `example_metadata.emd` is the `microscope` group's `voltage` attribute ("300kV"), read with
//! `h5py.File(path)["microscope"].attrs`; a Prismatic file's beam energy is its
//! `simulation_parameters` attribute `E` (keV). Velox files (`fei_emd_files.zip`) must still be
//! read by the Velox reader.
//!
//! Opened as series, frame `k` is rosettasciio's `f = d.reshape(-1, *d.shape[-2:])[k]` (cast to
//! `numpy.float32`, as above; rosettasciio 0.15.0, Python 3.11.7, numpy 2.4): the frame count
//! `f.shape[0]` and per frame `f.astype(numpy.float64).sum()`, `f.ravel()[:3]` and `f[-1, -1]`;
//! for the 624- and 416-frame Prismatic files, the sum of all frames' sums too.

mod common;

use common::{pixel_sum, property};

use chipscope_core::dataset::{Dataset, SampleType};
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{DecodeError, Limits, decode, open};

fn read(name: &str) -> Option<Result<Dataset, DecodeError>> {
    common::read(&format!("emd_files/{name}"))
}

fn assert_nm_per_pixel(dataset: &Dataset, expected: f64) {
    let calibration = dataset.calibration.as_ref().expect("a calibration");
    assert_eq!(calibration.unit, "nm");
    assert!(
        (calibration.pixel_size - expected).abs() < 1e-6 * expected,
        "{calibration}"
    );
}

#[test]
fn hyperspy_image_is_read_transposed_like_rosettasciio() {
    for name in ["example_image.emd", "example_metadata.emd"] {
        let Some(result) = read(name) else { return };
        let dataset = result.unwrap();
        assert_eq!(dataset.metadata.format, "Berkeley EMD");
        assert_eq!((dataset.image.width(), dataset.image.height()), (3, 3));
        assert_eq!(dataset.metadata.sample_type, SampleType::I32);
        assert_eq!(pixel_sum(&dataset), 36.0);
        assert_eq!(&dataset.image.pixels()[..3], [0.0, 3.0, 6.0]);
        assert_eq!(dataset.image.get(2, 2), 8.0);
        // Axes of step 1 in units "[]": no calibration, and nothing to say about it.
        assert_eq!(dataset.calibration, None);
        assert!(dataset.metadata.notes.is_empty(), "{name}");
    }
}

#[test]
fn microscope_group_gives_name_and_voltage() {
    let Some(result) = read("example_metadata.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!(property(&dataset, "acceleration voltage"), Some("300 kV"));
    assert_eq!(property(&dataset, "microscope"), Some("Titan"));
}

#[test]
fn three_dimensional_signal_gives_its_first_frame() {
    let Some(result) = read("example_signal.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (3, 3));
    assert_eq!(pixel_sum(&dataset), 108.0);
    assert_eq!(&dataset.image.pixels()[..3], [0.0, 9.0, 18.0]);
    assert_eq!(dataset.image.get(2, 2), 24.0);
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 3 frames; the first was read"]
    );
}

#[test]
fn axis_of_length_one_gives_a_one_pixel_high_image() {
    let Some(result) = read("example_axis_len_1.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (5, 1));
    assert_eq!(dataset.metadata.sample_type, SampleType::F64);
    assert_eq!(pixel_sum(&dataset), 0.0);
    assert_eq!(dataset.calibration, None);
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 5 frames; the first was read"]
    );
}

#[test]
fn spectra_and_text_are_refused_with_what_they_hold() {
    let cases = [
        (
            "example_spectrum.emd",
            "it holds a 1-D signal (a spectrum) of 3 values, not an image",
        ),
        (
            "example_bytes_string_metadata.emd",
            "it holds a 1-D signal (a spectrum) of 10 values, not an image",
        ),
        (
            "example_object_dtype_data.emd",
            "it holds text (data_group), not an image",
        ),
    ];
    for (name, detail) in cases {
        let Some(result) = read(name) else { return };
        assert_eq!(
            result.unwrap_err(),
            DecodeError::unsupported("Berkeley EMD", detail),
            "{name}"
        );
    }
}

#[test]
fn prismatic_annular_image_is_calibrated_in_nm() {
    let Some(result) = read("Si100_2x1x1_3D.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (44, 22));
    assert_eq!(dataset.metadata.sample_type, SampleType::F32);
    assert_eq!(pixel_sum(&dataset), 0.0);
    assert_nm_per_pixel(&dataset, 0.25);
    assert!(dataset.metadata.notes.is_empty());
    assert_eq!(property(&dataset, "acceleration voltage"), Some("100 kV"));
}

#[test]
fn prismatic_virtual_detector_gives_its_first_angle_bin() {
    let Some(result) = read("Si100_3D.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (22, 22));
    assert!((pixel_sum(&dataset) - 8.631927467882633).abs() < 1e-9);
    assert_eq!(
        &dataset.image.pixels()[..3],
        [
            0.018357617780566216_f64 as f32,
            0.018023811280727386_f64 as f32,
            0.017775308340787888_f64 as f32
        ]
    );
    assert_eq!(dataset.image.get(21, 21), 0.018491685390472412_f64 as f32);
    assert_eq!(
        dataset.image.finite_range().unwrap().1,
        0.018491685390472412_f64 as f32
    );
    assert_nm_per_pixel(&dataset, 0.25);
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 37 frames; the first was read"]
    );
}

#[test]
fn prismatic_depth_series_are_stacked_and_the_first_image_signal_read() {
    let Some(result) = read("Si100_2D_3D_DPC_potential_2slices.emd") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (22, 22));
    assert_eq!(pixel_sum(&dataset), 0.0);
    assert_nm_per_pixel(&dataset, 0.25);
    assert_eq!(
        dataset.metadata.notes,
        [
            "the file holds 4 signals; annular_detector was read",
            "the file holds 2 frames; the first was read"
        ]
    );
}

#[test]
fn prismatic_four_dimensional_stacks_give_their_first_frame() {
    // (depths, angle bins, 7, 7): rosettasciio's frame d[0, 0].
    let cases = [
        (
            "Si100_1x1x3-zStart5.43.emd",
            3 * 208,
            2.579021755605936,
            [
                0.05329151079058647,
                0.053243450820446014,
                0.053116150200366974,
            ],
            0.053105056285858154,
        ),
        (
            "Si100_1x1x3-zStart6.7875.emd",
            2 * 208,
            2.5385297499597073,
            [
                0.05310468003153801,
                0.05276789143681526,
                0.052366744726896286,
            ],
            0.05259751155972481,
        ),
    ];
    for (name, frames, sum, first, last) in cases {
        let Some(result) = read(name) else { return };
        let dataset = result.unwrap();
        assert_eq!((dataset.image.width(), dataset.image.height()), (7, 7));
        assert!((pixel_sum(&dataset) - sum).abs() < 1e-9, "{name}");
        assert_eq!(&dataset.image.pixels()[..3], first.map(|v| v as f32));
        assert_eq!(dataset.image.get(6, 6), last as f32);
        assert_nm_per_pixel(&dataset, 0.40000006556510925);
        assert_eq!(
            dataset.metadata.notes,
            [format!(
                "the file holds {frames} frames; the first was read"
            )]
        );
        assert_eq!(property(&dataset, "acceleration voltage"), Some("80 kV"));
    }
}

#[test]
fn four_d_stem_data_is_refused() {
    let Some(result) = read("Si100_4D.emd") else {
        return;
    };
    assert_eq!(
        result.unwrap_err(),
        DecodeError::unsupported(
            "Berkeley EMD",
            "it holds 4D-STEM data (CBED_array: 2 × 11 × 11 × 8 × 8 values, a diffraction \
             pattern per probe position), not an image"
        )
    );
}

/// `bytes` as a frame series, checked to hold `count` frames of `size`.
fn open_series(bytes: &[u8], count: usize, size: (usize, usize)) -> Series<'_> {
    let series = Series::open(bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(series.format(), "Berkeley EMD");
    assert_eq!((series.len(), series.frame_size()), (count, size));
    series
}

fn assert_sum(dataset: &Dataset, expected: f64, what: &str) {
    let sum = pixel_sum(dataset);
    assert!(
        (sum - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {sum}"
    );
}

#[test]
fn three_dimensional_signal_opens_as_a_series_of_its_frames() {
    let Some(bytes) = common::bytes("emd_files/example_signal.emd") else {
        return;
    };
    let mut series = open_series(&bytes, 3, (3, 3));
    let expected = [
        (108.0, [0.0, 9.0, 18.0], 24.0),
        (117.0, [1.0, 10.0, 19.0], 25.0),
        (126.0, [2.0, 11.0, 20.0], 26.0),
    ];
    for (k, (sum, start, end)) in expected.into_iter().enumerate() {
        let frame = series.frame(k).unwrap();
        assert_eq!(pixel_sum(&frame), sum);
        assert_eq!(&frame.image.pixels()[..3], start);
        assert_eq!(frame.image.get(2, 2), end);
    }
    assert_eq!(series.time_s(2), None);
    let Some(flat) = common::bytes("emd_files/example_axis_len_1.emd") else {
        return;
    };
    let mut flat = open_series(&flat, 5, (5, 1));
    assert_eq!(pixel_sum(&flat.frame(4).unwrap()), 0.0);
    let Some(image) = common::bytes("emd_files/example_image.emd") else {
        return;
    };
    assert!(Series::open(&image, &Limits::default()).unwrap().is_none());
}

#[test]
fn prismatic_angle_bins_are_frames() {
    let Some(bytes) = common::bytes("emd_files/Si100_3D.emd") else {
        return;
    };
    let mut series = open_series(&bytes, 37, (22, 22));
    let sums = [
        8.631927467882633,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        34.52198597043753,
        0.0,
        0.0,
        34.51230113953352,
        0.0,
        0.0,
        0.0,
        34.49281005561352,
        0.0,
        68.99673040211201,
        0.0,
        0.0,
        0.0,
        34.491784647107124,
        34.47917717695236,
        68.92859508097172,
        0.0,
        0.0,
        67.26713486015797,
        0.0,
        0.0,
        13.090610399842262,
        36.81016206741333,
        0.0,
        6.103028297424316,
        0.0,
        0.0,
        0.0,
        0.10189176043058978,
        0.0,
        0.0,
    ];
    for (k, sum) in sums.into_iter().enumerate() {
        assert_sum(&series.frame(k).unwrap(), sum, &format!("frame {k}"));
    }
    let frame = series.frame(6).unwrap();
    let start = [0.07304612547159195, 0.07191655039787292, 0.0711425393819809];
    assert_eq!(&frame.image.pixels()[..3], start.map(|v| v as f32));
    assert_eq!(frame.image.get(21, 21), 0.07353053987026215_f64 as f32);
    assert_nm_per_pixel(&frame, 0.25);
}

#[test]
fn prismatic_depths_and_angle_bins_are_frames_depth_after_depth() {
    let cases = [
        (
            "Si100_1x1x3-zStart5.43.emd",
            624,
            146.96076512728933,
            [2.579021755605936, 0.0, 0.0],
            [
                7.853695214521395e-05,
                0.00020461827642748176,
                0.000430552882221491,
            ],
            [
                2.5642326363595203e-05,
                1.6263118595816195e-05,
                4.498454472923186e-06,
            ],
            2.0353394575067796e-05,
        ),
        (
            "Si100_1x1x3-zStart6.7875.emd",
            416,
            97.96847976936024,
            [2.5385297499597073, 0.0, 0.0],
            [
                7.85369584690443e-05,
                0.00020461826795781235,
                0.0004305529328689772,
            ],
            [
                2.5642333639552817e-05,
                1.6263113138847984e-05,
                4.498450380197028e-06,
            ],
            2.0353403670014814e-05,
        ),
    ];
    for (name, count, total, first_sums, last_sums, last_start, last_end) in cases {
        let Some(bytes) = common::bytes(&format!("emd_files/{name}")) else {
            return;
        };
        let mut series = open_series(&bytes, count, (7, 7));
        let sums: Vec<f64> = (0..count)
            .map(|k| pixel_sum(&series.frame(k).unwrap()))
            .collect();
        assert!((sums.iter().sum::<f64>() - total).abs() < 1e-9, "{name}");
        for (sum, expected) in sums[..3].iter().zip(first_sums) {
            assert!((sum - expected).abs() < 1e-12, "{name}: {sum}");
        }
        for (sum, expected) in sums[count - 3..].iter().zip(last_sums) {
            assert!((sum - expected).abs() < 1e-15, "{name}: {sum}");
        }
        let last = series.frame(count - 1).unwrap();
        assert_eq!(&last.image.pixels()[..3], last_start.map(|v| v as f32));
        assert_eq!(last.image.get(6, 6), last_end as f32);
    }
}

#[test]
fn truncated_files_give_an_error_not_a_panic() {
    for name in [
        "example_signal.emd",
        "Si100_2D_3D_DPC_potential_2slices.emd",
    ] {
        let Some(bytes) = common::bytes(&format!("emd_files/{name}")) else {
            return;
        };
        for sevenths in 1..7 {
            let cut = &bytes[..bytes.len() * sevenths / 7];
            assert!(decode(name, cut).is_err(), "{name} cut at {sevenths}/7");
        }
    }
}

#[test]
fn velox_files_are_still_read_by_the_velox_reader() {
    for name in ["fei_emd_image.emd", "fei_emd_si.emd"] {
        let Some(bytes) = common::zipped(name) else {
            return;
        };
        let opened = open(name, &bytes, &Limits::default()).unwrap();
        assert_eq!(opened.dataset.metadata.format, "Velox EMD", "{name}");
        assert!(opened.spectral.is_some(), "{name}");
    }
    for name in [
        "fei_example_complex_fft.emd",
        "fei_example_dpc_titles.emd",
        "fei_example_tem_stack.emd",
    ] {
        let Some(bytes) = common::bytes(&format!("emd_files/{name}")) else {
            return;
        };
        match open(name, &bytes, &Limits::default()) {
            Ok(opened) => assert_eq!(opened.dataset.metadata.format, "Velox EMD", "{name}"),
            Err(error) => assert!(!error.to_string().contains("Berkeley"), "{name}: {error}"),
        }
    }
}
