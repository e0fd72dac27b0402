//! Downloads from the web: fetch with a clear message for each way it fails, and bodies streamed
//! with progress and a size limit.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

/// Bodies above this size are refused: no accepted file needs more.
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// The response to a GET of `url`, when the server answers with success.
pub async fn fetch(url: &str) -> Result<Response, String> {
    let response: Response = JsFuture::from(leptos::prelude::window().fetch_with_str(url))
        .await
        .map_err(|_| {
            format!(
                "cannot download {url}: the server could not be reached, or it does not let \
                 other sites read the file (no CORS header)"
            )
        })?
        .unchecked_into();
    match response.ok() {
        true => Ok(response),
        false => Err(format!(
            "cannot download {url}: the server answered HTTP {} {}",
            response.status(),
            response.status_text()
        )),
    }
}

/// Streams `url`'s body with `progress(received, total)` after every chunk; `total` is the
/// announced length, else `expected`.
pub async fn download(
    url: &str,
    expected: u64,
    progress: &impl Fn(u64, u64),
) -> Result<Vec<u8>, String> {
    let response = fetch(url).await?;
    let announced = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|length| length.parse::<u64>().ok());
    let total = announced.unwrap_or(expected);
    if total > MAX_DOWNLOAD_BYTES {
        return Err(format!("{url} is larger than 1 GiB; crop or bin it first"));
    }
    let body = response
        .body()
        .ok_or_else(|| format!("{url}: empty response"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total as usize);
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|error| format!("download of {url} failed: {}", describe(error)))?;
        if Reflect::get(&chunk, &"done".into()).is_ok_and(|done| done.is_truthy()) {
            break;
        }
        let value = Uint8Array::new(&Reflect::get(&chunk, &"value".into()).map_err(describe)?);
        let start = bytes.len();
        if (start + value.length() as usize) as u64 > MAX_DOWNLOAD_BYTES {
            return Err(format!("{url} is larger than 1 GiB; crop or bin it first"));
        }
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// A JavaScript error as text.
pub fn describe(error: JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            error
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{error:?}"))
}
