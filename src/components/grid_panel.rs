//! Chip size: a slider and a number field (and the size in nm for a calibrated image), with the
//! grid's rows, columns and cropped pixels.

use crate::app::AppState;
use chipscope_core::dataset::significant;
use chipscope_core::grid::{ChipGrid, MIN_CHIP_SIZE};
use leptos::prelude::*;

/// Chip-size controls and the grid summary.
#[component]
pub fn GridPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // None before an image is open; the reason no chip fits for an image that is too small.
    let max_chip = Memo::new(move |_| {
        state.loaded.with(|loaded| {
            let image = &loaded.as_ref()?.dataset.image;
            Some(ChipGrid::max_chip_size(image.width(), image.height()).map_err(|e| e.to_string()))
        })
    });
    let set_chip = move |text: String| {
        if let (Ok(size), Some(Ok(max))) = (text.trim().parse::<usize>(), max_chip.get_untracked())
        {
            state.chip_size.set(size.clamp(MIN_CHIP_SIZE, max));
        }
    };
    // The pixel size in nm of a calibrated image, for the chip size in nm.
    let pixel_nm = Memo::new(move |_| {
        state
            .loaded
            .with(|l| l.as_ref()?.dataset.calibration.as_ref()?.pixel_nm())
    });
    let set_chip_nm = move |text: String| {
        if let (Ok(nm), Some(pixel)) = (text.trim().parse::<f64>(), pixel_nm.get_untracked()) {
            set_chip(format!("{:.0}", nm / pixel));
        }
    };
    move || {
        max_chip.get().map(|max| match max {
            Err(why) => view! {
                <section class="panel" data-testid="grid-panel">
                    <h2>"Chip grid"</h2>
                    <p class="hint" data-testid="no-grid">{format!("No chip grid fits: {why}. The image can be viewed but not segmented.")}</p>
                </section>
            }
            .into_any(),
            Ok(max) => view! {
                <section class="panel" data-testid="grid-panel">
                    <h2>"Chip grid"</h2>
                    <label class="row">
                        "chip size (px)"
                        <input type="range" min=MIN_CHIP_SIZE max=max step=1 data-testid="chip-slider"
                            prop:value=move || state.chip_size.get().to_string()
                            on:input=move |event| set_chip(event_target_value(&event))/>
                        <input type="number" min=MIN_CHIP_SIZE max=max step=1 class="chip-number" data-testid="chip-number"
                            prop:value=move || state.chip_size.get().to_string()
                            on:change=move |event| set_chip(event_target_value(&event))/>
                    </label>
                    {move || pixel_nm.get().map(|pixel| view! {
                        <label class="row">
                            "chip size (nm)"
                            <input type="number" min=0 step="any" class="chip-number" data-testid="chip-nm"
                                prop:value=move || significant(state.chip_size.get() as f64 * pixel, 4)
                                on:change=move |event| set_chip_nm(event_target_value(&event))/>
                            <span class="hint">"rounded to whole pixels"</span>
                        </label>
                    })}
                    <p class="grid-summary">
                        <output data-testid="chip-count">{move || state.grid().map_or(0, |grid| grid.chip_count())}</output>
                        " chips"
                        <span data-testid="grid-layout">{move || state.grid().map(|grid| grid.layout_summary())}</span>
                        <span data-testid="grid-cropped">{move || state.grid().map(|grid| grid.cropped_summary())}</span>
                    </p>
                    <label class="row">
                        <input type="checkbox" prop:checked=move || state.show_grid.get()
                            on:change=move |event| state.show_grid.set(event_target_checked(&event))/>
                        "show grid"
                    </label>
                    <p class="hint">{format!("From the top-left corner; the right and bottom remainders are cropped. {MIN_CHIP_SIZE}–{max} px.")}</p>
                </section>
            }
            .into_any(),
        })
    }
}
