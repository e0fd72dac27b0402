//! Real TIFF files from microscopes and analysis software (see `common`). Reference values come from tifffile 2026.3.3:
//! `tifffile.TiffFile(f).pages[0].asarray()` for shape, dtype, sum, min and max; the expected
//! calibrations are those HyperSpy's own tests assert for the same files (0.16867 µm/px).

mod common;

use chipscope_core::dataset::{Dataset, SampleType};
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{DecodeError, Limits};
use chipscope_core::grid::ChipGrid;

fn read(name: &str) -> Option<Result<Dataset, DecodeError>> {
    common::read(&format!("tiff_files/{name}"))
}

/// The 68 × 68 test image saved by ImageJ and DigitalMicrograph in several ways.
fn assert_reference_image(dataset: &Dataset, sample_type: SampleType) {
    let image = &dataset.image;
    assert_eq!((image.width(), image.height()), (68, 68));
    assert_eq!(dataset.metadata.sample_type, sample_type);
    let sum: f64 = image.pixels().iter().map(|&v| f64::from(v)).sum();
    assert_eq!(sum, 15_422_830.0);
    assert_eq!(image.finite_range(), Some((2866.0, 3774.0)));
}

fn assert_micron_calibration(dataset: &Dataset) {
    let calibration = dataset.calibration.as_ref().expect("calibrated");
    assert_eq!(calibration.unit, "µm");
    assert!(
        (calibration.pixel_size - 0.16867).abs() < 1e-5,
        "{}",
        calibration.pixel_size
    );
}

#[test]
fn imagej_tiff_with_calibration() {
    let Some(result) = read("test_loading_image_saved_with_imageJ.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_reference_image(&dataset, SampleType::F32);
    assert_micron_calibration(&dataset);
    assert!(dataset.metadata.notes.is_empty());
}

#[test]
fn imagej_stack_reads_its_first_page() {
    let Some(result) = read("test_loading_image_saved_with_imageJ_stack.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_reference_image(&dataset, SampleType::F32);
    assert_micron_calibration(&dataset);
    assert_eq!(
        dataset.metadata.notes,
        ["multi-page TIFF: page 1 of 2 was read"]
    );
}

/// As a series, both pages: the same reference image twice (`tifffile` reads pages[1] equal to
/// pages[0]), each with the first page's calibration.
#[test]
fn imagej_stack_opens_as_a_series_of_its_pages() {
    let Some(bytes) = common::bytes("tiff_files/test_loading_image_saved_with_imageJ_stack.tif")
    else {
        return;
    };
    let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!((series.len(), series.frame_size()), (2, (68, 68)));
    for page in 0..2 {
        let dataset = series.frame(page).unwrap();
        assert_reference_image(&dataset, SampleType::F32);
        assert_micron_calibration(&dataset);
    }
}

#[test]
fn imagej_without_scale_is_uncalibrated() {
    for name in [
        "test_loading_image_saved_with_imageJ_no_scale.tif",
        "test_loading_image_saved_with_imageJ_stack_no_scale.tif",
    ] {
        let Some(result) = read(name) else { return };
        let dataset = result.unwrap();
        assert_reference_image(&dataset, SampleType::F32);
        assert_eq!(dataset.calibration, None, "{name}");
    }
}

#[test]
fn digital_micrograph_tiffs_keep_type_and_calibration() {
    let Some(result) = read("test_loading_image_saved_with_DM.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_reference_image(&dataset, SampleType::I32);
    assert_micron_calibration(&dataset);
    let Some(result) = read("test_loading_image_saved_with_DM_stack.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_reference_image(&dataset, SampleType::F32);
    assert_micron_calibration(&dataset);
}

#[test]
fn colour_microscope_tiffs_become_grey() {
    let Some(result) = read("optical_Zeiss_AxioVision_RGB.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!(
        (
            dataset.image.width(),
            dataset.image.height(),
            dataset.metadata.channels
        ),
        (13, 10, 3)
    );
    // JPEG-compressed RGB pages from an Olympus SIS camera.
    let Some(result) = read("olympus_SIS.tif") else {
        return;
    };
    let dataset = result.unwrap();
    assert_eq!((dataset.image.width(), dataset.image.height()), (112, 101));
    assert!(
        dataset
            .metadata
            .notes
            .contains(&"multi-page TIFF: page 1 of 2 was read".to_string())
    );
}

#[test]
fn palette_tiff_is_refused_with_a_reason() {
    let Some(result) = read("optical_Zeiss_AxioVision_BW.tif") else {
        return;
    };
    let error = result.unwrap_err();
    assert!(matches!(error, DecodeError::Unsupported { .. }), "{error}");
    assert!(error.to_string().contains("RGBPalette"), "{error}");
}

#[test]
fn chips_of_a_real_image_cover_it_except_the_cropped_margin() {
    let Some(result) = read("test_loading_image_saved_with_DM.tif") else {
        return;
    };
    let image = result.unwrap().image;
    let grid = ChipGrid::new(68, 68, 16).unwrap();
    assert_eq!(
        (grid.rows(), grid.cols(), grid.cropped_pixels()),
        (4, 4, 68 * 68 - 64 * 64)
    );
    let chips_sum: f64 = grid
        .chips()
        .map(|chip| {
            grid.chip_image(&image, chip)
                .pixels()
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
        })
        .sum();
    // tifffile: imread(f)[:64, :64].astype(np.float64).sum()
    assert_eq!(chips_sum, 13_673_037.0);
}
