//! Labelling that guides itself, measured on the simulated heterostructure (its four regions,
//! 32-px chips of the 512² scene, MobileNetV2 pooled from its dense map — the page's default)
//! against the known region of every chip:
//!
//! - **suggested next chips**: accuracy against the number of clicks when each next support is
//!   the first suggestion, against a random chip, from the same first support per class, mean
//!   of 20 runs; and how many clicks the suggestions need to reach the accuracy of five random
//!   supports per class (the goal: at most half as many);
//! - **class proposals**: the adjusted Rand index of k-means clusters against the regions, at
//!   the true k and at the k the silhouette suggests.
//!
//! The figures are printed (README, "Labelling that guides itself"); the bounds are loose.

mod experiment;

use chipscope_core::classify::Segmentation;
use chipscope_core::embeddings::Embeddings;
use chipscope_core::fusion::{FusionMode, Modality};
use chipscope_core::grid::ChipGrid;
use chipscope_core::guide::proposals::{PROJECTED_DIMS, Proposal, adjusted_rand_index, project};
use chipscope_core::guide::suggest::suggest;
use chipscope_core::pipeline::ChipMeasure;
use chipscope_core::simulate::{grains, heterostructure};
use experiment::{
    accuracy, chip_truth, draw_supports, embed_dense, mean_accuracy, segment, with_poisson_noise,
};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

const SIZE: usize = 512;
const CHIP: usize = 32;
const RUNS: u64 = 20;
/// Five supports per class: the random baseline the suggestions are measured against.
const PER_CLASS: usize = 5;
const NOISY: &str = "heterostructure, Poisson 8/px";

/// A simulated scene's chips, pooled from the dense map, their true classes and class count.
struct Scene {
    name: &'static str,
    embeddings: Embeddings,
    /// What the suggestions cluster: the embeddings projected as the page projects them.
    projected: Embeddings,
    truth: Vec<(usize, f64)>,
    classes: usize,
}

/// The simulated scenes: the heterostructure clean and at 8 counts a pixel, the two-phase
/// grains clean.
fn scenes() -> Vec<Scene> {
    let grid = ChipGrid::new(SIZE, SIZE, CHIP).unwrap();
    let hetero = heterostructure(SIZE, 1);
    let grains = grains(SIZE, 1);
    let noisy = with_poisson_noise(&hetero.dataset.image, 8.0, 5);
    [
        ("heterostructure", &hetero.dataset.image, &hetero.labels, 4),
        (NOISY, &noisy, &hetero.labels, 4),
        ("grains", &grains.dataset.image, &grains.labels, 2),
    ]
    .into_iter()
    .map(|(name, image, labels, classes)| {
        let embeddings = embed_dense("mobilenet_v2", image, &grid);
        Scene {
            name,
            projected: project(&embeddings, PROJECTED_DIMS, 0),
            embeddings,
            truth: chip_truth(labels, &grid, classes),
            classes,
        }
    })
    .collect()
}

/// Accuracy after each click from the first support per class (seed `run`) to five per class:
/// each next chip is `next`'s choice from the segmentation so far and the chips already
/// supports, clicked as its majority class (as a user labels a chip across a boundary).
fn curve(
    scene: &Scene,
    run: u64,
    mut next: impl FnMut(&Segmentation, &[bool]) -> usize,
) -> Vec<f64> {
    let measure = ChipMeasure::euclidean(Modality::Image, &scene.embeddings);
    let mut classes = draw_supports(&scene.truth, scene.classes, 1, run);
    let mut supports = vec![false; scene.truth.len()];
    classes
        .iter()
        .flatten()
        .for_each(|&chip| supports[chip] = true);
    let mut accuracies = Vec::new();
    loop {
        let segmentation = segment(FusionMode::Concatenate, &[measure], &classes);
        accuracies.push(accuracy(&segmentation, &scene.truth));
        if accuracies.len() + scene.classes > scene.classes * PER_CLASS {
            return accuracies;
        }
        let chip = next(&segmentation, &supports);
        supports[chip] = true;
        classes[scene.truth[chip].0].push(chip);
    }
}

/// The mean over runs of each click's accuracy.
fn mean_curve(curves: &[Vec<f64>]) -> Vec<f64> {
    (0..curves[0].len())
        .map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / curves.len() as f64)
        .collect()
}

/// The mean curves of suggested and of random next chips on `scene`, clicks from one support
/// per class on.
fn suggested_and_random(scene: &Scene) -> (Vec<f64>, Vec<f64>) {
    let suggested: Vec<Vec<f64>> = (0..RUNS)
        .map(|run| {
            curve(scene, run, |segmentation, supports| {
                suggest(segmentation, &scene.projected, supports, 1)[0].chip
            })
        })
        .collect();
    let random: Vec<Vec<f64>> = (0..RUNS)
        .map(|run| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(1000 + run);
            curve(scene, run, |_, supports| {
                let free: Vec<usize> = (0..supports.len()).filter(|&c| !supports[c]).collect();
                *free.choose(&mut rng).unwrap()
            })
        })
        .collect();
    (mean_curve(&suggested), mean_curve(&random))
}

/// Prints each scene's curves and how many clicks the suggestions take to reach five random
/// pure supports per class; checks that on the noisy heterostructure (the clean one is right
/// from the first support per class on) the suggestions are ahead of random clicks at half the
/// clicks.
#[test]
fn suggested_supports_reach_the_accuracy_of_random_ones_with_fewer_clicks() {
    let scenes = scenes();
    // The scenes' runs in parallel (the clustering after every click is most of the time).
    let curves: Vec<(Vec<f64>, Vec<f64>)> = std::thread::scope(|scope| {
        let running: Vec<_> = scenes
            .iter()
            .map(|scene| scope.spawn(|| suggested_and_random(scene)))
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (scene, (suggested, random)) in scenes.iter().zip(curves) {
        let baseline = mean_accuracy(
            &scene.embeddings,
            &scene.truth,
            scene.classes,
            RUNS,
            PER_CLASS,
        );
        eprintln!(
            "{}: clicks, accuracy with suggested chips, with random chips (mean of {RUNS} runs)",
            scene.name
        );
        for (i, (s, r)) in suggested.iter().zip(&random).enumerate() {
            eprintln!("  {}, {s:.3}, {r:.3}", i + scene.classes);
        }
        let clicks = scene.classes * PER_CLASS;
        let reached = suggested
            .iter()
            .position(|&a| a >= baseline)
            .map(|i| i + scene.classes);
        eprintln!(
            "  {PER_CLASS} random pure supports per class ({clicks} clicks): {baseline:.3}; \
             the suggestions reach it after {reached:?} clicks"
        );
        let half = clicks / 2 - scene.classes;
        if scene.name == NOISY {
            assert!(
                suggested[half] > random[half],
                "after {} clicks: suggested {:.3}, random {:.3}",
                clicks / 2,
                suggested[half],
                random[half]
            );
        }
    }
}

#[test]
fn proposed_clusters_match_the_regions() {
    for scene in scenes() {
        let regions: Vec<usize> = scene.truth.iter().map(|&(class, _)| class).collect();
        let ari = |k: Option<usize>, seed: u64| {
            let proposal = Proposal::new(&scene.embeddings, k, seed);
            let index = adjusted_rand_index(&proposal.clustering.assignment, &regions);
            (proposal, index)
        };
        let (suggested, at_suggested_k) = ari(None, 1);
        let seeds: Vec<f64> = (0..RUNS)
            .map(|seed| ari(Some(scene.classes), seed).1)
            .collect();
        let mean = seeds.iter().sum::<f64>() / seeds.len() as f64;
        eprintln!(
            "{}: adjusted Rand index against the regions at k = {} {mean:.3} (mean of {RUNS} \
             seeds); at the suggested k = {}: {at_suggested_k:.3}; silhouette per k {:.3?}",
            scene.name,
            scene.classes,
            suggested.settings.k,
            suggested.silhouettes.unwrap_or_default()
        );
        if scene.name == "heterostructure" {
            assert!(mean > 0.8, "clusters unlike the regions: {mean:.3}");
        }
    }
}
