//! Pooling on NHWC activations.

use crate::Activations;
use crate::simd::{Vectorised, dispatch};

/// 3×3 max pooling with stride 2 and padding 1 (ResNet's stem; the padding never wins, as in
/// PyTorch, which pads with −∞).
pub fn max_pool_3x3_stride_2(input: &Activations) -> Activations {
    let (height, width, channels) = (
        input.height.div_ceil(2),
        input.width.div_ceil(2),
        input.channels,
    );
    let mut values = vec![f32::NEG_INFINITY; height * width * channels];
    dispatch(MaxPool {
        input,
        output: &mut values,
        row_len: width * channels,
    });
    Activations::new(height, width, channels, values)
}

/// [`max_pool_3x3_stride_2`]'s loop over output rows of `row_len` values.
struct MaxPool<'a> {
    input: &'a Activations,
    output: &'a mut [f32],
    row_len: usize,
}

impl Vectorised for MaxPool<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let (input, channels) = (self.input, self.input.channels);
        for (out_y, row) in self.output.chunks_exact_mut(self.row_len).enumerate() {
            for y in (2 * out_y).saturating_sub(1)..(2 * out_y + 2).min(input.height) {
                for (out_x, out) in row.chunks_exact_mut(channels).enumerate() {
                    for x in (2 * out_x).saturating_sub(1)..(2 * out_x + 2).min(input.width) {
                        let pixel = &input.values[(y * input.width + x) * channels..][..channels];
                        for (out, &value) in out.iter_mut().zip(pixel) {
                            *out = out.max(value);
                        }
                    }
                }
            }
        }
    }
}

/// The mean of every channel over all pixels: the embedding a trunk's last activations give.
pub fn global_average_pool(input: &Activations) -> Vec<f32> {
    let mut sums = vec![0.0f64; input.channels];
    for pixel in input.values.chunks_exact(input.channels) {
        for (sum, &value) in sums.iter_mut().zip(pixel) {
            *sum += value as f64;
        }
    }
    let pixels = input.pixels().max(1) as f64;
    sums.into_iter().map(|sum| (sum / pixels) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pooling_takes_each_window_s_largest_value_and_ignores_padding() {
        // torch.nn.functional.max_pool2d(torch.arange(-20., 0.).view(1, 1, 4, 5), 3, 2, 1)
        //   → [[-14, -12, -11], [-4, -2, -1]]
        let input = Activations::new(4, 5, 1, (-20..0).map(|v| v as f32).collect());
        let pooled = max_pool_3x3_stride_2(&input);
        assert_eq!([pooled.height, pooled.width], [2, 3]);
        assert_eq!(pooled.values, [-14.0, -12.0, -11.0, -4.0, -2.0, -1.0]);
    }

    #[test]
    fn global_average_pooling_averages_each_channel() {
        let input = Activations::new(1, 3, 2, vec![1.0, 10.0, 2.0, 20.0, 6.0, 60.0]);
        assert_eq!(global_average_pool(&input), [3.0, 30.0]);
    }
}
