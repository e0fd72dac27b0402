//! `chipscope segment`: a session saved by the page (its encoder, support chips and settings)
//! applied to many images, each written out as the page's downloads are. This module finds and
//! reads the files (the labelled image, weights, spectrum images) and measures the chips with
//! progress on the terminal; [`pipeline`] learns the prototypes and segments, as in the page.
//! A session of several images (a project) also learns from the supports on its other images
//! and pools the images' class reports ([`project`]); `--watch` segments the files a folder
//! receives as they arrive ([`watch`]).

mod project;
mod watch;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use burn::tensor::Device;
use chipscope_core::atoms::{AtomChips, AtomParams, find_atoms};
use chipscope_core::classify::Segmentation;
use chipscope_core::dataset::{
    Calibration, Dataset, Image, RescaleError, SAME_PIXEL_SIZE, significant,
};
use chipscope_core::display::DisplayRange;
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::{EmbeddingMode, FeatureMap};
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::exports::{Backdrop, FineResults, Results};
use chipscope_core::fine::{CellContext, FineLabels};
use chipscope_core::formats::Opened;
use chipscope_core::formats::series::Series;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::fusion::{Fusion, Modality};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::guide::quality::{SupportQuality, SupportReport};
use chipscope_core::hashing::sha256_hex;
use chipscope_core::pipeline::{self, ChipMeasure, Learned};
use chipscope_core::report::ClassReport;
use chipscope_core::results::Summary;
use chipscope_core::series::{FractionTable, FrameShares};
use chipscope_core::session::{DataSource, Session, SpectralSettings};
use chipscope_core::spectra::SpectrumImage;
use chipscope_core::spectra::modality::{SpectralChips, SpectralModel};
use clap::Args;

use crate::encode::{self, Backend, embed_with_progress};
use crate::files::{
    decode_spectral_file, file_name, map_file, native_limits, open_file, read_file, read_session,
    read_spectral, simulated_example,
};
use project::ProjectImage;

/// `chipscope segment`'s arguments; the Python package fills them in as its keywords say.
#[derive(Args, Default)]
pub struct SegmentArgs {
    /// Images to segment: any format `chipscope info` reads (PNG, JPEG, TIFF, DM3/DM4, TIA,
    /// JEOL IMG, MRC, Berkeley EMD), or a spectrum-image file with its HAADF or counts image
    /// (Velox EMD, Bruker BCF, JEOL PTS, TIA).
    #[arg(required_unless_present = "watch", value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// The EDS spectrum image of each IMAGE, in the same order, when the session weights the
    /// spectral modality (not needed for an IMAGE that is itself a spectrum-image file).
    #[arg(long, value_name = "FILE")]
    pub spectra: Vec<PathBuf>,
    /// Session file saved by the page.
    #[arg(long, value_name = "FILE.json")]
    pub session: PathBuf,
    /// Folder for the results (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The image the supports were clicked on, when it is not among the IMAGEs nor next to
    /// the session file under its recorded name.
    #[arg(long, value_name = "PATH")]
    pub labelled: Option<PathBuf>,
    /// Weight file of the session's encoder: needed for a user's own encoder, and used instead
    /// of a shipped one when given.
    #[arg(long, value_name = "PATH")]
    pub encoder: Option<PathBuf>,
    /// Chip every image in pixels, as the session's chip size says, never resampling. Without
    /// it, an image calibrated at another pixel size than the labelled image is resampled to
    /// the labelled image's nm/px first (so a chip covers the same area), and an uncalibrated
    /// image is refused when the labelled image was calibrated.
    #[arg(long)]
    pub chip_px: bool,
    /// For a frame series (multi-page TIFF, MRC stack), also write every frame's files as
    /// STEM-frame0001.csv and so on; without it a series writes STEM-fractions.csv and
    /// STEM-fractions.svg only.
    #[arg(long)]
    pub each_frame: bool,
    /// After the IMAGEs, watch this folder: every image file in it, and each one written there
    /// later, is segmented once complete (its size and time unchanged between two listings),
    /// its files written to --out and its class fractions added to watch-fractions.csv and
    /// .svg. Runs until interrupted.
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// Seconds between two listings of the watched folder.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 2.0,
        requires = "watch"
    )]
    pub interval: f64,
    /// What runs the encoder on the CPU.
    #[arg(long, value_enum, default_value_t = Backend::default())]
    pub backend: Backend,
}

/// Segments every image with the session; an image that fails is reported and the others are
/// still written, and the command then fails.
pub fn segment(args: &SegmentArgs) -> Result<()> {
    let stems = output_stems(&args.images)?;
    ensure!(
        args.spectra.is_empty() || args.spectra.len() == args.images.len(),
        "give one --spectra FILE per IMAGE, in the same order ({} images, {} spectrum files)",
        args.images.len(),
        args.spectra.len()
    );
    let segmenter = Segmenter::new(args)?;
    let (mut failed, mut reports) = (0, Vec::new());
    for (i, (path, stem)) in args.images.iter().zip(&stems).enumerate() {
        match segmenter.report(path, stem, args.spectra.get(i).map(PathBuf::as_path)) {
            Outcome::Image(_, report) => reports.push((file_name(path), report)),
            Outcome::Series => {}
            Outcome::Failed => failed += 1,
        }
    }
    if reports.len() >= 2 {
        segmenter.write_project_report(reports)?;
    }
    if let Some(folder) = &args.watch {
        return watch::watch(
            &segmenter,
            folder,
            args.interval,
            stems.into_iter().collect(),
        );
    }
    ensure!(
        failed == 0,
        "{failed} of {} images failed",
        args.images.len()
    );
    Ok(())
}

/// Each image's file name without its last extension, refusing two images with the same one.
fn output_stems(images: &[PathBuf]) -> Result<Vec<String>> {
    let stems = images
        .iter()
        .map(|path| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            stem.with_context(|| format!("{} is not a file name", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    for (later, stem) in stems.iter().enumerate() {
        if let Some(earlier) = stems[..later].iter().position(|s| s == stem) {
            bail!(
                "{} and {} would both write {stem}.csv and the other results; rename one or \
                 segment them into different --out folders",
                images[earlier].display(),
                images[later].display()
            );
        }
    }
    Ok(stems)
}

fn check_classes(session: &Session) -> Result<()> {
    ensure!(
        !session.classes.is_empty(),
        "the session has no classes; define them in the page and save the session again"
    );
    if let Some(class) = session.classes.iter().find(|c| c.support_total() == 0) {
        bail!(
            "class {:?} has no support chip; give every class at least one in the page and save \
             the session again",
            class.name
        );
    }
    Ok(())
}

/// The modalities that take part with `fusion` (the session's, [`Fusion::for_images`]) as
/// [`Fusion::taking_part`] says, refusing a weighted modality whose settings the session does
/// not record.
fn taking_part(session: &Session, fusion: &Fusion) -> Result<Vec<Modality>> {
    if fusion.weighs(Modality::Atoms) && session.atoms.is_none() {
        bail!("the session weights the atom modality but records no atom settings");
    }
    if fusion.weighs(Modality::Spectra) && session.spectra.is_none() {
        bail!("the session weights the spectral modality but records no spectrum image");
    }
    Ok(fusion.taking_part(|modality| session.records(modality)))
}

/// A file's identity: its length and sha256.
#[derive(Clone, Debug, PartialEq)]
struct Fingerprint {
    len: u64,
    sha256: String,
}

impl Fingerprint {
    fn of(bytes: &[u8]) -> Self {
        Self {
            len: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    /// The file name and fingerprint `source` recorded; none for the simulated example.
    fn recorded(source: &DataSource) -> Option<(&str, Self)> {
        match source {
            DataSource::Example { .. } => None,
            DataSource::File { name, size, sha256 }
            | DataSource::Url {
                name, size, sha256, ..
            } => Some((
                name,
                Self {
                    len: *size,
                    sha256: sha256.clone(),
                },
            )),
        }
    }

    /// Whether the file at `path` has this fingerprint (files of another length are not read).
    fn matches_file(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.len() == self.len)
            && std::fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == self.sha256)
    }
}

/// The dataset the supports were clicked on.
struct Labelled {
    dataset: Dataset,
    /// The spectrum image of a spectral file.
    spectral: Option<SpectralFile>,
    /// Its file's identity; none for the simulated example.
    fingerprint: Option<Fingerprint>,
    /// Whether one of the IMAGEs is this very file (so it is segmented too).
    among_images: bool,
    /// How messages name it.
    name: String,
}

fn find_labelled(session: &Session, args: &SegmentArgs) -> Result<Labelled> {
    if let DataSource::Example { size, seed } = session.source {
        return Ok(Labelled {
            dataset: simulated_example(size, seed)?.dataset,
            spectral: None,
            fingerprint: None,
            among_images: false,
            name: session.source.describe(),
        });
    }
    // Data from a URL is looked for like a file: the CLI works offline on local copies.
    let (name, recorded) =
        Fingerprint::recorded(&session.source).expect("a file records its bytes");
    let (path, from_images) = labelled_path(session, &recorded, name, args)?;
    let (opened, fingerprint, among_images) =
        open_found(&path, from_images, &recorded, &session.source, args)?;
    Ok(Labelled {
        dataset: opened.dataset,
        spectral: opened.spectral,
        fingerprint: Some(fingerprint),
        among_images,
        name: path.display().to_string(),
    })
}

/// The file at `path`, found for `source` (which recorded `recorded`; `from_images` when it
/// is one of the IMAGEs), opened: with its fingerprint (warning when it is not the recorded
/// one) and whether one of the IMAGEs is this very file.
fn open_found(
    path: &Path,
    from_images: bool,
    recorded: &Fingerprint,
    source: &DataSource,
    args: &SegmentArgs,
) -> Result<(Opened, Fingerprint, bool)> {
    let bytes = read_file(path)?;
    let fingerprint = Fingerprint::of(&bytes);
    warn_if_other(path, &fingerprint, recorded, source);
    let among_images = from_images || args.images.iter().any(|p| fingerprint.matches_file(p));
    Ok((open_file(path, &bytes)?, fingerprint, among_images))
}

/// The file named `name` (its folders dropped) next to the session file, if it is there.
fn beside_session(name: &str, args: &SegmentArgs) -> Option<PathBuf> {
    Path::new(name)
        .file_name()
        .map(|file| args.session.with_file_name(file))
        .filter(|path| path.is_file())
}

/// Warns when the file at `path` is not the one `source` recorded.
fn warn_if_other(path: &Path, found: &Fingerprint, recorded: &Fingerprint, source: &DataSource) {
    if found.sha256 != recorded.sha256 {
        eprintln!(
            "warning: {} is not byte for byte the file the session was made on ({}); its \
             support chips may show something else",
            path.display(),
            source.describe()
        );
    }
}

/// Where the labelled file is: an IMAGE with its sha256, else `--labelled`, else its recorded
/// name next to the session file; and whether it was found among the IMAGEs.
fn labelled_path(
    session: &Session,
    recorded: &Fingerprint,
    name: &str,
    args: &SegmentArgs,
) -> Result<(PathBuf, bool)> {
    if let Some(image) = args.images.iter().find(|p| recorded.matches_file(p)) {
        return Ok((image.clone(), true));
    }
    if let Some(path) = &args.labelled {
        return Ok((path.clone(), false));
    }
    let beside = beside_session(name, args).with_context(|| {
        format!(
            "the session's supports were clicked on {}, which is neither among the images nor \
             next to {}; pass it with --labelled PATH",
            session.source.describe(),
            args.session.display()
        )
    })?;
    Ok((beside, false))
}

/// The session's encoder: `--encoder`'s file when given (a warning if it is not the session's),
/// else the shipped one, which must be the session's.
fn session_encoder(
    session: &Session,
    path: Option<&Path>,
    backend: Backend,
) -> Result<ImageEncoder> {
    let wanted = &session.encoder;
    if let Some(path) = path {
        let bytes = read_file(path)?;
        if sha256_hex(&bytes) != wanted.weights_sha256 {
            eprintln!(
                "warning: {} is not the weight file the session was made with ({}, sha256 {}…); \
                 the results may differ from the page's",
                path.display(),
                wanted.name,
                short(&wanted.weights_sha256)
            );
        }
        return encode::encoder_from_bytes(&bytes, &path.display().to_string(), backend);
    }
    let shipped = encode::shipped_encoders()?;
    let Some(entry) = shipped.iter().find(|entry| entry.id == wanted.id) else {
        bail!(
            "the session was made with {} ({}), not a shipped encoder; pass its weight file \
             with --encoder PATH",
            wanted.name,
            wanted.id
        );
    };
    ensure!(
        entry.sha256 == wanted.weights_sha256,
        "the shipped {} weights (sha256 {}…) differ from those the session was made with \
         (sha256 {}…); pass the session's weight file with --encoder PATH",
        entry.id,
        short(&entry.sha256),
        short(&wanted.weights_sha256)
    );
    encode::encoder_from_bytes(&encode::shipped_weights(entry)?, &entry.id, backend)
}

fn short(sha256: &str) -> &str {
    &sha256[..12.min(sha256.len())]
}

/// The frame series in `bytes`, the contents of the file at `path`; `None` for a single image.
fn open_series<'a>(path: &Path, bytes: &'a [u8]) -> Result<Option<Series<'a>>> {
    Series::open(bytes, &native_limits()).with_context(|| format!("cannot read {}", path.display()))
}

/// One modality's measurement of an image's chips, owned: the image's embeddings (borrowed
/// when they are the labelled image's, already embedded), the chip spectra and their vectors,
/// or the atoms' g(r) and their quantile vectors.
enum Measured<'a> {
    Image(Cow<'a, ImageMeasure>),
    Spectra(SpectralChips, Embeddings),
    Atoms(AtomChips, Embeddings),
}

impl Measured<'_> {
    fn chips(&self) -> ChipMeasure<'_> {
        match self {
            Measured::Image(image) => ChipMeasure::euclidean(Modality::Image, &image.vectors),
            Measured::Spectra(_, vectors) => ChipMeasure::euclidean(Modality::Spectra, vectors),
            Measured::Atoms(chips, quantiles) => ChipMeasure::atoms(chips, quantiles),
        }
    }

    /// The dense map the image's chips were pooled from, if they were.
    fn map(&self) -> Option<&FeatureMap> {
        match self {
            Measured::Image(image) => image.map.as_ref(),
            _ => None,
        }
    }
}

/// An image's chips as the image modality measured them: their embeddings, and in dense mode
/// the feature map they were pooled from.
#[derive(Clone)]
struct ImageMeasure {
    vectors: Embeddings,
    map: Option<FeatureMap>,
}

/// The image modality of a session: its encoder and embedding mode, and the project's images
/// it learned from that are segmented too, measured.
struct ImageModel {
    encoder: ImageEncoder,
    device: Device,
    mode: EmbeddingMode,
    /// Each such image's measurement, by its place in the project (0: the labelled image).
    kept: Vec<(u32, ImageMeasure)>,
}

impl ImageModel {
    /// The model, with what it learned from the supports on the labelled image.
    fn learn(
        session: &Session,
        labelled: &Labelled,
        grid: &ChipGrid,
        classes: &[Vec<usize>],
        args: &SegmentArgs,
    ) -> Result<(Self, Learned)> {
        let device = args.backend.device();
        let mut model = Self {
            encoder: session_encoder(session, args.encoder.as_deref(), args.backend)?,
            device,
            mode: session.encoder.mode.clone(),
            kept: Vec::new(),
        };
        let source = ChipSource {
            image: &labelled.dataset.image,
            grid,
            range: recorded_range(session),
        };
        let keep = labelled.among_images;
        let (learned, full) = model.learn_on(source, classes, keep, &labelled.name)?;
        model.kept.extend(full.map(|full| (0, full)));
        Ok((model, learned))
    }

    /// What the supports `classes` (chip indices of `source`'s grid) on one of the project's
    /// images teach: every chip is measured when `keep` (the image is also segmented, and its
    /// measurement comes back to be reused) or the mode is dense (one pass over the image),
    /// else only the support chips.
    fn learn_on(
        &self,
        source: ChipSource,
        classes: &[Vec<usize>],
        keep: bool,
        name: &str,
    ) -> Result<(Learned, Option<ImageMeasure>)> {
        if keep || self.mode != EmbeddingMode::PerChip {
            let full = self.embed(source, name)?;
            let learned = Learned::from_chips(
                &ChipMeasure::euclidean(Modality::Image, &full.vectors),
                classes,
            );
            return Ok((learned, keep.then_some(full)));
        }
        let all: Vec<Chip> = source.grid.chips().collect();
        let chips: Vec<Chip> = classes.iter().flatten().map(|&i| all[i]).collect();
        let label = format!("{name} (supports)");
        let vectors = embed_with_progress(&self.encoder, source, &chips, &self.device, &label)?;
        let learned = Learned::from_supports(Modality::Image, classes.to_vec(), vectors);
        Ok((learned, None))
    }

    /// Every chip of `source` measured in the session's mode, with progress under `label`.
    fn embed(&self, source: ChipSource, label: &str) -> Result<ImageMeasure> {
        let (encoder, device) = (&self.encoder, &self.device);
        match &self.mode {
            EmbeddingMode::PerChip => {
                let chips: Vec<Chip> = source.grid.chips().collect();
                Ok(ImageMeasure {
                    vectors: embed_with_progress(encoder, source, &chips, device, label)?,
                    map: None,
                })
            }
            EmbeddingMode::Dense(settings) => {
                let map = encode::dense_map(
                    encoder,
                    source.image,
                    source.range,
                    settings,
                    device,
                    label,
                )?;
                Ok(ImageMeasure {
                    vectors: map.pool(source.grid),
                    map: Some(map),
                })
            }
        }
    }

    /// Every chip of `source`, the project's image number `place` when known, measured
    /// (reusing the measurement kept when it learned from that image).
    fn measure(&self, source: ChipSource, place: Option<u32>, path: &Path) -> Result<Measured<'_>> {
        let kept = self.kept.iter().find(|(at, _)| Some(*at) == place);
        let image = match kept {
            Some((_, full)) => Cow::Borrowed(full),
            None => Cow::Owned(self.embed(source, &path.display().to_string())?),
        };
        Ok(Measured::Image(image))
    }
}

/// The atom chips of `image`: the g(r) of the columns found with `params`, and their
/// quantile vectors.
fn measure_atoms(image: &Image, grid: &ChipGrid, params: &AtomParams) -> Measured<'static> {
    let chips = AtomChips::new(&find_atoms(image, params), grid, params);
    let quantiles = chips.quantile_vectors();
    Measured::Atoms(chips, quantiles)
}

/// The spectral modality's encoder, fitted on the labelled spectrum image (spec2vec trained on
/// its chips, as the page does), with what it learned from the supports.
fn learn_spectra(
    settings: &SpectralSettings,
    labelled: &Labelled,
    grid: &ChipGrid,
    classes: &[Vec<usize>],
    args: &SegmentArgs,
) -> Result<(SpectralModel, Learned)> {
    let map = labelled_map(settings, labelled, args)?;
    let chips = SpectralChips::for_image(&map, &labelled.dataset, grid)
        .with_context(|| format!("the spectrum image does not fit {}", labelled.name))?;
    let model = SpectralModel::fit(settings.encoder, &chips);
    let vectors = model.vectors(&chips);
    let learned = Learned::from_chips(
        &ChipMeasure::euclidean(Modality::Spectra, &vectors),
        classes,
    );
    Ok((model, learned))
}

/// The spectrum image the session's supports were labelled with: the labelled file's own, a
/// `--spectra` file with the recorded sha256, or the recorded name next to the session file.
fn labelled_map(
    settings: &SpectralSettings,
    labelled: &Labelled,
    args: &SegmentArgs,
) -> Result<SpectrumImage> {
    let source = &settings.source;
    let Some((name, recorded)) = Fingerprint::recorded(source) else {
        bail!(
            "the session's spectrum image is {}, which has none",
            source.describe()
        );
    };
    if labelled.fingerprint.as_ref() == Some(&recorded)
        && let Some(map) = labelled.spectral.as_ref().and_then(|file| file.map.clone())
    {
        return Ok(map);
    }
    let beside = beside_session(name, args);
    let path = args
        .spectra
        .iter()
        .find(|path| recorded.matches_file(path))
        .cloned()
        .or(beside)
        .with_context(|| {
            format!(
                "the session's supports were labelled with the spectrum image {}, which is \
                 neither among the --spectra files nor next to {}",
                source.describe(),
                args.session.display()
            )
        })?;
    let bytes = read_file(&path)?;
    warn_if_other(&path, &Fingerprint::of(&bytes), &recorded, source);
    map_of(decode_spectral_file(&path, &bytes, None, 1)?, &path)
}

/// The spectrum image of a spectral file.
fn map_of(file: SpectralFile, path: &Path) -> Result<SpectrumImage> {
    file.map.with_context(|| {
        format!(
            "{} holds a single spectrum, not a spectrum image",
            path.display()
        )
    })
}

/// A session ready to segment images: what each modality learned from the supports, and
/// everything shared by the images of one run. The command line and the Python package both
/// segment through it.
pub struct Segmenter {
    session: Session,
    /// The session's fusion for its number of images ([`Fusion::for_images`]).
    fusion: Fusion,
    /// The files of the project's images that are known when segmented, with their places in
    /// the project: the labelled file at 0 (none for the simulated example), and the other
    /// images learned from whose measurement is kept ([`ImageModel::kept`]).
    files: Vec<(Fingerprint, u32)>,
    image: Option<ImageModel>,
    atoms: Option<AtomParams>,
    spectra: Option<SpectralModel>,
    /// What each modality taking part learned, in the order of [`Fusion::taking_part`].
    learned: Vec<Learned>,
    out: PathBuf,
    /// Whether a series writes every frame's files.
    each_frame: bool,
    /// The labelled image's pixel size, nm, which every image is resampled to (none: chips in
    /// pixels).
    pixel_nm: Option<f64>,
}

impl Segmenter {
    /// Reads `args.session`, finds the images its supports were clicked on and learns from
    /// them; the output folder is `args.out`, made when missing.
    pub fn new(args: &SegmentArgs) -> Result<Self> {
        let session = read_session(&args.session)?;
        check_classes(&session)?;
        let labelled = find_labelled(&session, args)?;
        let elsewhere = project::find_images(&session, args)?;
        let segmenter = Self::prepare(session, labelled, &elsewhere, args)?;
        if !args.out.as_os_str().is_empty() {
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
        }
        Ok(segmenter)
    }

    /// The session it applies.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Learns every modality the session uses from the labelled data (and the image modality
    /// from the project's other images that hold supports, `elsewhere`).
    fn prepare(
        session: Session,
        labelled: Labelled,
        elsewhere: &[ProjectImage],
        args: &SegmentArgs,
    ) -> Result<Self> {
        let image = &labelled.dataset.image;
        let grid = session
            .grid_on(image.width(), image.height())
            .with_context(|| format!("the session does not fit {}", labelled.name))?;
        let images = session.all_images().count();
        let mut segmenter = Self {
            fusion: session.fusion.for_images(images),
            files: labelled
                .fingerprint
                .iter()
                .map(|f| (f.clone(), 0))
                .collect(),
            image: None,
            atoms: None,
            spectra: None,
            learned: Vec::new(),
            out: args.out.clone(),
            each_frame: args.each_frame,
            pixel_nm: match args.chip_px {
                true => None,
                false => labelled
                    .dataset
                    .calibration
                    .as_ref()
                    .and_then(|c| c.pixel_nm()),
            },
            session,
        };
        project::say_if_image_alone(&segmenter.session);
        let classes = segmenter.session.labels().support_indices(grid.cols());
        for modality in taking_part(&segmenter.session, &segmenter.fusion)? {
            let session = &segmenter.session;
            let learned = match modality {
                Modality::Image => {
                    let (mut model, first) =
                        ImageModel::learn(session, &labelled, &grid, &classes, args)?;
                    let (learned, files) =
                        segmenter.learn_elsewhere(&mut model, first, elsewhere, args)?;
                    segmenter.files.extend(files);
                    segmenter.image = Some(model);
                    learned
                }
                Modality::Atoms => {
                    let settings = session.atoms.expect("checked by taking_part");
                    let params = AtomParams::from(settings);
                    let learned = Learned::from_chips(
                        &measure_atoms(image, &grid, &params).chips(),
                        &classes,
                    );
                    segmenter.atoms = Some(params);
                    learned
                }
                Modality::Spectra => {
                    let settings = session.spectra.as_ref().expect("checked by taking_part");
                    let (model, learned) =
                        learn_spectra(settings, &labelled, &grid, &classes, args)?;
                    segmenter.spectra = Some(model);
                    learned
                }
            };
            segmenter.learned.push(learned);
        }
        Ok(segmenter)
    }

    /// Segments one file and prints its class counts (a series: its fractions from the first
    /// frame to the last), or reports why it failed.
    fn report(&self, path: &Path, stem: &str, spectra: Option<&Path>) -> Outcome {
        match self.segment_file(path, stem, spectra) {
            Ok(Segmented::Image(summary, report)) => {
                describe_image(path, &summary);
                Outcome::Image(summary, report)
            }
            Ok(Segmented::Series(series)) => {
                describe_series(path, stem, &series);
                match series.failed {
                    0 => Outcome::Series,
                    _ => Outcome::Failed,
                }
            }
            Err(error) => {
                eprintln!("error: {}: {error:#}", path.display());
                Outcome::Failed
            }
        }
    }

    /// Segments the file at `path` (with the spectrum image `spectra` when the session weights
    /// spectra): its image, or every frame when it is a frame series; writes the results
    /// under `stem` in the output folder, as `chipscope segment` does.
    pub fn segment_file(
        &self,
        path: &Path,
        stem: &str,
        spectra: Option<&Path>,
    ) -> Result<Segmented> {
        let bytes = map_file(path)?;
        let place = self.place_of(&bytes);
        if let Some(series) = open_series(path, &bytes)? {
            return self
                .segment_series(series, place == Some(0), stem)
                .map(Segmented::Series);
        }
        let (dataset, own) = self.open_image(path, &bytes)?;
        let given = spectra.map(GivenSpectra::File);
        let spectra = Spectra { own, given };
        let (summary, report) = self.segment_frame(&dataset, spectra, place, path, Some(stem))?;
        Ok(Segmented::Image(Box::new(summary), report))
    }

    /// Classifies the image of the file at `path` (a frame series' first frame) as
    /// [`Segmenter::segment_file`] does, writing nothing; with the image classified, at the
    /// session's pixel size. `spectra` replaces the file's own spectrum image.
    pub fn classify_file(
        &self,
        path: &Path,
        spectra: Option<GivenSpectra>,
    ) -> Result<(Dataset, Classified)> {
        let bytes = map_file(path)?;
        let place = self.place_of(&bytes);
        let (dataset, own) = self.open_image(path, &bytes)?;
        let spectra = Spectra {
            own,
            given: spectra,
        };
        let classified = self.classify(&dataset, spectra, place, path)?;
        Ok((dataset, classified))
    }

    /// Classifies `dataset` (an image given in memory, named `name` in messages, with its
    /// spectrum image `spectra` when the session weights spectra), brought to the session's
    /// pixel size first; with the image classified.
    pub fn classify_image(
        &self,
        dataset: Dataset,
        name: &str,
        spectra: Option<GivenSpectra>,
    ) -> Result<(Dataset, Classified)> {
        let dataset = self.at_session_scale(dataset)?;
        let spectra = Spectra {
            own: None,
            given: spectra,
        };
        let classified = self.classify(&dataset, spectra, None, Path::new(name))?;
        Ok((dataset, classified))
    }

    /// The project's image number the file `bytes` is, when it is one whose supports were
    /// learned (0: the labelled image).
    fn place_of(&self, bytes: &[u8]) -> Option<u32> {
        let fingerprint = Fingerprint::of(bytes);
        let place = self.files.iter().find(|(f, _)| *f == fingerprint);
        place.map(|&(_, place)| place)
    }

    /// The image (and spectrum image) of the file `bytes`, read from `path`, at the session's
    /// pixel size, saying so when it was resampled.
    fn open_image(&self, path: &Path, bytes: &[u8]) -> Result<(Dataset, Option<SpectralFile>)> {
        let Opened { dataset, spectral } = open_file(path, bytes)?;
        let dataset = self.at_session_scale(dataset)?;
        if let Some(note) = dataset
            .metadata
            .notes
            .last()
            .filter(|n| n.starts_with("resampled"))
        {
            println!("{}: {note}", path.display());
        }
        Ok((dataset, spectral))
    }

    /// `dataset` at the labelled image's pixel size: resampled when calibrated at another (more
    /// than 1 % off), refused when uncalibrated; as it is when the session chips in pixels.
    fn at_session_scale(&self, dataset: Dataset) -> Result<Dataset> {
        let Some(session_nm) = self.pixel_nm else {
            return Ok(dataset);
        };
        let image_nm = dataset.calibration.as_ref().and_then(|c| c.pixel_nm());
        if let Some(image_nm) =
            image_nm.filter(|nm| (nm / session_nm - 1.0).abs() > SAME_PIXEL_SIZE)
        {
            ensure!(
                !self.fusion.weighs(Modality::Spectra),
                "the image is at {} nm/px, the session at {} nm/px, and a spectrum image is not \
                 resampled with it; pass --chip-px to chip it in pixels",
                significant(image_nm, 4),
                significant(session_nm, 4)
            );
        }
        let chip = self.session.grid.chip_size;
        dataset.at_pixel_size(session_nm).map_err(|error| match error {
            RescaleError::Uncalibrated => anyhow!(
                "the image has no length calibration, and the session's chips are {} nm ({chip} \
                 px at {} nm/px); calibrate it, or pass --chip-px to chip every image in pixels",
                significant(chip as f64 * session_nm, 4),
                significant(session_nm, 4)
            ),
            RescaleError::TooSmall => {
                anyhow!("the image is too small to resample to the session's pixel size")
            }
        })
    }

    /// Segments every frame of `series` in turn, one decoded at a time, writing the fractions
    /// table and chart as STEM-fractions.csv and .svg (and each frame's files with
    /// `--each-frame`). A frame that fails is reported and the others still segmented.
    fn segment_series(
        &self,
        mut series: Series,
        is_labelled: bool,
        stem: &str,
    ) -> Result<SeriesOutcome> {
        self.check_series()?;
        let frames = series.len();
        let mut segmented = Vec::new();
        for index in 0..frames {
            let is_labelled_frame = is_labelled && index == 0;
            match self.segment_series_frame(&mut series, index, is_labelled_frame, stem) {
                Ok(summary) => segmented.push((index, series.time_s(index), summary)),
                Err(error) => eprintln!("error: {}: {error:#}", frame_label(stem, index, frames)),
            }
        }
        let table = write_fractions(&self.out, stem, &segmented)?;
        Ok(SeriesOutcome {
            table,
            frames,
            failed: frames - segmented.len(),
        })
    }

    /// Refuses to segment a frame series with a session that weights spectra.
    fn check_series(&self) -> Result<()> {
        ensure!(
            !self.fusion.weighs(Modality::Spectra),
            "the session weights the spectral modality, and a frame series has no spectrum image"
        );
        Ok(())
    }

    /// Frame `index` of `series` (of the file `stem`) segmented, its files written with
    /// `--each-frame`; `is_labelled` when it is the frame the supports were clicked on.
    fn segment_series_frame(
        &self,
        series: &mut Series,
        index: usize,
        is_labelled: bool,
        stem: &str,
    ) -> Result<Summary> {
        let frame_stem = format!("{stem}-frame{:04}", index + 1);
        let frame_out = self.each_frame.then_some(frame_stem.as_str());
        let dataset = self.at_session_scale(series.frame(index)?)?;
        let no_spectra = Spectra {
            own: None,
            given: None,
        };
        let label = frame_label(stem, index, series.len());
        let place = is_labelled.then_some(0);
        let (summary, _) =
            self.segment_frame(&dataset, no_spectra, place, Path::new(&label), frame_out)?;
        Ok(summary)
    }

    /// The number of frames of the file at `path` when it is a frame series; `None` for a
    /// single image.
    pub fn series_frames(path: &Path) -> Result<Option<usize>> {
        let bytes = map_file(path)?;
        Ok(open_series(path, &bytes)?.map(|series| series.len()))
    }

    /// Segments frame `index` of the frame series at `path` as [`Segmenter::segment_file`]
    /// segments each of its frames (writing the frame's files with `each_frame`), so the frames
    /// of one series can be segmented apart, on many machines; with the frame's time. Give the
    /// summaries to [`write_fractions`].
    pub fn segment_file_frame(
        &self,
        path: &Path,
        index: usize,
        stem: &str,
    ) -> Result<(Summary, Option<f64>)> {
        self.check_series()?;
        let bytes = map_file(path)?;
        let mut series = open_series(path, &bytes)?
            .with_context(|| format!("{} is not a frame series", path.display()))?;
        ensure!(
            index < series.len(),
            "{} has {} frames; there is no frame {}",
            path.display(),
            series.len(),
            index + 1
        );
        // Only the first frame can be the labelled one: the others need not hash the file.
        let is_labelled = index == 0 && self.place_of(&bytes) == Some(0);
        let summary = self.segment_series_frame(&mut series, index, is_labelled, stem)?;
        Ok((summary, series.time_s(index)))
    }

    /// Segments one image (or frame), read from `path` and known as the project's image number
    /// `place` (0: the labelled image) when it is one, and writes its files under `stem` when
    /// one is given; its summary and class report.
    fn segment_frame(
        &self,
        dataset: &Dataset,
        spectra: Spectra,
        place: Option<u32>,
        path: &Path,
        stem: Option<&str>,
    ) -> Result<(Summary, ClassReport)> {
        let classified = self.classify(dataset, spectra, place, path)?;
        if let Some(stem) = stem {
            self.write(stem, &classified, &dataset.image)?;
            self.save(&format!("{stem}-report.csv"), classified.report.to_csv())?;
        }
        Ok((classified.summary, classified.report))
    }

    /// Classifies one image (or frame), read from `path` and known as the project's image
    /// number `place` (0: the labelled image) when it is one.
    fn classify(
        &self,
        dataset: &Dataset,
        spectra: Spectra,
        place: Option<u32>,
        path: &Path,
    ) -> Result<Classified> {
        let Spectra {
            own: mut own_spectra,
            given: mut given_spectra,
        } = spectra;
        let image = &dataset.image;
        let chip_size = self.session.grid.chip_size;
        let grid = ChipGrid::new(image.width(), image.height(), chip_size)
            .with_context(|| format!("the session's {chip_size}-px chips do not fit it"))?;
        let is_labelled = place == Some(0);
        let range = match is_labelled {
            true => recorded_range(&self.session),
            false => DisplayRange::of(image, self.session.display.stretch),
        };
        let mut measured = Vec::new();
        for learned in &self.learned {
            measured.push(match learned.modality {
                Modality::Image => {
                    let source = ChipSource {
                        image,
                        grid: &grid,
                        range,
                    };
                    let model = self.image.as_ref().expect("learned with the image");
                    model.measure(source, place, path)?
                }
                Modality::Atoms => {
                    let params = self.atoms.as_ref().expect("learned with the atoms");
                    measure_atoms(image, &grid, params)
                }
                Modality::Spectra => {
                    let (own, given) = (own_spectra.take(), given_spectra.take());
                    self.measure_spectra(dataset, &grid, own, path, given)?
                }
            });
        }
        let chips: Vec<ChipMeasure> = measured.iter().map(Measured::chips).collect();
        let (fusion, classes) = (&self.fusion, &self.session.classes);
        let limit = self.session.view.unassigned_beyond;
        let segmentation = pipeline::segment(fusion, &self.learned, &chips, None);
        let assignments = segmentation.assignments(limit);
        let fine = measured.iter().find_map(Measured::map).map(|map| {
            let context = CellContext::new(map, chip_size);
            let labels =
                pipeline::segment_cells(fusion, &self.learned, &chips, &grid, map, &context);
            let assignments = labels.assignments(limit);
            (labels, assignments)
        });
        let calibration = dataset.calibration.as_ref();
        let mut summary = Summary::new(classes, &assignments, chip_size, calibration);
        if is_labelled {
            summary.supports = self.check_supports(&segmentation, &grid);
        }
        summary.fine = fine
            .as_ref()
            .map(|(labels, assignments)| labels.summary(classes, assignments, &grid, calibration));
        let report = self.class_report(&summary, &assignments, &measured, calibration);
        Ok(Classified {
            grid,
            segmentation,
            assignments,
            fine,
            summary,
            report,
            range,
        })
    }

    /// The leave-one-out check of the supports, on the labelled image's `segmentation`: none
    /// when some supports lie on the project's other images, as the check takes every support
    /// for a chip of the image segmented.
    fn check_supports(
        &self,
        segmentation: &Segmentation,
        grid: &ChipGrid,
    ) -> Option<SupportReport> {
        let classes = &self.session.classes;
        if classes.iter().any(|class| !class.elsewhere.is_empty()) {
            return None;
        }
        let names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
        let supports = &self.learned[0].classes;
        let quality = SupportQuality::leave_one_out(segmentation, supports);
        Some(quality.report(&names, grid.cols()))
    }

    /// Each class's shares, with the marked elements' line counts and the column spacing where
    /// the spectra and atoms were measured.
    fn class_report(
        &self,
        summary: &Summary,
        assignments: &[Option<usize>],
        measured: &[Measured],
        calibration: Option<&Calibration>,
    ) -> ClassReport {
        measured.iter().fold(
            ClassReport::new(summary, assignments),
            |report, measure| match measure {
                Measured::Spectra(chips, _) => {
                    let elements = self.session.spectra.as_ref().map(|s| s.elements.as_slice());
                    report.with_spectra(chips, elements.unwrap_or_default())
                }
                Measured::Atoms(chips, _) => report.with_atoms(chips, calibration),
                Measured::Image(_) => report,
            },
        )
    }

    /// The spectral chips of the image at `path`: from its `--spectra` file, else from its
    /// own spectrum image.
    fn measure_spectra(
        &self,
        dataset: &Dataset,
        grid: &ChipGrid,
        own: Option<SpectralFile>,
        path: &Path,
        given: Option<GivenSpectra>,
    ) -> Result<Measured<'static>> {
        let (map, spectra_name) = match (given, own) {
            (Some(GivenSpectra::File(file)), _) => (
                Cow::Owned(map_of(read_spectral(file, None, 1)?, file)?),
                file.display().to_string(),
            ),
            (Some(GivenSpectra::Map(map)), _) => (Cow::Borrowed(map), "given".to_string()),
            (None, Some(file)) => (Cow::Owned(map_of(file, path)?), path.display().to_string()),
            (None, None) => bail!(
                "the session weights the spectral modality; give this image's spectrum image \
                 with --spectra FILE"
            ),
        };
        let chips = SpectralChips::for_image(&map, dataset, grid)
            .with_context(|| format!("the spectrum image {spectra_name} does not fit it"))?;
        let model = self.spectra.as_ref().expect("learned with the spectra");
        let vectors = model.vectors(&chips);
        Ok(Measured::Spectra(chips, vectors))
    }

    /// Writes the result files of `stem`: `classified`, drawn over `image`.
    fn write(&self, stem: &str, classified: &Classified, image: &Image) -> Result<()> {
        let results = Results {
            grid: &classified.grid,
            classes: &self.session.classes,
            segmentation: &classified.segmentation,
            assignments: &classified.assignments,
            fine: classified
                .fine
                .as_ref()
                .map(|(labels, assignments)| FineResults {
                    labels,
                    assignments,
                }),
        };
        let backdrop = Backdrop {
            image,
            range: classified.range,
            opacity: self.session.view.overlay_opacity,
        };
        for file in results.files() {
            let bytes = results.export(file, &classified.summary, backdrop);
            self.save(&file.file_name(stem), bytes)?;
        }
        Ok(())
    }

    /// Writes `bytes` as the file `name` in the output folder.
    fn save(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<()> {
        save_in(&self.out, name, bytes)
    }

    /// Where output file `name` goes.
    fn out_path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

/// Writes output file `name` into the folder `out`.
fn save_in(out: &Path, name: &str, bytes: impl AsRef<[u8]>) -> Result<()> {
    let path = out.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a series' fractions table and chart (STEM-fractions.csv and .svg) into `out` from
/// its segmented frames' (index, time, summary), in frame order; refused when none was.
pub fn write_fractions(
    out: &Path,
    stem: &str,
    frames: &[(usize, Option<f64>, Summary)],
) -> Result<FractionTable> {
    let table = FractionTable::of_frames(frames).map_err(anyhow::Error::msg)?;
    for (suffix, text) in [("csv", table.to_csv()), ("svg", table.chart_svg())] {
        save_in(out, &format!("{stem}-fractions.{suffix}"), text)?;
    }
    Ok(table)
}

/// One image classified with a session.
pub struct Classified {
    /// Its chips.
    pub grid: ChipGrid,
    /// Each chip's fused distance to each class.
    pub segmentation: Segmentation,
    /// Each chip's class; none beyond the session's distance for "unassigned".
    pub assignments: Vec<Option<usize>>,
    /// In the dense embedding mode, the cells classified within the chips, with their classes.
    pub fine: Option<(FineLabels, Vec<Option<usize>>)>,
    /// Each class's share (and the support check on the labelled image).
    pub summary: Summary,
    /// Each class's share with its spacings and line counts where measured.
    pub report: ClassReport,
    /// The display range the overlay is drawn over.
    range: DisplayRange,
}

/// What segmenting one file gave.
pub enum Segmented {
    /// A single image: its summary and class report.
    Image(Box<Summary>, ClassReport),
    /// A frame series.
    Series(SeriesOutcome),
}

/// How segmenting one file went, once reported.
enum Outcome {
    /// A single image, with its summary and class report.
    Image(Box<Summary>, ClassReport),
    /// A frame series, every frame segmented.
    Series,
    /// The file, or a frame of it, failed.
    Failed,
}

/// A frame series segmented: the fractions of the frames that could be, and how many could not.
pub struct SeriesOutcome {
    /// Each frame's class fractions.
    pub table: FractionTable,
    /// The frames in the series.
    pub frames: usize,
    /// The frames that could not be segmented.
    pub failed: usize,
}

/// The spectra of an image: its own spectrum image (a spectral file's) and one given apart.
struct Spectra<'a> {
    own: Option<SpectralFile>,
    given: Option<GivenSpectra<'a>>,
}

/// An image's spectrum image, given apart from the image's own file.
pub enum GivenSpectra<'a> {
    /// A spectrum-image file (`--spectra`).
    File(&'a Path),
    /// A spectrum image in memory (from Python).
    Map(&'a SpectrumImage),
}

/// How messages name frame `index` of the `frames` of the series `stem`.
fn frame_label(stem: &str, index: usize, frames: usize) -> String {
    format!("{stem} frame {}/{frames}", index + 1)
}

/// Prints an image's class counts, its fine shares and the support check.
fn describe_image(path: &Path, summary: &Summary) {
    let counts: Vec<String> = summary
        .rows()
        .map(|share| format!("{} {}", share.name, summary.describe(share)))
        .collect();
    println!("{}: {}", path.display(), counts.join("; "));
    if let Some(fine) = &summary.fine {
        let shares: Vec<String> = fine
            .shares
            .iter()
            .filter(|share| share.fraction > 0.0)
            .map(|share| format!("{} {:.1} %", share.name, share.fraction * 100.0))
            .collect();
        println!("  fine ({}-px cells): {}", fine.cell_px, shares.join("; "));
    }
    if let Some(supports) = &summary.supports {
        println!("  {}", describe_supports(supports));
    }
}

/// Prints a series' frame count and each class's fraction in its first and last frames.
fn describe_series(path: &Path, stem: &str, series: &SeriesOutcome) {
    let rows = series.table.rows();
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let changes: Vec<String> = series
        .table
        .names()
        .enumerate()
        .filter(|(k, _)| first.fractions[*k] > 0.0 || last.fractions[*k] > 0.0)
        .map(|(k, name)| {
            let percent = |row: &FrameShares| format!("{:.1} %", row.fractions[k] * 100.0);
            format!("{name} {} → {}", percent(first), percent(last))
        })
        .collect();
    let failed = match series.failed {
        0 => String::new(),
        n => format!(", {n} failed"),
    };
    println!(
        "{}: {} of {} frames segmented{failed}; frame {} → {}: {}; {stem}-fractions.csv",
        path.display(),
        rows.len(),
        series.frames,
        first.frame + 1,
        last.frame + 1,
        changes.join("; ")
    );
}

/// The support check in a line: the leave-one-out score and each support it flags.
fn describe_supports(report: &SupportReport) -> String {
    let score = match report.accuracy {
        Some(accuracy) => format!(
            "{}/{} right by leave-one-out ({:.0} %)",
            report.correct,
            report.checked,
            accuracy * 100.0
        ),
        None => "none checked by leave-one-out (every class has one support)".to_string(),
    };
    let flagged: Vec<String> = report
        .flagged
        .iter()
        .map(|f| {
            format!(
                "[{}, {}] {} looks like {}",
                f.cell[0], f.cell[1], f.class, f.closer_to
            )
        })
        .collect();
    match flagged.is_empty() {
        true => format!("supports: {score}"),
        false => format!("supports: {score}; check {}", flagged.join(", ")),
    }
}

/// The display range the session recorded, exactly.
fn recorded_range(session: &Session) -> DisplayRange {
    let [low, high] = session.display.range;
    DisplayRange { low, high }
}
