//! `chipscope-bench`: Chipscope's native benchmarks, kept out of the `chipscope` command line
//! so that the product carries neither their code nor the counting allocator that
//! `spectra-memory` needs. Each command prints JSON lines that a `scripts/bench-*.sh` script
//! puts beside a reference implementation (PyTorch, NumPy/SciPy, gensim, rosettasciio).
//!
//! The encoder loading and embedding are the CLI's own (`chipscope_cli::encode`), so the
//! encoders are timed as `chipscope embed` runs them.

mod classify;
mod dense;
mod encoders;
mod spec2vec;
mod spectra_memory;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Chipscope's benchmarks (not part of the product).
#[derive(Parser)]
#[command(name = "chipscope-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time the encoders on an image's chips; one JSON line per encoder and backend
    /// (scripts/bench-encoders.sh puts PyTorch beside it).
    Encoders(encoders::EncoderBench),
    /// Time embedding every chip of simulated images with a dense pass (the trunk once over the
    /// enlarged image, chips pooled from the map) against the per-chip pass; one JSON line per
    /// encoder, size and mode (scripts/bench-dense.sh puts PyTorch's dense map beside it).
    Dense(dense::DenseBench),
    /// Time live nearest-prototype classification on random embeddings: the first
    /// classification and one click; one JSON line (scripts/bench-classify.sh puts NumPy/SciPy
    /// and the page beside it).
    Classify(classify::ClassifyBench),
    /// Time spec2vec's word2vec training on a synthetic EDS map's chip documents (see
    /// scripts/bench-spec2vec.sh for gensim beside it).
    Spec2vec(spec2vec::Spec2VecBench),
    /// Write synthetic JEOL .pts spectrum images (a real file's header, Poisson X-ray events at
    /// the given counts per pixel), read each back, and print one JSON line per read with the
    /// sparse map's size and the heap's peak (scripts/bench-spectra-memory.sh puts
    /// rosettasciio beside it).
    SpectraMemory(spectra_memory::SpectraMemoryBench),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Encoders(plan) => encoders::run(&plan),
        Command::Dense(plan) => dense::run(&plan),
        Command::Classify(plan) => classify::run(&plan),
        Command::Spec2vec(plan) => spec2vec::run(&plan),
        Command::SpectraMemory(plan) => spectra_memory::run(&plan),
    };
    chipscope_cli::exit_code(result)
}
