//! Chip embeddings with a shipped or user-supplied encoder on a native CPU backend: `chipscope
//! embed` and `segment`, and `chipscope-bench encoders`. The shipped encoders are found through
//! [`weights_dir`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::Device;
use chipscope_core::dataset::{Dataset, Image};
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::{
    DenseSettings, EmbeddingMode, FeatureMap, Tiling, dense_features,
};
use chipscope_core::encoders::preprocess::ScaledImage;
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::npy;
use chipscope_core::weights::manifest::{self, ShippedEncoder};
use chipscope_core::weights::read_weights;
use clap::{Args, ValueEnum};

/// What runs the encoders on the CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Chipscope's own CPU kernels (chipscope-kernels: NHWC convolutions on gemm, weights packed
    /// at load, bias, activation and residual fused), the fastest measured.
    #[default]
    Kernels,
    /// burn-flex, burn 0.22's pure-Rust CPU backend.
    Flex,
    /// burn-ndarray (deprecated by burn in favour of Flex).
    Ndarray,
}

impl Backend {
    /// The burn device for this backend (Flex's for the kernels, which need none, so that what
    /// callers make with it lives on the CPU).
    pub fn device(self) -> Device {
        match self {
            Backend::Kernels | Backend::Flex => Device::flex(),
            #[allow(deprecated)] // kept to measure it against Flex
            Backend::Ndarray => Device::ndarray(),
        }
    }

    /// What the backend is, for people: "Chipscope's CPU kernels", "burn's Flex".
    pub fn description(self) -> &'static str {
        match self {
            Backend::Kernels => "Chipscope's CPU kernels",
            Backend::Flex => "burn's Flex",
            Backend::Ndarray => "burn's ndarray",
        }
    }

    /// Lower-case name, as `--backend` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Kernels => "kernels",
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }
}

/// The environment variable that names the folder of the shipped weights.
pub const WEIGHTS_ENV: &str = "CHIPSCOPE_WEIGHTS";

/// The file that marks a folder of shipped weights.
const MANIFEST: &str = "manifest.json";

/// The folder holding `manifest.json` and the shipped weight files: `$CHIPSCOPE_WEIGHTS` when it
/// is set, else the first of `weights/` beside the executable and `../share/chipscope/weights`
/// relative to it that holds the manifest. Without one, the error names where it looked and how
/// to say where the weights are.
pub fn weights_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(WEIGHTS_ENV).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        ensure!(
            dir.join(MANIFEST).is_file(),
            "{WEIGHTS_ENV} is {}, which holds no {MANIFEST}; set it to the folder of the shipped \
             encoder weights (the repository's weights/)",
            dir.display()
        );
        return Ok(dir);
    }
    let exe = std::env::current_exe().context("cannot tell where this executable is")?;
    let bin = exe.parent().context("the executable has no folder")?;
    let mut candidates = vec![bin.join("weights")];
    if let Some(prefix) = bin.parent() {
        candidates.push(prefix.join("share/chipscope/weights"));
    }
    if let Some(dir) = candidates.iter().find(|dir| dir.join(MANIFEST).is_file()) {
        return Ok(dir.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "cannot find the shipped encoder weights: no {MANIFEST} in {}; set {WEIGHTS_ENV} to the \
         folder that holds them (the repository's weights/), or give a weight file with \
         --encoder FILE.pth",
        looked.join(" or ")
    )
}

/// Chips per forward pass in `embed` and `segment`.
pub const BATCH: usize = 16;

/// Loads `choice`: a shipped encoder id (checked against its sha256) or a weight file path.
pub fn load_encoder(choice: &str, backend: Backend) -> Result<ImageEncoder> {
    let bytes = match Path::new(choice).is_file() {
        true => std::fs::read(choice).with_context(|| format!("cannot open {choice}"))?,
        false => {
            let shipped = shipped_encoders()?;
            let Some(entry) = shipped.iter().find(|entry| entry.id == choice) else {
                let ids: Vec<&str> = shipped.iter().map(|entry| entry.id.as_str()).collect();
                bail!(
                    "no weight file {choice}; use one of {} or a .pth/.safetensors path",
                    ids.join(", ")
                );
            };
            shipped_weights(entry)?
        }
    };
    encoder_from_bytes(&bytes, choice, backend)
}

/// Builds the encoder a weight file's `bytes` describe, for `backend`; `label` names the file in
/// errors.
pub fn encoder_from_bytes(bytes: &[u8], label: &str, backend: Backend) -> Result<ImageEncoder> {
    let weights = read_weights(bytes).with_context(|| format!("cannot read weights {label}"))?;
    let encoder = match backend {
        Backend::Kernels => ImageEncoder::packed(&weights),
        Backend::Flex | Backend::Ndarray => ImageEncoder::from_weights(&weights, &backend.device()),
    };
    encoder.with_context(|| format!("cannot use {label}"))
}

/// The encoders `weights/manifest.json` lists.
pub fn shipped_encoders() -> Result<Vec<ShippedEncoder>> {
    let dir = weights_dir()?;
    let listing = std::fs::read_to_string(dir.join("manifest.json"))
        .with_context(|| format!("cannot open {}/manifest.json", dir.display()))?;
    manifest::parse(&listing).map_err(anyhow::Error::msg)
}

/// A shipped encoder's weight file, checked against the manifest's sha256.
pub fn shipped_weights(entry: &ShippedEncoder) -> Result<Vec<u8>> {
    let path = weights_dir()?.join(&entry.file);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot open {}", path.display()))?;
    entry.verify(&bytes).map_err(anyhow::Error::msg)?;
    Ok(bytes)
}

/// Embeds `chips` of `source` in batches of [`BATCH`], showing progress for `label` on stderr.
pub fn embed_with_progress(
    encoder: &ImageEncoder,
    source: ChipSource,
    chips: &[Chip],
    device: &Device,
    label: &str,
) -> Result<Embeddings> {
    let embeddings = encoder.embed_chips(source, chips, BATCH, device, |done| {
        eprint!("\r{label}: embedded {done}/{} chips", chips.len());
    })?;
    eprintln!();
    Ok(embeddings)
}

/// `chipscope embed`'s arguments.
#[derive(Args)]
pub struct EmbedArgs {
    /// Image file: any format `chipscope info` reads (PNG, JPEG, TIFF, DM3/DM4, TIA, JEOL, MRC, EMD…).
    pub image: PathBuf,
    /// How the chips are embedded.
    #[command(flatten)]
    pub settings: EmbedSettings,
    /// Output .npy file.
    #[arg(long)]
    pub out: PathBuf,
}

/// How `chipscope embed` (and the Python package's `chipscope.embed`) embeds an image's chips.
#[derive(Args, Clone)]
pub struct EmbedSettings {
    /// Chip side in pixels.
    #[arg(long)]
    pub chip: usize,
    /// A shipped encoder (resnet50, mobilenet_v2) or a torchvision ResNet/MobileNetV2
    /// weight file (.pth or .safetensors).
    #[arg(long, default_value = manifest::DEFAULT_ENCODER)]
    pub encoder: String,
    /// `dense`: run the network once over the whole image (enlarged --scale times) up to
    /// --stage and average its feature map over each chip; `per-chip`: resize every chip to
    /// 224² and embed it on its own (pyCHIP).
    #[arg(long, value_enum, default_value_t = ModeArg::Dense)]
    pub mode: ModeArg,
    /// Dense mode: the stage the network stops after (ResNet layer1…layer4, MobileNetV2
    /// features.0…features.18); by default the one chosen by measurement for the encoder.
    #[arg(long)]
    pub stage: Option<String>,
    /// Dense mode: enlargement of the image before the network (1, 2 or 4).
    #[arg(long)]
    pub scale: Option<usize>,
    /// What runs the encoder on the CPU.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    pub backend: Backend,
}

/// How `chipscope embed` embeds chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Pooled from one dense feature map of the whole image.
    Dense,
    /// Each chip resized to 224² (pyCHIP).
    PerChip,
}

impl EmbedSettings {
    /// The embedding mode asked for, dense settings defaulting to those recommended for
    /// `encoder`.
    fn mode(&self, encoder: &ImageEncoder) -> Result<EmbeddingMode> {
        if let Some(scale) = self.scale.filter(|s| !EmbeddingMode::SCALES.contains(s)) {
            bail!("the dense scale is 1, 2 or 4, not {scale}");
        }
        match self.mode {
            ModeArg::PerChip if self.stage.is_some() || self.scale.is_some() => {
                bail!("--stage and --scale apply to --mode dense only")
            }
            ModeArg::PerChip => Ok(EmbeddingMode::PerChip),
            ModeArg::Dense => {
                let recommended = DenseSettings::recommended(encoder);
                Ok(EmbeddingMode::Dense(DenseSettings {
                    stage: self.stage.clone().unwrap_or(recommended.stage),
                    scale: self.scale.unwrap_or(recommended.scale),
                }))
            }
        }
    }
}

/// Every chip of an image embedded: the embeddings (chips in grid order) and their grid.
pub struct Embedded {
    /// One vector per chip.
    pub embeddings: Embeddings,
    /// The chips.
    pub grid: ChipGrid,
    /// How they were made, in words (for the command's report).
    how: String,
    /// The encoder's name.
    encoder: String,
}

/// Embeds every chip of `dataset` as `args` say and writes a `chips × dim` float32 `.npy`.
pub fn embed(dataset: &Dataset, args: &EmbedArgs) -> Result<()> {
    let started = Instant::now();
    let Embedded {
        embeddings,
        grid,
        how,
        encoder,
    } = embed_image(dataset, &args.settings)?;
    let seconds = started.elapsed().as_secs_f64();
    write_npy(&args.out, &embeddings)?;
    println!(
        "wrote {} ({} × {} embeddings of {}-px chips {how}, from {encoder} on {}, {:.1} chips/s)",
        args.out.display(),
        embeddings.count(),
        embeddings.dim,
        args.settings.chip,
        args.settings.backend.description(),
        grid.chip_count() as f64 / seconds
    );
    Ok(())
}

/// Every chip of `dataset` embedded as `settings` say (the display range its default
/// percentile stretch).
pub fn embed_image(dataset: &Dataset, settings: &EmbedSettings) -> Result<Embedded> {
    let device = settings.backend.device();
    let encoder = load_encoder(&settings.encoder, settings.backend)?;
    let image = &dataset.image;
    let grid = ChipGrid::new(image.width(), image.height(), settings.chip)?;
    let range = DisplayRange::of(image, Stretch::default());
    let (embeddings, how) = match settings.mode(&encoder)? {
        EmbeddingMode::Dense(settings) => {
            let map = dense_map(&encoder, image, range, &settings, &device, encoder.name())?;
            let how = format!(
                "pooled from the {} map at ×{}",
                settings.stage, settings.scale
            );
            (map.pool(&grid), how)
        }
        EmbeddingMode::PerChip => {
            let chips: Vec<Chip> = grid.chips().collect();
            let source = ChipSource {
                image,
                grid: &grid,
                range,
            };
            let embeddings =
                embed_with_progress(&encoder, source, &chips, &device, encoder.name())?;
            (embeddings, "each resized to 224²".to_string())
        }
    };
    Ok(Embedded {
        embeddings,
        grid,
        how,
        encoder: encoder.name().to_string(),
    })
}

/// The largest dense map the CLI computes: natively memory is not 32-bit, but a ResNet `layer3`
/// ×2 map of a 32768² image would need 69 GB; larger maps are refused before any work.
const MAX_MAP_BYTES: usize = 8 << 30;

/// The dense feature map of `image` that `settings` describe, with the windows' progress on
/// the terminal under `label`.
pub fn dense_map(
    encoder: &ImageEncoder,
    image: &Image,
    range: DisplayRange,
    settings: &DenseSettings,
    device: &Device,
    label: &str,
) -> Result<FeatureMap> {
    settings.checked_map_bytes(encoder, image.width(), image.height(), MAX_MAP_BYTES)?;
    let scaled = ScaledImage::new(image, range, settings.scale);
    let map = dense_features(
        encoder,
        &scaled,
        settings,
        Tiling::default(),
        device,
        |done, all| {
            eprint!("\r{label}: {} map, window {done}/{all}", settings.stage);
        },
    )?;
    eprintln!();
    Ok(map)
}

fn write_npy(out: &Path, embeddings: &Embeddings) -> Result<()> {
    let bytes = npy::write_f32(&[embeddings.count(), embeddings.dim], &embeddings.values);
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))
}
