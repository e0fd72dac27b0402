//! What was loaded: name, format, shape, calibration, value range and the reader's notes.

use crate::app::AppState;
use leptos::prelude::*;

/// The dataset's facts, as `chipscope info` prints them.
#[component]
pub fn DatasetInfo() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.loaded.get().map(|loaded| {
            let dataset = &loaded.dataset;
            let image = &dataset.image;
            let (width, height) = (image.width(), image.height());
            view! {
                <section class="panel" data-testid="dataset-info">
                    <h2>"Dataset"</h2>
                    <dl>
                        <dt>"name"</dt><dd data-testid="dataset-name">{loaded.name.clone()}</dd>
                        <dt>"format"</dt><dd data-testid="dataset-format">{format!("{} ({})", dataset.metadata.format, dataset.storage_summary())}</dd>
                        <dt>"shape"</dt><dd data-testid="dataset-shape">{format!("{width} × {height} px")}</dd>
                        <dt>"calibration"</dt><dd data-testid="dataset-calibration">{dataset.calibration_summary()}</dd>
                        {(!dataset.metadata.properties.is_empty()).then(|| view! {
                            <dt>"acquisition"</dt><dd data-testid="dataset-acquisition">{dataset.acquisition_summary()}</dd>
                        })}
                        <dt>"values"</dt><dd>{dataset.value_summary()}</dd>
                    </dl>
                    <ul class="notes" data-testid="dataset-notes">
                        {dataset.metadata.notes.iter().map(|note| view! { <li>{note.clone()}</li> }).collect_view()}
                    </ul>
                </section>
            }
        })
    }
}
