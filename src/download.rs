//! Saving what the page made (exports) as file downloads, under names made safe
//! ([`safe_file_name`]): they are built from file stems, titles and names that a hostile file or
//! link chooses.

use chipscope_core::exports::safe_file_name;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, CanvasRenderingContext2d, HtmlAnchorElement, HtmlCanvasElement,
    HtmlImageElement, Url,
};

/// Offers `bytes` as a download named `file_name`.
pub fn save(file_name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not build the file".to_string())?;
    let url = Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not offer the file".to_string())?;
    click_link(file_name, &url)?;
    // Some browsers start the download after the click returns: release the blob later.
    gloo::timers::callback::Timeout::new(60_000, move || {
        Url::revoke_object_url(&url).ok();
    })
    .forget();
    Ok(())
}

/// Rasterises an SVG document at twice its size and offers it as a PNG download.
pub async fn save_svg_as_png(file_name: &str, svg: &str) -> Result<(), String> {
    let failed = |what: &str| format!("the browser could not {what} the chart");
    let image = HtmlImageElement::new().map_err(|_| failed("draw"))?;
    let source = js_sys::encode_uri_component(svg);
    image.set_src(&format!("data:image/svg+xml;charset=utf-8,{source}"));
    JsFuture::from(image.decode())
        .await
        .map_err(|_| failed("decode"))?;
    let canvas: HtmlCanvasElement = leptos::prelude::document()
        .create_element("canvas")
        .map_err(|_| failed("draw"))?
        .unchecked_into();
    canvas.set_width(image.natural_width() * 2);
    canvas.set_height(image.natural_height() * 2);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .ok_or_else(|| failed("draw"))?
        .unchecked_into();
    context.scale(2.0, 2.0).map_err(|_| failed("draw"))?;
    context
        .draw_image_with_html_image_element(&image, 0.0, 0.0)
        .map_err(|_| failed("draw"))?;
    let url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|_| failed("encode"))?;
    click_link(file_name, &url)
}

fn click_link(file_name: &str, url: &str) -> Result<(), String> {
    let anchor: HtmlAnchorElement = leptos::prelude::document()
        .create_element("a")
        .map_err(|_| "the browser could not offer the file".to_string())?
        .unchecked_into();
    anchor.set_href(url);
    anchor.set_download(&safe_file_name(file_name));
    anchor.click();
    Ok(())
}
