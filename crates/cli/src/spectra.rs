//! `chipscope spectra`: reads an EDS spectrum image or spectrum (Velox EMD, Bruker BCF, JEOL
//! PTS, DigitalMicrograph, EMSA, Lispix ripple) with the page's readers and says what it holds:
//! map size, energy axis, counts, the memory the sparse map takes, the images recorded with it
//! and the strongest peaks with the X-ray lines near them; `--sum` writes the sum spectrum.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use chipscope_core::dataset::significant;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::spectra::lines::strongest_peaks;
use chipscope_core::spectra::{EnergyAxis, SpectrumImage};
use clap::Args;

use crate::write_text;
use chipscope_cli::files::read_spectral;

/// Peaks listed with their nearby lines.
const PEAKS: usize = 5;

/// `chipscope spectra`'s arguments.
#[derive(Args)]
pub struct SpectraArgs {
    /// Spectral file: .emd, .bcf, .pts, .dm3/.dm4, .msa, or a Lispix .rpl (its .raw beside it).
    file: PathBuf,
    /// The .raw data of a .rpl header, when not beside it under the same name.
    #[arg(long, value_name = "FILE.raw")]
    raw: Option<PathBuf>,
    /// Sum every N energy channels while reading.
    #[arg(long, default_value_t = 1, value_name = "N")]
    bin: usize,
    /// Write the sum spectrum as CSV (energy_kev,counts).
    #[arg(long, value_name = "FILE.csv")]
    sum: Option<PathBuf>,
}

/// Reads the file and prints what it holds.
pub fn spectra(args: &SpectraArgs) -> Result<()> {
    let started = Instant::now();
    let file = read(args)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("file:     {}", args.file.display());
    println!("format:   {} (read in {seconds:.2} s)", file.format);
    match (&file.map, &file.spectrum) {
        (Some(map), _) => describe_map(map),
        (None, Some(spectrum)) => println!("spectrum: {}", axis_summary(&spectrum.axis)),
        (None, None) => {}
    }
    if let Some(sum) = file.sum_spectrum() {
        print_peaks(&sum.counts, &sum.axis);
        if let Some(path) = &args.sum {
            write_text(path, &sum_csv(&sum.counts, &sum.axis))?;
        }
    }
    for (name, image) in &file.images {
        let (w, h) = (image.image.width(), image.image.height());
        println!(
            "image:    {name}, {w} × {h} px, {}",
            image.calibration_summary()
        );
    }
    file.notes
        .iter()
        .for_each(|note| println!("note:     {note}"));
    Ok(())
}

fn read(args: &SpectraArgs) -> Result<SpectralFile> {
    read_spectral(&args.file, args.raw.as_deref(), args.bin)
}

fn describe_map(map: &SpectrumImage) {
    let pixels = (map.width * map.height) as f64;
    let dense_mb = pixels * map.axis.channels as f64 * 4.0 / 1e6;
    println!(
        "map:      {} × {} px × {} channels, {}{}",
        map.width,
        map.height,
        map.axis.channels,
        axis_summary(&map.axis),
        map.beam_kv
            .map(|kv| format!(", {} kV", significant(kv, 4)))
            .unwrap_or_default()
    );
    if let Some(c) = &map.calibration {
        println!("pixel:    {} {}", significant(c.pixel_size, 6), c.unit);
    }
    println!(
        "counts:   {} in total, {:.2} per pixel; held sparse in {:.1} MB (a dense f32 cube: {:.0} MB)",
        map.total_counts(),
        map.total_counts() as f64 / pixels,
        map.memory_bytes() as f64 / 1e6,
        dense_mb
    );
}

/// "−0.48 to 20.0 keV, 10 eV per channel".
fn axis_summary(axis: &EnergyAxis) -> String {
    format!(
        "{} to {} keV, {} eV per channel",
        significant(axis.offset_kev, 3),
        significant(axis.energy(axis.channels), 3),
        significant(axis.scale_kev * 1000.0, 4)
    )
}

/// The strongest peaks of the sum spectrum, each with the lines near it.
fn print_peaks(sum: &[f64], axis: &EnergyAxis) {
    for peak in strongest_peaks(sum, axis, PEAKS) {
        let names: Vec<String> = peak
            .lines
            .iter()
            .take(3)
            .map(|l| format!("{} {}", l.element, l.line))
            .collect();
        let named = match names.is_empty() {
            true => String::new(),
            false => format!(" ({})", names.join(", ")),
        };
        println!("peak:     {} keV{named}", significant(peak.energy_kev, 4));
    }
}

fn sum_csv(sum: &[f64], axis: &EnergyAxis) -> String {
    let mut csv = String::from("energy_kev,counts\n");
    for (channel, value) in sum.iter().enumerate() {
        let _ = writeln!(csv, "{},{value}", significant(axis.energy(channel), 6));
    }
    csv
}
