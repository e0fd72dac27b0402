//! Classes proposed before any label: the chips' vectors clustered by k-means, shown as a
//! provisional segmentation; naming a cluster makes it a class whose supports are the chips
//! nearest its centre.
//!
//! k-means is Lloyd's algorithm from k-means++ seeds (Arthur & Vassilvitskii 2007), the best
//! of [`RESTARTS`] seedings by inertia, all drawn from one seeded generator, so a seed and k
//! give the same clusters on every platform. Written here rather than taken from a crate: the
//! clustering crates (linfa-clustering, kmeans) pull ndarray or nightly SIMD into the page and
//! give no same-bits guarantee between the page and the CLI.
//!
//! Vectors wider than [`PROJECTED_DIMS`] (the CNN embeddings: 1280 or 2048) are clustered on a
//! seeded Gaussian random projection to that many dimensions, which keeps their distances to a
//! few per cent (Johnson–Lindenstrauss) and makes clustering a large grid in the page take
//! tenths of a second instead of seconds.
//!
//! The number of clusters is suggested by the simplified silhouette (Hruschka et al. 2004):
//! each chip's (b − a) / max(a, b) with a and b its distances to its own and to the nearest
//! other centre, averaged — the silhouette with centres in place of all pairs of chips, so it
//! costs chips × k instead of chips².

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::squared_distance;
use crate::embeddings::Embeddings;

/// Seedings tried per clustering; the one of least inertia is kept.
pub const RESTARTS: usize = 3;
/// Lloyd iterations at most per seeding (they stop earlier once no chip changes cluster).
const MAX_ITERATIONS: usize = 100;
/// The numbers of clusters [`suggest_k`] considers, at most.
pub const K_RANGE: std::ops::RangeInclusive<usize> = 2..=8;
/// Supports a named cluster gives its class: the chips nearest its centre.
pub const SUPPORTS_PER_PROPOSAL: usize = 3;
/// Vectors wider than this are clustered on a random projection to this many dimensions.
pub const PROJECTED_DIMS: usize = 64;
/// At most this many chips (a regular sample) are clustered to suggest k.
const K_SAMPLE: usize = 1024;

/// Clusters proposed as classes, with what reproduces them.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// The k and seed that reproduce it.
    pub settings: ProposalSettings,
    /// The clusters of the chips.
    pub clustering: Clustering,
    /// The vectors clustered (projected when wide): for merges and the chips nearest a centre.
    pub vectors: Embeddings,
    /// Each k's simplified silhouette, when k was left to it.
    pub silhouettes: Option<Vec<(usize, f64)>>,
}

impl Proposal {
    /// Clusters the chips' `vectors` ([`crate::fusion::joined_vectors`]) into `k` clusters, or
    /// into the k the silhouette suggests, with `seed`.
    pub fn new(vectors: &Embeddings, k: Option<usize>, seed: u64) -> Self {
        let vectors = project(vectors, PROJECTED_DIMS, seed);
        let (k, silhouettes) = match k {
            Some(k) => (k, None),
            None => {
                let (k, scores) = suggest_k(&sample(&vectors, K_SAMPLE), seed);
                (k, Some(scores))
            }
        };
        let clustering = kmeans(&vectors, k, seed);
        Self {
            settings: ProposalSettings {
                k: clustering.k(),
                seed,
            },
            clustering,
            vectors,
            silhouettes,
        }
    }

    /// Up to [`SUPPORTS_PER_PROPOSAL`] chips of `cluster` nearest its centre.
    pub fn supports(&self, cluster: usize) -> Vec<usize> {
        self.clustering
            .nearest_to_centre(&self.vectors, cluster, SUPPORTS_PER_PROPOSAL)
    }

    /// Merges cluster `from` into `into` ([`Clustering::merge`]).
    pub fn merge(&mut self, from: usize, into: usize) {
        self.clustering.merge(from, into, &self.vectors);
    }
}

/// `vectors` projected to `dims` dimensions by a Gaussian matrix drawn with `seed` (entries
/// N(0, 1/dims)); unchanged when they are no wider.
pub fn project(vectors: &Embeddings, dims: usize, seed: u64) -> Embeddings {
    if vectors.dim <= dims {
        return vectors.clone();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_9e37_79b9_7f4a);
    let scale = 1.0 / (dims as f32).sqrt();
    let matrix: Vec<f32> = (0..vectors.dim * dims)
        .map(|_| {
            let draw: f32 = StandardNormal.sample(&mut rng);
            draw * scale
        })
        .collect();
    let mut values = Vec::with_capacity(vectors.count() * dims);
    for chip in 0..vectors.count() {
        let mut out = vec![0.0f32; dims];
        for (&x, row) in vectors.row(chip).iter().zip(matrix.chunks_exact(dims)) {
            out.iter_mut().zip(row).for_each(|(o, &m)| *o += x * m);
        }
        values.extend(out);
    }
    Embeddings { dim: dims, values }
}

/// At most `most` chips of `vectors`, every n-th, in order.
fn sample(vectors: &Embeddings, most: usize) -> Embeddings {
    let step = vectors.count().div_ceil(most.max(1)).max(1);
    vectors.gather((0..vectors.count()).step_by(step))
}

/// What reproduces a proposal: a session records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalSettings {
    /// Number of clusters.
    pub k: usize,
    /// Seed of the k-means++ draws.
    pub seed: u64,
}

/// The chips grouped into clusters.
#[derive(Clone, Debug, PartialEq)]
pub struct Clustering {
    /// Each chip's cluster, in grid order.
    pub assignment: Vec<usize>,
    /// One centre per cluster (the mean of its chips).
    pub centres: Embeddings,
    /// Σ squared distance of every chip to its centre.
    pub inertia: f64,
}

impl Clustering {
    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.centres.count()
    }

    /// The chips of cluster `cluster`.
    pub fn members(&self, cluster: usize) -> Vec<usize> {
        (0..self.assignment.len())
            .filter(|&chip| self.assignment[chip] == cluster)
            .collect()
    }

    /// Up to `count` chips of cluster `cluster` nearest its centre, nearest first: the supports
    /// the cluster gives the class it becomes.
    pub fn nearest_to_centre(
        &self,
        vectors: &Embeddings,
        cluster: usize,
        count: usize,
    ) -> Vec<usize> {
        let centre = self.centres.row(cluster);
        let mut members: Vec<(f32, usize)> = self
            .members(cluster)
            .into_iter()
            .map(|chip| (squared_distance(vectors.row(chip), centre), chip))
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        members
            .into_iter()
            .take(count)
            .map(|(_, chip)| chip)
            .collect()
    }

    /// Merges cluster `from` into `into`: its chips join `into`, whose centre becomes the mean
    /// of them all, and the clusters after `from` are renumbered down by one.
    ///
    /// # Panics
    /// If either cluster does not exist or they are the same.
    pub fn merge(&mut self, from: usize, into: usize, vectors: &Embeddings) {
        assert!(
            from != into && from.max(into) < self.k(),
            "no such pair of clusters"
        );
        for cluster in &mut self.assignment {
            if *cluster == from {
                *cluster = into;
            }
            if *cluster > from {
                *cluster -= 1;
            }
        }
        self.centres = means(vectors, &self.assignment, self.k() - 1);
        self.inertia = inertia(vectors, &self.centres, &self.assignment);
    }

    /// The simplified silhouette of the clustering of `vectors`, −1 to 1 (higher is better
    /// separated); 0 for a single cluster.
    pub fn silhouette(&self, vectors: &Embeddings) -> f64 {
        if self.k() < 2 || self.assignment.is_empty() {
            return 0.0;
        }
        let total: f64 = (0..vectors.count())
            .map(|chip| {
                let own = self.assignment[chip];
                let row = vectors.row(chip);
                let a = f64::from(squared_distance(row, self.centres.row(own))).sqrt();
                let b = (0..self.k())
                    .filter(|&c| c != own)
                    .map(|c| f64::from(squared_distance(row, self.centres.row(c))).sqrt())
                    .fold(f64::INFINITY, f64::min);
                match a.max(b) {
                    m if m > 0.0 => (b - a) / m,
                    _ => 0.0,
                }
            })
            .sum();
        total / vectors.count() as f64
    }
}

/// `vectors` clustered into `k` clusters (at most one per chip) with `seed`.
///
/// # Panics
/// If `k` is 0 or there are no chips.
pub fn kmeans(vectors: &Embeddings, k: usize, seed: u64) -> Clustering {
    assert!(k > 0 && vectors.count() > 0, "nothing to cluster");
    let k = k.min(vectors.count());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..RESTARTS)
        .map(|_| lloyd(vectors, seeded_centres(vectors, k, &mut rng)))
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .expect("at least one restart")
}

/// The number of clusters in [`K_RANGE`] (at most one less than the chips) whose clustering has
/// the highest simplified silhouette, with every k's silhouette.
pub fn suggest_k(vectors: &Embeddings, seed: u64) -> (usize, Vec<(usize, f64)>) {
    let most = (*K_RANGE.end()).min(vectors.count().saturating_sub(1));
    let scores: Vec<(usize, f64)> = (*K_RANGE.start()..=most)
        .map(|k| (k, kmeans(vectors, k, seed).silhouette(vectors)))
        .collect();
    let best = scores
        .iter()
        .copied()
        .reduce(|best, next| if next.1 > best.1 { next } else { best })
        .map_or(1, |(k, _)| k);
    (best, scores)
}

/// k-means++ seeds: the first chip at random, each next one with probability proportional to
/// its squared distance to the nearest seed so far.
fn seeded_centres(vectors: &Embeddings, k: usize, rng: &mut Xoshiro256PlusPlus) -> Embeddings {
    let count = vectors.count();
    let mut chosen = vec![rng.random_range(0..count)];
    let mut nearest: Vec<f64> = (0..count)
        .map(|chip| f64::from(squared_distance(vectors.row(chip), vectors.row(chosen[0]))))
        .collect();
    while chosen.len() < k {
        let total: f64 = nearest.iter().sum();
        let next = match total > 0.0 {
            true => {
                let mut target = rng.random::<f64>() * total;
                let mut pick = count - 1;
                for (chip, weight) in nearest.iter().enumerate() {
                    if target < *weight {
                        pick = chip;
                        break;
                    }
                    target -= weight;
                }
                pick
            }
            // Every chip sits on a seed: take any not chosen yet.
            false => (0..count).find(|c| !chosen.contains(c)).expect("k ≤ chips"),
        };
        chosen.push(next);
        for (chip, distance) in nearest.iter_mut().enumerate() {
            let to_next = f64::from(squared_distance(vectors.row(chip), vectors.row(next)));
            *distance = distance.min(to_next);
        }
    }
    vectors.gather(chosen)
}

/// Lloyd's iterations from `centres` until no chip changes cluster; an emptied cluster takes
/// the chip farthest from its centre.
fn lloyd(vectors: &Embeddings, mut centres: Embeddings) -> Clustering {
    let mut assignment = vec![usize::MAX; vectors.count()];
    for _ in 0..MAX_ITERATIONS {
        let changed = assign(vectors, &centres, &mut assignment);
        if !changed {
            break;
        }
        centres = means(vectors, &assignment, centres.count());
        refill_empty(vectors, &mut assignment, &mut centres);
    }
    let inertia = inertia(vectors, &centres, &assignment);
    Clustering {
        assignment,
        centres,
        inertia,
    }
}

/// Σ squared distance of every chip to its cluster's centre.
fn inertia(vectors: &Embeddings, centres: &Embeddings, assignment: &[usize]) -> f64 {
    (0..vectors.count())
        .map(|chip| {
            f64::from(squared_distance(
                vectors.row(chip),
                centres.row(assignment[chip]),
            ))
        })
        .sum()
}

/// Each chip to its nearest centre (the lower index on a tie); whether any chip moved.
fn assign(vectors: &Embeddings, centres: &Embeddings, assignment: &mut [usize]) -> bool {
    let mut changed = false;
    for (chip, cluster) in assignment.iter_mut().enumerate() {
        let row = vectors.row(chip);
        let nearest = (0..centres.count())
            .map(|c| (squared_distance(row, centres.row(c)), c))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, c)| c)
            .expect("at least one centre");
        changed |= *cluster != nearest;
        *cluster = nearest;
    }
    changed
}

/// The mean of each cluster's chips (accumulated in f64); an empty cluster's centre is zeros.
fn means(vectors: &Embeddings, assignment: &[usize], k: usize) -> Embeddings {
    let dim = vectors.dim;
    let mut sums = vec![0.0f64; k * dim];
    let mut counts = vec![0usize; k];
    for (chip, &cluster) in assignment.iter().enumerate() {
        counts[cluster] += 1;
        let sum = &mut sums[cluster * dim..(cluster + 1) * dim];
        sum.iter_mut()
            .zip(vectors.row(chip))
            .for_each(|(s, &v)| *s += f64::from(v));
    }
    let values = sums
        .chunks(dim.max(1))
        .zip(&counts)
        .flat_map(|(sum, &n)| sum.iter().map(move |s| (s / n.max(1) as f64) as f32))
        .collect();
    Embeddings { dim, values }
}

/// Gives every empty cluster the chip farthest from its own centre, as its new centre.
fn refill_empty(vectors: &Embeddings, assignment: &mut [usize], centres: &mut Embeddings) {
    let dim = vectors.dim;
    for cluster in 0..centres.count() {
        if assignment.contains(&cluster) {
            continue;
        }
        let farthest = (0..vectors.count())
            .map(|chip| {
                let own = centres.row(assignment[chip]);
                (squared_distance(vectors.row(chip), own), chip)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, chip)| chip)
            .expect("at least one chip");
        assignment[farthest] = cluster;
        centres.values[cluster * dim..(cluster + 1) * dim].copy_from_slice(vectors.row(farthest));
    }
}

/// The adjusted Rand index of two partitions of the same chips (Hubert & Arabie 1985): 1 when
/// they agree, about 0 for a random one, negative for worse than random.
///
/// # Panics
/// If the partitions differ in length.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    assert_eq!(a.len(), b.len(), "partitions of different chips");
    let n = a.len();
    let (ka, kb) = (
        a.iter().max().map_or(0, |m| m + 1),
        b.iter().max().map_or(0, |m| m + 1),
    );
    let mut table = vec![0u64; ka * kb];
    for (&x, &y) in a.iter().zip(b) {
        table[x * kb + y] += 1;
    }
    let pairs = |count: u64| (count * count.saturating_sub(1) / 2) as f64;
    let index: f64 = table.iter().map(|&c| pairs(c)).sum();
    let rows: f64 = (0..ka)
        .map(|x| pairs(table[x * kb..(x + 1) * kb].iter().sum()))
        .sum();
    let cols: f64 = (0..kb)
        .map(|y| pairs((0..ka).map(|x| table[x * kb + y]).sum()))
        .sum();
    let total = pairs(n as u64);
    let expected = rows * cols / total.max(1.0);
    let maximum = (rows + cols) / 2.0;
    match maximum - expected {
        d if d != 0.0 => (index - expected) / d,
        // Both partitions are trivial (one cluster each, or every chip alone): they agree.
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated blobs of four chips each in 2-D.
    fn blobs() -> Embeddings {
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let offsets = [[0.1f32, 0.0], [-0.1, 0.0], [0.0, 0.1], [0.0, -0.1]];
        let values = centres
            .iter()
            .flat_map(|c| offsets.iter().flat_map(move |o| [c[0] + o[0], c[1] + o[1]]))
            .collect();
        Embeddings { dim: 2, values }
    }

    #[test]
    fn kmeans_finds_the_blobs_and_the_same_seed_gives_the_same_clusters() {
        let vectors = blobs();
        let clustering = kmeans(&vectors, 3, 7);
        let truth: Vec<usize> = (0..12).map(|chip| chip / 4).collect();
        assert_eq!(adjusted_rand_index(&clustering.assignment, &truth), 1.0);
        assert_eq!(kmeans(&vectors, 3, 7), clustering);
        assert!((clustering.inertia - 12.0 * 0.01).abs() < 1e-5);
    }

    #[test]
    fn the_silhouette_suggests_three_clusters_for_three_blobs() {
        let (k, scores) = suggest_k(&blobs(), 1);
        assert_eq!(k, 3, "{scores:?}");
        assert_eq!(scores.first().map(|s| s.0), Some(2));
    }

    /// By hand for the cluster at the origin: the chips at distance 0.1 from its centre come
    /// first, ties in grid order.
    #[test]
    fn a_named_cluster_gives_the_chips_nearest_its_centre() {
        let vectors = blobs();
        let clustering = kmeans(&vectors, 3, 7);
        let origin = clustering.assignment[0];
        assert_eq!(clustering.nearest_to_centre(&vectors, origin, 3), [0, 1, 2]);
    }

    /// Merging the blob at (10, 0) into the one at the origin: one cluster of eight chips
    /// centred at (5, 0), the third blob renumbered 1.
    #[test]
    fn merging_joins_two_clusters_and_renumbers_the_rest() {
        let vectors = blobs();
        let mut clustering = kmeans(&vectors, 3, 7);
        let (origin, right, top) = (
            clustering.assignment[0],
            clustering.assignment[4],
            clustering.assignment[8],
        );
        clustering.merge(right, origin, &vectors);
        assert_eq!(clustering.k(), 2);
        let merged = clustering.assignment[0];
        assert_eq!(clustering.members(merged), (0..8).collect::<Vec<_>>());
        let centre = clustering.centres.row(merged);
        assert!(
            (centre[0] - 5.0).abs() < 1e-5 && centre[1].abs() < 1e-5,
            "{centre:?}"
        );
        let expected_top = if top > right { top - 1 } else { top };
        assert_eq!(clustering.assignment[8], expected_top);
    }

    /// A random projection to 16 of 256 dimensions keeps the distances between 20 random
    /// vectors to within 50 % (the Johnson–Lindenstrauss spread at 16 dimensions), and the same
    /// seed gives the same projection.
    #[test]
    fn a_projection_keeps_distances_roughly_and_is_seeded() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let values = (0..20 * 256).map(|_| rng.random::<f32>()).collect();
        let vectors = Embeddings { dim: 256, values };
        let projected = project(&vectors, 16, 9);
        assert_eq!(projected.dim, 16);
        assert_eq!(projected, project(&vectors, 16, 9));
        for (a, b) in [(0, 1), (2, 3), (4, 19)] {
            let before = squared_distance(vectors.row(a), vectors.row(b)).sqrt();
            let after = squared_distance(projected.row(a), projected.row(b)).sqrt();
            assert!(
                (after / before - 1.0).abs() < 0.5,
                "{a}, {b}: {before} → {after}"
            );
        }
    }

    /// A proposal with k left to the silhouette finds the three blobs and records k = 3.
    #[test]
    fn a_proposal_records_what_reproduces_it() {
        let proposal = Proposal::new(&blobs(), None, 4);
        assert_eq!(proposal.settings, ProposalSettings { k: 3, seed: 4 });
        assert_eq!(
            Proposal::new(&blobs(), Some(3), 4).clustering,
            proposal.clustering
        );
        assert_eq!(
            proposal.supports(proposal.clustering.assignment[11]).len(),
            3
        );
    }

    /// More clusters than distinct chips: every cluster still has a chip.
    #[test]
    fn no_cluster_stays_empty() {
        let vectors = Embeddings {
            dim: 1,
            values: vec![1.0, 1.0, 1.0, 5.0],
        };
        let clustering = kmeans(&vectors, 3, 3);
        for cluster in 0..3 {
            assert!(!clustering.members(cluster).is_empty(), "{clustering:?}");
        }
    }

    /// scikit-learn 1.9.1's `sklearn.metrics.adjusted_rand_score` (pip, Python 3.11) on the
    /// examples of its documentation: ([0,0,1,1],[0,0,1,1]) → 1.0; ([0,0,1,2],[0,0,1,1]) →
    /// 0.5714285714285714; ([0,0,1,1],[0,1,0,1]) → −0.5; ([0,0,0,0],[0,1,2,3]) → 0.0.
    #[test]
    fn adjusted_rand_index_matches_scikit_learn() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 1]), 1.0);
        let partial = adjusted_rand_index(&[0, 0, 1, 2], &[0, 0, 1, 1]);
        assert!(
            (partial - 0.571_428_571_428_571_4).abs() < 1e-12,
            "{partial}"
        );
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) + 0.5).abs() < 1e-12);
        assert_eq!(adjusted_rand_index(&[0, 0, 0, 0], &[0, 1, 2, 3]), 0.0);
    }
}
