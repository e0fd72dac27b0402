//! Getting an image in: drag and drop, the file picker, a public URL, or the simulated example.

use crate::loading::{is_weight_file, load_example, load_files, load_url, use_weight_file};
use crate::page::Page;
use crate::session_io::{import_session_file, is_session_file};
use chipscope_core::formats::{accepted_extensions, supported_formats};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, HtmlInputElement};

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
            <button class="button secondary" data-testid="load-example" on:click=move |_| load_example(page)>
                "Load example (simulated heterostructure)"
            </button>
            <form class="row url-form" on:submit=move |event| {
                event.prevent_default();
                load_url(page, address.get_untracked());
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
