//! The atom modality's reason to exist: a polycrystal of two hexagonal phases whose column
//! spacings differ by 5 %, at the same mean intensity, in randomly oriented grains of varying
//! brightness (`simulate::grains`). The test
//! classifies its chips from three supports per phase by the image encoder alone, by the atom
//! modality alone and by both fused (c1 and c2), averaged over several random support draws,
//! prints the chip accuracies and checks that the atoms separate what the image confuses.

mod experiment;

use chipscope_core::atoms::{AtomChips, AtomParams, find_atoms};
use chipscope_core::fusion::{FusionMode, Modality};
use chipscope_core::grid::ChipGrid;
use chipscope_core::pipeline::ChipMeasure;
use chipscope_core::simulate::{GRAIN_SPACINGS_PX, grains};
use experiment::{accuracy, chip_truth, draw_supports, embed, segment};

const SIZE: usize = 512;
const CHIP: usize = 32;
const SUPPORTS_PER_CLASS: usize = 3;
const DRAWS: u64 = 20;

/// Mean accuracies over the draws: image, atoms, c1, c2.
fn experiment(encoder: &str) -> [f64; 4] {
    let simulation = grains(SIZE, 1);
    let image = &simulation.dataset.image;
    let grid = ChipGrid::new(SIZE, SIZE, CHIP).unwrap();
    let truth = chip_truth(&simulation.labels, &grid, 2);
    let embeddings = embed(encoder, image, &grid);
    let params = AtomParams {
        spacing_px: GRAIN_SPACINGS_PX[0] as f32,
        threshold: 0.2,
    };
    let atoms = AtomChips::new(&find_atoms(image, &params), &grid, &params);
    let quantiles = atoms.quantile_vectors();
    let image_chips = ChipMeasure::euclidean(Modality::Image, &embeddings);
    let atom_chips = ChipMeasure::atoms(&atoms, &quantiles);
    let mut sums = [0.0; 4];
    for draw in 0..DRAWS {
        let classes = draw_supports(&truth, 2, SUPPORTS_PER_CLASS, draw);
        let by_image = segment(FusionMode::Concatenate, &[image_chips], &classes);
        let by_atoms = segment(FusionMode::Concatenate, &[atom_chips], &classes);
        let both = [image_chips, atom_chips];
        let c1 = segment(FusionMode::Concatenate, &both, &classes);
        let c2 = segment(FusionMode::Distances, &both, &classes);
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
