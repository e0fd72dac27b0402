//! Image encoders: pretrained CNNs (torchvision ResNets and MobileNetV2) that turn preprocessed
//! chips into embedding vectors, the pooled features before the classifier head.
//!
//! An encoder is built from a torchvision state dict ([`crate::weights`]); its architecture is
//! inferred from the keys. BatchNorm is folded into the convolutions at load time, so a forward
//! pass is convolutions, activations, additions and one pooling.

pub mod dense;
pub mod layers;
pub mod mobilenet_v2;
pub mod preprocess;
pub mod resnet;

pub use preprocess::ChipSource;

use crate::embeddings::Embeddings;
use burn::tensor::{Device, Tensor};

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

/// A CNN trunk: stages applied in order, then global average pooling.
pub struct ImageEncoder {
    name: String,
    dim: usize,
    stages: Vec<Box<dyn Stage>>,
    cuts: Vec<Cut>,
}

impl ImageEncoder {
    /// Builds the encoder a torchvision state dict describes, on `device`. Keys may carry a
    /// common prefix such as `module.`; classifier heads are ignored.
    pub fn from_weights(weights: &TensorMap, device: &Device) -> Result<Self, EncoderError> {
        if let Some(prefix) = resnet::find_prefix(weights) {
            return resnet::build(weights, &prefix, device);
        }
        if let Some(prefix) = mobilenet_v2::find_prefix(weights) {
            return mobilenet_v2::build(weights, &prefix, device);
        }
        let first_keys: Vec<&str> = weights.keys().take(4).map(String::as_str).collect();
        Err(EncoderError::UnknownArchitecture(
            match first_keys.is_empty() {
                true => "the file holds no float tensors".to_string(),
                false => format!("its first keys are {}", first_keys.join(", ")),
            },
        ))
    }

    fn new(name: String, dim: usize, stages: Vec<Box<dyn Stage>>, cuts: Vec<Cut>) -> Self {
        Self {
            name,
            dim,
            stages,
            cuts,
        }
    }

    /// Where the trunk can stop for a dense feature map, in network order.
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// The cut named `name`, if the network has it.
    pub fn cut(&self, name: &str) -> Option<&Cut> {
        self.cuts.iter().find(|cut| cut.name == name)
    }

    /// The trunk up to and including `cut`, applied to `[batch, 3, h, w]` input of any size.
    pub fn forward_to(&self, input: Tensor<4>, cut: &Cut) -> Tensor<4> {
        self.stages
            .iter()
            .take(cut.stages)
            .fold(input, |x, stage| stage.forward(x))
    }

    /// The architecture, e.g. "ResNet-50".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length of an embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The forward pass step by step, for callers that interleave other work.
    pub fn stages(&self) -> impl Iterator<Item = &dyn Stage> {
        self.stages.iter().map(Box::as_ref)
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
    /// with the number done after each batch. Reads results back synchronously, so it is for
    /// native callers; the page runs the same steps asynchronously.
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
            let input = source.input_batch(batch, device);
            values.extend(read_back(self.forward(input))?);
            progress((index * batch_size.max(1) + batch.len()).min(chips.len()));
        }
        Ok(Embeddings {
            dim: self.dim,
            values,
        })
    }
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
