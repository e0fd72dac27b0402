//! Embedding every chip in the page: the chosen encoder on the current backend, run in steps
//! that yield to the browser, with progress, cancel, a WebGPU → CPU fallback and a cache keyed
//! by (image, grid, display range, encoder) so nothing is embedded twice.
//!
//! Why cooperative yielding rather than a Web Worker: on WebGPU the work runs on the GPU and the
//! page only waits for read-backs; on the CPU each network stage (a residual block) takes well
//! under a second for one chip, and the page yields between stages, so input and painting stay
//! live. A worker would need a second WebAssembly module of the same size, built and loaded
//! separately, and the weights copied into it.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::task::Poll;

use burn::tensor::Tensor;
use chipscope_core::embeddings::Embeddings;
use chipscope_core::encoders::{ChipSource, ImageEncoder};
use chipscope_core::grid::Chip;
use chipscope_core::hashing::sha256_hex;
use chipscope_core::session::EncoderRef;
use chipscope_core::weights::manifest::ShippedEncoder;
use chipscope_core::weights::{TensorMap, read_weights};
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::compute::{BackendKind, BackendStatus, CpuBackend};
use crate::weights_fetch::{self, Origin};

/// Chips per forward pass on the GPU; on the CPU one chip, so each step stays short.
const GPU_BATCH: usize = 16;
/// The longest the CPU path computes before letting the browser paint and handle input.
const SLICE_MS: f64 = 30.0;

/// What the cache is keyed by: the embeddings depend on all of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmbeddingKey {
    pub dataset: u64,
    pub chip_size: usize,
    pub range_bits: (u32, u32),
    pub encoder: String,
}

/// An encoder the user can pick.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderChoice {
    pub id: String,
    pub label: String,
}

/// Progress of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunProgress {
    pub done: usize,
    pub total: usize,
    pub chips_per_second: f64,
}

/// View state of the embedding panel; the heavy, browser-thread-only parts live in [`Store`].
#[derive(Clone, Copy)]
pub struct EmbeddingState {
    pub choices: RwSignal<Vec<EncoderChoice>>,
    pub selected: RwSignal<String>,
    pub download: RwSignal<Option<(u64, u64)>>,
    pub progress: RwSignal<Option<RunProgress>>,
    pub status: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    pub running: RwSignal<bool>,
    /// The key of the finished embeddings for what is on screen, if any.
    pub ready: RwSignal<Option<EmbeddingKey>>,
    /// The shipped encoders' list, fetched once: `Ok` when they are among the choices.
    listing: LocalResource<Result<(), String>>,
    store: StoredValue<Store, LocalStorage>,
}

#[derive(Default)]
struct Store {
    shipped: Vec<ShippedEncoder>,
    custom: HashMap<String, (Rc<TensorMap>, EncoderRef)>,
    loaded: Option<LoadedEncoder>,
    cache: HashMap<EmbeddingKey, Rc<Embeddings>>,
    cancel: Rc<Cell<bool>>,
}

/// The encoder built last, kept with its weights so it can be rebuilt on the CPU.
#[derive(Clone)]
struct LoadedEncoder {
    id: String,
    backend: BackendKind,
    weights: Rc<TensorMap>,
    encoder: Rc<ImageEncoder>,
}

/// Why a run stopped early.
enum Stop {
    Cancelled,
    Backend(String),
}

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
            download: RwSignal::new(None),
            progress: RwSignal::new(None),
            status: RwSignal::new(None),
            error,
            running: RwSignal::new(false),
            ready: RwSignal::new(None),
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

    /// The cache key for what is on screen with the selected encoder.
    pub fn current_key(&self, app: &AppState) -> Option<EmbeddingKey> {
        let range = app.display_range.get()?;
        Some(EmbeddingKey {
            dataset: app.loaded.with(|loaded| loaded.as_ref().map(|l| l.id))?,
            chip_size: app.grid()?.chip_size(),
            range_bits: (range.low.to_bits(), range.high.to_bits()),
            encoder: self.selected.get(),
        })
    }

    /// Finished embeddings for `key`, if cached.
    pub fn embeddings(&self, key: &EmbeddingKey) -> Option<Rc<Embeddings>> {
        self.store.with_value(|store| store.cache.get(key).cloned())
    }

    /// What a session file records about encoder `id`: its name and weight file's sha256
    /// (read tracked: the records change with the list of choices).
    pub fn encoder_ref(&self, id: &str) -> Option<EncoderRef> {
        self.choices.track();
        self.store.with_value(|store| {
            if let Some((_, reference)) = store.custom.get(id) {
                return Some(reference.clone());
            }
            let shipped = store.shipped.iter().find(|entry| entry.id == id)?;
            Some(EncoderRef {
                id: shipped.id.clone(),
                name: shipped.name.clone(),
                weights_sha256: shipped.sha256.clone(),
            })
        })
    }

    /// Asks the running embedding to stop after its current step.
    pub fn cancel(&self) {
        self.store.with_value(|store| store.cancel.set(true));
    }

    /// Embeds every chip of the current image with the selected encoder (or reuses the cache).
    pub fn start(&self, app: AppState) {
        let state = *self;
        let (Some(key), Some(loaded), Some(grid), Some(range)) = (
            self.current_key(&app),
            app.loaded.get_untracked(),
            app.grid(),
            app.display_range.get_untracked(),
        ) else {
            return;
        };
        let Some(backend) = app.backend.get_untracked() else {
            return self
                .error
                .set(Some("the compute backend is still starting".into()));
        };
        if self.embeddings(&key).is_some() {
            self.ready.set(Some(key));
            return self.status.set(Some(
                "already embedded: reusing the cached embeddings".into(),
            ));
        }
        let cancel = Rc::new(Cell::new(false));
        self.store.update_value(|store| {
            store.cancel.set(true); // a run still going is superseded by this one
            store.cancel = cancel.clone();
        });
        self.running.set(true);
        self.error.set(None);
        self.ready.set(None);
        spawn_local(async move {
            let chips: Vec<Chip> = grid.chips().collect();
            let source = ChipSource {
                image: &loaded.dataset.image,
                grid: &grid,
                range,
            };
            let outcome = state
                .run(app, &key.encoder, source, &chips, backend, &cancel)
                .await;
            let superseded = state
                .store
                .with_value(|store| !Rc::ptr_eq(&store.cancel, &cancel));
            if superseded {
                return;
            }
            state.running.set(false);
            state.download.set(None);
            match outcome {
                Ok(Some(embeddings)) => {
                    state.store.update_value(|store| {
                        store.cache.insert(key.clone(), Rc::new(embeddings));
                    });
                    state.ready.set(Some(key));
                }
                Ok(None) => {}
                Err(message) => state.error.set(Some(message)),
            }
        });
    }

    /// Embeds `chips`, falling back to the CPU if WebGPU fails; `None` when cancelled.
    async fn run(
        &self,
        app: AppState,
        encoder_id: &str,
        source: ChipSource<'_>,
        chips: &[Chip],
        mut backend: BackendStatus,
        cancel: &Cell<bool>,
    ) -> Result<Option<Embeddings>, String> {
        let mut encoder = self.encoder_for(encoder_id, &backend).await?;
        let started = js_sys::Date::now();
        let mut values = Vec::with_capacity(chips.len() * encoder.dim());
        loop {
            let done = values.len() / encoder.dim();
            let progress = |done: usize| {
                let seconds = (js_sys::Date::now() - started) / 1000.0;
                self.progress.set(Some(RunProgress {
                    done,
                    total: chips.len(),
                    chips_per_second: done as f64 / seconds.max(1e-3),
                }));
            };
            progress(done);
            match embed_steps(
                &encoder,
                source,
                &chips[done..],
                &backend,
                cancel,
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
                    backend = BackendStatus::cpu_fallback(&format!(
                        "WebGPU failed during embedding ({reason}); continued on the CPU"
                    ));
                    app.backend.set(Some(backend.clone()));
                    encoder = self.encoder_for(encoder_id, &backend).await?;
                }
                Err(Stop::Backend(reason)) => return Err(format!("embedding failed: {reason}")),
            }
        }
        let seconds = (js_sys::Date::now() - started) / 1000.0;
        let image_name = app
            .loaded
            .with_untracked(|l| l.as_ref().map(|l| l.name.clone()));
        self.status.set(Some(format!(
            "{} chips of {} embedded with {} ({}-d) on {} in {seconds:.1} s · {:.2} chips/s",
            chips.len(),
            image_name.unwrap_or_default(),
            encoder.name(),
            encoder.dim(),
            backend.label(),
            chips.len() as f64 / seconds.max(1e-3)
        )));
        Ok(Some(Embeddings {
            dim: encoder.dim(),
            values,
        }))
    }

    /// The encoder `id` built on `backend`'s device, reusing the last one when it matches.
    async fn encoder_for(
        &self,
        id: &str,
        backend: &BackendStatus,
    ) -> Result<Rc<ImageEncoder>, String> {
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
        let encoder = Rc::new(
            ImageEncoder::from_weights(&weights, &backend.device).map_err(|e| e.to_string())?,
        );
        let loaded = LoadedEncoder {
            id: id.to_string(),
            backend: backend.kind,
            weights,
            encoder: encoder.clone(),
        };
        self.store.update_value(|store| store.loaded = Some(loaded));
        Ok(encoder)
    }

    async fn weights(&self, id: &str) -> Result<Rc<TensorMap>, String> {
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
            .map(Rc::new)
            .map_err(|error| format!("{}: {error}", entry.file))
    }

    /// Checks a user's weight file and, when it is a ResNet or MobileNetV2, adds and selects it.
    /// The encoder built for the check is kept, so the first run does not build it again.
    pub fn add_custom(&self, name: &str, bytes: &[u8], backend: Option<&BackendStatus>) {
        let (kind, device) = match backend {
            Some(backend) => (backend.kind, backend.device.clone()),
            None => (BackendKind::Cpu, CpuBackend::from_url().device()),
        };
        let outcome = read_weights(bytes)
            .map_err(|e| e.to_string())
            .and_then(|weights| {
                let encoder =
                    ImageEncoder::from_weights(&weights, &device).map_err(|e| e.to_string())?;
                Ok((Rc::new(weights), Rc::new(encoder)))
            });
        let (weights, encoder) = match outcome {
            Ok(built) => built,
            Err(error) => return self.error.set(Some(format!("{name}: {error}"))),
        };
        let (architecture, dim) = (encoder.name().to_string(), encoder.dim());
        let sha256 = sha256_hex(bytes);
        let id = format!("custom-{}", &sha256[..12]);
        let reference = EncoderRef {
            id: id.clone(),
            name: format!("{name} ({architecture})"),
            weights_sha256: sha256,
        };
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

/// Puts the shipped encoders first among the choices, selecting the first, and keeps their
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
    if let Some(first) = listed.first() {
        selected.set(first.id.clone());
    }
    choices.update(|list| list.splice(0..0, listed).for_each(drop));
}

/// Embeds `chips` into `values`, one batch at a time, yielding to the browser between network
/// stages on the CPU and at every read-back on the GPU; `progress(n)` after each batch.
async fn embed_steps(
    encoder: &ImageEncoder,
    source: ChipSource<'_>,
    chips: &[Chip],
    backend: &BackendStatus,
    cancel: &Cell<bool>,
    values: &mut Vec<f32>,
    progress: impl Fn(usize),
) -> Result<(), Stop> {
    let on_cpu = backend.kind == BackendKind::Cpu;
    let batch_size = if on_cpu { 1 } else { GPU_BATCH };
    let mut slice = TimeSlice::start();
    let mut done = 0;
    for batch in chips.chunks(batch_size) {
        let mut x = source.input_batch(batch, &backend.device);
        for stage in encoder.stages() {
            x = stage.forward(x);
            if on_cpu {
                slice.yield_when_due(cancel).await?;
            }
        }
        values.extend(read_back(ImageEncoder::pool(x)).await?);
        done += batch.len();
        progress(done);
        slice.yield_when_due(cancel).await?;
    }
    Ok(())
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
struct TimeSlice {
    started: f64,
}

impl TimeSlice {
    fn start() -> Self {
        Self {
            started: js_sys::Date::now(),
        }
    }

    /// Yields to the browser if this slice is used up; stops when the user cancelled.
    async fn yield_when_due(&mut self, cancel: &Cell<bool>) -> Result<(), Stop> {
        if js_sys::Date::now() - self.started >= SLICE_MS {
            TimeoutFuture::new(0).await;
            self.started = js_sys::Date::now();
        }
        match cancel.get() {
            true => Err(Stop::Cancelled),
            false => Ok(()),
        }
    }
}

async fn read_back(output: Tensor<2>) -> Result<Vec<f32>, Stop> {
    let data = output
        .into_data_async()
        .await
        .map_err(|error| Stop::Backend(error.to_string()))?;
    data.try_into_vec::<f32>()
        .map_err(|error| Stop::Backend(format!("{error:?}")))
}
