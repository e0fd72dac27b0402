//! A project of several images in the page: the images open together (the first sets the pixel
//! size the others are resampled to) and the images a session recorded that are not open yet.
//! The supports clicked on any of them form one support set ([`crate::labelling`] joins them);
//! [`crate::project_run`] adds, switches and segments the images, [`crate::live`] watches a
//! folder into the project.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use chipscope_core::dataset::{Dataset, RescaleError, significant};
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::report::{ClassReport, ProjectReport};
use chipscope_core::results::Summary;
use chipscope_core::series::FractionTable;
use chipscope_core::session::{DataSource, Session};
use leptos::prelude::*;

use crate::app::Loaded;

/// The contrast rule the kept ranges were computed under, and each image's range, by load id.
type KnownRanges = Option<(Stretch, HashMap<u64, DisplayRange>)>;

/// One image's results in a run over the project.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageResult {
    /// The image's file name.
    pub name: String,
    /// Its chips per class.
    pub summary: Summary,
    /// Its class report.
    pub report: ClassReport,
}

/// Every image of the project segmented with the shared prototypes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectRun {
    /// Images done, in project order.
    pub images: Vec<ImageResult>,
    /// Images that could not be segmented, with why.
    pub failures: Vec<String>,
    /// Whether it is still going.
    pub running: bool,
}

impl ProjectRun {
    /// The per-image and pooled report, once an image is done.
    pub fn report(&self) -> Option<ProjectReport> {
        let images = self.images.iter();
        let named = images.map(|image| (image.name.clone(), image.report.clone()));
        (!self.images.is_empty()).then(|| ProjectReport::new(named.collect()))
    }
}

/// The project's images and the run over them.
#[derive(Clone, Copy)]
pub struct ProjectState {
    /// The open images in project order; the first is the session's source and sets the pixel
    /// size of the others.
    pub images: RwSignal<Vec<Arc<Loaded>>>,
    /// Images a session recorded that are not open: their supports are kept, and count once the
    /// file is added.
    pub missing: RwSignal<Vec<DataSource>>,
    /// Each open image's display range under the stretch on screen (what its chips are
    /// embedded with), by load id.
    pub ranges: Memo<Vec<(u64, DisplayRange)>>,
    /// The last run over every image.
    pub run: RwSignal<Option<ProjectRun>>,
    /// What went wrong adding images or segmenting them.
    pub error: RwSignal<Option<String>>,
    /// What the project is doing in the background ("embedding b.tif for its supports").
    pub status: RwSignal<Option<String>>,
    /// Why the image on screen is not classified: supports waiting for their images.
    pub waiting: RwSignal<Option<String>>,
    /// Set to stop the run under way.
    pub cancel: StoredValue<Rc<Cell<bool>>, LocalStorage>,
    /// Whether images holding supports are being embedded in the background.
    pub measuring: StoredValue<bool, LocalStorage>,
}

impl ProjectState {
    /// No images; [`Self::start`] begins a project with the image shown.
    pub fn new(stretch: RwSignal<Stretch>) -> Self {
        let images: RwSignal<Vec<Arc<Loaded>>> = RwSignal::new(Vec::new());
        // Each image's range is computed once per contrast rule, not again for every image
        // added (a watched folder adds them one by one).
        let known: StoredValue<KnownRanges, LocalStorage> = StoredValue::new_local(None);
        let ranges = Memo::new(move |_| {
            let stretch = stretch.get();
            images.with(|images| {
                let computed = known.try_update_value(|known| {
                    let (rule, ranges) = known.get_or_insert_with(|| (stretch, HashMap::new()));
                    if *rule != stretch {
                        (*rule, *ranges) = (stretch, HashMap::new());
                    }
                    let ranges_of = images.iter().map(|image| {
                        let range = *ranges
                            .entry(image.id)
                            .or_insert_with(|| DisplayRange::of(&image.dataset.image, stretch));
                        (image.id, range)
                    });
                    ranges_of.collect::<Vec<_>>()
                });
                computed.unwrap_or_default()
            })
        });
        Self {
            images,
            missing: RwSignal::new(Vec::new()),
            ranges,
            run: RwSignal::new(None),
            error: RwSignal::new(None),
            status: RwSignal::new(None),
            waiting: RwSignal::new(None),
            cancel: StoredValue::new_local(Rc::new(Cell::new(false))),
            measuring: StoredValue::new_local(false),
        }
    }

    /// A new project of the image just shown alone.
    pub fn start(&self, shown: Option<Arc<Loaded>>) {
        self.stop();
        self.images.set(shown.into_iter().collect());
        self.missing.set(Vec::new());
        self.run.set(None);
        self.error.set(None);
        self.status.set(None);
        self.waiting.set(None);
    }

    /// Takes the images `session` records besides its first: those not open are missing until
    /// their files are added. Says which, when any.
    pub fn expect(&self, session: &Session) -> Option<String> {
        let open: Vec<String> = self
            .images
            .with_untracked(|images| images.iter().map(|i| i.source.identity()).collect());
        let missing: Vec<DataSource> = session
            .images
            .iter()
            .filter(|image| !open.contains(&image.identity()))
            .cloned()
            .collect();
        self.missing.set(missing.clone());
        (!missing.is_empty()).then(|| {
            let names: Vec<String> = missing.iter().map(DataSource::describe).collect();
            format!(
                "Its supports on {} other image{} count once you add {} to the project: {}.",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                if missing.len() == 1 { "it" } else { "them" },
                names.join("; ")
            )
        })
    }

    /// Stops a run under way after the image it is on.
    pub fn stop(&self) {
        self.cancel.with_value(|cancel| cancel.set(true));
    }

    /// How many images the project has, open or recorded (read tracked).
    pub fn size(&self) -> usize {
        self.images.with(Vec::len) + self.missing.with(Vec::len)
    }

    /// The display range image `id`'s chips are embedded with (read tracked).
    pub fn range_of(&self, id: u64) -> Option<DisplayRange> {
        self.ranges.with(|ranges| {
            ranges
                .iter()
                .find(|(image, _)| *image == id)
                .map(|(_, r)| *r)
        })
    }

    /// The images a session records besides its first: the open ones in order, then the
    /// missing (read tracked).
    pub fn recorded_others(&self) -> Vec<DataSource> {
        let open = self.images.with(|images| {
            images
                .iter()
                .skip(1)
                .map(|image| image.source.clone())
                .collect::<Vec<_>>()
        });
        open.into_iter().chain(self.missing.get()).collect()
    }

    /// `dataset` at the first image's pixel size ([`Dataset::at_pixel_size`]); mixing
    /// calibrated and uncalibrated images is refused, since their chips would not match.
    pub fn at_project_scale(&self, dataset: Dataset) -> Result<Dataset, String> {
        let first_nm = self.images.with_untracked(|images| {
            let first = images.first()?;
            Some(
                first
                    .dataset
                    .calibration
                    .as_ref()
                    .and_then(|c| c.pixel_nm()),
            )
        });
        let own_nm = dataset.calibration.as_ref().and_then(|c| c.pixel_nm());
        match (first_nm.flatten(), own_nm) {
            (None, None) => Ok(dataset),
            (Some(nm), _) => dataset.at_pixel_size(nm).map_err(|error| match error {
                RescaleError::Uncalibrated => format!(
                    "it has no length calibration, and the project's chips are sized in nm \
                     (the first image is at {} nm/px); open uncalibrated images in a project \
                     of their own",
                    significant(nm, 4)
                ),
                RescaleError::TooSmall => "it is too small to resample to the project's \
                     pixel size"
                    .into(),
            }),
            (None, Some(_)) => Err(
                "it is calibrated and the project's first image is not, so their chips \
                 cannot be matched; open it in a project of its own"
                    .into(),
            ),
        }
    }
}

/// The folder watched and what came of its files.
#[derive(Clone, Copy)]
pub struct LiveState {
    /// The folder's name while it is watched.
    pub folder: RwSignal<Option<String>>,
    /// Each file classified so far: its class fractions against the time it was written.
    pub table: RwSignal<Option<FractionTable>>,
    /// Files taken so far (classified, or failed with a message).
    pub taken: RwSignal<usize>,
    /// The last file that could not be taken, and why.
    pub error: RwSignal<Option<String>>,
    /// Counts the watches started; a loop whose number is no longer this one stops.
    pub watch: StoredValue<u64, LocalStorage>,
}

impl LiveState {
    /// Nothing watched.
    pub fn new() -> Self {
        Self {
            folder: RwSignal::new(None),
            table: RwSignal::new(None),
            taken: RwSignal::new(0),
            error: RwSignal::new(None),
            watch: StoredValue::new_local(0),
        }
    }

    /// Stops watching after the file at hand.
    pub fn stop(&self) {
        self.watch.update_value(|watch| *watch += 1);
        self.folder.set(None);
    }
}
