//! Separable Gaussian filtering of row-major images, as SciPy's `ndimage` does it: 1-D
//! Gaussian kernels (and their second derivative) truncated at 4 σ, correlated along rows and
//! columns with `reflect` (half-sample symmetric) borders. [`gaussian_smooth`] is SciPy's
//! `gaussian_filter`; the atom search's Laplacian of Gaussian ([`crate::atoms::log`]) builds on
//! the same kernels and correlations, and the page smooths element maps with it.

/// Gaussian kernels reach this many σ (SciPy's `truncate`).
const TRUNCATE: f64 = 4.0;

/// SciPy's `gaussian_filter(pixels, sigma)` (reflect mode) of a row-major `width`-wide array.
pub fn gaussian_smooth(pixels: &[f32], width: usize, sigma: f32) -> Vec<f32> {
    let kernel = gaussian_kernel(sigma, false);
    convolve_columns(&convolve_rows(pixels, width, &kernel), width, &kernel)
}

/// SciPy's 1-D Gaussian kernel of standard deviation `sigma` (radius ⌊4σ + ½⌋): the normalised
/// Gaussian, or with `second` its second derivative, (x²/σ⁴ − 1/σ²) times it.
pub(crate) fn gaussian_kernel(sigma: f32, second: bool) -> Vec<f32> {
    let sigma2 = f64::from(sigma).powi(2);
    let radius = (TRUNCATE * f64::from(sigma) + 0.5) as i64;
    let xs = -radius..=radius;
    let bell: Vec<f64> = xs
        .clone()
        .map(|x| (-0.5 * (x * x) as f64 / sigma2).exp())
        .collect();
    let total: f64 = bell.iter().sum();
    xs.zip(bell)
        .map(|(x, g)| {
            let factor = if second {
                (x * x) as f64 / (sigma2 * sigma2) - 1.0 / sigma2
            } else {
                1.0
            };
            (factor * g / total) as f32
        })
        .collect()
}

/// Index `i` of a line of `n` samples extended by half-sample symmetric reflection
/// (… c b a | a b c … x y z | z y x …), SciPy's `reflect` mode.
fn reflect(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let m = i.rem_euclid(period) as usize;
    if m < n { m } else { 2 * n - 1 - m }
}

/// Correlates every row of a row-major `width`-wide array with the odd-length `kernel`.
pub(crate) fn convolve_rows(pixels: &[f32], width: usize, kernel: &[f32]) -> Vec<f32> {
    let radius = kernel.len() / 2;
    let sources: Vec<usize> = (0..width + 2 * radius)
        .map(|i| reflect(i as isize - radius as isize, width))
        .collect();
    let mut padded = vec![0.0f32; sources.len()];
    let mut out = vec![0.0f32; pixels.len()];
    for (row, dst) in pixels.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        for (p, &s) in padded.iter_mut().zip(&sources) {
            *p = row[s];
        }
        for (d, window) in dst.iter_mut().zip(padded.windows(kernel.len())) {
            *d = window.iter().zip(kernel).map(|(a, b)| a * b).sum();
        }
    }
    out
}

/// Correlates every column of a row-major `width`-wide array with the odd-length `kernel`,
/// a row at a time so the inner loop runs along memory.
pub(crate) fn convolve_columns(pixels: &[f32], width: usize, kernel: &[f32]) -> Vec<f32> {
    let height = pixels.len() / width;
    let radius = kernel.len() as isize / 2;
    let mut out = vec![0.0f32; pixels.len()];
    for (y, dst) in out.chunks_exact_mut(width).enumerate() {
        for (k, &weight) in kernel.iter().enumerate() {
            let source = reflect(y as isize + k as isize - radius, height);
            let row = &pixels[source * width..(source + 1) * width];
            for (d, &s) in dst.iter_mut().zip(row) {
                *d += weight * s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_is_half_sample_symmetric() {
        let mapped: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(mapped, [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
        assert_eq!(reflect(-3, 1), 0);
    }
}
