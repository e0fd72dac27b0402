//! The focused labelling view's panel: the task, the labeller's name, progress, and the answer
//! returned as a link or a small file.

use crate::components::results_panel::LinkField;
use crate::download;
use crate::links::{copy_link, link_to};
use crate::page::Page;
use chipscope_core::session::Session;
use chipscope_core::share::LinkKind;
use leptos::prelude::*;

/// The task a labeller works on.
#[component]
pub fn TaskPanel() -> impl IntoView {
    let page = Page::from_context();
    let task = move || page.sessions.task.get();
    let title = move || task().map(|t| t.title).unwrap_or_default();
    let instructions = move || task().map(|t| t.instructions).unwrap_or_default();
    let name = move || task().and_then(|t| t.labeller).unwrap_or_default();
    let set_name = move |text: String| {
        let text = text.trim().chars().take(100).collect::<String>();
        if !text.is_empty() {
            page.app.error.set(None); // the "enter your name" message is answered
        }
        page.sessions.task.update(|task| {
            if let Some(task) = task {
                task.labeller = (!text.is_empty()).then_some(text);
            }
        });
    };
    let copy = move |_| match answer(page) {
        Ok(session) => copy_link(
            page,
            LinkKind::Session,
            link_to(&session, LinkKind::Session),
        ),
        Err(error) => page.app.error.set(Some(error)),
    };
    let save = move |_| {
        let saved = answer(page).and_then(|session| {
            download::save(
                &answer_file_name(&session),
                "application/json",
                session.to_json().as_bytes(),
            )
        });
        if let Err(error) = saved {
            page.app.error.set(Some(error));
        }
    };
    view! {
        <section class="panel" data-testid="task-panel">
            <h2 data-testid="task-title">{title}</h2>
            <p class="instructions" data-testid="task-instructions">{instructions}</p>
            <label class="row">
                "Your name "
                <input type="text" data-testid="labeller-name" maxlength="100" prop:value=name
                    on:change=move |event| set_name(event_target_value(&event))/>
            </label>
            <p class="hint" data-testid="task-progress">{move || progress(page)}</p>
            <div class="row wrap">
                <button class="button small" data-testid="answer-link" on:click=copy>"Copy answer link"</button>
                <button class="button secondary small" data-testid="answer-file" on:click=save>"Download answer file"</button>
            </div>
            <LinkField kind=LinkKind::Session/>
            <p class="hint">"Pick a class (or press 1–9), click the chips that show it, then send the link or the file back to whoever gave you the task. Your labels are autosaved in this browser."</p>
        </section>
    }
}

/// "7 of 20 asked chips labelled (9 in all)".
fn progress(page: Page) -> String {
    let labels = page.labels.labels();
    let labelled = labels.support_count();
    let asked = page.sessions.task.with(|task| {
        task.as_ref()
            .map(|task| task.chips.clone())
            .unwrap_or_default()
    });
    if asked.is_empty() {
        return format!("{labelled} chips labelled");
    }
    let done = asked
        .iter()
        .filter(|cell| labels.class_of(**cell).is_some())
        .count();
    format!(
        "{done} of {} asked chips labelled ({labelled} in all)",
        asked.len()
    )
}

/// The labeller's answer: the session on screen with their name.
fn answer(page: Page) -> Result<Session, String> {
    let session = page.session()?;
    match session
        .task
        .as_ref()
        .and_then(|task| task.labeller.as_ref())
    {
        Some(_) => Ok(session),
        None => Err("Enter your name first, so your answer can be told from the others.".into()),
    }
}

/// "phases-Ada.json" (made safe by [`download::save`]).
fn answer_file_name(session: &Session) -> String {
    let task = session.task.as_ref().expect("answers have a task");
    let labeller = task.labeller.as_deref().unwrap_or_default();
    format!("{}-{labeller}.json", task.title)
}
