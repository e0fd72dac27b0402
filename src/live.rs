//! A watched folder: the user picks a folder (the File System Access API's
//! `showDirectoryPicker`, in Chromium-based browsers); every image file in it, and every one that
//! appears later, is added to the project, classified with the project's prototypes and put in a
//! table of class fractions against the time the file was written. Nothing leaves the browser: the
//! folder is read through the handle the user granted.
//!
//! The API has no bindings in `web-sys` without its unstable flag, so the few calls are made
//! through `js_sys::Reflect`.

use std::collections::{HashMap, HashSet};

use chipscope_core::formats::is_image_name;
use chipscope_core::series::FractionTable;
use gloo::timers::future::TimeoutFuture;
use js_sys::{Function, Promise, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::page::Page;
use crate::project_run::{admit, read_image_file, segment_image};

/// How often the folder is listed, milliseconds.
const POLL_MS: u32 = 1500;

/// Whether this browser lets a page pick a folder to watch.
pub fn supported() -> bool {
    Reflect::has(&window(), &JsValue::from_str("showDirectoryPicker")).unwrap_or(false)
}

/// Asks for a folder (in the click's handler: the browser requires a user gesture) and watches
/// it.
pub fn watch(page: Page) {
    let live = page.live;
    let picker = Reflect::get(&window(), &JsValue::from_str("showDirectoryPicker"))
        .and_then(|picker| picker.dyn_into::<Function>())
        .and_then(|picker| picker.call0(&window()));
    spawn_local(async move {
        let handle = match awaited(picker).await {
            Ok(handle) => handle,
            Err(error) if error_name(&error).as_deref() == Some("AbortError") => return,
            Err(error) => {
                return live.error.set(Some(format!(
                    "the folder could not be opened ({})",
                    describe(&error)
                )));
            }
        };
        live.stop();
        let watch = live.watch.get_value();
        let name = Reflect::get(&handle, &JsValue::from_str("name")).ok();
        live.folder
            .set(Some(name.and_then(|n| n.as_string()).unwrap_or_default()));
        live.table.set(None);
        live.taken.set(0);
        live.error.set(None);
        follow(page, handle, watch).await;
    });
}

/// Lists the folder every [`POLL_MS`] and takes each image file once its size and time stop
/// changing between two listings (a file the microscope is still writing waits).
async fn follow(page: Page, folder: JsValue, watch: u64) {
    let live = page.live;
    let mut done: HashSet<String> = HashSet::new();
    let mut settling: HashMap<String, (f64, f64)> = HashMap::new();
    let mut first_written: Option<f64> = None;
    while live.watch.get_value() == watch {
        let entries = match file_entries(&folder).await {
            Ok(entries) => entries,
            Err(error) => {
                live.error.set(Some(format!(
                    "the folder can no longer be read ({}); watching stopped",
                    describe(&error)
                )));
                return live.stop();
            }
        };
        for (name, entry) in entries {
            if done.contains(&name) || !is_image_name(&name) || live.watch.get_value() != watch {
                continue;
            }
            let Ok(file) = file_of(&entry).await else {
                continue;
            };
            let stamp = (file.size(), file.last_modified());
            if settling.get(&name) != Some(&stamp) {
                settling.insert(name, stamp);
                continue;
            }
            settling.remove(&name);
            done.insert(name.clone());
            let written = *first_written.get_or_insert(stamp.1);
            let seconds = (stamp.1 - written) / 1000.0;
            if let Err(message) = take(page, file, seconds).await {
                live.error.set(Some(format!("{name}: {message}")));
            }
            live.taken.update(|taken| *taken += 1);
        }
        TimeoutFuture::new(POLL_MS).await;
    }
}

/// Adds `file` to the project, classifies it and adds its row, `seconds` after the first file.
async fn take(page: Page, file: web_sys::File, seconds: f64) -> Result<(), String> {
    let live = page.live;
    let name = file.name();
    let bytes = read_image_file(file).await?;
    let loaded = admit(page, name.clone(), &bytes)?;
    let cancel = std::cell::Cell::new(false);
    let Some(result) = segment_image(page, &loaded, &cancel).await? else {
        return Ok(());
    };
    live.table.update(|table| {
        let table = table.get_or_insert_with(|| FractionTable::new(&result.summary));
        let frame = table.rows().len();
        table.push_file(frame, Some(seconds), Some(name), &result.summary);
    });
    Ok(())
}

/// The folder's files: each entry's name with its handle.
async fn file_entries(folder: &JsValue) -> Result<Vec<(String, JsValue)>, JsValue> {
    let entries = call(folder, "values")?;
    let mut files = Vec::new();
    loop {
        let step = awaited(call(&entries, "next")).await?;
        if Reflect::get(&step, &JsValue::from_str("done"))?.is_truthy() {
            return Ok(files);
        }
        let entry = Reflect::get(&step, &JsValue::from_str("value"))?;
        let kind = Reflect::get(&entry, &JsValue::from_str("kind"))?.as_string();
        let name = Reflect::get(&entry, &JsValue::from_str("name"))?.as_string();
        if let (Some("file"), Some(name)) = (kind.as_deref(), name) {
            files.push((name, entry));
        }
    }
}

/// The file behind a file handle.
async fn file_of(entry: &JsValue) -> Result<web_sys::File, JsValue> {
    let file = awaited(call(entry, "getFile")).await?;
    file.dyn_into()
}

/// Calls method `name` of `target` without arguments.
fn call(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    let method: Function = Reflect::get(target, &JsValue::from_str(name))?.dyn_into()?;
    method.call0(target)
}

/// The value a call's promise resolves to.
async fn awaited(called: Result<JsValue, JsValue>) -> Result<JsValue, JsValue> {
    let promise: Promise = called?.dyn_into()?;
    JsFuture::from(promise).await
}

/// A DOM exception's name ("AbortError" when the user closed the picker).
fn error_name(error: &JsValue) -> Option<String> {
    Reflect::get(error, &JsValue::from_str("name"))
        .ok()?
        .as_string()
}

/// A thrown value in words.
fn describe(error: &JsValue) -> String {
    let message = Reflect::get(error, &JsValue::from_str("message")).ok();
    message
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".into())
}
