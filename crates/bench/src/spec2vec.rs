//! `chipscope-bench spec2vec`: how fast spec2vec's word2vec trains natively on the chip
//! documents of a synthetic EDS map, writing the documents so `scripts/bench_spec2vec.py` can
//! time gensim on exactly the same ones.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use chipscope_core::grid::ChipGrid;
use chipscope_core::simulate::heterostructure;
use chipscope_core::spectra::EnergyAxis;
use chipscope_core::spectra::chips::chip_spectra;
use chipscope_core::spectra::spec2vec::{Document, Spec2VecParams, Trainer, Vocabulary, documents};
use chipscope_core::spectra::synthetic::{Acquisition, Composition, eds_map};
use clap::Args;

/// What `chipscope-bench spec2vec` times.
#[derive(Args)]
pub struct Spec2VecBench {
    /// Side of the simulated map in pixels (the example heterostructure's regions).
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// Chip side in pixels: (size / chip)² documents.
    #[arg(long, default_value_t = 16)]
    chip: usize,
    /// Where to write the documents and training settings as JSON, for the gensim reference.
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
}

/// The example's regions as materials: vacuum, SrTiO₃, ZnO, amorphous SiO₂.
fn compositions() -> Vec<Composition> {
    let of = |elements: &[(&'static str, f64)]| Composition {
        elements: elements.to_vec(),
    };
    vec![
        of(&[]),
        of(&[("Sr", 1.0), ("Ti", 1.0), ("O", 1.5)]),
        of(&[("Zn", 1.0), ("O", 0.5)]),
        of(&[("Si", 1.0), ("O", 1.0)]),
    ]
}

/// Trains once and prints one JSON line: documents, words, epochs, seconds, words per second.
pub fn run(plan: &Spec2VecBench) -> Result<()> {
    ensure!(
        (64..=4096).contains(&plan.size) && plan.chip >= 8 && plan.chip <= plan.size,
        "--size must be 64–4096 px and --chip 8 px up to the size"
    );
    let labels = heterostructure(plan.size, 1).labels;
    let axis = EnergyAxis {
        offset_kev: 0.0,
        scale_kev: 0.01,
        channels: 2048,
    };
    let acquisition = Acquisition {
        counts_per_pixel: 1.0,
        axis,
        beam_kv: 200.0,
        seed: 1,
    };
    let map = eds_map(
        &labels,
        (plan.size, plan.size),
        &compositions(),
        acquisition,
    )?;
    let grid = ChipGrid::new(plan.size, plan.size, plan.chip)?;
    let params = Spec2VecParams::default();
    let (vocabulary, documents) = documents(&chip_spectra(&map, &grid), &map.axis, &params);
    let words: usize = documents.iter().map(|d| d.words.len()).sum();
    let started = Instant::now();
    Trainer::new(&documents, vocabulary.words, params).finish();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"impl\": \"chipscope\", \"documents\": {}, \"words\": {words}, \"epochs\": {}, \"seconds\": {seconds:.4}, \"words_per_second\": {:.0}}}",
        documents.len(),
        params.epochs,
        (words * params.epochs) as f64 / seconds
    );
    if let Some(path) = &plan.out {
        write_documents(path, &documents, &vocabulary, &params)?;
    }
    Ok(())
}

/// The documents as word names, with the settings gensim needs to train alike.
fn write_documents(
    path: &PathBuf,
    documents: &[Document],
    vocabulary: &Vocabulary,
    params: &Spec2VecParams,
) -> Result<()> {
    let sentences: Vec<Vec<String>> = documents
        .iter()
        .map(|d| d.words.iter().map(|&w| vocabulary.name(w)).collect())
        .collect();
    let json = serde_json::json!({
        "sentences": sentences,
        "vector_size": params.dim,
        "window": params.window,
        "negative": params.negative,
        "epochs": params.epochs,
        "alpha": params.learning_rate,
        "min_alpha": params.min_learning_rate,
        "sample": params.sample,
        "sg": u8::from(params.skip_gram),
    });
    std::fs::write(path, json.to_string())
        .with_context(|| format!("cannot write {}", path.display()))
}
