//! Session files in the page: the session on screen as a [`Session`], and importing one — as
//! an undoable edit, with a warning when it was made on other data.

use chipscope_core::session::{
    DataSource, DisplaySettings, FORMAT, Fusion, GridSettings, Session, VERSION, ViewSettings,
};
use gloo::file::File;
use gloo::file::futures::read_as_text;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::AppState;
use crate::components::import::show_example;
use crate::embedding::EmbeddingState;
use crate::labelling::LabelState;

/// Whether a dropped or picked file is a session file.
pub fn is_session_file(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

/// The session on screen.
pub fn current_session(
    app: AppState,
    embedding: EmbeddingState,
    labels: LabelState,
) -> Result<Session, String> {
    let loaded = app.loaded.get_untracked().ok_or("no image is open")?;
    let range = app
        .display_range
        .get_untracked()
        .ok_or("no image is open")?;
    let encoder = embedding
        .encoder_ref(&embedding.selected.get_untracked())
        .ok_or("the encoder list is still loading")?;
    let current = labels.history.with_untracked(|h| h.current().clone());
    Ok(Session {
        format: FORMAT.into(),
        version: VERSION,
        source: loaded.source.clone(),
        grid: GridSettings {
            chip_size: current.chip_size,
            origin: [0, 0],
        },
        encoder,
        display: DisplaySettings {
            stretch: app.stretch.get_untracked(),
            range: [range.low, range.high],
        },
        view: ViewSettings {
            overlay_opacity: labels.opacity.get_untracked(),
            mode: labels.mode.get_untracked(),
            unassigned_beyond: labels.unassigned_beyond.get_untracked(),
        },
        classes: current.classes,
        fusion: Fusion::default(),
    })
}

/// Reads a session file the user picked or dropped and applies it.
pub fn import_session_file(
    app: AppState,
    embedding: EmbeddingState,
    labels: LabelState,
    file: web_sys::File,
) {
    let name = file.name();
    spawn_local(async move {
        let outcome = match read_as_text(&File::from(file)).await {
            Ok(text) => Session::parse(&text).map_err(|error| error.to_string()),
            Err(error) => Err(format!("the browser could not read the file ({error})")),
        };
        match outcome {
            Ok(session) => apply(app, embedding, labels, session).await,
            Err(error) => app.error.set(Some(format!("{name}: {error}"))),
        }
    });
}

/// Shows `session`: its data (the example is simulated again; a file must be open), grid,
/// contrast, encoder, classes and view settings; then embeds if needed.
async fn apply(app: AppState, embedding: EmbeddingState, labels: LabelState, session: Session) {
    let open_source = app
        .loaded
        .with_untracked(|l| l.as_ref().map(|l| l.source.clone()));
    if let DataSource::Example { size, seed } = session.source
        && open_source.as_ref() != Some(&session.source)
    {
        show_example(app, size, seed);
        TimeoutFuture::new(0).await; // let the new image's effects run before the labels land
    }
    let Some(loaded) = app.loaded.get_untracked() else {
        return app.error.set(Some(format!(
            "Open the image this session was made on first: {}",
            session.source.describe()
        )));
    };
    let image = &loaded.dataset.image;
    if let Err(error) = session.grid_on(image.width(), image.height()) {
        return app.error.set(Some(error.to_string()));
    }
    let mut notes = vec![format!(
        "Session imported: {} classes, {} supports.",
        session.classes.len(),
        session.labels().support_count()
    )];
    if loaded.source != session.source {
        notes.push(format!(
            "Warning: it was made on {}, not on the open {} — supports are applied by grid position.",
            session.source.describe(),
            loaded.name
        ));
    }
    app.error.set(None);
    app.chip_size.set(session.grid.chip_size);
    app.stretch.set(session.display.stretch);
    let known = embedding
        .choices
        .with_untracked(|c| c.iter().any(|c| c.id == session.encoder.id));
    match known {
        true => embedding.selected.set(session.encoder.id.clone()),
        false => notes.push(format!(
            "Warning: the session's encoder {} (weights sha256 {}…) is not loaded here; open that weight file to reproduce it exactly.",
            session.encoder.name,
            &session.encoder.weights_sha256[..12]
        )),
    }
    labels.edit(|current| *current = session.labels());
    labels.opacity.set(session.view.overlay_opacity);
    labels.mode.set(session.view.mode);
    labels.unassigned_beyond.set(session.view.unassigned_beyond);
    labels.notice.set(Some(notes.join(" ")));
    if session.labels().support_count() > 0 {
        embedding.start(app);
    }
}
