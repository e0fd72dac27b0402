//! The encoders' CPU kernels. Chipscope runs its CNNs on the CPU with these rather than burn's
//! CPU backend because burn-flex 0.22 convolves NCHW tensors, re-lays out the weights and takes
//! freshly zeroed buffers on every call, and applies bias, activation and residual additions as
//! separate passes over memory (measured: README, "Engine speed"). Here:
//!
//! - activations are NHWC ([`Activations`]: a pixel's channels side by side), so a 1×1
//!   convolution is a plain matrix product and a depthwise one a vector loop over channels;
//! - a convolution's weights are packed once, when the network is built ([`Conv2d::new`]);
//! - the output is made a block of pixels at a time: gather the block's receptive fields
//!   (im2col, skipped for 1×1 convolutions), one `gemm` product, then bias, residual and
//!   activation on the block while it is still in cache ([`Epilogue`]);
//! - blocks run on rayon's pool when asked ([`Split::Blocks`], feature `threads`), so one large
//!   image uses every core; a batch of small ones is better split by image ([`Split::Serial`]
//!   inside each).
//!
//! Element-wise and depthwise loops are written plainly and compiled twice on x86-64: for the
//! baseline and for AVX2+FMA, chosen at run time ([`simd`]), so the binary runs on any x86-64.

mod conv;
mod pool;
mod simd;

pub use conv::{Conv2d, ConvGeometry};
pub use pool::{global_average_pool, max_pool_3x3_stride_2};

/// One image's activations in NHWC order: `values[(y * width + x) * channels + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Activations {
    /// Rows of pixels.
    pub height: usize,
    /// Columns of pixels.
    pub width: usize,
    /// Values per pixel.
    pub channels: usize,
    /// `height × width × channels` values.
    pub values: Vec<f32>,
}

impl Activations {
    /// Wraps `values` of an image of `height × width` pixels and `channels` values each.
    ///
    /// # Panics
    /// If `values` does not hold exactly `height × width × channels` values.
    pub fn new(height: usize, width: usize, channels: usize, values: Vec<f32>) -> Self {
        assert_eq!(
            values.len(),
            height * width * channels,
            "an NHWC image of {height} × {width} × {channels}"
        );
        Self {
            height,
            width,
            channels,
            values,
        }
    }

    /// Pixels, `height × width`.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }
}

/// The non-linearity applied to a convolution's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None: the output as it is (MobileNetV2's projections).
    Identity,
    /// `max(x, 0)` (ResNet).
    Relu,
    /// `min(max(x, 0), 6)` (MobileNetV2).
    Relu6,
}

/// What a convolution does to its output before it is stored: add a residual of the output's
/// shape (a ResNet shortcut, a MobileNetV2 skip), then apply `activation`. The bias is always
/// added.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Added after the bias, before the activation.
    pub residual: Option<&'a Activations>,
    /// Applied last.
    pub activation: Activation,
}

impl Epilogue<'_> {
    /// Only `activation`.
    pub const fn activation(activation: Activation) -> Self {
        Self {
            residual: None,
            activation,
        }
    }
}

/// How a kernel uses the threads it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// On the calling thread (the caller runs several images at once).
    Serial,
    /// Blocks of output pixels on rayon's pool (feature `threads`; on the calling thread without
    /// it).
    Blocks,
}

/// Calls `work(index, block)` for the consecutive `block_len`-long blocks of `out`, on rayon's
/// pool when `split` says so and the crate has threads.
fn for_each_block(
    out: &mut [f32],
    block_len: usize,
    split: Split,
    work: impl Fn(usize, &mut [f32]) + Send + Sync,
) {
    #[cfg(feature = "threads")]
    if split == Split::Blocks {
        use rayon::prelude::*;
        out.par_chunks_mut(block_len)
            .enumerate()
            .for_each(|(index, block)| work(index, block));
        return;
    }
    let _ = split;
    out.chunks_mut(block_len)
        .enumerate()
        .for_each(|(index, block)| work(index, block));
}
