//! The page's clock.

use leptos::prelude::window;

/// A millisecond clock with sub-millisecond resolution.
pub fn now_ms() -> f64 {
    window()
        .performance()
        .map_or_else(js_sys::Date::now, |performance| performance.now())
}
