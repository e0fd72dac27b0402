//! Dense against per-chip chip accuracy on mosaics of REAL micrographs with known classes
//! (issue 16; the simulated scenes are in `dense_embeddings.rs`).
//!
//! Each class is a crop of one real file from HyperSpy 1.7.6's test data (GPL-3, fetched by
//! `scripts/fetch-testdata.sh`, never committed; the tests skip without it). Every crop is tiled
//! by mirroring to the mosaic's size and its values are replaced by those of the same rank in
//! one target histogram (the first crop's), ties ordered at random, so that all classes share
//! exactly one intensity histogram and brightness alone cannot tell them apart. The mosaic is
//! made of Voronoi cells around seeded random points, cell `i` of class `i % classes`.

mod common;
mod experiment;

use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::{DenseSettings, Tiling, dense_features};
use chipscope_core::encoders::preprocess::ScaledImage;
use chipscope_core::formats::decode;
use chipscope_core::grid::ChipGrid;
use experiment::{
    chip_truth, column_means, embed, mean_accuracy, shipped_encoder, with_poisson_noise,
};
use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::Read;

/// The mosaic's side in pixels.
const SIDE: usize = 768;
/// Voronoi cells (three per class).
const CELLS: usize = 15;
const SEED: u64 = 16;
/// Supports per class in a draw; every class must have twice as many pure chips at both sizes.
const SUPPORTS: usize = 5;

/// One class: a square crop of a real file.
struct Source {
    /// What it shows.
    name: &'static str,
    /// The file under `hyperspy/` in the test data, or the zip archive holding it…
    path: &'static str,
    /// …as this member.
    member: Option<&'static str>,
    /// Left, top and side of the crop, in pixels.
    crop: (usize, usize, usize),
}

/// Two textured films and three kinds of particles, at 0.02–9 nm a pixel.
const SOURCES: [Source; 5] = [
    Source {
        name: "HAADF STEM of a film, 0.018 nm/px (multi_signal.dm3)",
        path: "dm3_2D_data/multi_signal.dm3",
        member: None,
        crop: (256, 256, 256),
    },
    Source {
        name: "TEM camera, binned, 8 grey levels (TVIPS_bin4.tif)",
        path: "tiff_files/TVIPS_bin4.zip",
        member: Some("TVIPS_bin4.tif"),
        crop: (512, 0, 512),
    },
    Source {
        name: "HAADF STEM of nanoparticles on a film, 5.3 nm/px (fei_emd_image.emd)",
        path: "emd_files/fei_emd_files.zip",
        member: Some("fei_emd_image.emd"),
        crop: (176, 224, 256),
    },
    Source {
        name: "JEOL image of a particle agglomerate, 8.7 nm/px (View000_0000000.img)",
        path: "JEOL_files/Sample/00_View000/View000_0000000.img",
        member: None,
        crop: (256, 0, 256),
    },
    Source {
        name: "TIA STEM preview of particles (03_Scanning Preview_1.ser)",
        path: "FEI_old/03_Scanning Preview_1.ser",
        member: None,
        crop: (0, 0, 128),
    },
];

/// The mosaic and its row-major class of every pixel.
struct Mosaic {
    image: Image,
    labels: Vec<u8>,
}

/// The image of `source`'s file; `None` when the test data were not fetched.
fn load(source: &Source) -> Option<Image> {
    let bytes = common::bytes(source.path)?;
    let (name, bytes) = match source.member {
        None => (source.path.rsplit('/').next().unwrap(), bytes),
        Some(member) => {
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
            let mut inner = Vec::new();
            archive
                .by_name(member)
                .unwrap()
                .read_to_end(&mut inner)
                .unwrap();
            (member, inner)
        }
    };
    Some(decode(name, &bytes).unwrap().image)
}

/// The crop of `image` tiled by mirroring to `SIDE`², row-major.
fn mirrored(image: &Image, (left, top, size): (usize, usize, usize)) -> Vec<f32> {
    assert!(left + size <= image.width() && top + size <= image.height());
    let fold = |i: usize| match i % (2 * size) {
        p if p < size => p,
        p => 2 * size - 1 - p,
    };
    (0..SIDE * SIDE)
        .map(|i| image.pixels()[(top + fold(i / SIDE)) * image.width() + left + fold(i % SIDE)])
        .collect()
}

/// `values` with each replaced by the value of the same rank in `target` (sorted, as long):
/// exact histogram matching, ties ordered at random with `seed`.
fn match_histogram(values: &[f32], target: &[f32], seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let keys: Vec<u64> = values.iter().map(|_| rng.next_u64()).collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]).then(keys[a].cmp(&keys[b])));
    let mut matched = vec![0.0; values.len()];
    for (rank, &i) in order.iter().enumerate() {
        matched[i] = target[rank];
    }
    matched
}

/// The mosaic of [`SOURCES`]; `None` when the test data were not fetched.
fn mosaic() -> Option<Mosaic> {
    let mut tiles = Vec::new();
    for source in &SOURCES {
        tiles.push(mirrored(&load(source)?, source.crop));
    }
    let mut target = tiles[0].clone();
    target.sort_unstable_by(f32::total_cmp);
    let tiles: Vec<Vec<f32>> = (0..tiles.len())
        .map(|k| match_histogram(&tiles[k], &target, SEED + k as u64))
        .collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    let centres: Vec<(f64, f64)> = (0..CELLS)
        .map(|_| {
            (
                rng.random_range(0.0..SIDE as f64),
                rng.random_range(0.0..SIDE as f64),
            )
        })
        .collect();
    let labels: Vec<u8> = (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = ((i % SIDE) as f64 + 0.5, (i / SIDE) as f64 + 0.5);
            let distance = |&(cx, cy): &(f64, f64)| (x - cx).powi(2) + (y - cy).powi(2);
            let cell = (0..CELLS)
                .min_by(|&a, &b| distance(&centres[a]).total_cmp(&distance(&centres[b])))
                .unwrap();
            (cell % SOURCES.len()) as u8
        })
        .collect();
    let pixels = (0..SIDE * SIDE)
        .map(|i| tiles[labels[i] as usize][i])
        .collect();
    Some(Mosaic {
        image: Image::new(SIDE, SIDE, pixels),
        labels,
    })
}

/// Every class is in the mosaic, and in enough pure chips at both chip sizes to draw its
/// supports from (`draw_supports` would silently take fewer); the classes' mean intensities are
/// printed (equal over the whole tiles, by the matching).
#[test]
fn every_class_covers_enough_pure_chips() {
    let Some(mosaic) = mosaic() else { return };
    let classes = SOURCES.len();
    assert_eq!(
        usize::from(*mosaic.labels.iter().max().unwrap()) + 1,
        classes
    );
    for chip in [32, 64] {
        let grid = ChipGrid::new(SIDE, SIDE, chip).unwrap();
        let truth = chip_truth(&mosaic.labels, &grid, classes);
        for (class, source) in SOURCES.iter().enumerate() {
            let pure = truth.iter().filter(|&&t| t == (class, 1.0)).count();
            let pixels = mosaic.labels.iter().filter(|&&l| usize::from(l) == class);
            let mean = mosaic
                .image
                .pixels()
                .iter()
                .zip(&mosaic.labels)
                .filter(|&(_, &l)| usize::from(l) == class)
                .map(|(&v, _)| f64::from(v))
                .sum::<f64>()
                / pixels.count() as f64;
            eprintln!(
                "{chip} px: class {class} ({}): {pure} pure chips, mean {mean:.0}",
                source.name
            );
            assert!(
                pure >= 2 * SUPPORTS,
                "class {class}: {pure} pure {chip}-px chips"
            );
        }
    }
}

/// Mean chip accuracy (chips ≥ 75 % one class) of nearest-prototype classification over 20
/// draws of 5 supports per class, for every chip embedded per chip at 224² ([`embed`]) and
/// pooled from the dense map at each `(stage, scale)` of `dense` in `Tiling::default()` windows,
/// on the mosaic clean and with Poisson noise of 8 counts a pixel, at 32- and 64-px chips.
/// Printed as one markdown table when done, per-chip first, with the mean of each column last.
fn dense_against_per_chip(file: &str, dense: &[(&str, usize)]) {
    let Some(mosaic) = mosaic() else { return };
    let classes = SOURCES.len();
    let (encoder, device) = shipped_encoder(file);
    let names: Vec<String> = dense
        .iter()
        .map(|(s, x)| format!("dense {s} ×{x}"))
        .collect();
    let mut table = format!(
        "| {file}, real mosaic {SIDE}² | chip | per chip 224² | {} |\n|---|---|---|{}\n",
        names.join(" | "),
        "---|".repeat(dense.len())
    );
    let mut rows = Vec::new();
    for noisy in [false, true] {
        let image = match noisy {
            true => with_poisson_noise(&mosaic.image, 8.0, 5),
            false => mosaic.image.clone(),
        };
        let range = DisplayRange::of(&image, Stretch::default());
        let grids = [32, 64].map(|chip| {
            let grid = ChipGrid::new(SIDE, SIDE, chip).unwrap();
            let truth = chip_truth(&mosaic.labels, &grid, classes);
            (grid, truth)
        });
        let score = |embeddings: &Embeddings, truth: &[(usize, f64)]| {
            mean_accuracy(embeddings, truth, classes, 20, 5)
        };
        // The slow per-chip embeddings once per chip size; each dense map once, pooled twice.
        let mut accuracies = grids
            .each_ref()
            .map(|(grid, truth)| vec![score(&embed(file, &image, grid), truth)]);
        for &(stage, scale) in dense {
            let settings = DenseSettings {
                stage: stage.into(),
                scale,
            };
            let scaled = ScaledImage::new(&image, range, scale);
            let tiling = Tiling::default();
            let map = dense_features(&encoder, &scaled, &settings, tiling, &device, |_, _| {});
            let map = map.unwrap();
            for ((grid, truth), row) in grids.iter().zip(&mut accuracies) {
                row.push(score(&map.pool(grid), truth));
            }
        }
        let noise = if noisy { "Poisson 8/px" } else { "clean" };
        for ((grid, _), row) in grids.iter().zip(accuracies) {
            let cells: Vec<String> = row.iter().map(|a| format!("{a:.3}")).collect();
            table += &format!(
                "| {noise} | {} px | {} |\n",
                grid.chip_size(),
                cells.join(" | ")
            );
            rows.push(row);
        }
    }
    eprintln!("{table}| mean | | {} |", column_means(&rows).join(" | "));
}

/// MobileNetV2 (`features.6` ×2 recommended; many minutes in release: run with `--ignored`).
#[test]
#[ignore]
fn dense_mobilenet_against_per_chip_on_real_mosaics() {
    dense_against_per_chip(
        "mobilenet_v2",
        &[
            ("features.6", 2),
            ("features.6", 4),
            ("features.13", 2),
            ("features.13", 4),
            ("features.3", 2),
        ],
    );
}

/// ResNet-50 (`layer3` ×2 recommended; many minutes in release: run with `--ignored`).
#[test]
#[ignore]
fn dense_resnet_against_per_chip_on_real_mosaics() {
    dense_against_per_chip(
        "resnet50",
        &[
            ("layer3", 2),
            ("layer3", 4),
            ("layer2", 2),
            ("layer2", 4),
            ("layer3", 1),
        ],
    );
}
