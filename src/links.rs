//! The page's address: a session or task link in the fragment (`#session=…`, `#task=…`), data
//! to open (`?data=URL`), the example (`?example`), else the offer to resume the last autosave
//! — restored at once when the page starts again after an internal error ([`crate::crash`]).
//! And the other way: the address that opens the session on screen.

use chipscope_core::session::Session;
use chipscope_core::share::{self, LinkKind};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use crate::autosave;
use crate::crash;
use crate::loading::{load_example, load_url};
use crate::page::{Opening, Page, Pending};
use crate::session_io::{open_session, restore};

/// Opens what the address asks for, and any session link pasted into the address bar later.
pub fn follow_address(page: Page) {
    let location = window().location();
    let opened_link = open_fragment(page, &location.hash().unwrap_or_default());
    let search = location.search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let data = params.as_ref().and_then(|p| p.get("data"));
    let crashed = crash::take_message().is_some();
    if let Some(saved) = autosave::last().filter(|_| crashed && !opened_link) {
        restore(page, saved);
    } else if let Some(url) = data.filter(|_| !opened_link) {
        load_url(page, url);
    } else if params.is_some_and(|p| p.has("example")) && !opened_link {
        load_example(page);
    } else if !opened_link && let Some(saved) = autosave::last() {
        page.sessions.pending.set(Some(Pending::Resume(saved)));
    }
    let handle = window_event_listener(leptos::ev::hashchange, move |_| {
        open_fragment(page, &window().location().hash().unwrap_or_default());
    });
    on_cleanup(move || handle.remove());
}

/// Opens the session in `fragment`, if it holds one; a damaged link gets a message. The
/// fragment is then cleared, so reloading the page resumes the autosave rather than the link.
fn open_fragment(page: Page, fragment: &str) -> bool {
    let Some((kind, outcome)) = share::from_fragment(fragment) else {
        return false;
    };
    match outcome {
        Ok(session) => open_session(
            page,
            Opening {
                session,
                labelling: kind == LinkKind::Task,
            },
        ),
        Err(error) => page
            .app
            .error
            .set(Some(format!("This link cannot be opened: {error}."))),
    }
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&page_url()));
    }
    true
}

/// The page's address without query or fragment.
fn page_url() -> String {
    let location = window().location();
    format!(
        "{}{}",
        location.origin().unwrap_or_default(),
        location.pathname().unwrap_or_default()
    )
}

/// The address that opens `session` as `kind`.
pub fn link_to(session: &Session, kind: LinkKind) -> String {
    format!("{}#{}", page_url(), share::fragment(session, kind))
}

/// Puts `link` (opening a `kind`) on the clipboard and in the page's link field, for copying by
/// hand where the browser refuses the clipboard.
pub fn copy_link(page: Page, kind: LinkKind, link: String) {
    page.sessions.link.set(Some((kind, link.clone())));
    spawn_local(async move {
        let copied = JsFuture::from(window().navigator().clipboard().write_text(&link)).await;
        let note = match copied {
            Ok(_) => format!("Link copied ({} characters).", link.len()),
            Err(_) => format!(
                "The browser did not allow copying; copy the link ({} characters) from the field.",
                link.len()
            ),
        };
        page.labels.notice.set(Some(note));
    });
}
