//! Sessions in the page: opening one — from a file, a link or an autosave — with its data (the
//! example simulated again, a URL downloaded, a local file asked for and checked by sha256);
//! and the autosave, an effect over the session on screen (the memo
//! [`crate::page::SessionState::current`]) that writes every change.

use chipscope_core::fusion::Modality;
use chipscope_core::session::{Autosave, DataSource, Session};
use gloo::file::File;
use gloo::file::futures::read_as_text;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::Loaded;
use crate::autosave;
use crate::embedding::EmbeddingState;
use crate::loading::{load_url, show_example};
use crate::page::{Opening, Page, Pending};

/// The longest a session waits for the encoder list before it is applied without it.
const ENCODER_LIST_WAIT_MS: u32 = 10_000;

/// Whether a dropped or picked file is a session file.
pub fn is_session_file(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

/// The session in a file the user picked or dropped, parsed and checked.
pub async fn read_session_file(file: web_sys::File) -> Result<Session, String> {
    match read_as_text(&File::from(file)).await {
        Ok(text) => Session::parse(&text).map_err(|error| error.to_string()),
        Err(error) => Err(format!("the browser could not read the file ({error})")),
    }
}

/// Reads a session file the user picked or dropped and opens it.
pub fn import_session_file(page: Page, file: web_sys::File) {
    let name = file.name();
    spawn_local(async move {
        match read_session_file(file).await {
            Ok(session) => open_session(
                page,
                Opening {
                    session,
                    labelling: false,
                },
            ),
            Err(error) => page.app.error.set(Some(format!("{name}: {error}"))),
        }
    });
}

/// Opens a session on its own data: at once when that data is open; else the example is
/// simulated again, a URL downloaded, or the user asked for the local file (checked by sha256
/// when it arrives, see [`follow_data`]).
pub fn open_session(page: Page, opening: Opening) {
    let identity = opening.session.source.identity();
    let open = page
        .app
        .loaded
        .with_untracked(|l| l.as_ref().map(|l| (l.source.identity(), l.name.clone())));
    let source = opening.session.source.clone();
    let pending = match (open, &source) {
        (Some((open, _)), _) if open == identity => return apply_soon(page, opening),
        (Some((_, open)), DataSource::File { .. }) => Pending::OtherData { opening, open },
        _ => Pending::NeedData(opening),
    };
    page.sessions.pending.set(Some(pending));
    match source {
        DataSource::Example { size, seed } => show_example(page, size, seed),
        DataSource::Url { url, .. } => load_url(page, url),
        DataSource::File { .. } => {}
    }
}

/// Applies the session waiting on other data to the data that is open.
pub fn apply_anyway(page: Page) {
    if let Some(Pending::OtherData { opening, .. }) = page.sessions.pending.get_untracked() {
        page.sessions.pending.set(None);
        apply_soon(page, opening);
    }
}

/// Puts the autosaved labels on offer back on screen.
pub fn restore(page: Page, saved: Autosave) {
    page.sessions.pending.set(None);
    open_session(
        page,
        Opening {
            session: saved.session,
            labelling: saved.labelling,
        },
    );
}

/// Follows the data on screen: when new data is shown, a session waiting for it is applied (or
/// flagged as made on other data) and autosaved labels of it are offered; every later change
/// of the session is autosaved, except while such an offer waits for an answer or a session
/// is being applied (the data is shown first, without supports: autosaving that would replace
/// the very labels being opened, and a tab closed then would lose them).
pub fn follow_data(page: Page) {
    let sessions = page.sessions;
    Effect::new(move |previous: Option<Option<u64>>| {
        sessions.current.track();
        let labelling = sessions.labelling.get();
        let waiting = page.awaiting_choice() || sessions.applying.get();
        let loaded = page.app.loaded.get();
        let id = loaded.as_ref().map(|l| l.id);
        match loaded {
            Some(loaded) if previous.flatten() != id => data_shown(page, &loaded),
            Some(_) if !waiting => sessions.current.with_untracked(|session| {
                if let Ok(session) = session {
                    autosave_now(page, session, labelling);
                }
            }),
            _ => {}
        }
        id
    });
}

fn data_shown(page: Page, loaded: &Loaded) {
    // Another image of the project shown: the session on screen is the project's, as it was.
    let switched = |images: &Vec<std::sync::Arc<Loaded>>| {
        images.len() > 1 && images.iter().any(|image| image.id == loaded.id)
    };
    if page.project.images.with_untracked(switched) {
        return;
    }
    let identity = loaded.source.identity();
    let offer =
        autosave::read(&identity).filter(|saved| saved.session.labels().support_count() > 0);
    let pending = page.sessions.pending.get_untracked();
    let next = match pending {
        Some(Pending::NeedData(opening) | Pending::OtherData { opening, .. }) => {
            if opening.session.source.identity() != identity {
                let open = loaded.name.clone();
                return page
                    .sessions
                    .pending
                    .set(Some(Pending::OtherData { opening, open }));
            }
            let same = offer
                .as_ref()
                .is_some_and(|saved| saved.session.classes == opening.session.classes);
            apply_soon(page, opening);
            offer.filter(|_| !same)
        }
        _ => offer,
    };
    page.sessions.pending.set(next.map(Pending::Autosave));
}

fn autosave_now(page: Page, session: &Session, labelling: bool) {
    if let Err(error) = autosave::write(session, labelling) {
        page.labels
            .notice
            .set(Some(format!("Autosave failed: {error}.")));
    }
}

/// Applies `opening` after the effects that follow a newly shown image have run, and once the
/// encoder list has arrived (waiting at most 10 s), so the session's encoder can be selected;
/// nothing is autosaved meanwhile ([`follow_data`]).
fn apply_soon(page: Page, opening: Opening) {
    page.sessions.applying.set(true);
    spawn_local(async move {
        TimeoutFuture::new(0).await;
        page.embedding.listed(ENCODER_LIST_WAIT_MS).await;
        apply(page, opening);
        page.sessions.applying.set(false);
    });
}

/// Shows `session` on the open data: grid, contrast, encoder and embedding mode, classes, view
/// settings and task; then embeds if needed (not in the labelling view, which only collects
/// labels).
fn apply(page: Page, Opening { session, labelling }: Opening) {
    let Page {
        app,
        embedding,
        labels,
        sessions,
        ..
    } = page;
    let Some(loaded) = app.loaded.get_untracked() else {
        return;
    };
    let image = &loaded.dataset.image;
    if let Err(error) = session.grid_on(image.width(), image.height()) {
        return app.error.set(Some(error.to_string()));
    }
    let mut notes = vec![format!(
        "Session opened: {} classes, {} supports.",
        session.classes.len(),
        session.labels().support_count()
    )];
    if loaded.source.identity() != session.source.identity() {
        notes.push(format!(
            "Warning: it was made on {}, not on the open {} — supports are applied by grid position.",
            session.source.describe(),
            loaded.name
        ));
    }
    app.error.set(None);
    app.chip_size.set(session.grid.chip_size);
    app.stretch.set(session.display.stretch);
    if let Some(note) = select_encoder(embedding, &session) {
        notes.push(note);
    }
    labels.edit(|current| *current = session.labels());
    labels.opacity.set(session.view.overlay_opacity);
    labels.mode.set(session.view.mode);
    labels.unassigned_beyond.set(session.view.unassigned_beyond);
    labels.fusion.set(session.fusion.clone());
    sessions.task.set(session.task.clone());
    sessions.labelling.set(labelling);
    notes.extend(adopt_modalities(page, &session));
    notes.extend(page.project.expect(&session));
    labels.guide.proposal.set(None);
    labels
        .guide
        .wanted
        .set(session.proposal.map(|p| (Some(p.k), p.seed)));
    labels.notice.set(Some(notes.join(" ")));
    let plan = session
        .fusion
        .taking_part(|modality| session.records(modality));
    let wanted = session.labels().support_count() > 0 || session.proposal.is_some();
    if !labelling && plan.contains(&Modality::Image) && wanted {
        embedding.start(app);
    }
}

/// Takes the session's atom settings (finding the columns again) and spectral settings; says
/// when its spectrum image is not the one open.
fn adopt_modalities(page: Page, session: &Session) -> Option<String> {
    if let Some(settings) = session.atoms {
        page.atoms.adopt(settings);
        page.atoms.find(page.app);
    }
    let settings = session.spectra.as_ref()?;
    page.spectra.adopt(settings);
    let open = page
        .spectra
        .loaded
        .with_untracked(|l| l.as_ref().map(|l| l.source.identity()));
    (open != Some(settings.source.identity())).then(|| {
        format!(
            "Open its spectrum image {} in the Spectra panel to use the spectral modality.",
            settings.source.describe()
        )
    })
}

/// Selects the session's encoder and its embedding mode (per chip for sessions written before
/// version 5), or says why the encoder cannot be selected.
fn select_encoder(embedding: EmbeddingState, session: &Session) -> Option<String> {
    embedding.adopt_mode(&session.encoder.id, &session.encoder.mode);
    let known = embedding
        .choices
        .with_untracked(|c| c.iter().any(|c| c.id == session.encoder.id));
    if known {
        embedding.selected.set(session.encoder.id.clone());
        return None;
    }
    Some(format!(
        "Warning: the session's encoder {} (weights sha256 {}…) is not loaded here; open that weight file to reproduce it exactly.",
        session.encoder.name,
        &session.encoder.weights_sha256[..12]
    ))
}
