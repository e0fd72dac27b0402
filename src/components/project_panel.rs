//! A project of several images: the strip of thumbnails under the image (click one to label
//! it; add files or a folder), and the panel that segments every image with the shared
//! prototypes, with each image's class fractions, the pooled row and the project report CSV.

use std::sync::Arc;

use chipscope_core::display::thumbnail_rgba;
use chipscope_core::formats::{accepted_extensions, is_image_name};
use chipscope_core::report::ProjectReport;
use chipscope_core::session::DataSource;
use leptos::html::Canvas;
use leptos::prelude::*;

use crate::app::Loaded;
use crate::components::import::picked_files;
use crate::components::viewer::paint;
use crate::download;
use crate::live;
use crate::page::Page;
use crate::project_run;

/// Thumbnails' longer side, pixels.
const THUMBNAIL_PX: usize = 96;

/// The project's images as thumbnails, the one on screen marked, with buttons to add more.
#[component]
pub fn ProjectStrip() -> impl IntoView {
    let page = Page::from_context();
    let project = page.project;
    let on_screen = move || page.app.loaded.with(|l| l.as_ref().map(|l| l.id));
    let add = move |event: leptos::ev::Event| {
        let files = picked_files(&event);
        project_run::add_files(page, files);
    };
    let add_folder = move |event: leptos::ev::Event| {
        let files = picked_files(&event)
            .into_iter()
            .filter(|file| is_image_name(&file.name()))
            .collect();
        project_run::add_files(page, files);
    };
    view! {
        <Show when=move || page.app.loaded.with(Option::is_some)>
            <div class="project-strip" data-testid="project-strip">
                <For each=move || project.images.get() key=|image| image.id let:image>
                    <ProjectThumbnail image=image.clone() current=Signal::derive(move || on_screen() == Some(image.id))/>
                </For>
                {move || project.missing.get().into_iter().map(|source| view! {
                    <figure class="thumb missing" data-testid="project-missing"
                        title="Add this file to use its supports">
                        <div class="thumb-missing">"?"</div>
                        <figcaption>{missing_name(&source)}</figcaption>
                    </figure>
                }).collect_view()}
                <div class="project-add">
                    <label class="button secondary small" title="Images of the same sample, labelled and classified together">
                        "Add images…"
                        <input type="file" multiple accept=accepted_extensions() data-testid="project-add" on:change=add/>
                    </label>
                    <label class="button secondary small" title="Every image of a folder">
                        "Add folder…"
                        <input type="file" prop:webkitdirectory=true data-testid="project-add-folder" on:change=add_folder/>
                    </label>
                    <WatchButton/>
                </div>
            </div>
            {move || project.status.get().map(|status| view! { <p class="hint" data-testid="project-status">{status}</p> })}
            {move || project.error.get().map(|error| view! { <p class="error" data-testid="project-error">{error}</p> })}
        </Show>
    }
}

/// *Watch folder…* where the browser can watch one, or *Stop watching*; elsewhere a note.
#[component]
fn WatchButton() -> impl IntoView {
    let page = Page::from_context();
    let live = page.live;
    let ready = move || page.labels.segmentation.with(Option::is_some);
    move || {
        match (live::supported(), live.folder.get()) {
        (false, _) => view! {
            <span class="hint" data-testid="watch-unsupported">"Watching a folder needs Chrome, Edge or another Chromium browser."</span>
        }.into_any(),
        (true, None) => view! {
            <button class="button secondary small" data-testid="watch-folder" disabled=move || !ready()
                title="Classify every image in a folder, and each new one as the microscope writes it (label every class first)"
                on:click=move |_| live::watch(page)>"Watch folder…"</button>
        }.into_any(),
        (true, Some(_)) => view! {
            <button class="button secondary small" data-testid="stop-watching"
                on:click=move |_| live.stop()>"Stop watching"</button>
        }.into_any(),
    }
    }
}

/// The watched folder's files over time: the fractions chart, the table as CSV.
#[component]
pub fn LivePanel() -> impl IntoView {
    let page = Page::from_context();
    let live = page.live;
    let shown = move || live.folder.with(Option::is_some) || live.table.with(Option::is_some);
    let save = move |_| {
        let Some(csv) = live
            .table
            .with_untracked(|t| t.as_ref().map(|t| t.to_csv()))
        else {
            return;
        };
        if let Err(error) = download::save("live-fractions.csv", "text/csv", csv.as_bytes()) {
            live.error.set(Some(error));
        }
    };
    view! {
        <Show when=shown>
            <section class="panel" data-testid="live-panel">
                <h2>"Watched folder"</h2>
                <p data-testid="live-status">{move || match live.folder.get() {
                    Some(folder) => format!("Watching {folder}: {} files taken.", live.taken.get()),
                    None => format!("Stopped: {} files taken.", live.taken.get()),
                }}</p>
                <p class="hint">"Every image in the folder, and each one written there later, is added to the project and classified with its supports."</p>
                {move || live.error.get().map(|error| view! { <p class="error" data-testid="live-error">{error}</p> })}
                {move || live.table.with(|table| table.as_ref().map(|table| view! {
                    <div class="chart" data-testid="live-chart" inner_html=table.chart_svg()></div>
                }))}
                <button class="button secondary small" data-testid="export-live-csv"
                    disabled=move || live.table.with(Option::is_none) on:click=save>"Fractions CSV"</button>
            </section>
        </Show>
    }
}

/// One image of the project: its thumbnail, name and supports; a click shows it.
#[component]
fn ProjectThumbnail(image: Arc<Loaded>, current: Signal<bool>) -> impl IntoView {
    let page = Page::from_context();
    let canvas = NodeRef::<Canvas>::new();
    let (id, identity) = (image.id, image.source.identity());
    let thumbnail = image.clone();
    Effect::new(move |_| {
        let (Some(canvas), Some(range)) = (canvas.get(), page.project.range_of(id)) else {
            return;
        };
        let (width, height, rgba) = thumbnail_rgba(&thumbnail.dataset.image, range, THUMBNAIL_PX);
        let _ = paint(&canvas, width as u32, height as u32, &rgba);
    });
    let supports = move || {
        page.labels.history.with(|history| {
            let labels = history.current();
            match current.get() {
                true => labels.support_count(),
                false => labels
                    .classes
                    .iter()
                    .flat_map(|class| &class.elsewhere)
                    .filter(|support| support.image == identity)
                    .count(),
            }
        })
    };
    let first = move || {
        page.project
            .images
            .with(|images| images.first().map(|i| i.id))
            == Some(id)
    };
    let name = image.name.clone();
    view! {
        <figure class="thumb" class:current=move || current.get() data-testid="project-image"
            data-name=name.clone() on:click=move |_| project_run::switch(page, id)>
            <canvas node_ref=canvas></canvas>
            <figcaption>
                <span class="thumb-name">{name.clone()}</span>
                <span class="thumb-supports" data-testid="project-image-supports">{move || format!("{} supports", supports())}</span>
            </figcaption>
            {move || (!first() && !current.get()).then(|| view! {
                <button class="thumb-remove" title="Remove from the project" data-testid="project-remove"
                    on:click=move |event| {
                        event.stop_propagation();
                        project_run::remove(page, id);
                    }>"×"</button>
            })}
        </figure>
    }
}

/// A recorded image's file name.
fn missing_name(source: &DataSource) -> String {
    source
        .file_name()
        .map_or_else(|| source.describe(), String::from)
}

/// Every image segmented with the shared prototypes: per image and pooled, with the report CSV.
/// Shown for a project of several images.
#[component]
pub fn ProjectPanel() -> impl IntoView {
    let page = Page::from_context();
    let project = page.project;
    let running = move || {
        project
            .run
            .with(|run| run.as_ref().is_some_and(|r| r.running))
    };
    let report = Memo::new(move |_| project.run.with(|run| run.as_ref()?.report()));
    let save = move |_| {
        let Some(report) = report.get_untracked() else {
            return;
        };
        if let Err(error) =
            download::save("project-report.csv", "text/csv", report.to_csv().as_bytes())
        {
            project.error.set(Some(error));
        }
    };
    view! {
        <Show when=move || { project.size() > 1 }>
            <section class="panel" data-testid="project-panel">
                <h2>"Project"</h2>
                <p class="hint">{move || format!(
                    "{} images of one sample: supports clicked on any of them form one support set, every image is chipped at the first one's pixel size and classified by the image encoder alone. A frame series is segmented in its Frames panel.",
                    project.size()
                )}</p>
                {move || project.waiting.get().map(|message| view! { <p class="hint" data-testid="project-waiting">{message}</p> })}
                <div class="row">
                    {move || match running() {
                        false => view! {
                            <button class="button" data-testid="segment-project"
                                on:click=move |_| project_run::segment_all(page)>"Segment all images"</button>
                        }.into_any(),
                        true => view! {
                            <button class="button secondary" data-testid="stop-project"
                                on:click=move |_| project.stop()>"Stop"</button>
                        }.into_any(),
                    }}
                    <button class="button secondary small" data-testid="export-project-report"
                        disabled=move || report.with(Option::is_none) on:click=save>"Project report CSV"</button>
                </div>
                {move || report.get().map(|report| fractions_table(&report))}
                {move || project.run.with(|run| {
                    let failures = run.as_ref()?.failures.join("; ");
                    (!failures.is_empty()).then(|| view! { <p class="error" data-testid="project-failures">{failures}</p> })
                })}
            </section>
        </Show>
    }
}

/// Each image's class fractions in a row, then every image pooled.
fn fractions_table(report: &ProjectReport) -> impl IntoView + use<> {
    let names: Vec<String> = report
        .pooled
        .rows()
        .iter()
        .map(|row| row.share.name.clone())
        .collect();
    let cells = |rows: &[chipscope_core::report::ClassRow]| -> Vec<String> {
        names
            .iter()
            .map(|name| {
                let row = rows.iter().find(|row| &row.share.name == name);
                row.map_or("0.0 %".into(), |row| {
                    format!("{:.1} %", row.share.fraction * 100.0)
                })
            })
            .collect()
    };
    let images: Vec<(String, Vec<String>)> = report
        .images
        .iter()
        .map(|(name, image)| (name.clone(), cells(image.rows())))
        .collect();
    let pooled = cells(report.pooled.rows());
    view! {
        <table class="project-table" data-testid="project-table">
            <thead><tr><th>"Image"</th>{names.iter().map(|name| view! { <th>{name.clone()}</th> }).collect_view()}</tr></thead>
            <tbody>
                {images.into_iter().map(|(name, cells)| view! {
                    <tr data-testid="project-row"><td>{name}</td>{cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                }).collect_view()}
                <tr class="pooled" data-testid="project-pooled"><td>{ProjectReport::ALL}</td>{pooled.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
            </tbody>
        </table>
    }
}
