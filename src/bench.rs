//! A hook for `scripts/bench-classify.sh`: `window.chipscopeBench.classify(chips, dim,
//! classes, supports, clicks)` times the page's live classification (the same core code the
//! page runs on every click) on synthetic embeddings and returns `{first_ms, click_ms}`.

use chipscope_core::classify::time_live_update;
use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;

use crate::clock::now_ms;

/// Puts `chipscopeBench` on `window`.
pub fn install() {
    let classify = Closure::<dyn Fn(u32, u32, u32, u32, u32) -> JsValue>::new(
        |chips: u32, dim: u32, classes: u32, supports: u32, clicks: u32| {
            let timing = time_live_update(
                chips as usize,
                dim as usize,
                classes as usize,
                supports as usize,
                clicks as usize,
                &now_ms,
            );
            let result = Object::new();
            Reflect::set(&result, &"first_ms".into(), &timing.first_ms.into()).ok();
            Reflect::set(&result, &"click_ms".into(), &timing.click_ms.into()).ok();
            result.into()
        },
    );
    let hook = Object::new();
    Reflect::set(&hook, &"classify".into(), classify.as_ref()).ok();
    classify.forget(); // lives as long as the page
    Reflect::set(&leptos::prelude::window(), &"chipscopeBench".into(), &hook).ok();
}
