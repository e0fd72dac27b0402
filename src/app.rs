//! The image on screen: the dataset loaded, its contrast and chip grid, the compute backend,
//! and the page's error and busy notes.

use crate::compute::{BackendStatus, select_backend};
use crate::crash;
use crate::zoom::Transform;
use chipscope_core::dataset::Dataset;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::grid::{ChipGrid, MIN_CHIP_SIZE};
use chipscope_core::labels::Cell;
use chipscope_core::session::DataSource;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A dataset as loaded in the page, with the name it came under and a number unique in this
/// page, so caches can tell two loads apart.
pub struct Loaded {
    pub id: u64,
    pub name: String,
    pub dataset: Dataset,
    /// What a session file records as its data source.
    pub source: DataSource,
    /// The spectrum image of a spectral file (EMD, BCF, PTS) shown by its image.
    pub spectral: Option<Arc<SpectralFile>>,
}

impl Loaded {
    /// The file name without its last extension, for naming exports (as the CLI names them).
    pub fn stem(&self) -> String {
        std::path::Path::new(&self.name).file_stem().map_or_else(
            || self.name.clone(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    }
}

/// A number no other load in this page has, so caches can tell two loads apart.
pub fn next_load_id() -> u64 {
    static LOADS: AtomicU64 = AtomicU64::new(0);
    LOADS.fetch_add(1, Ordering::Relaxed)
}

/// View state shared by the panels; everything else is derived through `chipscope-core`.
#[derive(Clone, Copy)]
pub struct AppState {
    pub loaded: RwSignal<Option<Arc<Loaded>>>,
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<Option<String>>,
    pub chip_size: RwSignal<usize>,
    pub stretch: RwSignal<Stretch>,
    /// Black and white levels of the current image under `stretch`, computed once per change.
    pub display_range: Memo<Option<DisplayRange>>,
    pub show_grid: RwSignal<bool>,
    /// How the image sits in the viewer (zoom and pan); a new image starts fitted.
    pub view: RwSignal<Transform>,
    /// The compute backend, once detected (it may fall back to the CPU later).
    pub backend: RwSignal<Option<BackendStatus>>,
}

impl AppState {
    /// Nothing loaded yet; the compute backend is detected in the background (not WebGPU
    /// right after WebGPU ended the page).
    pub fn new() -> Self {
        let loaded: RwSignal<Option<Arc<Loaded>>> = RwSignal::new(None);
        let stretch = RwSignal::new(Stretch::default());
        let display_range = Memo::new(move |_| {
            loaded.with(|loaded| {
                Some(DisplayRange::of(
                    &loaded.as_ref()?.dataset.image,
                    stretch.get(),
                ))
            })
        });
        let state = Self {
            loaded,
            error: RwSignal::new(None),
            busy: RwSignal::new(None),
            chip_size: RwSignal::new(32),
            stretch,
            display_range,
            show_grid: RwSignal::new(true),
            view: RwSignal::new(Transform::FIT),
            backend: RwSignal::new(None),
        };
        let avoid_webgpu = crash::webgpu_ended_the_page();
        spawn_local(async move { state.backend.set(Some(select_backend(avoid_webgpu).await)) });
        state
    }

    /// Shows a freshly decoded dataset, with the spectral file it came from if any, with a
    /// grid sized for it. Only through [`crate::page::Page::show`], which starts the labels
    /// afresh in the same step.
    pub fn show(
        &self,
        name: String,
        (dataset, spectral): (Dataset, Option<Arc<SpectralFile>>),
        source: DataSource,
    ) {
        let (width, height) = (dataset.image.width(), dataset.image.height());
        // An image too small for any chip is still shown and described; the grid panel says why
        // it cannot be segmented.
        let chip = ChipGrid::default_chip_size(width, height).unwrap_or(MIN_CHIP_SIZE);
        self.chip_size.set(chip);
        self.error.set(None);
        self.view.set(Transform::FIT);
        self.loaded.set(Some(Arc::new(Loaded {
            id: next_load_id(),
            name,
            dataset,
            source,
            spectral,
        })));
    }

    /// Pans a zoomed view so that chip `cell` of the current grid is in sight.
    pub fn reveal(&self, cell: Cell) {
        let Some(grid) = untrack(|| self.grid()) else {
            return;
        };
        let (width, height) = grid.image_size();
        let (width, height) = (width as f64, height as f64);
        let centre = |index: usize| (index as f64 + 0.5) * grid.chip_size() as f64;
        let at = (centre(cell[1]) / width, centre(cell[0]) / height);
        self.view.update(|view| *view = view.reveal(at));
    }

    /// The chip grid over the current image, if one is loaded and the chip size fits it.
    pub fn grid(&self) -> Option<ChipGrid> {
        self.loaded.with(|loaded| {
            let image = &loaded.as_ref()?.dataset.image;
            ChipGrid::new(image.width(), image.height(), self.chip_size.get()).ok()
        })
    }
}
