//! MobileNetV2 in torchvision's layout (width multiplier read from the weights), read from a
//! torchvision state dict: `features` then global average pooling, 1280-d at width 1.0.

use super::layers::{ConvShape, FoldedConv, WeightReader};
use super::network::{Block, Network};
use super::{Cut, EncoderError};
use crate::weights::TensorMap;

/// The key that marks a torchvision MobileNetV2: its first 3×3 RGB convolution.
const FIRST_KEY: &str = "features.0.0.weight";

/// Depthwise strides of the 17 inverted residual blocks (`features.1` … `features.17`), from
/// the paper's table of (expansion, channels, repeats, stride).
const BLOCK_STRIDES: [usize; 17] = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1];

/// The key prefix under which `weights` hold a MobileNetV2, if they do.
pub fn find_prefix(weights: &TensorMap) -> Option<String> {
    let prefix = super::find_prefix(weights, FIRST_KEY, "features.18.0.weight")?;
    let shape = &weights[&format!("{prefix}{FIRST_KEY}")].shape;
    (shape.len() == 4 && shape[1..] == [3, 3, 3]).then_some(prefix)
}

/// Describes the MobileNetV2 whose keys start with `prefix`.
pub fn describe(weights: &TensorMap, prefix: &str) -> Result<Network, EncoderError> {
    let reader = WeightReader::new(weights, prefix);
    let blocks = reader.count_children("features");
    if blocks != BLOCK_STRIDES.len() + 2 {
        return Err(EncoderError::UnknownArchitecture(format!(
            "a MobileNetV2 has 19 feature blocks; these weights have {blocks}"
        )));
    }
    let first = reader.conv_bn("features.0.0", "features.0.1", ConvShape::dense(3, 3, 2))?;
    let mut channels = first.out_channels();
    let mut blocks = vec![Block::ConvRelu6(first)];
    let mut total_stride = 2;
    let mut cuts = vec![feature_cut(0, channels, total_stride)];
    for (offset, &stride) in BLOCK_STRIDES.iter().enumerate() {
        let (block, out_channels) = read_inverted_residual(
            &reader,
            &format!("features.{}", offset + 1),
            channels,
            stride,
        )?;
        channels = out_channels;
        total_stride *= stride;
        blocks.push(block);
        cuts.push(feature_cut(offset + 1, channels, total_stride));
    }
    let last = reader.conv_bn(
        "features.18.0",
        "features.18.1",
        ConvShape::dense(channels, 1, 1),
    )?;
    let dim = last.out_channels();
    blocks.push(Block::ConvRelu6(last));
    cuts.push(feature_cut(BLOCK_STRIDES.len() + 1, dim, total_stride));
    Ok(Network {
        name: "MobileNetV2".to_string(),
        dim,
        blocks,
        cuts,
    })
}

/// The cut after `features.{index}`, the stage of that index.
fn feature_cut(index: usize, channels: usize, stride: usize) -> Cut {
    Cut {
        name: format!("features.{index}"),
        stages: index + 1,
        channels,
        stride,
    }
}

/// An inverted residual block and its output channels: optional 1×1 expansion, 3×3 depthwise,
/// linear 1×1 projection; a residual connection when the stride is 1 and the channels are kept.
fn read_inverted_residual(
    reader: &WeightReader,
    name: &str,
    in_channels: usize,
    stride: usize,
) -> Result<(Block<FoldedConv>, usize), EncoderError> {
    let expanded = reader.has(&format!("{name}.conv.3.running_var"));
    let (expand, depthwise_at, project_at, project_norm_at) = match expanded {
        true => {
            let expand = reader.conv_bn(
                &format!("{name}.conv.0.0"),
                &format!("{name}.conv.0.1"),
                ConvShape::dense(in_channels, 1, 1),
            )?;
            (Some(expand), "conv.1", "conv.2", "conv.3")
        }
        false => (None, "conv.0", "conv.1", "conv.2"),
    };
    let hidden = expand
        .as_ref()
        .map_or(in_channels, |expand| expand.out_channels());
    let depthwise = reader.conv_bn(
        &format!("{name}.{depthwise_at}.0"),
        &format!("{name}.{depthwise_at}.1"),
        ConvShape::depthwise(hidden, 3, stride),
    )?;
    let project = reader.conv_bn(
        &format!("{name}.{project_at}"),
        &format!("{name}.{project_norm_at}"),
        ConvShape::dense(hidden, 1, 1),
    )?;
    let out_channels = project.out_channels();
    let residual = stride == 1 && out_channels == in_channels;
    let block = Block::InvertedResidual {
        expand,
        depthwise,
        project,
        residual,
    };
    Ok((block, out_channels))
}
