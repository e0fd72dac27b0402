//! Results: how the overlay is shown (classes or confidence, opacity, unassigned threshold),
//! chips and areas per class with the bar chart, the exports, and session import/export.

use std::sync::Arc;

use crate::app::AppState;
use crate::components::guidance::SupportCheck;
use crate::components::import::picked_files;
use crate::download;
use crate::guidance::support_quality;
use crate::labelling::LabelState;
use crate::links::{copy_link, link_to};
use crate::page::{Page, SessionState};
use crate::session_io::import_session_file;
use chipscope_core::classify::Segmentation;
use chipscope_core::exports::{Backdrop, ExportFile, FineResults, Results};
use chipscope_core::fine::FineLabels;
use chipscope_core::report::ClassReport;
use chipscope_core::results::Summary;
use chipscope_core::session::ViewMode;
use chipscope_core::share::LinkKind;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

/// The results panel.
#[component]
pub fn ResultsPanel() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    view! {
        <section class="panel" data-testid="results-panel" class:hidden=move || app.loaded.with(Option::is_none)>
            <h2>"Results"</h2>
            <ViewControls/>
            <Shares/>
            <ClassReportTable/>
            <SupportCheck/>
            <Exports/>
            <SessionControls/>
            {move || labels.segmentation.with(Option::is_none).then(|| view! {
                <p class="hint">"Results appear once every class has a support and the chips are embedded."</p>
            })}
        </section>
    }
}

/// Overlay content, opacity and the unassigned threshold.
#[component]
fn ViewControls() -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let top = move || {
        labels
            .segmentation
            .with(|s| s.as_ref().map_or(1.0, |s| s.max_nearest_distance()))
    };
    view! {
        <label class="row">
            "overlay"
            <select data-testid="view-mode"
                prop:value=move || match labels.mode.get() {
                    ViewMode::Classes => "classes",
                    ViewMode::Confidence => "confidence",
                    ViewMode::Fine => "fine",
                }
                on:change=move |event| labels.mode.set(match event_target_value(&event).as_str() {
                    "confidence" => ViewMode::Confidence,
                    "fine" => ViewMode::Fine,
                    _ => ViewMode::Classes,
                })>
                <option value="classes">"classes"</option>
                <option value="fine">"classes, fine (dense cells)"</option>
                <option value="confidence">"confidence (margin)"</option>
            </select>
            <input type="range" min=0 max=1 step=0.05 data-testid="opacity" title="opacity"
                prop:value=move || labels.opacity.get().to_string()
                on:input=move |event| labels.opacity.set(event_target_value(&event).parse().unwrap_or(0.45))/>
        </label>
        <label class="row">
            <input type="checkbox" data-testid="unassigned-toggle"
                prop:checked=move || labels.unassigned_beyond.get().is_some()
                on:change=move |event| labels.unassigned_beyond.set(event_target_checked(&event).then(top))/>
            "leave chips farther than"
            <input type="range" min=0 step="any" data-testid="unassigned-distance"
                prop:max=move || top().to_string()
                disabled=move || labels.unassigned_beyond.get().is_none()
                prop:value=move || labels.unassigned_beyond.get().unwrap_or_else(top).to_string()
                on:input=move |event| labels.unassigned_beyond.set(event_target_value(&event).parse().ok())/>
            <output>{move || labels.unassigned_beyond.get().map(|d| format!("{d:.2}"))}</output>
        </label>
        <p class="hint">"Confidence is the relative margin (d₂ − d₁) / d₂ between the nearest and second-nearest prototype: 0 on a tie, 1 on a prototype. Unassigned chips are those farther than the threshold from every prototype."</p>
    }
}

/// The current segmentation: every chip's distances and class, the dense cells' labels and
/// classes when the chips were pooled from a map, and the summary of them.
struct Current {
    segmentation: Arc<Segmentation>,
    assignments: Vec<Option<usize>>,
    fine: Option<(Arc<FineLabels>, Vec<Option<usize>>)>,
    summary: Summary,
}

/// The current segmentation, if every class has a support and the chips are measured.
fn current_results(app: AppState, labels: LabelState) -> Option<Current> {
    let segmentation = labels.segmentation.get()?;
    let assignments = labels.assignments()?;
    let fine = labels.fine_assignments();
    let grid = app.grid()?;
    let calibration = app
        .loaded
        .with(|l| l.as_ref().and_then(|l| l.dataset.calibration.clone()));
    let summary = labels.history.with(|h| {
        let classes = &h.current().classes;
        let mut summary = Summary::new(
            classes,
            &assignments,
            grid.chip_size(),
            calibration.as_ref(),
        );
        summary.fine = fine.as_ref().map(|(cells, assignments)| {
            cells.summary(classes, assignments, &grid, calibration.as_ref())
        });
        let names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
        let quality = support_quality(&segmentation, h.current(), grid.cols());
        summary.supports = quality.map(|quality| quality.report(&names, grid.cols()));
        summary
    });
    Some(Current {
        segmentation,
        assignments,
        fine,
        summary,
    })
}

/// Chips, fractions and areas per class, as a table and as the bar chart.
#[component]
fn Shares() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    move || {
        current_results(app, labels).map(|Current { summary, .. }| {
            let fine = summary.fine.as_ref().map(|fine| {
                let rows = fine
                    .shares
                    .iter()
                    .filter(|share| share.fraction > 0.0)
                    .map(|share| {
                        view! {
                            <tr data-testid="fine-share-row" data-class=share.name.clone() data-fraction=share.fraction>
                                <td>{share.name.clone()}</td>
                                <td>{format!("{:.1} %", share.fraction * 100.0)}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <p class="hint">{format!("At the dense map's resolution (a cell every {} px):", fine.cell_px)}</p>
                    <table class="shares" data-testid="fine-shares">{rows}</table>
                }
            });
            let rows = summary
                .rows()
                .map(|share| {
                    view! {
                        <tr data-testid="share-row" data-class=share.name.clone() data-chips=share.chips>
                            <td><span class="swatch" style=format!("background: {}", share.colour)></span>{share.name.clone()}</td>
                            <td>{summary.describe(share)}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <table class="shares" data-testid="shares">{rows}</table>
                {fine}
                <div class="chart" data-testid="chart" inner_html=summary.chart_svg()></div>
            }
        })
    }
}

/// Each class's shares with what the spectra and atoms say about it (see [`ClassReport`]),
/// where the page has a spectrum image or atom columns for the chips on screen.
fn class_report(page: Page) -> Option<ClassReport> {
    let Current {
        summary,
        assignments,
        ..
    } = current_results(page.app, page.labels)?;
    let mut report = ClassReport::new(&summary, &assignments);
    if let Some(Ok(chips)) = page.spectra.chips.get() {
        report = page
            .spectra
            .elements
            .with(|elements| report.with_spectra(&chips, elements));
    }
    if let Some(atoms) = page.atoms.grid.get() {
        let calibration = page
            .app
            .loaded
            .with(|l| l.as_ref().and_then(|l| l.dataset.calibration.clone()));
        report = report.with_atoms(&atoms.chips, calibration.as_ref());
    }
    Some(report)
}

/// The report per class as a table, when spectra or atoms add columns to the shares.
#[component]
fn ClassReportTable() -> impl IntoView {
    let page = Page::from_context();
    move || {
        let report = class_report(page)?;
        let richer =
            !report.lines().is_empty() || report.rows().iter().any(|r| r.spacing_px.is_some());
        richer.then(|| {
            let header = report.header().into_iter().map(|name| view! { <th>{name}</th> }).collect_view();
            let rows = report
                .table()
                .into_iter()
                .map(|cells| {
                    let cells = cells.into_iter().map(|cell| view! { <td>{cell}</td> });
                    view! { <tr data-testid="report-row">{cells.collect_view()}</tr> }
                })
                .collect_view();
            view! {
                <p class="hint">"Per class: the marked elements' line counts in the class's mean chip spectrum, and its mean column spacing."</p>
                <div class="table-scroll"><table class="confusion" data-testid="class-report"><tr>{header}</tr>{rows}</table></div>
            }
        })
    }
}

/// Download buttons for every export.
#[component]
fn Exports() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let export = move |kind: Export| {
        let (Some(current), Some(grid), Some(loaded), Some(range)) = (
            current_results(app, labels),
            app.grid(),
            app.loaded.get_untracked(),
            app.display_range.get_untracked(),
        ) else {
            return;
        };
        let classes = labels
            .history
            .with_untracked(|h| h.current().classes.clone());
        let Current {
            segmentation,
            assignments,
            fine,
            summary,
        } = current;
        let results = Results {
            grid: &grid,
            classes: &classes,
            segmentation: &segmentation,
            assignments: &assignments,
            fine: fine.as_ref().map(|(labels, assignments)| FineResults {
                labels,
                assignments,
            }),
        };
        let stem = loaded.stem();
        let saved = match kind {
            Export::File(file) => {
                let backdrop = Backdrop {
                    image: &loaded.dataset.image,
                    range,
                    opacity: labels.opacity.get_untracked(),
                };
                let bytes = results.export(file, &summary, backdrop);
                download::save(&file.file_name(&stem), file.media_type(), &bytes)
            }
            Export::ChartPng => {
                let (name, svg) = (format!("{stem}-chart.png"), summary.chart_svg());
                spawn_local(async move {
                    if let Err(error) = download::save_svg_as_png(&name, &svg).await {
                        app.error.set(Some(error));
                    }
                });
                Ok(())
            }
        };
        if let Err(error) = saved {
            app.error.set(Some(error));
        }
    };
    let disabled = move || labels.segmentation.with(Option::is_none);
    let page = Page::from_context();
    let save_report = move || {
        let Some(report) = untrack(|| class_report(page)) else {
            return;
        };
        let stem = app.loaded.with_untracked(|l| l.as_ref().map(|l| l.stem()));
        let name = format!("{}-report.csv", stem.unwrap_or_default());
        if let Err(error) = download::save(&name, "text/csv", report.to_csv().as_bytes()) {
            app.error.set(Some(error));
        }
    };
    let button = move |kind: Export, label: &'static str, testid: &'static str| {
        view! { <button class="button secondary small" data-testid=testid disabled=disabled on:click=move |_| export(kind)>{label}</button> }
    };
    view! {
        <div class="row wrap">
            {button(Export::File(ExportFile::Overlay), "Overlay PNG", "export-overlay")}
            {button(Export::File(ExportFile::ChartSvg), "Chart SVG", "export-chart-svg")}
            {button(Export::ChartPng, "Chart PNG", "export-chart-png")}
            {button(Export::File(ExportFile::Csv), "CSV", "export-csv")}
            {button(Export::File(ExportFile::LabelImage), "Label image", "export-labels")}
            {button(Export::File(ExportFile::Summary), "Summary JSON", "export-summary")}
            <button class="button secondary small" data-testid="export-report" disabled=disabled
                title="Each class's shares, line counts and column spacing"
                on:click=move |_| save_report()>"Report CSV"</button>
            <button class="button secondary small" data-testid="export-fine-labels"
                disabled=move || labels.fine.with(Option::is_none)
                title="The class of every pixel at the dense map's cell resolution"
                on:click=move |_| export(Export::File(ExportFile::FineLabelImage))>
                "Fine label image"
            </button>
        </div>
    }
}

#[derive(Clone, Copy)]
enum Export {
    /// A result file, as `chipscope segment` writes it.
    File(ExportFile),
    /// The chart as a PNG, drawn by the browser from the SVG.
    ChartPng,
}

/// Session file export and import, and the session as a link.
#[component]
fn SessionControls() -> impl IntoView {
    let page = Page::from_context();
    let app = page.app;
    let save = move |_| {
        let outcome = page.session().and_then(|session| {
            let stem = app
                .loaded
                .with_untracked(|l| l.as_ref().map(|l| l.stem()))
                .unwrap_or_default();
            download::save(
                &format!("{stem}-session.json"),
                "application/json",
                session.to_json().as_bytes(),
            )
        });
        if let Err(error) = outcome {
            app.error.set(Some(error));
        }
    };
    let copy = move |_| match page.session() {
        Ok(session) => copy_link(
            page,
            LinkKind::Session,
            link_to(&session, LinkKind::Session),
        ),
        Err(error) => app.error.set(Some(error)),
    };
    let on_pick = move |event: leptos::ev::Event| {
        if let Some(file) = picked_files(&event).into_iter().next() {
            import_session_file(page, file);
        }
    };
    view! {
        <div class="row wrap">
            <button class="button small" data-testid="export-session" on:click=save>"Save session"</button>
            <button class="button small" data-testid="copy-link" on:click=copy>"Copy link"</button>
            <label class="button secondary small">
                "Open session…"
                <input type="file" accept=".json" data-testid="session-input" on:change=on_pick/>
            </label>
        </div>
        <LinkField kind=LinkKind::Session/>
    }
}

/// The latest link, when it opens a `kind`: selectable, with its length.
#[component]
pub fn LinkField(kind: LinkKind) -> impl IntoView {
    let sessions = expect_context::<SessionState>();
    move || {
        let link = sessions.link.get().filter(|(made, _)| *made == kind);
        link.map(|(_, link)| {
            let length = format!("{} characters", link.len());
            view! {
                <div class="link-field">
                    <input type="text" readonly data-testid="share-link" prop:value=link
                        on:focus=move |event| {
                            let input: HtmlInputElement = event.target().expect("focus target").unchecked_into();
                            input.select();
                        }/>
                    <span class="hint" data-testid="share-link-length">{length}</span>
                </div>
            }
        })
    }
}
