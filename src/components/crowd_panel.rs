//! Crowd labelling for the coordinator: a labelling task made from the session on screen and
//! shared as a link, and the labellers' answers (files or links) merged into per-chip votes,
//! agreement figures and consensus labels.

use std::sync::Arc;

use crate::components::import::picked_files;
use crate::components::results_panel::LinkField;
use crate::download;
use crate::links::{copy_link, link_to};
use crate::page::Page;
use crate::session_io::{is_session_file, read_session_file};
use chipscope_core::crowd::{self, Answer, Merge, TaskRequest};
use chipscope_core::grid::ChipGrid;
use chipscope_core::session::{DataSource, Session};
use chipscope_core::share::{self, LinkKind};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Task making and answer merging.
#[component]
pub fn CrowdPanel() -> impl IntoView {
    let page = Page::from_context();
    view! {
        <section class="panel" data-testid="crowd-panel" class:hidden=move || page.app.loaded.with(Option::is_none)>
            <h2>"Crowd labelling"</h2>
            <TaskMaker/>
            <MergeAnswers/>
        </section>
    }
}

/// Title, instructions, which chips to ask for, reference chips; makes the task link.
#[component]
fn TaskMaker() -> impl IntoView {
    let page = Page::from_context();
    let title = RwSignal::new("Label the phases".to_string());
    let instructions = RwSignal::new(
        "Pick a class, then click every chip you are sure shows it. Leave chips you are unsure of."
            .to_string(),
    );
    let asked = RwSignal::new(0usize);
    let reference = RwSignal::new(true);
    let create = move |_| {
        let request = TaskRequest {
            title: title.get_untracked(),
            instructions: instructions.get_untracked(),
            asked: asked.get_untracked(),
            reference: reference.get_untracked(),
        };
        let outcome = make_task(page, &request);
        match outcome {
            Ok(link) => copy_link(page, LinkKind::Task, link),
            Err(error) => page.app.error.set(Some(error)),
        }
    };
    let local_file = move || {
        page.app.loaded.with(|l| {
            l.as_ref()
                .is_some_and(|l| matches!(l.source, DataSource::File { .. }))
        })
    };
    view! {
        <h3>"Labelling task"</h3>
        <input type="text" data-testid="task-title-input" maxlength="200" prop:value=move || title.get()
            on:input=move |event| title.set(event_target_value(&event))/>
        <textarea data-testid="task-instructions-input" maxlength="5000" rows="3" prop:value=move || instructions.get()
            on:input=move |event| instructions.set(event_target_value(&event))/>
        <label class="row">
            "Ask for "
            <input type="number" min="0" class="narrow" data-testid="task-asked" prop:value=move || asked.get().to_string()
                on:change=move |event| asked.set(event_target_value(&event).parse().unwrap_or(0))/>
            " random chips (0: labellers choose)"
        </label>
        <label class="row">
            <input type="checkbox" data-testid="task-reference" prop:checked=move || reference.get()
                on:change=move |event| reference.set(event_target_checked(&event))/>
            " my supports are hidden reference chips (they score the labellers)"
        </label>
        {move || local_file().then(|| view! {
            <p class="warning">"The image is a local file: labellers will be asked for their own copy (checked by sha256). Open it from a public URL instead and the task link loads it by itself."</p>
        })}
        <button class="button small" data-testid="create-task" on:click=create>"Create task link"</button>
        <LinkField kind=LinkKind::Task/>
    }
}

/// Makes the task: the coordinator's session keeps it with its reference chips; the returned
/// link carries it as labellers get it (see [`Session::for_labellers`]). Its id and chips are
/// drawn from a seed the browser's random numbers give.
fn make_task(page: Page, request: &TaskRequest) -> Result<String, String> {
    let mut session = page.session()?;
    let loaded = page.app.loaded.get_untracked().ok_or("no image is open")?;
    let image = &loaded.dataset.image;
    let grid = ChipGrid::new(image.width(), image.height(), session.grid.chip_size)
        .map_err(|error| error.to_string())?;
    let task = crowd::make_task(&session, &grid, request, random_seed());
    session.task = Some(task.clone());
    let for_labellers = session.for_labellers();
    Session::parse(&for_labellers.to_json()).map_err(|error| error.to_string())?;
    page.sessions.task.set(Some(task));
    Ok(link_to(&for_labellers, LinkKind::Task))
}

/// 64 random bits from the browser (`Math.random` gives 52 per call).
fn random_seed() -> u64 {
    let half = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    half() << 32 | half()
}

/// Answers in, agreement out; the consensus can become the supports.
#[component]
fn MergeAnswers() -> impl IntoView {
    let page = Page::from_context();
    let answers = RwSignal::new(Vec::<Answer>::new());
    let pasted = RwSignal::new(String::new());
    let min_votes = RwSignal::new(1u32);
    let merged = Memo::new(move |_| {
        page.sessions.task.track();
        answers.with(|answers| {
            (!answers.is_empty()).then(|| {
                let task = page.session().ok().filter(|s| s.task.is_some());
                crowd::merge(answers, task.as_ref())
                    .map(Arc::new)
                    .map_err(|error| error.to_string())
            })
        })
    });
    let on_pick = move |event: leptos::ev::Event| {
        read_answers(page, answers, picked_files(&event));
    };
    let add_links = move |_| {
        let text = pasted.get_untracked();
        for (line, outcome) in text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| (i + 1, share::from_fragment(l)))
        {
            match outcome {
                Some((_, Ok(session))) => answers.update(|a| {
                    a.push(Answer {
                        fallback_name: format!("link {line}"),
                        session,
                    })
                }),
                Some((_, Err(error))) => page
                    .app
                    .error
                    .set(Some(format!("Link on line {line}: {error}."))),
                None => page
                    .app
                    .error
                    .set(Some(format!("Line {line} is not a Chipscope link."))),
            }
        }
        pasted.set(String::new());
    };
    let use_consensus = move |_| {
        if let Some(Ok(merge)) = merged.get_untracked() {
            let consensus = merge.consensus(min_votes.get_untracked());
            let count = consensus.support_count();
            page.labels.edit(|labels| *labels = consensus);
            page.labels.notice.set(Some(format!(
                "{count} consensus chips are now the supports (Undo goes back)."
            )));
        }
    };
    let save_votes = move |_| {
        if let Some(Ok(merge)) = merged.get_untracked()
            && let Err(error) =
                download::save("votes.csv", "text/csv", merge.votes_csv().as_bytes())
        {
            page.app.error.set(Some(error));
        }
    };
    view! {
        <h3>"Merge answers"</h3>
        <div class="row wrap">
            <label class="button secondary small">
                "Open answer files…"
                <input type="file" accept=".json" multiple data-testid="answer-files" on:change=on_pick/>
            </label>
            <button class="button secondary small" data-testid="clear-answers" on:click=move |_| answers.set(Vec::new())>"Clear"</button>
        </div>
        <textarea rows="2" placeholder="or paste answer links, one per line" data-testid="answer-links"
            prop:value=move || pasted.get() on:input=move |event| pasted.set(event_target_value(&event))/>
        <button class="button secondary small" data-testid="add-answer-links" on:click=add_links>"Add links"</button>
        {move || merged.get().map(|outcome| match outcome {
            Ok(merge) => view! {
                <MergeReport merge=merge.clone()/>
                <div class="row wrap">
                    <label class="row">"consensus from "
                        <input type="number" min="1" class="narrow" data-testid="min-votes" prop:value=move || min_votes.get().to_string()
                            on:change=move |event| min_votes.set(event_target_value(&event).parse().unwrap_or(1).max(1))/>
                        " votes"</label>
                    <button class="button small" data-testid="use-consensus" on:click=use_consensus>"Use consensus as supports"</button>
                    <button class="button secondary small" data-testid="export-votes" on:click=save_votes>"Votes CSV"</button>
                </div>
            }.into_any(),
            Err(error) => view! { <p class="error" data-testid="merge-error">{error}</p> }.into_any(),
        })}
    }
}

/// Reads answer files, each checked as a session; a bad one gets a message naming it.
fn read_answers(page: Page, answers: RwSignal<Vec<Answer>>, files: Vec<web_sys::File>) {
    spawn_local(async move {
        for file in files {
            let name = file.name();
            let session = match is_session_file(&name) {
                true => read_session_file(file).await,
                false => Err("not a session file (.json)".into()),
            };
            match session {
                Ok(session) => answers.update(|a| {
                    let fallback_name = name.trim_end_matches(".json").to_string();
                    a.push(Answer {
                        fallback_name,
                        session,
                    })
                }),
                Err(error) => page.app.error.set(Some(format!("{name}: {error}"))),
            }
        }
    });
}

/// Agreement per labeller, Fleiss' kappa overall and per class, votes and consensus counts.
#[component]
fn MergeReport(merge: Arc<Merge>) -> impl IntoView {
    let percent =
        |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{:.0} %", v * 100.0));
    let kappa = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.3}"));
    let rows = merge
        .labellers
        .iter()
        .map(|labeller| {
            let reference = labeller
                .reference
                .map_or("–".to_string(), |(right, total)| {
                    format!("{right} / {total}")
                });
            view! {
                <tr data-testid="labeller-row">
                    <td>{labeller.name.clone()}</td>
                    <td class="number">{labeller.chips}</td>
                    <td class="number">{percent(labeller.agreement())}</td>
                    <td class="number">{reference}</td>
                </tr>
            }
        })
        .collect_view();
    let per_class = merge
        .classes
        .iter()
        .zip(&merge.class_kappa)
        .map(|(class, value)| format!("{} {}", class.name, kappa(*value)))
        .collect::<Vec<_>>()
        .join(", ");
    let multiple = merge.shared_chips();
    let contested = merge.chips.iter().filter(|c| c.majority.is_none()).count();
    view! {
        <table class="shares" data-testid="merge-table">
            <thead><tr><th>"Labeller"</th><th>"Chips"</th><th>"Agrees with the others"</th><th>"Reference"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p data-testid="merge-kappa">{format!("Fleiss' kappa {} over {multiple} chips labelled by two or more; per class: {per_class}.", kappa(merge.kappa))}</p>
        <p class="hint" data-testid="merge-votes">{format!("{} chips have votes; {contested} tied.", merge.chips.len())}</p>
    }
}
