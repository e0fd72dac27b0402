//! The page: header with the compute backend, import, image with chip grid, and side panels.

use crate::atoms::AtomState;
use crate::components::{
    atoms_panel::{AtomsPanel, FusionPanel},
    backend_badge::BackendBadge,
    classes_panel::ClassesPanel,
    contrast::ContrastPanel,
    crowd_panel::CrowdPanel,
    dataset_info::DatasetInfo,
    encoder_panel::EncoderPanel,
    grid_panel::GridPanel,
    import::ImportPanel,
    pending_banner::PendingBanner,
    results_panel::ResultsPanel,
    spectra_panel::SpectraPanel,
    task_panel::TaskPanel,
    viewer::Viewer,
};
use crate::compute::{BackendStatus, select_backend};
use crate::embedding::EmbeddingState;
use crate::labelling::LabelState;
use crate::links::follow_address;
use crate::session_io::{Page, SessionState, follow_data};
use crate::spectra::SpectraState;
use chipscope_core::dataset::Dataset;
use chipscope_core::display::{DisplayRange, Stretch};
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::grid::{ChipGrid, MIN_CHIP_SIZE};
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
    /// The compute backend, once detected (it may fall back to the CPU later).
    pub backend: RwSignal<Option<BackendStatus>>,
}

impl AppState {
    /// Shows a freshly decoded dataset, with the spectral file it came from if any, with a
    /// grid sized for it.
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
        self.loaded.set(Some(Arc::new(Loaded {
            id: next_load_id(),
            name,
            dataset,
            source,
            spectral,
        })));
    }

    /// The chip grid over the current image, if one is loaded and the chip size fits it.
    pub fn grid(&self) -> Option<ChipGrid> {
        self.loaded.with(|loaded| {
            let image = &loaded.as_ref()?.dataset.image;
            ChipGrid::new(image.width(), image.height(), self.chip_size.get()).ok()
        })
    }
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
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
    let state = AppState {
        loaded,
        error: RwSignal::new(None),
        busy: RwSignal::new(None),
        chip_size: RwSignal::new(32),
        stretch,
        display_range,
        show_grid: RwSignal::new(true),
        backend: RwSignal::new(None),
    };
    provide_context(state);
    let embedding = EmbeddingState::new();
    provide_context(embedding);
    let atoms = AtomState::new(state);
    provide_context(atoms);
    let spectra = SpectraState::new(state);
    provide_context(spectra);
    let labels = LabelState::new(state, embedding, atoms, spectra);
    provide_context(labels);
    spectra.follow(labels);
    let sessions = SessionState::default();
    provide_context(sessions);
    let page = Page {
        app: state,
        embedding,
        labels,
        atoms,
        spectra,
        sessions,
    };
    follow_data(page);
    follow_address(page);
    spawn_local(async move { state.backend.set(Some(select_backend().await)) });
    let labelling = move || sessions.labelling.get();
    view! {
        <header class="top-bar">
            <h1>"Chipscope"</h1>
            <span class="tagline">{move || match labelling() {
                true => "labelling task",
                false => "few-shot segmentation of electron micrographs, in your browser",
            }}</span>
            <BackendBadge/>
        </header>
        <main class="layout" class:labelling=labelling>
            <section class="stage">
                {move || (!labelling()).then(|| view! { <ImportPanel/> })}
                <PendingBanner/>
                {move || state.error.get().map(|message| view! { <p class="error" role="alert" data-testid="error">{message}</p> })}
                {move || state.busy.get().map(|message| view! { <p class="busy" data-testid="busy">{message}</p> })}
                <Viewer/>
            </section>
            {move || match labelling() {
                true => view! {
                    <aside class="panels">
                        <TaskPanel/>
                        <ClassesPanel locked=true/>
                        <ContrastPanel/>
                    </aside>
                }.into_any(),
                false => view! {
                    <aside class="panels">
                        <DatasetInfo/>
                        <GridPanel/>
                        <ContrastPanel/>
                        <EncoderPanel/>
                        <FusionPanel/>
                        <SpectraPanel/>
                        <AtomsPanel/>
                    </aside>
                    <aside class="panels">
                        <ClassesPanel/>
                        <ResultsPanel/>
                        <CrowdPanel/>
                    </aside>
                }.into_any(),
            }}
        </main>
    }
}
