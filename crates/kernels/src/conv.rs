//! 2-D convolutions on NHWC activations: dense ones as blocked matrix products on `gemm`,
//! depthwise ones as vector loops over channels.

use std::cell::RefCell;

use crate::simd::{Vectorised, dispatch, multiply_add};
use crate::{Activation, Activations, Epilogue, Split, for_each_block};

/// Output pixels per block of a dense convolution: its gathered inputs (up to 256 × 4608 values
/// for ResNet-50's last 3×3 convolutions, 4.5 MiB) and its outputs stay in the caches between the
/// product and the epilogue.
const BLOCK_PIXELS: usize = 256;

/// A square convolution's geometry, padded by `kernel / 2` on every side as torchvision's
/// ResNets and MobileNetV2 are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Side of the kernel, pixels.
    pub kernel: usize,
    /// Step between kernel positions, pixels.
    pub stride: usize,
    /// One filter per channel (`in_channels == out_channels`) instead of over all channels.
    pub depthwise: bool,
}

impl ConvGeometry {
    fn padding(&self) -> usize {
        self.kernel / 2
    }

    /// The output's `[height, width]` for an input of `[height, width]`.
    pub fn output_size(&self, [height, width]: [usize; 2]) -> [usize; 2] {
        let out =
            |side: usize| (side + 2 * self.padding()).saturating_sub(self.kernel) / self.stride + 1;
        [out(height), out(width)]
    }

    /// Values in one output pixel's receptive field.
    fn field_len(&self) -> usize {
        self.kernel * self.kernel * self.in_channels
    }
}

/// A convolution with its weights packed for the kernels and its bias.
#[derive(Clone, Debug)]
pub struct Conv2d {
    geometry: ConvGeometry,
    /// Dense: `[kernel row, kernel column, input channel] × output channel`, row-major (the
    /// right-hand side of the product). Depthwise: `[kernel row, kernel column] × channel`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv2d {
    /// Packs weights in PyTorch's layout (`[out, in / groups, kernel, kernel]`) and the bias.
    ///
    /// # Panics
    /// If the lengths do not fit `geometry`, or a depthwise geometry has other output channels
    /// than input channels.
    pub fn new(geometry: ConvGeometry, torch_weights: &[f32], bias: Vec<f32>) -> Self {
        let ConvGeometry {
            in_channels,
            out_channels,
            kernel,
            ..
        } = geometry;
        let taps = kernel * kernel;
        assert_eq!(bias.len(), out_channels, "one bias per output channel");
        let weights = match geometry.depthwise {
            true => {
                assert_eq!(
                    in_channels, out_channels,
                    "a depthwise convolution keeps its channels"
                );
                assert_eq!(torch_weights.len(), out_channels * taps);
                (0..taps)
                    .flat_map(|tap| (0..out_channels).map(move |c| torch_weights[c * taps + tap]))
                    .collect()
            }
            false => {
                assert_eq!(torch_weights.len(), out_channels * in_channels * taps);
                (0..taps)
                    .flat_map(|tap| (0..in_channels).map(move |input| (tap, input)))
                    .flat_map(|(tap, input)| {
                        (0..out_channels)
                            .map(move |out| torch_weights[(out * in_channels + input) * taps + tap])
                    })
                    .collect()
            }
        };
        Self {
            geometry,
            weights,
            bias,
        }
    }

    /// The convolution's geometry.
    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// Convolves `input`, then adds the bias and applies `epilogue`.
    ///
    /// # Panics
    /// If `input` has other channels than the convolution takes, or the residual is not of the
    /// output's shape.
    pub fn forward(&self, input: &Activations, epilogue: Epilogue, split: Split) -> Activations {
        assert_eq!(input.channels, self.geometry.in_channels, "input channels");
        let [height, width] = self.geometry.output_size([input.height, input.width]);
        let channels = self.geometry.out_channels;
        if let Some(residual) = epilogue.residual {
            assert_eq!(
                [residual.height, residual.width, residual.channels],
                [height, width, channels],
                "the residual has the output's shape"
            );
        }
        let mut output = Activations::new(
            height,
            width,
            channels,
            vec![0.0; height * width * channels],
        );
        match self.geometry.depthwise {
            true => self.depthwise(input, &mut output, epilogue, split),
            false => self.dense(input, &mut output, epilogue, split),
        }
        output
    }

    /// Dense convolution: for each block of output pixels, gather, multiply, finish.
    fn dense(
        &self,
        input: &Activations,
        output: &mut Activations,
        epilogue: Epilogue,
        split: Split,
    ) {
        let channels = output.channels;
        let output_width = output.width;
        let direct = self.geometry.kernel == 1 && self.geometry.stride == 1;
        for_each_block(
            &mut output.values,
            BLOCK_PIXELS * channels,
            split,
            |index, block| {
                let first = index * BLOCK_PIXELS;
                let pixels = block.len() / channels;
                match direct {
                    true => self.multiply(
                        &input.values[first * input.channels..],
                        input.channels,
                        block,
                    ),
                    false => GATHERED.with_borrow_mut(|gathered| {
                        self.gather(input, output_width, first, pixels, gathered);
                        self.multiply(gathered, self.geometry.field_len(), block)
                    }),
                }
                let residual = epilogue
                    .residual
                    .map(|residual| &residual.values[first * channels..][..block.len()]);
                finish(block, &self.bias, residual, epilogue);
            },
        );
    }

    /// `block = fields × weights`, with `fields` rows `row_stride` apart.
    fn multiply(&self, fields: &[f32], row_stride: usize, block: &mut [f32]) {
        let (rows, columns, depth) = (
            block.len() / self.geometry.out_channels,
            self.geometry.out_channels,
            self.geometry.field_len(),
        );
        assert!(rows == 0 || fields.len() >= (rows - 1) * row_stride + depth);
        // SAFETY: `block` is rows × columns row-major; `fields` holds `rows` rows of `depth`
        // values `row_stride` apart (asserted); the weights are depth × columns row-major
        // (packed in `new`). `read_dst` is false, so `block`'s contents are not read.
        unsafe {
            gemm::gemm(
                rows,
                columns,
                depth,
                block.as_mut_ptr(),
                1,
                columns as isize,
                false,
                fields.as_ptr(),
                1,
                row_stride as isize,
                self.weights.as_ptr(),
                1,
                columns as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    /// The receptive fields of output pixels `first..first + pixels`, one row each (im2col),
    /// zeros where the kernel overhangs the image.
    fn gather(
        &self,
        input: &Activations,
        output_width: usize,
        first: usize,
        pixels: usize,
        gathered: &mut Vec<f32>,
    ) {
        let ConvGeometry { kernel, stride, .. } = self.geometry;
        let channels = input.channels;
        let run = kernel * channels;
        let field = self.geometry.field_len();
        gathered.clear();
        gathered.resize(pixels * field, 0.0);
        for (offset, row) in gathered.chunks_exact_mut(field).enumerate() {
            let (out_y, out_x) = (
                (first + offset) / output_width,
                (first + offset) % output_width,
            );
            let left = (out_x * stride) as isize - self.geometry.padding() as isize;
            for (kernel_y, dst) in row.chunks_exact_mut(run).enumerate() {
                let y = (out_y * stride + kernel_y) as isize - self.geometry.padding() as isize;
                if y < 0 || y as usize >= input.height {
                    continue; // zeros, from `resize`
                }
                let row_start = y as usize * input.width;
                if left >= 0 && left as usize + kernel <= input.width {
                    let at = (row_start + left as usize) * channels;
                    dst.copy_from_slice(&input.values[at..at + run]);
                    continue;
                }
                for (kernel_x, tap) in dst.chunks_exact_mut(channels).enumerate() {
                    let x = left + kernel_x as isize;
                    if x >= 0 && (x as usize) < input.width {
                        let at = (row_start + x as usize) * channels;
                        tap.copy_from_slice(&input.values[at..at + channels]);
                    }
                }
            }
        }
    }

    /// Depthwise convolution, a row of output pixels at a time.
    fn depthwise(
        &self,
        input: &Activations,
        output: &mut Activations,
        epilogue: Epilogue,
        split: Split,
    ) {
        let channels = output.channels;
        let row_len = output.width * channels;
        for_each_block(&mut output.values, row_len, split, |out_y, row| {
            dispatch(DepthwiseRow {
                conv: self,
                input,
                out_y,
                row: &mut *row,
            });
            let residual = epilogue
                .residual
                .map(|residual| &residual.values[out_y * row_len..][..row_len]);
            finish(row, &self.bias, residual, epilogue);
        });
    }
}

/// Output row `out_y` of a depthwise convolution, accumulated into `row` (zeros on entry).
struct DepthwiseRow<'a> {
    conv: &'a Conv2d,
    input: &'a Activations,
    out_y: usize,
    row: &'a mut [f32],
}

impl Vectorised for DepthwiseRow<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let DepthwiseRow {
            conv,
            input,
            out_y,
            row,
        } = self;
        let ConvGeometry { kernel, stride, .. } = conv.geometry;
        let (channels, padding) = (input.channels, conv.geometry.padding() as isize);
        for kernel_y in 0..kernel {
            let y = (out_y * stride + kernel_y) as isize - padding;
            if y < 0 || y as usize >= input.height {
                continue;
            }
            let input_row =
                &input.values[y as usize * input.width * channels..][..input.width * channels];
            for kernel_x in 0..kernel {
                let weights =
                    &conv.weights[(kernel_y * kernel + kernel_x) * channels..][..channels];
                for (out_x, out) in row.chunks_exact_mut(channels).enumerate() {
                    let x = (out_x * stride + kernel_x) as isize - padding;
                    if x < 0 || x as usize >= input.width {
                        continue;
                    }
                    let pixel = &input_row[x as usize * channels..][..channels];
                    for ((out, &weight), &value) in out.iter_mut().zip(weights).zip(pixel) {
                        *out = multiply_add::<FMA>(weight, value, *out);
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's im2col buffer, kept between blocks and calls.
    static GATHERED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Adds the bias (per channel) and the residual to a block of whole pixels, then applies the
/// activation.
fn finish(block: &mut [f32], bias: &[f32], residual: Option<&[f32]>, epilogue: Epilogue) {
    dispatch(Finish {
        block,
        bias,
        residual,
        activation: epilogue.activation,
    });
}

/// [`finish`]'s loop.
struct Finish<'a> {
    block: &'a mut [f32],
    bias: &'a [f32],
    residual: Option<&'a [f32]>,
    activation: Activation,
}

impl Vectorised for Finish<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        // One loop per activation, so that none decides per value.
        match self.activation {
            Activation::Identity => self.apply(|value| value),
            Activation::Relu => self.apply(|value| value.max(0.0)),
            Activation::Relu6 => self.apply(|value| value.clamp(0.0, 6.0)),
        }
    }
}

impl Finish<'_> {
    #[inline(always)]
    fn apply(self, activation: impl Fn(f32) -> f32) {
        let channels = self.bias.len();
        match self.residual {
            Some(residual) => {
                let pixels = self.block.chunks_exact_mut(channels);
                for (pixel, skip) in pixels.zip(residual.chunks_exact(channels)) {
                    for ((value, &bias), &skip) in pixel.iter_mut().zip(self.bias).zip(skip) {
                        *value = activation(*value + bias + skip);
                    }
                }
            }
            None => {
                for pixel in self.block.chunks_exact_mut(channels) {
                    for (value, &bias) in pixel.iter_mut().zip(self.bias) {
                        *value = activation(*value + bias);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;

    /// A direct NCHW-free reference: the textbook sum over the receptive field, zero padded.
    fn reference(
        geometry: ConvGeometry,
        torch_weights: &[f32],
        bias: &[f32],
        input: &Activations,
    ) -> Activations {
        let [height, width] = geometry.output_size([input.height, input.width]);
        let (k, pad) = (geometry.kernel, geometry.padding() as isize);
        let mut values = Vec::new();
        for out_y in 0..height {
            for out_x in 0..width {
                for out in 0..geometry.out_channels {
                    let mut sum = bias[out] as f64;
                    let inputs: Vec<usize> = match geometry.depthwise {
                        true => vec![out],
                        false => (0..geometry.in_channels).collect(),
                    };
                    for (slot, &channel) in inputs.iter().enumerate() {
                        for ky in 0..k {
                            for kx in 0..k {
                                let y = (out_y * geometry.stride + ky) as isize - pad;
                                let x = (out_x * geometry.stride + kx) as isize - pad;
                                if y < 0
                                    || x < 0
                                    || y as usize >= input.height
                                    || x as usize >= input.width
                                {
                                    continue;
                                }
                                let value = input.values[(y as usize * input.width + x as usize)
                                    * input.channels
                                    + channel];
                                let per_out = inputs.len() * k * k;
                                let weight =
                                    torch_weights[out * per_out + (slot * k + ky) * k + kx];
                                sum += value as f64 * weight as f64;
                            }
                        }
                    }
                    values.push(sum as f32);
                }
            }
        }
        Activations::new(height, width, geometry.out_channels, values)
    }

    /// Deterministic values in [-1, 1) (a small linear congruential sequence).
    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn assert_close(got: &Activations, want: &Activations) {
        assert_eq!(
            [got.height, got.width, got.channels],
            [want.height, want.width, want.channels]
        );
        for (index, (a, b)) in got.values.iter().zip(&want.values).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "value {index}: {a} against {b}"
            );
        }
    }

    /// A convolution of `geometry` with deterministic weights and bias, on a deterministic input
    /// of `[height, width]`, against the textbook sum, serial and on the pool.
    fn check_against_reference(geometry: ConvGeometry, [height, width]: [usize; 2]) {
        let inputs_per_output = match geometry.depthwise {
            true => 1,
            false => geometry.in_channels,
        };
        let taps = geometry.kernel * geometry.kernel;
        let weights = values(geometry.out_channels * inputs_per_output * taps, 1);
        let bias = values(geometry.out_channels, 2);
        let pixels = values(height * width * geometry.in_channels, 3);
        let input = Activations::new(height, width, geometry.in_channels, pixels);
        let conv = Conv2d::new(geometry, &weights, bias.clone());
        let want = reference(geometry, &weights, &bias, &input);
        for split in [Split::Serial, Split::Blocks] {
            let identity = Epilogue::activation(Activation::Identity);
            assert_close(&conv.forward(&input, identity, split), &want);
        }
    }

    #[test]
    fn dense_convolutions_match_the_textbook_sum() {
        // Kernel 1, 3 and 7 at strides 1 and 2, on an image wider than a block (300 pixels) and
        // one whose sides are odd, so blocks end mid-row and kernels overhang every edge.
        for (kernel, stride, in_channels, out_channels, size) in [
            (1, 1, 5, 7, [15, 20]),
            (1, 2, 6, 4, [9, 11]),
            (3, 1, 4, 6, [13, 23]),
            (3, 2, 3, 5, [10, 7]),
            (7, 2, 3, 8, [17, 19]),
        ] {
            let geometry = ConvGeometry {
                in_channels,
                out_channels,
                kernel,
                stride,
                depthwise: false,
            };
            check_against_reference(geometry, size);
        }
    }

    #[test]
    fn depthwise_convolutions_match_the_textbook_sum() {
        for (stride, channels, size) in [(1, 9, [7, 12]), (2, 16, [11, 8])] {
            let geometry = ConvGeometry {
                in_channels: channels,
                out_channels: channels,
                kernel: 3,
                stride,
                depthwise: true,
            };
            check_against_reference(geometry, size);
        }
    }

    #[test]
    fn the_epilogue_adds_the_residual_then_activates() {
        let geometry = ConvGeometry {
            in_channels: 2,
            out_channels: 3,
            kernel: 1,
            stride: 1,
            depthwise: false,
        };
        // Output channel c = input 0 × (c + 1), bias 1: inputs 1 and 0 give 2, 3, 4.
        let weights = [1.0, 0.0, 2.0, 0.0, 3.0, 0.0];
        let conv = Conv2d::new(geometry, &weights, vec![1.0; 3]);
        let input = Activations::new(1, 1, 2, vec![1.0, 0.0]);
        let residual = Activations::new(1, 1, 3, vec![-5.0, 1.0, 4.0]);
        let cases = [
            (Activation::Identity, [-3.0, 4.0, 8.0]),
            (Activation::Relu, [0.0, 4.0, 8.0]),
            (Activation::Relu6, [0.0, 4.0, 6.0]),
        ];
        for (activation, want) in cases {
            let epilogue = Epilogue {
                residual: Some(&residual),
                activation,
            };
            assert_eq!(conv.forward(&input, epilogue, Split::Serial).values, want);
        }
    }
}
