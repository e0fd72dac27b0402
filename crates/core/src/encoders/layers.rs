//! Building blocks shared by the encoders: convolutions with their BatchNorm folded in, read
//! from a torchvision state dict, and made into burn tensors or packed for Chipscope's own CPU
//! kernels.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use chipscope_kernels::{Conv2d, ConvGeometry};

use super::EncoderError;
use crate::weights::{TensorMap, WeightTensor};

/// torchvision's BatchNorm epsilon.
const BATCH_NORM_EPSILON: f64 = 1e-5;

/// A 2-D convolution followed by inference-mode BatchNorm, folded into one convolution with bias
/// (`w' = w·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)`), as plain values: what either engine is built
/// from.
pub struct FoldedConv {
    /// Weights in PyTorch's layout, `[out, in / groups, kernel, kernel]`.
    pub weight: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
    /// The convolution's geometry.
    pub shape: ConvShape,
}

impl FoldedConv {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.bias.len()
    }

    /// The convolution as burn tensors on `device`.
    pub fn on_device(self, device: &Device) -> ConvBn {
        let shape = self.shape;
        let out_channels = self.out_channels();
        let dims = [
            out_channels,
            shape.in_channels / shape.groups,
            shape.kernel,
            shape.kernel,
        ];
        ConvBn {
            weight: Tensor::from_data(TensorData::new(self.weight, dims), device),
            bias: Tensor::from_data(TensorData::new(self.bias, [out_channels]), device),
            options: ConvOptions::new(
                [shape.stride; 2],
                [shape.kernel / 2; 2],
                [1, 1],
                shape.groups,
            ),
        }
    }

    /// The convolution packed for Chipscope's CPU kernels.
    pub fn packed(self) -> Conv2d {
        let shape = self.shape;
        let geometry = ConvGeometry {
            in_channels: shape.in_channels,
            out_channels: self.out_channels(),
            kernel: shape.kernel,
            stride: shape.stride,
            depthwise: shape.groups > 1,
        };
        Conv2d::new(geometry, &self.weight, self.bias)
    }
}

/// A [`FoldedConv`] as burn tensors.
pub struct ConvBn {
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
}

/// A square convolution's geometry: input channels, kernel size, stride, zero padding on every
/// side (`kernel / 2`, as in torchvision) and channel groups.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    /// Channels of the input tensor.
    pub in_channels: usize,
    /// Side of the square kernel, pixels.
    pub kernel: usize,
    /// Step between kernel positions, pixels, in both directions.
    pub stride: usize,
    /// Channel groups: 1 for a dense convolution, `in_channels` for a depthwise one.
    pub groups: usize,
}

impl ConvShape {
    /// A convolution over all `in_channels` at once.
    pub const fn dense(in_channels: usize, kernel: usize, stride: usize) -> Self {
        Self {
            in_channels,
            kernel,
            stride,
            groups: 1,
        }
    }

    /// A depthwise convolution: one filter per channel.
    pub const fn depthwise(channels: usize, kernel: usize, stride: usize) -> Self {
        Self {
            in_channels: channels,
            kernel,
            stride,
            groups: channels,
        }
    }
}

impl ConvBn {
    /// Applies the folded convolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            self.options.clone(),
        )
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }
}

/// Reads named tensors from a state dict, with errors that name what is wrong.
pub struct WeightReader<'a> {
    weights: &'a TensorMap,
    prefix: String,
}

impl<'a> WeightReader<'a> {
    /// Reads keys under `prefix` ("" or e.g. "module." for a wrapped model).
    pub fn new(weights: &'a TensorMap, prefix: &str) -> Self {
        Self {
            weights,
            prefix: prefix.to_string(),
        }
    }

    /// Whether the state dict holds `name`.
    pub fn has(&self, name: &str) -> bool {
        self.weights.contains_key(&self.key(name))
    }

    /// Counts the consecutive numbered children `"{parent}.0."`, `"{parent}.1."`, … present.
    pub fn count_children(&self, parent: &str) -> usize {
        let prefix = self.key(parent);
        (0..)
            .take_while(|index| {
                let child = format!("{prefix}.{index}.");
                self.weights
                    .range(child.clone()..)
                    .next()
                    .is_some_and(|(key, _)| key.starts_with(&child))
            })
            .count()
    }

    /// The tensor `name`, which must exist and have `rank` dimensions.
    pub fn tensor(&self, name: &str, rank: usize) -> Result<&'a WeightTensor, EncoderError> {
        let key = self.key(name);
        let tensor = self
            .weights
            .get(&key)
            .ok_or_else(|| EncoderError::MissingTensor(key.clone()))?;
        if tensor.shape.len() != rank {
            return Err(EncoderError::WrongShape {
                name: key,
                shape: tensor.shape.clone(),
                expected: format!("{rank} dimensions"),
            });
        }
        Ok(tensor)
    }

    /// A convolution `conv` (weight, optional bias) with BatchNorm `norm` folded in.
    pub fn conv_bn(
        &self,
        conv: &str,
        norm: &str,
        shape: ConvShape,
    ) -> Result<FoldedConv, EncoderError> {
        let weight = self.tensor(&format!("{conv}.weight"), 4)?;
        let out_channels = weight.shape[0];
        let expected = [
            out_channels,
            shape.in_channels / shape.groups,
            shape.kernel,
            shape.kernel,
        ];
        let depthwise_or_dense = shape.groups == 1 || shape.groups == out_channels;
        if weight.shape != expected || out_channels % shape.groups != 0 || !depthwise_or_dense {
            return Err(EncoderError::WrongShape {
                name: self.key(&format!("{conv}.weight")),
                shape: weight.shape.clone(),
                expected: format!("{expected:?}"),
            });
        }
        let conv_bias = match self.has(&format!("{conv}.bias")) {
            true => Some(self.vector(&format!("{conv}.bias"), out_channels)?),
            false => None,
        };
        let gamma = self.vector(&format!("{norm}.weight"), out_channels)?;
        let beta = self.vector(&format!("{norm}.bias"), out_channels)?;
        let mean = self.vector(&format!("{norm}.running_mean"), out_channels)?;
        let variance = self.vector(&format!("{norm}.running_var"), out_channels)?;

        let per_output = weight.values.len() / out_channels;
        let mut folded_weight = Vec::with_capacity(weight.values.len());
        let mut folded_bias = Vec::with_capacity(out_channels);
        for channel in 0..out_channels {
            let scale =
                gamma[channel] as f64 / (variance[channel] as f64 + BATCH_NORM_EPSILON).sqrt();
            let kernel = &weight.values[channel * per_output..(channel + 1) * per_output];
            folded_weight.extend(kernel.iter().map(|&w| (w as f64 * scale) as f32));
            let bias_in = conv_bias.map_or(0.0, |bias| bias[channel] as f64);
            folded_bias
                .push((beta[channel] as f64 + (bias_in - mean[channel] as f64) * scale) as f32);
        }
        Ok(FoldedConv {
            weight: folded_weight,
            bias: folded_bias,
            shape,
        })
    }

    /// The 1-D tensor `name` with `len` values.
    fn vector(&self, name: &str, len: usize) -> Result<&'a [f32], EncoderError> {
        let tensor = self.tensor(name, 1)?;
        if tensor.shape[0] != len {
            return Err(EncoderError::WrongShape {
                name: self.key(name),
                shape: tensor.shape.clone(),
                expected: format!("[{len}]"),
            });
        }
        Ok(&tensor.values)
    }

    /// The full key of `name` in the state dict, with the prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Global average pooling: `[batch, channels, h, w]` → `[batch, channels]`.
pub fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.flatten::<3>(2, 3).mean_dim(2).reshape([batch, channels])
}
