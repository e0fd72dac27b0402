//! Real Gatan DigitalMicrograph files (see `common`). Reference values were produced with
//! ncempy 1.16: `ncempy.io.dm.fileDM(f).getDataset(0)` for shape, dtype, `data.sum()`,
//! `pixelSize`, `pixelUnit` and the tag `.ImageList.2.ImageTags.Microscope Info.Voltage`. For
//! the 2 × 2 files of every data type, HyperSpy's own tests state the content: 1, 2, 3, 4 (each
//! RGB channel equal to it for RGBA, all true for the binary type), which ncempy agrees with for
//! the types it reads (it refuses the RGBA and binary ones).

mod common;

use common::{pixel_sum, property};

use chipscope_core::dataset::SampleType;
use chipscope_core::formats::{DecodeError, decode};

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
