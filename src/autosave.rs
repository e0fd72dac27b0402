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

/// Keeps `session` as the autosave of its data. When the browser's storage is full, the other
/// autosaves are deleted one at a time, oldest first ([`Autosave::prune_order`]), until it fits.
pub fn write(session: &Session, labelling: bool) -> Result<(), String> {
    let storage = storage().ok_or("this browser keeps no local storage")?;
    let identity = session.source.identity();
    let saved = Autosave {
        saved_at_ms: js_sys::Date::now(),
        labelling,
        session: session.clone(),
    }
    .to_json();
    let keep = || {
        storage
            .set_item(&format!("{PREFIX}{identity}"), &saved)
            .and_then(|()| storage.set_item(LAST, &identity))
            .is_ok()
    };
    if keep() {
        return Ok(());
    }
    let stored = stored(&storage);
    for other in Autosave::prune_order(&stored, &identity) {
        let _ = storage.remove_item(&format!("{PREFIX}{other}"));
        if keep() {
            return Ok(());
        }
    }
    Err("the browser's storage for this site is full".to_string())
}

/// Every autosave in `storage`: its data identity and its text.
fn stored(storage: &web_sys::Storage) -> Vec<(String, String)> {
    let keys = (0..storage.length().unwrap_or(0)).filter_map(|i| storage.key(i).ok().flatten());
    keys.filter(|key| key != LAST)
        .filter_map(|key| {
            let identity = key.strip_prefix(PREFIX)?.to_string();
            Some((identity, storage.get_item(&key).ok()??))
        })
        .collect()
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
