//! Dense embeddings: the CNN trunk runs once over the whole image (enlarged by a small factor)
//! up to a chosen stage, and each chip's embedding is the mean of the feature-map cells it
//! covers — SPPnet's and Fast R-CNN's answer to warping every region to 224², and what
//! napari-convpaint does. It costs a fraction of the per-chip pass and gives a vector every
//! `stride / scale` pixels.
//!
//! **Tiles.** The image is run in square windows so memory stays bounded and the page can
//! yield between them. Each window starts on a multiple of the stride, so its cells fall on the
//! whole image's cells, and reaches `halo` cells beyond the cells it keeps, so that the zero
//! padding at its cut edges stays away from them (the image's own edges are padded as in one
//! pass). Exact equality with one pass would need a halo as wide as the receptive field; the
//! default halo was chosen by measurement ([`Tiling::default`]). The page also enlarges the
//! image one window at a time ([`WindowedImage`], the same input bit for bit).
//!
//! **Pooling.** A chip is `[x, x + size)` × `[y, y + size)` image pixels; a cell covers
//! `cell_px = stride / scale` image pixels from `col × cell_px`. A chip's vector is the mean of
//! the cells it overlaps, each weighted by the area of the overlap, so chips that do not fall
//! on the cell grid are pooled fairly.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::preprocess::{ScaledImage, resize_bilinear_antialiased};
use super::{Cut, EncoderError, ImageEncoder};
use crate::dataset::Image;
use crate::display::DisplayRange;
use crate::embeddings::Embeddings;
use crate::grid::ChipGrid;

/// Where a dense map is taken and how much the image is enlarged first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DenseSettings {
    /// The torchvision name of the part after which the trunk stops (see [`ImageEncoder::cuts`]).
    pub stage: String,
    /// Enlargement of the image before the trunk: 1, 2 or 4.
    pub scale: usize,
}

impl DenseSettings {
    /// The settings chosen by measurement for `encoder`'s architecture on the image enlarged
    /// twice (README, "Dense embeddings"; `crates/core/tests/dense_embeddings.rs`): ResNets
    /// after `layer3` (stride 16, a vector every 8 image pixels), MobileNetV2 after
    /// `features.6` (stride 8, every 4 pixels) — the most accurate of the stages and scales
    /// tried, on average over the simulated scenes.
    pub fn recommended(encoder: &ImageEncoder) -> Self {
        let stage = match encoder.cut("layer3") {
            Some(_) => "layer3",
            None => "features.6",
        };
        Self {
            stage: stage.into(),
            scale: 2,
        }
    }

    /// What [`DenseSettings::recommended`] gives for the architecture `name` names — an
    /// encoder's name ("ResNet-50", "MobileNetV2") or a shipped encoder's id or manifest name
    /// ("resnet50", "MobileNetV2 (ImageNet-1k supervised)") — before its weights are loaded;
    /// `None` for a name of neither family.
    pub fn recommended_for_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let stage = match () {
            _ if name.contains("resnet") => "layer3",
            _ if name.contains("mobilenet") => "features.6",
            _ => return None,
        };
        Some(Self {
            stage: stage.into(),
            scale: 2,
        })
    }

    /// The cut of `encoder` these settings name, or why it has none.
    pub fn cut<'a>(&self, encoder: &'a ImageEncoder) -> Result<&'a Cut, EncoderError> {
        encoder.cut(&self.stage).ok_or_else(|| {
            let names: Vec<&str> = encoder.cuts().iter().map(|c| c.name.as_str()).collect();
            EncoderError::UnknownStage {
                stage: self.stage.clone(),
                encoder: encoder.name().to_string(),
                known: names.join(", "),
            }
        })
    }

    /// The bytes of the float32 map these settings give of a `width` × `height` image (before
    /// enlargement), known before anything is computed or allocated, so a caller can refuse a
    /// map too large for its memory.
    pub fn map_bytes(
        &self,
        encoder: &ImageEncoder,
        width: usize,
        height: usize,
    ) -> Result<usize, EncoderError> {
        let cut = self.cut(encoder)?;
        let scale = self.scale.max(1);
        let cells = (width * scale).div_ceil(cut.stride) * (height * scale).div_ceil(cut.stride);
        Ok(cells * cut.channels * std::mem::size_of::<f32>())
    }

    /// [`Self::map_bytes`], refused with [`EncoderError::MapTooLarge`] above `limit` bytes.
    pub fn checked_map_bytes(
        &self,
        encoder: &ImageEncoder,
        width: usize,
        height: usize,
        limit: usize,
    ) -> Result<usize, EncoderError> {
        let bytes = self.map_bytes(encoder, width, height)?;
        if bytes > limit {
            return Err(EncoderError::MapTooLarge {
                stage: self.stage.clone(),
                scale: self.scale,
                megabytes: bytes as f64 / 1e6,
                limit_mb: limit >> 20,
            });
        }
        Ok(bytes)
    }
}

/// How chips are embedded: each resized to 224² and run through the whole network (pyCHIP), or
/// pooled from one dense feature map of the image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmbeddingMode {
    /// pyCHIP: every chip resized to 224² and embedded on its own; what sessions written
    /// before version 5 did.
    #[default]
    PerChip,
    /// The trunk run once over the image, pooled per chip.
    Dense(DenseSettings),
}

impl EmbeddingMode {
    /// The scales a dense map may be taken at.
    pub const SCALES: [usize; 3] = [1, 2, 4];

    /// What the page and a new session start with: dense at the settings recommended for
    /// `encoder`.
    pub fn default_for(encoder: &ImageEncoder) -> Self {
        EmbeddingMode::Dense(DenseSettings::recommended(encoder))
    }

    /// A short description for people: "pyCHIP (per chip)" or "dense, layer3 ×2".
    pub fn describe(&self) -> String {
        match self {
            EmbeddingMode::PerChip => "pyCHIP (per chip)".into(),
            EmbeddingMode::Dense(dense) => format!("dense, {} ×{}", dense.stage, dense.scale),
        }
    }
}

/// How a dense pass is cut into windows, in pixels of the enlarged image (rounded to whole
/// cells of the stage's stride).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Side of the part of each window that is kept.
    pub kept_px: usize,
    /// Pixels computed beyond it on every side that has image, and dropped.
    pub halo_px: usize,
}

impl Default for Tiling {
    /// 1024 kept pixels a side and a halo of 128. Measured on the simulated example (512², ×2,
    /// `tiled_maps_match_a_single_pass` and its ResNet twin, 256-px windows): with a 128-px halo
    /// the tiled map differs from one pass by at most 1.5e-5 (MobileNetV2 `features.13`) and
    /// 2.1e-7 (ResNet-50 `layer3`) of its largest value and no chip changes class; with 64 px
    /// MobileNetV2's stride-16 chips do. The stride-8 stages (`features.6`, `layer2`) are bit
    /// for bit the single pass from 32 and 64 px. An interior window computes
    /// (1280 / 1024)² = 1.56× the pixels it keeps; an enlarged image up to 1024 px a side is one
    /// window.
    fn default() -> Self {
        Self {
            kept_px: 1024,
            halo_px: 128,
        }
    }
}

impl Tiling {
    /// One window for the whole image: a single pass.
    pub const SINGLE_PASS: Tiling = Tiling {
        kept_px: usize::MAX,
        halo_px: 0,
    };
}

/// A vector for every cell of a grid laid on the image.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    /// Values per cell.
    pub channels: usize,
    /// Cells across.
    pub cols: usize,
    /// Cells down.
    pub rows: usize,
    /// Image pixels per cell side (`stride / scale`).
    pub cell_px: f64,
    /// `rows × cols × channels` values, cells row-major, each cell's channels together.
    pub values: Vec<f32>,
}

impl FeatureMap {
    /// The vector of the cell in column `col`, row `row`.
    pub fn cell(&self, col: usize, row: usize) -> &[f32] {
        let at = (row * self.cols + col) * self.channels;
        &self.values[at..at + self.channels]
    }

    /// Every chip of `grid` (laid on the image this map was made from) as the area-weighted
    /// mean of the cells it covers, in grid order.
    pub fn pool(&self, grid: &ChipGrid) -> Embeddings {
        let mut values = Vec::with_capacity(grid.chip_count() * self.channels);
        let mut sum = vec![0.0f64; self.channels];
        for chip in grid.chips() {
            sum.iter_mut().for_each(|s| *s = 0.0);
            let size = grid.chip_size();
            let across = self.overlaps(chip.x, size, self.cols);
            let down = self.overlaps(chip.y, size, self.rows);
            let mut total = 0.0;
            for &(row, height) in &down {
                for &(col, width) in &across {
                    let weight = height * width;
                    total += weight;
                    sum.iter_mut()
                        .zip(self.cell(col, row))
                        .for_each(|(s, &v)| *s += weight * f64::from(v));
                }
            }
            values.extend(sum.iter().map(|s| (s / total) as f32));
        }
        Embeddings {
            dim: self.channels,
            values,
        }
    }

    /// The cells (of `count` along this axis) that `[start, start + size)` image pixels
    /// overlap, each with the overlap's length in cells.
    fn overlaps(&self, start: usize, size: usize, count: usize) -> Vec<(usize, f64)> {
        let from = start as f64 / self.cell_px;
        let to = ((start + size) as f64 / self.cell_px).min(count as f64);
        let first = from.floor() as usize;
        let last = (to.ceil() as usize).min(count);
        (first..last)
            .map(|cell| {
                let overlap = to.min((cell + 1) as f64) - from.max(cell as f64);
                (cell, overlap)
            })
            .filter(|(_, overlap)| *overlap > 0.0)
            .collect()
    }
}

/// One window of a tiled pass: the input pixels it reads and the cells it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input columns `[x0, x1)` of the enlarged image.
    pub x: [usize; 2],
    /// Input rows `[y0, y1)`.
    pub y: [usize; 2],
    /// Map columns `[c0, c1)` it keeps.
    pub cols: [usize; 2],
    /// Map rows `[r0, r1)` it keeps.
    pub rows: [usize; 2],
}

/// An image prepared for a dense pass one window at a time: mapped to [0, 1] once, and enlarged
/// only where a window reads. Gives exactly the input [`ScaledImage::new`] and
/// [`ScaledImage::window`] give, bit for bit, without holding the enlarged image (`scale²` times
/// the image) or enlarging all of it in one uninterrupted step — what the page needs to stay
/// responsive on large images.
///
/// Why it is exact: at the scales 1, 2 and 4 the interpolation's taps and weights for an output
/// pixel depend only on its place within its input pixel (every quantity involved is a dyadic
/// fraction, computed without rounding), so enlarging a crop that reaches [`Self::MARGIN`] input
/// pixels beyond the window (or to the image's edge) gives the window's pixels unchanged.
pub struct WindowedImage {
    unit: ScaledImage,
    scale: usize,
}

impl WindowedImage {
    /// Input pixels a window's crop reaches beyond the pixels its outputs sit on: the
    /// interpolation reads at most 1.5 input pixels either side of an output's centre.
    pub const MARGIN: usize = 2;

    /// `image` mapped through `range` to [0, 1], to be enlarged `scale` times (1, 2 or 4) window
    /// by window.
    pub fn new(image: &Image, range: DisplayRange, scale: usize) -> Self {
        let scale = scale.max(1);
        assert!(
            EmbeddingMode::SCALES.contains(&scale),
            "windows are exact at the scales 1, 2 and 4, not {scale}"
        );
        Self {
            unit: ScaledImage::new(image, range, 1),
            scale,
        }
    }

    /// Width of the enlarged image.
    pub fn width(&self) -> usize {
        self.unit.width * self.scale
    }

    /// Height of the enlarged image.
    pub fn height(&self) -> usize {
        self.unit.height * self.scale
    }

    /// The network input `[1, 3, h, w]` for the window `[x0, x1) × [y0, y1)` of the enlarged
    /// image, as [`ScaledImage::window`] gives it.
    pub fn window(&self, x: [usize; 2], y: [usize; 2], device: &Device) -> Tensor<4> {
        self.crop(x, y).tensor(device)
    }

    /// The window `[x0, x1) × [y0, y1)` of the enlarged image, as [`ScaledImage::crop`] gives it.
    pub fn crop(&self, x: [usize; 2], y: [usize; 2]) -> ScaledImage {
        if self.scale == 1 {
            return self.unit.crop(x, y);
        }
        let scale = self.scale;
        let reach = |[from, to]: [usize; 2], length: usize| {
            let first = (from / scale).saturating_sub(Self::MARGIN);
            [first, (to.div_ceil(scale) + Self::MARGIN).min(length)]
        };
        let [cx0, cx1] = reach(x, self.unit.width);
        let [cy0, cy1] = reach(y, self.unit.height);
        let mut crop = Vec::with_capacity((cx1 - cx0) * (cy1 - cy0));
        for row in cy0..cy1 {
            let start = row * self.unit.width;
            crop.extend_from_slice(&self.unit.pixels[start + cx0..start + cx1]);
        }
        let (width, height) = ((cx1 - cx0) * scale, (cy1 - cy0) * scale);
        let enlarged = ScaledImage {
            width,
            height,
            pixels: resize_bilinear_antialiased(&crop, cx1 - cx0, cy1 - cy0, width, height),
        };
        let local = |[from, to]: [usize; 2], origin: usize| [from - origin, to - origin];
        enlarged.crop(local(x, cx0 * scale), local(y, cy0 * scale))
    }
}

/// A dense pass under way: its windows, and the map they fill. Native callers use
/// [`dense_features`]; the page runs the same windows one at a time between frames.
pub struct DensePass {
    cut: Cut,
    windows: Vec<Window>,
    map: FeatureMap,
}

impl DensePass {
    /// The windows of a pass of `encoder` over `image` as `settings` and `tiling` say.
    pub fn new(
        encoder: &ImageEncoder,
        image: &ScaledImage,
        settings: &DenseSettings,
        tiling: Tiling,
    ) -> Result<Self, EncoderError> {
        Self::of_size(encoder, [image.width, image.height], settings, tiling)
    }

    /// The windows of a pass over an enlarged image of `[width, height]` pixels (a
    /// [`WindowedImage`]'s, or a [`ScaledImage`]'s).
    pub fn of_size(
        encoder: &ImageEncoder,
        [width, height]: [usize; 2],
        settings: &DenseSettings,
        tiling: Tiling,
    ) -> Result<Self, EncoderError> {
        let cut = settings.cut(encoder)?.clone();
        let stride = cut.stride;
        let (cols, rows) = (width.div_ceil(stride), height.div_ceil(stride));
        let across = spans(cols, width, stride, tiling);
        let down = spans(rows, height, stride, tiling);
        let windows = down
            .iter()
            .flat_map(|&(y, rows)| {
                across
                    .iter()
                    .map(move |&(x, cols)| Window { x, y, cols, rows })
            })
            .collect();
        let map = FeatureMap {
            channels: cut.channels,
            cols,
            rows,
            cell_px: stride as f64 / settings.scale.max(1) as f64,
            values: vec![0.0; rows * cols * cut.channels],
        };
        Ok(Self { cut, windows, map })
    }

    /// The windows, in the order they are run.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The cut the pass stops at: run `cut().stages` of the encoder's stages on a window.
    pub fn cut(&self) -> &Cut {
        &self.cut
    }

    /// Runs the trunk over `window` of `image` and stores the cells it keeps.
    pub fn run(
        &mut self,
        encoder: &ImageEncoder,
        image: &ScaledImage,
        window: Window,
        device: &Device,
    ) -> Result<(), EncoderError> {
        let input = image.crop(window.x, window.y);
        let values = encoder.map_to(&input, &self.cut, device)?;
        self.keep_pixels(window, &values);
        Ok(())
    }

    /// Stores the kept cells of `window` from its trunk output `values` (`h × w × channels`,
    /// the window's own cells, as the packed engine gives them).
    pub fn keep_pixels(&mut self, window: Window, values: &[f32]) {
        let channels = self.map.channels;
        self.store(window, |cell, channel| values[cell * channels + channel]);
    }

    /// Stores the kept cells of `window` from its trunk output `values` (`channels × h × w`,
    /// the window's own cells, as burn's tensors give them).
    pub fn keep(&mut self, window: Window, values: &[f32]) {
        let cells = values.len() / self.map.channels.max(1);
        self.store(window, |cell, channel| values[channel * cells + cell]);
    }

    /// Stores the kept cells of `window`, reading the window's own cell `cell` (row-major) and
    /// channel with `value`.
    fn store(&mut self, window: Window, value: impl Fn(usize, usize) -> f32) {
        let stride = self.cut.stride;
        let width = (window.x[1] - window.x[0]).div_ceil(stride);
        let (first_col, first_row) = (window.x[0] / stride, window.y[0] / stride);
        let channels = self.map.channels;
        for row in window.rows[0]..window.rows[1] {
            for col in window.cols[0]..window.cols[1] {
                let cell = (row - first_row) * width + (col - first_col);
                let at = (row * self.map.cols + col) * channels;
                for (channel, stored) in self.map.values[at..at + channels].iter_mut().enumerate() {
                    *stored = value(cell, channel);
                }
            }
        }
    }

    /// The finished map.
    pub fn finish(self) -> FeatureMap {
        self.map
    }
}

/// The windows along one axis of `length` input pixels (`cells` map cells): the input span
/// each reads and the cells it keeps.
fn spans(
    cells: usize,
    length: usize,
    stride: usize,
    tiling: Tiling,
) -> Vec<([usize; 2], [usize; 2])> {
    let step = (tiling.kept_px / stride).max(1);
    let halo = tiling.halo_px.div_ceil(stride);
    (0..cells)
        .step_by(step)
        .map(|first| {
            let last = first.saturating_add(step).min(cells);
            let from = first.saturating_sub(halo) * stride;
            let to = ((last + halo) * stride).min(length);
            ([from, to], [first, last])
        })
        .collect()
}

/// The dense feature map of `image` (already enlarged by `settings.scale`), run window by
/// window, calling `progress(done, total)` after each. Reads results back synchronously, so it
/// is for native callers.
pub fn dense_features(
    encoder: &ImageEncoder,
    image: &ScaledImage,
    settings: &DenseSettings,
    tiling: Tiling,
    device: &Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<FeatureMap, EncoderError> {
    let mut pass = DensePass::new(encoder, image, settings, tiling)?;
    let windows = pass.windows().to_vec();
    for (index, &window) in windows.iter().enumerate() {
        pass.run(encoder, image, window, device)?;
        progress(index + 1, windows.len());
    }
    Ok(pass.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(cols: usize, rows: usize, cell_px: f64, values: &[f32]) -> FeatureMap {
        FeatureMap {
            channels: 1,
            cols,
            rows,
            cell_px,
            values: values.to_vec(),
        }
    }

    #[test]
    fn aligned_chips_average_their_cells() {
        // 4 × 2 cells of 8 px; 16-px chips cover 2 × 2 cells each.
        let map = map(4, 2, 8.0, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let grid = ChipGrid::new(32, 16, 16).unwrap();
        let pooled = map.pool(&grid);
        assert_eq!(pooled.values, [3.5, 5.5]);
    }

    /// A 12-px chip on 8-px cells covers one cell whole, half of the next, and so on: weights
    /// (1 × 1, 0.5 × 1, 1 × 0.5, 0.5 × 0.5) / 2.25 — worked by hand.
    #[test]
    fn unaligned_chips_weight_cells_by_area() {
        let map = map(2, 2, 8.0, &[1.0, 2.0, 3.0, 4.0]);
        let grid = ChipGrid::new(16, 16, 12).unwrap();
        let pooled = map.pool(&grid);
        let expected = (1.0 + 0.5 * 2.0 + 0.5 * 3.0 + 0.25 * 4.0) / 2.25;
        assert!((pooled.values[0] - expected as f32).abs() < 1e-6);
    }

    /// Every window of a windowed image is the scaled image's window, bit for bit: windows at
    /// the edges, inside, one pixel wide, odd sizes, at every scale.
    #[test]
    fn windows_enlarged_alone_equal_the_enlarged_image() {
        let (width, height) = (37, 23);
        let pixels = (0..width * height)
            .map(|i| ((i * 7919) % 1009) as f32 * 0.37 - 40.0)
            .collect();
        let image = Image::new(width, height, pixels);
        let range = DisplayRange {
            low: 10.0,
            high: 300.0,
        };
        let device = Device::flex();
        for scale in EmbeddingMode::SCALES {
            let whole = ScaledImage::new(&image, range, scale);
            let windowed = WindowedImage::new(&image, range, scale);
            assert_eq!(
                [windowed.width(), windowed.height()],
                [whole.width, whole.height]
            );
            let (w, h) = (whole.width, whole.height);
            let windows = [
                ([0, w], [0, h]),
                ([0, 16], [0, 16]),
                ([3, w - 5], [2, h - 1]),
                ([w - 17, w], [h - 9, h]),
                ([w / 2, w / 2 + 1], [0, h]),
                ([11, w - 13], [h / 3, h / 3 + 7]),
            ];
            for (x, y) in windows {
                let expected = whole.window(x, y, &device);
                let got = windowed.window(x, y, &device);
                assert_eq!(got.dims(), expected.dims(), "×{scale} {x:?} {y:?}");
                let values = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
                let (got, expected) = (values(got), values(expected));
                assert!(
                    got.iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "×{scale} {x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn recommended_settings_are_known_by_name_before_the_weights() {
        let stage = |name| DenseSettings::recommended_for_name(name).map(|s| (s.stage, s.scale));
        for name in [
            "resnet50",
            "ResNet-50",
            "ResNet-50 (AugNet, self-supervised ImageNet)",
        ] {
            assert_eq!(stage(name), Some(("layer3".into(), 2)), "{name}");
        }
        for name in [
            "mobilenet_v2",
            "MobileNetV2",
            "MobileNetV2 (ImageNet-1k supervised)",
        ] {
            assert_eq!(stage(name), Some(("features.6".into(), 2)), "{name}");
        }
        assert_eq!(stage("vgg16"), None);
    }

    /// The names agree with the built networks, and the map's size is known before it is made:
    /// MobileNetV2 `features.6` ×2 of a 512² image is 128² cells of 32 channels.
    #[test]
    fn the_shipped_encoders_are_recommended_by_name_as_when_built() {
        let device = Device::flex();
        for id in ["mobilenet_v2", "resnet50"] {
            let path = format!(
                "{}/../../weights/{id}.safetensors",
                env!("CARGO_MANIFEST_DIR")
            );
            let weights = crate::weights::read_weights(&std::fs::read(path).unwrap()).unwrap();
            let encoder = ImageEncoder::from_weights(&weights, &device).unwrap();
            let recommended = DenseSettings::recommended(&encoder);
            assert_eq!(
                DenseSettings::recommended_for_name(id),
                Some(recommended.clone())
            );
            let by_name = DenseSettings::recommended_for_name(encoder.name());
            assert_eq!(by_name, Some(recommended.clone()));
            if id == "mobilenet_v2" {
                assert_eq!(
                    recommended.map_bytes(&encoder, 512, 512).unwrap(),
                    128 * 128 * 32 * 4
                );
                let refused = recommended.checked_map_bytes(&encoder, 512, 512, 1 << 20);
                assert_eq!(
                    refused.unwrap_err().to_string(),
                    "the features.6 ×2 feature map of this image would take 2 MB, more than the \
                     1 MB allowed here: choose an earlier stage, a smaller scale or pyCHIP (per \
                     chip)"
                );
            }
            let unknown = DenseSettings {
                stage: "layer9".into(),
                scale: 2,
            };
            assert!(unknown.map_bytes(&encoder, 512, 512).is_err());
        }
    }

    #[test]
    fn windows_keep_every_cell_once_and_start_on_the_stride() {
        let tiling = Tiling {
            kept_px: 64,
            halo_px: 32,
        };
        // 150 px at stride 16: 10 cells, the last one partly outside the image.
        let spans = spans(10, 150, 16, tiling);
        assert_eq!(
            spans,
            [([0, 96], [0, 4]), ([32, 150], [4, 8]), ([96, 150], [8, 10])]
        );
        assert!(spans.iter().all(|([from, _], _)| from % 16 == 0));
    }
}
