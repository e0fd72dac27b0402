//! Image encoders: pretrained CNNs (torchvision ResNets and MobileNetV2) that turn preprocessed
//! chips into embedding vectors, the pooled features before the classifier head.
//!
//! An encoder is built from a torchvision state dict ([`crate::weights`]); its architecture is
//! inferred from the keys. BatchNorm is folded into the convolutions at load time, so a forward
//! pass is convolutions, activations, additions and one pooling. It runs on burn (the page's
//! WebGPU and burn's CPU backends, [`ImageEncoder::from_weights`]) or on Chipscope's own CPU
//! kernels ([`ImageEncoder::packed`], `chipscope-kernels`), the faster on the CPU.

pub mod dense;
pub mod layers;
pub mod mobilenet_v2;
pub mod network;
pub mod preprocess;
pub mod resnet;

pub use chipscope_kernels as kernels;
pub use preprocess::ChipSource;

use crate::embeddings::Embeddings;
use burn::tensor::{Device, Tensor};
use chipscope_kernels::{Activations, Conv2d, Split, global_average_pool};
use layers::ConvBn;
use network::{Block, Network};
use preprocess::ScaledImage;

use crate::grid::Chip;
use crate::weights::{TensorMap, WeightError};

/// Why weights could not become an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The weight file itself could not be read.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// The keys match neither architecture; what the file holds instead.
    #[error(
        "these weights are not a torchvision ResNet or MobileNetV2 ({0}); expected keys such as \
         conv1.weight and layer1.0.conv1.weight (ResNet) or features.0.0.weight (MobileNetV2)"
    )]
    UnknownArchitecture(String),
    /// A tensor the architecture needs is absent; its full key.
    #[error("the weights lack the tensor {0}")]
    MissingTensor(String),
    /// A tensor has the wrong number of dimensions or sizes.
    #[error("tensor {name} has shape {shape:?}, expected {expected}")]
    WrongShape {
        /// The tensor's full key.
        name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
        /// The shape or rank the architecture needs, for people, such as `[64]` or "4 dimensions".
        expected: String,
    },
    /// A dense map was asked of a stage the network does not have.
    #[error("{encoder} has no stage {stage:?} to take a dense map from; it has {known}")]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The encoder's architecture name.
        encoder: String,
        /// The stages it has, comma-separated.
        known: String,
    },
    /// A dense map would take more memory than the caller allows.
    #[error(
        "the {stage} ×{scale} feature map of this image would take {megabytes:.0} MB, more than \
         the {limit_mb} MB allowed here: choose an earlier stage, a smaller scale or pyCHIP (per \
         chip)"
    )]
    MapTooLarge {
        /// The stage asked for.
        stage: String,
        /// The enlargement asked for.
        scale: usize,
        /// The map's size, megabytes.
        megabytes: f64,
        /// The limit, mebibytes.
        limit_mb: usize,
    },
    /// The compute backend failed to run the forward pass or read its result back; its message.
    #[error("the compute backend failed: {0}")]
    Execution(String),
}

/// One step of an encoder's forward pass. The page yields to the browser between steps, or runs
/// them on its thread pool (hence `Send + Sync`).
pub trait Stage: Send + Sync {
    /// Applies this step to a `[batch, channels, height, width]` tensor.
    fn forward(&self, x: Tensor<4>) -> Tensor<4>;
}

/// A point where the trunk can stop to give a dense feature map: after a named part of the
/// network (torchvision's names: ResNet `layer1`…`layer4`, MobileNetV2 `features.N`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cut {
    /// The part's torchvision name, e.g. "layer3" or "features.13".
    pub name: String,
    /// How many of the encoder's stages run up to and including it.
    pub stages: usize,
    /// Channels of its output.
    pub channels: usize,
    /// Input pixels per output cell.
    pub stride: usize,
}

/// A CNN trunk: blocks applied in order, then global average pooling.
pub struct ImageEncoder {
    name: String,
    dim: usize,
    trunk: Trunk,
    cuts: Vec<Cut>,
}

/// What runs an encoder's blocks.
enum Trunk {
    /// burn's tensors on a device.
    Burn(Vec<Block<ConvBn>>),
    /// Chipscope's CPU kernels on NHWC activations.
    Packed(Vec<Block<Conv2d>>),
}

impl ImageEncoder {
    /// Builds the encoder a torchvision state dict describes, as burn tensors on `device`. Keys
    /// may carry a common prefix such as `module.`; classifier heads are ignored.
    pub fn from_weights(weights: &TensorMap, device: &Device) -> Result<Self, EncoderError> {
        let mut on_device = |conv: layers::FoldedConv| conv.on_device(device);
        Ok(Self::with_trunk(describe(weights)?, |blocks| {
            Trunk::Burn(blocks.map(|block| block.map(&mut on_device)).collect())
        }))
    }

    /// Builds the encoder a torchvision state dict describes, packed for Chipscope's CPU kernels
    /// (`chipscope-kernels`): faster than burn's CPU backends (README: "Engine speed").
    pub fn packed(weights: &TensorMap) -> Result<Self, EncoderError> {
        let mut pack = layers::FoldedConv::packed;
        Ok(Self::with_trunk(describe(weights)?, |blocks| {
            Trunk::Packed(blocks.map(|block| block.map(&mut pack)).collect())
        }))
    }

    fn with_trunk(
        network: Network,
        trunk: impl FnOnce(std::vec::IntoIter<Block<layers::FoldedConv>>) -> Trunk,
    ) -> Self {
        Self {
            name: network.name,
            dim: network.dim,
            trunk: trunk(network.blocks.into_iter()),
            cuts: network.cuts,
        }
    }

    /// Whether the encoder runs on Chipscope's CPU kernels rather than burn.
    pub fn is_packed(&self) -> bool {
        matches!(self.trunk, Trunk::Packed(_))
    }

    /// Where the trunk can stop for a dense feature map, in network order.
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// The cut named `name`, if the network has it.
    pub fn cut(&self, name: &str) -> Option<&Cut> {
        self.cuts.iter().find(|cut| cut.name == name)
    }

    /// The trunk up to and including `cut`, applied to `[batch, 3, h, w]` input of any size
    /// (burn's engine).
    pub fn forward_to(&self, input: Tensor<4>, cut: &Cut) -> Tensor<4> {
        self.stages()
            .take(cut.stages)
            .fold(input, |x, stage| stage.forward(x))
    }

    /// The trunk up to and including `cut` over a prepared image, read back pixel by pixel:
    /// `[h · w, channels]` row-major. burn's engine runs on `device`; the packed one on every
    /// core.
    pub fn map_to(
        &self,
        image: &ScaledImage,
        cut: &Cut,
        device: &Device,
    ) -> Result<Vec<f32>, EncoderError> {
        match &self.trunk {
            Trunk::Burn(_) => {
                let planes = read_back(self.forward_to(image.tensor(device), cut))?;
                let cells = planes.len() / cut.channels.max(1);
                Ok((0..cells * cut.channels)
                    .map(|at| planes[(at % cut.channels) * cells + at / cut.channels])
                    .collect())
            }
            Trunk::Packed(_) => Ok(self.run_packed(vec![image.activations()], cut.stages, false)),
        }
    }

    /// The architecture, e.g. "ResNet-50".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The packed engine's blocks, for callers that run them step by step (none when the
    /// encoder runs on burn).
    pub fn blocks(&self) -> &[Block<Conv2d>] {
        match &self.trunk {
            Trunk::Packed(blocks) => blocks,
            Trunk::Burn(_) => &[],
        }
    }

    /// The packed engine's first `stages` blocks over `images` (NHWC, prepared by
    /// [`ChipSource::chip_activations`] or [`ScaledImage::activations`]), concatenated: each
    /// image's embedding when `pooled`, else its activations pixel by pixel. With threads,
    /// several images run an image per thread (no synchronisation inside the network); a single
    /// image splits its convolutions instead.
    pub fn run_packed(&self, images: Vec<Activations>, stages: usize, pooled: bool) -> Vec<f32> {
        let blocks = &self.blocks()[..stages];
        let run = |image: Activations, split| {
            let output = blocks
                .iter()
                .fold(image, |x, block| block.forward(&x, split));
            Self::packed_output(output, pooled)
        };
        #[cfg(feature = "threads")]
        if images.len() > 1 {
            use rayon::prelude::*;
            let outputs: Vec<Vec<f32>> = images
                .into_par_iter()
                .map(|image| run(image, Split::Serial))
                .collect();
            return outputs.concat();
        }
        images
            .into_iter()
            .flat_map(|image| run(image, Split::Blocks))
            .collect()
    }

    /// What the packed engine hands back for an image run through its blocks: the embedding
    /// when `pooled`, else the activations pixel by pixel.
    pub fn packed_output(output: Activations, pooled: bool) -> Vec<f32> {
        match pooled {
            true => global_average_pool(&output),
            false => output.values,
        }
    }

    /// burn's forward pass step by step, for callers that interleave other work (none when
    /// the encoder is packed: it runs only through [`Self::embed_chips`] and [`Self::map_to`]).
    pub fn stages(&self) -> impl Iterator<Item = &dyn Stage> {
        let blocks: &[Block<ConvBn>] = match &self.trunk {
            Trunk::Burn(blocks) => blocks,
            Trunk::Packed(_) => &[],
        };
        blocks.iter().map(|block| block as &dyn Stage)
    }

    /// Pools the last stage's output into `[batch, dim]` embeddings.
    pub fn pool(x: Tensor<4>) -> Tensor<2> {
        layers::global_average_pool(x)
    }

    /// Embeds a batch of preprocessed chips (`[batch, 3, 224, 224]`) as `[batch, dim]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        Self::pool(self.stages().fold(input, |x, stage| stage.forward(x)))
    }

    /// Embeds `chips` from `source` in batches of `batch_size` (at least 1), calling `progress`
    /// with the number done after each batch; burn's engine runs on `device`, the packed one on
    /// every core. Reads results back synchronously, so it is for native callers; the page runs
    /// the same steps asynchronously.
    pub fn embed_chips(
        &self,
        source: ChipSource,
        chips: &[Chip],
        batch_size: usize,
        device: &Device,
        mut progress: impl FnMut(usize),
    ) -> Result<Embeddings, EncoderError> {
        let mut values = Vec::with_capacity(chips.len() * self.dim);
        for (index, batch) in chips.chunks(batch_size.max(1)).enumerate() {
            match &self.trunk {
                Trunk::Burn(_) => {
                    let input = source.input_batch(batch, device);
                    values.extend(read_back(self.forward(input))?);
                }
                Trunk::Packed(_) => {
                    let inputs = batch.iter().map(|&chip| source.chip_activations(chip));
                    values.extend(self.run_packed(inputs.collect(), self.blocks().len(), true));
                }
            }
            progress((index * batch_size.max(1) + batch.len()).min(chips.len()));
        }
        Ok(Embeddings {
            dim: self.dim,
            values,
        })
    }
}

/// Describes the network a torchvision state dict holds, whichever architecture its keys show.
fn describe(weights: &TensorMap) -> Result<Network, EncoderError> {
    if let Some(prefix) = resnet::find_prefix(weights) {
        return resnet::describe(weights, &prefix);
    }
    if let Some(prefix) = mobilenet_v2::find_prefix(weights) {
        return mobilenet_v2::describe(weights, &prefix);
    }
    let first_keys: Vec<&str> = weights.keys().take(4).map(String::as_str).collect();
    Err(EncoderError::UnknownArchitecture(
        match first_keys.is_empty() {
            true => "the file holds no float tensors".to_string(),
            false => format!("its first keys are {}", first_keys.join(", ")),
        },
    ))
}

/// A tensor's values, read back synchronously (native callers), in row-major order.
fn read_back<const D: usize>(output: Tensor<D>) -> Result<Vec<f32>, EncoderError> {
    output
        .try_into_data()
        .map_err(|error| EncoderError::Execution(error.to_string()))?
        .try_into_vec::<f32>()
        .map_err(|error| EncoderError::Execution(format!("{error:?}")))
}

/// The shortest prefix `P` for which `weights` hold both `P + key` and `P + companion`.
fn find_prefix(weights: &TensorMap, key: &str, companion: &str) -> Option<String> {
    weights
        .keys()
        .filter_map(|name| name.strip_suffix(key))
        .filter(|prefix| weights.contains_key(&format!("{prefix}{companion}")))
        .min_by_key(|prefix| prefix.len())
        .map(str::to_string)
}
