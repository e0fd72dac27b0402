//! Real JEOL `.pts` files (see `common`). Reference values come from rosettasciio 0.15.0
//! (numba 0.68.1, numpy), reading each file with
//! `d = rsciio.jeol.file_reader(path, sum_frames=True)[0]` (plus `rebin_energy=4`, or
//! `read_em_image=True` — the image is then `file_reader(...)[1]['data']` — where said), then
//! `data = d['data']`, `spectrum = data.sum(axis=(0, 1), dtype='int64')`,
//! `per_pixel = data.sum(axis=2, dtype='int64')`, the energy and x axes from `d['axes']` and the
//! beam energy from `d['metadata']`. Long arrays are compared by a fingerprint computed the
//! same way in Python and here: `h = (h * 1_000_003 + value) % (2**61 - 1)` folded over the
//! values in row-major order from `h = 0` (`fingerprint` below).

// Only `common::bytes` is used here; `common::read` serves the image-format tests.
mod common;

use chipscope_core::formats::pts::PTS;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::spectra::SpectrumImage;
use std::time::Instant;

const MAP: &str = "JEOL_files/Sample/00_View000/View000_0000006.pts";
const DUMMY: &str = "JEOL_files/InvalidFrame/Sample/00_Dummy-Data/Dummy-Data_";

fn fingerprint(values: impl IntoIterator<Item = u64>) -> u64 {
    const PRIME: u128 = (1 << 61) - 1;
    values.into_iter().fold(0u128, |hash, value| {
        (hash * 1_000_003 + u128::from(value)) % PRIME
    }) as u64
}

fn per_pixel_totals(map: &SpectrumImage) -> impl Iterator<Item = u64> + '_ {
    (0..map.height).flat_map(move |y| {
        (0..map.width).map(move |x| map.pixel(x, y).map(|(_, n)| u64::from(n)).sum())
    })
}

fn read(path: &str, bin: usize) -> Option<SpectralFile> {
    let bytes = common::bytes(path)?;
    assert!(PTS.recognises(&bytes), "{path}");
    Some(PTS.read_spectra(&bytes, bin).unwrap())
}

fn assert_close(value: f64, expected: f64, tolerance: f64) {
    assert!(
        (value - expected).abs() <= tolerance,
        "{value} ≠ {expected}"
    );
}

/// 512 × 512 × 4096, 200 kV, 14 frames of about one count per pixel each.
#[test]
fn summed_frames_match_rosettasciio() {
    let Some(bytes) = common::bytes(MAP) else {
        return;
    };
    let start = Instant::now();
    let file = PTS.read_spectra(&bytes, 1).unwrap();
    let elapsed = start.elapsed();
    let map = file.map.as_ref().unwrap();
    println!(
        "{MAP}: read in {:.1} ms; sparse map {} bytes, a dense f32 cube would take {} bytes \
         (4 GiB); notes {:?}",
        elapsed.as_secs_f64() * 1e3,
        map.memory_bytes(),
        map.width * map.height * map.axis.channels * 4,
        file.notes
    );
    assert_eq!(file.format, "JEOL PTS");
    assert_eq!((map.width, map.height, map.axis.channels), (512, 512, 4096));
    // rsciio: Energy axis offset -0.9606613249999999, scale 0.00999866 keV.
    assert_close(map.axis.offset_kev, -0.960_661_324_999_999_9, 1e-12);
    assert_close(map.axis.scale_kev, 0.009_998_66, 1e-15);
    // rsciio: metadata TEM beam_energy 200.0; x and y scale 0.00869140625 µm.
    assert_eq!(map.beam_kv, Some(200.0));
    let calibration = map.calibration.as_ref().unwrap();
    assert_eq!(calibration.unit, "nm");
    assert_close(calibration.pixel_size, 8.691_406_25, 1e-9);
    assert_eq!(file.notes, ["14 frames (sweeps) summed"]);
    assert!(
        file.images.is_empty(),
        "this file carries no electron image"
    );

    let spectrum = map.sum_spectrum();
    assert_eq!(map.total_counts(), 308_261);
    // `spectrum.reshape(-1, 128).sum(axis=1)`
    let windows: Vec<u64> = spectrum.chunks(128).map(|w| w.iter().sum()).collect();
    assert_eq!(
        windows,
        [
            78856, 58134, 58700, 6601, 4883, 48877, 15636, 24558, 1378, 1224, 1054, 974, 904, 813,
            768, 676, 597, 547, 452, 418, 385, 294, 289, 225, 192, 144, 135, 118, 136, 118, 86, 89
        ]
    );
    assert_eq!(spectrum[123], 8154, "the highest channel");
    assert_eq!(
        fingerprint(spectrum.iter().copied()),
        909_711_347_206_186_852
    );
    assert_eq!(
        fingerprint(per_pixel_totals(map)),
        1_949_030_770_855_797_605
    );
}

#[test]
fn pixels_regions_and_energy_windows_match_rosettasciio() {
    let Some(file) = read(MAP, 1) else {
        return;
    };
    let map = file.map.as_ref().unwrap();
    // `[(c, data[y, x, c]) for c in np.nonzero(data[y, x])[0]]`; (493, 24) has the most counts.
    let pixel = |x, y| map.pixel(x, y).collect::<Vec<_>>();
    assert_eq!(
        pixel(493, 24),
        [
            (272, 1),
            (324, 1),
            (328, 1),
            (336, 1),
            (718, 1),
            (742, 1),
            (805, 1),
            (807, 1),
            (888, 1),
            (896, 1),
            (948, 1),
            (987, 1)
        ]
    );
    assert_eq!(pixel(100, 200), [(103, 1)]);
    for (x, y) in [(0, 0), (511, 511), (300, 17)] {
        assert_eq!(pixel(x, y), [], "pixel ({x}, {y})");
    }
    // `data[200:232, 100:164].sum(axis=(0, 1))`
    assert_eq!(
        fingerprint(map.region_sum(100, 200, 64, 32)),
        26_240_680_591_583_020
    );
    // `data[:, :, first:last + 1].sum(axis=2)`: its sum, fingerprint and largest pixel.
    for (first, last, sum, print, (x, y, most)) in [
        (115, 131, 62_252, 2_260_804_533_087_421_682, (129, 388, 6)),
        (100, 199, 114_545, 390_389_603_538_725_848, (357, 52, 7)),
    ] {
        let window = map.window_map(first, last);
        assert_eq!(window.iter().map(|&n| u64::from(n)).sum::<u64>(), sum);
        assert_eq!(fingerprint(window.iter().map(|&n| u64::from(n))), print);
        assert_eq!(window.iter().max(), Some(&most));
        assert_eq!(window[y * 512 + x], most);
    }
}

#[test]
fn binning_by_four_sums_channel_quadruples() {
    let (Some(full), Some(binned)) = (read(MAP, 1), read(MAP, 4)) else {
        return;
    };
    let (full, binned) = (full.map.unwrap(), binned.map.unwrap());
    assert_eq!(binned.axis.channels, 1024);
    // rsciio with rebin_energy=4: offset -0.9606613249999999, scale 0.03999464 keV.
    assert_close(binned.axis.offset_kev, -0.960_661_324_999_999_9, 1e-12);
    assert_close(binned.axis.scale_kev, 0.039_994_64, 1e-15);
    let spectrum = binned.sum_spectrum();
    let quadruples: Vec<u64> = full
        .sum_spectrum()
        .chunks(4)
        .map(|c| c.iter().sum())
        .collect();
    assert_eq!(spectrum, quadruples);
    assert_eq!(fingerprint(spectrum), 614_824_546_379_116_947);
    assert_eq!(
        fingerprint(per_pixel_totals(&binned)),
        1_949_030_770_855_797_605
    );
}

/// The InvalidFrame files (64 × 64, with an electron image): acquisitions stopped during the
/// first sweep (7), during the second (15), and just after the first (23). Rosettasciio leaves
/// an interrupted last frame out; for 7, whose only frame was interrupted, it gives an empty
/// map unless `only_valid_data=False` — the values below are from that reading, which keeps
/// the partial frame as Chipscope does.
#[test]
fn interrupted_acquisitions_keep_their_complete_frames() {
    let cases = [
        // file, total counts, spectrum and per-pixel fingerprints, image sum and fingerprint,
        // note
        (
            "0000007.pts",
            1497,
            1_999_297_046_642_767_255,
            1_396_532_008_810_936_843,
            212_976,
            1_477_178_209_119_031_268,
            Some("the acquisition stopped during the first frame"),
        ),
        (
            "0000015.pts",
            2537,
            1_314_893_749_278_972_961,
            1_981_318_878_382_364_204,
            356_352,
            1_669_574_902_736_597_278,
            Some("frame 2 of 2 was interrupted"),
        ),
        (
            "0000023.pts",
            2709,
            1_141_905_930_382_879_973,
            1_797_166_787_460_601_038,
            356_352,
            1_669_574_902_736_597_278,
            None,
        ),
    ];
    for (name, total, spectrum_print, pixel_print, image_sum, image_print, note) in cases {
        let Some(file) = read(&format!("{DUMMY}{name}"), 1) else {
            return;
        };
        let map = file.map.as_ref().unwrap();
        assert_eq!((map.width, map.height, map.axis.channels), (64, 64, 4096));
        // rsciio: offset -0.97144825, scale 0.0100046 keV; pixel 0.007734375 µm.
        assert_close(map.axis.offset_kev, -0.971_448_25, 1e-12);
        assert_close(map.axis.scale_kev, 0.010_004_6, 1e-15);
        assert_close(
            map.calibration.as_ref().unwrap().pixel_size,
            7.734_375,
            1e-9,
        );
        assert_eq!(map.total_counts(), total, "{name}");
        assert_eq!(fingerprint(map.sum_spectrum()), spectrum_print, "{name}");
        assert_eq!(fingerprint(per_pixel_totals(map)), pixel_print, "{name}");
        let (_, image) = &file.images[0];
        let pixels = image.image.pixels().iter().map(|&v| v as u64);
        assert_eq!(pixels.clone().sum::<u64>(), image_sum, "{name}");
        assert_eq!(fingerprint(pixels), image_print, "{name}");
        let notes_as_expected = match note {
            Some(start) => file.notes.len() == 1 && file.notes[0].starts_with(start),
            None => file.notes.is_empty(),
        };
        assert!(notes_as_expected, "{name}: {:?}", file.notes);
    }
}

#[test]
fn truncated_files_are_damaged_not_a_panic() {
    for path in [MAP, &format!("{DUMMY}0000015.pts")] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        let len = bytes.len();
        let sevenths = (1..7).map(|k| len * k / 7);
        for cut in [0, 20, 300, 5000, len - 5, len - 2, len - 1]
            .into_iter()
            .chain(sevenths)
        {
            let result = PTS.read_spectra(&bytes[..cut], 1);
            assert!(result.is_err(), "{path} cut at {cut} of {len}");
        }
    }
}

#[test]
fn other_jeol_files_are_not_taken_for_pts() {
    for path in [
        "JEOL_files/Sample/00_View000/View000_0000000.img",
        "JEOL_files/Sample/00_View000/View000_0000001.map",
        "JEOL_files/rawdata.ASW",
    ] {
        let Some(bytes) = common::bytes(path) else {
            return;
        };
        assert!(!PTS.recognises(&bytes), "{path}");
    }
}
