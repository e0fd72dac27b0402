//! Bruker `.bcf` files (see `common`) read by `BcfReader`, compared with rosettasciio 0.15.0.
//!
//! Every reference value in `EXPECTED` was printed by this script, run as
//! `~/.cache/chipscope/py/venv/bin/python ref.py test_TEM.bcf … over16bit.bcf` with
//! rosettasciio 0.15.0 and numpy (`D` is `$HOME/.cache/chipscope/testdata/hyperspy/bruker_data/`):
//!
//! ```python
//! items = rsciio.bruker.file_reader(D + name)
//! spec = next(i for i in items if i["data"].ndim == 3); data = spec["data"].astype(np.uint64)
//! offset, scale = spec["axes"][2]["offset"], spec["axes"][2]["scale"]      # keV
//! beam = list(spec["metadata"]["Acquisition_instrument"].values())[0]["beam_energy"]
//! s = data.sum(axis=(0, 1)); total, peak = s.sum(), (s.argmax(), s.max())
//! checksum = lambda c: (c * ((np.arange(c.size, dtype=np.uint64) * 2654435761) % 1000003 + 1)).sum()
//! # pixels: (0, 0), the first pixel with counts, the one with most counts, the last;
//! # (x, y), data[y, x].sum(), checksum(data[y, x])
//! # images (the 2-D items): title, (width, height), a.sum(), a[0, 0], a[h//2, w//2], a[-1, -1]
//! # pixel_um: the images' axes[1]["scale"], axes[0]["scale"] (µm; None where units are "pix";
//! # rosettasciio gives the map's x axis the y scale, so the images' axes are the reference)
//! ```
//!
//! The checksum weighs every channel's count by a pseudo-random factor, so equal checksums and
//! totals mean equal spectra (every count exact). rosettasciio sums counts in a type it guesses
//! from the sum spectrum; decoding with `unbcf_fast.parse_to_numpy(…, np.uint32)` gave the same
//! cubes, so no reference overflowed. rosettasciio names the overview image "Ch 1" as the
//! map's own; Chipscope calls it "Ch 1 (overview)".

mod common;

use chipscope_core::formats::DecodeError;
use chipscope_core::formats::bcf::BCF;
use chipscope_core::formats::spectral::SpectralFile;
use std::time::Instant;

struct Expected {
    file: &'static str,
    /// Width, height, channels.
    size: (usize, usize, usize),
    offset_kev: f64,
    scale_kev: f64,
    beam_kv: f64,
    /// Pixel width and height, µm.
    pixel_um: Option<(f64, f64)>,
    total: u64,
    checksum: u64,
    /// Channel with most counts, and its counts.
    peak: (usize, u64),
    /// (x, y), counts, checksum.
    pixels: &'static [((usize, usize), u64, u64)],
    images: &'static [ImageFacts],
}

/// An image's name, (width, height), pixel sum and pixels at (0, 0), the centre and the last
/// corner.
type ImageFacts = (&'static str, (usize, usize), u64, [u32; 3]);

const EXPECTED: &[Expected] = &[
    Expected {
        file: "test_TEM.bcf",
        size: (64, 64, 2048),
        offset_kev: -0.47544754,
        scale_kev: 0.010001,
        beam_kv: 200.0,
        pixel_um: Some((0.000771004754204027, 0.000771004754204027)),
        total: 26005,
        checksum: 13464390664,
        peak: (222, 1049),
        pixels: &[
            ((0, 0), 3, 1017951),
            ((46, 2), 41, 19809891),
            ((63, 63), 2, 1364574),
        ],
        images: &[("HAADF", (64, 64), 141288352, [0, 63817, 49792])],
    },
    Expected {
        file: "30x30_instructively_packed_16bit_compressed.bcf",
        size: (30, 30, 2048),
        offset_kev: -0.47225277,
        scale_kev: 0.009999,
        beam_kv: 20.0,
        pixel_um: Some((1.66740910949363, 1.66740910949362)),
        total: 18621362,
        checksum: 9465208530198,
        peak: (47, 766542),
        pixels: &[
            ((0, 0), 18844, 9581143313),
            ((29, 6), 22653, 11585058105),
            ((29, 29), 21426, 10945097528),
        ],
        images: &[("AsB", (30, 30), 22746064, [23008, 16000, 18256])],
    },
    Expected {
        file: "P45_the_default_job.bcf",
        size: (100, 75, 2048),
        offset_kev: -0.472397235,
        scale_kev: 0.010001,
        beam_kv: 20.0,
        pixel_um: Some((8.73678506197784, 8.73678506197786)),
        total: 165941,
        checksum: 86742987481,
        peak: (222, 6690),
        pixels: &[
            ((0, 0), 37, 20561996),
            ((15, 19), 48, 26179251),
            ((99, 74), 16, 6846172),
        ],
        images: &[
            ("BSE", (100, 75), 302966312, [37856, 40416, 45840]),
            ("SE", (100, 75), 197505760, [26384, 24696, 27592]),
        ],
    },
    Expected {
        file: "bcf_v2_50x50px.bcf",
        size: (50, 50, 2048),
        offset_kev: -0.47316066,
        scale_kev: 0.009996,
        beam_kv: 20.0,
        pixel_um: Some((0.01273058731, 0.01180808099)),
        total: 949769,
        checksum: 501527929591,
        peak: (197, 47714),
        pixels: &[
            ((0, 0), 382, 205840974),
            ((3, 5), 441, 239994747),
            ((49, 49), 377, 203153983),
        ],
        images: &[
            ("Ch 1", (50, 50), 42715050, [16023, 17508, 17601]),
            (
                "Ch 1 (overview)",
                (1100, 825),
                14795784992,
                [16176, 18560, 16064],
            ),
        ],
    },
    Expected {
        file: "Hitachi_TM3030Plus.bcf",
        size: (320, 240, 2048),
        offset_kev: -0.4746,
        scale_kev: 0.01,
        beam_kv: 15.0,
        pixel_um: None,
        total: 171804,
        checksum: 84410069963,
        peak: (141, 8329),
        pixels: &[
            ((0, 0), 0, 0),
            ((84, 65), 9, 3593626),
            ((190, 113), 24, 8753789),
            ((319, 239), 0, 0),
        ],
        images: &[("SEM", (320, 240), 4872181184, [48400, 65520, 65520])],
    },
    Expected {
        file: "bcf-edx-ebsd.bcf",
        size: (100, 87, 2048),
        offset_kev: -0.472130085,
        scale_kev: 0.009989,
        beam_kv: 20.0,
        pixel_um: Some((0.4145152257, 0.4168974972)),
        total: 36864,
        checksum: 18638664303,
        peak: (392, 316),
        pixels: &[
            ((0, 0), 0, 0),
            ((40, 35), 1920, 934904154),
            ((44, 36), 2176, 1112219060),
            ((99, 86), 0, 0),
        ],
        images: &[("Ch 0", (100, 87), 244489440, [26512, 28576, 27408])],
    },
    Expected {
        file: "16x16_12bit_packed_8bit.bcf",
        size: (16, 16, 2048),
        offset_kev: -0.47095867,
        scale_kev: 0.009997,
        beam_kv: 20.0,
        pixel_um: Some((0.966497572879044, 0.966497572879043)),
        total: 20194,
        checksum: 10232544409,
        peak: (48, 460),
        pixels: &[
            ((0, 0), 92, 46028371),
            ((4, 1), 110, 57497989),
            ((15, 15), 39, 19430379),
        ],
        images: &[("AsB", (16, 16), 10491776, [44096, 40672, 0])],
    },
    Expected {
        file: "over16bit.bcf",
        size: (4, 3, 4096),
        offset_kev: -1.90077006,
        scale_kev: 0.020006,
        beam_kv: 10.0,
        pixel_um: Some((515.887176865565, 515.887176865564)),
        total: 176786251,
        checksum: 71724646649997,
        peak: (109, 26906885),
        pixels: &[
            ((0, 0), 15112924, 6091595088522),
            ((2, 0), 15543250, 6300596770493),
            ((3, 2), 13402978, 5456571103784),
        ],
        images: &[("BSE", (4, 3), 372896, [30864, 30960, 31392])],
    },
];

fn checksum(counts: impl IntoIterator<Item = (usize, u64)>) -> u64 {
    counts
        .into_iter()
        .map(|(channel, count)| count * ((channel as u64 * 2_654_435_761) % 1_000_003 + 1))
        .sum()
}

fn path(file: &str) -> String {
    format!("bruker_data/{file}")
}

/// Reads `file`, printing the time taken and the map's memory.
fn read_timed(file: &str, bytes: &[u8], bin: usize) -> SpectralFile {
    let start = Instant::now();
    let read = BCF.read_spectra(bytes, bin).unwrap();
    let map = read.map.as_ref().unwrap();
    println!(
        "{file} (bin {bin}): {} × {} × {} read in {:.1} ms; sparse map {} bytes",
        map.width,
        map.height,
        map.axis.channels,
        start.elapsed().as_secs_f64() * 1e3,
        map.memory_bytes()
    );
    read
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

fn check_map(read: &SpectralFile, expected: &Expected) {
    let map = read.map.as_ref().unwrap();
    assert_eq!((map.width, map.height, map.axis.channels), expected.size);
    assert!(close(map.axis.offset_kev, expected.offset_kev));
    assert!(close(map.axis.scale_kev, expected.scale_kev));
    assert_eq!(map.beam_kv, Some(expected.beam_kv));
    assert_eq!(map.total_counts(), expected.total);
    let sum = map.sum_spectrum();
    assert_eq!(checksum(sum.iter().copied().enumerate()), expected.checksum);
    let peak = (0..sum.len())
        .max_by_key(|&c| (sum[c], usize::MAX - c))
        .unwrap();
    assert_eq!((peak, sum[peak]), expected.peak);
    for &((x, y), total, sum) in expected.pixels {
        let pixel: Vec<_> = map.pixel(x, y).map(|(c, n)| (c, u64::from(n))).collect();
        let counts: u64 = pixel.iter().map(|&(_, n)| n).sum();
        assert_eq!((counts, checksum(pixel)), (total, sum), "pixel ({x}, {y})");
    }
}

/// Square pixels give a calibration in nm; others none, and a note.
fn check_calibrations(read: &SpectralFile, expected: &Expected) {
    let calibrations = read
        .images
        .iter()
        .map(|(_, image)| &image.calibration)
        .chain([&read.map.as_ref().unwrap().calibration]);
    for calibration in calibrations {
        match expected.pixel_um {
            Some((x, y)) if close(x, y) || (x - y).abs() < 1e-12 => {
                let calibration = calibration.as_ref().unwrap();
                assert_eq!(calibration.unit, "nm");
                assert!(close(calibration.pixel_size, x * 1e3));
            }
            Some(_) => {
                assert_eq!(calibration, &None);
                assert!(read.notes.iter().any(|n| n.contains("not square")));
            }
            None => assert_eq!(calibration, &None),
        }
    }
}

fn check_images(read: &SpectralFile, expected: &Expected) {
    let names: Vec<_> = read.images.iter().map(|(name, _)| name.as_str()).collect();
    let expected_names: Vec<_> = expected.images.iter().map(|i| i.0).collect();
    assert_eq!(names, expected_names);
    for ((_, dataset), &(_, (width, height), sum, corners)) in
        read.images.iter().zip(expected.images)
    {
        let image = &dataset.image;
        assert_eq!((image.width(), image.height()), (width, height));
        let pixel_sum: u64 = image.pixels().iter().map(|&v| v as u64).sum();
        assert_eq!(pixel_sum, sum);
        let picks = [(0, 0), (width / 2, height / 2), (width - 1, height - 1)];
        assert_eq!(
            picks.map(|(x, y)| image.get(x, y)),
            corners.map(|v| v as f32)
        );
    }
}

#[test]
fn every_file_matches_rosettasciio() {
    for expected in EXPECTED {
        let Some(bytes) = common::bytes(&path(expected.file)) else {
            return;
        };
        assert!(BCF.recognises(&bytes));
        let read = read_timed(expected.file, &bytes, 1);
        assert_eq!(read.format, "Bruker BCF");
        println!(
            "  images {:?}; notes {:?}",
            read.images.iter().map(|i| &i.0).collect::<Vec<_>>(),
            read.notes
        );
        check_map(&read, expected);
        check_calibrations(&read, expected);
        check_images(&read, expected);
    }
}

#[test]
fn test_tem_holds_a_calibrated_haadf_image_and_a_200_kv_map() {
    let Some(bytes) = common::bytes("bruker_data/test_TEM.bcf") else {
        return;
    };
    let read = BCF.read_spectra(&bytes, 1).unwrap();
    let (name, haadf) = &read.images[0];
    assert_eq!(name, "HAADF");
    assert_eq!(
        haadf.calibration_summary(),
        "0.771 nm/px; field of view 49.34 × 49.34 nm"
    );
    assert_eq!(haadf.acquisition_summary(), "acceleration voltage 200 kV");
    assert!(read.notes.is_empty(), "{:?}", read.notes);
}

#[test]
fn binning_sums_neighbouring_channels() {
    let Some(bytes) = common::bytes("bruker_data/30x30_instructively_packed_16bit_compressed.bcf")
    else {
        return;
    };
    let full = read_timed("30x30 compressed", &bytes, 1).map.unwrap();
    let binned = read_timed("30x30 compressed", &bytes, 4).map.unwrap();
    assert_eq!(binned.axis.channels, 512);
    assert!(close(binned.axis.scale_kev, 4.0 * full.axis.scale_kev));
    assert_eq!(binned.total_counts(), full.total_counts());
    let summed: Vec<u64> = full
        .sum_spectrum()
        .chunks(4)
        .map(|c| c.iter().sum())
        .collect();
    assert_eq!(binned.sum_spectrum(), summed);
    assert_eq!(
        binned.region_sum(7, 3, 1, 1),
        full.region_sum(7, 3, 1, 1)
            .chunks(4)
            .map(|c| c.iter().sum())
            .collect::<Vec<u64>>()
    );
}

#[test]
fn files_with_ebsd_data_note_what_was_left_out() {
    let Some(bytes) = common::bytes("bruker_data/bcf-edx-ebsd.bcf") else {
        return;
    };
    let read = BCF.read_spectra(&bytes, 1).unwrap();
    assert_eq!(
        read.notes,
        [
            "pixels of 414.5 × 416.9 nm are not square; sizes in pixels",
            "the file's EBSD data was not read",
        ]
    );
}

#[test]
fn a_container_without_eds_data_is_refused_with_a_reason() {
    let Some(mut bytes) = common::bytes("bruker_data/test_TEM.bcf") else {
        return;
    };
    // Rename the directory entry of the header file, as in a container of EBSD data only.
    let at = bytes
        .windows(11)
        .position(|w| w == b"HeaderData\0")
        .unwrap();
    bytes[at + 9] = b'X';
    let error = BCF.read_spectra(&bytes, 1).unwrap_err();
    assert!(matches!(error, DecodeError::Unsupported { .. }));
    assert_eq!(
        error.to_string(),
        "this Bruker BCF file uses something Chipscope cannot read yet: it holds no EDS data \
         (EDSDatabase/HeaderData is missing); only EDS maps are read"
    );
}

#[test]
fn other_files_are_not_recognised() {
    let Some(bytes) = common::bytes("bruker_data/Nope.bcf") else {
        return;
    };
    assert!(!BCF.recognises(&bytes));
    assert!(matches!(
        BCF.read_spectra(&bytes, 1),
        Err(DecodeError::Corrupt { .. })
    ));
}

/// Cuts inside the container's files fail; the last chunks of a file may be unused, so cuts
/// near its end may also give the same content as the whole file, which is as correct.
#[test]
fn truncated_files_fail_without_panicking() {
    for file in [
        "test_TEM.bcf",
        "30x30_instructively_packed_16bit_compressed.bcf",
    ] {
        let Some(bytes) = common::bytes(&path(file)) else {
            return;
        };
        let whole = BCF.read_spectra(&bytes, 1).unwrap();
        for len in (0..7).map(|k| bytes.len() * k / 7) {
            let error = BCF.read_spectra(&bytes[..len], 1).unwrap_err();
            assert!(matches!(error, DecodeError::Corrupt { .. }), "{error}");
            println!("{file} cut to {len} bytes: {error}");
        }
        for short in (1..40_000).step_by(4999) {
            let len = bytes.len() - short;
            match BCF.read_spectra(&bytes[..len], 1) {
                Ok(read) => assert!(read == whole, "{file} cut to {len} bytes"),
                Err(error) => assert!(matches!(error, DecodeError::Corrupt { .. }), "{error}"),
            }
        }
    }
}

/// Damaged bytes anywhere give an error or other counts, never a panic.
#[test]
fn damaged_files_never_panic() {
    for file in [
        "test_TEM.bcf",
        "30x30_instructively_packed_16bit_compressed.bcf",
    ] {
        let Some(bytes) = common::bytes(&path(file)) else {
            return;
        };
        let mut errors = 0;
        for at in (0..20).map(|k| bytes.len() * k / 20) {
            let mut damaged = bytes.clone();
            damaged[at..at + 16].iter_mut().for_each(|b| *b ^= 0xA5);
            errors += usize::from(BCF.read_spectra(&damaged, 1).is_err());
        }
        println!("{file}: 20 damaged copies, {errors} refused");
    }
}
