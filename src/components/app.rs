//! The whole page: the header with the compute backend, import, the image with its chip grid,
//! and the side panels (or the focused labelling view). It creates the page's state and starts
//! following the data and the address.

use crate::components::{
    atoms_panel::{AtomsPanel, FusionPanel},
    backend_badge::BackendBadge,
    classes_panel::ClassesPanel,
    contrast::ContrastPanel,
    crowd_panel::CrowdPanel,
    dataset_info::DatasetInfo,
    encoder_panel::EncoderPanel,
    frames_panel::FramesPanel,
    grid_panel::GridPanel,
    import::ImportPanel,
    pending_banner::PendingBanner,
    project_panel::{LivePanel, ProjectPanel, ProjectStrip},
    results_panel::ResultsPanel,
    spectra_panel::SpectraPanel,
    task_panel::TaskPanel,
    viewer::Viewer,
};
use crate::links::follow_address;
use crate::page::Page;
use crate::project_run;
use crate::session_io::follow_data;
use leptos::prelude::*;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let page = Page::new();
    follow_data(page);
    follow_address(page);
    project_run::follow(page);
    let sessions = page.sessions;
    let labelling = move || sessions.labelling.get();
    view! {
        <header class="top-bar">
            <h1>"Chipscope"</h1>
            <span class="tagline">{move || match labelling() {
                true => "labelling task",
                false => "few-shot segmentation of electron micrographs, in your browser",
            }}</span>
            <BackendBadge/>
        </header>
        <main class="layout" class:labelling=labelling>
            <section class="stage">
                {move || (!labelling()).then(|| view! { <ImportPanel/> })}
                <PendingBanner/>
                {move || page.app.error.get().map(|message| view! { <p class="error" role="alert" data-testid="error">{message}</p> })}
                {move || page.app.busy.get().map(|message| view! { <p class="busy" data-testid="busy">{message}</p> })}
                <Viewer/>
                {move || (!labelling()).then(|| view! { <ProjectStrip/> })}
            </section>
            {move || match labelling() {
                true => view! {
                    <aside class="panels">
                        <TaskPanel/>
                        <ClassesPanel locked=true/>
                        <ContrastPanel/>
                    </aside>
                }.into_any(),
                false => view! {
                    <aside class="panels">
                        <DatasetInfo/>
                        <GridPanel/>
                        <ContrastPanel/>
                        <EncoderPanel/>
                        <FusionPanel/>
                        <SpectraPanel/>
                        <AtomsPanel/>
                    </aside>
                    <aside class="panels">
                        <ClassesPanel/>
                        <ResultsPanel/>
                        <ProjectPanel/>
                        <LivePanel/>
                        <FramesPanel/>
                        <CrowdPanel/>
                    </aside>
                }.into_any(),
            }}
        </main>
    }
}
