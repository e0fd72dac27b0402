//! Embeddings: pick an encoder (shipped or your own weights) and the mode — dense (a stage and a
//! scale) or pyCHIP (per chip) —, embed every chip with progress and cancel, and download the
//! result as `.npy` (and, in dense mode, the feature map).

use crate::app::AppState;
use crate::components::import::picked_files;
use crate::download;
use crate::embedding::{EmbeddingState, describe_download};
use crate::loading::{WEIGHT_EXTENSIONS, use_weight_file};
use chipscope_core::encoders::dense::EmbeddingMode;
use chipscope_core::npy;
use leptos::prelude::*;

/// The embedding panel.
#[component]
pub fn EncoderPanel() -> impl IntoView {
    let app = expect_context::<AppState>();
    let embedding = expect_context::<EmbeddingState>();
    let on_weights = move |event: leptos::ev::Event| {
        if let Some(file) = picked_files(&event).into_iter().next() {
            use_weight_file(app, embedding, file);
        }
    };
    let cached = move || {
        embedding.ready.track();
        let key = embedding.current_key(&app)?;
        embedding
            .embeddings(&key)
            .map(|embeddings| (key, embeddings))
    };
    let save_npy = move |_| {
        let Some((key, embeddings)) = cached() else {
            return;
        };
        let stem = app
            .loaded
            .with_untracked(|l| l.as_ref().map(|l| l.stem()))
            .unwrap_or_default();
        let bytes = npy::write_f32(&[embeddings.count(), embeddings.dim], &embeddings.values);
        let mode = match &key.mode {
            EmbeddingMode::PerChip => String::new(),
            EmbeddingMode::Dense(settings) => format!("_{}_x{}", settings.stage, settings.scale),
        };
        let name = format!("{stem}_{}{mode}_chip{}.npy", key.encoder, key.chip_size);
        if let Err(error) = download::save(&name, "application/octet-stream", &bytes) {
            embedding.error.set(Some(error));
        }
    };
    let cached_map = move || {
        embedding.ready.track();
        let key = embedding.current_key(&app)?;
        embedding.feature_map(&key).map(|map| (key, map))
    };
    let save_map = move |_| {
        let Some((key, map)) = cached_map() else {
            return;
        };
        let EmbeddingMode::Dense(settings) = &key.mode else {
            return;
        };
        let stem = app
            .loaded
            .with_untracked(|l| l.as_ref().map(|l| l.stem()))
            .unwrap_or_default();
        let bytes = npy::write_f32(&[map.rows, map.cols, map.channels], &map.values);
        let name = format!(
            "{stem}_{}_{}_x{}_map.npy",
            key.encoder, settings.stage, settings.scale
        );
        if let Err(error) = download::save(&name, "application/octet-stream", &bytes) {
            embedding.error.set(Some(error));
        }
    };
    let chip_count = move || app.grid().map_or(0, |grid| grid.chip_count());
    let dense_settings = move || match embedding.mode() {
        EmbeddingMode::Dense(settings) => Some(settings),
        EmbeddingMode::PerChip => None,
    };
    view! {
        <section class="panel" data-testid="encoder-panel" data-network-runs=move || embedding.network_runs.get()
            data-longest-step-ms=move || embedding.longest_step_ms.get().map(|ms| format!("{ms:.0}"))>
            <h2>"Embeddings"</h2>
            <label class="row">
                "encoder"
                <select data-testid="encoder-select" class="wide"
                    prop:value=move || embedding.selected.get()
                    on:change=move |event| embedding.selected.set(event_target_value(&event))>
                    <For each=move || embedding.choices.get() key=|choice| choice.id.clone() let(choice)>
                        <option value=choice.id.clone()>{choice.label.clone()}</option>
                    </For>
                </select>
            </label>
            <label class="row">
                "mode"
                <select data-testid="embed-mode" class="wide"
                    prop:value=move || if embedding.dense.get() { "dense" } else { "per_chip" }
                    on:change=move |event| embedding.dense.set(event_target_value(&event) == "dense")>
                    <option value="dense">"dense (recommended)"</option>
                    <option value="per_chip">"pyCHIP (per chip)"</option>
                </select>
            </label>
            {move || dense_settings().map(|settings| view! {
                <label class="row">
                    "stage"
                    <select data-testid="dense-stage"
                        prop:value=settings.stage.clone()
                        on:change=move |event| embedding.choose_stage(event_target_value(&event))>
                        {embedding.stage_options().into_iter().map(|stage| view! {
                            <option value=stage.clone() selected=stage == settings.stage>{stage.clone()}</option>
                        }).collect_view()}
                    </select>
                    "scale"
                    <select data-testid="dense-scale"
                        prop:value=settings.scale.to_string()
                        on:change=move |event| {
                            if let Ok(scale) = event_target_value(&event).parse() {
                                embedding.scale.set(scale);
                            }
                        }>
                        {EmbeddingMode::SCALES.into_iter().map(|scale| view! {
                            <option value=scale.to_string() selected=scale == settings.scale>{format!("×{scale}")}</option>
                        }).collect_view()}
                    </select>
                </label>
            })}
            <label class="button secondary small">
                "Use your own weights (.pth, .safetensors)…"
                <input type="file" accept=WEIGHT_EXTENSIONS.join(",") data-testid="weights-input" on:change=on_weights/>
            </label>
            <div class="row">
                <button class="button" data-testid="embed"
                    disabled=move || embedding.running.get() || chip_count() == 0 || app.backend.with(Option::is_none)
                    on:click=move |_| embedding.start(app)>
                    {move || format!("Embed {} chips", chip_count())}
                </button>
                <button class="button secondary" data-testid="cancel"
                    disabled=move || !embedding.running.get()
                    on:click=move |_| embedding.cancel()>
                    "Cancel"
                </button>
            </div>
            {move || embedding.download.get().map(|(received, total)| view! {
                <label class="row progress">
                    <progress data-testid="download-progress" max=total.to_string() value=received.to_string()></progress>
                    {describe_download((received, total))}
                </label>
            })}
            {move || embedding.running.get().then(|| embedding.progress.get()).flatten().map(|progress| view! {
                <label class="row progress">
                    <progress data-testid="embed-progress" max=progress.total.to_string() value=progress.done.to_string()></progress>
                    <span data-testid="embed-rate">{format!("{}/{} {unit} · {:.2} {unit}/s", progress.done, progress.total, progress.per_second, unit = progress.unit)}</span>
                </label>
            })}
            {move || embedding.status.get().map(|message| view! { <p class="hint" data-testid="embed-status">{message}</p> })}
            {move || embedding.error.get().map(|message| view! { <p class="error" role="alert" data-testid="embed-error">{message}</p> })}
            {move || cached().map(|(key, embeddings)| view! {
                <div class="row">
                    <span data-testid="embedded" data-count=embeddings.count() data-dim=embeddings.dim
                        data-mode=match key.mode { EmbeddingMode::PerChip => "per_chip", EmbeddingMode::Dense(_) => "dense" }>
                        {format!("{} × {} embeddings ready", embeddings.count(), embeddings.dim)}
                    </span>
                    <button class="button secondary small" data-testid="download-npy" on:click=save_npy>"Download .npy"</button>
                </div>
            })}
            {move || cached_map().map(|(_, map)| view! {
                <div class="row">
                    <span class="hint" data-testid="feature-map" data-rows=map.rows data-cols=map.cols data-channels=map.channels>
                        {format!("feature map {} × {} × {}", map.rows, map.cols, map.channels)}
                    </span>
                    <button class="button secondary small" data-testid="download-map" on:click=save_map>"Download feature map (.npy)"</button>
                </div>
            })}
        </section>
    }
}
