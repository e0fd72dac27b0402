//! `chipscope`: the command line over the same library the web app uses. File reading and the
//! encoders live in this package's library (`chipscope_cli`), which the benchmarks
//! (`chipscope-bench`) share.

mod atoms;
mod merge;
mod spectra;

use anyhow::{Context, Result, bail};
use atoms::AtomsArgs;
use chipscope_cli::encode::{self, EmbedArgs};
use chipscope_cli::files::{check_simulated_size, load, read_session};
use chipscope_cli::segment::{self, SegmentArgs};
use chipscope_core::dataset::Calibration;
use chipscope_core::formats::tiff::{encode_grey16, write_series_grey16};
use chipscope_core::grid::ChipGrid;
use chipscope_core::share::{self, LinkKind};
use chipscope_core::simulate::{self, CLASS_NAMES, Simulation};
use clap::{Parser, Subcommand};
use merge::MergeArgs;
use spectra::SpectraArgs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Few-shot segmentation of electron micrographs.
#[derive(Parser)]
#[command(name = "chipscope", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a file's shape, stored type, calibration and chip grid.
    Info {
        /// Any file Chipscope reads as an image (see the README's table of formats); an image
        /// too small to chip is described, and the grid said not to fit.
        file: PathBuf,
        /// Chip side in pixels (default: chosen from the image size).
        #[arg(long)]
        chip: Option<usize>,
    },
    /// Write a simulated micrograph (by default the example) as a calibrated 16-bit TIFF.
    Simulate {
        /// What to simulate.
        #[arg(long, value_enum, default_value_t = Scene::Heterostructure)]
        scene: Scene,
        /// Output TIFF file.
        #[arg(long)]
        out: PathBuf,
        /// Also write the true label map as a PNG (one grey value per region: 0, 1, 2, 3).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Image side in pixels.
        #[arg(long, default_value_t = simulate::DEFAULT_SIZE)]
        size: usize,
        /// Random seed.
        #[arg(long, default_value_t = simulate::DEFAULT_SEED)]
        seed: u64,
        /// Write an in-situ movie of this many frames instead, as a multi-page TIFF (frames
        /// 0.5 s apart): the square lattice of the heterostructure grows into the hexagonal
        /// one at a constant speed. --labels then writes each region's true area fraction per
        /// frame as CSV.
        #[arg(long, default_value_t = 1)]
        frames: usize,
        /// Pixel size in nm of the heterostructure (default the example's 0.04), as at another
        /// magnification: the field of view is --size × this.
        #[arg(long, value_name = "NM")]
        pixel_nm: Option<f64>,
    },
    /// Embed every chip with a pretrained CNN and write a float32 .npy (chips × dim), chips in
    /// row-major grid order from the top-left, right and bottom remainders cropped: each chip
    /// resized to 224² (pyCHIP), or with --dense pooled from one pass over the whole image.
    Embed(EmbedArgs),
    /// Segment images with a session file saved by the page: its encoder, support chips and
    /// settings, applied to every IMAGE. Writes per image, into --out: STEM.csv,
    /// STEM-labels.png, STEM-overlay.png, STEM-summary.json, STEM-chart.svg and STEM-report.csv;
    /// per frame series, STEM-fractions.csv and STEM-fractions.svg.
    Segment(SegmentArgs),
    /// Read an EDS spectrum image or spectrum (.emd, .bcf, .pts, .dm3/.dm4, .msa, .rpl + .raw)
    /// and print its map size, energy axis, counts, memory, images and strongest peaks.
    Spectra(SpectraArgs),
    /// Merge labellers' answers to a labelling task (session files) by majority vote: prints
    /// each labeller's agreement with the others and with the task's reference chips, and
    /// Fleiss' kappa; writes the consensus as a session file.
    Merge(MergeArgs),
    /// Find the atom columns of an image (Laplacian of Gaussian, then centre of mass and a 2-D
    /// Gaussian fit per column) and write them as CSV.
    Atoms(AtomsArgs),
    /// Print the address that opens a session file in the page (`--task`: the labelling task
    /// link for labellers, without reference chips or supports) and its length. Commands that
    /// read a session also take such a link in place of the file.
    Link {
        /// Session file.
        session: PathBuf,
        /// Where the page is hosted.
        #[arg(long, default_value = "http://127.0.0.1:8080/")]
        base: String,
        /// Make the labelling task's link (the session must hold a task).
        #[arg(long)]
        task: bool,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Info { file, chip } => info(&file, chip),
        Command::Simulate {
            scene,
            out,
            labels,
            size,
            seed,
            frames,
            pixel_nm,
        } => match (frames, pixel_nm) {
            (1, None) => simulate(scene, &out, labels.as_deref(), size, seed),
            (1, Some(nm)) => simulate_at(scene, nm, &out, labels.as_deref(), (size, seed)),
            (_, None) => simulate_growth(&out, labels.as_deref(), size, seed, frames),
            (_, Some(_)) => Err(anyhow::anyhow!("--pixel-nm draws one image, not --frames")),
        },
        Command::Embed(args) => {
            load(&args.image).and_then(|dataset| encode::embed(&dataset, &args))
        }
        Command::Segment(args) => segment::segment(&args),
        Command::Spectra(args) => spectra::spectra(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Link {
            session,
            base,
            task,
        } => link(&session, &base, task),
        Command::Atoms(args) => {
            load(args.image()).and_then(|dataset| atoms::atoms(&args, &dataset))
        }
    };
    chipscope_cli::exit_code(result)
}

/// Writes `text` to `path` and says so.
fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Prints the link that opens `path` (as a labelling task with `task`).
fn link(path: &Path, base: &str, task: bool) -> Result<()> {
    let session = read_session(path)?;
    let (session, kind) = match task {
        false => (session, LinkKind::Session),
        true if session.task.is_some() => (session.for_labellers(), LinkKind::Task),
        true => bail!("{} holds no labelling task", path.display()),
    };
    let base = base.split('#').next().unwrap_or(base);
    let link = format!("{base}#{}", share::fragment(&session, kind));
    println!("{link}");
    eprintln!("{} characters", link.len());
    Ok(())
}

/// A simulated micrograph, refusing sizes outside 16–8192 pixels.
fn simulated(scene: Scene, size: usize, seed: u64) -> Result<Simulation> {
    check_simulated_size(size)?;
    Ok(match scene {
        Scene::Heterostructure => simulate::heterostructure(size, seed),
        Scene::Grains => simulate::grains(size, seed),
    })
}

fn info(path: &Path, chip: Option<usize>) -> Result<()> {
    let dataset = load(path)?;
    let image = &dataset.image;
    let (width, height) = (image.width(), image.height());
    println!("file:        {}", path.display());
    println!(
        "format:      {} ({})",
        dataset.metadata.format,
        dataset.storage_summary()
    );
    println!("shape:       {width} × {height} px (width × height)");
    println!("calibration: {}", dataset.calibration_summary());
    println!("values:      {}", dataset.value_summary());
    if !dataset.metadata.properties.is_empty() {
        println!("acquisition: {}", dataset.acquisition_summary());
    }
    for note in &dataset.metadata.notes {
        println!("note:        {note}");
    }
    // A chip size the user asked for must fit; an image too small for any chip is described.
    match chip.map_or_else(|| ChipGrid::default_chip_size(width, height), Ok) {
        Ok(size) => {
            let grid = ChipGrid::new(width, height, size)?;
            println!("chip grid:   {size} px chips, {}", grid.summary());
        }
        Err(error) => println!("chip grid:   none fits: {error}"),
    }
    Ok(())
}

/// The scenes `chipscope simulate` draws.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Scene {
    /// The example: vacuum, square and hexagonal lattices, amorphous support.
    Heterostructure,
    /// Randomly oriented grains of two hexagonal phases 5 % apart in spacing, for the atom
    /// modality.
    Grains,
}

fn simulate(scene: Scene, out: &Path, labels: Option<&Path>, size: usize, seed: u64) -> Result<()> {
    write_simulation(
        scene,
        &simulated(scene, size, seed)?,
        out,
        labels,
        (size, seed),
    )
}

/// The heterostructure at `pixel_nm` per pixel.
fn simulate_at(
    scene: Scene,
    pixel_nm: f64,
    out: &Path,
    labels: Option<&Path>,
    (size, seed): (usize, u64),
) -> Result<()> {
    check_simulated_size(size)?;
    anyhow::ensure!(
        matches!(scene, Scene::Heterostructure),
        "--pixel-nm applies to the heterostructure"
    );
    anyhow::ensure!(
        (0.005..=1.0).contains(&pixel_nm),
        "the pixel size must be between 0.005 and 1 nm, not {pixel_nm}"
    );
    let simulation = simulate::heterostructure_at(size, seed, pixel_nm);
    write_simulation(scene, &simulation, out, labels, (size, seed))
}

/// Writes `simulation` as a 16-bit TIFF at `out`, and its label map at `labels`.
fn write_simulation(
    scene: Scene,
    simulation: &Simulation,
    out: &Path,
    labels: Option<&Path>,
    (size, seed): (usize, u64),
) -> Result<()> {
    let names: &[&str] = match scene {
        Scene::Heterostructure => &CLASS_NAMES,
        Scene::Grains => &simulate::GRAIN_PHASES,
    };
    let dataset = &simulation.dataset;
    let tiff = encode_grey16(&dataset.image, dataset.calibration.as_ref())?;
    std::fs::write(out, tiff).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({size} × {size} px, seed {seed})", out.display());
    if let Some(path) = labels {
        let size = size as u32;
        image_png(path, size, &simulation.labels)?;
        let legend: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{i} = {name}"))
            .collect();
        println!("wrote {} (labels: {})", path.display(), legend.join(", "));
    }
    Ok(())
}

/// Writes the growth movie frame by frame (one in memory at a time), and each region's true
/// area fraction per frame to `fractions` as CSV.
fn simulate_growth(
    out: &Path,
    fractions: Option<&Path>,
    size: usize,
    seed: u64,
    frames: usize,
) -> Result<()> {
    anyhow::ensure!(
        (2..=100_000).contains(&frames),
        "a movie has 2 to 100000 frames, not {frames}"
    );
    check_simulated_size(size)?;
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut truth = String::from("frame,time_s");
    for name in CLASS_NAMES {
        truth += &format!(",\"{name} fraction\"");
    }
    let calibration = Calibration {
        pixel_size: simulate::PIXEL_SIZE_NM,
        unit: "nm".into(),
    };
    let movie = (0..frames).map(|frame| {
        let simulation = simulate::growth(size, seed, frame, frames);
        let time = frame as f64 * simulate::GROWTH_INTERVAL_S;
        truth += &format!("\n{},{time}", frame + 1);
        for region in 0..CLASS_NAMES.len() as u8 {
            let pixels = simulation.labels.iter().filter(|&&l| l == region).count();
            truth += &format!(",{:.6}", pixels as f64 / simulation.labels.len() as f64);
        }
        simulation.dataset.image
    });
    let interval = Some(simulate::GROWTH_INTERVAL_S);
    write_series_grey16(
        std::io::BufWriter::new(file),
        movie,
        frames,
        Some(&calibration),
        interval,
    )
    .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} ({frames} frames of {size} × {size} px, seed {seed})",
        out.display()
    );
    if let Some(path) = fractions {
        write_text(path, &(truth + "\n"))?;
    }
    Ok(())
}

fn image_png(path: &Path, size: u32, labels: &[u8]) -> Result<()> {
    let map = image::GrayImage::from_raw(size, size, labels.to_vec()).context("label map size")?;
    map.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", path.display()))
}
