//! `chipscope atoms`: atom columns found by Laplacian-of-Gaussian and refined (centre of mass,
//! then a 2-D elliptical Gaussian), written as CSV — the same core calls the page makes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chipscope_core::atoms::pdf::{RGrid, chip_pdfs};
use chipscope_core::atoms::{AtomColumn, AtomParams, Fit, find_atoms};
use chipscope_core::dataset::{Calibration, Dataset};
use chipscope_core::grid::ChipGrid;
use clap::Args;

use crate::write_text;

/// `chipscope atoms`'s arguments.
#[derive(Args)]
pub struct AtomsArgs {
    /// Image file: any format `chipscope info` reads (PNG, JPEG, TIFF, DM3/DM4, TIA, JEOL, MRC, EMD…).
    image: PathBuf,
    /// CSV to write: x, y (pixels), amplitude, sigma_x, sigma_y (pixels), rotation (radians),
    /// fit (gaussian or centre_of_mass).
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
    /// Expected nearest column spacing in pixels (default: the image's dominant lattice
    /// spacing, from its power spectrum).
    #[arg(long, value_name = "PX", conflicts_with = "spacing_nm")]
    spacing: Option<f32>,
    /// Expected nearest column spacing in the image's calibrated unit (nm).
    #[arg(long, value_name = "NM")]
    spacing_nm: Option<f64>,
    /// Detection threshold relative to the strongest response, 0–1.
    #[arg(long)]
    threshold: Option<f32>,
    /// Also write each chip's pair distribution function g(r) as CSV (row, col, then one
    /// column per r bin), for chips of `--chip` pixels.
    #[arg(long, value_name = "FILE.csv", requires = "chip")]
    pdf: Option<PathBuf>,
    /// Chip side in pixels for `--pdf`.
    #[arg(long, value_name = "PX")]
    chip: Option<usize>,
}

impl AtomsArgs {
    /// The image to read.
    pub fn image(&self) -> &std::path::Path {
        &self.image
    }
}

/// Finds and refines the columns, prints a summary and writes the CSV.
pub fn atoms(args: &AtomsArgs, dataset: &Dataset) -> Result<()> {
    let params = params(args, dataset)?;
    let started = Instant::now();
    let columns = find_atoms(&dataset.image, &params);
    let seconds = started.elapsed().as_secs_f64();
    let fitted = columns.iter().filter(|c| c.fit == Fit::Gaussian).count();
    println!(
        "{} columns ({fitted} fitted by a 2-D Gaussian, {} by centre of mass) in {seconds:.2} s; \
         spacing {:.2} px, threshold {}",
        columns.len(),
        columns.len() - fitted,
        params.spacing_px,
        params.threshold
    );
    write_text(&args.out, &csv(&columns))?;
    match (&args.pdf, args.chip) {
        (Some(path), Some(chip)) => write_text(path, &pdf_csv(dataset, &columns, &params, chip)?),
        _ => Ok(()),
    }
}

/// g(r) of every chip, one line per chip in grid order, with the r bin centres as header.
fn pdf_csv(
    dataset: &Dataset,
    columns: &[AtomColumn],
    params: &AtomParams,
    chip: usize,
) -> Result<String> {
    let image = &dataset.image;
    let grid = ChipGrid::new(image.width(), image.height(), chip)?;
    let r = RGrid::for_spacing(params.spacing_px, chip);
    let positions: Vec<[f32; 2]> = columns.iter().map(|c| [c.x, c.y]).collect();
    let mut text = String::from("row,col");
    for centre in r.centres() {
        let _ = write!(text, ",g_{centre:.2}");
    }
    text.push('\n');
    for (index, g) in chip_pdfs(&positions, &grid, &r).iter().enumerate() {
        let _ = write!(text, "{},{}", index / grid.cols(), index % grid.cols());
        g.iter().for_each(|value| {
            let _ = write!(text, ",{value:.4}");
        });
        text.push('\n');
    }
    Ok(text)
}

fn params(args: &AtomsArgs, dataset: &Dataset) -> Result<AtomParams> {
    let mut params = AtomParams::for_image(&dataset.image);
    if let Some(spacing) = args.spacing {
        params.spacing_px = spacing;
    }
    if let Some(nm) = args.spacing_nm {
        let pixel_nm = dataset
            .calibration
            .as_ref()
            .and_then(Calibration::pixel_nm)
            .context("--spacing-nm needs an image calibrated in nm; give --spacing in pixels")?;
        params.spacing_px = (nm / pixel_nm) as f32;
    }
    if let Some(threshold) = args.threshold {
        params.threshold = threshold;
    }
    if !(params.spacing_px.is_finite() && params.spacing_px >= 2.0) {
        bail!(
            "the column spacing must be at least 2 pixels (got {})",
            params.spacing_px
        );
    }
    if !(0.0..=1.0).contains(&params.threshold) {
        bail!("the threshold must lie in 0–1 (got {})", params.threshold);
    }
    Ok(params)
}

fn csv(columns: &[AtomColumn]) -> String {
    let mut text = String::from("x,y,amplitude,sigma_x,sigma_y,rotation,fit\n");
    for c in columns {
        let fit = match c.fit {
            Fit::Gaussian => "gaussian",
            Fit::CentreOfMass => "centre_of_mass",
        };
        let _ = writeln!(
            text,
            "{:.3},{:.3},{},{:.3},{:.3},{:.4},{fit}",
            c.x, c.y, c.amplitude, c.sigma_x, c.sigma_y, c.rotation
        );
    }
    text
}
