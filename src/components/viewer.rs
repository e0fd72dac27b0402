//! The image on a canvas at full resolution, the segmentation, an element map and the atom
//! columns over it, and the chip grid as SVG on top, where clicks pick support chips and the
//! pointer picks the chip whose g(r) is plotted.

use crate::app::AppState;
use crate::components::spectra_panel::element_map_for_display;
use crate::labelling::LabelState;
use crate::page::Page;
use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, heat_rgba, render_rgba};
use chipscope_core::grid::ChipGrid;
use chipscope_core::labels::Cell;
use chipscope_core::results::{class_map_rgba, confidence_map_rgba};
use chipscope_core::session::ViewMode;
use leptos::ev::MouseEvent;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, ImageData};

/// Canvas, segmentation overlay and the clickable grid with the support chips marked; empty
/// until an image is loaded.
#[component]
pub fn Viewer() -> impl IntoView {
    let page = Page::from_context();
    let (state, labels) = (page.app, page.labels);
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let (Some(canvas), Some(loaded), Some(range)) =
            (canvas.get(), state.loaded.get(), state.display_range.get())
        else {
            return;
        };
        if let Err(error) = paint_image(&canvas, &loaded.dataset.image, range) {
            state.error.set(Some(format!(
                "the browser could not draw the image: {error:?}"
            )));
        }
    });
    let size = move || {
        state.loaded.with(|l| {
            l.as_ref()
                .map(|l| (l.dataset.image.width(), l.dataset.image.height()))
        })
    };
    let on_click = move |event: MouseEvent| {
        let Some(cell) = clicked_cell(&event, state) else {
            return;
        };
        if page.awaiting_choice() {
            return labels.notice.set(Some(
                "Restore the autosaved labels or start afresh (above) before labelling.".into(),
            ));
        }
        let classify = !page.sessions.labelling.get_untracked();
        labels.click(state, page.embedding, cell, classify);
    };
    let on_move = move |event: MouseEvent| {
        let cell = clicked_cell(&event, state);
        if cell.is_some() && page.atoms.inspected.get_untracked() != cell {
            page.atoms.inspected.set(cell);
        }
    };
    view! {
        <div class="viewer" class:empty=move || size().is_none() data-testid="viewer" style=move || fit_style(size())>
            <canvas node_ref=canvas data-testid="image-canvas"/>
            {move || (!page.sessions.labelling.get()).then(|| view! { <SegmentationOverlay/> <ElementOverlay/> <AtomsOverlay/> })}
            {move || {
                let (width, height) = size()?;
                let grid = state.grid()?;
                Some(view! {
                    <svg class="grid-overlay" data-testid="grid-overlay" viewBox=format!("0 0 {width} {height}") preserveAspectRatio="none" on:click=on_click on:mousemove=on_move>
                        <path class="cropped" d=cropped_path(&grid, width, height)/>
                        {state.show_grid.get().then(|| view! { <path class="grid-lines" d=grid_path(&grid)/> })}
                        {asked_marks(page, grid.chip_size())}
                        {support_marks(labels, grid.chip_size())}
                    </svg>
                })
            }}
        </div>
    }
}

/// The grid cell under a click, if the click is inside the chips.
fn clicked_cell(event: &MouseEvent, state: AppState) -> Option<Cell> {
    let grid = state.grid()?;
    let target: web_sys::Element = event.current_target()?.dyn_into().ok()?;
    let rect = target.get_bounding_client_rect();
    let (width, height) = grid.image_size();
    let x = (event.client_x() as f64 - rect.left()) / rect.width() * width as f64;
    let y = (event.client_y() as f64 - rect.top()) / rect.height() * height as f64;
    let (row, col) = (
        (y / grid.chip_size() as f64).floor(),
        (x / grid.chip_size() as f64).floor(),
    );
    let inside = row >= 0.0 && col >= 0.0;
    (inside && (row as usize) < grid.rows() && (col as usize) < grid.cols())
        .then_some([row as usize, col as usize])
}

/// An outline in the class colour around every support chip of the grid on screen.
fn support_marks(labels: LabelState, chip_size: usize) -> impl IntoView {
    let current = labels.labels();
    (current.chip_size == chip_size).then(|| {
        current
            .classes
            .iter()
            .flat_map(|class| {
                class.supports.iter().map(move |[row, col]| {
                    view! {
                        <rect class="support" data-testid="support-mark"
                            x=col * chip_size y=row * chip_size width=chip_size height=chip_size
                            stroke=class.colour.to_string()/>
                    }
                })
            })
            .collect_view()
    })
}

/// A dashed outline around each chip a labelling task asks for that has no class yet.
fn asked_marks(page: Page, chip_size: usize) -> impl IntoView {
    let labels = page.labels.labels();
    let asked = page.sessions.task.with(|task| {
        task.as_ref()
            .map(|task| task.chips.clone())
            .unwrap_or_default()
    });
    asked
        .into_iter()
        .filter(|cell| labels.class_of(*cell).is_none())
        .map(|[row, col]| {
            view! {
                <rect class="asked" data-testid="asked-mark"
                    x=col * chip_size y=row * chip_size width=chip_size height=chip_size/>
            }
        })
        .collect_view()
}

/// The class (or confidence) of every chip as one pixel per chip, stretched over the grid; in
/// the fine view, the class of every cell of the dense map, stretched over the cells.
#[component]
fn SegmentationOverlay() -> impl IntoView {
    let state = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let canvas = NodeRef::<Canvas>::new();
    let classes = move |assignments: &[Option<usize>]| {
        labels
            .history
            .with(|h| class_map_rgba(&h.current().classes, assignments))
    };
    // What is drawn: one pixel per chip, or per cell of the dense map in the fine view, and
    // the pixels of the image it spans.
    let layer = move || {
        let segmentation = labels.segmentation.get()?;
        let grid = state.grid()?;
        let chips = || (grid.cols(), grid.rows(), grid.covered_size());
        let (cols, rows, (span_w, span_h), rgba) =
            match (labels.mode.get(), labels.fine_assignments()) {
                (ViewMode::Fine, Some((fine, assignments))) => {
                    let span = |cells: usize| (cells as f64 * fine.cell_px).round() as usize;
                    let spans = (span(fine.cols), span(fine.rows));
                    (fine.cols, fine.rows, spans, classes(&assignments))
                }
                (ViewMode::Confidence, _) => {
                    let (cols, rows, spans) = chips();
                    (cols, rows, spans, confidence_map_rgba(&segmentation))
                }
                _ => {
                    let (cols, rows, spans) = chips();
                    (
                        cols,
                        rows,
                        spans,
                        classes(&labels.assignments().unwrap_or_default()),
                    )
                }
            };
        let (width, height) = grid.image_size();
        let size = (cols as u32, rows as u32);
        let extent = (span_w as f64 / width as f64, span_h as f64 / height as f64);
        Some((size, extent, rgba))
    };
    Effect::new(move |_| {
        if let (Some(canvas), Some(((cols, rows), _, rgba))) = (canvas.get(), layer())
            && let Err(error) = paint(&canvas, cols, rows, &rgba)
        {
            state.error.set(Some(format!(
                "the browser could not draw the overlay: {error:?}"
            )));
        }
    });
    let style = move || {
        let (_, (across, down), _) = layer()?;
        Some(format!(
            "width: {}%; height: {}%; opacity: {}",
            100.0 * across,
            100.0 * down,
            labels.opacity.get()
        ))
    };
    view! {
        <canvas node_ref=canvas class="segmentation" data-testid="segmentation-overlay"
            class:hidden=move || style().is_none()
            style=move || style().unwrap_or_default()/>
    }
}

/// The refined atom columns as dots, on a canvas of the image's size, when shown.
#[component]
fn AtomsOverlay() -> impl IntoView {
    let page = Page::from_context();
    let canvas = NodeRef::<Canvas>::new();
    let columns = move || {
        page.atoms
            .show
            .get()
            .then(|| page.atoms.found_here(page.app))
            .flatten()
    };
    Effect::new(move |_| {
        let (Some(canvas), Some(found), Some(loaded)) =
            (canvas.get(), columns(), page.app.loaded.get())
        else {
            return;
        };
        let image = &loaded.dataset.image;
        let points: Vec<(f64, f64)> = found
            .columns
            .iter()
            .map(|c| (f64::from(c.x) + 0.5, f64::from(c.y) + 0.5))
            .collect();
        if let Err(error) = paint_dots(&canvas, image.width(), image.height(), &points) {
            page.app.error.set(Some(format!(
                "the browser could not draw the atom columns: {error:?}"
            )));
        }
    });
    view! {
        <canvas node_ref=canvas class="atoms" data-testid="atoms-overlay"
            class:hidden=move || columns().is_none()/>
    }
}

/// The chosen element's map (its line's counts per map pixel, smoothed) in a colour of its
/// own, on a canvas of the map's size stretched over the image.
#[component]
fn ElementOverlay() -> impl IntoView {
    let page = Page::from_context();
    let canvas = NodeRef::<Canvas>::new();
    let shown = move || {
        let element = page.spectra.map_element.get()?;
        let (line, counts) = page.spectra.element_map(&element)?;
        let loaded = page.spectra.loaded.get()?;
        let map = loaded.map()?;
        let values = element_map_for_display(map, &counts);
        Some((
            map.width,
            map.height,
            heat_rgba(&values, element_colour(line.z)),
            line,
        ))
    };
    Effect::new(move |_| {
        if let (Some(canvas), Some((width, height, rgba, _))) = (canvas.get(), shown())
            && let Err(error) = paint(&canvas, width as u32, height as u32, &rgba)
        {
            page.app.error.set(Some(format!(
                "the browser could not draw the element map: {error:?}"
            )));
        }
    });
    let fits = move || page.spectra.chips.with(|c| matches!(c, Some(Ok(_))));
    view! {
        <canvas node_ref=canvas class="element-map" data-testid="element-overlay"
            class:hidden=move || page.spectra.map_element.with(Option::is_none) || !fits()
            data-line=move || shown().map(|(.., line)| format!("{} {}", line.element, line.line))/>
    }
}

/// A bright colour per element, spread around the hue circle by atomic number.
fn element_colour(z: u8) -> [u8; 3] {
    let hue = (f32::from(z) * 0.618_034).fract() * 6.0;
    let rise = (hue.fract() * 255.0) as u8;
    let fall = 255 - rise;
    match hue as u8 {
        0 => [255, rise, 0],
        1 => [fall, 255, 0],
        2 => [0, 255, rise],
        3 => [0, fall, 255],
        4 => [rise, 0, 255],
        _ => [255, 0, fall],
    }
}

/// Clears `canvas` to `width × height` pixels and marks each point with a small ring.
fn paint_dots(
    canvas: &web_sys::HtmlCanvasElement,
    width: usize,
    height: usize,
    points: &[(f64, f64)],
) -> Result<(), wasm_bindgen::JsValue> {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or("no 2-D canvas context")?
        .unchecked_into();
    let radius = (width.max(height) as f64 / 400.0).clamp(1.0, 4.0);
    context.set_stroke_style_str("#ffd23f");
    context.set_line_width(radius / 2.0);
    context.begin_path();
    for &(x, y) in points {
        context.move_to(x + radius, y);
        context.arc(x, y, radius, 0.0, std::f64::consts::TAU)?;
    }
    context.stroke();
    Ok(())
}

/// Fills the stage's width, or its height for tall images, keeping the image's aspect ratio.
fn fit_style(size: Option<(usize, usize)>) -> String {
    let (width, height) = size.unwrap_or((1, 1));
    format!(
        "aspect-ratio: {width} / {height}; width: min(100%, calc((100vh - 9rem) * {width} / {height}))"
    )
}

/// Draws `image` in its display `range` on `canvas`, one canvas pixel per image pixel.
pub fn paint_image(
    canvas: &web_sys::HtmlCanvasElement,
    image: &Image,
    range: DisplayRange,
) -> Result<(), wasm_bindgen::JsValue> {
    let rgba = render_rgba(image, range);
    paint(canvas, image.width() as u32, image.height() as u32, &rgba)
}

/// Puts `rgba` (`width × height` pixels) on `canvas`, resizing it.
pub fn paint(
    canvas: &web_sys::HtmlCanvasElement,
    width: u32,
    height: u32,
    rgba: &[u8],
) -> Result<(), wasm_bindgen::JsValue> {
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or("no 2-D canvas context")?
        .unchecked_into();
    // Copied out of WebAssembly's memory first: in the threaded build that memory is shared,
    // and browsers refuse an `ImageData` over a shared buffer.
    let copy = js_sys::Uint8ClampedArray::new_with_length(rgba.len() as u32);
    copy.copy_from(rgba);
    let pixels = ImageData::new_with_js_u8_clamped_array_and_sh(&copy, width, height)?;
    context.put_image_data(&pixels, 0.0, 0.0)
}

/// Chip borders: every vertical and horizontal line of the covered area.
fn grid_path(grid: &ChipGrid) -> String {
    let (width, height) = grid.covered_size();
    let step = grid.chip_size();
    let verticals = (0..=grid.cols()).map(|c| format!("M{} 0V{height}", c * step));
    let horizontals = (0..=grid.rows()).map(|r| format!("M0 {}H{width}", r * step));
    verticals.chain(horizontals).collect()
}

/// The right and bottom strips left out of the grid.
fn cropped_path(grid: &ChipGrid, width: usize, height: usize) -> String {
    let (covered_w, covered_h) = grid.covered_size();
    format!("M{covered_w} 0H{width}V{height}H{covered_w}Z M0 {covered_h}H{covered_w}V{height}H0Z")
}
