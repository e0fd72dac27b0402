//! What the user does with a project of several images: adds files (or a folder), switches the
//! image on screen — the supports follow and its cached chips are ready at once — removes one,
//! and segments every image with the shared prototypes into per-image and pooled results
//! ([`chipscope_core::report::ProjectReport`]). Images holding supports are embedded in the
//! background when their chips are missing for the settings on screen.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use chipscope_core::display::DisplayRange;
use chipscope_core::formats::{Limits, open};
use chipscope_core::fusion::Modality;
use chipscope_core::grid::ChipGrid;
use chipscope_core::pipeline::{self, ChipMeasure};
use chipscope_core::report::ClassReport;
use chipscope_core::results::Summary;
use chipscope_core::session::DataSource;
use gloo::file::File;
use gloo::file::futures::read_as_bytes;
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::{Loaded, next_load_id};
use crate::embedding::EmbeddingKey;
use crate::loading::MAX_FILE_BYTES;
use crate::page::Page;
use crate::project::{ImageResult, ProjectRun};
use crate::zoom::Transform;

/// Reads, decodes and adds `files` to the project, each brought to the first image's pixel
/// size; files that cannot be read or do not fit are named in one message, the others added.
pub fn add_files(page: Page, files: Vec<web_sys::File>) {
    let project = page.project;
    spawn_local(async move {
        let mut failures = Vec::new();
        for file in files {
            let name = file.name();
            project.status.set(Some(format!("Adding {name}…")));
            TimeoutFuture::new(0).await;
            if let Err(message) = add_file(page, file).await {
                failures.push(format!("{name}: {message}"));
            }
        }
        project.status.set(None);
        project
            .error
            .set((!failures.is_empty()).then(|| failures.join("; ")));
    });
}

async fn add_file(page: Page, file: web_sys::File) -> Result<(), String> {
    let name = file.name();
    let bytes = read_image_file(file).await?;
    admit(page, name, &bytes).map(|_| ())
}

/// A picked or watched file's bytes; files over 1 GiB are refused before reading.
pub async fn read_image_file(file: web_sys::File) -> Result<Vec<u8>, String> {
    if file.size() > MAX_FILE_BYTES {
        return Err("the file is larger than 1 GiB; crop or bin it first".into());
    }
    read_as_bytes(&File::from(file))
        .await
        .map_err(|error| format!("the browser could not read the file ({error})"))
}

/// Decodes file `name`'s `bytes` and adds its image to the project at the first image's pixel
/// size (a recorded image it is stops being missing).
pub fn admit(page: Page, name: String, bytes: &[u8]) -> Result<Arc<Loaded>, String> {
    let project = page.project;
    let source = DataSource::of_file(&name, bytes);
    let identity = source.identity();
    let known = |images: &Vec<Arc<Loaded>>| images.iter().any(|i| i.source.identity() == identity);
    if project.images.with_untracked(known) {
        return Err("it is in the project already".into());
    }
    let opened = open(&name, bytes, &Limits::default()).map_err(|e| e.to_string())?;
    let dataset = project.at_project_scale(opened.dataset)?;
    let loaded = Arc::new(Loaded {
        id: next_load_id(),
        name,
        dataset,
        source,
        spectral: None,
    });
    page.frames.keep(loaded.id, bytes);
    project.images.update(|images| images.push(loaded.clone()));
    project
        .missing
        .update(|missing| missing.retain(|m| m.identity() != identity));
    project.run.set(None);
    Ok(loaded)
}

/// Shows project image `id` instead of the one on screen; the supports follow
/// ([`chipscope_core::labels::Labels::switched`]) and its cached chips are ready at once.
pub fn switch(page: Page, id: u64) {
    let target = page
        .project
        .images
        .with_untracked(|images| images.iter().find(|i| i.id == id).cloned());
    let (Some(target), Some(current)) = (target, page.app.loaded.get_untracked()) else {
        return;
    };
    if current.id == id {
        return;
    }
    let (leaving, arriving) = (current.source.identity(), target.source.identity());
    page.labels
        .history
        .update(|history| history.map_all(|labels| labels.switched(&leaving, &arriving)));
    page.labels.guide.reset();
    page.frames.leave();
    page.app.error.set(None);
    page.app.view.set(Transform::FIT);
    page.app.loaded.set(Some(target));
    embed_on_screen(page, id);
}

/// Embeds image `id`, just shown, once the run under way (another image's) ends, when the
/// labels have supports: the image is then classified as soon as it can be.
fn embed_on_screen(page: Page, id: u64) {
    let labelled = page.labels.history.with_untracked(|h| {
        h.current()
            .classes
            .iter()
            .any(|class| class.support_total() > 0)
    });
    if !labelled {
        return;
    }
    spawn_local(async move {
        while page.embedding.running.get_untracked() {
            TimeoutFuture::new(100).await;
        }
        let on_screen = page.app.loaded.with_untracked(|l| l.as_ref().map(|l| l.id));
        let key = untrack(|| page.embedding.current_key(&page.app));
        let cached = key.is_some_and(|key| page.embedding.embeddings(&key).is_some());
        if on_screen == Some(id) && !cached {
            page.embedding.start(page.app);
        }
    });
}

/// Takes image `id` out of the project with its supports (not the first, nor the one on
/// screen).
pub fn remove(page: Page, id: u64) {
    let project = page.project;
    let on_screen = page.app.loaded.with_untracked(|l| l.as_ref().map(|l| l.id));
    let removed = project.images.with_untracked(|images| {
        let index = images.iter().position(|i| i.id == id)?;
        (index > 0 && on_screen != Some(id)).then(|| images[index].source.identity())
    });
    let Some(identity) = removed else {
        return;
    };
    page.labels.history.update(|history| {
        history.map_all(|labels| {
            let mut labels = labels.clone();
            labels.forget_image(&identity);
            labels
        })
    });
    project
        .images
        .update(|images| images.retain(|i| i.id != id));
    project.run.set(None);
}

/// Follows what a project image's chips depend on — the supports elsewhere, the chip size, the
/// contrast, the encoder and its mode — and embeds the images whose supports then wait.
pub fn follow(page: Page) {
    Effect::new(move |_| {
        let several = page.project.size() > 1;
        page.labels.history.track();
        page.project.ranges.track();
        let _ = (page.app.chip_size.get(), page.embedding.selected.get());
        let _ = page.embedding.mode();
        if several {
            measure_elsewhere(page);
        }
    });
}

/// Embeds, one at a time in the background, the images not on screen whose supports wait for
/// their chips with the settings on screen.
pub fn measure_elsewhere(page: Page) {
    let project = page.project;
    if project.measuring.get_value() {
        return;
    }
    project.measuring.set_value(true);
    spawn_local(async move {
        if let Err(message) = embed_waiting(page, &Cell::new(false)).await {
            project.error.set(Some(message));
        }
        project.measuring.set_value(false);
    });
}

/// Embeds, one at a time, the images not on screen whose supports wait for their chips, saying
/// which in the project's status line; false when cancelled, the image's name in an error.
async fn embed_waiting(page: Page, cancel: &Cell<bool>) -> Result<bool, String> {
    let project = page.project;
    let mut outcome = Ok(true);
    while let Some((loaded, key, range)) = next_unmeasured(page) {
        let name = &loaded.name;
        project
            .status
            .set(Some(format!("Embedding {name} for its supports…")));
        outcome = embed_image(page, &loaded, (key, range), cancel)
            .await
            .map_err(|message| format!("{name}: {message}"));
        if outcome != Ok(true) {
            break;
        }
    }
    project.status.set(None);
    outcome
}

/// An image not on screen holding supports whose chips are not embedded with the settings on
/// screen, with its cache key and display range.
fn next_unmeasured(page: Page) -> Option<(Arc<Loaded>, EmbeddingKey, DisplayRange)> {
    untrack(|| {
        let on_screen = page.app.loaded.get()?.id;
        let labels = page.labels.labels();
        let holding = labels.images_elsewhere();
        page.project.images.get().into_iter().find_map(|image| {
            let identity = image.source.identity();
            if image.id == on_screen || !holding.contains(&identity.as_str()) {
                return None;
            }
            let (key, range) = key_of(page, &image)?;
            let missing = page
                .embedding
                .embeddings_of(&key, size_of(&image))
                .is_none();
            missing.then_some((image, key, range))
        })
    })
}

/// Image `loaded`'s cache key with the settings on screen, and its display range.
fn key_of(page: Page, loaded: &Loaded) -> Option<(EmbeddingKey, DisplayRange)> {
    let range = page.project.range_of(loaded.id)?;
    Some((page.embedding.key_for(&page.app, loaded.id, range), range))
}

/// Embeds every chip of `loaded` as `key` says and keeps them; false when cancelled.
async fn embed_image(
    page: Page,
    loaded: &Loaded,
    (key, range): (EmbeddingKey, DisplayRange),
    cancel: &Cell<bool>,
) -> Result<bool, String> {
    let grid = grid_of(loaded, key.chip_size).ok_or("the chip size does not fit it")?;
    let input = (&loaded.dataset.image, range, &grid);
    page.embedding
        .embed_and_keep(page.app, key, input, cancel)
        .await
}

/// Segments every open image with the prototypes the supports on all of them make: the images
/// holding supports embedded first, then each image's chips from the cache or embedded now,
/// its summary and class report.
pub fn segment_all(page: Page) {
    let project = page.project;
    let cancel = Rc::new(Cell::new(false));
    project.cancel.update_value(|c| {
        c.set(true);
        *c = cancel.clone();
    });
    project.error.set(None);
    spawn_local(async move {
        project.run.set(Some(ProjectRun {
            running: true,
            ..ProjectRun::default()
        }));
        match embed_waiting(page, &cancel).await {
            Ok(true) => {}
            Ok(false) => return finish_run(page),
            Err(message) => {
                project.error.set(Some(message));
                return finish_run(page);
            }
        }
        // A frame series is segmented frame by frame in its Frames panel, as `chipscope
        // segment` does, and not counted in the project's report.
        let images = project.images.get_untracked();
        for image in images.iter().filter(|image| !page.frames.holds(image.id)) {
            if cancel.get() {
                break;
            }
            let outcome = segment_image(page, image, &cancel).await;
            project.run.update(|run| {
                let Some(run) = run else { return };
                match outcome {
                    Ok(Some(result)) => run.images.push(result),
                    Ok(None) => {}
                    Err(message) => run.failures.push(format!("{}: {message}", image.name)),
                }
            });
            TimeoutFuture::new(0).await;
        }
        finish_run(page);
    });
}

fn finish_run(page: Page) {
    page.project.run.update(|run| {
        if let Some(run) = run {
            run.running = false;
        }
    });
}

/// One image classified with the project's prototypes; `None` when cancelled.
pub async fn segment_image(
    page: Page,
    image: &Loaded,
    cancel: &Cell<bool>,
) -> Result<Option<ImageResult>, String> {
    let (key, range) = untrack(|| key_of(page, image)).ok_or("the image is not open")?;
    let cached = || untrack(|| page.embedding.embeddings_of(&key, size_of(image)));
    if cached().is_none() && !embed_image(page, image, (key.clone(), range), cancel).await? {
        return Ok(None);
    }
    let vectors = cached().ok_or("its embeddings were not kept")?;
    let labels = page.labels;
    let learned =
        untrack(|| labels.image_prototypes(page.app, page.embedding, image.id, &vectors))?;
    let measure = ChipMeasure::euclidean(Modality::Image, &vectors);
    let fusion = untrack(|| labels.fusion.get().for_images(page.project.size()));
    let segmentation = pipeline::segment(&fusion, &[learned], &[measure], None);
    let assignments = segmentation.assignments(labels.unassigned_beyond.get_untracked());
    let classes = labels.labels().classes;
    let calibration = image.dataset.calibration.as_ref();
    let summary = Summary::new(&classes, &assignments, key.chip_size, calibration);
    let report = ClassReport::new(&summary, &assignments);
    Ok(Some(ImageResult {
        name: image.name.clone(),
        summary,
        report,
    }))
}

/// Its image's `(width, height)`.
fn size_of(loaded: &Loaded) -> (usize, usize) {
    (loaded.dataset.image.width(), loaded.dataset.image.height())
}

/// The chip grid of `chip_size` over `loaded`'s image, if it fits.
fn grid_of(loaded: &Loaded, chip_size: usize) -> Option<ChipGrid> {
    let image = &loaded.dataset.image;
    ChipGrid::new(image.width(), image.height(), chip_size).ok()
}
