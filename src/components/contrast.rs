//! Contrast: min–max, percentile or manual stretch. Only the display changes; the data do not.

use crate::app::AppState;
use chipscope_core::display::{DisplayRange, Stretch};
use leptos::prelude::*;

/// Stretch mode and its two bounds, with the resulting black and white levels.
#[component]
pub fn ContrastPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let range = state.display_range;
    let set_mode = move |mode: String| {
        let stretch = match mode.as_str() {
            "minmax" => Stretch::MinMax,
            "manual" => {
                let current = range.get_untracked().unwrap_or(DisplayRange {
                    low: 0.0,
                    high: 1.0,
                });
                Stretch::Manual {
                    low: current.low,
                    high: current.high,
                }
            }
            _ => Stretch::default(),
        };
        state.stretch.set(stretch);
    };
    let set_bound = move |is_low: bool, text: String| {
        let Ok(value) = text.trim().parse::<f64>() else {
            return;
        };
        let stretch = match state.stretch.get_untracked() {
            Stretch::Percentile { high, .. } if is_low => Stretch::Percentile {
                low: value.clamp(0.0, high),
                high,
            },
            Stretch::Percentile { low, .. } => Stretch::Percentile {
                low,
                high: value.clamp(low, 100.0),
            },
            Stretch::Manual { high, .. } if is_low => Stretch::Manual {
                low: value as f32,
                high,
            },
            Stretch::Manual { low, .. } => Stretch::Manual {
                low,
                high: value as f32,
            },
            Stretch::MinMax => return,
        };
        state.stretch.set(stretch);
    };
    let bound_field = move |is_low: bool| {
        move || {
            let (value, unit) = match state.stretch.get() {
                Stretch::Percentile { low, high } => (if is_low { low } else { high }, "%"),
                Stretch::Manual { low, high } => (f64::from(if is_low { low } else { high }), ""),
                Stretch::MinMax => return None,
            };
            let name = if is_low { "black at" } else { "white at" };
            Some(view! {
                <label class="row">
                    {format!("{name} {unit}")}
                    <input type="number" step="any" prop:value=value.to_string()
                        data-testid=if is_low { "contrast-low" } else { "contrast-high" }
                        on:change=move |event| set_bound(is_low, event_target_value(&event))/>
                </label>
            })
        }
    };
    move || {
        state.loaded.with(Option::is_some).then(|| {
            view! {
                <section class="panel" data-testid="contrast-panel">
                    <h2>"Contrast"</h2>
                    <label class="row">
                        "stretch"
                        <select data-testid="contrast-mode" on:change=move |event| set_mode(event_target_value(&event))>
                            <option value="percentile" selected=matches!(state.stretch.get_untracked(), Stretch::Percentile { .. })>"percentiles"</option>
                            <option value="minmax" selected=matches!(state.stretch.get_untracked(), Stretch::MinMax)>"min – max"</option>
                            <option value="manual" selected=matches!(state.stretch.get_untracked(), Stretch::Manual { .. })>"manual"</option>
                        </select>
                    </label>
                    {bound_field(true)}
                    {bound_field(false)}
                    <p class="hint" data-testid="display-range">
                        {move || range.get().map(|r| format!("black = {}, white = {} (raw values unchanged)", r.low, r.high))}
                    </p>
                </section>
            }
        })
    }
}
