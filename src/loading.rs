//! Loading data into the page: files picked or dropped together (an image with its
//! companions), a public URL, the simulated example, a spectrum image beside the image, and
//! encoder weights; each read and decoded with a busy note, failures shown as messages while
//! what is open stays.

use std::sync::Arc;

use chipscope_core::formats::ripple::read_pair;
use chipscope_core::formats::spectral::{SpectralFile, decode_spectral};
use chipscope_core::formats::{Limits, Together, open, open_together};
use chipscope_core::hashing::sha256_hex;
use chipscope_core::session::DataSource;
use chipscope_core::simulate;
use gloo::file::File;
use gloo::file::futures::read_as_bytes;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::embedding::EmbeddingState;
use crate::net::download;
use crate::page::Page;
use crate::spectra::LoadedSpectra;

/// Files above this size are refused before reading: no accepted image needs more.
pub const MAX_FILE_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// Weight files the page accepts from the user.
pub const WEIGHT_EXTENSIONS: [&str; 3] = [".pth", ".pt", ".safetensors"];

/// Whether a dropped file's name marks it as encoder weights rather than an image.
pub fn is_weight_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    WEIGHT_EXTENSIONS
        .iter()
        .any(|extension| lower.ends_with(extension))
}

/// Reads a user's weight file and offers it as an encoder.
pub fn use_weight_file(app: AppState, embedding: EmbeddingState, file: web_sys::File) {
    let name = file.name();
    embedding.status.set(Some(format!("Reading {name}…")));
    spawn_local(async move {
        match read_as_bytes(&File::from(file)).await {
            Ok(bytes) => {
                let backend = app.backend.get_untracked();
                embedding.add_custom(&name, &bytes, backend.as_ref()).await
            }
            Err(error) => embedding.error.set(Some(format!(
                "{name}: the browser could not read the file ({error})"
            ))),
        }
    });
}

/// Simulates the example micrograph and shows it, with a busy message meanwhile.
pub fn load_example(page: Page) {
    run_busy(
        page.app,
        "Simulating the example micrograph…".into(),
        async move { show_example(page, simulate::DEFAULT_SIZE, simulate::DEFAULT_SEED) },
    );
}

/// Simulates the example micrograph and shows it.
pub fn show_example(page: Page, size: usize, seed: u64) {
    let simulation = simulate::heterostructure(size, seed);
    page.show(
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
            match open_together(&chosen, &Limits::default()) {
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
    page.show(name, (together.opened.dataset, spectral), image_source);
    if files.len() == 1 {
        page.frames.offer(page.app, files[together.image].1);
    }
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
pub fn load_url(page: Page, address: String) {
    let state = page.app;
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
        decode_and_show(page, name, &bytes, source).await;
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

async fn decode_and_show(page: Page, name: String, bytes: &[u8], source: DataSource) {
    let state = page.app;
    state.busy.set(Some(format!("Decoding {name}…")));
    TimeoutFuture::new(0).await;
    match open(&name, bytes, &Limits::default()) {
        Ok(opened) => {
            let spectral = opened.spectral.map(std::sync::Arc::new);
            page.show(name, (opened.dataset, spectral), source);
            page.frames.offer(state, bytes);
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

/// Reads the picked spectrum file (or a Lispix .rpl with its .raw) and opens it.
pub fn open_spectrum_files(page: Page, files: Vec<web_sys::File>) {
    let app = page.app;
    let is = |file: &web_sys::File, ext: &str| file.name().to_ascii_lowercase().ends_with(ext);
    let header = files.iter().find(|f| is(f, ".rpl")).cloned();
    let data = match &header {
        Some(_) => files.iter().find(|f| is(f, ".raw")).cloned(),
        None => files.first().cloned(),
    };
    let Some(data) = data else {
        return app.error.set(Some(
            "a Lispix .rpl header needs its .raw data: choose both files together".into(),
        ));
    };
    if let Some(big) = files.iter().find(|f| f.size() > MAX_FILE_BYTES) {
        return app.error.set(Some(format!(
            "{}: the file is larger than 1 GiB; bin it first",
            big.name()
        )));
    }
    let name = header.as_ref().unwrap_or(&data).name();
    app.busy
        .set(Some(format!("Reading the spectrum image {name}…")));
    spawn_local(async move {
        let read = read_spectral(header, data).await;
        app.busy.set(None);
        match read {
            Ok((file, source)) => {
                app.error.set(None);
                page.spectra
                    .open(LoadedSpectra::new(name, source, Arc::new(file)));
            }
            Err(error) => app.error.set(Some(format!("{name}: {error}"))),
        }
    });
}

/// The spectral file in `data` (with its ripple `header`), and its source (the data file's).
async fn read_spectral(
    header: Option<web_sys::File>,
    data: web_sys::File,
) -> Result<(SpectralFile, DataSource), String> {
    let bytes = |file: web_sys::File| async move {
        read_as_bytes(&File::from(file))
            .await
            .map_err(|error| format!("the browser could not read the file ({error})"))
    };
    let name = data.name();
    let data = bytes(data).await?;
    let file = match header {
        Some(header) => read_pair(&bytes(header).await?, &data, 1, &Limits::default()),
        None => decode_spectral(&data, 1, &Limits::default()),
    };
    let source = DataSource::of_file(&name, &data);
    Ok((file.map_err(|error| error.to_string())?, source))
}
