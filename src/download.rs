//! Saving bytes the page made (exports) as a file download.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

/// Offers `bytes` as a download named `file_name`.
pub fn save(file_name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not build the file".to_string())?;
    let url = Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not offer the file".to_string())?;
    let document = leptos::prelude::document();
    let anchor: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "the browser could not offer the file".to_string())?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    // Some browsers start the download after the click returns: release the blob later.
    gloo::timers::callback::Timeout::new(60_000, move || {
        Url::revoke_object_url(&url).ok();
    })
    .forget();
    Ok(())
}
