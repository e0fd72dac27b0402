//! The few-shot loop in the page: support sets with undo and redo, and the live segmentation
//! recomputed on every change from what each modality has ready — the cached embeddings, the
//! atom columns' g(r), the spectral chips' vectors — never re-embedding, the modalities fused as
//! the fusion settings say.

use std::sync::Arc;

use chipscope_core::classify::{PrototypeClassifier, Segmentation, class_supports};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::fusion::{Modality, fuse};
use chipscope_core::grid::ChipGrid;
use chipscope_core::labels::{Cell, Labels, Undoable};
use chipscope_core::session::{Fusion, ViewMode};
use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::app::AppState;
use crate::atoms::{AtomGrid, AtomState};
use crate::embedding::{EmbeddingKey, EmbeddingState};
use crate::spectra::SpectraState;

/// Support sets and how the result is shown.
#[derive(Clone, Copy)]
pub struct LabelState {
    pub history: RwSignal<Undoable<Labels>>,
    /// Index of the class a click on a chip assigns to.
    pub active: RwSignal<usize>,
    pub opacity: RwSignal<f32>,
    pub mode: RwSignal<ViewMode>,
    /// Chips farther than this from every prototype stay unassigned.
    pub unassigned_beyond: RwSignal<Option<f32>>,
    /// How the image, atom and spectral modalities are combined, with their weights.
    pub fusion: RwSignal<Fusion>,
    /// The latest classification of every chip, when every class has a support.
    pub segmentation: RwSignal<Option<Arc<Segmentation>>>,
    /// How long the latest classification took, in milliseconds.
    pub classify_ms: RwSignal<Option<f64>>,
    /// A message about the labels (grid changes, imports).
    pub notice: RwSignal<Option<String>>,
    classifier: StoredValue<Option<(EmbeddingKey, PrototypeClassifier)>, LocalStorage>,
}

impl LabelState {
    /// Two empty classes; the classification follows labels and embeddings from now on.
    pub fn new(
        app: AppState,
        embedding: EmbeddingState,
        atoms: AtomState,
        spectra: SpectraState,
    ) -> Self {
        let state = Self {
            history: RwSignal::new(Undoable::new(Labels::starter(
                app.chip_size.get_untracked(),
            ))),
            active: RwSignal::new(0),
            opacity: RwSignal::new(0.45),
            mode: RwSignal::new(ViewMode::Classes),
            unassigned_beyond: RwSignal::new(None),
            fusion: RwSignal::new(Fusion::default()),
            segmentation: RwSignal::new(None),
            classify_ms: RwSignal::new(None),
            notice: RwSignal::new(None),
            classifier: StoredValue::new_local(None),
        };
        Effect::new(move |_| state.reclassify(app, embedding, atoms, spectra));
        state.clear_supports_on_new_image(app);
        state.listen_to_keys();
        state
    }

    /// The present labels.
    pub fn labels(&self) -> Labels {
        self.history.with(|history| history.current().clone())
    }

    /// A click on chip `cell` of the grid on screen: toggles it as a support of the active
    /// class, and when `classify`, starts the embedding if the chips are not embedded yet (and
    /// the image modality has a weight).
    pub fn click(&self, app: AppState, embedding: EmbeddingState, cell: Cell, classify: bool) {
        let Some(grid) = app.grid() else { return };
        let active = self.active.get_untracked();
        let chip_size = grid.chip_size();
        let moved_grid = self.history.with_untracked(|h| {
            let labels = h.current();
            labels.chip_size != chip_size && labels.support_count() > 0
        });
        if moved_grid {
            self.notice.set(Some(format!(
                "The supports of the {}-px grid were set aside for this {chip_size}-px grid; Undo brings them back.",
                self.history.with_untracked(|h| h.current().chip_size)
            )));
        }
        self.history.update(|history| {
            history.edit(|labels| {
                if labels.chip_size != chip_size {
                    labels.chip_size = chip_size;
                    labels.classes.iter_mut().for_each(|c| c.supports.clear());
                }
                labels.toggle(cell, active);
            })
        });
        if classify
            && self.fusion.with_untracked(|f| f.weight("image") > 0.0)
            && !embedding.running.get_untracked()
            && embedding
                .current_key(&app)
                .and_then(|key| embedding.embeddings(&key))
                .is_none()
        {
            embedding.start(app);
        }
    }

    /// Applies an edit to the labels (undoable).
    pub fn edit(&self, change: impl FnOnce(&mut Labels)) {
        self.history.update(|history| history.edit(change));
        self.clamp_active();
    }

    /// Steps back one edit.
    pub fn undo(&self) {
        self.history.update(|history| {
            history.undo();
        });
        self.clamp_active();
    }

    /// Re-applies the last undone edit.
    pub fn redo(&self) {
        self.history.update(|history| {
            history.redo();
        });
        self.clamp_active();
    }

    /// Keeps the active class pointing at a class after one was removed.
    fn clamp_active(&self) {
        let classes = self.history.with_untracked(|h| h.current().classes.len());
        let last = classes.saturating_sub(1);
        if self.active.get_untracked() > last {
            self.active.set(last);
        }
    }

    /// The class of every chip under the current threshold, if classified.
    pub fn assignments(&self) -> Option<Vec<Option<usize>>> {
        let segmentation = self.segmentation.get()?;
        Some(segmentation.assignments(self.unassigned_beyond.get()))
    }

    /// Classifies every chip when the labels are complete, fusing the weighted modalities that
    /// are ready (atom columns found, spectral vectors computed) with the image's embeddings —
    /// which are needed when the image has a weight or nothing else is ready. The column cache
    /// of the image classifier is kept per embedding set, so a click costs one dot-product
    /// column.
    fn reclassify(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        atoms: AtomState,
        spectra: SpectraState,
    ) {
        embedding.ready.track();
        let labels = self.labels();
        let fusion = self.fusion.get();
        let atom_grid = atoms.grid.get().filter(|_| fusion.weight("atoms") > 0.0);
        let spectral = spectra
            .current_vectors()
            .filter(|_| fusion.weight("spectra") > 0.0);
        let Some(grid) = app.grid() else {
            return self.segmentation.set(None);
        };
        let inside = |[row, col]: &Cell| *row < grid.rows() && *col < grid.cols();
        let usable = labels.is_ready()
            && labels.chip_size == grid.chip_size()
            && labels.classes.iter().flat_map(|c| &c.supports).all(inside);
        if !usable {
            return self.segmentation.set(None);
        }
        let started = now_ms();
        let with_image =
            fusion.weight("image") > 0.0 || (atom_grid.is_none() && spectral.is_none());
        let by_image = match with_image {
            true => embedding
                .current_key(&app)
                .and_then(|key| Some((embedding.embeddings(&key)?, key)))
                .and_then(|(embeddings, key)| {
                    let distances = self.by_image(&labels, &grid, &embeddings, key)?;
                    Some((embeddings, distances))
                }),
            false => None,
        };
        if with_image && by_image.is_none() {
            return self.segmentation.set(None);
        }
        let by_atoms = atom_grid.map(|atoms| {
            let distances = atom_distances(&labels, &grid, &atoms);
            (atoms, distances)
        });
        let by_spectra = spectral.map(|spectral| {
            let supports = class_supports(&labels, grid.cols(), &spectral.vectors);
            let distances =
                PrototypeClassifier::new(&spectral.vectors).classify(&spectral.vectors, &supports);
            (spectral, distances)
        });
        let cols = grid.cols();
        let modality = |name: &str, (chips, distances)| Modality {
            weight: fusion.weight(name),
            chips,
            supports: class_supports(&labels, cols, chips),
            distances,
        };
        let mut modalities = Vec::new();
        if let Some((embeddings, distances)) = &by_image {
            modalities.push(modality("image", (&**embeddings, distances)));
        }
        if let Some((atoms, distances)) = &by_atoms {
            modalities.push(modality("atoms", (&atoms.quantiles, distances)));
        }
        if let Some((spectral, distances)) = &by_spectra {
            modalities.push(modality("spectra", (&spectral.vectors, distances)));
        }
        let segmentation = fuse(fusion.mode, &modalities);
        self.classify_ms.set(Some(now_ms() - started));
        self.segmentation.set(Some(Arc::new(segmentation)));
    }

    /// The image modality's distances, with the classifier's column cache.
    fn by_image(
        &self,
        labels: &Labels,
        grid: &ChipGrid,
        embeddings: &Embeddings,
        key: EmbeddingKey,
    ) -> Option<Segmentation> {
        let supports = class_supports(labels, grid.cols(), embeddings);
        self.classifier.try_update_value(|slot| {
            if slot.as_ref().is_none_or(|(cached, _)| *cached != key) {
                *slot = Some((key, PrototypeClassifier::new(embeddings)));
            }
            let (_, classifier) = slot.as_mut().expect("just set");
            classifier.classify(embeddings, &supports)
        })
    }

    /// A new image keeps the classes but not the supports (they were chips of the old image).
    fn clear_supports_on_new_image(&self, app: AppState) {
        let state = *self;
        Effect::new(move |previous: Option<Option<u64>>| {
            let id = app.loaded.with(|loaded| loaded.as_ref().map(|l| l.id));
            if previous.is_some_and(|previous| previous != id) {
                let chip_size = app.chip_size.get_untracked();
                state.history.update(|history| {
                    let mut labels = history.current().clone();
                    labels.chip_size = chip_size;
                    labels.classes.iter_mut().for_each(|c| c.supports.clear());
                    *history = Undoable::new(labels);
                });
                state.unassigned_beyond.set(None);
                state.notice.set(None);
            }
            id
        });
    }

    /// Number keys pick the class; Ctrl+Z undoes, Ctrl+Shift+Z or Ctrl+Y redoes.
    fn listen_to_keys(&self) {
        let state = *self;
        let handle = window_event_listener(ev::keydown, move |event| {
            if typing_in_a_field(&event) {
                return;
            }
            let key = event.key();
            let command = event.ctrl_key() || event.meta_key();
            match key.as_str() {
                "z" | "Z" if command && event.shift_key() => state.redo(),
                "z" if command => state.undo(),
                "y" if command => state.redo(),
                digit if !command && digit.len() == 1 && digit.as_bytes()[0].is_ascii_digit() => {
                    let n = (digit.as_bytes()[0] - b'0') as usize;
                    let index = if n == 0 { 9 } else { n - 1 };
                    if index < state.history.with_untracked(|h| h.current().classes.len()) {
                        state.active.set(index);
                    }
                }
                _ => return,
            }
            event.prevent_default();
        });
        on_cleanup(move || handle.remove());
    }
}

fn typing_in_a_field(event: &web_sys::KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|element| {
            matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        })
}

/// The atom modality's distances: W1 to the barycenters of the supports' g(r).
fn atom_distances(labels: &Labels, grid: &ChipGrid, atoms: &AtomGrid) -> Segmentation {
    let classes = labels.support_indices(grid.cols());
    atoms.chips.distances(&atoms.chips.prototypes(&classes))
}

/// A millisecond clock with sub-millisecond resolution.
pub fn now_ms() -> f64 {
    window()
        .performance()
        .map_or_else(js_sys::Date::now, |performance| performance.now())
}
