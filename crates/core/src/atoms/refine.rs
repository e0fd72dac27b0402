//! Sub-pixel refinement of detected columns, as Atomap refines its atom positions.
//!
//! Each column is measured inside a disc of radius 0.4 d, where d is the distance to its nearest
//! detected neighbour (Atomap's default `percent_to_nn = 0.40`; d is capped at twice the
//! expected spacing for an isolated column). First the column moves to the centre of mass of
//! the disc's intensities; unlike Atomap, the disc's minimum is subtracted first, so the
//! background does not pull the centre towards the disc's middle. Then an elliptical Gaussian
//! on a constant background is fitted by Levenberg–Marquardt to the disc around that centre.
//! The fit is rejected, and the centre of mass kept ([`Fit::CentreOfMass`]), when it does not
//! converge within 50 trial steps, when its centre leaves the disc (Atomap's "outside the model
//! region"), when its amplitude is not positive, when a σ is wider than the disc, or when one σ
//! is more than 4 times the other (Atomap's sigma-ratio test).

use super::{AtomParams, Blob, Grid, finite_pixels};
use crate::dataset::Image;

/// Fraction of the nearest-neighbour distance that is the radius of a column's disc.
const PERCENT_TO_NN: f32 = 0.4;
/// Levenberg–Marquardt trial steps before a fit counts as not converged.
const MAX_STEPS: usize = 50;
/// Largest accepted ratio of the two σ of a fitted Gaussian.
const MAX_SIGMA_RATIO: f64 = 4.0;
/// Parameters of the fitted model: background, amplitude, x, y, σx, σy, rotation.
const PARAMETERS: usize = 7;

/// How a column's position was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// An elliptical Gaussian was fitted.
    Gaussian,
    /// The Gaussian fit failed or was rejected: the centre of mass of the column's disc.
    CentreOfMass,
}

/// A refined atom column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AtomColumn {
    /// Column, in pixels (pixel centres are integers).
    pub x: f32,
    /// Row, in pixels.
    pub y: f32,
    /// Height of the Gaussian above the local background (for a centre-of-mass column: the
    /// disc's maximum minus its minimum), in the image's units.
    pub amplitude: f32,
    /// Standard deviation along the Gaussian's first axis, in pixels (the detecting scale for
    /// a centre-of-mass column).
    pub sigma_x: f32,
    /// Standard deviation along the second axis, in pixels.
    pub sigma_y: f32,
    /// Angle of the first axis from the image's x axis towards +y (down), radians in
    /// (−π/2, π/2].
    pub rotation: f32,
    /// How the position was measured.
    pub fit: Fit,
}

/// Refines every blob of `image` to a column, in the order given.
pub fn refine(image: &Image, blobs: &[Blob], params: &AtomParams) -> Vec<AtomColumn> {
    if blobs.is_empty() {
        return Vec::new();
    }
    let pixels = finite_pixels(image);
    let cap = if params.spacing_px.is_finite() && params.spacing_px > 0.0 {
        2.0 * params.spacing_px
    } else {
        f32::MAX
    };
    let neighbours = nearest_distances(blobs, cap);
    blobs
        .iter()
        .zip(neighbours)
        .map(|(blob, d)| refine_one(&pixels, image.width(), blob, PERCENT_TO_NN * d))
        .collect()
}

/// Each blob's distance to its nearest other blob, capped at `cap` (and at least one pixel).
fn nearest_distances(blobs: &[Blob], cap: f32) -> Vec<f32> {
    let points: Vec<(f32, f32)> = blobs.iter().map(|b| (b.x, b.y)).collect();
    let cell = cap.min(points.iter().fold(1.0f32, |m, p| m.max(p.0).max(p.1)) + 1.0);
    let grid = Grid::new(&points, cell);
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            grid.near(x, y)
                .filter(|&j| j != i)
                .map(|j| (points[j].0 - x).hypot(points[j].1 - y))
                .fold(cap, f32::min)
                .max(1.0)
        })
        .collect()
}

/// One intensity sample: pixel centre and value.
type Sample = (f64, f64, f64);

/// The pixels whose centres lie within `radius` of `centre`.
fn disc(pixels: &[f32], width: usize, centre: (f32, f32), radius: f32) -> Vec<Sample> {
    let height = pixels.len() / width;
    let span = |c: f32, n: usize| {
        let lo = (c - radius).ceil().max(0.0) as usize;
        let hi = ((c + radius).floor().max(-1.0) + 1.0) as usize;
        lo..hi.min(n)
    };
    let mut samples = Vec::new();
    for y in span(centre.1, height) {
        for x in span(centre.0, width) {
            let (dx, dy) = (x as f32 - centre.0, y as f32 - centre.1);
            if dx * dx + dy * dy <= radius * radius {
                samples.push((x as f64, y as f64, f64::from(pixels[y * width + x])));
            }
        }
    }
    samples
}

/// The smallest and largest value of `samples`.
fn value_range(samples: &[Sample]) -> (f64, f64) {
    samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.2), hi.max(s.2))
        })
}

/// The centre of mass of `samples` above their minimum, or `None` when they are flat.
fn centre_of_mass(samples: &[Sample]) -> Option<(f64, f64)> {
    let (lo, _) = value_range(samples);
    let (mut total, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for &(x, y, v) in samples {
        total += v - lo;
        sx += (v - lo) * x;
        sy += (v - lo) * y;
    }
    (total > 0.0).then(|| (sx / total, sy / total))
}

/// Moves `blob` to the centre of mass of its disc, then fits a Gaussian there.
fn refine_one(pixels: &[f32], width: usize, blob: &Blob, radius: f32) -> AtomColumn {
    let start = disc(pixels, width, (blob.x, blob.y), radius);
    let (cx, cy) = centre_of_mass(&start).unwrap_or((f64::from(blob.x), f64::from(blob.y)));
    let samples = disc(pixels, width, (cx as f32, cy as f32), radius);
    let (lo, hi) = value_range(&samples);
    let guess = [
        lo,
        hi - lo,
        cx,
        cy,
        f64::from(blob.sigma),
        f64::from(blob.sigma),
        0.0,
    ];
    let fitted =
        levenberg_marquardt(&samples, guess).filter(|p| plausible(p, (cx, cy), f64::from(radius)));
    match fitted {
        Some(p) => AtomColumn {
            x: p[2] as f32,
            y: p[3] as f32,
            amplitude: p[1] as f32,
            sigma_x: p[4].abs() as f32,
            sigma_y: p[5].abs() as f32,
            rotation: (p[6] - std::f64::consts::PI * (p[6] / std::f64::consts::PI).round()) as f32,
            fit: Fit::Gaussian,
        },
        None => AtomColumn {
            x: cx as f32,
            y: cy as f32,
            amplitude: if samples.is_empty() {
                0.0
            } else {
                (hi - lo) as f32
            },
            sigma_x: blob.sigma,
            sigma_y: blob.sigma,
            rotation: 0.0,
            fit: Fit::CentreOfMass,
        },
    }
}

/// Whether fitted parameters `p` describe a column: centre within `radius` of `start`, positive
/// amplitude, both σ within the disc and within a factor 4 of each other.
fn plausible(p: &[f64; PARAMETERS], start: (f64, f64), radius: f64) -> bool {
    let (sx, sy) = (p[4].abs(), p[5].abs());
    let moved = (p[2] - start.0).hypot(p[3] - start.1);
    p.iter().all(|v| v.is_finite())
        && moved <= radius
        && p[1] > 0.0
        && sx > 0.0
        && sy > 0.0
        && sx.max(sy) <= radius
        && sx.max(sy) <= MAX_SIGMA_RATIO * sx.min(sy)
}

/// The model b + A·exp(−u²/2σx² − v²/2σy²), (u, v) the offset from (x0, y0) rotated by −θ, at
/// (`x`, `y`): its value and its gradient with respect to `p`.
fn model(p: &[f64; PARAMETERS], x: f64, y: f64) -> (f64, [f64; PARAMETERS]) {
    let [b, a, x0, y0, sx, sy, theta] = *p;
    let (sin, cos) = theta.sin_cos();
    let (dx, dy) = (x - x0, y - y0);
    let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
    let (ix, iy) = (1.0 / (sx * sx), 1.0 / (sy * sy));
    let e = (-0.5 * (u * u * ix + v * v * iy)).exp();
    let ae = a * e;
    // ∂f/∂q = −A·e·∂Q/∂q for Q = u²/2σx² + v²/2σy².
    let gradient = [
        1.0,
        e,
        ae * (u * cos * ix - v * sin * iy),
        ae * (u * sin * ix + v * cos * iy),
        ae * u * u * ix / sx,
        ae * v * v * iy / sy,
        -ae * u * v * (ix - iy),
    ];
    (b + ae, gradient)
}

/// Sum of squared residuals of `p` over `samples`.
fn cost(p: &[f64; PARAMETERS], samples: &[Sample]) -> f64 {
    samples
        .iter()
        .map(|&(x, y, v)| (v - model(p, x, y).0).powi(2))
        .sum()
}

/// The normal equations JᵀJ and Jᵀr of `p` over `samples`.
fn normal_equations(
    p: &[f64; PARAMETERS],
    samples: &[Sample],
) -> ([[f64; PARAMETERS]; PARAMETERS], [f64; PARAMETERS]) {
    let mut jtj = [[0.0; PARAMETERS]; PARAMETERS];
    let mut jtr = [0.0; PARAMETERS];
    for &(x, y, v) in samples {
        let (f, g) = model(p, x, y);
        for i in 0..PARAMETERS {
            jtr[i] += g[i] * (v - f);
            for j in 0..=i {
                jtj[i][j] += g[i] * g[j];
            }
        }
    }
    (jtj, jtr)
}

/// Least-squares fit of [`model`] to `samples` from `start` by Levenberg–Marquardt with
/// Marquardt's diagonal scaling; `None` unless it converges within `MAX_STEPS` trial steps.
fn levenberg_marquardt(samples: &[Sample], start: [f64; PARAMETERS]) -> Option<[f64; PARAMETERS]> {
    if samples.len() < 2 * PARAMETERS {
        return None;
    }
    let mut p = start;
    let mut current = cost(&p, samples);
    let mut lambda = 1e-3;
    let mut equations = normal_equations(&p, samples);
    for _ in 0..MAX_STEPS {
        let (jtj, jtr) = &equations;
        let Some(step) = damped_step(jtj, jtr, lambda) else {
            lambda *= 10.0;
            continue;
        };
        let trial: [f64; PARAMETERS] = std::array::from_fn(|i| p[i] + step[i]);
        let trial_cost = cost(&trial, samples);
        if trial_cost.is_finite() && trial_cost < current {
            let settled = current - trial_cost <= 1e-10 * current
                || (0..PARAMETERS).all(|i| step[i].abs() <= 1e-7 * (1.0 + p[i].abs()));
            p = trial;
            current = trial_cost;
            if settled {
                return Some(p);
            }
            lambda = (lambda * 0.3).max(1e-12);
            equations = normal_equations(&p, samples);
        } else if lambda > 1e10 {
            // No step along the gradient lowers the cost: a minimum to working precision.
            return Some(p);
        } else {
            lambda *= 10.0;
        }
    }
    None
}

/// Solves (JᵀJ + λ·diag JᵀJ) δ = Jᵀr, the lower triangle of `jtj` given; a diagonal entry is
/// never taken below 10⁻⁹ of the largest, so a parameter the data do not yet constrain (the
/// rotation of a round start) stays put instead of making the system singular.
fn damped_step(
    jtj: &[[f64; PARAMETERS]; PARAMETERS],
    jtr: &[f64; PARAMETERS],
    lambda: f64,
) -> Option<[f64; PARAMETERS]> {
    let largest = (0..PARAMETERS).map(|i| jtj[i][i]).fold(0.0, f64::max);
    let mut m = *jtj;
    for (i, row) in m.iter_mut().enumerate() {
        row[i] += lambda * jtj[i][i].max(1e-9 * largest);
    }
    cholesky_solve(&mut m, jtr)
}

/// Solves m·δ = b for symmetric positive-definite `m` (lower triangle used, overwritten by its
/// Cholesky factor); `None` when `m` is not positive definite.
fn cholesky_solve(
    m: &mut [[f64; PARAMETERS]; PARAMETERS],
    b: &[f64; PARAMETERS],
) -> Option<[f64; PARAMETERS]> {
    for j in 0..PARAMETERS {
        let pivot = m[j][j] - (0..j).map(|k| m[j][k] * m[j][k]).sum::<f64>();
        if pivot.is_nan() || pivot <= 0.0 {
            return None;
        }
        m[j][j] = pivot.sqrt();
        for i in j + 1..PARAMETERS {
            m[i][j] = (m[i][j] - (0..j).map(|k| m[i][k] * m[j][k]).sum::<f64>()) / m[j][j];
        }
    }
    let mut z = [0.0; PARAMETERS];
    for i in 0..PARAMETERS {
        z[i] = (b[i] - (0..i).map(|k| m[i][k] * z[k]).sum::<f64>()) / m[i][i];
    }
    let mut x = [0.0; PARAMETERS];
    for i in (0..PARAMETERS).rev() {
        x[i] = (z[i] - (i + 1..PARAMETERS).map(|k| m[k][i] * x[k]).sum::<f64>()) / m[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `size × size` image of `p`'s model.
    fn render(size: usize, p: &[f64; PARAMETERS]) -> Image {
        let pixels = (0..size * size)
            .map(|i| model(p, (i % size) as f64, (i / size) as f64).0 as f32)
            .collect();
        Image::new(size, size, pixels)
    }

    fn params() -> AtomParams {
        AtomParams {
            spacing_px: 10.0,
            threshold: 0.2,
        }
    }

    #[test]
    fn gaussian_fit_recovers_an_elliptical_column() {
        let truth = [0.2, 3.0, 15.3, 14.6, 2.2, 1.4, 0.5];
        let image = render(30, &truth);
        let blobs = [Blob {
            x: 15.0,
            y: 15.0,
            sigma: 1.8,
        }];
        let column = refine(&image, &blobs, &params())[0];
        assert_eq!(column.fit, Fit::Gaussian);
        let got = [
            column.amplitude,
            column.x,
            column.y,
            column.sigma_x,
            column.sigma_y,
        ];
        for (g, t) in got.iter().zip(&truth[1..6]) {
            assert!((f64::from(*g) - t).abs() < 1e-3, "{column:?}");
        }
        assert!(
            (f64::from(column.rotation) - 0.5).abs() < 1e-3,
            "{column:?}"
        );
    }

    #[test]
    fn model_gradient_matches_finite_differences() {
        let p = [0.3, 2.0, 1.2, -0.7, 1.5, 0.9, 0.4];
        let (_, gradient) = model(&p, 0.4, 0.1);
        for i in 0..PARAMETERS {
            let mut q = p;
            q[i] += 1e-6;
            let numeric = (model(&q, 0.4, 0.1).0 - model(&p, 0.4, 0.1).0) / 1e-6;
            assert!(
                (numeric - gradient[i]).abs() < 1e-4,
                "{i}: {numeric} {}",
                gradient[i]
            );
        }
    }

    /// A ridge is no column: its fit along the ridge runs wider than the disc or beyond the
    /// sigma ratio, and the centre of mass is kept.
    #[test]
    fn a_ridge_falls_back_to_the_centre_of_mass() {
        let pixels = (0..40 * 40)
            .map(|i| {
                let y = (i / 40) as f32;
                (-(y - 20.3).powi(2) / 2.0).exp()
            })
            .collect();
        let image = Image::new(40, 40, pixels);
        let blobs = [Blob {
            x: 20.0,
            y: 20.0,
            sigma: 1.5,
        }];
        let column = refine(&image, &blobs, &params())[0];
        assert_eq!(column.fit, Fit::CentreOfMass);
        assert_eq!(column.x, 20.0);
        assert!((column.y - 20.3).abs() < 0.1, "{column:?}");
    }

    #[test]
    fn flat_and_tiny_discs_keep_the_blob() {
        let image = Image::new(8, 8, vec![1.0; 64]);
        let blobs = [
            Blob {
                x: 3.0,
                y: 4.0,
                sigma: 1.0,
            },
            Blob {
                x: 3.0,
                y: 4.0,
                sigma: 1.0,
            },
        ];
        for column in refine(&image, &blobs, &params()) {
            assert_eq!(
                (column.x, column.y, column.fit),
                (3.0, 4.0, Fit::CentreOfMass)
            );
        }
    }

    #[test]
    fn nearest_distances_are_capped() {
        let blobs = [
            Blob {
                x: 0.0,
                y: 0.0,
                sigma: 1.0,
            },
            Blob {
                x: 3.0,
                y: 4.0,
                sigma: 1.0,
            },
            Blob {
                x: 100.0,
                y: 0.0,
                sigma: 1.0,
            },
        ];
        assert_eq!(nearest_distances(&blobs, 20.0), vec![5.0, 5.0, 20.0]);
    }

    #[test]
    fn cholesky_solves_and_refuses_indefinite_systems() {
        let mut m = [[0.0; PARAMETERS]; PARAMETERS];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = 2.0 + i as f64;
            if i > 0 {
                row[i - 1] = 0.5;
            }
        }
        let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let x = cholesky_solve(&mut m.clone(), &b).unwrap();
        for i in 0..PARAMETERS {
            let below = if i > 0 { 0.5 * x[i - 1] } else { 0.0 };
            let above = if i + 1 < PARAMETERS {
                0.5 * x[i + 1]
            } else {
                0.0
            };
            assert!((below + m[i][i] * x[i] + above - b[i]).abs() < 1e-12);
        }
        m[3][3] = -1.0;
        assert!(cholesky_solve(&mut m, &b).is_none());
    }
}
