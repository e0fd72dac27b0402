//! Embeddings: pick an encoder (shipped or your own weights), embed every chip with progress
//! and cancel, and download the result as `.npy`.

use crate::app::AppState;
use crate::components::import::picked_files;
use crate::download;
use crate::embedding::EmbeddingState;
use crate::loading::{WEIGHT_EXTENSIONS, use_weight_file};
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
        let name = format!("{stem}_{}_chip{}.npy", key.encoder, key.chip_size);
        if let Err(error) = download::save(&name, "application/octet-stream", &bytes) {
            embedding.error.set(Some(error));
        }
    };
    let chip_count = move || app.grid().map_or(0, |grid| grid.chip_count());
    view! {
        <section class="panel" data-testid="encoder-panel">
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
                    {format!("weights {:.1} / {:.1} MB", received as f64 / 1e6, total as f64 / 1e6)}
                </label>
            })}
            {move || embedding.running.get().then(|| embedding.progress.get()).flatten().map(|progress| view! {
                <label class="row progress">
                    <progress data-testid="embed-progress" max=progress.total.to_string() value=progress.done.to_string()></progress>
                    <span data-testid="embed-rate">{format!("{}/{} chips · {:.2} chips/s", progress.done, progress.total, progress.chips_per_second)}</span>
                </label>
            })}
            {move || embedding.status.get().map(|message| view! { <p class="hint" data-testid="embed-status">{message}</p> })}
            {move || embedding.error.get().map(|message| view! { <p class="error" role="alert" data-testid="embed-error">{message}</p> })}
            {move || cached().map(|(_, embeddings)| view! {
                <div class="row">
                    <span data-testid="embedded" data-count=embeddings.count() data-dim=embeddings.dim>
                        {format!("{} × {} embeddings ready", embeddings.count(), embeddings.dim)}
                    </span>
                    <button class="button secondary small" data-testid="download-npy" on:click=save_npy>"Download .npy"</button>
                </div>
            })}
        </section>
    }
}
