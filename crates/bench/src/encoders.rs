//! `chipscope-bench encoders`: how fast the encoders embed chips natively, on burn's CPU
//! backends, with the same loading and embedding code as `chipscope embed`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use chipscope_cli::encode::{Backend, load_encoder};
use chipscope_cli::files::load;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::encoders::ChipSource;
use chipscope_core::grid::{Chip, ChipGrid};
use clap::Args;

/// What `chipscope-bench encoders` times.
#[derive(Args)]
pub struct EncoderBench {
    /// Image file whose first chips are embedded.
    image: PathBuf,
    /// Encoders to time (shipped ids or weight files).
    #[arg(long, num_args = 1.., default_values_t = ["resnet50".to_string(), "mobilenet_v2".to_string()])]
    encoders: Vec<String>,
    /// CPU backends to time.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Backend::Kernels, Backend::Flex])]
    backends: Vec<Backend>,
    /// Chip side in pixels.
    #[arg(long, default_value_t = 64)]
    chip_size: usize,
    /// Number of chips to embed (the grid is repeated if it has fewer).
    #[arg(long, default_value_t = 64)]
    chips: usize,
    /// Chips per forward pass.
    #[arg(long, default_value_t = 16)]
    batch: usize,
}

/// Times the encoders on the first chips of the image and prints one JSON line per
/// (encoder, backend): the same fields `scripts/weights/bench_torch.py` prints for PyTorch.
pub fn run(plan: &EncoderBench) -> Result<()> {
    let dataset = load(&plan.image)?;
    let image = &dataset.image;
    let grid = ChipGrid::new(image.width(), image.height(), plan.chip_size)?;
    let grid_chips: Vec<Chip> = grid.chips().collect();
    let chips: Vec<Chip> = grid_chips
        .iter()
        .copied()
        .cycle()
        .take(plan.chips)
        .collect();
    let source = ChipSource {
        image,
        grid: &grid,
        range: DisplayRange::of(image, Stretch::default()),
    };
    for encoder_id in &plan.encoders {
        for &backend in &plan.backends {
            let device = backend.device();
            let encoder = load_encoder(encoder_id, backend)?;
            encoder.embed_chips(
                source,
                &chips[..plan.batch.min(chips.len())],
                plan.batch,
                &device,
                |_| {},
            )?;
            let started = Instant::now();
            encoder.embed_chips(source, &chips, plan.batch, &device, |_| {})?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{{\"impl\": \"chipscope-{}\", \"encoder\": \"{encoder_id}\", \"chips\": {}, \"seconds\": {seconds:.3}, \"chips_per_s\": {:.2}, \"threads\": {}}}",
                backend.name(),
                chips.len(),
                chips.len() as f64 / seconds,
                std::thread::available_parallelism().map_or(1, usize::from)
            );
        }
    }
    Ok(())
}
