//! `chipscope-bench classify`: how fast live classification answers a click, natively.

use std::time::Instant;

use anyhow::{Result, ensure};
use chipscope_core::classify::time_live_update;
use clap::Args;

/// Embedding values the benchmark may hold (1 GiB of f32), so a typo cannot exhaust memory.
const MAX_VALUES: usize = 1 << 28;

/// What `chipscope-bench classify` times.
#[derive(Args)]
pub struct ClassifyBench {
    /// Number of chips (embeddings) classified.
    #[arg(long, default_value_t = 10_000)]
    chips: usize,
    /// Embedding length (2048 for ResNet-50, 1280 for MobileNetV2).
    #[arg(long, default_value_t = 2048)]
    dim: usize,
    /// Number of classes.
    #[arg(long, default_value_t = 5)]
    classes: usize,
    /// Supports per class before the first classification.
    #[arg(long, default_value_t = 5)]
    supports: usize,
    /// Clicks (one added support each) whose median time is reported.
    #[arg(long, default_value_t = 21)]
    clicks: usize,
}

/// Times the first classification and the median click; prints one JSON line with the fields
/// `scripts/bench_classify.py` and `tests/bench/web-classify.mjs` print.
pub fn run(plan: &ClassifyBench) -> Result<()> {
    let sizes = [
        plan.chips,
        plan.dim,
        plan.classes,
        plan.supports,
        plan.clicks,
    ];
    ensure!(
        sizes.iter().all(|&n| n >= 1),
        "--chips, --dim, --classes, --supports and --clicks must each be at least 1"
    );
    ensure!(
        plan.chips
            .checked_mul(plan.dim)
            .is_some_and(|n| n <= MAX_VALUES),
        "--chips × --dim must not exceed {MAX_VALUES} values"
    );
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64() * 1e3;
    let timing = time_live_update(
        plan.chips,
        plan.dim,
        plan.classes,
        plan.supports,
        plan.clicks,
        &now,
    );
    println!(
        "{{\"impl\": \"chipscope-native\", \"chips\": {}, \"dim\": {}, \"classes\": {}, \"supports\": {}, \"first_ms\": {:.3}, \"click_ms\": {:.3}}}",
        plan.chips, plan.dim, plan.classes, plan.supports, timing.first_ms, timing.click_ms
    );
    Ok(())
}
