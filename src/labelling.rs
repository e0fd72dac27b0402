//! The few-shot loop in the page: support sets with undo and redo, and the live segmentation
//! recomputed on every change from what each modality has ready — the cached embeddings, the
//! atom columns' g(r), the spectral chips' vectors — never re-embedding, the modalities fused as
//! the fusion settings say.

use std::rc::Rc;
use std::sync::Arc;

use chipscope_core::classify::{PrototypeClassifier, Segmentation};
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::FeatureMap;
use chipscope_core::fine::{CellContext, FineLabels};
use chipscope_core::fusion::{Fusion, Modality};
use chipscope_core::labels::{Cell, ClassLabel, Labels, Undoable};
use chipscope_core::pipeline::{self, ChipMeasure, Learned};
use chipscope_core::session::ViewMode;
use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::app::AppState;
use crate::atoms::AtomState;
use crate::clock::now_ms;
use crate::embedding::{EmbeddingKey, EmbeddingState};
use crate::guidance::GuideState;
use crate::project::ProjectState;
use crate::ready::Ready;
use crate::spectra::SpectraState;

/// One edit of the supports from the image.
#[derive(Clone, Debug, PartialEq)]
pub enum ChipEdit {
    /// A click: the chip becomes a support of the active class, or stops being one.
    Toggle(Cell),
    /// A stroke: every chip becomes a support of the active class.
    Paint(Vec<Cell>),
    /// A stroke with Shift or the right button: no chip supports anything.
    Erase(Vec<Cell>),
}

impl ChipEdit {
    /// The chips it touches.
    pub fn cells(&self) -> &[Cell] {
        match self {
            ChipEdit::Toggle(cell) => std::slice::from_ref(cell),
            ChipEdit::Paint(cells) | ChipEdit::Erase(cells) => cells,
        }
    }
}

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
    /// The latest classification of every cell of the dense map the chips were pooled from.
    pub fine: RwSignal<Option<Arc<FineLabels>>>,
    /// How long the latest classification took, in milliseconds.
    pub classify_ms: RwSignal<Option<f64>>,
    /// A message about the labels (grid changes, imports).
    pub notice: RwSignal<Option<String>>,
    /// The chips suggested next, and the one in focus.
    pub guide: GuideState,
    /// The project's images, whose supports form one support set.
    project: ProjectState,
    classifier: StoredValue<Option<(EmbeddingKey, PrototypeClassifier)>, LocalStorage>,
    /// The dense map's cell neighbourhoods for the chip size of the key's embeddings.
    cell_context: StoredValue<Option<(EmbeddingKey, Rc<CellContext>)>, LocalStorage>,
}

impl LabelState {
    /// Two empty classes; the classification follows labels and embeddings from now on.
    pub fn new(
        app: AppState,
        embedding: EmbeddingState,
        atoms: AtomState,
        spectra: SpectraState,
        project: ProjectState,
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
            fine: RwSignal::new(None),
            classify_ms: RwSignal::new(None),
            notice: RwSignal::new(None),
            guide: GuideState::new(app),
            project,
            classifier: StoredValue::new_local(None),
            cell_context: StoredValue::new_local(None),
        };
        Effect::new(move |_| state.reclassify(app, embedding, atoms, spectra));
        state
            .guide
            .follow(state.fusion, app, (embedding, atoms, spectra));
        state.listen_to_keys();
        state
    }

    /// The present labels.
    pub fn labels(&self) -> Labels {
        self.history.with(|history| history.current().clone())
    }

    /// Edits the supports of the grid on screen — one chip toggled, or a stroke painted or
    /// erased — as one undoable edit (supports of another chip size are set aside first), and
    /// when `classify`, starts the embedding if the chips are not embedded yet (and the image
    /// modality has a weight). In dense mode a new chip size of a cached map is already pooled
    /// ([`EmbeddingState::follow`]), and otherwise `start` pools it, so only a map not yet
    /// computed runs the network.
    pub fn label(&self, app: AppState, embedding: EmbeddingState, edit: ChipEdit, classify: bool) {
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
        let focus = self.guide.focus.get_untracked();
        if focus.is_some_and(|focus| edit.cells().contains(&focus)) {
            self.guide.focus.set(None);
        }
        self.history.update(|history| {
            history.edit(|labels| {
                if labels.chip_size != chip_size {
                    labels.chip_size = chip_size;
                    labels.classes.iter_mut().for_each(ClassLabel::clear);
                }
                match &edit {
                    ChipEdit::Toggle(cell) => labels.toggle(*cell, active),
                    ChipEdit::Paint(cells) => labels.paint(cells, active, false),
                    ChipEdit::Erase(cells) => labels.paint(cells, active, true),
                }
            })
        });
        if classify
            && self.fusion.with_untracked(|f| f.weighs(Modality::Image))
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

    /// The dense map's cells and the class of each under the current threshold, when the
    /// chips were pooled from a map and classified.
    pub fn fine_assignments(&self) -> Option<(Arc<FineLabels>, Vec<Option<usize>>)> {
        self.segmentation.with(Option::is_some).then_some(())?;
        let fine = self.fine.get()?;
        let assignments = fine.assignments(self.unassigned_beyond.get());
        Some((fine, assignments))
    }

    /// Classifies every chip when the labels are complete, through the core's pipeline with
    /// what each modality has ready: the modalities taking part are those weighted and ready
    /// (atom columns found, spectral vectors computed), else the image, whose embeddings must
    /// then exist. The image classifier is kept per embedding set, so a click costs one
    /// dot-product column.
    fn reclassify(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        atoms: AtomState,
        spectra: SpectraState,
    ) {
        embedding.ready.track();
        embedding.kept_elsewhere.track();
        let labels = self.labels();
        let fusion = self.fusion.get().for_images(self.project.size());
        let ready = Ready::gather(&fusion, app, embedding, atoms, spectra);
        let Some(grid) = app.grid() else {
            return self.clear();
        };
        let inside = |[row, col]: &Cell| *row < grid.rows() && *col < grid.cols();
        let usable = labels.is_ready()
            && labels.chip_size == grid.chip_size()
            && labels.classes.iter().flat_map(|c| &c.supports).all(inside);
        let (true, Some(ready)) = (usable, ready) else {
            return self.clear();
        };
        let started = now_ms();
        let measured = ready.measures();
        let learned = match self.learn(app, embedding, &labels, &measured, &ready) {
            Ok(learned) => learned,
            Err(message) => {
                self.project.waiting.set(Some(message));
                return self.clear();
            }
        };
        if self.project.waiting.with_untracked(Option::is_some) {
            self.project.waiting.set(None);
        }
        let embedded = ready.image.as_ref();
        let segmentation = self.classifier.try_update_value(|slot| {
            let classifier = embedded.map(|(embeddings, key)| {
                if slot.as_ref().is_none_or(|(cached, _)| cached != key) {
                    *slot = Some((key.clone(), PrototypeClassifier::new(embeddings)));
                }
                &mut slot.as_mut().expect("just set").1
            });
            pipeline::segment(&fusion, &learned, &measured, classifier)
        });
        self.classify_ms.set(Some(now_ms() - started));
        match &segmentation {
            Some(segmentation) => {
                let measured = (&fusion, &ready);
                self.guide
                    .update(segmentation, measured, &labels, grid.cols());
            }
            None => self.guide.clear(),
        }
        self.segmentation.set(segmentation.map(Arc::new));
        let fine = embedded.and_then(|(_, key)| {
            let map = embedding.feature_map(key)?;
            let context = self.cell_context(key, &map);
            let cells =
                pipeline::segment_cells(&fusion, &learned, &measured, &grid, &map, &context);
            Some(Arc::new(cells))
        });
        self.fine.set(fine);
    }

    /// What each modality taking part learns: from the supports on the image on screen, or in
    /// a project of several images the image modality's from the supports on all of them.
    fn learn(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        labels: &Labels,
        measured: &[ChipMeasure],
        ready: &Ready,
    ) -> Result<Vec<Learned>, String> {
        let several = self.project.size() > 1;
        if let (true, Some((vectors, key))) = (several, &ready.image) {
            return Ok(vec![self.image_prototypes(
                app,
                embedding,
                key.dataset,
                vectors,
            )?]);
        }
        let cols = app.grid().map_or(1, |grid| grid.cols());
        let classes = labels.support_indices(cols);
        Ok(measured
            .iter()
            .map(|measure| Learned::from_chips(measure, &classes))
            .collect())
    }

    /// The image modality's prototypes for project image `id` (a load id), whose chips are
    /// `vectors`: the supports on every open image whose chips are embedded with the settings on
    /// screen, joined in project order — the order `chipscope segment` joins them in. An error
    /// names the images waiting to be embedded when a class is left without a support.
    pub fn image_prototypes(
        &self,
        app: AppState,
        embedding: EmbeddingState,
        id: u64,
        vectors: &Embeddings,
    ) -> Result<Learned, String> {
        let labels = self.labels();
        let on_screen = app.loaded.with(|l| l.as_ref().map(|l| l.source.identity()));
        let mut parts = Vec::new();
        let mut waiting = Vec::new();
        for (index, image) in self.project.images.get().iter().enumerate() {
            let identity = image.source.identity();
            let here = on_screen.as_deref() == Some(identity.as_str());
            let size = (image.dataset.image.width(), image.dataset.image.height());
            let [cols, rows] = [size.0, size.1].map(|side| side / labels.chip_size.max(1));
            if !here && labels.outside_on(&identity, cols, rows).is_some() {
                return Err(format!(
                    "a support on {} lies outside its {cols} × {rows} grid",
                    image.name
                ));
            }
            let classes = match here {
                true => labels.support_indices(cols),
                false => labels.support_indices_on(&identity, cols),
            };
            if classes.iter().all(Vec::is_empty) {
                continue;
            }
            let learn_on = |chips: &Embeddings| {
                let measure = ChipMeasure::euclidean(Modality::Image, chips);
                Learned::from_chips(&measure, &classes).on_image(index as u32)
            };
            let part = match image.id == id {
                true => Some(learn_on(vectors)),
                false => self.project.range_of(image.id).and_then(|range| {
                    let key = embedding.key_for(&app, image.id, range);
                    Some(learn_on(embedding.embeddings_of(&key, size)?.as_ref()))
                }),
            };
            match part {
                Some(part) => parts.push(part),
                None => waiting.push(image.name.clone()),
            }
        }
        let missing = self.project.missing.get();
        waiting.extend(
            missing
                .iter()
                .filter_map(|source| source.file_name().map(String::from)),
        );
        let empty = |learned: &Learned| learned.classes.iter().position(Vec::is_empty);
        let joined = (!parts.is_empty()).then(|| Learned::joined(&parts));
        match joined.as_ref().map(|learned| (empty(learned), learned)) {
            Some((None, _)) => Ok(joined.expect("just matched")),
            Some((Some(k), _)) => Err(format!(
                "{} has no support on an image embedded yet{}",
                labels.classes[k].name,
                waiting_for(&waiting)
            )),
            None => Err(format!(
                "no support on an image embedded yet{}",
                waiting_for(&waiting)
            )),
        }
    }

    /// No segmentation, nothing suggested.
    fn clear(&self) {
        self.guide.clear();
        self.segmentation.set(None);
    }

    /// The cell neighbourhoods of `map` for the chips of `key`, kept while the key stays.
    fn cell_context(&self, key: &EmbeddingKey, map: &FeatureMap) -> Rc<CellContext> {
        self.cell_context.update_value(|slot| {
            if slot.as_ref().is_none_or(|(cached, _)| cached != key) {
                let context = CellContext::new(map, key.chip_size);
                *slot = Some((key.clone(), Rc::new(context)));
            }
        });
        self.cell_context
            .with_value(|slot| slot.as_ref().expect("just set").1.clone())
    }

    /// Labels for a newly shown image, on its `chip_size` grid: the classes stay, the supports
    /// (chips of the old image) go, with the undo history, the threshold and the notice.
    pub fn start_on_new_image(&self, chip_size: usize) {
        self.history.update(|history| {
            let mut labels = history.current().clone();
            labels.chip_size = chip_size;
            labels.classes.iter_mut().for_each(ClassLabel::clear);
            *history = Undoable::new(labels);
        });
        self.unassigned_beyond.set(None);
        self.notice.set(None);
        self.guide.reset();
    }

    /// Number keys pick the class; Ctrl+Z undoes, Ctrl+Shift+Z or Ctrl+Y redoes; N leads to the
    /// next suggested chip, X skips it.
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
                "n" | "N" if !command => state.guide.next(),
                "x" | "X" if !command => state
                    .guide
                    .skip(state.history.with_untracked(|h| h.current().chip_size)),
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

/// " (waiting for b.tif, c.tif)", or nothing.
fn waiting_for(names: &[String]) -> String {
    match names.is_empty() {
        true => String::new(),
        false => format!(" (waiting for {})", names.join(", ")),
    }
}

/// Whether a key goes to a text field, a number field or a select, not to the page.
pub fn typing_in_a_field(event: &web_sys::KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|element| {
            matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        })
}
