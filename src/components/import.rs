//! Getting an image in: drag and drop, the file picker, a public URL, or the simulated example.

use crate::app::AppState;
use crate::components::encoder_panel::{is_weight_file, use_weight_file};
use crate::net::download;
use crate::session_io::{Page, import_session_file, is_session_file};
use crate::spectra::LoadedSpectra;
use chipscope_core::formats::{
    Together, accepted_extensions, open, open_together, supported_formats,
};
use chipscope_core::hashing::sha256_hex;
use chipscope_core::session::DataSource;
use chipscope_core::simulate;
use gloo::file::File;
use gloo::file::futures::read_as_bytes;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, HtmlInputElement};

/// Files above this size are refused before reading: no accepted image needs more.
pub const MAX_FILE_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// Drop zone, file picker, URL field and example button.
#[component]
pub fn ImportPanel() -> impl IntoView {
    let page = Page::from_context();
    let state = page.app;
    let dragging = RwSignal::new(false);
    let open = move |mut files: Vec<web_sys::File>| match files.len() {
        0 => state
            .error
            .set(Some("nothing to open: drop an image file".into())),
        1 if is_weight_file(&files[0].name()) => {
            use_weight_file(state, page.embedding, files.remove(0))
        }
        1 if is_session_file(&files[0].name()) => import_session_file(page, files.remove(0)),
        _ => load_files(page, files),
    };
    let address = RwSignal::new(String::new());
    let on_pick = move |event: leptos::ev::Event| open(picked_files(&event));
    let on_drop = move |event: DragEvent| {
        event.prevent_default();
        dragging.set(false);
        open(file_list(
            event.data_transfer().and_then(|data| data.files()),
        ))
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
            <p>"Drop a micrograph or an EDS map with its image here (" {supported_formats()} "), with its companion if it has one (a TIA .ser with its .emi, a JEOL .img with the .pts of the same view), a session file (.json) or encoder weights (.pth, .safetensors), or "</p>
            <label class="button">
                "choose a file…"
                <input type="file" multiple accept=accepted_extensions() data-testid="file-input" on:change=on_pick/>
            </label>
            <button class="button secondary" data-testid="load-example" on:click=move |_| load_example(state)>
                "Load example (simulated heterostructure)"
            </button>
            <form class="row url-form" on:submit=move |event| {
                event.prevent_default();
                load_url(state, address.get_untracked());
            }>
                <input type="url" placeholder="or the https:// address of a public file" data-testid="url-input"
                    prop:value=move || address.get() on:input=move |event| address.set(event_target_value(&event))/>
                <button class="button secondary small" type="submit" data-testid="open-url">"Open URL"</button>
            </form>
        </div>
    }
}

/// The files chosen in a file input's change `event`; the input is cleared so choosing the
/// same file again fires again.
pub fn picked_files(event: &leptos::ev::Event) -> Vec<web_sys::File> {
    let input: HtmlInputElement = event.target().expect("input event target").unchecked_into();
    let files = file_list(input.files());
    input.set_value("");
    files
}

/// The files of a browser `FileList` (none when there is no list).
fn file_list(files: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    files.map_or_else(Vec::new, |files| {
        (0..files.length()).filter_map(|i| files.get(i)).collect()
    })
}

/// Simulates the example micrograph and shows it, with a busy message meanwhile.
pub fn load_example(state: AppState) {
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
        (simulation.dataset, None),
        DataSource::Example { size, seed },
    );
}

/// Reads, decodes and shows the files the user picked or dropped together: an image, with its
/// TIA `.emi` or the spectrum image of the same view (which opens in the Spectra panel).
pub fn load_files(page: Page, files: Vec<web_sys::File>) {
    let state = page.app;
    if let Some(big) = files.iter().find(|file| file.size() > MAX_FILE_BYTES) {
        state.error.set(Some(format!(
            "{}: the file is larger than 1 GiB; crop or bin it first",
            big.name()
        )));
        return;
    }
    let names: Vec<String> = files.iter().map(|file| file.name()).collect();
    run_busy(
        state,
        format!("Reading {}…", names.join(", ")),
        async move {
            let mut contents = Vec::new();
            for (file, name) in files.into_iter().zip(&names) {
                match read_as_bytes(&File::from(file)).await {
                    Ok(bytes) => contents.push(bytes),
                    Err(error) => {
                        return state.error.set(Some(format!(
                            "{name}: the browser could not read the file ({error})"
                        )));
                    }
                }
            }
            state
                .busy
                .set(Some(format!("Decoding {}…", names.join(", "))));
            TimeoutFuture::new(0).await;
            let chosen: Vec<(&str, &[u8])> = names
                .iter()
                .map(String::as_str)
                .zip(contents.iter().map(Vec::as_slice))
                .collect();
            match open_together(&chosen) {
                Ok(together) => show_together(page, together, &chosen),
                Err(error) if chosen.len() == 1 => {
                    state.error.set(Some(format!("{}: {error}", names[0])))
                }
                Err(error) => state.error.set(Some(error.to_string())),
            }
        },
    );
}

/// Shows the image of files opened together, and the spectrum image chosen with it.
fn show_together(page: Page, together: Together, files: &[(&str, &[u8])]) {
    let source = |index: usize| {
        let (name, bytes) = files[index];
        (name.to_string(), DataSource::of_file(name, bytes))
    };
    let (name, image_source) = source(together.image);
    let spectral = together.opened.spectral.map(std::sync::Arc::new);
    page.app
        .show(name, (together.opened.dataset, spectral), image_source);
    if let Some((index, file)) = together.spectra {
        let (name, map_source) = source(index);
        page.spectra.open(LoadedSpectra::new(
            name,
            map_source,
            std::sync::Arc::new(file),
        ));
    }
}

/// Downloads a file from a public address (relative to the page's own, if not absolute) and
/// shows it, with progress; CORS refusals, HTTP errors and unsupported formats get a message.
pub fn load_url(state: AppState, address: String) {
    let base = window().location().href().unwrap_or_default();
    let url = match web_sys::Url::new_with_base(address.trim(), &base) {
        Ok(url) if ["http:", "https:"].contains(&url.protocol().as_str()) => url,
        _ => {
            return state.error.set(Some(format!(
                "{address:?} is not an http(s) address of a file"
            )));
        }
    };
    let name = file_name(&url);
    let href = url.href();
    run_busy(state, format!("Downloading {name}…"), async move {
        let progress = |received: u64, total: u64| {
            let percent =
                (total > 0).then(|| format!(" {:.0} %", received as f64 / total as f64 * 100.0));
            state.busy.set(Some(format!(
                "Downloading {name}… {:.1} MB{}",
                received as f64 / 1e6,
                percent.unwrap_or_default()
            )));
        };
        let bytes = match download(&href, 0, &progress).await {
            Ok(bytes) => bytes,
            Err(error) => return state.error.set(Some(error)),
        };
        let source = DataSource::Url {
            url: href,
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        };
        decode_and_show(state, name, &bytes, source).await;
    });
}

/// The last segment of a URL's path, decoded ("data.dm3"), or its host.
fn file_name(url: &web_sys::Url) -> String {
    let path = url.pathname();
    let last = path.rsplit('/').find(|segment| !segment.is_empty());
    last.and_then(|segment| js_sys::decode_uri_component(segment).ok())
        .map(String::from)
        .unwrap_or_else(|| url.host())
}

async fn decode_and_show(state: AppState, name: String, bytes: &[u8], source: DataSource) {
    state.busy.set(Some(format!("Decoding {name}…")));
    TimeoutFuture::new(0).await;
    match open(&name, bytes) {
        Ok(opened) => {
            let spectral = opened.spectral.map(std::sync::Arc::new);
            state.show(name, (opened.dataset, spectral), source)
        }
        Err(error) => state.error.set(Some(format!("{name}: {error}"))),
    }
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
