//! The page's state as one value: the image on screen, the embeddings, the labels, the atom
//! and spectral modalities and the sessions — created once, provided to the views as context —
//! and the session all of it amounts to, a memo that follows every change.

use std::sync::Arc;

use chipscope_core::dataset::Dataset;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::session::{
    Autosave, DataSource, DisplaySettings, FORMAT, GridSettings, Session, Task, VERSION,
    ViewSettings,
};
use chipscope_core::share::LinkKind;
use leptos::prelude::*;

use crate::app::AppState;
use crate::atoms::AtomState;
use crate::embedding::EmbeddingState;
use crate::frames::FramesState;
use crate::labelling::LabelState;
use crate::project::{LiveState, ProjectState};
use crate::spectra::SpectraState;

/// Sessions being opened, the labelling task and the view it asks for, and the session on
/// screen.
#[derive(Clone, Copy)]
pub struct SessionState {
    /// A session or autosave waiting for the user: data to open, or a choice to make.
    pub pending: RwSignal<Option<Pending>>,
    /// The labelling task of the session on screen, if it is one.
    pub task: RwSignal<Option<Task>>,
    /// The focused labelling view, for a labeller who opened a task link.
    pub labelling: RwSignal<bool>,
    /// The latest link made, and what it opens, shown for copying by hand.
    pub link: RwSignal<Option<(LinkKind, String)>>,
    /// Whether a session is about to be shown on the open data: until it is, the session on
    /// screen is not the one the user will see, and is not autosaved.
    pub applying: RwSignal<bool>,
    /// The session on screen (or why there is none), recomputed from the signals it reads
    /// whenever one of them changes; what is saved, shared and autosaved.
    pub current: Memo<Result<Session, String>>,
}

/// A session to open, and whether in the focused labelling view.
#[derive(Clone, Debug, PartialEq)]
pub struct Opening {
    pub session: Session,
    pub labelling: bool,
}

/// What waits for the user.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// The session's data must be opened first (a local file, or a download under way).
    NeedData(Opening),
    /// The data now open is not the data the session was made on (`open` names it).
    OtherData { opening: Opening, open: String },
    /// Autosaved labels of the open data: restore them or start afresh.
    Autosave(Autosave),
    /// At start, with nothing open: the last autosaved session.
    Resume(Autosave),
}

/// The page's state, for the functions that touch all of it.
#[derive(Clone, Copy)]
pub struct Page {
    pub app: AppState,
    pub embedding: EmbeddingState,
    pub labels: LabelState,
    pub atoms: AtomState,
    pub spectra: SpectraState,
    pub sessions: SessionState,
    pub frames: FramesState,
    pub project: ProjectState,
    pub live: LiveState,
}

impl Page {
    /// Creates the page's state, each part following the parts it derives from, and provides
    /// every part as context for the views.
    pub fn new() -> Self {
        let app = AppState::new();
        let embedding = EmbeddingState::new();
        embedding.follow(app);
        let atoms = AtomState::new(app);
        let spectra = SpectraState::new(app);
        let project = ProjectState::new(app.stretch);
        let labels = LabelState::new(app, embedding, atoms, spectra, project);
        spectra.follow(labels.fusion, labels.notice);
        let task = RwSignal::new(None);
        let parts = (app, embedding, labels, project);
        let current = Memo::new(move |_| session_on_screen(parts, atoms, spectra, task));
        let sessions = SessionState {
            pending: RwSignal::new(None),
            task,
            labelling: RwSignal::new(false),
            link: RwSignal::new(None),
            applying: RwSignal::new(false),
            current,
        };
        provide_context(app);
        provide_context(embedding);
        provide_context(atoms);
        provide_context(spectra);
        provide_context(labels);
        provide_context(sessions);
        provide_context(project);
        let live = LiveState::new();
        provide_context(live);
        let frames = FramesState::new(app);
        provide_context(frames);
        Self {
            app,
            embedding,
            labels,
            atoms,
            spectra,
            sessions,
            frames,
            project,
            live,
        }
    }

    /// The states provided by the app.
    pub fn from_context() -> Self {
        Self {
            app: expect_context(),
            embedding: expect_context(),
            labels: expect_context(),
            atoms: expect_context(),
            spectra: expect_context(),
            sessions: expect_context(),
            frames: expect_context(),
            project: expect_context(),
            live: expect_context(),
        }
    }

    /// The session on screen, for saving or sharing it now (read without subscribing).
    pub fn session(&self) -> Result<Session, String> {
        self.sessions.current.get_untracked()
    }

    /// Shows a freshly decoded dataset ([`AppState::show`]) as a new project of one image and,
    /// in the same step, clears the supports (chips of the old image; the classes stay). Not in an effect that follows the
    /// data: then the session on screen would change once more after the data, and that
    /// change — new data, no supports — could be autosaved over the labels of a session being
    /// opened on it.
    pub fn show(
        &self,
        name: String,
        data: (Dataset, Option<Arc<SpectralFile>>),
        source: DataSource,
    ) {
        self.app.show(name, data, source);
        self.project.start(self.app.loaded.get_untracked());
        self.labels
            .start_on_new_image(self.app.chip_size.get_untracked());
    }

    /// Whether chip clicks must wait for a choice about autosaved labels.
    pub fn awaiting_choice(&self) -> bool {
        self.sessions
            .pending
            .with(|p| matches!(p, Some(Pending::Autosave(_))))
    }
}

/// The session on screen, built from the signals it records (read tracked, so the memo
/// holding it follows each of them). In a project the session's source is its first image,
/// whichever is on screen, with the supports seen from it.
fn session_on_screen(
    (app, embedding, labels, project): (AppState, EmbeddingState, LabelState, ProjectState),
    atoms: AtomState,
    spectra: SpectraState,
    task: RwSignal<Option<Task>>,
) -> Result<Session, String> {
    let loaded = app.loaded.get().ok_or("no image is open")?;
    let encoder = embedding
        .encoder_ref(&embedding.selected.get())
        .ok_or("the encoder list is still loading")?;
    let current = labels.history.with(|h| h.current().clone());
    let first = project.images.with(|images| images.first().cloned());
    let (source, range, classes) = match first.filter(|first| first.id != loaded.id) {
        Some(first) => (
            first.source.clone(),
            project.range_of(first.id),
            current
                .switched(&loaded.source.identity(), &first.source.identity())
                .classes,
        ),
        None => (
            loaded.source.clone(),
            app.display_range.get(),
            current.classes,
        ),
    };
    let range = range.ok_or("no image is open")?;
    Ok(Session {
        format: FORMAT.into(),
        version: VERSION,
        source,
        images: project.recorded_others(),
        grid: GridSettings {
            chip_size: current.chip_size,
            origin: [0, 0],
        },
        encoder,
        display: DisplaySettings {
            stretch: app.stretch.get(),
            range: [range.low, range.high],
        },
        view: ViewSettings {
            overlay_opacity: labels.opacity.get(),
            mode: labels.mode.get(),
            unassigned_beyond: labels.unassigned_beyond.get(),
        },
        classes,
        fusion: labels.fusion.get(),
        atoms: atoms.found_here(app).map(|found| found.settings),
        spectra: spectra.settings(),
        task: task.get(),
        proposal: labels
            .guide
            .proposal
            .with(|shown| shown.as_ref().map(|shown| shown.proposal.settings)),
    })
}
