//! The encoders' networks as a list of blocks, whatever runs them: the architectures
//! ([`super::resnet`], [`super::mobilenet_v2`]) describe their blocks once, with folded
//! convolutions, and each engine gives the blocks its own convolutions — burn tensors
//! ([`ConvBn`], the page's WebGPU and burn's CPU backends) or packed weights ([`Conv2d`],
//! Chipscope's CPU kernels). The forward passes below are the two engines' readings of the same
//! blocks.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use chipscope_kernels::{Activation, Activations, Conv2d, Epilogue, Split, max_pool_3x3_stride_2};

use super::layers::{ConvBn, FoldedConv};
use super::{Cut, Stage};

/// One step of a network, with convolutions of type `C`.
pub enum Block<C> {
    /// ResNet's stem: convolution, ReLU, 3×3 max pooling with stride 2.
    Stem(C),
    /// A ResNet block: the convolutions with ReLU between them, the last one's output added to
    /// the shortcut (the input, or its 1×1 projection), then ReLU.
    Residual {
        /// Two 3×3 (basic) or 1×1, 3×3, 1×1 (bottleneck); the stride sits on the 3×3.
        convs: Vec<C>,
        /// The projection of the input when the block changes its size or channels.
        shortcut: Option<C>,
    },
    /// MobileNetV2's first and last layers: convolution, ReLU6.
    ConvRelu6(C),
    /// MobileNetV2's inverted residual: optional 1×1 expansion (ReLU6), 3×3 depthwise (ReLU6),
    /// linear 1×1 projection, plus the input when `residual`.
    InvertedResidual {
        /// The 1×1 expansion, absent in the first block.
        expand: Option<C>,
        /// The 3×3 depthwise convolution.
        depthwise: C,
        /// The 1×1 projection.
        project: C,
        /// Whether the input is added (stride 1, channels kept).
        residual: bool,
    },
}

impl<C> Block<C> {
    /// The same block with each convolution turned into a `D`.
    pub fn map<D>(self, convert: &mut impl FnMut(C) -> D) -> Block<D> {
        match self {
            Block::Stem(conv) => Block::Stem(convert(conv)),
            Block::Residual { convs, shortcut } => Block::Residual {
                convs: convs.into_iter().map(&mut *convert).collect(),
                shortcut: shortcut.map(convert),
            },
            Block::ConvRelu6(conv) => Block::ConvRelu6(convert(conv)),
            Block::InvertedResidual {
                expand,
                depthwise,
                project,
                residual,
            } => Block::InvertedResidual {
                expand: expand.map(&mut *convert),
                depthwise: convert(depthwise),
                project: convert(project),
                residual,
            },
        }
    }
}

/// A network as its architecture describes it, before an engine takes it.
pub struct Network {
    /// The architecture, e.g. "ResNet-50".
    pub name: String,
    /// Channels of the last block's output, the embedding's length.
    pub dim: usize,
    /// The blocks, in order.
    pub blocks: Vec<Block<FoldedConv>>,
    /// Where the trunk can stop for a dense map.
    pub cuts: Vec<Cut>,
}

impl Stage for Block<ConvBn> {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let relu6 = |x: Tensor<4>| x.clamp(0.0, 6.0);
        match self {
            Block::Stem(conv) => {
                let pool = MaxPoolOptions::new([3, 3])
                    .with_stride([2, 2])
                    .with_padding([1, 1]);
                max_pool2d(relu(conv.forward(x)), pool)
            }
            Block::Residual { convs, shortcut } => {
                let identity = match shortcut {
                    Some(projection) => projection.forward(x.clone()),
                    None => x.clone(),
                };
                let (last, inner) = convs.split_last().expect("a block has convolutions");
                let hidden = inner.iter().fold(x, |h, conv| relu(conv.forward(h)));
                relu(last.forward(hidden) + identity)
            }
            Block::ConvRelu6(conv) => relu6(conv.forward(x)),
            Block::InvertedResidual {
                expand,
                depthwise,
                project,
                residual,
            } => {
                let expanded = match expand {
                    Some(expand) => relu6(expand.forward(x.clone())),
                    None => x.clone(),
                };
                let projected = project.forward(relu6(depthwise.forward(expanded)));
                match residual {
                    true => projected + x,
                    false => projected,
                }
            }
        }
    }
}

impl Block<Conv2d> {
    /// The block on NHWC activations, with bias, activation and residual fused into the
    /// convolutions that precede them.
    pub fn forward(&self, x: &Activations, split: Split) -> Activations {
        let with = Epilogue::activation;
        match self {
            Block::Stem(conv) => {
                max_pool_3x3_stride_2(&conv.forward(x, with(Activation::Relu), split))
            }
            Block::Residual { convs, shortcut } => {
                let projected = shortcut
                    .as_ref()
                    .map(|projection| projection.forward(x, with(Activation::Identity), split));
                let (last, inner) = convs.split_last().expect("a block has convolutions");
                let mut hidden = None;
                for conv in inner {
                    let input = hidden.as_ref().unwrap_or(x);
                    hidden = Some(conv.forward(input, with(Activation::Relu), split));
                }
                let epilogue = Epilogue {
                    residual: Some(projected.as_ref().unwrap_or(x)),
                    activation: Activation::Relu,
                };
                last.forward(hidden.as_ref().unwrap_or(x), epilogue, split)
            }
            Block::ConvRelu6(conv) => conv.forward(x, with(Activation::Relu6), split),
            Block::InvertedResidual {
                expand,
                depthwise,
                project,
                residual,
            } => {
                let expanded = expand
                    .as_ref()
                    .map(|expand| expand.forward(x, with(Activation::Relu6), split));
                let filtered = depthwise.forward(
                    expanded.as_ref().unwrap_or(x),
                    with(Activation::Relu6),
                    split,
                );
                let epilogue = Epilogue {
                    residual: residual.then_some(x),
                    activation: Activation::Identity,
                };
                project.forward(&filtered, epilogue, split)
            }
        }
    }
}
