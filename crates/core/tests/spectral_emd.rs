//! Real Thermo Fisher Velox EMD files (see `common`), unpacked in memory from HyperSpy's
//! `emd_files/fei_emd_files.zip`. Reference values were produced with rosettasciio 0.15.0
//! (numba 0.68.1, sparse 0.19.3) by
//! `rsciio.emd.file_reader(path, sum_frames=True, rebin_energy=bin)` for bin 1 and 2: the
//! shapes and axes (scale, offset, units) of every signal, for the spectrum image
//! `data.sum()`, the [`digest`] of `data.sum(axis=(0, 1))` (the sum spectrum), of
//! `data.sum(axis=2).ravel()` (the counts per pixel, row-major) and of the spectra `data[0, 0]`
//! and `data[1, 3]`, and for the images `data.sum()`, `min()`, `max()`, `ravel()[:5]` and
//! `data[3, 7]`; the beam voltage is `original_metadata["Optics"]["AccelerationVoltage"]`.
//! rosettasciio reads the first frame of an image recorded with a spectrum image, as we do.
//! For `fei_emd_spectrum.emd`, a single spectrum, the values are `data.sum()`, the axis, and
//! `data.argmax()` and `data.max()` (channel 100 holds the most counts). For
//! `fei_example_tem_stack.emd` (outside the zip) they are `data[0].ravel()` and the x axis'
//! scale (8.172883192297851 pm), and for `fei_example_dpc_titles.emd` the signals' titles.
//!
//! As a frame series, `fei_example_tem_stack.emd`'s frames are rosettasciio's `data[k].ravel()`
//! (and `data[k].sum()`); their times come from the metadata JSON read with h5py 3.16: the
//! `CustomProperties["Detectors[BM-Ceta].TimeStamp"]["value"]` of each frame's column of
//! `/Data/Image/<id>/Metadata` (1575540226238991 and 1575540227038967 µs, 0.799976 s apart;
//! rosettasciio's time axis has the exposure time, 0.8 s, as its scale).

mod common;

use chipscope_core::dataset::SampleType;
use chipscope_core::formats::emd::VELOX_EMD;
use chipscope_core::formats::series::Series;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::formats::{Limits, open};
use chipscope_core::spectra::SpectrumImage;
use std::time::Instant;

fn read(name: &str, bin: usize) -> Option<SpectralFile> {
    let bytes = common::zipped(name)?;
    assert!(VELOX_EMD.recognises(&bytes), "{name} not recognised");
    let started = Instant::now();
    let file = VELOX_EMD.read_spectra(&bytes, bin).unwrap();
    eprintln!(
        "{name} (bin {bin}): {} bytes read in {:?}; images {:?}; notes {:?}",
        bytes.len(),
        started.elapsed(),
        file.images.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        file.notes
    );
    Some(file)
}

/// (total, Σ index × count, Σ count × 31^(n-1-index) mod 1 000 000 007): the same sums the
/// Python reference computes, exact integers.
fn digest(counts: impl IntoIterator<Item = u64>) -> (u64, u64, u64) {
    const P: u64 = 1_000_000_007;
    counts
        .into_iter()
        .enumerate()
        .fold((0, 0, 0), |(total, first, hash), (index, count)| {
            (
                total + count,
                first + index as u64 * count,
                (hash * 31 + count) % P,
            )
        })
}

fn pixel_spectrum(map: &SpectrumImage, x: usize, y: usize) -> Vec<u64> {
    let mut dense = vec![0; map.axis.channels];
    for (channel, count) in map.pixel(x, y) {
        dense[channel] = u64::from(count);
    }
    dense
}

fn pixel_totals(map: &SpectrumImage) -> Vec<u64> {
    (0..map.height)
        .flat_map(|y| (0..map.width).map(move |x| (x, y)))
        .map(|(x, y)| map.pixel(x, y).map(|(_, n)| u64::from(n)).sum())
        .collect()
}

struct MapReference {
    size: (usize, usize),
    channels: usize,
    scale_kev: f64,
    pixel_nm: f64,
    sum: (u64, u64, u64),
    per_pixel: (u64, u64, u64),
    origin: (u64, u64, u64),
    pixel_3_1: (u64, u64, u64),
}

fn check_map(map: &SpectrumImage, reference: MapReference) {
    eprintln!(
        "  map {} × {} × {}, axis {:?}, {:?}, {} counts, {} bytes",
        map.width,
        map.height,
        map.axis.channels,
        map.axis,
        map.calibration,
        map.total_counts(),
        map.memory_bytes()
    );
    assert_eq!((map.width, map.height), reference.size);
    assert_eq!(map.axis.channels, reference.channels);
    assert!((map.axis.scale_kev - reference.scale_kev).abs() < 1e-12);
    assert!((map.axis.offset_kev + 1.0).abs() < 1e-12);
    assert_eq!(map.beam_kv, Some(200.0));
    let calibration = map.calibration.as_ref().unwrap();
    assert_eq!(calibration.unit, "nm");
    assert!((calibration.pixel_size - reference.pixel_nm).abs() < 1e-9);
    assert_eq!(map.total_counts(), reference.sum.0);
    assert_eq!(digest(map.sum_spectrum()), reference.sum);
    assert_eq!(digest(pixel_totals(map)), reference.per_pixel);
    assert_eq!(digest(pixel_spectrum(map, 0, 0)), reference.origin);
    assert_eq!(digest(pixel_spectrum(map, 3, 1)), reference.pixel_3_1);
}

struct ImageReference {
    name: &'static str,
    size: (usize, usize),
    pixel_nm: f64,
    sum: f64,
    range: (f32, f32),
    first: [f32; 5],
    at_7_3: f32,
}

fn check_image(file: &SpectralFile, reference: ImageReference) {
    let [(name, dataset)] = &file.images[..] else {
        panic!("expected one image, got {}", file.images.len());
    };
    let image = &dataset.image;
    eprintln!(
        "  image {name} {} × {}, {:?}, notes {:?}",
        image.width(),
        image.height(),
        dataset.calibration,
        dataset.metadata.notes
    );
    assert_eq!(name, reference.name);
    assert_eq!((image.width(), image.height()), reference.size);
    let calibration = dataset.calibration.as_ref().unwrap();
    assert_eq!(calibration.unit, "nm");
    assert!((calibration.pixel_size - reference.pixel_nm).abs() < 1e-9);
    let sum: f64 = image.pixels().iter().map(|&v| f64::from(v)).sum();
    assert_eq!(sum, reference.sum);
    assert_eq!(image.finite_range(), Some(reference.range));
    assert_eq!(image.pixels()[..5], reference.first);
    assert_eq!(image.get(7, 3), reference.at_7_3);
}

#[test]
fn super_x_map_of_ten_frames_with_its_haadf_image() {
    let Some(file) = read("fei_SI_SuperX-HAADF_10frames_10x50.emd", 1) else {
        return;
    };
    check_image(
        &file,
        ImageReference {
            name: "HAADF",
            size: (10, 50),
            pixel_nm: 1.2340096287454219,
            sum: 19_657_297.0,
            range: (33_610.0, 45_627.0),
            first: [42_175.0, 43_756.0, 43_846.0, 43_658.0, 43_100.0],
            at_7_3: 43_687.0,
        },
    );
    assert_eq!(file.images[0].1.metadata.notes, ["frame 1 of 10 shown"]);
    assert_eq!(
        file.notes,
        ["the 10 frames of the spectrum image were summed"]
    );
    check_map(
        file.map.as_ref().unwrap(),
        MapReference {
            size: (10, 50),
            channels: 4096,
            scale_kev: 0.005,
            pixel_nm: 1.2340096287454219,
            sum: (764_005, 277_765_506, 52_745_322),
            per_pixel: (764_005, 189_511_646, 376_837_992),
            origin: (1476, 542_627, 229_201_579),
            pixel_3_1: (1563, 618_495, 332_420_692),
        },
    );
}

#[test]
fn super_x_map_binned_by_two() {
    let Some(file) = read("fei_SI_SuperX-HAADF_10frames_10x50.emd", 2) else {
        return;
    };
    check_map(
        file.map.as_ref().unwrap(),
        MapReference {
            size: (10, 50),
            channels: 2048,
            scale_kev: 0.01,
            pixel_nm: 1.2340096287454219,
            sum: (764_005, 138_687_043, 524_248_923),
            per_pixel: (764_005, 189_511_646, 376_837_992),
            origin: (1476, 270_942, 216_740_072),
            pixel_3_1: (1563, 308_850, 386_099_455),
        },
    );
}

#[test]
fn four_detector_streams_are_summed_into_one_map() {
    for (bin, channels, scale_kev, sum, origin, pixel_3_1) in [
        (
            1,
            4096,
            0.005,
            (3_562_739, 911_706_126, 857_475_559),
            (14_035, 3_850_423, 76_698_939),
            (13_750, 3_397_473, 940_464_022),
        ),
        (
            2,
            2048,
            0.01,
            (3_562_739, 454_964_552, 618_691_422),
            (14_035, 1_921_696, 248_033_189),
            (13_750, 1_695_239, 136_713_376),
        ),
    ] {
        let Some(file) = read("fei_SI_EDS-HAADF-4detectors_2frames.emd", bin) else {
            return;
        };
        assert!(
            file.notes
                .contains(&"the spectrum streams of 4 EDS detectors were summed".into())
        );
        assert!(file.spectrum.is_none());
        check_map(
            file.map.as_ref().unwrap(),
            MapReference {
                size: (16, 16),
                channels,
                scale_kev,
                pixel_nm: 1.2340096287454225,
                sum,
                per_pixel: (3_562_739, 454_354_931, 795_824_590),
                origin,
                pixel_3_1,
            },
        );
        check_image(
            &file,
            ImageReference {
                name: "HAADF",
                size: (16, 16),
                pixel_nm: 1.2340096287454225,
                sum: 6_434_358.0,
                range: (11_624.0, 39_416.0),
                first: [30_551.0, 28_612.0, 20_325.0, 12_482.0, 12_410.0],
                at_7_3: 11_901.0,
            },
        );
    }
}

#[test]
fn sparse_map_whose_stream_starts_with_an_empty_pixel() {
    let Some(file) = read("fei_emd_si.emd", 1) else {
        return;
    };
    check_map(
        file.map.as_ref().unwrap(),
        MapReference {
            size: (16, 16),
            channels: 4096,
            scale_kev: 0.01,
            pixel_nm: 5.302414837991601,
            sum: (6564, 707_508, 799_799_878),
            per_pixel: (6564, 846_663, 351_539_800),
            origin: (18, 1786, 731_490_293),
            pixel_3_1: (22, 2179, 912_395_410),
        },
    );
    check_image(
        &file,
        ImageReference {
            name: "HAADF",
            size: (16, 16),
            pixel_nm: 5.302414837991601,
            sum: 3_389_230.0,
            range: (9249.0, 25_807.0),
            first: [9272.0, 9280.0, 9260.0, 9282.0, 9267.0],
            at_7_3: 17_150.0,
        },
    );
}

#[test]
fn haadf_image_alone() {
    let Some(file) = read("fei_emd_image.emd", 1) else {
        return;
    };
    assert!(file.map.is_none() && file.spectrum.is_none());
    check_image(
        &file,
        ImageReference {
            name: "HAADF",
            size: (512, 512),
            pixel_nm: 5.302414837991601,
            sum: 2_431_912_854.0,
            range: (9133.0, 29_036.0),
            first: [9240.0, 9244.0, 9221.0, 9210.0, 9211.0],
            at_7_3: 9234.0,
        },
    );
    let properties = &file.images[0].1.metadata.properties;
    assert!(properties.contains(&("acceleration voltage".into(), "200 kV".into())));
}

#[test]
fn single_spectrum_without_a_map() {
    let Some(file) = read("fei_emd_spectrum.emd", 1) else {
        return;
    };
    assert!(file.map.is_none() && file.images.is_empty());
    let spectrum = file.spectrum.unwrap();
    assert_eq!(spectrum.axis.channels, 4096);
    assert!((spectrum.axis.scale_kev - 0.01).abs() < 1e-12);
    assert!((spectrum.axis.offset_kev + 1.0).abs() < 1e-12);
    assert_eq!(spectrum.counts.iter().sum::<f64>(), 1_168_845.0);
    assert_eq!(spectrum.counts[100], 290_475.0);
}

#[test]
fn image_stack_and_dpc_images_outside_the_zip() {
    let Some(bytes) = common::bytes("emd_files/fei_example_tem_stack.emd") else {
        return;
    };
    let file = VELOX_EMD.read_spectra(&bytes, 1).unwrap();
    let [(name, stack)] = &file.images[..] else {
        panic!("expected one image");
    };
    assert_eq!(name, "Ceta");
    assert_eq!(stack.metadata.sample_type, SampleType::I16);
    assert_eq!(
        stack.image.pixels(),
        [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    );
    assert!((stack.calibration.as_ref().unwrap().pixel_size - 0.008172883192297851).abs() < 1e-15);
    assert_eq!(stack.metadata.notes, ["frame 1 of 2 shown"]);

    let Some(bytes) = common::bytes("emd_files/fei_example_dpc_titles.emd") else {
        return;
    };
    let file = VELOX_EMD.read_spectra(&bytes, 1).unwrap();
    let mut names: Vec<_> = file.images.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    // rosettasciio names the three "DF4" A-C, B-D and Filtered iDPC, from Velox's operations.
    assert_eq!(
        names,
        [
            "DF4", "DF4", "DF4", "DF4-A", "DF4-B", "DF4-C", "DF4-D", "iDPC"
        ]
    );
    assert_eq!(file.notes, ["the DPC image is of a kind Chipscope skips"]);
}

#[test]
fn image_stack_opens_as_a_series_with_its_frame_times() {
    let Some(bytes) = common::bytes("emd_files/fei_example_tem_stack.emd") else {
        return;
    };
    let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(series.format(), "Velox EMD");
    assert_eq!((series.len(), series.frame_size()), (2, (3, 3)));
    let first = series.frame(0).unwrap();
    let second = series.frame(1).unwrap();
    assert_eq!(
        first.image.pixels(),
        [0., 2., 4., 6., 8., 10., 12., 14., 16.]
    );
    assert_eq!(
        second.image.pixels(),
        [1., 3., 5., 7., 9., 11., 13., 15., 17.]
    );
    assert_eq!(common::pixel_sum(&second), 81.0);
    assert_eq!(second.metadata.sample_type, SampleType::I16);
    assert!((second.calibration.unwrap().pixel_size - 0.008172883192297851).abs() < 1e-15);
    assert_eq!(series.time_s(0), Some(0.0));
    assert!((series.time_s(1).unwrap() - 0.799976).abs() < 1e-9);
    // Opened as an image, the stack shows its first frame.
    let opened = open("stack.emd", &bytes, &Limits::default()).unwrap();
    assert_eq!(opened.dataset.image.pixels(), first.image.pixels());
}

#[test]
fn images_recorded_with_a_spectrum_image_or_alone_are_no_series() {
    for name in [
        "fei_SI_SuperX-HAADF_10frames_10x50.emd",
        "fei_emd_image.emd",
    ] {
        let Some(bytes) = common::zipped(name) else {
            return;
        };
        let series = Series::open(&bytes, &Limits::default()).unwrap();
        assert!(series.is_none(), "{name}");
    }
}

#[test]
fn ncem_emd_files_are_not_taken_for_velox() {
    let Some(bytes) = common::bytes("emd_files/example_image.emd") else {
        return;
    };
    assert!(!VELOX_EMD.recognises(&bytes));
}

#[test]
fn truncated_files_are_refused_without_panicking() {
    let Some(bytes) = common::zipped("fei_SI_SuperX-HAADF_10frames_10x50.emd") else {
        return;
    };
    let len = bytes.len();
    let cuts: Vec<usize> = (1..7)
        .map(|k| len * k / 7)
        .chain([len - 1, len - 100, 4096, 100, 9])
        .collect();
    for &cut in &cuts {
        let result = VELOX_EMD.read_spectra(&bytes[..cut], 1);
        assert!(result.is_err(), "cut at {cut} of {len} was read");
    }
    // The same cuts with the superblock's end-of-file address (bytes 40..48 of a version-0
    // superblock) rewritten to match, so that the HDF5 structures themselves are cut.
    for &cut in &cuts {
        let mut cut_bytes = bytes[..cut].to_vec();
        if let Some(eof) = cut_bytes.get_mut(40..48) {
            eof.copy_from_slice(&(cut as u64).to_le_bytes());
        }
        let result = VELOX_EMD.read_spectra(&cut_bytes, 1);
        eprintln!(
            "cut at {cut}, end rewritten: {:?}",
            result.as_ref().map(|_| "read")
        );
        // Past the middle only items the reader does not need are cut.
        assert!(
            cut > len / 2 || result.is_err(),
            "cut at {cut} of {len} was read"
        );
    }
}

#[test]
fn damaged_structures_do_not_panic() {
    let Some(bytes) = common::zipped("fei_emd_si.emd") else {
        return;
    };
    // The HDF5 B-tree nodes, symbol-table nodes and local heaps that lead to the datasets.
    let structures: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| [b"TREE", b"SNOD", b"HEAP"].iter().any(|s| s[..] == **w))
        .map(|(at, _)| at)
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let mut refused = 0;
    for _ in 0..60 {
        let mut damaged = bytes.clone();
        let at = structures[next() % structures.len()] + next() % 48;
        damaged[at] ^= (next() as u8) | 1;
        refused += usize::from(VELOX_EMD.read_spectra(&damaged, 1).is_err());
    }
    eprintln!(
        "{} HDF5 structures; {refused} of 60 damaged copies refused, the others read",
        structures.len()
    );
}
