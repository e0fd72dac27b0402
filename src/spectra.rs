//! The spectral modality in the page: the spectrum image (from the image's own file or opened
//! beside it), its chips on the grid on screen, their vectors (raw at once, spec2vec trained in
//! slices with a progress bar), the elements marked on the plots and the element map shown.

use std::sync::Arc;

use chipscope_core::embeddings::Embeddings;
use chipscope_core::formats::spectral::SpectralFile;
use chipscope_core::fusion::{Fusion, Modality};
use chipscope_core::session::{DataSource, SpectralSettings};
use chipscope_core::spectra::SpectrumImage;
use chipscope_core::spectra::lines::{
    XrayLine, map_channels, map_line, marked_lines, suggested_elements,
};
use chipscope_core::spectra::modality::{
    Spec2VecTrainer, SpectralChips, SpectralEncoder, SpectralModel,
};
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::{AppState, next_load_id};
use crate::clock::now_ms;

/// Elements suggested from the strongest peaks of a newly opened spectrum image.
const SUGGESTED_ELEMENTS: usize = 4;
/// Longest stretch of spec2vec training between two paints, in milliseconds.
const SLICE_MS: f64 = 40.0;

/// A spectral file as opened in the page.
pub struct LoadedSpectra {
    /// Unique in this page, so caches can tell two loads apart.
    pub id: u64,
    pub name: String,
    /// What a session records as the spectrum image's file.
    pub source: DataSource,
    pub file: Arc<SpectralFile>,
}

impl LoadedSpectra {
    /// The spectral file `file`, named `name`, read from `source`.
    pub fn new(name: String, source: DataSource, file: Arc<SpectralFile>) -> Self {
        Self {
            id: next_load_id(),
            name,
            source,
            file,
        }
    }

    /// The spectrum image, when the file holds one.
    pub fn map(&self) -> Option<&SpectrumImage> {
        self.file.map.as_ref()
    }
}

/// Every chip's vector for one spectrum image, grid and encoder.
#[derive(PartialEq)]
pub struct SpectralVectors {
    pub key: VectorsKey,
    pub vectors: Embeddings,
}

/// What a set of chip vectors was computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorsKey {
    spectra: u64,
    image: u64,
    chip_size: usize,
    encoder: SpectralEncoder,
}

/// View state of the spectral modality.
#[derive(Clone, Copy)]
pub struct SpectraState {
    pub loaded: RwSignal<Option<Arc<LoadedSpectra>>>,
    pub encoder: RwSignal<SpectralEncoder>,
    /// Element symbols whose lines are marked on the spectra.
    pub elements: RwSignal<Vec<String>>,
    /// The element whose map is drawn over the image.
    pub map_element: RwSignal<Option<String>>,
    /// spec2vec training's progress (0–1) while it runs.
    pub progress: RwSignal<Option<f32>>,
    /// The chips of the grid on screen on the spectrum image, or why they cannot be made.
    pub chips: Memo<Option<Result<Arc<SpectralChips>, String>>>,
    /// The chips' vectors, when computed for the chips on screen and the encoder chosen.
    pub vectors: RwSignal<Option<Arc<SpectralVectors>>>,
    /// Bumped to abandon a training under way.
    generation: StoredValue<u64>,
    app: AppState,
}

impl SpectraState {
    /// No spectrum image yet; one that comes with a newly shown image is taken up.
    pub fn new(app: AppState) -> Self {
        let loaded: RwSignal<Option<Arc<LoadedSpectra>>> = RwSignal::new(None);
        let chips = Memo::new(move |_| {
            let loaded = loaded.get()?;
            let map = loaded.map()?;
            let grid = app.grid()?;
            let chips = app.loaded.with(|image| {
                Some(SpectralChips::for_image(
                    map,
                    &image.as_ref()?.dataset,
                    &grid,
                ))
            })?;
            Some(
                chips
                    .map(Arc::new)
                    .map_err(|error| format!("{}: {error}", loaded.name)),
            )
        });
        let state = Self {
            loaded,
            encoder: RwSignal::new(SpectralEncoder::raw()),
            elements: RwSignal::new(Vec::new()),
            map_element: RwSignal::new(None),
            progress: RwSignal::new(None),
            chips,
            vectors: RwSignal::new(None),
            generation: StoredValue::new(0),
            app,
        };
        state.adopt_spectra_of_new_images(app);
        state
    }

    /// Shows `spectra` as the spectrum image, suggesting elements from its strongest peaks.
    pub fn open(&self, spectra: LoadedSpectra) {
        if let Some(sum) = spectra.file.sum_spectrum() {
            let suggested = suggested_elements(&sum.counts, &sum.axis, SUGGESTED_ELEMENTS);
            self.elements
                .set(suggested.into_iter().map(String::from).collect());
        }
        self.map_element.set(None);
        self.loaded.set(Some(Arc::new(spectra)));
    }

    /// Computes the chip vectors whenever the chips or the encoder change and the spectra have
    /// a weight (raw vectors at once, spec2vec by training in slices); a newly opened spectrum
    /// image gets the spectra a weight when they have none (saying so in `notice`).
    pub fn follow(&self, fusion: RwSignal<Fusion>, notice: RwSignal<Option<String>>) {
        let state = *self;
        state.weigh_new_maps(fusion, notice);
        Effect::new(move |_| {
            let weighted = fusion.with(|f| f.weighs(Modality::Spectra));
            let chips = state.chips.get().and_then(Result::ok);
            let encoder = state.encoder.get();
            state.generation.update_value(|g| *g += 1);
            state.progress.set(None);
            let (Some(chips), true) = (chips, weighted) else {
                return;
            };
            let Some(key) = state.key(encoder) else {
                return;
            };
            if state
                .vectors
                .with_untracked(|v| v.as_ref().is_some_and(|v| v.key == key))
            {
                return;
            }
            match encoder {
                SpectralEncoder::Raw(_) => {
                    let vectors = SpectralModel::fit(encoder, &chips).vectors(&chips);
                    state
                        .vectors
                        .set(Some(Arc::new(SpectralVectors { key, vectors })));
                }
                SpectralEncoder::Spec2vec(_) => state.train(chips, key),
            }
        });
    }

    /// Gives the spectra weight 1 when a spectrum image is opened and they weigh nothing.
    fn weigh_new_maps(&self, fusion: RwSignal<Fusion>, notice: RwSignal<Option<String>>) {
        let loaded = self.loaded;
        Effect::new(move |previous: Option<Option<u64>>| {
            let id = loaded.with(|l| l.as_ref().filter(|l| l.map().is_some()).map(|l| l.id));
            let unweighted = fusion.with_untracked(|f| !f.weighs(Modality::Spectra));
            if id.is_some() && previous.flatten() != id && unweighted {
                fusion.update(|f| {
                    f.weights.insert(Modality::Spectra, 1.0);
                });
                notice.set(Some(
                    "Spectrum image opened: the spectra now weigh 1 beside the image (Modalities)."
                        .into(),
                ));
            }
            id
        });
    }

    /// The vectors of the chips on screen with the chosen encoder, if computed.
    pub fn current_vectors(&self) -> Option<Arc<SpectralVectors>> {
        let key = self.key(self.encoder.get())?;
        self.vectors.get().filter(|v| v.key == key)
    }

    /// The settings a session records, when a spectrum image is open (read tracked).
    pub fn settings(&self) -> Option<SpectralSettings> {
        let loaded = self.loaded.get()?;
        Some(SpectralSettings {
            source: loaded.source.clone(),
            encoder: self.encoder.get(),
            elements: self.elements.get(),
        })
    }

    /// Takes a session's encoder and marked elements.
    pub fn adopt(&self, settings: &SpectralSettings) {
        self.encoder.set(settings.encoder);
        self.elements.set(settings.elements.clone());
    }

    /// The lines of the marked elements inside `range_kev`, of relative weight ≥ 0.1.
    pub fn marked_lines(&self, range_kev: (f64, f64)) -> Vec<XrayLine> {
        self.elements
            .with(|elements| marked_lines(elements, range_kev))
    }

    /// The map of `element`'s main line inside the axis (see [`map_line`]) as counts per map
    /// pixel within one detector FWHM either side, with the line.
    pub fn element_map(&self, element: &str) -> Option<(XrayLine, Vec<u32>)> {
        let loaded = self.loaded.get()?;
        let map = loaded.map()?;
        let line = map_line(element, &map.axis)?;
        let (first, last) = map_channels(&line, &map.axis);
        Some((line, map.window_map(first, last)))
    }

    /// What the vectors of the chips on screen with `encoder` are computed from, when the
    /// spectrum image fits the image.
    fn key(&self, encoder: SpectralEncoder) -> Option<VectorsKey> {
        self.chips
            .with(|chips| matches!(chips, Some(Ok(_))))
            .then_some(())?;
        Some(VectorsKey {
            spectra: self.loaded.with(|l| l.as_ref().map(|l| l.id))?,
            image: self.app.loaded.with(|l| l.as_ref().map(|l| l.id))?,
            chip_size: self.app.grid()?.chip_size(),
            encoder,
        })
    }

    /// Trains spec2vec on the chips' documents a slice at a time, showing progress; a newer
    /// generation (other chips or encoder) abandons it.
    fn train(&self, chips: Arc<SpectralChips>, key: VectorsKey) {
        let state = *self;
        let SpectralEncoder::Spec2vec(params) = key.encoder else {
            return;
        };
        let generation = state.generation.get_value();
        state.progress.set(Some(0.0));
        spawn_local(async move {
            let mut trainer = Spec2VecTrainer::new(params, &chips);
            loop {
                let started = now_ms();
                let mut done = trainer.progress();
                while done < 1.0 && now_ms() - started < SLICE_MS {
                    done = trainer.step(8);
                }
                if state.generation.get_value() != generation {
                    return;
                }
                state.progress.set(Some(done));
                if done >= 1.0 {
                    break;
                }
                TimeoutFuture::new(0).await;
            }
            let vectors = trainer.finish().vectors(&chips);
            state.progress.set(None);
            state
                .vectors
                .set(Some(Arc::new(SpectralVectors { key, vectors })));
        });
    }

    /// A newly shown image that came with a spectrum image (an EMD, BCF or PTS file) brings it.
    fn adopt_spectra_of_new_images(&self, app: AppState) {
        let state = *self;
        Effect::new(move |previous: Option<Option<u64>>| {
            let loaded = app.loaded.get();
            let id = loaded.as_ref().map(|l| l.id);
            if previous.flatten() != id
                && let Some(loaded) = loaded
                && let Some(file) = loaded.spectral.clone()
            {
                state.open(LoadedSpectra::new(
                    loaded.name.clone(),
                    loaded.source.clone(),
                    file,
                ));
            }
            id
        });
    }
}
