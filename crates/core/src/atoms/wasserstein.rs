//! The 1-D Wasserstein-1 distance between distributions on a common support (the r bins of the
//! per-chip pair distribution functions), their Wasserstein barycenter, and the chips × classes
//! distance table the classifier reads.
//!
//! W1 between two 1-D distributions is the area between their cumulative distribution functions,
//! ∫ |U(x) − V(x)| dx. On a sorted support x₀ < x₁ < … both CDFs are steps that change only at
//! the support points, so the integral is the exact sum Σᵢ |Uᵢ − Vᵢ| (xᵢ₊₁ − xᵢ), where Uᵢ is the
//! normalised weight at or below xᵢ — the same sum `scipy.stats.wasserstein_distance` evaluates.

/// 1-D Wasserstein-1 distance between two distributions with weights `u`, `v` on the same
/// sorted support `values`; the weights are normalised to sum 1 inside. `None` when either
/// weight vector sums to zero, or has a negative or non-finite entry.
///
/// # Panics
/// If `u` or `v` is not as long as `values`.
pub fn wasserstein_1d(values: &[f32], u: &[f32], v: &[f32]) -> Option<f64> {
    assert_eq!(
        u.len(),
        values.len(),
        "u weights and support differ in length"
    );
    assert_eq!(
        v.len(),
        values.len(),
        "v weights and support differ in length"
    );
    let (u_total, v_total) = (total(u)?, total(v)?);
    let (mut u_cum, mut v_cum, mut sum) = (0.0_f64, 0.0_f64, 0.0_f64);
    for i in 0..values.len().saturating_sub(1) {
        u_cum += f64::from(u[i]);
        v_cum += f64::from(v[i]);
        let gap = f64::from(values[i + 1]) - f64::from(values[i]);
        sum += (u_cum / u_total - v_cum / v_total).abs() * gap;
    }
    Some(sum)
}

/// The sum of `weights` in f64, `None` unless it is positive and finite with no negative entry.
fn total(weights: &[f32]) -> Option<f64> {
    let mut sum = 0.0_f64;
    for &w in weights {
        if w.is_nan() || w < 0.0 {
            return None;
        }
        sum += f64::from(w);
    }
    (sum > 0.0 && sum.is_finite()).then_some(sum)
}

/// The cumulative distribution of `weights`, normalised so that its last entry is exactly 1;
/// `None` as for [`wasserstein_1d`].
fn cdf(weights: &[f32]) -> Option<Vec<f64>> {
    let sum = total(weights)?;
    let mut cum = 0.0_f64;
    Some(
        weights
            .iter()
            .map(|&w| {
                cum += f64::from(w);
                cum / sum
            })
            .collect(),
    )
}

/// Class prototype: the Wasserstein barycenter of distributions on a common sorted support
/// `values` (one weight vector per member, unnormalised), as weights on the same support that
/// sum to 1. Members whose weights are all zero (chips without atom information) or invalid (as
/// for [`wasserstein_1d`]) are left out; `None` when no member is left.
///
/// In 1-D the barycenter's quantile function is the mean of the members' quantile functions.
/// Each member's quantile function is a step function (its support value at each cumulative
/// level), so their mean is a step function too, with a step at every member's cumulative
/// level: between consecutive levels ℓ < ℓ′ the barycenter puts mass ℓ′ − ℓ at the mean of the
/// members' quantiles there. This is exact; the only discretisation is putting each such mass
/// back on the support, split linearly between the two support points around its position, which
/// keeps its mean and moves it by less than one bin.
///
/// Chosen over the mean of the members' weights because the mean of two peaks at different r is
/// bimodal, while the barycenter keeps one peak at the average position: a class of lattices with
/// spacing ≈ a should have a prototype with its first peak at a.
///
/// # Panics
/// If a member is not as long as `values`.
pub fn barycenter(values: &[f32], members: &[&[f32]]) -> Option<Vec<f32>> {
    for member in members {
        assert_eq!(
            member.len(),
            values.len(),
            "member and support differ in length"
        );
    }
    let cdfs: Vec<Vec<f64>> = members.iter().filter_map(|m| cdf(m)).collect();
    if cdfs.is_empty() {
        return None;
    }
    let mut weights = vec![0.0_f64; values.len()];
    for (position, mass) in averaged_quantiles(values, &cdfs) {
        deposit(values, &mut weights, position, mass);
    }
    Some(weights.into_iter().map(|w| w as f32).collect())
}

/// The barycenter as (position, mass) atoms: walks the cumulative levels of all `cdfs` (each
/// ending at exactly 1) in increasing order, keeping for each member the index of its quantile
/// just above the current level.
fn averaged_quantiles(values: &[f32], cdfs: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let mut at = vec![0_usize; cdfs.len()];
    let mut atoms = Vec::new();
    let mut level = 0.0_f64;
    while level < 1.0 {
        for (i, cdf) in at.iter_mut().zip(cdfs) {
            while cdf[*i] <= level {
                *i += 1;
            }
        }
        let next = at
            .iter()
            .zip(cdfs)
            .map(|(&i, cdf)| cdf[i])
            .fold(f64::INFINITY, f64::min);
        let position = at.iter().map(|&i| f64::from(values[i])).sum::<f64>() / cdfs.len() as f64;
        atoms.push((position, next - level));
        level = next;
    }
    atoms
}

/// Adds `mass` at `position` (between the first and last of the sorted `values`) to `weights`,
/// split linearly between the two support points around it.
fn deposit(values: &[f32], weights: &mut [f64], position: f64, mass: f64) {
    let above = values
        .partition_point(|&v| f64::from(v) < position)
        .min(values.len() - 1);
    if above == 0 {
        weights[0] += mass;
        return;
    }
    let (low, high) = (f64::from(values[above - 1]), f64::from(values[above]));
    let t = ((position - low) / (high - low)).clamp(0.0, 1.0);
    weights[above - 1] += mass * (1.0 - t);
    weights[above] += mass * t;
}

/// W1 distances from every chip to every prototype, all on the support `values`: one row of
/// `prototypes.len()` distances per chip, `None` for a chip whose weights are all zero (no atom
/// information). A prototype whose weights are all zero is at infinite distance.
pub fn distances(
    values: &[f32],
    chips: &[Vec<f32>],
    prototypes: &[Vec<f32>],
) -> Vec<Option<Vec<f64>>> {
    chips
        .iter()
        .map(|chip| {
            total(chip)?;
            Some(
                prototypes
                    .iter()
                    .map(|p| wasserstein_1d(values, chip, p).unwrap_or(f64::INFINITY))
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from scipy 1.17.1 with numpy 2.4.6 (Python 3.11):
    /// `f = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)` then
    /// `scipy.stats.wasserstein_distance(f(x), f(x), u_weights=f(u), v_weights=f(v))`, so the
    /// inputs are the same f32 values Rust sees.
    #[test]
    fn matches_scipy() {
        // (support, u, v, scipy's W1)
        type Case = (&'static [f32], &'static [f32], &'static [f32], f64);
        let cases: [Case; 7] = [
            (
                &[0., 1., 2., 3., 4.],
                &[1., 2., 3., 4., 5.],
                &[5., 0., 0., 0., 1.],
                2.0,
            ),
            (
                &[0.5, 1.25, 2.0, 4.0, 7.5, 7.75],
                &[0.1, 0., 0.3, 0.2, 0., 0.4],
                &[0., 0.7, 0., 0., 0.2, 0.1],
                1.549999937415123,
            ),
            (
                &[
                    0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, 5.25, 5.75, 6.25,
                    6.75, 7.25, 7.75,
                ],
                &[
                    0., 0., 1., 4., 9., 12., 9., 4., 1., 0., 0., 0., 0., 0., 0., 0.,
                ],
                &[
                    0., 0., 0., 0., 0., 0., 0., 1., 3., 6., 6., 3., 1., 0., 0., 2.,
                ],
                2.5,
            ),
            (
                &[1., 2., 3., 4., 5., 6., 7., 8.],
                &[0., 0., 3., 0., 0., 0., 0., 0.],
                &[0., 0., 0., 0., 0., 0., 0., 0.25],
                5.0,
            ),
            (&[0., 1., 2., 3.], &[1., 2., 3., 4.], &[2., 4., 6., 8.], 0.0),
            (
                &[0.3, 0.9, 1.7, 2.2, 3.1, 4.6, 5.0, 6.8],
                &[3., 1., 4., 1., 5., 9., 2., 6.],
                &[2., 7., 1., 8., 2., 8., 1., 8.],
                0.47977330602556084,
            ),
            (
                &[0.25, 0.75, 1.25, 1.75, 2.25, 2.75],
                &[0., 0.5, 0., 0., 0., 0.5],
                &[1e-3, 0., 0., 0.125, 0., 0.],
                0.99603174584476,
            ),
        ];
        for (values, u, v, expected) in cases {
            let w1 = wasserstein_1d(values, u, v).unwrap();
            assert!((w1 - expected).abs() < 1e-9, "{w1} vs scipy {expected}");
            let back = wasserstein_1d(values, v, u).unwrap();
            assert!((back - expected).abs() < 1e-9, "not symmetric: {back}");
        }
    }

    #[test]
    fn empty_or_invalid_weights_have_no_distance() {
        let values = [1.0, 2.0, 3.0];
        assert_eq!(wasserstein_1d(&values, &[0.0; 3], &[1.0, 0.0, 0.0]), None);
        assert_eq!(wasserstein_1d(&values, &[1.0, 0.0, 0.0], &[0.0; 3]), None);
        assert_eq!(wasserstein_1d(&values, &[1.0, -0.5, 0.0], &[1.0; 3]), None);
        assert_eq!(
            wasserstein_1d(&values, &[f32::NAN, 1.0, 0.0], &[1.0; 3]),
            None
        );
        assert_eq!(barycenter(&values, &[&[0.0; 3]]), None);
    }

    /// 60 bins of 0.5 from 0.25, like a g(r) grid.
    fn support() -> Vec<f32> {
        (0..60).map(|i| 0.25 + 0.5 * i as f32).collect()
    }

    /// A triangular bump of half-width 6 bins centred on bin `centre`.
    fn bump(centre: usize) -> Vec<f32> {
        (0..60)
            .map(|i| (6.0 - (i as f32 - centre as f32).abs()).max(0.0))
            .collect()
    }

    #[test]
    fn barycenter_of_shifted_bumps_is_the_bump_shifted_halfway() {
        let values = support();
        for (a, b) in [(15, 35), (15, 34)] {
            let (first, second) = (bump(a), bump(b));
            let middle = barycenter(&values, &[&first, &second]).unwrap();
            assert!((middle.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            let apart = wasserstein_1d(&values, &first, &second).unwrap();
            let to_first = wasserstein_1d(&values, &middle, &first).unwrap();
            let to_second = wasserstein_1d(&values, &middle, &second).unwrap();
            // Masses land between bins when the shift is odd, but the linear split keeps every
            // mean, and each bump dominates the barycenter, so W1 is the difference of means.
            assert!(
                (to_first - apart / 2.0).abs() < 1e-6,
                "{to_first} vs {apart}/2"
            );
            assert!(
                (to_second - apart / 2.0).abs() < 1e-6,
                "{to_second} vs {apart}/2"
            );
            if (b - a) % 2 == 0 {
                let shifted = bump((a + b) / 2);
                assert!(wasserstein_1d(&values, &middle, &shifted).unwrap() < 1e-6);
            }
            let mean: Vec<f32> = first.iter().zip(&second).map(|(p, q)| p + q).collect();
            let spread = |c: &[f32]| {
                wasserstein_1d(&values, c, &first).unwrap()
                    + wasserstein_1d(&values, c, &second).unwrap()
            };
            // In 1-D the sum of W1 is the same (= apart) for every distribution "between" the
            // two, the mean PDF included; the barycenter attains that minimum too, while the
            // mean PDF keeps two peaks and the barycenter one.
            assert!(spread(&middle) <= spread(&mean) + 1e-6);
            assert_eq!(peaks(&middle), 1);
            assert_eq!(peaks(&mean), 2);
        }
    }

    /// Strict local maxima of a bumpy profile, plateaus counted once.
    fn peaks(weights: &[f32]) -> usize {
        let rising = weights.windows(2).map(|w| w[1] > w[0] + 1e-7);
        let falling = weights.windows(2).map(|w| w[1] < w[0] - 1e-7);
        let steps: Vec<i8> = rising
            .zip(falling)
            .filter_map(|(up, down)| match (up, down) {
                (true, _) => Some(1),
                (_, true) => Some(-1),
                _ => None,
            })
            .collect();
        steps.windows(2).filter(|s| s[0] == 1 && s[1] == -1).count()
    }

    #[test]
    fn barycenter_minimises_the_summed_distance_of_unequal_members() {
        let values = support();
        let members = [bump(12), bump(20), bump(40)];
        let refs: Vec<&[f32]> = members.iter().map(Vec::as_slice).collect();
        let centre = barycenter(&values, &refs).unwrap();
        let mean: Vec<f32> = (0..60)
            .map(|i| members.iter().map(|m| m[i]).sum())
            .collect();
        let cost = |c: &[f32]| -> f64 {
            refs.iter()
                .map(|m| wasserstein_1d(&values, c, m).unwrap())
                .sum()
        };
        // Members at r = 6.25, 10.25, 20.25: the barycenter sits at 12.25 and is 6 + 2 + 8 = 16
        // away in all. The mean PDF is farther: 18.01851851851852 by scipy 1.17.1 (numpy 2.4.6),
        // `sum(wasserstein_distance(x, x, sum(m), mi) for mi in m)` with `x = 0.25 + 0.5 *
        // np.arange(60)` and `m` the three bumps as below.
        assert!((cost(&centre) - 16.0).abs() < 1e-5, "{}", cost(&centre));
        assert!(
            (cost(&mean) - 18.01851851851852).abs() < 1e-9,
            "{}",
            cost(&mean)
        );
        let expected = bump(24);
        assert!(wasserstein_1d(&values, &centre, &expected).unwrap() < 1e-6);
    }

    #[test]
    fn distances_skip_empty_chips() {
        let values = support();
        let chips = vec![bump(20), vec![0.0; 60], bump(30)];
        let prototypes = vec![bump(20), bump(30), vec![0.0; 60]];
        let table = distances(&values, &chips, &prototypes);
        assert_eq!(table[1], None);
        let first = table[0].as_ref().unwrap();
        assert!(first[0] < 1e-9 && (first[1] - 5.0).abs() < 1e-6 && first[2].is_infinite());
        let last = table[2].as_ref().unwrap();
        assert!((last[0] - 5.0).abs() < 1e-6 && last[1] < 1e-9);
    }
}
