//! Getting an image in: drag and drop, the file picker, or the simulated example.

use crate::app::AppState;
use crate::components::encoder_panel::{is_weight_file, use_weight_file};
use crate::embedding::EmbeddingState;
use crate::labelling::LabelState;
use crate::session_io::{import_session_file, is_session_file};
use chipscope_core::formats::{accepted_extensions, decode, supported_formats};
use chipscope_core::session::DataSource;
use chipscope_core::simulate;
use chipscope_core::weights::manifest::sha256_hex;
use gloo::file::File;
use gloo::file::futures::read_as_bytes;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, HtmlInputElement};

/// Files above this size are refused before reading: no accepted image needs more.
const MAX_FILE_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// Drop zone, file picker and example button; `?example` in the URL loads the example at start.
#[component]
pub fn ImportPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let embedding = expect_context::<EmbeddingState>();
    let labels = expect_context::<LabelState>();
    let dragging = RwSignal::new(false);
    let open = move |file: web_sys::File| {
        let name = file.name();
        if is_weight_file(&name) {
            use_weight_file(state, embedding, file)
        } else if is_session_file(&name) {
            import_session_file(state, embedding, labels, file)
        } else {
            load_file(state, file)
        }
    };
    if wants_example() {
        load_example(state);
    }
    let on_pick = move |event: leptos::ev::Event| {
        let input: HtmlInputElement = event.target().expect("input event target").unchecked_into();
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            open(file);
        }
        input.set_value("");
    };
    let on_drop = move |event: DragEvent| {
        event.prevent_default();
        dragging.set(false);
        match event
            .data_transfer()
            .and_then(|data| data.files())
            .and_then(|files| files.get(0))
        {
            Some(file) => open(file),
            None => state
                .error
                .set(Some("nothing to open: drop an image file".into())),
        }
    };
    view! {
        <div
            class="drop-zone"
            class:dragging=move || dragging.get()
            data-testid="drop-zone"
            on:dragover=move |event: DragEvent| {
                event.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
            <p>"Drop a micrograph here (" {supported_formats()} "), a session file (.json) or encoder weights (.pth, .safetensors), or "</p>
            <label class="button">
                "choose a file…"
                <input type="file" accept=accepted_extensions() data-testid="file-input" on:change=on_pick/>
            </label>
            <button class="button secondary" data-testid="load-example" on:click=move |_| load_example(state)>
                "Load example (simulated heterostructure)"
            </button>
        </div>
    }
}

fn wants_example() -> bool {
    let search = window().location().search().unwrap_or_default();
    web_sys::UrlSearchParams::new_with_str(&search).is_ok_and(|params| params.has("example"))
}

fn load_example(state: AppState) {
    run_busy(
        state,
        "Simulating the example micrograph…".into(),
        async move { show_example(state, simulate::DEFAULT_SIZE, simulate::DEFAULT_SEED) },
    );
}

/// Simulates the example micrograph and shows it.
pub fn show_example(state: AppState, size: usize, seed: u64) {
    let simulation = simulate::heterostructure(size, seed);
    state.show(
        "example: simulated heterostructure".into(),
        simulation.dataset,
        DataSource::Example { size, seed },
    );
}

fn load_file(state: AppState, file: web_sys::File) {
    let name = file.name();
    if file.size() > MAX_FILE_BYTES {
        state.error.set(Some(format!(
            "{name}: the file is larger than 1 GiB; crop or bin it first"
        )));
        return;
    }
    run_busy(state, format!("Reading {name}…"), async move {
        let bytes = match read_as_bytes(&File::from(file)).await {
            Ok(bytes) => bytes,
            Err(error) => {
                return state.error.set(Some(format!(
                    "{name}: the browser could not read the file ({error})"
                )));
            }
        };
        state.busy.set(Some(format!("Decoding {name}…")));
        TimeoutFuture::new(0).await;
        let source = DataSource::File {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        };
        match decode(&name, &bytes) {
            Ok(dataset) => state.show(name, dataset, source),
            Err(error) => state.error.set(Some(format!("{name}: {error}"))),
        }
    });
}

/// Shows `message` while `work` runs, after yielding once so the message is painted first.
fn run_busy(state: AppState, message: String, work: impl Future<Output = ()> + 'static) {
    state.busy.set(Some(message));
    spawn_local(async move {
        TimeoutFuture::new(0).await;
        work.await;
        state.busy.set(None);
    });
}
