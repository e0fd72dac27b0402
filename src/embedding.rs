//! Embedding every chip in the page: the chosen encoder on the current backend, run in steps
//! that yield to the browser, with progress, cancel, a WebGPU → CPU fallback and a cache keyed
//! by (image, grid, display range, encoder, mode) so nothing is embedded twice.
//!
//! Two modes ([`EmbeddingMode`]): *dense* (the default) runs the trunk once over the whole
//! image, window by window, up to a stage, and pools each chip from the feature map; *pyCHIP*
//! resizes every chip to 224² and runs the whole network on it. The dense map is cached per
//! (image, display range, encoder, stage, scale) — the last [`MAPS_KEPT`] of them — so a new chip
//! size is pooled from it in milliseconds without running the network again.
//!
//! Where the CPU work runs: in the threaded build (see [`crate::threads`]) each forward pass is
//! one job on a pool of Web Workers sharing the WebAssembly memory, so every core works and the
//! page only awaits results; in the build with WebGPU the GPU computes and the page awaits its
//! read-backs, and its CPU fallback runs on the page's thread, one network stage (a residual
//! block) of one chip or one window of [`PAGE_TILING`] at a time, yielding in between so input
//! and painting stay live.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use burn::tensor::{Device, Tensor};
use chipscope_core::dataset::Image;
use chipscope_core::display::DisplayRange;
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::dense::{
    DensePass, DenseSettings, EmbeddingMode, FeatureMap, Tiling, Window, WindowedImage,
};
use chipscope_core::encoders::kernels::{Activations, Split};
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::grid::{Chip, ChipGrid};
use chipscope_core::hashing::sha256_hex;
use chipscope_core::session::EncoderRef;
use chipscope_core::weights::manifest::{DEFAULT_ENCODER, ShippedEncoder};
use chipscope_core::weights::{TensorMap, read_weights};
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::clock::now_ms;
use crate::compute::{BackendKind, BackendStatus, CpuBackend};
use crate::threads;
use crate::weights_fetch::{self, Origin};

/// What the WebGPU warm-up does beyond compiling shaders, for its status line.
const TUNING: &str = if cfg!(feature = "autotune") {
    " and autotuning kernels"
} else {
    ""
};
/// Chips per forward pass on the GPU; on the CPU one chip on the page's thread, so each step
/// stays short, and [`CHIPS_PER_THREAD`] per pool thread on the thread pool.
const GPU_BATCH: usize = 16;
/// Chips per pool thread in one job: burn's Flex splits a convolution over batch × tiles of
/// output pixels, and the last stages of a 224² chip are one tile, so more chips than threads
/// keep every thread busy to the end (README: "Threads in the page").
const CHIPS_PER_THREAD: usize = 2;
/// The longest the CPU path computes before letting the browser paint and handle input.
const SLICE_MS: f64 = 30.0;

/// The windows of a dense pass in the page: 512 kept pixels a side (of the enlarged image) and
/// the core's 128-px halo ([`Tiling::default`]), so a window reads at most 768² pixels. `?tile=N`
/// in the address sets another kept side, to measure it.
///
/// Chosen by measurement so that one uninterrupted step — one network stage of one window on
/// the CPU, between two yields — blocks the page for about 0.5 s at most: headless Chromium 156
/// on our 2-core machine, WebAssembly Flex on one thread, ResNet-50 `layer3` ×2 (the heaviest
/// default stage), the longest step the page records (`data-longest-step-ms`), warm (and on the
/// page's first run, which also grows the WebAssembly memory), 2026-12-05:
///
/// | kept side | the example, 512² (×2: 1024²) | a 1024² image (×2: 2048²) |
/// |---|---|---|
/// | 1024 ([`Tiling::default`]) | 1 window: 817 ms (851), 6.5 s in all | — |
/// | **512** | 4 windows of 640²: 304 ms (408), 9.9 s in all | 16, inside ones 768²: 439 ms (537), 45 s |
/// | 384 | 9 windows: 290 ms (306), 14.5 s in all | — |
///
/// 384 px would shave the large images' steps further but costs the example 45 % more time
/// (its windows compute 2.25× the image's pixels instead of 1.56×). MobileNetV2 `features.6`
/// ×2 steps take 110–148 ms at 512. WebGPU runs the same windows, which also bounds the size
/// of the GPU's buffers.
const PAGE_TILING: Tiling = Tiling {
    kept_px: 512,
    halo_px: 128,
};
/// A dense map larger than this is refused before it is computed (the page's memory is 32-bit):
/// choose an earlier stage, a smaller scale or pyCHIP.
const MAX_MAP_BYTES: usize = 512 << 20;
/// Dense feature maps kept: the most recent two (fewer when they would exceed
/// [`MAX_MAP_BYTES`] together).
const MAPS_KEPT: usize = 2;
/// Chip sizes (and a project's images) pooled from dense maps that are kept; older ones are
/// pooled again on demand.
const POOLED_KEPT: usize = 32;

/// What the cache is keyed by: the embeddings depend on all of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmbeddingKey {
    pub dataset: u64,
    pub chip_size: usize,
    pub range_bits: (u32, u32),
    pub encoder: String,
    pub mode: EmbeddingMode,
}

impl EmbeddingKey {
    /// The feature map these chips are pooled from, in dense mode.
    fn map_key(&self) -> Option<MapKey> {
        match &self.mode {
            EmbeddingMode::PerChip => None,
            EmbeddingMode::Dense(settings) => Some(MapKey {
                dataset: self.dataset,
                range_bits: self.range_bits,
                encoder: self.encoder.clone(),
                settings: settings.clone(),
            }),
        }
    }
}

/// What a dense feature map depends on: everything of an [`EmbeddingKey`] but the chip size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MapKey {
    dataset: u64,
    range_bits: (u32, u32),
    encoder: String,
    settings: DenseSettings,
}

/// An encoder the user can pick.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderChoice {
    pub id: String,
    pub label: String,
}

/// The weights' download so far, `(received, total)` bytes, in words.
pub fn describe_download((received, total): (u64, u64)) -> String {
    format!(
        "weights {:.1} / {:.1} MB",
        received as f64 / 1e6,
        total as f64 / 1e6
    )
}

/// Progress of a run: chips (per chip) or windows (dense) done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunProgress {
    pub done: usize,
    pub total: usize,
    pub per_second: f64,
    /// "chips" or "windows".
    pub unit: &'static str,
}

/// The stages an encoder can stop at for a dense map, known once it has been built.
#[derive(Clone, Debug, PartialEq)]
struct Stages {
    names: Vec<String>,
    recommended: String,
}

/// View state of the embedding panel; the heavy, browser-thread-only parts live in [`Store`].
#[derive(Clone, Copy)]
pub struct EmbeddingState {
    pub choices: RwSignal<Vec<EncoderChoice>>,
    pub selected: RwSignal<String>,
    /// Dense (the default for new work) or pyCHIP (per chip).
    pub dense: RwSignal<bool>,
    /// How many times a dense map's image is enlarged: 1, 2 or 4.
    pub scale: RwSignal<usize>,
    pub download: RwSignal<Option<(u64, u64)>>,
    pub progress: RwSignal<Option<RunProgress>>,
    pub status: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    pub running: RwSignal<bool>,
    /// The key of the finished embeddings for what is on screen, if any.
    pub ready: RwSignal<Option<EmbeddingKey>>,
    /// How many times a network ran (a per-chip or dense pass started), for the tests.
    pub network_runs: RwSignal<u32>,
    /// Counts the embeddings of images not on screen kept in the cache (a project's other
    /// images), so what learns from them follows.
    pub kept_elsewhere: RwSignal<u32>,
    /// The longest the last run computed without yielding to the browser, in milliseconds.
    pub longest_step_ms: RwSignal<Option<f64>>,
    /// The dense stage chosen for each encoder id; absent, the recommended one.
    chosen_stages: RwSignal<HashMap<String, String>>,
    /// The stages of each encoder built so far.
    stages: RwSignal<HashMap<String, Stages>>,
    /// The shipped encoders' list, fetched once: `Ok` when they are among the choices.
    listing: LocalResource<Result<(), String>>,
    store: StoredValue<Store, LocalStorage>,
}

#[derive(Default)]
struct Store {
    shipped: Vec<ShippedEncoder>,
    custom: HashMap<String, (Arc<TensorMap>, EncoderRef)>,
    loaded: Option<LoadedEncoder>,
    cache: HashMap<EmbeddingKey, Rc<Embeddings>>,
    /// The dense keys in `cache`, oldest first (at most [`POOLED_KEPT`]).
    pooled: VecDeque<EmbeddingKey>,
    /// The dense maps kept, oldest first.
    maps: Vec<(MapKey, Rc<FeatureMap>)>,
    cancel: Rc<Cell<bool>>,
    /// The (encoder, input shape, stages) WebGPU has run once: its shaders are compiled and
    /// burn has started timing its kernel choices for them.
    warmed: HashSet<(String, [usize; 4], usize)>,
}

impl Store {
    fn keep_embeddings(&mut self, key: EmbeddingKey, embeddings: Rc<Embeddings>) {
        if matches!(key.mode, EmbeddingMode::Dense(_)) {
            self.pooled.retain(|kept| kept != &key);
            self.pooled.push_back(key.clone());
            while self.pooled.len() > POOLED_KEPT {
                if let Some(oldest) = self.pooled.pop_front() {
                    self.cache.remove(&oldest);
                }
            }
        }
        self.cache.insert(key, embeddings);
    }

    fn keep_map(&mut self, key: MapKey, map: Rc<FeatureMap>) {
        self.maps.retain(|(kept, _)| kept != &key);
        self.maps.push((key, map));
        let bytes = |maps: &[(MapKey, Rc<FeatureMap>)]| -> usize {
            maps.iter().map(|(_, map)| map.values.len() * 4).sum()
        };
        while self.maps.len() > MAPS_KEPT
            || (self.maps.len() > 1 && bytes(&self.maps) > MAX_MAP_BYTES)
        {
            self.maps.remove(0);
        }
    }
}

/// The encoder built last, kept with its weights so it can be rebuilt on the CPU.
#[derive(Clone)]
struct LoadedEncoder {
    id: String,
    backend: BackendKind,
    weights: Arc<TensorMap>,
    encoder: Arc<ImageEncoder>,
}

/// Why a run stopped early.
enum Stop {
    Cancelled,
    Backend(String),
}

/// What a finished run gives: every chip's embedding and, in dense mode, the map they were
/// pooled from.
type Finished = (Embeddings, Option<FeatureMap>);

impl EmbeddingState {
    /// Creates the state and lists the shipped encoders.
    pub fn new() -> Self {
        let (choices, selected, error) = (
            RwSignal::new(Vec::new()),
            RwSignal::new(String::new()),
            RwSignal::new(None),
        );
        let store = StoredValue::new_local(Store::default());
        let listing = LocalResource::new(move || async move {
            let shipped = weights_fetch::shipped_encoders().await;
            untrack(|| match shipped {
                Ok(shipped) => {
                    list_shipped(choices, selected, store, shipped);
                    Ok(())
                }
                Err(message) => {
                    error.set(Some(message.clone()));
                    Err(message)
                }
            })
        });
        Self {
            choices,
            selected,
            dense: RwSignal::new(true),
            scale: RwSignal::new(2),
            download: RwSignal::new(None),
            progress: RwSignal::new(None),
            status: RwSignal::new(None),
            error,
            running: RwSignal::new(false),
            ready: RwSignal::new(None),
            network_runs: RwSignal::new(0),
            kept_elsewhere: RwSignal::new(0),
            longest_step_ms: RwSignal::new(None),
            chosen_stages: RwSignal::new(HashMap::new()),
            stages: RwSignal::new(HashMap::new()),
            listing,
            store,
        }
    }

    /// Waits until the shipped encoders are listed among the choices (or their list could not
    /// be fetched), or `within_ms` have passed.
    pub async fn listed(&self, within_ms: u32) {
        let listing = self.listing;
        let listed = async move {
            let _ = listing.await;
        };
        first_of(listed, TimeoutFuture::new(within_ms)).await;
    }

    /// The embedding mode of the selected encoder (read tracked).
    pub fn mode(&self) -> EmbeddingMode {
        self.mode_for(&self.selected.get())
    }

    /// The embedding mode encoder `id` would run in: pyCHIP, or dense at the chosen scale and
    /// the stage chosen for it (else the one recommended for its architecture, known by name
    /// before its weights are loaded). Read tracked.
    pub fn mode_for(&self, id: &str) -> EmbeddingMode {
        if !self.dense.get() {
            return EmbeddingMode::PerChip;
        }
        let stage = self
            .chosen_stages
            .with(|chosen| chosen.get(id).cloned())
            .or_else(|| self.recommended_stage(id));
        match stage {
            Some(stage) => EmbeddingMode::Dense(DenseSettings {
                stage,
                scale: self.scale.get(),
            }),
            None => EmbeddingMode::PerChip,
        }
    }

    /// The stage recommended for encoder `id`: from the built encoder, else from its id or name.
    fn recommended_stage(&self, id: &str) -> Option<String> {
        if let Some(stages) = self.stages.with(|stages| stages.get(id).cloned()) {
            return Some(stages.recommended);
        }
        self.choices.track();
        let name = self.store.with_value(|store| {
            let shipped = store.shipped.iter().find(|entry| entry.id == id);
            let custom = store.custom.get(id).map(|(_, reference)| &reference.name);
            shipped.map(|entry| &entry.name).or(custom).cloned()
        });
        [Some(id.to_string()), name]
            .into_iter()
            .flatten()
            .find_map(|name| DenseSettings::recommended_for_name(&name))
            .map(|settings| settings.stage)
    }

    /// The stages the stage select offers for the selected encoder: all of them once it has
    /// been built, else the one it would use (read tracked).
    pub fn stage_options(&self) -> Vec<String> {
        let id = self.selected.get();
        let EmbeddingMode::Dense(settings) = self.mode_for(&id) else {
            return Vec::new();
        };
        self.stages
            .with(|stages| stages.get(&id).map(|stages| stages.names.clone()))
            .unwrap_or_else(|| vec![settings.stage])
    }

    /// Chooses the dense stage for the selected encoder.
    pub fn choose_stage(&self, stage: String) {
        let id = self.selected.get_untracked();
        self.chosen_stages.update(|chosen| {
            chosen.insert(id, stage);
        });
    }

    /// Takes a session's embedding mode for encoder `id`.
    pub fn adopt_mode(&self, id: &str, mode: &EmbeddingMode) {
        match mode {
            EmbeddingMode::PerChip => self.dense.set(false),
            EmbeddingMode::Dense(settings) => {
                self.dense.set(true);
                self.scale.set(settings.scale);
                self.chosen_stages.update(|chosen| {
                    chosen.insert(id.to_string(), settings.stage.clone());
                });
            }
        }
    }

    /// The cache key for what is on screen with the selected encoder and mode.
    pub fn current_key(&self, app: &AppState) -> Option<EmbeddingKey> {
        let range = app.display_range.get()?;
        Some(EmbeddingKey {
            dataset: app.loaded.with(|loaded| loaded.as_ref().map(|l| l.id))?,
            chip_size: app.grid()?.chip_size(),
            range_bits: (range.low.to_bits(), range.high.to_bits()),
            encoder: self.selected.get(),
            mode: self.mode(),
        })
    }

    /// The cache key for image `dataset` (a load id) embedded with `range`, with the selected
    /// encoder and mode and the chip size on screen (read tracked).
    pub fn key_for(&self, app: &AppState, dataset: u64, range: DisplayRange) -> EmbeddingKey {
        EmbeddingKey {
            dataset,
            chip_size: app.chip_size.get(),
            range_bits: (range.low.to_bits(), range.high.to_bits()),
            encoder: self.selected.get(),
            mode: self.mode(),
        }
    }

    /// `key`'s embeddings of an image of `(width, height)` pixels, on screen or not: cached,
    /// or pooled from its cached feature map (and then cached).
    pub fn embeddings_of(
        &self,
        key: &EmbeddingKey,
        size: (usize, usize),
    ) -> Option<Rc<Embeddings>> {
        self.embeddings(key).or_else(|| self.pool_map(key, size))
    }

    /// Pools `key`'s chips of an image of `(width, height)` pixels from its cached feature map
    /// and keeps them; `None` when the map is not cached.
    fn pool_map(
        &self,
        key: &EmbeddingKey,
        (width, height): (usize, usize),
    ) -> Option<Rc<Embeddings>> {
        let map = self.feature_map(key)?;
        let grid = ChipGrid::new(width, height, key.chip_size).ok()?;
        let pooled = Rc::new(map.pool(&grid));
        self.store
            .update_value(|store| store.keep_embeddings(key.clone(), pooled.clone()));
        Some(pooled)
    }

    /// Embeds every chip of an image not on screen (a project's other image) as `key` says,
    /// as [`Self::embed_other`] does, and keeps the result in the cache under `key`; false
    /// when cancelled.
    pub async fn embed_and_keep(
        &self,
        app: AppState,
        key: EmbeddingKey,
        input: (&Image, DisplayRange, &ChipGrid),
        cancel: &Cell<bool>,
    ) -> Result<bool, String> {
        let Some((embeddings, map)) = self.run_elsewhere(app, &key, input, cancel).await? else {
            return Ok(false);
        };
        self.store.update_value(|store| {
            if let (Some(map), Some(map_key)) = (map, key.map_key()) {
                store.keep_map(map_key, Rc::new(map));
            }
            store.keep_embeddings(key, Rc::new(embeddings));
        });
        self.kept_elsewhere.update(|kept| *kept += 1);
        Ok(true)
    }

    /// Finished embeddings for `key`, if cached.
    pub fn embeddings(&self, key: &EmbeddingKey) -> Option<Rc<Embeddings>> {
        self.store.with_value(|store| store.cache.get(key).cloned())
    }

    /// The dense feature map `key`'s chips are pooled from, if cached.
    pub fn feature_map(&self, key: &EmbeddingKey) -> Option<Rc<FeatureMap>> {
        let map_key = key.map_key()?;
        self.store.with_value(|store| {
            store
                .maps
                .iter()
                .find(|(kept, _)| kept == &map_key)
                .map(|(_, map)| map.clone())
        })
    }

    /// Pools `key`'s chips from its cached feature map, without running the network; `None`
    /// when the map is not cached (or the image is no longer on screen). Says how long it took.
    fn pool_cached(&self, app: &AppState, key: &EmbeddingKey) -> Option<Rc<Embeddings>> {
        let size = app.loaded.with_untracked(|loaded| {
            let loaded = loaded.as_ref().filter(|loaded| loaded.id == key.dataset)?;
            Some((loaded.dataset.image.width(), loaded.dataset.image.height()))
        })?;
        let started = now_ms();
        let pooled = self.pool_map(key, size)?;
        let elapsed = now_ms() - started;
        self.status.set(Some(format!(
            "re-pooled {} chips from the cached feature map in {elapsed:.1} ms",
            pooled.count()
        )));
        Some(pooled)
    }

    /// Follows the chips on screen in dense mode: a chip size (or anything else) whose map is
    /// cached is pooled at once, without running the network, and made ready, so the
    /// segmentation follows the grid live.
    pub fn follow(&self, app: AppState) {
        let state = *self;
        Effect::new(move |_| {
            let Some(key) = state.current_key(&app) else {
                return;
            };
            if !matches!(key.mode, EmbeddingMode::Dense(_)) || state.running.get_untracked() {
                return;
            }
            let ready = state.embeddings(&key).is_some() || state.pool_cached(&app, &key).is_some();
            if ready && state.ready.get_untracked().as_ref() != Some(&key) {
                state.ready.set(Some(key));
            }
        });
    }

    /// What a session file records about encoder `id`: its name, weight file's sha256 and the
    /// mode it embeds in (read tracked: the records change with the choices and the mode).
    pub fn encoder_ref(&self, id: &str) -> Option<EncoderRef> {
        self.choices.track();
        let reference = self.store.with_value(|store| {
            if let Some((_, reference)) = store.custom.get(id) {
                return Some(reference.clone());
            }
            let shipped = store.shipped.iter().find(|entry| entry.id == id)?;
            Some(EncoderRef {
                id: shipped.id.clone(),
                name: shipped.name.clone(),
                weights_sha256: shipped.sha256.clone(),
                mode: EmbeddingMode::PerChip,
            })
        })?;
        Some(EncoderRef {
            mode: self.mode_for(id),
            ..reference
        })
    }

    /// Asks the running embedding to stop after its current step.
    pub fn cancel(&self) {
        self.store.with_value(|store| store.cancel.set(true));
    }

    /// Embeds every chip of the current image with the selected encoder and mode: from the
    /// cache, else pooled from a cached dense map, else by running the network.
    pub fn start(&self, app: AppState) {
        let state = *self;
        let (Some(key), Some(loaded), Some(grid), Some(range)) = untrack(|| {
            (
                self.current_key(&app),
                app.loaded.get(),
                app.grid(),
                app.display_range.get(),
            )
        }) else {
            return;
        };
        let Some(backend) = app.backend.get_untracked() else {
            // A link or an autosave can ask before the backend is up (the thread pool takes a
            // moment to start its workers): start as soon as it is.
            self.status
                .set(Some("waiting for the compute backend to start…".into()));
            return spawn_local(async move {
                while app.backend.get_untracked().is_none() {
                    TimeoutFuture::new(50).await;
                }
                state.start(app);
            });
        };
        if self.embeddings(&key).is_some() {
            self.ready.set(Some(key));
            return self.status.set(Some(
                "already embedded: reusing the cached embeddings".into(),
            ));
        }
        if self.pool_cached(&app, &key).is_some() {
            return self.ready.set(Some(key));
        }
        let cancel = Rc::new(Cell::new(false));
        self.store.update_value(|store| {
            store.cancel.set(true); // a run still going is superseded by this one
            store.cancel = cancel.clone();
        });
        self.running.set(true);
        self.error.set(None);
        self.ready.set(None);
        self.longest_step_ms.set(None);
        spawn_local(async move {
            let input = (&loaded.dataset.image, range, &grid);
            let outcome = state.run(app, &key, input, backend, &cancel).await;
            let superseded = state
                .store
                .with_value(|store| !Rc::ptr_eq(&store.cancel, &cancel));
            if superseded {
                return;
            }
            state.running.set(false);
            state.download.set(None);
            match outcome {
                Ok(Some((embeddings, map))) => state.finished(app, key, embeddings, map),
                Ok(None) => {}
                Err(message) => state.error.set(Some(message)),
            }
        });
    }

    /// Embeds the chips of another image than the one on screen (a frame of a series) on
    /// `grid`, with the encoder and mode on screen, as [`Self::start`] runs the network (its
    /// progress, its fallback to the CPU) but caching nothing and leaving the status line as it
    /// was; `None` when `cancel` is set.
    pub async fn embed_other(
        &self,
        app: AppState,
        input: (&Image, DisplayRange, &ChipGrid),
        cancel: &Cell<bool>,
    ) -> Result<Option<Embeddings>, String> {
        let key = untrack(|| self.current_key(&app)).ok_or("no encoder is selected")?;
        let outcome = self.run_elsewhere(app, &key, input, cancel).await?;
        Ok(outcome.map(|(embeddings, _)| embeddings))
    }

    /// [`Self::run`] for an image not on screen: the status line is left as it was.
    async fn run_elsewhere(
        &self,
        app: AppState,
        key: &EmbeddingKey,
        input: (&Image, DisplayRange, &ChipGrid),
        cancel: &Cell<bool>,
    ) -> Result<Option<Finished>, String> {
        let backend = app
            .backend
            .get_untracked()
            .ok_or("the compute backend is still starting")?;
        let status = self.status.get_untracked();
        let outcome = self.run(app, key, input, backend, cancel).await;
        self.progress.set(None);
        self.status.set(status);
        outcome
    }

    /// Runs the network over every chip of `image` on `grid` as `key`'s mode says: each chip
    /// (pyCHIP) or the dense map pooled per chip; `None` when cancelled.
    async fn run(
        &self,
        app: AppState,
        key: &EmbeddingKey,
        (image, range, grid): (&Image, DisplayRange, &ChipGrid),
        backend: BackendStatus,
        cancel: &Cell<bool>,
    ) -> Result<Option<Finished>, String> {
        match &key.mode {
            EmbeddingMode::PerChip => {
                let chips: Vec<Chip> = grid.chips().collect();
                let source = ChipSource { image, grid, range };
                self.run_per_chip(app, &key.encoder, source, &chips, backend, cancel)
                    .await
            }
            EmbeddingMode::Dense(settings) => {
                let input = DenseInput {
                    image,
                    range,
                    grid,
                    settings,
                };
                self.run_dense(app, &key.encoder, input, backend, cancel)
                    .await
            }
        }
    }

    /// Keeps a finished run's results and makes ready what is on screen: the grid may have
    /// changed while the network ran, and its chips are then pooled from the new map too.
    fn finished(
        &self,
        app: AppState,
        key: EmbeddingKey,
        embeddings: Embeddings,
        map: Option<FeatureMap>,
    ) {
        self.store.update_value(|store| {
            if let (Some(map), Some(map_key)) = (map, key.map_key()) {
                store.keep_map(map_key, Rc::new(map));
            }
            store.keep_embeddings(key.clone(), Rc::new(embeddings));
        });
        let status = self.status.get_untracked();
        let on_screen = untrack(|| self.current_key(&app))
            .filter(|now| now != &key)
            .filter(|now| self.embeddings(now).is_some() || self.pool_cached(&app, now).is_some());
        self.status.set(status); // the run's summary, not the pooling's
        self.ready.set(Some(on_screen.unwrap_or(key)));
    }

    /// Embeds `chips` one by one (pyCHIP), falling back to the CPU if WebGPU fails; `None`
    /// when cancelled.
    async fn run_per_chip(
        &self,
        app: AppState,
        encoder_id: &str,
        source: ChipSource<'_>,
        chips: &[Chip],
        mut backend: BackendStatus,
        cancel: &Cell<bool>,
    ) -> Result<Option<Finished>, String> {
        let mut encoder = self.encoder_for(encoder_id, &backend).await?;
        let first = &chips[..chips.len().min(GPU_BATCH)];
        let input = || source.input_batch(first, &backend.device);
        let stages = encoder.stages().count();
        self.warm_up(
            encoder_id,
            &encoder,
            &backend,
            (input, stages, Head::Pooled),
        )
        .await;
        self.network_runs.update(|runs| *runs += 1);
        let started = now_ms();
        let mut slice = TimeSlice::start();
        let mut values = Vec::with_capacity(chips.len() * encoder.dim());
        loop {
            let done = values.len() / encoder.dim();
            let progress = |done: usize| self.report(started, done, chips.len(), "chips");
            progress(done);
            let forward = Forward {
                encoder: &encoder,
                backend: &backend,
                cancel,
            };
            match embed_steps(
                &forward,
                source,
                &chips[done..],
                &mut slice,
                &mut values,
                |n| progress(done + n),
            )
            .await
            {
                Ok(()) => break,
                Err(Stop::Cancelled) => {
                    self.progress.set(None);
                    let done = values.len() / encoder.dim();
                    self.status.set(Some(format!(
                        "cancelled after {done} of {} chips",
                        chips.len()
                    )));
                    return Ok(None);
                }
                Err(Stop::Backend(reason)) if backend.kind == BackendKind::WebGpu => {
                    values.truncate(done * encoder.dim());
                    backend = self.fall_back(app, &reason);
                    encoder = self.encoder_for(encoder_id, &backend).await?;
                }
                Err(Stop::Backend(reason)) => return Err(format!("embedding failed: {reason}")),
            }
        }
        self.longest_step_ms.set(Some(slice.longest_ms()));
        let seconds = (now_ms() - started) / 1000.0;
        self.status.set(Some(format!(
            "{} chips of {} embedded with {} ({}-d), pyCHIP (per chip), on {} in {seconds:.1} s · {:.2} chips/s",
            chips.len(),
            image_name(&app),
            encoder.name(),
            encoder.dim(),
            backend.label(),
            chips.len() as f64 / seconds.max(1e-3)
        )));
        let embeddings = Embeddings {
            dim: encoder.dim(),
            values,
        };
        Ok(Some((embeddings, None)))
    }

    /// Runs the trunk over the image window by window up to the stage, then pools every chip
    /// from the map; falls back to the CPU from the window reached if WebGPU fails; `None`
    /// when cancelled.
    async fn run_dense(
        &self,
        app: AppState,
        encoder_id: &str,
        input: DenseInput<'_>,
        mut backend: BackendStatus,
        cancel: &Cell<bool>,
    ) -> Result<Option<Finished>, String> {
        let DenseInput {
            image,
            range,
            grid,
            settings,
        } = input;
        let mut encoder = self.encoder_for(encoder_id, &backend).await?;
        settings
            .checked_map_bytes(&encoder, image.width(), image.height(), MAX_MAP_BYTES)
            .map_err(|error| error.to_string())?;
        self.network_runs.update(|runs| *runs += 1);
        let started = now_ms();
        let mut slice = TimeSlice::start();
        // Enlarged window by window: no step enlarges the whole image.
        let scaled = WindowedImage::new(image, range, settings.scale);
        let size = [scaled.width(), scaled.height()];
        let mut pass = DensePass::of_size(&encoder, size, settings, page_tiling())
            .map_err(|error| error.to_string())?;
        let windows = pass.windows().to_vec();
        if let Some(first) = windows.first() {
            let input = || scaled.window(first.x, first.y, &backend.device);
            let stages = pass.cut().stages;
            self.warm_up(encoder_id, &encoder, &backend, (input, stages, Head::Map))
                .await;
        }
        let mut done = 0;
        let progress = |done: usize| self.report(started, done, windows.len(), "windows");
        loop {
            progress(done);
            let forward = Forward {
                encoder: &encoder,
                backend: &backend,
                cancel,
            };
            match forward
                .run_windows(
                    &scaled,
                    &mut pass,
                    &windows[done..],
                    &mut slice,
                    (&mut done, progress),
                )
                .await
            {
                Ok(()) => break,
                Err(Stop::Cancelled) => {
                    self.progress.set(None);
                    self.status.set(Some(format!(
                        "cancelled after {done} of {} windows",
                        windows.len()
                    )));
                    return Ok(None);
                }
                Err(Stop::Backend(reason)) if backend.kind == BackendKind::WebGpu => {
                    backend = self.fall_back(app, &reason);
                    encoder = self.encoder_for(encoder_id, &backend).await?;
                }
                Err(Stop::Backend(reason)) => return Err(format!("embedding failed: {reason}")),
            }
        }
        let map = pass.finish();
        let embeddings = map.pool(grid);
        self.longest_step_ms.set(Some(slice.longest_ms()));
        let seconds = (now_ms() - started) / 1000.0;
        self.status.set(Some(format!(
            "{} chips of {} embedded with {} ({}-d), dense ({} ×{}), on {} in {seconds:.1} s ({} windows, map {} × {}) · {:.1} chips/s",
            grid.chip_count(),
            image_name(&app),
            encoder.name(),
            map.channels,
            settings.stage,
            settings.scale,
            backend.label(),
            windows.len(),
            map.rows,
            map.cols,
            grid.chip_count() as f64 / seconds.max(1e-3)
        )));
        Ok(Some((embeddings, Some(map))))
    }

    /// On WebGPU, runs an input of the run's shape through the encoder once before the run, the
    /// first time that shape is used: compiling the shaders (fused ones among them) and, with the
    /// `autotune` feature, timing every convolution kernel on this GPU happen here, with the
    /// status line saying so, and not in the timed run. Failures are left to the run, which falls back to the CPU.
    async fn warm_up(
        &self,
        id: &str,
        encoder: &Arc<ImageEncoder>,
        backend: &BackendStatus,
        (input, stages, head): (impl FnOnce() -> Tensor<4>, usize, Head),
    ) {
        if backend.kind != BackendKind::WebGpu {
            return;
        }
        let x = input();
        let key = (id.to_string(), x.dims(), stages);
        if self.store.with_value(|store| store.warmed.contains(&key)) {
            return;
        }
        self.status.set(Some(format!(
            "warming up WebGPU for {}: compiling shaders{TUNING} for {:?} inputs…",
            encoder.name(),
            key.1
        )));
        let cancel = Cell::new(false);
        let forward = Forward {
            encoder,
            backend,
            cancel: &cancel,
        };
        if forward
            .run(Input::Tensor(x), stages, head, &mut TimeSlice::start())
            .await
            .is_ok()
        {
            // The tuner times its candidates in tasks of their own: let them finish.
            TimeoutFuture::new(50).await;
            self.store.update_value(|store| {
                store.warmed.insert(key);
            });
        }
    }

    fn report(&self, started: f64, done: usize, total: usize, unit: &'static str) {
        let seconds = (now_ms() - started) / 1000.0;
        self.progress.set(Some(RunProgress {
            done,
            total,
            per_second: done as f64 / seconds.max(1e-3),
            unit,
        }));
    }

    /// Switches the page to the CPU after WebGPU failed during a run.
    fn fall_back(&self, app: AppState, reason: &str) -> BackendStatus {
        let backend = BackendStatus::cpu_fallback(&format!(
            "WebGPU failed during embedding ({reason}); continued on the CPU"
        ));
        app.backend.set(Some(backend.clone()));
        backend
    }

    /// The encoder `id` built on `backend`'s device, reusing the last one when it matches.
    async fn encoder_for(
        &self,
        id: &str,
        backend: &BackendStatus,
    ) -> Result<Arc<ImageEncoder>, String> {
        let last = self.store.with_value(|store| store.loaded.clone());
        if let Some(last) = &last
            && last.id == id
            && last.backend == backend.kind
        {
            return Ok(last.encoder.clone());
        }
        let weights = match last.filter(|last| last.id == id) {
            Some(last) => last.weights,
            None => self.weights(id).await?,
        };
        self.store.update_value(|store| store.loaded = None); // free the old encoder first
        let built = build_encoder(weights.clone(), backend.device.clone(), backend.packed());
        let encoder = Arc::new(built.await?);
        self.learn_stages(id, &encoder);
        let loaded = LoadedEncoder {
            id: id.to_string(),
            backend: backend.kind,
            weights,
            encoder: encoder.clone(),
        };
        self.store.update_value(|store| store.loaded = Some(loaded));
        Ok(encoder)
    }

    /// Records the stages encoder `id` offers, for the stage select.
    fn learn_stages(&self, id: &str, encoder: &ImageEncoder) {
        let stages = Stages {
            names: encoder.cuts().iter().map(|cut| cut.name.clone()).collect(),
            recommended: DenseSettings::recommended(encoder).stage,
        };
        if self
            .stages
            .with_untracked(|known| known.get(id) != Some(&stages))
        {
            self.stages.update(|known| {
                known.insert(id.to_string(), stages);
            });
        }
    }

    async fn weights(&self, id: &str) -> Result<Arc<TensorMap>, String> {
        if let Some((custom, _)) = self.store.with_value(|store| store.custom.get(id).cloned()) {
            return Ok(custom);
        }
        let entry = self
            .store
            .with_value(|store| store.shipped.iter().find(|entry| entry.id == id).cloned())
            .ok_or_else(|| format!("no encoder {id}"))?;
        let state = *self;
        let (bytes, origin) = weights_fetch::weight_file(&entry, move |received, total| {
            state.download.set(Some((received, total)));
        })
        .await?;
        self.download.set(None);
        let source = match origin {
            Origin::Cache => "from the browser cache",
            Origin::Network => "downloaded",
        };
        self.status.set(Some(format!(
            "{} weights {source}, sha256 verified",
            entry.name
        )));
        TimeoutFuture::new(0).await;
        read_weights(&bytes)
            .map(Arc::new)
            .map_err(|error| format!("{}: {error}", entry.file))
    }

    /// Checks a user's weight file and, when it is a ResNet or MobileNetV2, adds and selects it.
    /// The encoder built for the check is kept, so the first run does not build it again.
    pub async fn add_custom(&self, name: &str, bytes: &[u8], backend: Option<&BackendStatus>) {
        let (kind, device, packed) = match backend {
            Some(backend) => (backend.kind, backend.device.clone(), backend.packed()),
            None => {
                let cpu = CpuBackend::from_url();
                (BackendKind::Cpu, cpu.device(), cpu == CpuBackend::Kernels)
            }
        };
        let weights = match read_weights(bytes) {
            Ok(weights) => Arc::new(weights),
            Err(error) => return self.error.set(Some(format!("{name}: {error}"))),
        };
        let encoder = match build_encoder(weights.clone(), device, packed).await {
            Ok(encoder) => Arc::new(encoder),
            Err(error) => return self.error.set(Some(format!("{name}: {error}"))),
        };
        let (architecture, dim) = (encoder.name().to_string(), encoder.dim());
        let sha256 = sha256_hex(bytes);
        let id = format!("custom-{}", &sha256[..12]);
        let reference = EncoderRef {
            id: id.clone(),
            name: format!("{name} ({architecture})"),
            weights_sha256: sha256,
            mode: EmbeddingMode::PerChip, // filled in by `encoder_ref`
        };
        self.learn_stages(&id, &encoder);
        self.store.update_value(|store| {
            store
                .custom
                .insert(id.clone(), (weights.clone(), reference));
            store.loaded = Some(LoadedEncoder {
                id: id.clone(),
                backend: kind,
                weights,
                encoder,
            });
        });
        self.choices.update(|list| {
            list.retain(|choice| choice.id != id);
            list.push(EncoderChoice {
                id: id.clone(),
                label: format!("{name} · {architecture} · {dim}-d"),
            });
        });
        self.selected.set(id);
        self.error.set(None);
        self.status.set(Some(format!(
            "{name}: {architecture} weights ready ({dim}-d embeddings)"
        )));
    }
}

/// Builds an encoder from its weights, packed for Chipscope's kernels or as burn tensors on
/// `device`: on the thread pool where there is one (burn's CPU operations must not run on the
/// main thread there), else here.
async fn build_encoder(
    weights: Arc<TensorMap>,
    device: Device,
    packed: bool,
) -> Result<ImageEncoder, String> {
    threads::off_main(move || match packed {
        true => ImageEncoder::packed(&weights),
        false => ImageEncoder::from_weights(&weights, &device),
    })
    .await
    .map_err(|error| error.to_string())
}

/// Puts the shipped encoders first among the choices, selecting the default one, and keeps their
/// manifest entries.
fn list_shipped(
    choices: RwSignal<Vec<EncoderChoice>>,
    selected: RwSignal<String>,
    store: StoredValue<Store, LocalStorage>,
    shipped: Vec<ShippedEncoder>,
) {
    let listed = shipped
        .iter()
        .map(|entry| EncoderChoice {
            id: entry.id.clone(),
            label: format!(
                "{} · {}-d · {:.0} MB",
                entry.name,
                entry.dim,
                entry.bytes as f64 / 1e6
            ),
        })
        .collect::<Vec<_>>();
    store.update_value(|store| store.shipped = shipped);
    let default = listed.iter().find(|choice| choice.id == DEFAULT_ENCODER);
    if let Some(first) = default.or(listed.first()) {
        selected.set(first.id.clone());
    }
    choices.update(|list| list.splice(0..0, listed).for_each(drop));
}

/// Embeds `chips` into `values`, one batch at a time (see [`Forward::run`] for where each runs);
/// `progress(n)` after each batch.
async fn embed_steps(
    forward: &Forward<'_>,
    source: ChipSource<'_>,
    chips: &[Chip],
    slice: &mut TimeSlice,
    values: &mut Vec<f32>,
    progress: impl Fn(usize),
) -> Result<(), Stop> {
    let batch_size = match (forward.on_cpu(), threads::pooled()) {
        (true, true) => CHIPS_PER_THREAD * forward.backend.threads,
        (true, false) => 1,
        (false, _) => GPU_BATCH,
    };
    let stages = forward.stages();
    let mut done = 0;
    for batch in chips.chunks(batch_size) {
        let x = match forward.encoder.is_packed() {
            true => Input::Images(batch.iter().map(|&c| source.chip_activations(c)).collect()),
            false => Input::Tensor(source.input_batch(batch, &forward.backend.device)),
        };
        values.extend(forward.run(x, stages, Head::Pooled, slice).await?);
        done += batch.len();
        progress(done);
        slice.yield_when_due(forward.cancel).await?;
    }
    Ok(())
}

/// One backend's forward passes: the encoder, the backend it was built on and the run's cancel
/// flag.
struct Forward<'a> {
    encoder: &'a Arc<ImageEncoder>,
    backend: &'a BackendStatus,
    cancel: &'a Cell<bool>,
}

/// A forward pass's input: burn's `[batch, 3, h, w]` tensor, or NHWC images for Chipscope's
/// kernels.
enum Input {
    Tensor(Tensor<4>),
    Images(Vec<Activations>),
}

/// What a forward pass hands back: each input's pooled embedding, or the feature map itself.
#[derive(Clone, Copy)]
enum Head {
    Pooled,
    Map,
}

impl Forward<'_> {
    fn on_cpu(&self) -> bool {
        self.backend.kind == BackendKind::Cpu
    }

    /// The encoder's whole forward pass, in stages (burn's or the packed blocks).
    fn stages(&self) -> usize {
        match self.encoder.is_packed() {
            true => self.encoder.blocks().len(),
            false => self.encoder.stages().count(),
        }
    }

    /// Runs `x` through the encoder's first `stages` stages and reads the result back, flat
    /// (a map channel by channel from burn, pixel by pixel from the kernels): on the GPU without
    /// pausing, then awaiting the read-back; on the CPU's thread pool as one job the page
    /// awaits; on the CPU without a pool here, yielding to the browser between stages.
    async fn run(
        &self,
        x: Input,
        stages: usize,
        head: Head,
        slice: &mut TimeSlice,
    ) -> Result<Vec<f32>, Stop> {
        let x = match x {
            Input::Tensor(x) => x,
            Input::Images(images) => return self.run_packed(images, stages, head, slice).await,
        };
        if self.on_cpu() && threads::pooled() {
            let encoder = self.encoder.clone();
            let job = threads::off_main(move || {
                let x = encoder.stages().take(stages).fold(x, |x, s| s.forward(x));
                head.apply(x).try_into_data()
            });
            return slice
                .wait_free(job)
                .await
                .map_err(|error| Stop::Backend(error.to_string()))?
                .try_into_vec::<f32>()
                .map_err(|error| Stop::Backend(format!("{error:?}")));
        }
        let mut x = x;
        for stage in self.encoder.stages().take(stages) {
            x = stage.forward(x);
            if self.on_cpu() {
                slice.yield_when_due(self.cancel).await?;
            }
        }
        read_back(head.apply(x)).await
    }
}

impl Forward<'_> {
    /// [`Self::run`] on Chipscope's kernels: the images as one job on the pool, or here block
    /// by block, yielding to the browser between blocks.
    async fn run_packed(
        &self,
        images: Vec<Activations>,
        stages: usize,
        head: Head,
        slice: &mut TimeSlice,
    ) -> Result<Vec<f32>, Stop> {
        let pooled = matches!(head, Head::Pooled);
        if threads::pooled() {
            let encoder = self.encoder.clone();
            let job = threads::off_main(move || encoder.run_packed(images, stages, pooled));
            return Ok(slice.wait_free(job).await);
        }
        let mut values = Vec::new();
        for image in images {
            let mut x = image;
            for block in &self.encoder.blocks()[..stages] {
                x = block.forward(&x, Split::Serial);
                slice.yield_when_due(self.cancel).await?;
            }
            values.extend(ImageEncoder::packed_output(x, pooled));
        }
        Ok(values)
    }
}

impl Head {
    fn apply(self, x: Tensor<4>) -> Tensor<1> {
        match self {
            Head::Pooled => ImageEncoder::pool(x).flatten(0, 1),
            Head::Map => x.flatten(0, 3),
        }
    }
}

/// What a dense run reads: the image with its display range, the grid its chips are pooled
/// for, and where the trunk stops.
#[derive(Clone, Copy)]
struct DenseInput<'a> {
    image: &'a Image,
    range: DisplayRange,
    grid: &'a ChipGrid,
    settings: &'a DenseSettings,
}

impl Forward<'_> {
    /// Runs `windows` one after the other into `pass` (see [`Forward::run`]); counts each window
    /// kept in `done` and reports it.
    async fn run_windows(
        &self,
        image: &WindowedImage,
        pass: &mut DensePass,
        windows: &[Window],
        slice: &mut TimeSlice,
        (done, progress): (&mut usize, impl Fn(usize)),
    ) -> Result<(), Stop> {
        let stages = pass.cut().stages;
        let packed = self.encoder.is_packed();
        for &window in windows {
            let x = match packed {
                true => Input::Images(vec![image.crop(window.x, window.y).activations()]),
                false => Input::Tensor(image.window(window.x, window.y, &self.backend.device)),
            };
            let values = self.run(x, stages, Head::Map, slice).await?;
            match packed {
                true => pass.keep_pixels(window, &values),
                false => pass.keep(window, &values),
            }
            *done += 1;
            progress(*done);
            slice.yield_when_due(self.cancel).await?;
        }
        Ok(())
    }
}

/// [`PAGE_TILING`], or with the kept side `?tile=N` in the page's address asks for (at least
/// 64 px; for measuring other windows, as `?cpu=` picks the CPU backend).
fn page_tiling() -> Tiling {
    let search = window().location().search().unwrap_or_default();
    let asked = web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|params| params.get("tile"))
        .and_then(|tile| tile.parse::<usize>().ok());
    match asked {
        Some(kept_px) => Tiling {
            kept_px: kept_px.max(64),
            ..PAGE_TILING
        },
        None => PAGE_TILING,
    }
}

/// The name of the image on screen.
fn image_name(app: &AppState) -> String {
    app.loaded
        .with_untracked(|l| l.as_ref().map(|l| l.name.clone()))
        .unwrap_or_default()
}

/// The output of whichever of `a` and `b` finishes first.
async fn first_of<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|context| match a.as_mut().poll(context) {
        Poll::Ready(value) => Poll::Ready(value),
        Poll::Pending => b.as_mut().poll(context),
    })
    .await
}

/// Cooperative scheduling: work runs in slices of about [`SLICE_MS`], then yields one task.
/// Keeps the longest slice, the longest the page went without handling input.
struct TimeSlice {
    started: f64,
    longest: f64,
}

impl TimeSlice {
    fn start() -> Self {
        Self {
            started: now_ms(),
            longest: 0.0,
        }
    }

    /// Awaits work done elsewhere (the thread pool): the page is free meanwhile, so the slice
    /// ends here and a new one starts when the work is done.
    async fn wait_free<T>(&mut self, work: impl Future<Output = T>) -> T {
        self.longest = self.longest.max(now_ms() - self.started);
        let output = work.await;
        self.started = now_ms();
        output
    }

    /// Yields to the browser if this slice is used up; stops when the user cancelled.
    async fn yield_when_due(&mut self, cancel: &Cell<bool>) -> Result<(), Stop> {
        let elapsed = now_ms() - self.started;
        if elapsed >= SLICE_MS {
            self.longest = self.longest.max(elapsed);
            TimeoutFuture::new(0).await;
            self.started = now_ms();
        }
        match cancel.get() {
            true => Err(Stop::Cancelled),
            false => Ok(()),
        }
    }

    /// The longest slice so far, the one under way included, in milliseconds.
    fn longest_ms(&self) -> f64 {
        self.longest.max(now_ms() - self.started)
    }
}

async fn read_back<const D: usize>(output: Tensor<D>) -> Result<Vec<f32>, Stop> {
    let data = output
        .into_data_async()
        .await
        .map_err(|error| Stop::Backend(error.to_string()))?;
    data.try_into_vec::<f32>()
        .map_err(|error| Stop::Backend(format!("{error:?}")))
}
