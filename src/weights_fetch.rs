//! Shipped encoder weights from the static site: fetched with progress, checked against the
//! manifest's sha256, and kept in the browser's Cache API so later visits need no download.

use crate::net::{describe, download, fetch};
use chipscope_core::weights::manifest::{self, ShippedEncoder};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Response};

/// Where Trunk puts `weights/` in the built site.
const WEIGHTS_URL: &str = "weights";
/// Cache API bucket; bump when the weight files change incompatibly (sha256 also guards).
const CACHE_NAME: &str = "chipscope-weights-v1";

/// Where the bytes came from, for the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Network,
}

/// The encoders the site ships, from `weights/manifest.json`.
pub async fn shipped_encoders() -> Result<Vec<ShippedEncoder>, String> {
    let response = fetch(&format!("{WEIGHTS_URL}/manifest.json")).await?;
    let text = JsFuture::from(response.text().map_err(describe)?)
        .await
        .map_err(describe)?;
    manifest::parse(&text.as_string().unwrap_or_default())
}

/// The verified weight file of `encoder`, from the cache when it holds a good copy, else from
/// the network with `progress(received, total)` after every chunk.
pub async fn weight_file(
    encoder: &ShippedEncoder,
    progress: impl Fn(u64, u64),
) -> Result<(Vec<u8>, Origin), String> {
    let url = format!("{WEIGHTS_URL}/{}", encoder.file);
    let cache = open_cache().await;
    if let Some(cache) = &cache
        && let Some(bytes) = cached(cache, &url).await
    {
        if encoder.verify(&bytes).is_ok() {
            return Ok((bytes, Origin::Cache));
        }
        let _ = JsFuture::from(cache.delete_with_str(&url)).await;
    }
    let bytes = download(&url, encoder.bytes, &progress).await?;
    encoder.verify(&bytes)?;
    if let Some(cache) = &cache {
        store(cache, &url, &bytes).await;
    }
    Ok((bytes, Origin::Network))
}

/// The Cache API bucket, or `None` where the browser offers none (e.g. an insecure origin).
async fn open_cache() -> Option<Cache> {
    let caches = leptos::prelude::window().caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME))
        .await
        .ok()
        .map(JsCast::unchecked_into)
}

async fn cached(cache: &Cache, url: &str) -> Option<Vec<u8>> {
    let hit = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response: Response = hit.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Keeps a verified copy; a full quota only costs the next visit a download.
async fn store(cache: &Cache, url: &str, bytes: &[u8]) {
    let body = Uint8Array::from(bytes);
    if let Ok(response) = Response::new_with_opt_buffer_source(Some(&body)) {
        let _ = JsFuture::from(cache.put_with_str(url, &response)).await;
    }
}
