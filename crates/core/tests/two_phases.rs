//! The atom modality's reason to exist: a polycrystal of two hexagonal phases whose column
//! spacings differ by 5 %, at the same mean intensity, in randomly oriented grains of varying
//! brightness (`simulate::grains`). The test
//! classifies its chips from three supports per phase by the image encoder alone, by the atom
//! modality alone and by both fused (c1 and c2), averaged over several random support draws,
//! prints the chip accuracies and checks that the atoms separate what the image confuses.

use burn::tensor::Device;
use chipscope_core::atoms::{AtomChips, AtomParams, find_atoms};
use chipscope_core::classify::{PrototypeClassifier, Segmentation, supports_of};
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::encoders::{ChipSource, Embeddings, ImageEncoder};
use chipscope_core::fusion::{Modality, fuse};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::session::FusionMode;
use chipscope_core::simulate::{GRAIN_SPACINGS_PX, grains};
use chipscope_core::weights::read_weights;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

const SIZE: usize = 512;
const CHIP: usize = 32;
const SUPPORTS_PER_CLASS: usize = 3;
const DRAWS: u64 = 20;
/// Chips at least this pure count in the accuracy (grain boundaries cross the others).
const MIN_PURITY: f64 = 0.75;

/// Every chip's majority phase and the fraction of its pixels in that phase.
fn chip_truth(labels: &[u8], grid: &ChipGrid) -> Vec<(usize, f64)> {
    grid.chips()
        .map(|chip| {
            let mut counts = [0usize; 2];
            for y in chip.row * CHIP..(chip.row + 1) * CHIP {
                for x in chip.col * CHIP..(chip.col + 1) * CHIP {
                    counts[labels[y * SIZE + x] as usize] += 1;
                }
            }
            let majority = usize::from(counts[1] > counts[0]);
            (majority, counts[majority] as f64 / (CHIP * CHIP) as f64)
        })
        .collect()
}

/// `SUPPORTS_PER_CLASS` pure chips of each phase, drawn at random.
fn draw_supports(truth: &[(usize, f64)], seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    (0..2)
        .map(|class| {
            order
                .iter()
                .copied()
                .filter(|&i| truth[i] == (class, 1.0))
                .take(SUPPORTS_PER_CLASS)
                .collect()
        })
        .collect()
}

fn accuracy(segmentation: &Segmentation, truth: &[(usize, f64)]) -> f64 {
    let scored: Vec<bool> = truth
        .iter()
        .enumerate()
        .filter(|(_, (_, purity))| *purity >= MIN_PURITY)
        .map(|(i, (class, _))| segmentation.assignments(None)[i] == Some(*class))
        .collect();
    scored.iter().filter(|&&ok| ok).count() as f64 / scored.len() as f64
}

fn embed(
    file: &str,
    dataset_image: &chipscope_core::dataset::Image,
    grid: &ChipGrid,
) -> Embeddings {
    let path = format!(
        "{}/../../weights/{file}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    let weights = read_weights(&std::fs::read(path).unwrap()).unwrap();
    let device = Device::flex();
    let encoder = ImageEncoder::from_weights(&weights, &device).unwrap();
    let source = ChipSource {
        image: dataset_image,
        grid,
        range: DisplayRange::of(dataset_image, Stretch::default()),
    };
    let chips: Vec<Chip> = grid.chips().collect();
    encoder
        .embed_chips(source, &chips, 16, &device, |_| {})
        .unwrap()
}

/// Mean accuracies over the draws: image, atoms, c1, c2.
fn experiment(encoder: &str) -> [f64; 4] {
    let simulation = grains(SIZE, 1);
    let image = &simulation.dataset.image;
    let grid = ChipGrid::new(SIZE, SIZE, CHIP).unwrap();
    let truth = chip_truth(&simulation.labels, &grid);
    let embeddings = embed(encoder, image, &grid);
    let params = AtomParams {
        spacing_px: GRAIN_SPACINGS_PX[0] as f32,
        threshold: 0.2,
    };
    let atoms = AtomChips::new(&find_atoms(image, &params), &grid, &params);
    let quantiles = atoms.quantile_vectors();
    let mut sums = [0.0; 4];
    for draw in 0..DRAWS {
        let classes = draw_supports(&truth, draw);
        let by_image = PrototypeClassifier::new(&embeddings)
            .classify(&embeddings, &supports_of(&embeddings, &classes));
        let by_atoms = atoms.distances(&atoms.prototypes(&classes));
        let modalities = [
            Modality {
                weight: 1.0,
                chips: &embeddings,
                supports: supports_of(&embeddings, &classes),
                distances: &by_image,
            },
            Modality {
                weight: 1.0,
                chips: &quantiles,
                supports: supports_of(&quantiles, &classes),
                distances: &by_atoms,
            },
        ];
        let c1 = fuse(FusionMode::Concatenate, &modalities);
        let c2 = fuse(FusionMode::Distances, &modalities);
        for (sum, segmentation) in sums.iter_mut().zip([&by_image, &by_atoms, &c1, &c2]) {
            *sum += accuracy(segmentation, &truth);
        }
    }
    let means = sums.map(|s| s / DRAWS as f64);
    eprintln!(
        "two phases, {encoder}, {SUPPORTS_PER_CLASS} supports per class, mean of {DRAWS} draws: \
         image {:.3}, atoms {:.3}, c1 {:.3}, c2 {:.3}",
        means[0], means[1], means[2], means[3]
    );
    means
}

#[test]
fn atoms_separate_grains_the_image_encoder_confuses() {
    let [image, atoms, c1, c2] = experiment("mobilenet_v2");
    // Measured: image 0.907, atoms 1.000, c1 0.994, c2 1.000 (ResNet-50: image 0.679).
    assert!(atoms > 0.98, "atoms {atoms}");
    assert!(atoms > image + 0.05, "atoms {atoms} vs image {image}");
    assert!(
        c1 > image && c2 > image,
        "fusion {c1} {c2} vs image {image}"
    );
}

/// The same with ResNet-50 (slower; `cargo test -- --ignored` prints its figures).
#[test]
#[ignore]
fn atoms_and_resnet50_on_grains() {
    experiment("resnet50");
}
