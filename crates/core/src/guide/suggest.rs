//! Suggested next chips (active learning): after each click, chips worth labelling next.
//!
//! Prototypes are means, so the support that helps most is a *typical* chip of a kind not yet
//! represented — not the most ambiguous chip, which sits between classes, is often a mixture
//! across a boundary, and drags its class's mean towards the other (measured on the simulated
//! scenes: margin sampling alone fell behind random clicks). So, as TypiClust does (Hacohen,
//! Dekel & Weinshall, "Active learning on a budget", ICML 2022):
//!
//! 1. the chips are clustered ([`super::proposals::kmeans`]) into as many clusters as there are
//!    supports (and skipped chips) plus [`FRESH_KINDS`];
//! 2. clusters holding no support are the kinds of chip not represented yet;
//! 3. each is ranked by its size times the larger of its chips' mean **ambiguity** — 1 − the
//!    relative margin (d₂ − d₁) / d₂ between the two nearest prototypes (margin sampling) — and
//!    mean **unfamiliarity** — d₁ over the largest d₁, far from every prototype (perhaps a
//!    class nobody labelled);
//! 4. each suggests its chip nearest its centre, its most typical.
//!
//! One suggestion per cluster keeps them apart: never ten neighbours across one boundary.

use serde::Serialize;

use super::proposals::kmeans;
use crate::classify::Segmentation;
use crate::embeddings::Embeddings;

/// Why a chip is suggested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its kind of chip lies between two classes.
    Ambiguous,
    /// Its kind of chip is far from every class: perhaps a class not labelled yet.
    Unfamiliar,
}

impl Reason {
    /// A few words for the page and the CLI.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Ambiguous => "typical of chips between two classes",
            Reason::Unfamiliar => "typical of chips unlike every class so far",
        }
    }
}

/// A chip worth labelling next.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// The chip's index in grid order.
    pub chip: usize,
    /// Its cluster's weight relative to the first suggestion's, 0–1.
    pub score: f32,
    /// The larger of its cluster's two reasons.
    pub reason: Reason,
}

/// The clustering's seed: suggestions are the same for the same chips and supports.
const SEED: u64 = 0;

/// Clusters beyond the supports and skipped chips (at least as many as the suggestions
/// wanted). Measured on the noisy heterostructure and the grains (`guided_labelling.rs`):
/// with 5 the first suggestions reach the accuracy of five random supports per class after 10
/// and 9 clicks, with 10 after 9 and 7, with 20 after 8 and 8; 10 keeps the clustering small.
pub const FRESH_KINDS: usize = 10;

/// At most `count` chips worth labelling next, best first: typical chips of the kinds of chip
/// (clusters of `vectors`) that hold no `excluded` chip (supports, chips the user skipped),
/// ranked by size and by how ambiguous or unfamiliar `segmentation` (the distances to the
/// current prototypes) finds them. `vectors` are the chips' vectors, best projected when wide
/// ([`super::proposals::project`]), since they are clustered after every click.
///
/// # Panics
/// If `vectors` or `excluded` do not have one entry per chip of `segmentation`.
pub fn suggest(
    segmentation: &Segmentation,
    vectors: &Embeddings,
    excluded: &[bool],
    count: usize,
) -> Vec<Suggestion> {
    let fresh = count.max(FRESH_KINDS);
    suggest_among(segmentation, vectors, excluded, (count, fresh))
}

/// [`suggest`] with `fresh` clusters beyond the excluded chips.
fn suggest_among(
    segmentation: &Segmentation,
    vectors: &Embeddings,
    excluded: &[bool],
    (count, fresh): (usize, usize),
) -> Vec<Suggestion> {
    let chips = segmentation.chip_count();
    assert_eq!(vectors.count(), chips, "one vector per chip");
    assert_eq!(excluded.len(), chips, "one flag per chip");
    let labelled = excluded.iter().filter(|&&e| e).count();
    if count == 0 || labelled >= chips {
        return Vec::new();
    }
    let clustering = kmeans(vectors, labelled + fresh, SEED);
    let mut covered = vec![false; clustering.k()];
    for chip in (0..chips).filter(|&chip| excluded[chip]) {
        covered[clustering.assignment[chip]] = true;
    }
    let reasons = Reasons::of(segmentation);
    let mut ranked: Vec<(f32, Reason, usize)> = (0..clustering.k())
        .filter(|&cluster| !covered[cluster])
        .map(|cluster| {
            let members = clustering.members(cluster);
            let (weight, reason) = reasons.weigh(&members);
            (weight, reason, cluster)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
    let top = ranked.first().map_or(1.0, |r| r.0).max(f32::MIN_POSITIVE);
    ranked
        .into_iter()
        .filter_map(|(weight, reason, cluster)| {
            let typical = clustering.nearest_to_centre(vectors, cluster, usize::MAX);
            let chip = typical
                .into_iter()
                .find(|&chip| segmentation.is_measured(chip))?;
            Some(Suggestion {
                chip,
                score: weight / top,
                reason,
            })
        })
        .take(count)
        .collect()
}

/// Every chip's ambiguity and unfamiliarity, 0–1 (0 for a chip no modality measured).
struct Reasons {
    ambiguity: Vec<f32>,
    unfamiliarity: Vec<f32>,
}

impl Reasons {
    fn of(segmentation: &Segmentation) -> Self {
        let chips = 0..segmentation.chip_count();
        let measured = |chip: &usize| segmentation.is_measured(*chip);
        let farthest = chips
            .clone()
            .filter(measured)
            .map(|chip| segmentation.nearest_distance(chip))
            .fold(0.0f32, f32::max);
        let of = |f: &dyn Fn(usize) -> f32| -> Vec<f32> {
            chips
                .clone()
                .map(|chip| if measured(&chip) { f(chip) } else { 0.0 })
                .collect()
        };
        Self {
            ambiguity: of(&|chip| match segmentation.class_count() {
                1 => 0.0,
                _ => 1.0 - segmentation.confidence(chip),
            }),
            unfamiliarity: of(&|chip| match farthest > 0.0 {
                true => segmentation.nearest_distance(chip) / farthest,
                false => 0.0,
            }),
        }
    }

    /// A cluster's weight — its size times the larger of its members' mean ambiguity and mean
    /// unfamiliarity — and which of the two it is.
    fn weigh(&self, members: &[usize]) -> (f32, Reason) {
        let size = members.len() as f32;
        let mean = |values: &[f32]| members.iter().map(|&m| values[m]).sum::<f32>() / size;
        let (ambiguity, unfamiliarity) = (mean(&self.ambiguity), mean(&self.unfamiliarity));
        match ambiguity >= unfamiliarity {
            true => (size * ambiguity, Reason::Ambiguous),
            false => (size * unfamiliarity, Reason::Unfamiliar),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes with prototypes at 0 and 10 on a line, supports at 0 and 10, and three kinds
    /// of chip: six near 5 (between the classes), three near 30 (unlike both), two near 0.
    fn scene() -> (Segmentation, Embeddings, Vec<bool>) {
        let xs = [
            0.0f32, 10.0, // the supports
            4.8, 4.9, 5.0, 5.0, 5.1, 5.2, // between
            29.0, 30.0, 31.0, // far
            0.5, 0.6, // near class 0
        ];
        let distances = xs
            .iter()
            .flat_map(|x| [x.abs(), (x - 10.0).abs()])
            .collect();
        let vectors = Embeddings {
            dim: 1,
            values: xs.to_vec(),
        };
        let mut excluded = vec![false; xs.len()];
        excluded[..2].fill(true);
        (
            Segmentation::from_distances(2, distances),
            vectors,
            excluded,
        )
    }

    /// By hand: with 2 supports and 2 fresh kinds, 4 clusters: {0, 0.5, 0.6}, {10}, the six near 5
    /// and the three near 30. The six weigh 6 × their mean ambiguity (≈ 1); the three weigh 3 ×
    /// 1 (at the largest d₁) — so the chip nearest 5 first, then 30, as unfamiliar.
    #[test]
    fn typical_chips_of_uncovered_kinds_come_first_with_their_reasons() {
        let (segmentation, vectors, excluded) = scene();
        let picks = suggest_among(&segmentation, &vectors, &excluded, (2, 2));
        let chips: Vec<usize> = picks.iter().map(|p| p.chip).collect();
        assert!(matches!(chips[0], 4 | 5), "{picks:?}");
        assert_eq!(picks[0].reason, Reason::Ambiguous);
        assert_eq!(picks[0].score, 1.0);
        assert_eq!(chips[1], 9, "{picks:?}");
        assert_eq!(picks[1].reason, Reason::Unfamiliar);
        assert!(picks[1].score < 1.0);
    }

    #[test]
    fn supports_and_unmeasured_chips_are_never_suggested() {
        let (segmentation, vectors, mut excluded) = scene();
        excluded[4] = true; // skipped
        let picks = suggest(&segmentation, &vectors, &excluded, 20);
        assert!(picks.iter().all(|p| !excluded[p.chip]));
        let distances = vec![1.0, 2.0, f32::NAN, f32::NAN, 2.0, 1.0];
        let segmentation = Segmentation::from_distances(2, distances);
        let vectors = Embeddings {
            dim: 1,
            values: vec![0.0, 1.0, 2.0],
        };
        let picks = suggest(&segmentation, &vectors, &[false; 3], 3);
        assert!(picks.iter().all(|p| p.chip != 1), "{picks:?}");
    }

    #[test]
    fn the_same_chips_and_supports_give_the_same_suggestions() {
        let (segmentation, vectors, excluded) = scene();
        assert_eq!(
            suggest(&segmentation, &vectors, &excluded, 3),
            suggest(&segmentation, &vectors, &excluded, 3)
        );
    }
}
