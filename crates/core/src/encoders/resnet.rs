//! ResNet-18/34/50/101/152 (and wide variants) in torchvision's layout, read from a torchvision
//! state dict: the network up to global average pooling, giving 512-d (basic blocks) or 2048-d
//! (bottleneck blocks) features.

use super::layers::{ConvShape, FoldedConv, WeightReader};
use super::network::{Block, Network};
use super::{Cut, EncoderError};
use crate::weights::TensorMap;

/// The key that marks a torchvision ResNet and its shape (64 filters, RGB, 7×7).
const STEM_KEY: &str = "conv1.weight";
const STEM_SHAPE: [usize; 4] = [64, 3, 7, 7];

/// The key prefix (e.g. "" or "module.") under which `weights` hold a ResNet, if they do.
pub fn find_prefix(weights: &TensorMap) -> Option<String> {
    let prefix = super::find_prefix(weights, STEM_KEY, "layer1.0.conv1.weight")?;
    (weights[&format!("{prefix}{STEM_KEY}")].shape == STEM_SHAPE).then_some(prefix)
}

/// Describes the ResNet whose keys start with `prefix`, inferring depth and widths from the keys.
pub fn describe(weights: &TensorMap, prefix: &str) -> Result<Network, EncoderError> {
    let reader = WeightReader::new(weights, prefix);
    let bottleneck = reader.has("layer1.0.conv3.weight");
    let blocks_per_layer: Vec<usize> = (1..=4)
        .map(|layer| reader.count_children(&format!("layer{layer}")))
        .collect();
    if blocks_per_layer.contains(&0) {
        return Err(EncoderError::UnknownArchitecture(format!(
            "a ResNet needs layer1 to layer4; these weights have {blocks_per_layer:?} blocks"
        )));
    }

    let mut blocks = vec![Block::Stem(reader.conv_bn(
        "conv1",
        "bn1",
        ConvShape::dense(3, 7, 2),
    )?)];
    let mut channels = STEM_SHAPE[0];
    let mut cuts = Vec::new();
    // The stem halves the image twice (convolution, max pooling).
    let mut total_stride = 4;
    for (layer, &count) in blocks_per_layer.iter().enumerate() {
        for index in 0..count {
            let stride = if layer > 0 && index == 0 { 2 } else { 1 };
            let name = format!("layer{}.{index}", layer + 1);
            let (block, out_channels) =
                read_residual(&reader, &name, channels, stride, bottleneck)?;
            channels = out_channels;
            total_stride *= stride;
            blocks.push(block);
        }
        cuts.push(Cut {
            name: format!("layer{}", layer + 1),
            stages: blocks.len(),
            channels,
            stride: total_stride,
        });
    }
    Ok(Network {
        name: architecture_name(bottleneck, &blocks_per_layer, &reader)?,
        dim: channels,
        blocks,
        cuts,
    })
}

/// "ResNet-50", "Wide ResNet-101-2", or a description of a non-standard layout.
fn architecture_name(
    bottleneck: bool,
    blocks: &[usize],
    reader: &WeightReader,
) -> Result<String, EncoderError> {
    let depth = match (bottleneck, blocks) {
        (false, [2, 2, 2, 2]) => Some(18),
        (false, [3, 4, 6, 3]) => Some(34),
        (true, [3, 4, 6, 3]) => Some(50),
        (true, [3, 4, 23, 3]) => Some(101),
        (true, [3, 8, 36, 3]) => Some(152),
        _ => None,
    };
    let first_width = reader.tensor("layer1.0.conv1.weight", 4)?.shape[0];
    Ok(match depth {
        Some(depth) if bottleneck && first_width != 64 => {
            format!("Wide ResNet-{depth}-{}", first_width / 64)
        }
        Some(depth) => format!("ResNet-{depth}"),
        None => format!(
            "ResNet with {} blocks {blocks:?}",
            if bottleneck { "bottleneck" } else { "basic" }
        ),
    })
}

/// A basic (two 3×3) or bottleneck (1×1, 3×3, 1×1) residual block and its output channels; the
/// stride sits on the 3×3 convolution and on the 1×1 projection of the shortcut, as in
/// torchvision.
fn read_residual(
    reader: &WeightReader,
    name: &str,
    in_channels: usize,
    stride: usize,
    bottleneck: bool,
) -> Result<(Block<FoldedConv>, usize), EncoderError> {
    let mut convs = Vec::new();
    let mut channels = in_channels;
    let layout: &[(usize, usize)] = match bottleneck {
        true => &[(1, 1), (3, stride), (1, 1)],
        false => &[(3, stride), (3, 1)],
    };
    for (index, &(kernel, conv_stride)) in layout.iter().enumerate() {
        let conv = reader.conv_bn(
            &format!("{name}.conv{}", index + 1),
            &format!("{name}.bn{}", index + 1),
            ConvShape::dense(channels, kernel, conv_stride),
        )?;
        channels = conv.out_channels();
        convs.push(conv);
    }
    let shortcut = match reader.has(&format!("{name}.downsample.0.weight")) {
        true => Some(reader.conv_bn(
            &format!("{name}.downsample.0"),
            &format!("{name}.downsample.1"),
            ConvShape::dense(in_channels, 1, stride),
        )?),
        false if stride == 1 && channels == in_channels => None,
        false => {
            return Err(EncoderError::MissingTensor(
                reader.key(&format!("{name}.downsample.0.weight")),
            ));
        }
    };
    if let Some(projection) = &shortcut
        && projection.out_channels() != channels
    {
        return Err(EncoderError::UnknownArchitecture(format!(
            "{name}: the shortcut gives {} channels, the block {channels}",
            projection.out_channels()
        )));
    }
    Ok((Block::Residual { convs, shortcut }, channels))
}
