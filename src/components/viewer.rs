//! The image on a canvas at full resolution, with the chip grid drawn over it as SVG.

use crate::app::AppState;
use chipscope_core::display::render_rgba;
use chipscope_core::grid::ChipGrid;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, ImageData};

/// Canvas and grid overlay; empty until an image is loaded.
#[component]
pub fn Viewer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let (Some(canvas), Some(loaded), Some(range)) =
            (canvas.get(), state.loaded.get(), state.display_range.get())
        else {
            return;
        };
        let image = &loaded.dataset.image;
        let rgba = render_rgba(image, range);
        if let Err(error) = paint(&canvas, image.width() as u32, image.height() as u32, &rgba) {
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
    view! {
        <div class="viewer" class:empty=move || size().is_none() data-testid="viewer" style=move || fit_style(size())>
            <canvas node_ref=canvas data-testid="image-canvas"/>
            {move || {
                let (width, height) = size()?;
                let grid = state.grid().filter(|_| state.show_grid.get())?;
                Some(view! {
                    <svg class="grid-overlay" data-testid="grid-overlay" viewBox=format!("0 0 {width} {height}") preserveAspectRatio="none">
                        <path class="cropped" d=cropped_path(&grid, width, height)/>
                        <path class="grid-lines" d=grid_path(&grid)/>
                    </svg>
                })
            }}
        </div>
    }
}

/// Fills the stage's width, or its height for tall images, keeping the image's aspect ratio.
fn fit_style(size: Option<(usize, usize)>) -> String {
    let (width, height) = size.unwrap_or((1, 1));
    format!(
        "aspect-ratio: {width} / {height}; width: min(100%, calc((100vh - 9rem) * {width} / {height}))"
    )
}

fn paint(
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
    let pixels = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width, height)?;
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
