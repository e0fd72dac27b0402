//! The labelling guidance in the page: the chips suggested after each classification, the one
//! the eye is led to (N moves to the next suggestion, X skips it), the classes proposed by
//! clustering before any label, and the supports' check. The core decides what to suggest and
//! propose ([`chipscope_core::guide`]); this holds what is on screen.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chipscope_core::classify::Segmentation;
use chipscope_core::embeddings::Embeddings;
use chipscope_core::fusion::{Fusion, Modality};
use chipscope_core::guide::proposals::{PROJECTED_DIMS, Proposal, project};
use chipscope_core::guide::quality::SupportQuality;
use chipscope_core::guide::suggest::{Suggestion, suggest};
use chipscope_core::labels::{Cell, Labels};
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::atoms::AtomState;
use crate::embedding::EmbeddingState;
use crate::ready::{Identity, Ready};
use crate::spectra::SpectraState;
use crate::threads::off_main;

/// Chips suggested at a time.
pub const SUGGESTIONS: usize = 5;

/// Suggestions, skipped chips and the chip in focus.
#[derive(Clone, Copy)]
pub struct GuideState {
    /// The suggested chips for the segmentation on screen, best first.
    pub suggestions: RwSignal<Vec<(Cell, Suggestion)>>,
    /// Chips the user skipped, on the grid of the chip size they were skipped on.
    pub skipped: RwSignal<(usize, BTreeSet<Cell>)>,
    /// The chip the eye is led to: a suggestion (N) or a flagged support.
    pub focus: RwSignal<Option<Cell>>,
    /// Clusters proposed as classes, while they are named, merged or dropped.
    pub proposal: RwSignal<Option<ShownProposal>>,
    /// A proposal asked for, `(k, seed)` (k `None`: the silhouette's), made as soon as the
    /// chips are measured.
    pub wanted: RwSignal<Option<(Option<usize>, u64)>>,
    /// The image the chips are on, whose view follows the focus.
    app: AppState,
    /// Counts the suggestion requests; a result for an older one is dropped.
    request: StoredValue<u64>,
    /// The projected vectors of the measurements they were made from.
    projection: StoredValue<Option<(ProjectionKey, Arc<Embeddings>)>, LocalStorage>,
}

/// What projected vectors were made from: the measurements and the fusion weights.
type ProjectionKey = (Identity, BTreeMap<Modality, f32>);

/// A proposal on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownProposal {
    pub proposal: Proposal,
    /// Per cluster, whether it is still proposed (not named as a class, not dropped).
    pub open: Vec<bool>,
    /// The chip size and columns of the grid it was made on.
    pub chip_size: usize,
    pub cols: usize,
}

impl ShownProposal {
    /// The supports cluster `cluster` gives the class it becomes, as cells.
    pub fn supports(&self, cluster: usize) -> Vec<Cell> {
        let cols = self.cols;
        let cells = self.proposal.supports(cluster).into_iter();
        cells.map(|chip| [chip / cols, chip % cols]).collect()
    }

    /// The open cluster of every chip (`None` for chips of clusters named or dropped).
    pub fn assignments(&self) -> Vec<Option<usize>> {
        let assignment = &self.proposal.clustering.assignment;
        assignment
            .iter()
            .map(|&c| self.open[c].then_some(c))
            .collect()
    }

    /// Merges cluster `from` into `into`.
    pub fn merge(&mut self, from: usize, into: usize) {
        self.proposal.merge(from, into);
        self.open.remove(from);
    }
}

impl GuideState {
    /// Nothing suggested, skipped or in focus, on `app`'s image.
    pub fn new(app: AppState) -> Self {
        Self {
            suggestions: RwSignal::new(Vec::new()),
            skipped: RwSignal::new((0, BTreeSet::new())),
            focus: RwSignal::new(None),
            proposal: RwSignal::new(None),
            wanted: RwSignal::new(None),
            app,
            request: StoredValue::new(0),
            projection: StoredValue::new_local(None),
        }
    }

    /// Makes a wanted proposal once the modalities taking part have measured the chips: the
    /// chips' joined vectors clustered (read tracked, so it waits for the embedding).
    pub fn follow(
        &self,
        fusion: RwSignal<Fusion>,
        app: AppState,
        (embedding, atoms, spectra): (EmbeddingState, AtomState, SpectraState),
    ) {
        let guide = *self;
        Effect::new(move |_| {
            let Some((k, seed)) = guide.wanted.get() else {
                return;
            };
            embedding.ready.track();
            let fusion = fusion.get();
            let ready = Ready::gather(&fusion, app, embedding, atoms, spectra);
            let (Some(ready), Some(grid)) = (ready, app.grid()) else {
                return;
            };
            let proposal = Proposal::new(&ready.joined_vectors(&fusion), k, seed);
            guide.proposal.set(Some(ShownProposal {
                open: vec![true; proposal.clustering.k()],
                proposal,
                chip_size: grid.chip_size(),
                cols: grid.cols(),
            }));
            guide.wanted.set(None);
        });
    }

    /// Suggests the next chips for `segmentation` of the chips `ready` measured (on a grid of
    /// `cols` columns) with `labels`' supports and the skipped chips left out (read tracked).
    /// The chips are clustered after every click, so it runs off the main thread where the page
    /// has a pool, after the segmentation is drawn; the newest request wins.
    pub fn update(
        &self,
        segmentation: &Segmentation,
        (fusion, ready): (&Fusion, &Ready),
        labels: &Labels,
        cols: usize,
    ) {
        let guide = *self;
        let request = guide.next_request();
        let segmentation = segmentation.clone();
        let excluded = self.excluded(segmentation.chip_count(), labels, cols);
        let vectors = self.projected(fusion, ready);
        spawn_local(async move {
            TimeoutFuture::new(0).await;
            let picks =
                off_main(move || suggest(&segmentation, &vectors, &excluded, SUGGESTIONS)).await;
            if guide.request.get_value() == request {
                let cell = |chip: usize| [chip / cols, chip % cols];
                guide
                    .suggestions
                    .set(picks.into_iter().map(|s| (cell(s.chip), s)).collect());
            }
        });
    }

    /// Nothing to suggest (nothing is classified); a request under way is dropped.
    pub fn clear(&self) {
        self.next_request();
        self.suggestions.set(Vec::new());
    }

    /// Numbers a new request, making older ones stale.
    fn next_request(&self) -> u64 {
        let request = self.request.get_value() + 1;
        self.request.set_value(request);
        request
    }

    /// The supports and skipped chips, by chip index (skipped chips of another grid do not
    /// count).
    fn excluded(&self, chips: usize, labels: &Labels, cols: usize) -> Vec<bool> {
        let mut excluded = vec![false; chips];
        let skipped = self
            .skipped
            .with(|(size, cells)| (*size == labels.chip_size).then(|| cells.clone()));
        let supports = labels.classes.iter().flat_map(|c| c.supports.iter());
        for [row, col] in supports.chain(skipped.iter().flatten()) {
            if let Some(flag) = excluded.get_mut(row * cols + col) {
                *flag = true;
            }
        }
        excluded
    }

    /// The chips' joined vectors, projected for clustering: computed once per set of
    /// measurements and fusion weights, then kept (a click changes neither).
    fn projected(&self, fusion: &Fusion, ready: &Ready) -> Arc<Embeddings> {
        let key = (ready.identity(), fusion.weights.clone());
        let kept = self.projection.with_value(|slot| {
            slot.as_ref()
                .filter(|(kept, _)| *kept == key)
                .map(|(_, vectors)| vectors.clone())
        });
        kept.unwrap_or_else(|| {
            let joined = ready.joined_vectors(fusion);
            let vectors = Arc::new(project(&joined, PROJECTED_DIMS, 0));
            self.projection.set_value(Some((key, vectors.clone())));
            vectors
        })
    }

    /// Leads the eye to the suggestion after the one in focus (the first when none is).
    pub fn next(&self) {
        let suggestions = self.suggestions.get_untracked();
        let focus = self.focus.get_untracked();
        let after = focus
            .and_then(|focus| suggestions.iter().position(|(cell, _)| *cell == focus))
            .map_or(0, |i| i + 1);
        let next = suggestions.get(after).or(suggestions.first());
        self.show(next.map(|(cell, _)| *cell));
    }

    /// Skips the suggestion in focus (it is not suggested again on this grid) and leads the eye
    /// to the next.
    pub fn skip(&self, chip_size: usize) {
        let Some(focus) = self.focus.get_untracked() else {
            return self.next();
        };
        let suggested = self
            .suggestions
            .with_untracked(|s| s.iter().any(|(cell, _)| *cell == focus));
        if !suggested {
            return self.next();
        }
        self.skipped.update(|(size, cells)| {
            if *size != chip_size {
                *size = chip_size;
                cells.clear();
            }
            cells.insert(focus);
        });
        self.next();
    }

    /// Forgets the skipped chips, the focus and any proposal (a new image).
    pub fn reset(&self) {
        self.skipped.set((0, BTreeSet::new()));
        self.focus.set(None);
        self.proposal.set(None);
        self.wanted.set(None);
    }

    /// Puts `cell` in focus, pans a zoomed view to it, and brings the image into view when its
    /// top is out of sight.
    pub fn show(&self, cell: Option<Cell>) {
        self.focus.set(cell);
        if let Some(cell) = cell {
            self.app.reveal(cell);
        }
        let viewer = document()
            .query_selector("[data-testid=viewer]")
            .ok()
            .flatten();
        if let (Some(_), Some(viewer)) = (cell, viewer) {
            let top = viewer.get_bounding_client_rect().top();
            let height = window().inner_height().ok().and_then(|h| h.as_f64());
            if top < 0.0 || height.is_some_and(|height| top > height) {
                viewer.scroll_into_view();
            }
        }
    }
}

/// The leave-one-out check of `labels`' supports in `segmentation`, on a grid of `cols`
/// columns; `None` when supports lie on other images of a project too (the check's identity
/// needs every support among the chips classified).
pub fn support_quality(
    segmentation: &Segmentation,
    labels: &Labels,
    cols: usize,
) -> Option<SupportQuality> {
    labels
        .images_elsewhere()
        .is_empty()
        .then(|| SupportQuality::leave_one_out(segmentation, &labels.support_indices(cols)))
}
