//! What happens when the page panics. The release build aborts on panic (`panic = "abort"`), so
//! once the hook returns the WebAssembly instance is dead and no Rust can run again: the hook
//! logs the panic, keeps its message in the tab's session storage and tells public/loader.js
//! (a `chipscope-crash` event), whose plain JavaScript shows "Chipscope hit an internal error"
//! with the message and a Reload button. On the next start [`take_message`] finds the message
//! and the page restores the last autosave by itself, on the CPU if the panic came from WebGPU
//! ([`webgpu_ended_the_page`]).

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Session-storage key of the message of the panic that ended the page (public/loader.js
/// reads and writes the same key).
const MESSAGE_KEY: &str = "chipscope-crash";
/// The event that asks public/loader.js to show the message.
const CRASH_EVENT: &str = "chipscope-crash";
/// The event that makes the page panic, for the end-to-end test of all this.
const TEST_PANIC_EVENT: &str = "chipscope-test-panic";

/// Installs the panic hook, and the test's way of panicking on purpose.
pub fn install() {
    let token = web_sys::window()
        .and_then(|window| js_sys::Reflect::get(&window, &"chipscopePageToken".into()).ok())
        .and_then(|token| token.as_string());
    if let Some(token) = token {
        let _ = PAGE_TOKEN.set(token);
    }
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        announce(&info.to_string());
    }));
    listen_for_test_panic();
}

/// This page's name for itself on the crash channel, so that a panic in one tab's thread pool
/// is shown by that tab only (every same-origin tab hears a broadcast channel). Set on the main
/// thread at start; the pool's workers share the memory that holds it.
static PAGE_TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Keeps `message` for the next start and asks the loader to show it. A worker of the thread
/// pool has no window, no storage and no way to the page's events: it posts the message, with
/// the page's token, on the `chipscope-crash` broadcast channel, which public/loader.js hears.
fn announce(message: &str) {
    let Some(window) = web_sys::window() else {
        let channel = web_sys::BroadcastChannel::new(CRASH_EVENT);
        let token = PAGE_TOKEN.get().map_or("", String::as_str);
        let posted = js_sys::Array::of2(&token.into(), &message.into());
        if let Ok(channel) = channel {
            let _ = channel.post_message(&posted);
        }
        return;
    };
    if let Ok(Some(storage)) = window.session_storage() {
        let _ = storage.set_item(MESSAGE_KEY, message);
    }
    if let Ok(event) = web_sys::Event::new(CRASH_EVENT) {
        let _ = window.dispatch_event(&event);
    }
}

/// The message of the panic that ended this tab's previous page, if one did; forgotten once
/// read, so only the first start after the crash restores.
pub fn take_message() -> Option<String> {
    let message = kept_message()?;
    let _ = session_storage()?.remove_item(MESSAGE_KEY);
    Some(message)
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The message kept by [`announce`] (or by public/loader.js), if any.
fn kept_message() -> Option<String> {
    session_storage()?.get_item(MESSAGE_KEY).ok()?
}

/// Whether the panic that ended this tab's previous page came from WebGPU: wgpu reports a
/// validation or internal error by panicking (burn's runtime keeps that rule), and the panic's
/// location is then in a wgpu crate. Such an error may well come again, so the next start runs
/// on the CPU. Read before [`take_message`] forgets the panic.
pub fn webgpu_ended_the_page() -> bool {
    kept_message().is_some_and(|message| message.contains("wgpu"))
}

/// Panics when the page receives `chipscope-test-panic` (tests/e2e/resilience.test.mjs sends
/// it), with the event's detail (if any) in the message; in a job on the thread pool when the
/// detail says "pool". It is in every build, not only a test build, because the end-to-end
/// tests run the build that ships; it is harmless there: no address, file or link can send the
/// event, only script already running in the page (a test driver, the developer console), which
/// could end the page anyway.
fn listen_for_test_panic() {
    let panic = Closure::<dyn Fn(web_sys::Event)>::new(|event: web_sys::Event| {
        let detail = js_sys::Reflect::get(&event, &"detail".into()).ok();
        let detail = detail
            .and_then(|detail| detail.as_string())
            .unwrap_or_default();
        match detail.contains("pool") {
            true => wasm_bindgen_futures::spawn_local(crate::threads::off_main(move || {
                panic!("a test panic in the thread pool, asked for by the {TEST_PANIC_EVENT} event")
            })),
            false => panic!("a test panic, asked for by the {TEST_PANIC_EVENT} event{detail}"),
        }
    });
    let added = web_sys::window().map(|window| {
        window.add_event_listener_with_callback(TEST_PANIC_EVENT, panic.as_ref().unchecked_ref())
    });
    if matches!(added, Some(Ok(()))) {
        panic.forget(); // listens as long as the page lives
    }
}
