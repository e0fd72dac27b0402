//! The session file: one versioned JSON document, written and read by the page and the CLI,
//! holding everything needed to reproduce a segmentation — the data it was made on, the grid,
//! the encoder, the classes with their support chips, and the display and view settings.
//! The schema is documented in the README ("Session file").

use crate::atoms::AtomParams;
use crate::display::Stretch;
use crate::encoders::dense::EmbeddingMode;
use crate::fusion::{Fusion, Modality};
use crate::grid::{ChipGrid, MIN_CHIP_SIZE};
use crate::guide::proposals::ProposalSettings;
use crate::hashing::sha256_hex;
use crate::labels::{ClassLabel, Labels};
use crate::spectra::lines::lines_of;
use crate::spectra::modality::SpectralEncoder;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use thiserror::Error;

/// The `format` field every session file carries.
pub const FORMAT: &str = "chipscope-session";
/// The schema version this build writes and the newest it reads (version 2 added data from a
/// URL and labelling tasks, version 3 the atom modality's settings, version 4 the spectral
/// modality's, version 5 the embedding mode, version 6 the class proposal, version 7 projects of
/// several images; older files read unchanged, and as embedded per chip).
pub const VERSION: u32 = 7;
/// The most images a project's session may list besides its first.
pub const MAX_PROJECT_IMAGES: usize = 1000;
/// The most clusters a session's proposal may ask for.
pub const MAX_PROPOSED_CLUSTERS: usize = 64;
/// Session files above this size are refused before parsing.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A whole session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Always [`FORMAT`]; a file with anything else is refused.
    pub format: String,
    /// The schema version the file was written with, 1 to [`VERSION`].
    pub version: u32,
    /// The micrograph the supports were clicked on (a project's first image).
    pub source: DataSource,
    /// A project's other images, which the classes' supports `elsewhere` lie on; every image
    /// is chipped at the first image's pixel size when calibrated ([`crate::dataset::Dataset::resampled`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<DataSource>,
    /// The chip grid laid on the micrograph.
    pub grid: GridSettings,
    /// The image encoder that made the chips' embeddings.
    pub encoder: EncoderRef,
    /// The contrast the chips were encoded with.
    pub display: DisplaySettings,
    /// How results are shown, and the distance beyond which chips stay unassigned.
    pub view: ViewSettings,
    /// The classes in order, each with its colour and support chips.
    pub classes: Vec<ClassLabel>,
    /// How the modalities are combined and weighed.
    pub fusion: Fusion,
    /// The atom column search, present when the atom modality is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atoms: Option<AtomSettings>,
    /// The spectrum image and its encoder, present when a spectrum image was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectra: Option<SpectralSettings>,
    /// Present when the session is a crowd-labelling task or a labeller's answer to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// The clustering that proposed classes, when one is shown: its k and seed reproduce it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalSettings>,
}

/// The data the supports were clicked on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// A file the user opened, identified by its bytes.
    File {
        /// The file name, without its folder.
        name: String,
        /// The file's length, bytes.
        size: u64,
        /// The sha256 of the file's bytes, 64 hex digits.
        sha256: String,
    },
    /// A file downloaded from a public http(s) address, identified by its bytes.
    Url {
        /// The http(s) address it was downloaded from, at most 2048 characters.
        url: String,
        /// The file name: the last segment of the address's path (its host when it has none).
        name: String,
        /// The downloaded file's length, bytes.
        size: u64,
        /// The sha256 of the downloaded bytes, 64 hex digits.
        sha256: String,
    },
    /// The simulated example micrograph (`simulate::heterostructure(size, seed)`).
    Example {
        /// The image's side, pixels.
        size: usize,
        /// The random seed the example was simulated with.
        seed: u64,
    },
}

impl DataSource {
    /// A local file's source: its name, size and sha256.
    pub fn of_file(name: &str, bytes: &[u8]) -> DataSource {
        DataSource::File {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    /// The file's name, for a file or a download; none for the example.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            DataSource::File { name, .. } | DataSource::Url { name, .. } => Some(name),
            DataSource::Example { .. } => None,
        }
    }

    /// "multi_signal.dm3 (1.2 MB, sha256 3f2a…)".
    pub fn describe(&self) -> String {
        match self {
            DataSource::File { name, size, sha256 } => format!(
                "{name} ({:.1} MB, sha256 {}…)",
                *size as f64 / 1e6,
                &sha256[..12.min(sha256.len())]
            ),
            DataSource::Url {
                url, size, sha256, ..
            } => format!(
                "{url} ({:.1} MB, sha256 {}…)",
                *size as f64 / 1e6,
                &sha256[..12.min(sha256.len())]
            ),
            DataSource::Example { size, seed } => {
                format!("the simulated example ({size} px, seed {seed})")
            }
        }
    }

    /// What identifies the data itself, wherever it came from: the sha256 of a file's bytes
    /// (a file and its copy on a web server are the same data), or the example's size and
    /// seed. Autosaves and merges match sessions by it.
    pub fn identity(&self) -> String {
        match self {
            DataSource::File { sha256, .. } | DataSource::Url { sha256, .. } => {
                format!("sha256:{sha256}")
            }
            DataSource::Example { size, seed } => format!("example:{size}:{seed}"),
        }
    }
}

/// A crowd-labelling task: what the coordinator asks labellers to do, and in a labeller's
/// answer, who answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Ties the answers to their task (random hex, made by the coordinator's page).
    pub id: String,
    /// A short title shown to labellers, at most 200 characters.
    pub title: String,
    /// What the labellers are asked to do, in plain text, at most 5000 characters.
    pub instructions: String,
    /// Chips the labellers are asked to label, `[row, col]`; empty: any chips they choose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chips: Vec<[usize; 2]>,
    /// Chips whose class the coordinator knows, to score labellers. They stay in the
    /// coordinator's copy: task links and files for labellers leave them out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference: Vec<ReferenceChip>,
    /// The labeller's name, in an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labeller: Option<String>,
}

/// A chip with a known class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceChip {
    /// The chip, `[row, col]` on the session's grid.
    pub chip: [usize; 2],
    /// The name of one of the session's classes.
    pub class: String,
}

/// The chip grid: square chips of `chip_size` pixels from `origin` (`[x, y]`, the top-left
/// corner in this version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridSettings {
    /// The side of a chip, pixels; at least [`MIN_CHIP_SIZE`].
    pub chip_size: usize,
    /// The top-left corner of the first chip, `[x, y]` pixels; only `[0, 0]` is accepted.
    pub origin: [usize; 2],
}

/// The image encoder: a shipped id (`resnet50`, `mobilenet_v2`) or a user's file, with the
/// sha256 of its weight file either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderRef {
    /// A shipped encoder's id, or `custom-` and the first 12 hex digits of a user's weight
    /// file's sha256.
    pub id: String,
    /// A name for people, such as the shipped encoder's full name or a user's file name
    /// with its architecture.
    pub name: String,
    /// The sha256 of the weight file, 64 hex digits; a segmentation checks the weights it
    /// loads against it.
    pub weights_sha256: String,
    /// How the chips were embedded (absent before version 5: per chip).
    #[serde(default)]
    pub mode: EmbeddingMode,
}

/// Contrast: the stretch rule and the black and white levels it gave (the embeddings depend
/// on them, so they are kept exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisplaySettings {
    /// The rule the levels were chosen by.
    pub stretch: Stretch,
    /// The black and white levels `[low, high]`, in the image's raw values.
    pub range: [f32; 2],
}

/// How results are shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewSettings {
    /// Opacity of the class overlay, 0–1.
    pub overlay_opacity: f32,
    /// What the overlay shows.
    pub mode: ViewMode,
    /// Chips farther than this from every prototype stay unassigned (none: every chip is
    /// assigned).
    pub unassigned_beyond: Option<f32>,
}

/// The overlay's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewMode {
    /// Class colours.
    Classes,
    /// The per-chip confidence as a colour map.
    Confidence,
    /// Class colours at the dense map's cell resolution ([`crate::fine`]); the chips' where
    /// the chips were embedded one by one.
    Fine,
}

/// The atom column search the atom modality was made with (see [`crate::atoms::AtomParams`]):
/// the spacing actually used, so every image segmented with the session shares the r grid of
/// its pair distribution functions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtomSettings {
    /// Expected nearest column spacing, pixels.
    pub spacing_px: f32,
    /// Detection threshold relative to the strongest response, 0–1.
    pub threshold: f32,
}

impl From<AtomSettings> for AtomParams {
    fn from(settings: AtomSettings) -> AtomParams {
        AtomParams {
            spacing_px: settings.spacing_px,
            threshold: settings.threshold,
        }
    }
}

impl From<AtomParams> for AtomSettings {
    fn from(params: AtomParams) -> AtomSettings {
        AtomSettings {
            spacing_px: params.spacing_px,
            threshold: params.threshold,
        }
    }
}

/// The spectral modality: which spectrum image, how its chips are encoded, and which
/// elements' lines are marked on the plots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectralSettings {
    /// The spectrum-image file (the image's own file when the image came with the map).
    pub source: DataSource,
    /// How each chip's summed spectrum becomes an embedding.
    pub encoder: SpectralEncoder,
    /// Element symbols whose X-ray lines are marked.
    #[serde(default)]
    pub elements: Vec<String>,
}

/// A session kept by the page's autosave: when, and whether it was open in the labelling view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Autosave {
    /// Milliseconds since 1970.
    pub saved_at_ms: f64,
    /// Whether the session was open in the labellers' view, which a restore reopens.
    #[serde(default)]
    pub labelling: bool,
    /// The session as it was when saved.
    pub session: Session,
}

impl Autosave {
    /// Reads an autosave written by [`Autosave::to_json`], validating its session.
    pub fn parse(text: &str) -> Result<Autosave, SessionError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SessionError::Syntax(e.to_string()))?;
        // Indexing a JSON value mutably panics unless it is an object, and the entry may have
        // been edited by hand or in the browser's tools: nothing is assumed of its shape.
        let serde_json::Value::Object(mut fields) = value else {
            return Err(SessionError::Syntax("an autosave is a JSON object".into()));
        };
        let session = fields.remove("session").unwrap_or_default();
        let session = Session::parse(&session.to_string())?;
        let saved_at_ms = fields.get("saved_at_ms").and_then(|v| v.as_f64());
        let labelling = fields.get("labelling").and_then(|v| v.as_bool());
        let (saved_at_ms, labelling) = (saved_at_ms.unwrap_or(0.0), labelling.unwrap_or(false));
        Ok(Autosave {
            saved_at_ms,
            labelling,
            session,
        })
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("sessions serialise")
    }

    /// The autosaves to delete, in order, to make room for the autosave of `current` (a data
    /// identity) when the browser's storage is full: all of `stored` (identity, stored text)
    /// but `current`'s own, unreadable ones first, then the oldest by `saved_at_ms`.
    pub fn prune_order<'a>(stored: &'a [(String, String)], current: &str) -> Vec<&'a str> {
        let mut others: Vec<(f64, &str)> = stored
            .iter()
            .filter(|(identity, _)| identity != current)
            .map(|(identity, text)| {
                let saved = Autosave::parse(text).map_or(f64::NEG_INFINITY, |a| a.saved_at_ms);
                (saved, identity.as_str())
            })
            .collect();
        others.sort_by(|a, b| a.0.total_cmp(&b.0));
        others.into_iter().map(|(_, identity)| identity).collect()
    }
}

/// Why a session file cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum SessionError {
    /// The text is longer than [`MAX_BYTES`].
    #[error("the session file is larger than 16 MB; it is not a Chipscope session")]
    TooLarge,
    /// The text is not JSON; the parser's message.
    #[error("the session file is damaged or not JSON ({0})")]
    Syntax(String),
    /// The `format` field is not [`FORMAT`]; what it is, or `missing`.
    #[error("not a Chipscope session file (its format field is {0:?})")]
    WrongFormat(String),
    /// The file was written by a newer Chipscope; its version.
    #[error(
        "the session file has version {0}; this Chipscope reads version {VERSION} — update Chipscope"
    )]
    NewerVersion(u32),
    /// A field is missing, malformed or out of range; which and why.
    #[error("the session file is damaged: {0}")]
    Invalid(String),
    /// The grid cannot be laid on the image, or a support lies outside it; why.
    #[error("the session's grid does not fit this image: {0}")]
    GridMismatch(String),
}

impl Session {
    /// Parses and checks a session file.
    pub fn parse(text: &str) -> Result<Session, SessionError> {
        if text.len() > MAX_BYTES {
            return Err(SessionError::TooLarge);
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SessionError::Syntax(e.to_string()))?;
        let format = value.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT) {
            return Err(SessionError::WrongFormat(
                format.unwrap_or("missing").to_string(),
            ));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v > VERSION as u64 => {
                return Err(SessionError::NewerVersion(v.min(u32::MAX as u64) as u32));
            }
            Some(0) | None => return Err(SessionError::Invalid("no version".into())),
            _ => {}
        }
        let session: Session =
            serde_json::from_value(value).map_err(|e| SessionError::Invalid(e.to_string()))?;
        session.check().map_err(SessionError::Invalid)?;
        Ok(session)
    }

    /// The session as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("sessions serialise")
    }

    /// The session as labellers get it: the task without its reference chips, no supports and
    /// no class proposal (they label by hand).
    pub fn for_labellers(&self) -> Session {
        let mut session = self.clone();
        if let Some(task) = &mut session.task {
            task.reference.clear();
            task.labeller = None;
        }
        session.classes.iter_mut().for_each(|c| c.supports.clear());
        session.proposal = None;
        session
    }

    /// Whether the session records the settings `modality` needs (the image always has them:
    /// the encoder).
    pub fn records(&self, modality: Modality) -> bool {
        match modality {
            Modality::Image => true,
            Modality::Atoms => self.atoms.is_some(),
            Modality::Spectra => self.spectra.is_some(),
        }
    }

    /// The classes and supports as labels on the session's grid.
    pub fn labels(&self) -> Labels {
        Labels {
            chip_size: self.grid.chip_size,
            classes: self.classes.clone(),
        }
    }

    /// Checks that the session's grid can be laid on a `width × height` image and every
    /// support lies inside it.
    pub fn grid_on(&self, width: usize, height: usize) -> Result<ChipGrid, SessionError> {
        let grid = ChipGrid::new(width, height, self.grid.chip_size)
            .map_err(|e| SessionError::GridMismatch(e.to_string()))?;
        let outside = self
            .classes
            .iter()
            .flat_map(|class| &class.supports)
            .find(|[row, col]| *row >= grid.rows() || *col >= grid.cols());
        match outside {
            Some([row, col]) => Err(SessionError::GridMismatch(format!(
                "support chip [{row}, {col}] is outside the {}",
                grid.layout_summary()
            ))),
            None => Ok(grid),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.grid.chip_size < MIN_CHIP_SIZE {
            return Err(format!("chip size {} px is too small", self.grid.chip_size));
        }
        if self.grid.origin != [0, 0] {
            return Err("grids not starting at the top-left corner are not supported".into());
        }
        if !sha_ok(&self.encoder.weights_sha256) {
            return Err("the encoder's weights sha256 is not 64 hex digits".into());
        }
        if let EmbeddingMode::Dense(dense) = &self.encoder.mode
            && !EmbeddingMode::SCALES.contains(&dense.scale)
        {
            return Err(format!("dense scale {} is not 1, 2 or 4", dense.scale));
        }
        check_source(&self.source)?;
        self.check_images()?;
        let [low, high] = self.display.range;
        if !low.is_finite() || !high.is_finite() {
            return Err("the display range is not finite".into());
        }
        if !(0.0..=1.0).contains(&self.view.overlay_opacity) {
            return Err("the overlay opacity is outside 0–1".into());
        }
        if let Some(limit) = self.view.unassigned_beyond
            && !(limit.is_finite() && limit >= 0.0)
        {
            return Err("the unassigned distance is not a non-negative number".into());
        }
        if self
            .fusion
            .weights
            .values()
            .any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err("a modality weight is not a non-negative number".into());
        }
        if let Some(atoms) = &self.atoms {
            check_atoms(atoms)?;
        }
        if let Some(spectra) = &self.spectra {
            check_spectra(spectra)?;
        }
        if let Some(proposal) = &self.proposal
            && !(1..=MAX_PROPOSED_CLUSTERS).contains(&proposal.k)
        {
            return Err(format!(
                "the proposal's {} clusters are not 1 to {MAX_PROPOSED_CLUSTERS}",
                proposal.k
            ));
        }
        self.check_classes()?;
        self.task
            .as_ref()
            .map_or(Ok(()), |task| self.check_task(task))
    }

    fn check_images(&self) -> Result<(), String> {
        if self.images.len() > MAX_PROJECT_IMAGES {
            return Err(format!("more than {MAX_PROJECT_IMAGES} project images"));
        }
        let mut identities = HashSet::from([self.source.identity()]);
        for image in &self.images {
            check_source(image)?;
            if !identities.insert(image.identity()) {
                return Err(format!("{} is listed twice", image.describe()));
            }
        }
        if self.task.is_some() && !self.images.is_empty() {
            return Err("a labelling task covers one image".into());
        }
        let elsewhere = self.classes.iter().flat_map(|class| &class.elsewhere);
        match elsewhere
            .clone()
            .find(|s| !identities.contains(&s.image) || s.image == self.source.identity())
        {
            Some(support) => Err(format!(
                "a support lies on {:?}, which is not one of the project's other images",
                support.image
            )),
            None if !unique(elsewhere) => Err("a chip of another image is a support twice".into()),
            None => Ok(()),
        }
    }

    /// The project's images: the first (`source`), then the others.
    pub fn all_images(&self) -> impl Iterator<Item = &DataSource> {
        std::iter::once(&self.source).chain(&self.images)
    }

    fn check_task(&self, task: &Task) -> Result<(), String> {
        let short = |text: &str, limit: usize| text.chars().count() <= limit;
        if task.id.is_empty() || !short(&task.id, 64) || !short(&task.title, 200) {
            return Err("the task's id or title is empty or too long".into());
        }
        if !short(&task.instructions, 5000) {
            return Err("the task's instructions are longer than 5000 characters".into());
        }
        if task.labeller.as_ref().is_some_and(|name| !short(name, 100)) {
            return Err("the labeller's name is longer than 100 characters".into());
        }
        if !unique(task.chips.iter().copied()) || !unique(task.reference.iter().map(|r| r.chip)) {
            return Err("the task lists a chip twice".into());
        }
        match task
            .reference
            .iter()
            .find(|r| !self.classes.iter().any(|c| c.name == r.class))
        {
            Some(r) => Err(format!("reference chip {:?} names no class", r.chip)),
            None => Ok(()),
        }
    }

    fn check_classes(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for class in &self.classes {
            if class.name.trim().is_empty() || class.name.chars().count() > 200 {
                return Err("a class name is empty or longer than 200 characters".into());
            }
            for support in &class.supports {
                if !seen.insert(*support) {
                    return Err(format!(
                        "chip {support:?} is a support of two classes or twice of one"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether no item comes twice.
fn unique<T: Eq + std::hash::Hash>(items: impl IntoIterator<Item = T>) -> bool {
    let mut seen = HashSet::new();
    items.into_iter().all(|item| seen.insert(item))
}

fn sha_ok(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_atoms(atoms: &AtomSettings) -> Result<(), String> {
    if !(atoms.spacing_px.is_finite() && (2.0..=512.0).contains(&atoms.spacing_px)) {
        return Err("the atom spacing is not between 2 and 512 px".into());
    }
    if !(atoms.threshold.is_finite() && (0.0..=1.0).contains(&atoms.threshold)) {
        return Err("the atom threshold is outside 0–1".into());
    }
    Ok(())
}

fn check_spectra(spectra: &SpectralSettings) -> Result<(), String> {
    check_source(&spectra.source)?;
    spectra.encoder.check()?;
    match spectra.elements.iter().find(|e| lines_of(e).is_empty()) {
        Some(element) => Err(format!("{element:?} is not an element with X-ray lines")),
        None if spectra.elements.len() > 20 => Err("more than 20 marked elements".into()),
        None => Ok(()),
    }
}

fn check_source(source: &DataSource) -> Result<(), String> {
    match source {
        DataSource::File { sha256, .. } if !sha_ok(sha256) => {
            Err("the data file's sha256 is not 64 hex digits".into())
        }
        DataSource::Url { url, sha256, .. } => {
            let web = url.starts_with("https://") || url.starts_with("http://");
            match (web && url.len() <= 2048, sha_ok(sha256)) {
                (false, _) => {
                    Err("the data URL is not an http(s) address under 2048 characters".into())
                }
                (_, false) => Err("the data file's sha256 is not 64 hex digits".into()),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// A valid session on a 4-column file, for tests.
#[cfg(test)]
pub(crate) fn sample() -> Session {
    use crate::encoders::dense::DenseSettings;
    use crate::labels::Colour;
    Session {
        format: FORMAT.into(),
        version: VERSION,
        images: Vec::new(),
        source: DataSource::File {
            name: "multi_signal.dm3".into(),
            size: 1234,
            sha256: "ab".repeat(32),
        },
        grid: GridSettings {
            chip_size: 64,
            origin: [0, 0],
        },
        encoder: EncoderRef {
            id: "mobilenet_v2".into(),
            name: "MobileNetV2".into(),
            weights_sha256: "cd".repeat(32),
            mode: EmbeddingMode::Dense(DenseSettings {
                stage: "features.6".into(),
                scale: 2,
            }),
        },
        display: DisplaySettings {
            stretch: Stretch::default(),
            range: [1.5, 900.0],
        },
        view: ViewSettings {
            overlay_opacity: 0.5,
            mode: ViewMode::Classes,
            unassigned_beyond: None,
        },
        classes: vec![ClassLabel {
            name: "vacuum, top".into(),
            colour: Colour([1, 2, 3]),
            supports: vec![[0, 0], [1, 3]],
            elsewhere: vec![],
        }],
        fusion: Fusion::default(),
        atoms: None,
        spectra: None,
        task: None,
        proposal: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::FusionMode;
    use crate::labels::{Cell, ImageChip};

    fn example() -> Session {
        sample()
    }

    #[test]
    fn a_full_storage_loses_the_oldest_autosaves_first_never_the_current_one() {
        let saved = |saved_at_ms: f64| {
            let session = example();
            Autosave {
                saved_at_ms,
                labelling: false,
                session,
            }
            .to_json()
        };
        let stored: Vec<(String, String)> = [
            ("b", saved(2000.0)),
            ("current", saved(1.0)),
            ("c", saved(3000.0)),
            ("damaged", "{\"saved_at_ms\": 5000".to_string()),
            ("a", saved(1000.0)),
        ]
        .into_iter()
        .map(|(identity, text)| (identity.to_string(), text))
        .collect();
        assert_eq!(
            Autosave::prune_order(&stored, "current"),
            ["damaged", "a", "b", "c"]
        );
        assert!(Autosave::prune_order(&stored[1..2], "current").is_empty());
    }

    #[test]
    fn a_session_round_trips_through_json() {
        let session = example();
        let json = session.to_json();
        assert!(json.contains("\"format\": \"chipscope-session\""));
        assert!(json.contains("\"kind\": \"percentile\""));
        assert!(json.contains("\"colour\": \"#010203\""));
        assert_eq!(Session::parse(&json), Ok(session));
    }

    #[test]
    fn a_proposal_round_trips_and_a_wild_k_is_refused() {
        let mut session = example();
        session.proposal = Some(ProposalSettings { k: 4, seed: 7 });
        let json = session.to_json();
        assert!(json.contains("\"proposal\""));
        assert_eq!(Session::parse(&json), Ok(session.clone()));
        session.proposal = Some(ProposalSettings {
            k: 1_000_000,
            seed: 7,
        });
        let refused = Session::parse(&session.to_json()).unwrap_err().to_string();
        assert!(refused.contains("1000000 clusters"), "{refused}");
        assert!(
            !example().to_json().contains("proposal"),
            "absent when none is shown"
        );
    }

    #[test]
    fn tampered_sessions_get_a_reason() {
        let edited = |edit: fn(&mut Session)| {
            let mut session = example();
            edit(&mut session);
            session.to_json()
        };
        let json = example().to_json();
        let cases = [
            (json.replace("chipscope-session", "other"), "format field"),
            (
                json.replace("\"version\": 7", "\"version\": 8"),
                "version 8",
            ),
            (json.replace("#010203", "red"), "#rrggbb"),
            (json.replace(&"ab".repeat(32), "xyz"), "sha256"),
            (json[..json.len() / 2].to_string(), "damaged or not JSON"),
            ("[1, 2]".to_string(), "format field is \"missing\""),
            (
                json.replace("\"kind\": \"file\"", "\"kind\": \"disk\""),
                "damaged",
            ),
            (edited(|s| s.grid.chip_size = 4), "too small"),
            (
                edited(|s| s.classes[0].supports[1] = [0, 0]),
                "two classes or twice",
            ),
            (edited(|s| s.view.overlay_opacity = 7.5), "opacity"),
            (edited(|s| s.classes[0].name = " ".into()), "class name"),
            (
                edited(|s| s.view.unassigned_beyond = Some(-1.0)),
                "unassigned",
            ),
            (edited(|s| s.grid.origin = [3, 0]), "top-left"),
            (
                json.replace("\"scale\": 2", "\"scale\": 3"),
                "dense scale 3",
            ),
            (
                json.replace("\"kind\": \"dense\"", "\"kind\": \"sparse\""),
                "unknown variant",
            ),
            (
                edited(|s| {
                    s.source = DataSource::Url {
                        url: "javascript:alert(1)".into(),
                        name: "x".into(),
                        size: 1,
                        sha256: "ab".repeat(32),
                    }
                }),
                "http(s) address",
            ),
            (edited(|s| s.task = Some(task())), "names no class"),
            (
                edited(|s| {
                    s.atoms = Some(AtomSettings {
                        spacing_px: 0.5,
                        threshold: 0.2,
                    })
                }),
                "atom spacing",
            ),
            (
                edited(|s| {
                    s.atoms = Some(AtomSettings {
                        spacing_px: 9.0,
                        threshold: 1.5,
                    })
                }),
                "atom threshold",
            ),
            (
                edited(|s| {
                    let mut task = task();
                    task.reference.clear();
                    task.chips = vec![[0, 1], [0, 1]];
                    s.task = Some(task);
                }),
                "lists a chip twice",
            ),
            (
                edited(|s| s.images = vec![s.source.clone()]),
                "listed twice",
            ),
            (
                edited(|s| s.classes[0].elsewhere = vec![on_image("sha256:00", [0, 0])]),
                "not one of the project's other images",
            ),
            (
                edited(|s| {
                    *s = project();
                    let support = s.classes[0].elsewhere[0].clone();
                    s.classes[0].elsewhere.push(support);
                }),
                "a support twice",
            ),
            (
                edited(|s| {
                    *s = project();
                    s.task = Some(task());
                }),
                "covers one image",
            ),
        ];
        for (text, reason) in cases {
            let error = Session::parse(&text).unwrap_err().to_string();
            assert!(error.contains(reason), "{reason:?} not in {error:?}");
        }
    }

    fn on_image(image: &str, chip: Cell) -> ImageChip {
        ImageChip {
            image: image.into(),
            chip,
        }
    }

    /// The sample with a second image holding one support.
    fn project() -> Session {
        let mut session = example();
        let other = DataSource::of_file("other.tif", b"other");
        session.classes[0].elsewhere = vec![on_image(&other.identity(), [2, 3])];
        session.images = vec![other];
        session
    }

    /// A project's images and supports elsewhere survive the round trip; a version-6 file
    /// has neither.
    #[test]
    fn a_project_session_round_trips() {
        let session = project();
        let text = session.to_json();
        assert!(text.contains("\"elsewhere\""), "{text}");
        let read = Session::parse(&text).unwrap();
        assert_eq!(read, session);
        assert_eq!(read.all_images().count(), 2);
        let single = example().to_json();
        assert!(!single.contains("images") && !single.contains("elsewhere"));
    }

    fn task() -> Task {
        Task {
            id: "0123abcd".into(),
            title: "Phases".into(),
            instructions: "Label the vacuum.".into(),
            chips: vec![[0, 1], [0, 2]],
            reference: vec![ReferenceChip {
                chip: [0, 2],
                class: "nothing".into(),
            }],
            labeller: Some("Ada".into()),
        }
    }

    /// Files written before version 5 have no embedding mode: they embedded every chip on its
    /// own, and read so.
    #[test]
    fn sessions_before_version_5_read_as_per_chip() {
        let dense = example().to_json();
        assert!(dense.contains("\"mode\": {\n      \"kind\": \"dense\""));
        let mut value: serde_json::Value = serde_json::from_str(&dense).unwrap();
        value["version"] = 4.into();
        value["encoder"].as_object_mut().unwrap().remove("mode");
        let v4 = Session::parse(&value.to_string()).unwrap();
        assert_eq!(v4.encoder.mode, EmbeddingMode::PerChip);
        assert_eq!(v4.version, 4);
    }

    #[test]
    fn version_1_files_and_tasks_read() {
        let v1 = example()
            .to_json()
            .replace("\"version\": 6", "\"version\": 1");
        assert_eq!(Session::parse(&v1).unwrap().source, example().source);
        let mut session = example();
        let mut task = task();
        task.reference[0].class = "vacuum, top".into();
        session.task = Some(task);
        session.source = DataSource::Url {
            url: "https://example.org/a.dm3".into(),
            name: "a.dm3".into(),
            size: 1234,
            sha256: "ab".repeat(32),
        };
        assert_eq!(Session::parse(&session.to_json()), Ok(session.clone()));
        assert_eq!(session.source.identity(), example().source.identity());
        let for_labellers = session.for_labellers();
        let task = for_labellers.task.as_ref().unwrap();
        assert!(task.reference.is_empty() && task.labeller.is_none());
        assert_eq!(for_labellers.labels().support_count(), 0);
        assert_eq!(for_labellers.classes[0].name, "vacuum, top");
    }

    #[test]
    fn atom_settings_and_fusion_weights_round_trip() {
        let mut session = example();
        session.atoms = Some(AtomSettings {
            spacing_px: 9.75,
            threshold: 0.25,
        });
        session.fusion.mode = FusionMode::Distances;
        session.fusion.weights.insert(Modality::Atoms, 0.5);
        let read = Session::parse(&session.to_json()).unwrap();
        assert_eq!(read, session);
        assert_eq!(read.fusion.weight(Modality::Atoms), 0.5);
        assert_eq!(example().fusion.weight(Modality::Atoms), 0.0);
        assert!(!example().to_json().contains("atoms"));
    }

    #[test]
    fn a_weight_under_an_unknown_modality_name_is_refused() {
        let json = example().to_json();
        assert!(json.contains("\"image\": 1.0"), "{json}");
        let error = Session::parse(&json.replace("\"image\": 1.0", "\"Image\": 1.0")).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `Image`"),
            "{error}"
        );
    }

    #[test]
    fn spectral_settings_round_trip_and_are_checked() {
        let mut session = example();
        session.spectra = Some(SpectralSettings {
            source: session.source.clone(),
            encoder: SpectralEncoder::raw(),
            elements: vec!["Fe".into(), "s".into()],
        });
        session.fusion.weights.insert(Modality::Spectra, 2.0);
        let json = session.to_json();
        assert!(json.contains("\"kind\": \"raw\""), "{json}");
        assert_eq!(Session::parse(&json), Ok(session.clone()));
        let error = Session::parse(&json.replace("\"Fe\"", "\"Xx\"")).unwrap_err();
        assert!(
            error.to_string().contains("\"Xx\" is not an element"),
            "{error}"
        );
        let damaged = json.replace("\"normalise\": true", "\"normalise\": 3");
        assert!(Session::parse(&damaged).is_err());
        assert!(!example().to_json().contains("spectra"));
    }

    #[test]
    fn the_image_takes_part_unless_another_recorded_modality_weighs() {
        let mut session = example();
        let plan = |s: &Session| s.fusion.taking_part(|m| s.records(m));
        assert_eq!(plan(&session), [Modality::Image]);
        session.fusion.weights = [(Modality::Image, 0.0), (Modality::Atoms, 1.0)].into();
        assert_eq!(plan(&session), [Modality::Image], "atoms without settings");
        session.atoms = Some(AtomSettings {
            spacing_px: 8.0,
            threshold: 0.2,
        });
        assert_eq!(plan(&session), [Modality::Atoms]);
        session.fusion.weights.insert(Modality::Image, 0.5);
        assert_eq!(plan(&session), [Modality::Image, Modality::Atoms]);
    }

    #[test]
    fn autosaves_round_trip_and_are_validated() {
        let saved = Autosave {
            saved_at_ms: 1.7e12,
            labelling: true,
            session: example(),
        };
        assert_eq!(Autosave::parse(&saved.to_json()), Ok(saved.clone()));
        let tampered = saved.to_json().replace("#010203", "red");
        assert!(Autosave::parse(&tampered).is_err());
        assert!(Autosave::parse("{}").is_err());
    }

    #[test]
    fn supports_must_lie_inside_the_grid() {
        let session = example();
        assert!(session.grid_on(256, 128).is_ok());
        let error = session.grid_on(256, 64).unwrap_err().to_string();
        assert!(
            error.contains("[1, 3] is outside the 1 rows × 4 columns"),
            "{error}"
        );
        assert!(session.grid_on(32, 32).is_err());
    }
}
