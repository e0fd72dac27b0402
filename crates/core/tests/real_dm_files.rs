//! Real Gatan DigitalMicrograph files (see `common`). Reference values were produced with
//! ncempy 1.16: `ncempy.io.dm.fileDM(f).getDataset(0)` for shape, dtype, `data.sum()`,
//! `pixelSize`, `pixelUnit` and the tag `.ImageList.2.ImageTags.Microscope Info.Voltage`. For
//! the 2 × 2 files of every data type, HyperSpy's own tests state the content: 1, 2, 3, 4 (each
//! RGB channel equal to it for RGBA, all true for the binary type), which ncempy agrees with for
//! the types it reads (it refuses the RGBA and binary ones).
//!
//! The 3-D image stacks' values come from rosettasciio 0.15.0 (Python 3.11.7, numpy 2.4):
//! `d = rsciio.digitalmicrograph.file_reader(f)[0]["data"]`, of shape (frames, y, x), and per
//! frame `d[k].astype(float).sum()`, `d[k].ravel()[:3]` and `d[k][-1, -1]`; the x axis'
//! `scale` and `units` (0.05998290330171585 µm). For the 2 × 2 × 2 stacks of every data type it
//! gives `d[0].ravel()` = 1, 2, 3, 4 and `d[1].ravel()` = 5, 6, 7, 8 (RGBA: R = G = B = the value;
//! complex: imaginary part 0; the binary type: all true).

mod common;

use common::{pixel_sum, property};

use chipscope_core::dataset::SampleType;
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{DecodeError, Limits, decode};

#[test]
fn stem_image_with_calibration_voltage_and_a_second_signal() {
    let Some(result) = common::read("dm3_2D_data/multi_signal.dm3") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (512, 512));
    assert_eq!(dataset.metadata.sample_type, SampleType::U16);
    assert_eq!(pixel_sum(&dataset), 949_490_255.0);
    let calibration = dataset.calibration.as_ref().unwrap();
    assert_eq!(calibration.unit, "nm");
    assert!((calibration.pixel_size - 0.017751578).abs() < 1e-8);
    assert_eq!(property(&dataset, "acceleration voltage"), Some("300 kV"));
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 2 images; the first was read"]
    );
}

#[test]
fn thirty_two_bit_stem_image() {
    let Some(result) = common::read("dm3_2D_data/test_STEM_image.dm3") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (68, 68));
    assert_eq!(dataset.metadata.sample_type, SampleType::U32);
    assert_eq!(pixel_sum(&dataset), 150_998_555.0);
    assert!((dataset.calibration.as_ref().unwrap().pixel_size - 0.24853802).abs() < 1e-7);
    assert_eq!(property(&dataset, "acceleration voltage"), Some("200 kV"));
}

#[test]
fn diffraction_pattern_is_not_given_a_length_calibration() {
    let Some(result) = common::read("dm3_2D_data/test_diffraction_pattern.dm3") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!(
        (dataset.image.width(), dataset.metadata.sample_type),
        (87, SampleType::I32)
    );
    assert_eq!(pixel_sum(&dataset), 9_459_771.0);
    assert_eq!(dataset.calibration, None);
    assert_eq!(
        dataset.metadata.notes,
        ["calibrated in 1/nm, not a length; sizes in pixels"]
    );
}

#[test]
fn every_data_type_in_dm3_and_dm4() {
    let types = [
        (1, SampleType::I16),
        (2, SampleType::F32),
        (3, SampleType::F32),
        (5, SampleType::F32),
        (6, SampleType::U8),
        (7, SampleType::I32),
        (8, SampleType::U8),
        (9, SampleType::I8),
        (10, SampleType::U16),
        (11, SampleType::U32),
        (12, SampleType::F64),
        (13, SampleType::F64),
        (14, SampleType::U8),
        (23, SampleType::U8),
    ];
    let dm4_only = [(27, SampleType::F32), (28, SampleType::F64)];
    let files = types.iter().flat_map(|&(key, ty)| {
        [
            (format!("dm3_2D_data/test-{key}.dm3"), key, ty),
            (format!("dm4_2D_data/test-{key}.dm4"), key, ty),
        ]
    });
    for (path, key, sample_type) in files.chain(
        dm4_only
            .iter()
            .map(|&(key, ty)| (format!("dm4_2D_data/test-{key}.dm4"), key, ty)),
    ) {
        let Some(result) = common::read(&path) else {
            return;
        };
        let dataset = result.unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected: &[f32] = if key == 14 {
            &[1.0; 4]
        } else {
            &[1.0, 2.0, 3.0, 4.0]
        };
        assert_eq!(dataset.image.pixels(), expected, "{path}");
        assert_eq!(dataset.metadata.sample_type, sample_type, "{path}");
    }
}

#[test]
fn image_stack_gives_its_first_frame_and_opens_as_a_series() {
    let path = "dm_stackbuilder_plugin/test_stackbuilder_imagestack.dm3";
    let (Some(result), Some(bytes)) = (common::read(path), common::bytes(path)) else {
        return;
    };
    let first = result.unwrap();
    assert_eq!(
        first.metadata.notes,
        ["the file holds 3 frames; the first was read"]
    );
    let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(series.format(), "DigitalMicrograph");
    assert_eq!((series.len(), series.frame_size()), (3, (16, 2)));
    let expected = [
        (19_414_405.0, [606_491.0, 615_402.0, 621_457.0], 604_617.0),
        (19_603_178.0, [608_562.0, 601_442.0, 607_676.0], 608_983.0),
        (19_559_156.0, [624_275.0, 610_000.0, 606_528.0], 601_887.0),
    ];
    for (k, (sum, start, last)) in expected.into_iter().enumerate() {
        let frame = series.frame(k).unwrap();
        assert_eq!(frame.metadata.sample_type, SampleType::U32);
        assert_eq!(pixel_sum(&frame), sum, "frame {k}");
        assert_eq!(&frame.image.pixels()[..3], start, "frame {k}");
        assert_eq!(frame.image.get(15, 1), last, "frame {k}");
        let pixel_nm = frame.calibration.unwrap().pixel_nm().unwrap();
        assert!((pixel_nm - 59.98290330171585).abs() < 1e-9, "{pixel_nm}");
    }
    assert_eq!(pixel_sum(&first), 19_414_405.0);
    assert_eq!(series.time_s(1), None);
}

#[test]
fn stacks_of_every_data_type_give_each_frame() {
    let keys = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 23];
    let files = keys.iter().flat_map(|key| {
        [
            (format!("dm3_3D_data/test-{key}.dm3"), *key),
            (format!("dm4_3D_data/test-{key}.dm4"), *key),
        ]
    });
    let dm4_only = [27, 28].map(|key| (format!("dm4_3D_data/test-{key}.dm4"), key));
    for (path, key) in files.chain(dm4_only) {
        let Some(bytes) = common::bytes(&path) else {
            return;
        };
        let mut series = Series::open(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .unwrap_or_else(|| panic!("{path}: not a series"));
        assert_eq!((series.len(), series.frame_size()), (2, (2, 2)), "{path}");
        for (k, values) in [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
            .iter()
            .enumerate()
        {
            let expected = if key == 14 { &[1.0; 4] } else { values };
            let frame = series.frame(k).unwrap();
            assert_eq!(frame.image.pixels(), expected, "{path} frame {k}");
        }
    }
}

#[test]
fn spectrum_image_stays_spectra_not_a_series() {
    let Some(bytes) = common::bytes("dm4_3D_data/EELS_SI.dm4") else {
        return;
    };
    assert!(Series::open(&bytes, &Limits::default()).unwrap().is_none());
    let Some(image) = common::bytes("dm3_2D_data/multi_signal.dm3") else {
        return;
    };
    assert!(Series::open(&image, &Limits::default()).unwrap().is_none());
}

#[test]
fn spectra_and_spectrum_images_are_recognised_and_refused_with_what_they_are() {
    // Opened as images, a spectrum is refused as one, and spectrum images the spectral reader
    // cannot take (EELS intensities, a CL map in nm) with its reason.
    let cases = [
        (
            "dm3_1D_data/test-EDS_spectrum.dm3",
            "it holds a single spectrum, not an image",
        ),
        (
            "dm4_3D_data/EELS_SI.dm4",
            "its spectrum image holds intensities, not counts",
        ),
        (
            "dm4_2D_data/test-MonarcCL_spectrum-SI.dm4",
            "its spectral axis is in nm, not an energy",
        ),
    ];
    for (path, what) in cases {
        let Some(result) = common::read(path) else {
            return;
        };
        let error = result.unwrap_err();
        assert!(
            matches!(error, DecodeError::Unsupported { .. }),
            "{path}: {error}"
        );
        assert!(error.to_string().contains(what), "{path}: {error}");
    }
}

#[test]
fn truncated_dm_file_is_damaged_not_a_panic() {
    let Some(bytes) = common::bytes("dm3_2D_data/test_STEM_image.dm3") else {
        return;
    };
    // DM3 files end with 8 zero bytes after the tag tree: cut inside the tree.
    for cut in [16, 200, bytes.len() / 2, bytes.len() - 9] {
        let error = decode("cut.dm3", &bytes[..cut]).unwrap_err();
        assert!(
            matches!(error, DecodeError::Corrupt { .. }),
            "cut at {cut}: {error}"
        );
    }
}
