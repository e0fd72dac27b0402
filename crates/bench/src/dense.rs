//! `chipscope-bench dense`: how long embedding every chip of an image takes with a dense pass
//! (the trunk once over the enlarged image, up to a stage, then each chip pooled from the
//! feature map) against the per-chip pass (every chip resized to 224² and run through the whole
//! trunk), natively on a burn CPU backend, with the core's own code for both.
//!
//! One JSON line per (encoder, image size, mode). `scripts/bench-dense.sh` puts PyTorch computing
//! the same dense map beside it (`scripts/weights/bench_torch_dense.py`, same keys).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use burn::tensor::Device;
use chipscope_cli::encode::{BATCH, Backend, load_encoder};
use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::encoders::dense::{DenseSettings, Tiling, dense_features};
use chipscope_core::encoders::preprocess::ScaledImage;
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::npy;
use chipscope_core::simulate::heterostructure;
use clap::Args;
use serde_json::{Value, json};

use crate::spectra_memory::{heap_baseline, heap_peak};

/// What `chipscope-bench dense` times.
#[derive(Args)]
pub struct DenseBench {
    /// Sides of the simulated square images (`simulate::heterostructure(size, 1)`).
    #[arg(long, value_delimiter = ',', default_values_t = [512, 1024, 2048])]
    sizes: Vec<usize>,
    /// Chip side in pixels.
    #[arg(long, default_value_t = 32)]
    chip: usize,
    /// Encoders to time (shipped ids or weight files).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_values_t = ["mobilenet_v2".to_string(), "resnet50".to_string()])]
    encoders: Vec<String>,
    /// Stage where an encoder's dense map is taken, as ENCODER=STAGE (repeatable) [default: the
    /// core's `DenseSettings::recommended` for the encoder's architecture].
    #[arg(long = "stage", value_name = "ENCODER=STAGE", value_parser = parse_pair::<String>)]
    stages: Vec<(String, String)>,
    /// Enlargement of the image before an encoder's dense pass, as ENCODER=SCALE (repeatable)
    /// [default: the recommended one].
    #[arg(long = "scale", value_name = "ENCODER=SCALE", value_parser = parse_pair::<usize>)]
    scales: Vec<(String, usize)>,
    /// Timed dense runs per (encoder, size); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Timed per-chip runs per (encoder, size); the median is reported.
    #[arg(long, default_value_t = 1)]
    per_chip_runs: usize,
    /// Per-chip pass: every chip is timed on images with at most this many chips; on larger
    /// ones, `--per-chip-sample` chips (evenly spread over the grid), extrapolated linearly to
    /// all (each chip costs the same: it is resized to 224² whatever the image).
    #[arg(long, default_value_t = 1024)]
    per_chip_max: usize,
    /// Chips timed per-chip on images with more than `--per-chip-max`.
    #[arg(long, default_value_t = 64)]
    per_chip_sample: usize,
    /// Skip the per-chip pass.
    #[arg(long)]
    no_per_chip: bool,
    /// Also time the dense pass in one window (no tiling), to show the tiling's cost.
    #[arg(long)]
    single_pass: bool,
    /// What runs the encoder on the CPU.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    backend: Backend,
    /// Also write each simulated image's raw values to DIR/heterostructure_SIZE.npy, so that
    /// PyTorch can be timed on the same input.
    #[arg(long, value_name = "DIR")]
    save_images: Option<PathBuf>,
}

fn parse_pair<T: std::str::FromStr>(text: &str) -> Result<(String, T), String> {
    let (encoder, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ENCODER=VALUE, got {text:?}"))?;
    let value = value
        .parse()
        .map_err(|_| format!("cannot read {value:?} in {text:?}"))?;
    Ok((encoder.to_string(), value))
}

impl DenseBench {
    /// The dense settings for `encoder`: its `--stage`/`--scale`, else the core's `recommended`
    /// ones for its architecture.
    fn settings(&self, encoder: &str, recommended: DenseSettings) -> Result<DenseSettings> {
        let stage = match self.stages.iter().rev().find(|(id, _)| id == encoder) {
            Some((_, stage)) => stage.clone(),
            None => recommended.stage,
        };
        let scale = match self.scales.iter().rev().find(|(id, _)| id == encoder) {
            Some(&(_, scale)) => scale,
            None => recommended.scale,
        };
        ensure!(scale >= 1, "--scale {encoder}={scale}: at least 1");
        Ok(DenseSettings { stage, scale })
    }
}

/// The median of `values` (the upper one of the two middle values for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn megabytes(bytes: usize) -> f64 {
    (bytes as f64 / 1e6 * 10.0).round() / 10.0
}

fn rounded(seconds: f64) -> f64 {
    (seconds * 1e4).round() / 1e4
}

/// One timed dense run: seconds for the display range and enlargement, the windows, and the
/// pooling, the heap's peak above what was in use before, the window count and the map's size.
struct DenseRun {
    prepare: f64,
    map: f64,
    pool: f64,
    heap_peak: usize,
    windows: usize,
    map_bytes: usize,
    map_shape: [usize; 3],
}

impl DenseRun {
    fn total(&self) -> f64 {
        self.prepare + self.map + self.pool
    }
}

/// Raw image → chip embeddings through a dense pass, as the CLI and the page will run it.
fn dense_run(
    encoder: &ImageEncoder,
    image: &Image,
    grid: &ChipGrid,
    settings: &DenseSettings,
    tiling: Tiling,
    device: &Device,
) -> Result<DenseRun> {
    let baseline = heap_baseline();
    let started = Instant::now();
    let range = DisplayRange::of(image, Stretch::default());
    let scaled = ScaledImage::new(image, range, settings.scale);
    let prepared = Instant::now();
    let mut windows = 0;
    let map = dense_features(encoder, &scaled, settings, tiling, device, |_, total| {
        windows = total;
    })?;
    let mapped = Instant::now();
    let embeddings = map.pool(grid);
    let pooled = Instant::now();
    ensure!(
        embeddings.values.len() == grid.chip_count() * map.channels
            && embeddings.values.iter().all(|v| v.is_finite()),
        "dense embeddings of the wrong size or not finite"
    );
    Ok(DenseRun {
        prepare: (prepared - started).as_secs_f64(),
        map: (mapped - prepared).as_secs_f64(),
        pool: (pooled - mapped).as_secs_f64(),
        heap_peak: heap_peak().saturating_sub(baseline),
        windows,
        map_bytes: map.values.len() * size_of::<f32>(),
        map_shape: [map.channels, map.rows, map.cols],
    })
}

/// `count` chips spread evenly over `chips`, in grid order.
fn spread(chips: &[Chip], count: usize) -> Vec<Chip> {
    (0..count).map(|i| chips[i * chips.len() / count]).collect()
}

/// Times the dense and per-chip passes for every encoder and image size and prints one JSON line
/// per (encoder, size, mode).
pub fn run(plan: &DenseBench) -> Result<()> {
    ensure!(
        plan.runs >= 1 && plan.per_chip_runs >= 1 && plan.per_chip_sample >= 1,
        "--runs, --per-chip-runs and --per-chip-sample: at least 1"
    );
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let device = plan.backend.device();
    let implementation = format!("chipscope-{}", plan.backend.name());
    let simulations: Vec<(usize, Image)> = plan
        .sizes
        .iter()
        .map(|&size| (size, heterostructure(size, 1).dataset.image))
        .collect();
    if let Some(dir) = &plan.save_images {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (size, image) in &simulations {
            let path = dir.join(format!("heterostructure_{size}.npy"));
            let bytes = npy::write_f32(&[image.height(), image.width()], image.pixels());
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    for encoder_id in &plan.encoders {
        let encoder = load_encoder(encoder_id, plan.backend)?;
        let settings = plan.settings(encoder_id, DenseSettings::recommended(&encoder))?;
        for (size, image) in &simulations {
            let grid = ChipGrid::new(image.width(), image.height(), plan.chip)?;
            let chips = grid.chip_count();
            let common = json!({
                "impl": implementation,
                "encoder": encoder_id,
                "size": size,
                "chip": plan.chip,
                "stage": settings.stage,
                "scale": settings.scale,
                "chips": chips,
                "threads": threads,
            });
            let mut modes = vec![("dense", Tiling::default())];
            if plan.single_pass {
                modes.push(("dense_single_pass", Tiling::SINGLE_PASS));
            }
            let mut dense_seconds = None;
            for (mode, tiling) in modes {
                let runs = (0..plan.runs)
                    .map(|_| dense_run(&encoder, image, &grid, &settings, tiling, &device))
                    .collect::<Result<Vec<_>>>()?;
                let totals: Vec<f64> = runs.iter().map(DenseRun::total).collect();
                let seconds = median(&totals);
                let middle = runs
                    .iter()
                    .find(|run| run.total() == seconds)
                    .expect("the median is one of the runs");
                dense_seconds.get_or_insert(seconds);
                print_line(
                    &common,
                    json!({
                        "mode": mode,
                        "seconds": rounded(seconds),
                        "chips_per_s": rounded(chips as f64 / seconds),
                        "runs": plan.runs,
                        "all_seconds": totals.iter().copied().map(rounded).collect::<Vec<_>>(),
                        "prepare_s": rounded(middle.prepare),
                        "map_s": rounded(middle.map),
                        "pool_s": rounded(middle.pool),
                        "windows": middle.windows,
                        "tiling": match mode {
                            "dense" => json!({"kept_px": tiling.kept_px, "halo_px": tiling.halo_px}),
                            _ => Value::Null,
                        },
                        "map_shape": middle.map_shape,
                        "map_mb": megabytes(middle.map_bytes),
                        "heap_peak_mb": megabytes(runs.iter().map(|r| r.heap_peak).max().unwrap_or(0)),
                    }),
                );
            }
            if plan.no_per_chip {
                continue;
            }
            let all: Vec<Chip> = grid.chips().collect();
            let sampled = chips > plan.per_chip_max && plan.per_chip_sample < chips;
            let timed = match sampled {
                true => spread(&all, plan.per_chip_sample),
                false => all,
            };
            let source = ChipSource {
                image,
                grid: &grid,
                range: DisplayRange::of(image, Stretch::default()),
            };
            // One untimed batch first, as `chipscope-bench encoders` does.
            encoder.embed_chips(
                source,
                &timed[..BATCH.min(timed.len())],
                BATCH,
                &device,
                |_| {},
            )?;
            let mut totals = Vec::new();
            let mut peak = 0;
            for _ in 0..plan.per_chip_runs {
                let baseline = heap_baseline();
                let started = Instant::now();
                encoder.embed_chips(source, &timed, BATCH, &device, |_| {})?;
                let measured = started.elapsed().as_secs_f64();
                peak = peak.max(heap_peak().saturating_sub(baseline));
                totals.push(measured * chips as f64 / timed.len() as f64);
            }
            let seconds = median(&totals);
            print_line(
                &common,
                json!({
                    "mode": "per_chip",
                    "seconds": rounded(seconds),
                    "chips_per_s": rounded(chips as f64 / seconds),
                    "runs": plan.per_chip_runs,
                    "all_seconds": totals.iter().copied().map(rounded).collect::<Vec<_>>(),
                    "extrapolated_from": if sampled { json!(timed.len()) } else { Value::Null },
                    "batch": BATCH,
                    "heap_peak_mb": megabytes(peak),
                    "per_chip_over_dense": dense_seconds.map(|dense| rounded(seconds / dense)),
                }),
            );
        }
    }
    Ok(())
}

/// Prints `common` and `fields` merged as one JSON line.
fn print_line(common: &Value, fields: Value) {
    let mut line = common.clone();
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        plan: DenseBench,
    }

    #[test]
    fn stages_and_scales_default_to_the_recommended_ones_and_can_be_overridden() {
        let cli = Cli::parse_from([
            "bench",
            "--stage",
            "mobilenet_v2=features.13",
            "--scale",
            "resnet50=1",
        ]);
        let plan = cli.plan;
        assert_eq!(plan.sizes, [512, 1024, 2048]);
        assert_eq!(plan.encoders, ["mobilenet_v2", "resnet50"]);
        let recommended = |stage: &str| DenseSettings {
            stage: stage.into(),
            scale: 2,
        };
        let mobilenet = plan.settings("mobilenet_v2", recommended("features.6"));
        let mobilenet = mobilenet.unwrap();
        assert_eq!(
            (mobilenet.stage.as_str(), mobilenet.scale),
            ("features.13", 2)
        );
        let resnet = plan.settings("resnet50", recommended("layer3")).unwrap();
        assert_eq!((resnet.stage.as_str(), resnet.scale), ("layer3", 1));
        let other = plan.settings("my.pth", recommended("layer2")).unwrap();
        assert_eq!((other.stage.as_str(), other.scale), ("layer2", 2));
        let zero = Cli::parse_from(["bench", "--scale", "resnet50=0"]).plan;
        assert!(zero.settings("resnet50", recommended("layer3")).is_err());
        assert!(parse_pair::<usize>("resnet50").is_err());
        assert!(parse_pair::<usize>("resnet50=two").is_err());
    }

    #[test]
    fn samples_spread_over_the_grid_and_medians_pick_a_run() {
        let grid = ChipGrid::new(64, 64, 16).unwrap();
        let chips: Vec<Chip> = grid.chips().collect();
        let sample = spread(&chips, 4);
        assert_eq!(
            sample.iter().map(|c| (c.x, c.y)).collect::<Vec<_>>(),
            [(0, 0), (0, 16), (0, 32), (0, 48)]
        );
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[5.0]), 5.0);
    }
}
