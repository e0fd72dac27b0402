//! `chipscope spectra`: reads an EDS spectrum image or spectrum (Velox EMD, Bruker BCF, JEOL
//! PTS, DigitalMicrograph, EMSA, Lispix ripple) with the page's readers and says what it holds:
//! map size, energy axis, counts, the memory the sparse map takes, the images recorded with it
//! and the strongest peaks with the X-ray lines near them; `--sum` writes the sum spectrum.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chipscope_core::dataset::significant;
use chipscope_core::formats::ripple::read_pair;
use chipscope_core::formats::spectral::{SpectralFile, decode_spectral};
use chipscope_core::spectra::lines::lines_near;
use chipscope_core::spectra::{EnergyAxis, SpectrumImage};
use clap::Args;

use crate::{read_file, write_text};

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
    let sum = match (&file.map, &file.spectrum) {
        (Some(map), _) => {
            describe_map(map);
            map.sum_spectrum().iter().map(|&n| n as f64).collect()
        }
        (None, Some(spectrum)) => {
            println!("spectrum: {}", axis_summary(&spectrum.axis));
            spectrum.counts.clone()
        }
        (None, None) => Vec::new(),
    };
    let axis = file
        .map
        .as_ref()
        .map(|m| m.axis)
        .or(file.spectrum.as_ref().map(|s| s.axis));
    if let Some(axis) = axis {
        print_peaks(&sum, &axis);
        if let Some(path) = &args.sum {
            write_text(path, &sum_csv(&sum, &axis))?;
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

/// The file decoded, pairing a ripple header with its data file.
fn read(args: &SpectraArgs) -> Result<SpectralFile> {
    let bytes = read_file(&args.file)?;
    let is_ripple = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rpl"));
    let name = args.file.display();
    if is_ripple {
        let raw_path = args
            .raw
            .clone()
            .unwrap_or_else(|| args.file.with_extension("raw"));
        let raw = read_file(&raw_path)
            .with_context(|| format!("{name} is a Lispix header; its .raw data is needed"))?;
        return read_pair(&bytes, &raw, args.bin).with_context(|| format!("cannot read {name}"));
    }
    decode_spectral(&bytes, args.bin).with_context(|| format!("cannot read {name}"))
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

/// Half the width over which the sum spectrum is smoothed before peaks are picked, keV
/// (about half a line's FWHM), and the least distance between two listed peaks.
const PEAK_HALF_WIDTH_KEV: f64 = 0.05;
const PEAK_SEPARATION_KEV: f64 = 0.15;

/// The strongest peaks above 0.2 keV of the smoothed sum spectrum, at least 0.15 keV apart,
/// each with the lines near it.
fn print_peaks(sum: &[f64], axis: &EnergyAxis) {
    let step = axis.scale_kev.abs().max(1e-6);
    let half = (PEAK_HALF_WIDTH_KEV / step).round() as usize;
    let smoothed: Vec<f64> = (0..sum.len())
        .map(|c| {
            sum[c.saturating_sub(half)..(c + half + 1).min(sum.len())]
                .iter()
                .sum()
        })
        .collect();
    let mut candidates: Vec<usize> = (0..sum.len())
        .filter(|&c| axis.energy(c) > 0.2 && smoothed[c] > 0.0)
        .collect();
    candidates.sort_by(|&a, &b| smoothed[b].total_cmp(&smoothed[a]));
    let mut peaks: Vec<usize> = Vec::new();
    for channel in candidates {
        let apart = |p: &usize| (p.abs_diff(channel) as f64) * step >= PEAK_SEPARATION_KEV;
        if peaks.iter().all(apart) {
            peaks.push(channel);
        }
        if peaks.len() == PEAKS {
            break;
        }
    }
    for channel in peaks {
        let kev = axis.energy(channel) + step / 2.0;
        let names: Vec<String> = lines_near(kev, PEAK_HALF_WIDTH_KEV)
            .iter()
            .take(3)
            .map(|l| format!("{} {}", l.element, l.line))
            .collect();
        let named = match names.is_empty() {
            true => String::new(),
            false => format!(" ({})", names.join(", ")),
        };
        println!("peak:     {} keV{named}", significant(kev, 4));
    }
}

fn sum_csv(sum: &[f64], axis: &EnergyAxis) -> String {
    let mut csv = String::from("energy_kev,counts\n");
    for (channel, value) in sum.iter().enumerate() {
        let _ = writeln!(csv, "{},{value}", significant(axis.energy(channel), 6));
    }
    csv
}
