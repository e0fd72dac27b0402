//! Autosave: the session on screen is written to the browser's local storage on every change,
//! one entry per dataset (by its identity: sha256 or example seed), plus which one was last.
//! Writes are synchronous, so a tab closed or killed mid-labelling loses nothing.

use chipscope_core::session::{Autosave, Session};
use leptos::prelude::window;

const PREFIX: &str = "chipscope.autosave.v1.";
const LAST: &str = "chipscope.autosave.v1.last";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// The autosave of the data with this identity, if one was kept.
pub fn read(identity: &str) -> Option<Autosave> {
    let text = storage()?.get_item(&format!("{PREFIX}{identity}")).ok()??;
    Autosave::parse(&text).ok()
}

/// The most recently autosaved session.
pub fn last() -> Option<Autosave> {
    read(&storage()?.get_item(LAST).ok()??)
}

/// Keeps `session` as the autosave of its data.
pub fn write(session: &Session, labelling: bool) -> Result<(), String> {
    let storage = storage().ok_or("this browser keeps no local storage")?;
    let identity = session.source.identity();
    let saved = Autosave {
        saved_at_ms: js_sys::Date::now(),
        labelling,
        session: session.clone(),
    };
    storage
        .set_item(&format!("{PREFIX}{identity}"), &saved.to_json())
        .and_then(|()| storage.set_item(LAST, &identity))
        .map_err(|_| "the browser's storage for this site is full".to_string())
}

/// "14:02:11" or the date, for "saved at …".
pub fn when(saved: &Autosave) -> String {
    let date = js_sys::Date::new(&saved.saved_at_ms.into());
    let today = js_sys::Date::new_0().to_date_string() == date.to_date_string();
    match today {
        true => String::from(date.to_locale_time_string("en-GB")),
        false => String::from(date.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)),
    }
}
