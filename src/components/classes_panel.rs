//! Classes: add, rename, recolour, delete; pick the active class; each class's support chips
//! as thumbnails with the method's 2–10 guidance; undo and redo.

use crate::app::AppState;
use crate::components::guidance::{Proposals, Suggestions};
use crate::components::viewer::paint_image;
use crate::embedding::{EmbeddingState, describe_download};
use crate::labelling::LabelState;
use chipscope_core::labels::{Cell, Colour, SupportAdvice};
use leptos::html::Canvas;
use leptos::prelude::*;

/// The support-set panel; `locked` (the labelling view) keeps the task's classes as they are.
#[component]
pub fn ClassesPanel(#[prop(optional)] locked: bool) -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let class_count = move || labels.history.with(|h| h.current().classes.len());
    view! {
        <section class="panel" data-testid="classes-panel" class:hidden=move || app.loaded.with(Option::is_none)>
            <h2>"Classes"</h2>
            {(!locked).then(|| view! { <Proposals/> })}
            <ol class="classes">
                {move || (0..class_count()).map(|index| view! { <ClassRow index locked/> }).collect_view()}
            </ol>
            <div class="row">
                {(!locked).then(|| view! {
                    <button class="button secondary small" data-testid="add-class"
                        on:click=move |_| {
                            labels.edit(|l| { l.add_class(); });
                            labels.active.set(class_count() - 1);
                        }>"+ Add class"</button>
                })}
                <button class="button secondary small" data-testid="undo"
                    disabled=move || !labels.history.with(|h| h.can_undo())
                    on:click=move |_| labels.undo()>"Undo"</button>
                <button class="button secondary small" data-testid="redo"
                    disabled=move || !labels.history.with(|h| h.can_redo())
                    on:click=move |_| labels.redo()>"Redo"</button>
            </div>
            <GridMismatch/>
            {move || labels.notice.get().map(|notice| view! { <p class="hint" data-testid="labels-notice">{notice}</p> })}
            <p class="hint">"Click chips on the image to add them to the active class, click again to remove. Keys: 1–9 pick a class, Ctrl+Z undo, Ctrl+Shift+Z redo, N next suggestion, X skip it."</p>
            {(!locked).then(|| view! { <ClassificationStatus/> <EmbeddingUnderWay/> <Suggestions/> })}
        </section>
    }
}

/// One class: active marker, colour, name, support count and thumbnails, delete (colour, name
/// and delete only when not `locked`).
#[component]
fn ClassRow(index: usize, locked: bool) -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let class = move || {
        labels
            .history
            .with(|h| h.current().classes.get(index).cloned())
    };
    let advice = move || {
        labels
            .history
            .with(|h| (index < h.current().classes.len()).then(|| h.current().advice(index)))
    };
    let recolour = move |text: String| {
        if let Some(colour) = Colour::parse(&text) {
            labels.edit(|l| l.classes[index].colour = colour);
        }
    };
    let rename = move |text: String| {
        let name = text.trim().to_string();
        if !name.is_empty() {
            labels.edit(|l| l.classes[index].name = name);
        }
    };
    move || {
        class().map(|class| {
            let supports = class.supports.clone();
            view! {
                <li class="class-row" class:active=move || labels.active.get() == index
                    data-testid="class-row" on:click=move |_| labels.active.set(index)>
                    <div class="row">
                        <span class="key">{(index < 10).then(|| (index + 1) % 10)}</span>
                        <input type="color" data-testid="class-colour" prop:value=class.colour.to_string()
                            disabled=locked on:change=move |event| recolour(event_target_value(&event))/>
                        <input type="text" class="class-name" data-testid="class-name" prop:value=class.name.clone()
                            readonly=locked on:change=move |event| rename(event_target_value(&event))/>
                        <span class="count" data-testid="support-count"
                            title="supports on this image (+ on the project's other images)">
                            {counted(supports.len(), class.elsewhere.len())}
                        </span>
                        {(!locked).then(|| view! {
                            <button class="icon" title="delete class" data-testid="delete-class"
                                on:click=move |event| {
                                    event.stop_propagation();
                                    labels.edit(|l| { l.classes.remove(index); });
                                }>"×"</button>
                        })}
                    </div>
                    <div class="thumbnails">
                        {supports.into_iter().map(|cell| view! { <SupportThumbnail cell/> }).collect_view()}
                    </div>
                    {move || advice().and_then(SupportAdvice::note).map(|note| view! {
                        <p class="warning" data-testid="support-advice">{note}</p>
                    })}
                </li>
            }
        })
    }
}

/// A support chip's pixels in the current display range; a click removes it.
#[component]
fn SupportThumbnail(cell: Cell) -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let (Some(canvas), Some(loaded), Some(range)) =
            (canvas.get(), app.loaded.get(), app.display_range.get())
        else {
            return;
        };
        let size = labels.history.with(|h| h.current().chip_size);
        let [row, col] = cell;
        let image = &loaded.dataset.image;
        if (col + 1) * size > image.width() || (row + 1) * size > image.height() {
            return;
        }
        let chip = image.crop(col * size, row * size, size, size);
        paint_image(&canvas, &chip, range).ok();
    });
    view! {
        <canvas node_ref=canvas class="thumbnail" title=format!("chip [{}, {}] — click to remove", cell[0], cell[1])
            on:click=move |event| {
                event.stop_propagation();
                labels.edit(|l| {
                    if let Some(class) = l.class_of(cell) {
                        l.toggle(cell, class);
                    }
                });
            }/>
    }
}

/// Shown when the supports were placed on another chip size than the grid on screen.
#[component]
fn GridMismatch() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    move || {
        let (size, supports) = labels
            .history
            .with(|h| (h.current().chip_size, h.current().support_count()));
        (supports > 0 && size != app.chip_size.get()).then(|| {
            view! {
                <p class="warning" data-testid="grid-mismatch">
                    {format!("The {supports} supports were placed on the {size}-px grid. ")}
                    <button class="button secondary small" on:click=move |_| app.chip_size.set(size)>
                        {format!("Back to {size} px")}
                    </button>
                </p>
            }
        })
    }
}

/// What the classification is waiting for, or how long it took.
#[component]
fn ClassificationStatus() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let embedding = expect_context::<EmbeddingState>();
    move || {
        let text = if let Some(segmentation) = labels.segmentation.get() {
            format!(
                "{} chips classified in {:.1} ms",
                segmentation.chip_count(),
                labels.classify_ms.get().unwrap_or_default()
            )
        } else if !labels.history.with(|h| h.current().is_ready()) {
            "Give every class at least one support to classify the chips.".to_string()
        } else if embedding.running.get() {
            "Embedding the chips; the segmentation appears when they are done.".to_string()
        } else if app.grid().is_some() {
            "Embed the chips (Embeddings panel) to classify them.".to_string()
        } else {
            String::new()
        };
        view! { <p class="hint" data-testid="classify-status">{text}</p> }
    }
}

/// The embedding under way, where the eye is while labelling: the weights' download, the chips
/// (or windows) done with the time left, and Cancel.
#[component]
fn EmbeddingUnderWay() -> impl IntoView {
    let embedding = expect_context::<EmbeddingState>();
    move || {
        embedding.running.get().then(|| {
            let download = embedding.download.get().map(describe_download);
            let progress = embedding.progress.get().map(|p| {
                let left = (p.total - p.done.min(p.total)) as f64 / p.per_second.max(1e-9);
                let left = match p.per_second > 0.0 {
                    true => format!(" · about {} left", duration(left)),
                    false => String::new(),
                };
                (p.done, p.total, format!("{}/{} {}{left}", p.done, p.total, p.unit))
            });
            view! {
                <div class="row progress" data-testid="labelling-progress">
                    {progress.as_ref().map(|(done, total, _)| view! {
                        <progress max=total.to_string() value=done.to_string()></progress>
                    })}
                    <span class="hint" data-testid="labelling-progress-text">
                        {progress.map(|(_, _, text)| text).or(download).unwrap_or_else(|| "embedding the chips…".into())}
                    </span>
                    <button class="button secondary small" data-testid="labelling-cancel"
                        on:click=move |_| embedding.cancel()>"Cancel"</button>
                </div>
            }
        })
    }
}

/// Seconds as "12 s" or "3 min".
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{:.0} s", s.max(1.0)),
        s => format!("{:.0} min", s / 60.0),
    }
}

/// "3", or "3 + 2" with supports on the project's other images.
fn counted(here: usize, elsewhere: usize) -> String {
    match elsewhere {
        0 => here.to_string(),
        _ => format!("{here} + {elsewhere}"),
    }
}
