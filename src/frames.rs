//! A frame series opened in the page (a multi-page TIFF or an MRC stack): the frame the slider
//! shows, and the session applied to every frame in turn — each frame decoded, embedded and
//! classified with the prototypes learned on the frame on screen (the first), one at a time,
//! into the fractions table the panel plots and exports.

use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use chipscope_core::dataset::{Dataset, significant};
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::formats::series::Series;
use chipscope_core::formats::{DecodeError, Limits};
use chipscope_core::fusion::{Fusion, Modality};
use chipscope_core::grid::ChipGrid;
use chipscope_core::labels::ClassLabel;
use chipscope_core::pipeline::{self, ChipMeasure, Learned};
use chipscope_core::results::Summary;
use chipscope_core::series::FractionTable;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::embedding::EmbeddingState;
use crate::labelling::LabelState;

/// A file of several frames, kept to decode any of them.
pub struct SeriesFile {
    /// The load of the image on screen it belongs to ([`crate::app::Loaded::id`]).
    pub load_id: u64,
    /// The file's bytes.
    bytes: Vec<u8>,
    /// How many frames there are.
    pub frames: usize,
    /// The format's name.
    pub format: &'static str,
    /// When each frame was recorded, seconds after the first, where the file says.
    pub times: Vec<Option<f64>>,
}

/// One load's series is one series (its bytes are never compared).
impl PartialEq for SeriesFile {
    fn eq(&self, other: &Self) -> bool {
        self.load_id == other.load_id
    }
}

impl SeriesFile {
    /// The frames, to decode one at a time.
    pub fn open(&self) -> Result<Series<'_>, DecodeError> {
        Series::open(&self.bytes, &Limits::default())?
            .ok_or_else(|| DecodeError::corrupt(self.format, "it no longer holds frames"))
    }

    /// Frame `index` (from 0), decoded.
    pub fn frame(&self, index: usize) -> Result<Dataset, DecodeError> {
        self.open()?.frame(index)
    }

    /// "0.5 s apart", "over 12 s", or that the file records no times.
    pub fn describe_times(&self) -> String {
        let times: Option<Vec<f64>> = self.times.iter().copied().collect();
        let Some(times) = times.filter(|t| t.len() > 1) else {
            return "no times recorded".into();
        };
        let steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let even = steps
            .iter()
            .all(|&s| (s - steps[0]).abs() <= 1e-6 * steps[0].abs().max(1.0));
        match even {
            true => format!("{} s apart", significant(steps[0], 4)),
            false => format!("over {} s", significant(times[times.len() - 1], 4)),
        }
    }
}

/// The session applied to every frame: how far it got and what it found.
#[derive(Clone, Default)]
pub struct SeriesRun {
    /// Frames done (segmented or failed).
    pub done: usize,
    /// Each class's fractions per frame segmented.
    pub table: Option<FractionTable>,
    /// Each frame's chip classes, once segmented.
    pub assignments: Vec<Option<Arc<Vec<Option<usize>>>>>,
    /// Frames that could not be segmented, with why.
    pub failures: Vec<String>,
    /// Whether it is still going.
    pub running: bool,
}

/// The series on screen and the run over its frames.
#[derive(Clone, Copy)]
pub struct FramesState {
    /// The series among the project's images (at most the one opened, without a project).
    opened: RwSignal<Vec<Arc<SeriesFile>>>,
    /// The series of the image on screen, if its file has several frames.
    pub series: Memo<Option<Arc<SeriesFile>>>,
    /// The frame the slider shows, from 0.
    pub shown: RwSignal<usize>,
    /// The last run over the frames, and its results.
    pub run: RwSignal<Option<SeriesRun>>,
    /// Why no run could start.
    pub error: RwSignal<Option<String>>,
    cancel: StoredValue<Rc<Cell<bool>>, LocalStorage>,
}

impl FramesState {
    /// No series; one follows the image on screen once [`Self::offer`]ed.
    pub fn new(app: AppState) -> Self {
        let opened: RwSignal<Vec<Arc<SeriesFile>>> = RwSignal::new(Vec::new());
        let series = Memo::new(move |_| {
            let id = app.loaded.with(|l| l.as_ref().map(|l| l.id))?;
            opened.with(|all| all.iter().find(|series| series.load_id == id).cloned())
        });
        Self {
            opened,
            series,
            shown: RwSignal::new(0),
            run: RwSignal::new(None),
            error: RwSignal::new(None),
            cancel: StoredValue::new_local(Rc::new(Cell::new(false))),
        }
    }

    /// Keeps `bytes`, the file of the image just shown (a new project), when it is a series of
    /// frames.
    pub fn offer(&self, app: AppState, bytes: &[u8]) {
        self.leave();
        let Some(load_id) = app.loaded.with_untracked(|l| l.as_ref().map(|l| l.id)) else {
            return;
        };
        self.opened
            .set(series_file(load_id, bytes).into_iter().collect());
    }

    /// Keeps `bytes`, the file of project image `load_id`, when it is a series of frames.
    pub fn keep(&self, load_id: u64, bytes: &[u8]) {
        if let Some(series) = series_file(load_id, bytes) {
            self.opened.update(|all| all.push(series));
        }
    }

    /// Whether project image `load_id` is a series of frames (read untracked).
    pub fn holds(&self, load_id: u64) -> bool {
        self.opened
            .with_untracked(|all| all.iter().any(|series| series.load_id == load_id))
    }

    /// Another image is shown: the run stops and its results go, the slider returns to frame 1.
    pub fn leave(&self) {
        self.stop();
        self.run.set(None);
        self.error.set(None);
        self.shown.set(0);
    }

    /// Stops a run under way after the frame it is on.
    pub fn stop(&self) {
        self.cancel.with_value(|cancel| cancel.set(true));
    }

    /// Applies the labels on screen to every frame: the prototypes are learned from the image
    /// on screen (the first frame), with the supports on the project's other images, and each
    /// frame's chips measured by the image modality.
    pub fn segment_all(&self, app: AppState, embedding: EmbeddingState, labels: LabelState) {
        self.error.set(None);
        match self.prepare(app, embedding, labels) {
            Ok(plan) => {
                let state = *self;
                let cancel = Rc::new(Cell::new(false));
                self.cancel.update_value(|c| {
                    c.set(true);
                    *c = cancel.clone();
                });
                spawn_local(async move { state.run_frames(app, embedding, plan, &cancel).await });
            }
            Err(message) => self.error.set(Some(message)),
        }
    }

    /// What every frame is classified with, or why the frames cannot be segmented yet.
    fn prepare(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        labels: LabelState,
    ) -> Result<Plan, String> {
        let series = self
            .series
            .get_untracked()
            .ok_or("no frame series is open")?;
        let fusion = labels.fusion.get_untracked();
        if fusion.weighs(Modality::Atoms) || fusion.weighs(Modality::Spectra) {
            return Err(
                "the page segments frames by the image alone: set the atoms and spectra \
                        weights to 0 (chipscope segment fuses the atom modality over a series)"
                    .into(),
            );
        }
        let current = labels.labels();
        let grid = untrack(|| app.grid()).ok_or("the chip size does not fit the frames")?;
        let key = untrack(|| embedding.current_key(&app)).ok_or("no encoder is selected")?;
        let embedded = embedding.embeddings(&key);
        let (true, Some(first)) = (current.is_ready(), embedded) else {
            return Err("label every class on this frame first".into());
        };
        let learned = labels.image_prototypes(app, embedding, key.dataset, &first)?;
        let pixel_nm = app.loaded.with_untracked(|loaded| {
            let calibration = loaded.as_ref()?.dataset.calibration.as_ref()?;
            calibration.pixel_nm()
        });
        Ok(Plan {
            series,
            learned,
            pixel_nm,
            first,
            fusion,
            classes: current.classes,
            grid,
            stretch: app.stretch.get_untracked(),
            unassigned_beyond: labels.unassigned_beyond.get_untracked(),
        })
    }

    async fn run_frames(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        plan: Plan,
        cancel: &Cell<bool>,
    ) {
        let frames = plan.series.frames;
        self.run.set(Some(SeriesRun {
            assignments: vec![None; frames],
            running: true,
            ..SeriesRun::default()
        }));
        // One open series for the run: formats read whole (EMD) are then read once.
        let mut series = plan.series.open();
        for index in 0..frames {
            if cancel.get() {
                break;
            }
            let dataset = match &mut series {
                Ok(series) => series.frame(index).map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            let dataset = dataset.and_then(|dataset| at_scale(dataset, plan.pixel_nm));
            let outcome = match dataset {
                Ok(dataset) => {
                    self.segment_frame(app, embedding, &plan, (index, &dataset), cancel)
                        .await
                }
                Err(message) => Err(message),
            };
            self.run.update(|run| {
                let Some(run) = run else { return };
                run.done = index + 1;
                match outcome {
                    Ok(Some((summary, assignments))) => {
                        let time = plan.series.times[index];
                        run.table
                            .get_or_insert_with(|| FractionTable::new(&summary))
                            .push(index, time, &summary);
                        run.assignments[index] = Some(Arc::new(assignments));
                    }
                    Ok(None) => {}
                    Err(message) => run.failures.push(format!("frame {}: {message}", index + 1)),
                }
            });
            // Let the page draw the row just added.
            TimeoutFuture::new(0).await;
        }
        self.run.update(|run| {
            if let Some(run) = run {
                run.running = false;
            }
        });
    }

    /// Frame `index`, `dataset`, measured and classified: its summary and chip classes; `None`
    /// when cancelled.
    async fn segment_frame(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        plan: &Plan,
        (index, dataset): (usize, &Dataset),
        cancel: &Cell<bool>,
    ) -> Result<Option<(Summary, Vec<Option<usize>>)>, String> {
        let image = &dataset.image;
        if (image.width(), image.height()) != plan.grid.image_size() {
            return Err("its size differs from the first frame's".into());
        }
        // The first frame is the image on screen: its chips are embedded already.
        let vectors = match index {
            0 => Cow::Borrowed(plan.first.as_ref()),
            _ => {
                let range = DisplayRange::of(image, plan.stretch);
                let input = (image, range, &plan.grid);
                match embedding.embed_other(app, input, cancel).await? {
                    Some(vectors) => Cow::Owned(vectors),
                    None => return Ok(None),
                }
            }
        };
        let measure = ChipMeasure::euclidean(Modality::Image, &vectors);
        let learned = std::slice::from_ref(&plan.learned);
        let segmentation = pipeline::segment(&plan.fusion, learned, &[measure], None);
        let assignments = segmentation.assignments(plan.unassigned_beyond);
        let calibration = dataset.calibration.as_ref();
        let chip_size = plan.grid.chip_size();
        let summary = Summary::new(&plan.classes, &assignments, chip_size, calibration);
        Ok(Some((summary, assignments)))
    }
}

/// A frame at the pixel size the first frame is shown at ([`Dataset::at_pixel_size`]: a movie
/// added to a project of another magnification is resampled frame by frame).
fn at_scale(frame: Dataset, pixel_nm: Option<f64>) -> Result<Dataset, String> {
    match pixel_nm {
        Some(nm) => frame
            .at_pixel_size(nm)
            .map_err(|_| "it cannot be brought to the first frame's pixel size".to_string()),
        None => Ok(frame),
    }
}

/// `bytes` as a series of frames of image `load_id`, when they are one.
fn series_file(load_id: u64, bytes: &[u8]) -> Option<Arc<SeriesFile>> {
    let series = Series::open(bytes, &Limits::default()).ok()??;
    Some(Arc::new(SeriesFile {
        load_id,
        frames: series.len(),
        format: series.format(),
        times: (0..series.len()).map(|i| series.time_s(i)).collect(),
        bytes: bytes.to_vec(),
    }))
}

/// What every frame of a run is classified with.
struct Plan {
    series: Arc<SeriesFile>,
    learned: Learned,
    /// The pixel size of the first frame as shown (a project's), which every frame is brought
    /// to.
    pixel_nm: Option<f64>,
    /// The first frame's (the image on screen's) embeddings.
    first: Rc<Embeddings>,
    fusion: Fusion,
    classes: Vec<ClassLabel>,
    grid: ChipGrid,
    stretch: Stretch,
    unassigned_beyond: Option<f32>,
}
