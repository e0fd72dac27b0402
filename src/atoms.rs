//! The atom modality in the page: the column search on the image on screen (run after the
//! browser has painted the "busy" note), the columns it found, and every chip's g(r) for the
//! grid on screen, which the classification and the plots read.

use std::sync::Arc;

use chipscope_core::atoms::{AtomChips, AtomColumn, AtomParams, Fit, find_atoms};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::labels::Cell;
use chipscope_core::session::AtomSettings;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::clock::now_ms;

/// Columns found on one image with one set of parameters.
pub struct FoundAtoms {
    /// The [`crate::app::Loaded::id`] of the image searched.
    pub image: u64,
    pub settings: AtomSettings,
    pub columns: Vec<AtomColumn>,
    pub milliseconds: f64,
}

impl FoundAtoms {
    /// "2 431 columns (2 398 fitted by a 2-D Gaussian) in 412 ms · spacing 9.75 px".
    pub fn summary(&self) -> String {
        let fitted = self
            .columns
            .iter()
            .filter(|c| c.fit == Fit::Gaussian)
            .count();
        format!(
            "{} columns ({fitted} fitted by a 2-D Gaussian) in {:.0} ms · spacing {:.2} px · threshold {}",
            self.columns.len(),
            self.milliseconds,
            self.settings.spacing_px,
            self.settings.threshold
        )
    }
}

/// Every chip's g(r) on the grid on screen, and its quantile vector for concatenated fusion.
#[derive(PartialEq)]
pub struct AtomGrid {
    pub chips: AtomChips,
    pub quantiles: Embeddings,
}

/// View state of the atom modality.
#[derive(Clone, Copy)]
pub struct AtomState {
    /// The spacing the user typed, pixels; `None` reads it off the image's power spectrum.
    pub spacing: RwSignal<Option<f32>>,
    /// Relative detection threshold, 0–1.
    pub threshold: RwSignal<f32>,
    /// The latest search (possibly of an image no longer on screen; see [`Self::found_here`]).
    pub found: RwSignal<Option<Arc<FoundAtoms>>>,
    pub running: RwSignal<bool>,
    /// Whether the columns are drawn over the image.
    pub show: RwSignal<bool>,
    /// The chip whose g(r) is plotted (the one under the pointer).
    pub inspected: RwSignal<Option<Cell>>,
    /// g(r) of every chip of the grid on screen, when columns were found on this image.
    pub grid: Memo<Option<Arc<AtomGrid>>>,
}

impl AtomState {
    /// No search yet; the per-chip g(r) follow the columns and the grid from now on.
    pub fn new(app: AppState) -> Self {
        let found: RwSignal<Option<Arc<FoundAtoms>>> = RwSignal::new(None);
        let grid = Memo::new(move |_| {
            let found = on_screen(found.get()?, app)?;
            let grid = app.grid()?;
            let params = AtomParams::from(found.settings);
            let chips = AtomChips::new(&found.columns, &grid, &params);
            let quantiles = chips.quantile_vectors();
            Some(Arc::new(AtomGrid { chips, quantiles }))
        });
        Self {
            spacing: RwSignal::new(None),
            threshold: RwSignal::new(0.2),
            found,
            running: RwSignal::new(false),
            show: RwSignal::new(true),
            inspected: RwSignal::new(None),
            grid,
        }
    }

    /// The search of the image on screen, if there is one.
    pub fn found_here(&self, app: AppState) -> Option<Arc<FoundAtoms>> {
        on_screen(self.found.get()?, app)
    }

    /// Finds the columns of the image on screen with the settings in the panel, after letting
    /// the browser paint the busy note (the search itself runs in one go: about a second for a
    /// 1024 × 1024 image).
    pub fn find(&self, app: AppState) {
        let Some(loaded) = app.loaded.get_untracked() else {
            return;
        };
        if self.running.get_untracked() {
            return;
        }
        let state = *self;
        state.running.set(true);
        app.busy.set(Some("Finding atom columns…".into()));
        spawn_local(async move {
            TimeoutFuture::new(30).await;
            let image = &loaded.dataset.image;
            let started = now_ms();
            let spacing_px = match state.spacing.get_untracked() {
                Some(spacing) => spacing,
                None => AtomParams::for_image(image).spacing_px,
            };
            let settings = AtomSettings {
                spacing_px,
                threshold: state.threshold.get_untracked(),
            };
            let columns = find_atoms(image, &AtomParams::from(settings));
            state.found.set(Some(Arc::new(FoundAtoms {
                image: loaded.id,
                settings,
                columns,
                milliseconds: now_ms() - started,
            })));
            state.running.set(false);
            app.busy.set(None);
        });
    }

    /// Takes a session's settings into the panel (the search is run by the caller).
    pub fn adopt(&self, settings: AtomSettings) {
        self.spacing.set(Some(settings.spacing_px));
        self.threshold.set(settings.threshold);
    }
}

/// `found`, when it is the search of the image on screen.
fn on_screen(found: Arc<FoundAtoms>, app: AppState) -> Option<Arc<FoundAtoms>> {
    let here = app.loaded.with(|l| l.as_ref().map(|l| l.id)) == Some(found.image);
    here.then_some(found)
}
