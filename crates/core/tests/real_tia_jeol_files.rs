//! Real FEI TIA `.ser`/`.emi` files and JEOL `.img`/`.map` images (see `common`).
//!
//! Reference values come from RosettaSciIO 0.15.0 (Python 3.11, numpy), run in the test-data
//! folder `$HOME/.cache/chipscope/testdata/hyperspy`:
//! - TIA images: `d = rsciio.tia.file_reader(path)[0]`, `x = d["data"]`, the first frame `f = x
//!   if x.ndim == 2 else x.reshape(-1, *x.shape[-2:])[0]`: `f.astype(float).sum()`,
//!   `f[0, :3]`, `f[-1, -3:]`, and `d["axes"][-1]["scale"]` (nm). For
//!   `64x64_TEM_images_acquire_1.ser` HyperSpy also ships the array as `.npy`; its sum is the same.
//! - TIA spectra: `x = d["data"]` of shape (y, x, channels): `x.sum()`, `x.sum(axis=(1, 2))`
//!   (counts per scan row), `x[1, 3].sum()` and `x[1, 3].argmax()`; for the old 5 × 5 map
//!   `(x < 0).sum() > 0`; the energy axis' offset and scale (eV); the EELS spectrum's `x.sum()`
//!   and `x.argmax()`.
//! - `.emi`: `rsciio.tia.file_reader("16x16_STEM_BF_DF_acquire.emi")[0]["original_metadata"]
//!   ["ObjectInfo"]["ExperimentalDescription"]` (High tension 200 kV, Magnification 10000,
//!   Microscope "Microscope Tecnai 200 kV D2267 SuperTwin").
//! - TIA image series as frame series: `f = x.reshape(-1, *x.shape[-2:])`, the frame count
//!   `len(f)` and per frame `f[k].astype(float).sum()` (ncempy 1.16's
//!   `ncempy.io.ser.fileSER(path).getDataset(k)[0]` gives the same sums), `f[k, 0, :3]` and
//!   `f[k, -1, -3:]`. Frame times: ncempy's `fileSER(path)._getTag(k)["Time"]` (Unix seconds)
//!   less the first, for the 5 × 5 scan. ncempy reads the tag offsets right after the
//!   *recorded* elements' data offsets and so finds no tags (time 0) in
//!   `03_Scanning Preview_1.ser`, which planned 200 elements and recorded 5; its times were
//!   read by hand (Python `struct`) from the file's layout — the tag table after 200 data
//!   offsets, each tag `<HHI` (kind 0x4152, 0, time) — at 1556209808 s for frames 1 to 3 and
//!   1556209809 s for frames 4 and 5.
//! - JEOL: `d = rsciio.jeol.file_reader(path)[0]`, `x = d["data"]`: `x.sum()`, `x.max()`,
//!   `x.argmax()`, `x[256, 250:256]`, and `d["axes"][1]["scale"]` (µm; ×1000 for nm).

mod common;

use common::pixel_sum;

use chipscope_core::dataset::{Dataset, SampleType};
use chipscope_core::formats::series::Series;
use chipscope_core::formats::tia::{self, TIA};
use chipscope_core::formats::{
    DecodeError, Limits, Select, decode_spectral, open as open_with, open_with_emi,
};

/// Opens `bytes` as the page does, within the default limits.
fn open(name: &str, bytes: &[u8]) -> Result<chipscope_core::formats::Opened, DecodeError> {
    open_with(name, bytes, &Limits::default())
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} ≠ {expected}"
    );
}

/// Width, height, sample type, pixel sum, first three and last three pixels, and pixel size.
struct Expected {
    size: usize,
    sample_type: SampleType,
    sum: f64,
    first: [f32; 3],
    last: [f32; 3],
    pixel_nm: Option<f64>,
}

fn check_image(path: &str, expected: Expected) -> Option<Dataset> {
    let dataset = common::read(path)?.unwrap();
    let image = &dataset.image;
    assert_eq!(
        (image.width(), image.height()),
        (expected.size, expected.size)
    );
    assert_eq!(dataset.metadata.format, "FEI TIA");
    assert_eq!(dataset.metadata.sample_type, expected.sample_type);
    assert_close(pixel_sum(&dataset), expected.sum, "sum");
    assert_eq!(&image.pixels()[..3], &expected.first);
    assert_eq!(&image.pixels()[image.pixels().len() - 3..], &expected.last);
    let pixel_nm = dataset.calibration.as_ref().and_then(|c| c.pixel_nm());
    match (pixel_nm, expected.pixel_nm) {
        (Some(actual), Some(expected)) => assert_close(actual, expected, "pixel size"),
        (actual, expected) => assert_eq!(actual, expected),
    }
    Some(dataset)
}

#[test]
fn stem_image_16_bit() {
    check_image(
        "FEI_old/16x16_STEM_BF_DF_acquire_2.ser",
        Expected {
            size: 16,
            sample_type: SampleType::U16,
            sum: 686_169.0,
            first: [2722.0, 2675.0, 2646.0],
            last: [2657.0, 2665.0, 2675.0],
            pixel_nm: Some(21.510044070327744),
        },
    );
}

#[test]
fn tem_image_32_bit_integer_new_version() {
    check_image(
        "FEI_new/128x128-TEM_search_1.ser",
        Expected {
            size: 128,
            sample_type: SampleType::I32,
            sum: 169_637_782.0,
            first: [12796.0, 12232.0, 13452.0],
            last: [12765.0, 13113.0, 12303.0],
            pixel_nm: Some(5.261214205047081),
        },
    );
}

#[test]
fn tem_image_float() {
    check_image(
        "FEI_old/64x64_TEM_images_acquire_1.ser",
        Expected {
            size: 64,
            sample_type: SampleType::F32,
            sum: 165_050_960.89013672,
            first: [49154.605, 47970.406, 48244.652],
            last: [48446.973, 47898.89, 47856.695],
            pixel_nm: Some(6.281833616298531),
        },
    );
}

#[test]
fn frame_series_gives_its_first_frame_with_a_note() {
    let Some(dataset) = check_image(
        "FEI_old/64x64x5_TEM_preview_1.ser",
        Expected {
            size: 64,
            sample_type: SampleType::F32,
            sum: 8_574_644.73147583,
            first: [2624.097, 2379.6768, 2419.3054],
            last: [2607.499, 2546.73, 2289.8516],
            pixel_nm: Some(6.281833616298531),
        },
    ) else {
        return;
    };
    assert_eq!(
        dataset.metadata.notes,
        ["the file holds 5 images; the first was read"]
    );
}

/// A series file's frame count, frame size, per-frame sums, frame 2's first and last three
/// pixels, and per-frame times when the test checks them.
struct SeriesExpected<'a> {
    size: usize,
    sums: &'a [f64],
    frame_2: ([f32; 3], [f32; 3]),
    times_s: Option<&'a [f64]>,
}

fn check_series(path: &str, expected: SeriesExpected) {
    let Some(bytes) = common::bytes(path) else {
        return;
    };
    let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(series.format(), "FEI TIA");
    let size = (expected.size, expected.size);
    assert_eq!(
        (series.len(), series.frame_size()),
        (expected.sums.len(), size)
    );
    for (k, &sum) in expected.sums.iter().enumerate() {
        assert_close(
            pixel_sum(&series.frame(k).unwrap()),
            sum,
            &format!("{path} frame {k}"),
        );
    }
    let pixels = series.frame(2).unwrap().image.pixels().to_vec();
    assert_eq!(&pixels[..3], &expected.frame_2.0, "{path}");
    assert_eq!(&pixels[pixels.len() - 3..], &expected.frame_2.1, "{path}");
    if let Some(times) = expected.times_s {
        let read: Vec<Option<f64>> = (0..times.len()).map(|k| series.time_s(k)).collect();
        let times: Vec<Option<f64>> = times.iter().copied().map(Some).collect();
        assert_eq!(read, times, "{path}");
    }
}

#[test]
fn image_series_open_as_frame_series_with_their_times() {
    check_series(
        "FEI_old/03_Scanning Preview_1.ser",
        SeriesExpected {
            size: 128,
            sums: &[
                200_241_521.0,
                199_981_767.0,
                200_345_007.0,
                201_027_316.0,
                201_058_560.0,
            ],
            frame_2: ([3653.0, 2239.0, 1682.0], [3956.0, 3212.0, 3637.0]),
            times_s: Some(&[0.0, 0.0, 0.0, 1.0, 1.0]),
        },
    );
    check_series(
        "FEI_old/64x64x5_TEM_preview_1.ser",
        SeriesExpected {
            size: 64,
            sums: &[
                8_574_644.73147583,
                8_575_446.547546387,
                8_579_929.747131348,
                8_580_666.21939087,
                8_579_774.302154541,
            ],
            frame_2: (
                [2410.2, 2532.1277, 2544.998],
                [2413.7327, 2485.905, 2448.5718],
            ),
            times_s: Some(&[0.0; 5]),
        },
    );
}

#[test]
fn diffraction_patterns_of_a_scan_are_frames() {
    let sums = [
        871_640.0,
        1_438_569.0,
        891_135.0,
        261_681.0,
        -223_927.0,
        -476_963.0,
        -506_609.0,
        -1_057_137.0,
        -183_292.0,
        -1_327_911.0,
        -3_391_325.0,
        -2_162_033.0,
        -2_249_002.0,
        -3_366_124.0,
        -4_119_559.0,
        -4_606_190.0,
        -7_341_543.0,
        -5_012_570.0,
        -4_936_420.0,
        -4_885_196.0,
        -6_202_006.0,
        -6_762_130.0,
        -5_841_652.0,
        -7_392_025.0,
        -6_239_421.0,
    ];
    let times = [
        0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0,
        2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0,
    ];
    check_series(
        "FEI_new/16x16-diffraction_imagel_5x5x256x256_EDS_2.ser",
        SeriesExpected {
            size: 256,
            sums: &sums,
            frame_2: ([64.0, 0.0, 0.0], [-138.0, 145.0, 73.0]),
            times_s: Some(&times),
        },
    );
    // The spectra recorded with them are a spectrum image, not a series.
    let Some(spectra) = common::bytes("FEI_new/16x16-diffraction_imagel_5x5x256x256_EDS_1.ser")
    else {
        return;
    };
    assert!(
        Series::open(&spectra, &Limits::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn diffraction_patterns_get_no_length_calibration() {
    for (path, sum, sample_type) in [
        (
            "FEI_old/64x64_diffraction_acquire_1.ser",
            51_634.980297505856,
            SampleType::F32,
        ),
        (
            "FEI_new/128x128x5-diffraction_preview_1.ser",
            1_755_276.0,
            SampleType::I32,
        ),
    ] {
        let Some(result) = common::read(path) else {
            return;
        };
        let dataset = result.unwrap();
        assert_eq!(dataset.metadata.sample_type, sample_type);
        assert_close(pixel_sum(&dataset), sum, path);
        assert_eq!(dataset.calibration, None);
        assert!(
            dataset
                .metadata
                .notes
                .iter()
                .any(|n| n.contains("reciprocal space")),
            "{:?}",
            dataset.metadata.notes
        );
    }
}

#[test]
fn emi_metadata_are_added_to_its_ser() {
    let (Some(ser), Some(emi)) = (
        common::bytes("FEI_old/16x16_STEM_BF_DF_acquire_1.ser"),
        common::bytes("FEI_old/16x16_STEM_BF_DF_acquire.emi"),
    ) else {
        return;
    };
    assert_eq!(
        tia::emi_name("16x16_STEM_BF_DF_acquire_1.ser"),
        Some(("16x16_STEM_BF_DF_acquire.emi".to_string(), 0))
    );
    assert!(tia::is_emi(&emi) && !tia::is_emi(&ser));
    let dataset = tia::read_image_with_emi(
        "16x16_STEM_BF_DF_acquire_1.ser",
        &ser,
        &emi,
        &Limits::default(),
    )
    .unwrap();
    assert_close(pixel_sum(&dataset), 131.0, "sum");
    let properties = &dataset.metadata.properties;
    assert!(properties.contains(&("acceleration voltage".into(), "200 kV".into())));
    assert!(properties.contains(&("magnification".into(), "10000×".into())));
    assert!(properties.contains(&("microscope".into(), "Tecnai 200 kV D2267 SuperTwin".into())));
    let alone = open("16x16_STEM_BF_DF_acquire_1.ser", &ser).unwrap();
    assert_eq!(alone.dataset.metadata.properties, []);
    let together = open_with_emi(
        "16x16_STEM_BF_DF_acquire_1.ser",
        &ser,
        &emi,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(&together.dataset.metadata.properties, properties);
}

#[test]
fn spectrum_image_of_counts() {
    let Some(bytes) = common::bytes("FEI_new/16x16-diffraction_imagel_5x5x256x256_EDS_1.ser")
    else {
        return;
    };
    assert!(TIA.offers(&bytes, Select::Spectra));
    let file = decode_spectral(&bytes, 1, &Limits::default()).unwrap();
    let map = file.map.unwrap();
    assert_eq!((map.width, map.height, map.axis.channels), (5, 5, 4000));
    assert_close(map.axis.scale_kev, 0.005, "scale");
    assert_close(map.axis.offset_kev, 0.0, "offset");
    assert_eq!(map.total_counts(), 23);
    let row_sums: Vec<u64> = (0..5)
        .map(|y| map.region_sum(0, y, 5, 1).iter().sum())
        .collect();
    assert_eq!(row_sums, [9, 6, 2, 3, 3]);
    let pixel: Vec<_> = map.pixel(3, 1).collect();
    assert_eq!(pixel, [(1954, 1)]);
    assert_close(
        map.calibration.unwrap().pixel_size,
        1.873900423719105,
        "pixel",
    );
    // Opened as an image, the map shows its counts per pixel.
    let opened = open("scan_1.ser", &bytes).unwrap();
    assert_eq!(pixel_sum(&opened.dataset), 23.0);
    assert!(opened.spectral.is_some());
}

#[test]
fn spectra_with_negative_values_line_scans_and_single_spectra() {
    let Some(old_map) = common::bytes("FEI_old/16x16-spectrum_image-5x5x1024_1.ser") else {
        return;
    };
    let error = decode_spectral(&old_map, 1, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("intensities, not counts"), "{error}");
    let line = common::bytes("FEI_old/16x16-line_profile_horizontal_10x1024_1.ser").unwrap();
    let error = decode_spectral(&line, 1, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("line scan"), "{error}");
    let eels = common::bytes("FEI_old/X - Au NP EELS_2.ser").unwrap();
    let spectrum = decode_spectral(&eels, 1, &Limits::default())
        .unwrap()
        .spectrum
        .unwrap();
    assert_eq!(spectrum.axis.channels, 2048);
    assert_close(spectrum.axis.offset_kev, 2.16, "offset");
    assert_close(spectrum.counts.iter().sum(), 1_073_886.0, "sum");
    let argmax = (0..2048).max_by(|&a, &b| spectrum.counts[a].total_cmp(&spectrum.counts[b]));
    assert_eq!(argmax, Some(1435));
    let error = open("X - Au NP EELS_2.ser", &eels).unwrap_err().to_string();
    assert!(error.contains("single spectrum"), "{error}");
}

#[test]
fn jeol_image_and_element_map() {
    for (path, sum, max, row) in [
        (
            "JEOL_files/Sample/00_View000/View000_0000000.img",
            137_518.0,
            52.0,
            [0.0, 0.0, 2.0, 5.0, 8.0, 9.0],
        ),
        (
            "JEOL_files/Sample/00_View000/View000_0000001.map",
            62_728.0,
            6.0,
            [0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        ),
    ] {
        let Some(result) = common::read(path) else {
            return;
        };
        let dataset = result.unwrap();
        let image = &dataset.image;
        assert_eq!((image.width(), image.height()), (512, 512));
        assert_eq!(dataset.metadata.format, "JEOL IMG");
        assert_eq!(dataset.metadata.sample_type, SampleType::U8);
        assert_close(pixel_sum(&dataset), sum, path);
        assert_eq!(image.finite_range().unwrap().1, max);
        assert_eq!(&image.pixels()[256 * 512 + 250..256 * 512 + 256], &row);
        let pixel = dataset.calibration.as_ref().unwrap().pixel_nm().unwrap();
        assert_close(pixel, 8.69140625, "pixel size");
        assert_eq!(
            dataset.acquisition_summary().split(';').next(),
            Some("acceleration voltage 200 kV")
        );
    }
}

#[test]
fn damaged_copies_get_a_message() {
    for path in [
        "FEI_old/16x16_STEM_BF_DF_acquire_2.ser",
        "FEI_new/128x128-TEM_search_1.ser",
        "JEOL_files/Sample/00_View000/View000_0000000.img",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        for k in 1..7 {
            let cut = bytes.len() * k / 7;
            match open(path, &bytes[..cut]) {
                Err(DecodeError::Corrupt { detail, .. }) => println!("{path} at {cut}: {detail}"),
                other => panic!("{path} cut at {cut}: {other:?}"),
            }
        }
    }
}
