//! The Frames panel, shown for a frame series: the session applied to every frame, a slider
//! whose frame is previewed with its classes over it, and the fractions over the frames as a
//! chart, a CSV and an SVG.

use chipscope_core::display::DisplayRange;
use chipscope_core::results::class_map_rgba;
use chipscope_core::series::FractionTable;
use leptos::html::Canvas;
use leptos::prelude::*;

use crate::components::viewer::{paint, paint_image};
use crate::download;
use crate::page::Page;

/// The panel; empty unless the image on screen comes from a file of several frames.
#[component]
pub fn FramesPanel() -> impl IntoView {
    let page = Page::from_context();
    let frames = page.frames;
    view! {
        {move || frames.series.get().map(|series| {
            let times = series.describe_times();
            view! {
                <section class="panel" data-testid="frames-panel">
                    <h2>"Frames"</h2>
                    <p data-testid="frames-about">{format!("{} frames ({}), {times}.", series.frames, series.format)}</p>
                    <p class="hint">"The supports are clicked on frame 1, the image above (and on the project's other images). Segment all frames applies them to every frame, one at a time."</p>
                    <RunControls/>
                    <FrameSlider frames=series.frames/>
                    <FractionsChart/>
                </section>
            }
        })}
    }
}

/// Segment all frames, or Stop while it runs, with the progress and what went wrong.
#[component]
fn RunControls() -> impl IntoView {
    let page = Page::from_context();
    let frames = page.frames;
    let running = move || {
        frames
            .run
            .with(|run| run.as_ref().is_some_and(|r| r.running))
    };
    let total = move || frames.series.with(|s| s.as_ref().map_or(0, |s| s.frames));
    view! {
        <div class="row">
            {move || match running() {
                false => view! {
                    <button class="button" data-testid="segment-frames"
                        on:click=move |_| frames.segment_all(page.app, page.embedding, page.labels)>
                        "Segment all frames"</button>
                }.into_any(),
                true => view! {
                    <button class="button secondary" data-testid="stop-frames"
                        on:click=move |_| frames.stop()>"Stop"</button>
                }.into_any(),
            }}
            {move || frames.run.with(|run| run.as_ref().map(|run| view! {
                <span data-testid="frames-progress">{format!("{} of {} frames", run.done, total())}</span>
            }))}
        </div>
        {move || frames.error.get().map(|message| view! { <p class="error" data-testid="frames-error">{message}</p> })}
        {move || frames.run.with(|run| {
            let failures = run.as_ref()?.failures.clone();
            (!failures.is_empty()).then(|| view! {
                <ul class="error" data-testid="frame-failures">
                    {failures.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}
                </ul>
            })
        })}
    }
}

/// The slider and the frame it picks, with that frame's classes over it once segmented.
#[component]
fn FrameSlider(frames: usize) -> impl IntoView {
    let page = Page::from_context();
    let state = page.frames;
    let (image, overlay) = (NodeRef::<Canvas>::new(), NodeRef::<Canvas>::new());
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let (Some(canvas), Some(series)) = (image.get(), state.series.get()) else {
            return;
        };
        let stretch = page.app.stretch.get();
        match series.frame(state.shown.get()) {
            Ok(frame) => {
                let range = DisplayRange::of(&frame.image, stretch);
                let painted = paint_image(&canvas, &frame.image, range);
                error.set(
                    painted
                        .err()
                        .map(|e| format!("the browser could not draw it: {e:?}")),
                );
            }
            Err(decode) => error.set(Some(decode.to_string())),
        }
    });
    let classes = move || {
        state
            .run
            .with(|run| run.as_ref()?.assignments.get(state.shown.get())?.clone())
    };
    Effect::new(move |_| {
        let (Some(canvas), Some(assignments), Some(grid)) =
            (overlay.get(), classes(), page.app.grid())
        else {
            return;
        };
        let rgba = page
            .labels
            .history
            .with(|h| class_map_rgba(&h.current().classes, &assignments));
        let _ = paint(&canvas, grid.cols() as u32, grid.rows() as u32, &rgba);
    });
    let overlay_style = move || {
        let grid = page.app.grid()?;
        let ((covered_w, covered_h), (width, height)) = (grid.covered_size(), grid.image_size());
        Some(format!(
            "width: {}%; height: {}%; opacity: {}",
            100.0 * covered_w as f64 / width as f64,
            100.0 * covered_h as f64 / height as f64,
            page.labels.opacity.get()
        ))
    };
    let shares = move || {
        let shown = state.shown.get();
        state.run.with(|run| {
            let table = run.as_ref()?.table.as_ref()?;
            let row = table.rows().iter().find(|row| row.frame == shown)?;
            let parts: Vec<String> = table
                .names()
                .zip(&row.fractions)
                .filter(|(_, f)| **f > 0.0)
                .map(|(name, f)| format!("{name} {:.1} %", f * 100.0))
                .collect();
            Some(parts.join(" · "))
        })
    };
    view! {
        <label class="row">
            <span data-testid="frame-number">{move || format!("frame {} of {frames}", state.shown.get() + 1)}</span>
            <input type="range" min=1 max=frames step=1 data-testid="frame-slider"
                prop:value=move || (state.shown.get() + 1).to_string()
                on:input=move |event| {
                    let frame: usize = event_target_value(&event).parse().unwrap_or(1);
                    state.shown.set(frame.clamp(1, frames) - 1);
                }/>
        </label>
        <div class="frame-preview" data-testid="frame-preview">
            <canvas node_ref=image data-testid="frame-canvas"/>
            <canvas node_ref=overlay class="segmentation" data-testid="frame-overlay"
                class:hidden=move || classes().is_none()
                style=move || overlay_style().unwrap_or_default()/>
        </div>
        {move || error.get().map(|message| view! { <p class="error">{message}</p> })}
        {move || shares().map(|text| view! { <p data-testid="frame-shares">{text}</p> })}
    }
}

/// Each class's fraction against time or frame, and the table's downloads.
#[component]
fn FractionsChart() -> impl IntoView {
    let page = Page::from_context();
    let table = move || page.frames.run.with(|run| run.as_ref()?.table.clone());
    let stem = move || {
        page.app
            .loaded
            .with(|l| l.as_ref().map(|l| l.stem()).unwrap_or_default())
    };
    let offer = move |suffix: &str, mime: &str, text: fn(&FractionTable) -> String| {
        let Some(table) = table() else { return };
        let name = format!("{}-fractions.{suffix}", stem());
        if let Err(error) = download::save(&name, mime, text(&table).as_bytes()) {
            page.frames.error.set(Some(error));
        }
    };
    view! {
        {move || table().map(|table| view! {
            <div class="chart" data-testid="fractions-chart" inner_html=table.chart_svg()></div>
            <div class="row">
                <button class="button secondary small" data-testid="export-fractions-csv"
                    on:click=move |_| offer("csv", "text/csv", FractionTable::to_csv)>"Fractions CSV"</button>
                <button class="button secondary small" data-testid="export-fractions-svg"
                    on:click=move |_| offer("svg", "image/svg+xml", FractionTable::chart_svg)>"Chart SVG"</button>
            </div>
        })}
    }
}
