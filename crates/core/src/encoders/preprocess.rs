//! Chip preprocessing, the one definition shared by the page, the CLI and the PyTorch reference
//! (`scripts/weights/reference.py`):
//!
//! 1. raw values are scaled by the image's display range to [0, 1] (clipped; non-finite → 0);
//! 2. the chip is resized to 224 × 224 with antialiased bilinear interpolation (half-pixel
//!    centres, triangle filter widened by the scale when shrinking: PyTorch's
//!    `interpolate(mode="bilinear", align_corners=False, antialias=True)` and PIL's bilinear);
//! 3. the grey level is replicated to three channels and normalised with ImageNet's mean and
//!    standard deviation.
//!
//! A dense pass ([`super::dense`]) prepares the whole image the same way, enlarged by a
//! factor instead of each chip resized to 224² ([`ScaledImage`]).

use burn::tensor::{Device, Tensor, TensorData};
use chipscope_kernels::Activations;

use crate::dataset::Image;
use crate::display::DisplayRange;
use crate::grid::{Chip, ChipGrid};

/// Side of the square network input.
pub const INPUT_SIZE: usize = 224;
/// ImageNet channel means (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The chips of one image, with the display range that scales them.
#[derive(Clone, Copy)]
pub struct ChipSource<'a> {
    /// The micrograph, with its raw values.
    pub image: &'a Image,
    /// The chip grid laid on `image`.
    pub grid: &'a ChipGrid,
    /// The raw values mapped to 0 and 1 before the network sees them.
    pub range: DisplayRange,
}

impl ChipSource<'_> {
    /// Steps 1–2: the chip's pixels scaled to [0, 1] and resized to `INPUT_SIZE`², row-major.
    pub fn scaled_chip(&self, chip: Chip) -> Vec<f32> {
        let size = self.grid.chip_size();
        let width = self.image.width();
        let mut unit = Vec::with_capacity(size * size);
        for y in chip.y..chip.y + size {
            let row = &self.image.pixels()[y * width + chip.x..][..size];
            unit.extend(row.iter().map(|&value| unit_value(value, self.range)));
        }
        resize_bilinear_antialiased(&unit, size, size, INPUT_SIZE, INPUT_SIZE)
    }

    /// All three steps for a batch: the network input `[chips, 3, 224, 224]` on `device`.
    pub fn input_batch(&self, chips: &[Chip], device: &Device) -> Tensor<4> {
        let plane = INPUT_SIZE * INPUT_SIZE;
        let mut input = Vec::with_capacity(chips.len() * 3 * plane);
        for &chip in chips {
            push_normalised(&mut input, &self.scaled_chip(chip));
        }
        let shape = [chips.len(), 3, INPUT_SIZE, INPUT_SIZE];
        Tensor::from_data(TensorData::new(input, shape), device)
    }

    /// All three steps for one chip, as NHWC activations for Chipscope's CPU kernels.
    pub fn chip_activations(&self, chip: Chip) -> Activations {
        normalised_pixels(&self.scaled_chip(chip), INPUT_SIZE, INPUT_SIZE)
    }
}

/// Step 1 for one raw value: its place in the display range, clipped to [0, 1] (0 when the
/// range is empty or the value not finite).
fn unit_value(value: f32, range: DisplayRange) -> f32 {
    let span = range.high - range.low;
    match span > 0.0 && value.is_finite() {
        true => ((value - range.low) / span).clamp(0.0, 1.0),
        false => 0.0,
    }
}

/// Step 3: the grey plane `grey` appended as three channels, each normalised with ImageNet's
/// mean and standard deviation.
fn push_normalised(input: &mut Vec<f32>, grey: &[f32]) {
    for (mean, std) in IMAGENET_MEAN.iter().zip(IMAGENET_STD) {
        input.extend(grey.iter().map(|value| (value - mean) / std));
    }
}

/// Step 3 in NHWC order: each grey pixel as its three normalised channels.
fn normalised_pixels(grey: &[f32], height: usize, width: usize) -> Activations {
    let values = grey
        .iter()
        .flat_map(|value| {
            let channel = |c: usize| (value - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            [channel(0), channel(1), channel(2)]
        })
        .collect();
    Activations::new(height, width, 3, values)
}

/// A whole image prepared for a dense pass: steps 1–2 with the whole image in place of a chip,
/// enlarged `scale` times instead of resized to 224² (the same antialiased bilinear
/// interpolation, PyTorch's `interpolate(scale_factor=scale, mode="bilinear",
/// align_corners=False, antialias=True)`; no interpolation at scale 1).
pub struct ScaledImage {
    /// Width in pixels, `scale` × the image's.
    pub width: usize,
    /// Height in pixels, `scale` × the image's.
    pub height: usize,
    /// Values in [0, 1], row-major.
    pub pixels: Vec<f32>,
}

impl ScaledImage {
    /// `image` mapped through `range` to [0, 1] and enlarged `scale` times (at least 1).
    pub fn new(image: &Image, range: DisplayRange, scale: usize) -> Self {
        let (width, height, scale) = (image.width(), image.height(), scale.max(1));
        let unit: Vec<f32> = image
            .pixels()
            .iter()
            .map(|&value| unit_value(value, range))
            .collect();
        let pixels = match scale {
            1 => unit,
            _ => resize_bilinear_antialiased(&unit, width, height, width * scale, height * scale),
        };
        Self {
            width: width * scale,
            height: height * scale,
            pixels,
        }
    }

    /// Step 3 for the window `[x0, x1) × [y0, y1)`: the network input `[1, 3, h, w]`.
    pub fn window(&self, x: [usize; 2], y: [usize; 2], device: &Device) -> Tensor<4> {
        self.crop(x, y).tensor(device)
    }

    /// The window `[x0, x1) × [y0, y1)`.
    pub fn crop(&self, [x0, x1]: [usize; 2], [y0, y1]: [usize; 2]) -> ScaledImage {
        let mut pixels = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            pixels.extend_from_slice(&self.pixels[y * self.width + x0..y * self.width + x1]);
        }
        ScaledImage {
            width: x1 - x0,
            height: y1 - y0,
            pixels,
        }
    }

    /// Step 3: the network input `[1, 3, h, w]` on `device`.
    pub fn tensor(&self, device: &Device) -> Tensor<4> {
        let mut input = Vec::with_capacity(3 * self.pixels.len());
        push_normalised(&mut input, &self.pixels);
        let shape = [1, 3, self.height, self.width];
        Tensor::from_data(TensorData::new(input, shape), device)
    }

    /// Step 3 as NHWC activations for Chipscope's CPU kernels.
    pub fn activations(&self) -> Activations {
        normalised_pixels(&self.pixels, self.height, self.width)
    }
}

/// Resizes a single-channel image with separable antialiased bilinear interpolation.
pub fn resize_bilinear_antialiased(
    pixels: &[f32],
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<f32> {
    let columns = ResampleWeights::new(width, out_width);
    let rows = ResampleWeights::new(height, out_height);
    let mut horizontal = Vec::with_capacity(height * out_width);
    for row in pixels.chunks_exact(width) {
        horizontal.extend((0..out_width).map(|x| columns.apply(x, |i| row[i])));
    }
    let mut output = Vec::with_capacity(out_height * out_width);
    for y in 0..out_height {
        output.extend((0..out_width).map(|x| rows.apply(y, |i| horizontal[i * out_width + x])));
    }
    output
}

/// For each output position along one axis, the first input index and the normalised weights
/// of the input samples it blends.
struct ResampleWeights {
    taps: Vec<(usize, Vec<f32>)>,
}

impl ResampleWeights {
    fn new(input: usize, output: usize) -> Self {
        let scale = input as f64 / output as f64;
        let widening = scale.max(1.0);
        let support = widening; // the triangle filter reaches 1 input pixel, widened when shrinking
        let taps = (0..output)
            .map(|index| {
                let centre = (index as f64 + 0.5) * scale;
                let first = (centre - support + 0.5).max(0.0) as usize;
                let last = ((centre + support + 0.5) as usize).min(input);
                let raw: Vec<f64> = (first..last)
                    .map(|i| (1.0 - ((i as f64 - centre + 0.5) / widening).abs()).max(0.0))
                    .collect();
                let total: f64 = raw.iter().sum();
                let weights = raw.iter().map(|w| (w / total) as f32).collect();
                (first, weights)
            })
            .collect();
        Self { taps }
    }

    fn apply(&self, index: usize, sample: impl Fn(usize) -> f32) -> f32 {
        let (first, weights) = &self.taps[index];
        weights
            .iter()
            .enumerate()
            .map(|(offset, weight)| weight * sample(first + offset))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_resize_is_the_identity() {
        let pixels: Vec<f32> = (0..20).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear_antialiased(&pixels, 5, 4, 5, 4), pixels);
    }

    #[test]
    fn upscaling_two_pixels_interpolates_between_half_pixel_centres() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4),
        //   mode="bilinear", align_corners=False, antialias=True) → [0, 0.25, 0.75, 1]
        let resized = resize_bilinear_antialiased(&[0.0, 1.0], 2, 1, 4, 1);
        for (got, want) in resized.iter().zip([0.0, 0.25, 0.75, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{resized:?}");
        }
    }

    #[test]
    fn halving_averages_pixel_pairs_with_neighbours() {
        // torch.nn.functional.interpolate(torch.arange(8.).view(1, 1, 1, 8), size=(1, 4),
        //   mode="bilinear", align_corners=False, antialias=True)
        //   → [0.7143, 2.5000, 4.5000, 6.2857] (torch 2.15), i.e. [5/7, 2.5, 4.5, 44/7]
        let pixels: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let resized = resize_bilinear_antialiased(&pixels, 8, 1, 4, 1);
        for (got, want) in resized.iter().zip([5.0 / 7.0, 2.5, 4.5, 44.0 / 7.0]) {
            assert!((got - want).abs() < 1e-5, "{resized:?}");
        }
    }
}
