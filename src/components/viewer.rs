//! The image on a canvas at full resolution, the segmentation, an element map and the atom
//! columns over it, and the chip grid as SVG on top, where clicks and strokes pick support
//! chips and the pointer picks the chip whose g(r) is plotted; zoomed and panned by wheel,
//! pinch, keys and the middle button ([`super::viewport`]).

use std::collections::BTreeMap;

use crate::app::AppState;
use crate::clock::now_ms;
use crate::components::spectra_panel::element_map_for_display;
use crate::components::viewport::{Gesture, pinch_of};
use crate::labelling::{ChipEdit, LabelState, typing_in_a_field};
use crate::page::Page;
use crate::zoom::Transform;
use chipscope_core::dataset::Image;
use chipscope_core::display::{DisplayRange, heat_rgba, render_rgba};
use chipscope_core::grid::ChipGrid;
use chipscope_core::labels::{Cell, palette_colour};
use chipscope_core::results::{class_map_rgba, confidence_map_rgba};
use chipscope_core::session::ViewMode;
use leptos::ev::{MouseEvent, PointerEvent};
use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, ImageData};

/// Canvas, segmentation overlay and the clickable grid with the support chips marked, zoomed
/// and panned as the user asks; empty until an image is loaded.
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
    let input = GridInput::new(page);
    view! {
        <div class="viewer" class:empty=move || size().is_none() data-testid="viewer" style=move || fit_style(size())
            node_ref=input.viewer on:wheel=move |event| input.wheel(event)>
            <div class="zoomed" style=move || input.transform.get().css()>
                <canvas node_ref=canvas data-testid="image-canvas"/>
                {move || (!page.sessions.labelling.get()).then(|| view! { <SegmentationOverlay/> <ElementOverlay/> <AtomsOverlay/> })}
                {move || {
                    let (width, height) = size()?;
                    let grid = state.grid()?;
                    Some(view! {
                        <svg class="grid-overlay" data-testid="grid-overlay" viewBox=format!("0 0 {width} {height}") preserveAspectRatio="none"
                            on:click=move |event| input.click(event)
                            on:pointerdown=move |event| input.down(event)
                            on:pointermove=move |event| input.moved(event)
                            on:pointerup=move |event| input.up(event)
                            on:pointercancel=move |event| input.cancel(event)
                            on:contextmenu=move |event| event.prevent_default()>
                            <path class="cropped" d=cropped_path(&grid, width, height)/>
                            {state.show_grid.get().then(|| view! { <path class="grid-lines" d=grid_path(&grid)/> })}
                            {asked_marks(page, grid.chip_size())}
                            {support_marks(labels, grid.chip_size())}
                            {move || suggested_marks(labels, grid.chip_size())}
                            {move || stroke_marks(input, labels, grid.chip_size())}
                        </svg>
                    })
                }}
            </div>
            {move || (input.transform.get().zoom > 1.0).then(|| view! {
                <div class="zoom-bar">
                    <span data-testid="zoom-level">{format!("{:.0} %", input.transform.get().zoom * 100.0)}</span>
                    <button class="button secondary small" data-testid="zoom-fit"
                        on:click=move |_| input.transform.set(Transform::FIT)>"Fit"</button>
                </div>
            })}
        </div>
    }
}

/// The pointer and wheel on the image: zoom and pan, strokes and rectangles that paint or erase
/// chips, clicks that toggle one; and the zoom keys (+, −, F to fit, arrows to pan).
#[derive(Clone, Copy)]
struct GridInput {
    page: Page,
    viewer: NodeRef<Div>,
    /// The image's zoom and pan (the page's, since suggestions pan it too).
    transform: RwSignal<Transform>,
    /// The stroke or rectangle under way, drawn as it grows.
    gesture: RwSignal<Option<Gesture>>,
    /// Pointers down, by id: their client position.
    pointers: StoredValue<BTreeMap<i32, (f64, f64)>>,
    /// When a stroke, rectangle or pan of the primary button ended (ms): the click the browser
    /// sends right after it is not also a toggle.
    gesture_ended: StoredValue<Option<f64>>,
}

/// A click this soon after a gesture ended is the gesture's own.
const CLICK_AFTER_GESTURE_MS: f64 = 500.0;

impl GridInput {
    fn new(page: Page) -> Self {
        let input = Self {
            page,
            viewer: NodeRef::new(),
            transform: page.app.view,
            gesture: RwSignal::new(None),
            pointers: StoredValue::new(BTreeMap::new()),
            gesture_ended: StoredValue::new(None),
        };
        input.listen_to_keys();
        input
    }

    /// The viewer point under the pointer, as fractions of the viewer.
    fn fraction(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let rect = self.viewer.get_untracked()?.get_bounding_client_rect();
        (rect.width() > 0.0 && rect.height() > 0.0).then(|| {
            (
                (x - rect.left()) / rect.width(),
                (y - rect.top()) / rect.height(),
            )
        })
    }

    fn wheel(&self, event: web_sys::WheelEvent) {
        if self.page.app.loaded.with_untracked(Option::is_none) {
            return;
        }
        event.prevent_default();
        let factor = if event.delta_y() < 0.0 { 1.25 } else { 0.8 };
        if let Some(at) = self.fraction(event.client_x() as f64, event.client_y() as f64) {
            self.transform.update(|t| *t = t.zoom_at(factor, at));
        }
    }

    fn down(&self, event: PointerEvent) {
        let point = (event.client_x() as f64, event.client_y() as f64);
        self.pointers
            .update_value(|p| _ = p.insert(event.pointer_id(), point));
        if let Some(target) = event
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let _ = target.set_pointer_capture(event.pointer_id());
        }
        if self.pointers.with_value(BTreeMap::len) >= 2 {
            return self.gesture.set(Some(Gesture::Pinch));
        }
        let gesture = match (event.button(), clicked_cell(&event, self.page.app)) {
            (1, _) => Some(Gesture::Pan),
            (0 | 2, Some(cell)) => {
                let erase = event.shift_key() || event.button() == 2;
                Some(match event.ctrl_key() || event.meta_key() {
                    true => Gesture::Rectangle {
                        from: cell,
                        to: cell,
                        erase,
                    },
                    false => Gesture::Stroke {
                        cells: vec![cell],
                        erase,
                    },
                })
            }
            _ => None,
        };
        if gesture == Some(Gesture::Pan) {
            event.prevent_default();
        }
        self.gesture.set(gesture);
    }

    fn moved(&self, event: PointerEvent) {
        let point = (event.client_x() as f64, event.client_y() as f64);
        let before = self.pointers.with_value(pinch_of);
        let last = self
            .pointers
            .with_value(|p| p.get(&event.pointer_id()).copied());
        self.pointers.update_value(|p| {
            if let Some(position) = p.get_mut(&event.pointer_id()) {
                *position = point;
            }
        });
        let cell = clicked_cell(&event, self.page.app);
        let atoms = self.page.atoms;
        if cell.is_some() && atoms.inspected.get_untracked() != cell {
            atoms.inspected.set(cell);
        }
        match self.gesture.get_untracked() {
            Some(Gesture::Pan) => {
                if let Some(last) = last {
                    self.pan_by_pixels(last, point);
                }
            }
            Some(Gesture::Pinch) => self.pinch(before),
            Some(mut gesture) => {
                if let Some(cell) = cell
                    && gesture.reach(cell)
                {
                    self.gesture.set(Some(gesture));
                }
            }
            None => {}
        }
    }

    /// Pans by the pointer's move from `from` to `to` (client pixels).
    fn pan_by_pixels(&self, from: (f64, f64), to: (f64, f64)) {
        if let (Some(a), Some(b)) = (self.fraction(from.0, from.1), self.fraction(to.0, to.1)) {
            self.transform
                .update(|t| *t = t.pan_by((b.0 - a.0, b.1 - a.1)));
        }
    }

    /// Zooms by the change of the two pointers' distance about their midpoint, and pans by its
    /// move, from where they were (`before`).
    fn pinch(&self, before: Option<((f64, f64), f64)>) {
        let now = self.pointers.with_value(pinch_of);
        let (Some((from, d0)), Some((to, d1))) = (before, now) else {
            return;
        };
        if let Some(at) = self.fraction(to.0, to.1)
            && d0 > 0.0
        {
            self.transform.update(|t| *t = t.zoom_at(d1 / d0, at));
        }
        self.pan_by_pixels(from, to);
    }

    fn up(&self, event: PointerEvent) {
        self.pointers
            .update_value(|p| _ = p.remove(&event.pointer_id()));
        let Some(gesture) = self.gesture.get_untracked() else {
            return;
        };
        if self.pointers.with_value(|p| !p.is_empty()) {
            return; // the other finger of a pinch is still down
        }
        self.gesture.set(None);
        let edit = match gesture.chips() {
            // A plain click: the click event toggles the chip.
            Some((cells, false))
                if cells.len() == 1 && matches!(gesture, Gesture::Stroke { .. }) =>
            {
                None
            }
            Some((cells, false)) => Some(ChipEdit::Paint(cells)),
            Some((cells, true)) => Some(ChipEdit::Erase(cells)),
            None => None,
        };
        let plain_click =
            matches!(&gesture, Gesture::Stroke { cells, erase: false } if cells.len() == 1);
        if event.button() == 0 && !plain_click {
            self.gesture_ended.set_value(Some(now_ms()));
        }
        if let Some(edit) = edit {
            self.edit(edit);
        }
    }

    fn cancel(&self, event: PointerEvent) {
        self.pointers
            .update_value(|p| _ = p.remove(&event.pointer_id()));
        self.gesture.set(None);
    }

    fn click(&self, event: MouseEvent) {
        let ended = self.gesture_ended.get_value();
        self.gesture_ended.set_value(None);
        if ended.is_some_and(|ended| now_ms() - ended < CLICK_AFTER_GESTURE_MS) {
            return;
        }
        if let Some(cell) = clicked_cell(&event, self.page.app) {
            self.edit(ChipEdit::Toggle(cell));
        }
    }

    /// Applies a click's or a stroke's edit, unless a choice about autosaved labels is awaited.
    fn edit(&self, edit: ChipEdit) {
        let page = self.page;
        if page.awaiting_choice() {
            return page.labels.notice.set(Some(
                "Restore the autosaved labels or start afresh (above) before labelling.".into(),
            ));
        }
        let classify = !page.sessions.labelling.get_untracked();
        page.labels.label(page.app, page.embedding, edit, classify);
    }

    /// +, − zoom about the centre, F fits the image, the arrows pan when zoomed.
    fn listen_to_keys(&self) {
        let input = *self;
        let handle = window_event_listener(leptos::ev::keydown, move |event| {
            if typing_in_a_field(&event)
                || event.ctrl_key()
                || event.meta_key()
                || input.page.app.loaded.with_untracked(Option::is_none)
            {
                return;
            }
            let zoomed = input.transform.get_untracked().zoom > 1.0;
            let change: Option<fn(Transform) -> Transform> = match event.key().as_str() {
                "+" | "=" => Some(|t| t.zoom_at(2.0, (0.5, 0.5))),
                "-" | "_" => Some(|t| t.zoom_at(0.5, (0.5, 0.5))),
                "f" | "F" => Some(|_| Transform::FIT),
                "ArrowLeft" if zoomed => Some(|t| t.pan_by((0.1, 0.0))),
                "ArrowRight" if zoomed => Some(|t| t.pan_by((-0.1, 0.0))),
                "ArrowUp" if zoomed => Some(|t| t.pan_by((0.0, 0.1))),
                "ArrowDown" if zoomed => Some(|t| t.pan_by((0.0, -0.1))),
                _ => None,
            };
            if let Some(change) = change {
                event.prevent_default();
                input.transform.update(|t| *t = change(*t));
            }
        });
        on_cleanup(move || handle.remove());
    }
}

/// The chips of the stroke or rectangle under way, outlined in the active class's colour (grey
/// when erasing).
fn stroke_marks(input: GridInput, labels: LabelState, chip_size: usize) -> impl IntoView {
    let (cells, erase) = input.gesture.get().and_then(|g| g.chips())?;
    let colour = match erase {
        true => "#999".to_string(),
        false => labels.history.with(|h| {
            let classes = &h.current().classes;
            classes
                .get(labels.active.get())
                .map_or("#fff".into(), |c| c.colour.to_string())
        }),
    };
    Some(
        cells
            .into_iter()
            .map(|[row, col]| {
                view! {
                    <rect class="stroke" data-testid="stroke-mark" stroke=colour.clone()
                        x=col * chip_size y=row * chip_size width=chip_size height=chip_size/>
                }
            })
            .collect_view(),
    )
}

/// The grid cell under a click or pointer, if it is inside the chips.
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

/// A layer drawn over the image: its pixels across and down, the fractions of the image's
/// width and height they span, and their RGBA.
type Layer = ((u32, u32), (f64, f64), Vec<u8>);

/// The open clusters of the proposal on screen in their colours, one pixel per chip, while
/// nothing is classified yet.
fn proposal_layer(labels: LabelState, grid: &ChipGrid) -> Option<Layer> {
    let assignments = labels.guide.proposal.with(|shown| {
        let shown = shown.as_ref()?;
        (shown.chip_size == grid.chip_size()).then(|| shown.assignments())
    })?;
    let rgba = assignments
        .iter()
        .flat_map(|cluster| match cluster {
            Some(c) => {
                let [r, g, b] = palette_colour(*c).0;
                [r, g, b, 255]
            }
            None => [0, 0, 0, 0],
        })
        .collect();
    let (width, height) = grid.image_size();
    let (span_w, span_h) = grid.covered_size();
    let extent = (span_w as f64 / width as f64, span_h as f64 / height as f64);
    Some(((grid.cols() as u32, grid.rows() as u32), extent, rgba))
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
                        <rect class="support" data-testid="support-mark" data-cell=format!("{row},{col}")
                            x=col * chip_size y=row * chip_size width=chip_size height=chip_size
                            stroke=class.colour.to_string()/>
                    }
                })
            })
            .collect_view()
    })
}

/// A dotted outline with its rank around each suggested chip, and a bold one around the chip
/// in focus (a suggestion N led to, or a flagged support).
fn suggested_marks(labels: LabelState, chip_size: usize) -> impl IntoView {
    let guide = labels.guide;
    let suggested = guide
        .suggestions
        .get()
        .into_iter()
        .enumerate()
        .map(|(rank, ([row, col], suggestion))| {
            let (x, y) = (col * chip_size, row * chip_size);
            view! {
                <g data-testid="suggested-mark" data-cell=format!("{row},{col}")>
                    <title>{format!("suggestion {}: {}", rank + 1, suggestion.reason.describe())}</title>
                    <rect class="suggested" x=x y=y width=chip_size height=chip_size/>
                    <text class="suggested-rank" x=x + chip_size / 2 y=y + chip_size / 2
                        font-size=chip_size / 2 stroke-width=chip_size.div_ceil(16)>{rank + 1}</text>
                </g>
            }
        })
        .collect_view();
    let focus = guide.focus.get().map(|[row, col]| {
        view! {
            <rect class="focus" data-testid="focus-mark" data-cell=format!("{row},{col}")
                x=col * chip_size y=row * chip_size width=chip_size height=chip_size/>
        }
    });
    (suggested, focus)
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
        let grid = state.grid()?;
        let Some(segmentation) = labels.segmentation.get() else {
            return proposal_layer(labels, &grid);
        };
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
