//! What waits for the user before a session can be shown: the data a link or session file was
//! made on, a choice when other data is open, or autosaved labels to restore.

use crate::autosave;
use crate::components::import::picked_files;
use crate::loading::load_files;
use crate::page::{Opening, Page, Pending};
use crate::session_io::{apply_anyway, restore};
use chipscope_core::session::{Autosave, DataSource, Session};
use leptos::prelude::*;

/// The banner over the image, while something is pending.
#[component]
pub fn PendingBanner() -> impl IntoView {
    let page = Page::from_context();
    let dismiss = move |_| page.sessions.pending.set(None);
    move || {
        page.sessions.pending.get().map(|pending| match pending {
            Pending::NeedData(opening) => need_data(page, &opening).into_any(),
            Pending::OtherData { opening, open } => view! {
                <div class="banner warning" data-testid="other-data">
                    <p>{format!(
                        "This session was made on {}, but the open {open} is other data (its sha256 differs). Open the right file, or apply the labels by grid position anyway.",
                        opening.session.source.describe()
                    )}</p>
                    <button class="button small" data-testid="apply-anyway" on:click=move |_| apply_anyway(page)>"Apply anyway"</button>
                    <button class="button secondary small" data-testid="stop-opening" on:click=dismiss>"Stop"</button>
                </div>
            }.into_any(),
            Pending::Autosave(saved) => {
                let text = format!("Autosaved labels of this data from {}: {}.", autosave::when(&saved), contents(&saved.session));
                view! {
                    <div class="banner" data-testid="autosave-offer">
                        <p>{text}</p>
                        <button class="button small" data-testid="restore-autosave" on:click=move |_| restore(page, saved.clone())>"Restore them"</button>
                        <button class="button secondary small" data-testid="start-afresh" on:click=dismiss>"Start afresh (replaces them)"</button>
                    </div>
                }.into_any()
            }
            Pending::Resume(saved) => resume(page, saved).into_any(),
        })
    }
}

fn need_data(page: Page, opening: &Opening) -> impl IntoView {
    let session = &opening.session;
    let how = match session.source {
        DataSource::Url { .. } => {
            "It is being downloaded; if that fails, open your copy of the file"
        }
        _ => "Open that file to restore them",
    };
    let text = format!(
        "This {} was made on {} ({}). {how}: drop it on the page or choose it.",
        if opening.labelling {
            "labelling task"
        } else {
            "session"
        },
        session.source.describe(),
        contents(session),
    );
    let on_pick = move |event: leptos::ev::Event| load_files(page, picked_files(&event));
    view! {
        <div class="banner" data-testid="need-data">
            <p>{text}</p>
            <label class="button small">
                "choose the file…"
                <input type="file" multiple data-testid="need-data-input" on:change=on_pick/>
            </label>
            <button class="button secondary small" on:click=move |_| page.sessions.pending.set(None)>"Dismiss"</button>
        </div>
    }
}

fn resume(page: Page, saved: Autosave) -> impl IntoView {
    let text = format!(
        "Resume where you left off: {}, {}, saved {}.",
        saved.session.source.describe(),
        contents(&saved.session),
        autosave::when(&saved)
    );
    view! {
        <div class="banner" data-testid="resume-offer">
            <p>{text}</p>
            <button class="button small" data-testid="resume" on:click=move |_| restore(page, saved.clone())>"Resume"</button>
            <button class="button secondary small" on:click=move |_| page.sessions.pending.set(None)>"Dismiss"</button>
        </div>
    }
}

/// "3 classes, 12 labelled chips".
fn contents(session: &Session) -> String {
    let (classes, chips) = (session.classes.len(), session.labels().support_count());
    let plural = |n: usize, many: &'static str| if n == 1 { "" } else { many };
    format!(
        "{classes} class{}, {chips} labelled chip{}",
        plural(classes, "es"),
        plural(chips, "s")
    )
}
