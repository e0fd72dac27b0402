//! The atom modality and the fusion of modalities (image, atoms, spectra): the column search's settings and result,
//! the g(r) of the chip under the pointer beside each class prototype, and the fusion mode and
//! weights (sliders; the overlay follows as they move).

use chipscope_core::fusion::{FusionMode, Modality};
use leptos::prelude::*;

use crate::page::Page;

/// Width and height of the g(r) plot, in SVG units.
const PLOT: (f32, f32) = (300.0, 120.0);

/// Column search settings, its result and the g(r) plot.
#[component]
pub fn AtomsPanel() -> impl IntoView {
    let page = Page::from_context();
    let (app, atoms) = (page.app, page.atoms);
    let set_spacing = move |text: String| {
        let text = text.trim().to_string();
        match text.parse::<f32>() {
            _ if text.is_empty() => atoms.spacing.set(None),
            Ok(value) if (2.0..=512.0).contains(&value) => atoms.spacing.set(Some(value)),
            _ => app.error.set(Some(format!(
                "Atom spacing {text:?}: give a number of pixels between 2 and 512, or leave it empty to read it off the image."
            ))),
        }
    };
    let set_threshold = move |text: String| match text.trim().parse::<f32>() {
        Ok(value) if (0.0..=1.0).contains(&value) => atoms.threshold.set(value),
        _ => app.error.set(Some(format!(
            "Atom threshold {text:?}: give a number between 0 and 1."
        ))),
    };
    let has_image = Memo::new(move |_| app.loaded.with(Option::is_some));
    move || {
        has_image.get().then(|| {
            view! {
                <section class="panel" data-testid="atoms-panel">
                    <h2>"Atom columns"</h2>
                    <label class="row">
                        "spacing (px)"
                        <input type="number" min=2 max=512 step=0.05 placeholder="from the image" data-testid="atom-spacing"
                            prop:value=move || atoms.spacing.get().map(|s| s.to_string()).unwrap_or_default()
                            on:change=move |event| set_spacing(event_target_value(&event))/>
                    </label>
                    <label class="row">
                        "threshold"
                        <input type="number" min=0 max=1 step=0.05 data-testid="atom-threshold"
                            prop:value=move || atoms.threshold.get().to_string()
                            on:change=move |event| set_threshold(event_target_value(&event))/>
                    </label>
                    <div class="row">
                        <button class="button small" data-testid="find-atoms" disabled=move || atoms.running.get()
                            on:click=move |_| atoms.find(app)>"Find atom columns"</button>
                        <label>
                            <input type="checkbox" data-testid="show-atoms" prop:checked=move || atoms.show.get()
                                on:change=move |event| atoms.show.set(event_target_checked(&event))/>
                            "show"
                        </label>
                    </div>
                    <p class="hint" data-testid="atoms-status">{move || match atoms.found_here(app) {
                        Some(found) => found.summary(),
                        None => "Laplacian-of-Gaussian detection, then centre of mass and a 2-D Gaussian fit per column. Leave the spacing empty to read it off the image's power spectrum.".to_string(),
                    }}</p>
                    <PdfPlot/>
                </section>
            }
        })
    }
}

/// g(r) of the chip under the pointer and of each class prototype (barycenter of its
/// supports' g(r)), each divided by its mean, on one scale.
#[component]
fn PdfPlot() -> impl IntoView {
    let page = Page::from_context();
    let (atoms, labels) = (page.atoms, page.labels);
    move || {
        let grid = atoms.grid.get()?;
        let cols = page.app.grid()?.cols();
        let current = labels.labels();
        let prototypes = grid.chips.prototypes(&current.support_indices(cols));
        let inspected = atoms.inspected.get().map(|[row, col]| row * cols + col);
        let mut curves: Vec<(String, String, Vec<f32>)> = current
            .classes
            .iter()
            .zip(prototypes)
            .filter_map(|(class, prototype)| {
                Some((class.name.clone(), class.colour.to_string(), prototype?))
            })
            .collect();
        if let Some(chip) = inspected.filter(|&chip| chip < grid.chips.pdfs.len()) {
            let [row, col] = atoms.inspected.get()?;
            curves.push((
                format!("chip [{row}, {col}]"),
                "#ffffff".into(),
                grid.chips.pdfs[chip].clone(),
            ));
        }
        let r_max = grid.chips.r.r_max;
        let peak = curves
            .iter()
            .flat_map(|(_, _, pdf)| normalised(pdf))
            .fold(0.0f32, f32::max);
        Some(view! {
            <figure class="pdf-plot" data-testid="pdf-plot">
                <svg viewBox=format!("0 0 {} {}", PLOT.0, PLOT.1 + 14.0) role="img" aria-label="pair distribution functions">
                    <line x1=0 y1=PLOT.1 x2=PLOT.0 y2=PLOT.1 class="axis"/>
                    {(0..=4).map(|tick| {
                        let x = PLOT.0 * tick as f32 / 4.0;
                        view! { <text x=x y=PLOT.1 + 12.0 class="tick">{format!("{:.0}", r_max * tick as f32 / 4.0)}</text> }
                    }).collect_view()}
                    {curves.iter().map(|(name, colour, pdf)| view! {
                        <polyline data-testid="pdf-curve" data-name=name.clone() points=polyline(pdf, peak) stroke=colour.clone()/>
                    }).collect_view()}
                </svg>
                <figcaption class="hint">
                    {"g(r) against r (px) — "}
                    {curves.iter().map(|(name, colour, _)| view! {
                        <span class="legend" style=format!("color: {colour}")>{format!("■ {name} ")}</span>
                    }).collect_view()}
                    {inspected.is_none().then_some("Point at a chip to plot its g(r).")}
                </figcaption>
            </figure>
        })
    }
}

/// `pdf` divided by its mean, so curves of different densities compare by shape (as the
/// Wasserstein distance does).
fn normalised(pdf: &[f32]) -> Vec<f32> {
    let mean = pdf.iter().sum::<f32>() / pdf.len().max(1) as f32;
    let scale = if mean > 0.0 { 1.0 / mean } else { 0.0 };
    pdf.iter().map(|g| g * scale).collect()
}

/// The normalised curve's points, its height `peak` at the top of the plot.
fn polyline(pdf: &[f32], peak: f32) -> String {
    let scale = if peak > 0.0 {
        PLOT.1 * 0.95 / peak
    } else {
        0.0
    };
    let step = PLOT.0 / pdf.len().max(1) as f32;
    normalised(pdf)
        .iter()
        .enumerate()
        .map(|(i, g)| format!("{:.1},{:.1} ", (i as f32 + 0.5) * step, PLOT.1 - g * scale))
        .collect()
}

/// Fusion mode and the weight of each modality.
#[component]
pub fn FusionPanel() -> impl IntoView {
    let page = Page::from_context();
    let labels = page.labels;
    let weight = move |modality: Modality| {
        view! {
            <label class="row">
                {modality.key()}
                <input type="range" min=0 max=1 step=0.05 data-testid=format!("weight-{}", modality.key())
                    prop:value=move || labels.fusion.with(|f| f.weight(modality)).to_string()
                    on:input=move |event| {
                        if let Ok(value) = event_target_value(&event).parse::<f32>() {
                            labels.fusion.update(|f| { f.weights.insert(modality, value); });
                        }
                    }/>
                <output>{move || format!("{:.2}", labels.fusion.with(|f| f.weight(modality)))}</output>
            </label>
        }
    };
    let mode = move |value: FusionMode, text: &'static str, id: &'static str| {
        view! {
            <label>
                <input type="radio" name="fusion-mode" data-testid=id
                    prop:checked=move || labels.fusion.with(|f| f.mode == value)
                    on:change=move |_| labels.fusion.update(|f| f.mode = value)/>
                {text}
            </label>
        }
    };
    view! {
        <section class="panel" data-testid="fusion-panel">
            <h2>"Modalities"</h2>
            {Modality::ALL.map(weight)}
            <div class="row">
                {mode(FusionMode::Concatenate, "concatenate embeddings (c1)", "fusion-concatenate")}
                {mode(FusionMode::Distances, "average scaled distances (c2)", "fusion-distances")}
            </div>
            <p class="hint">{move || hint(page)}</p>
        </section>
    }
}

/// What the weights mean now, or what a weighted modality still needs.
fn hint(page: Page) -> String {
    let fusion = page.labels.fusion.get();
    let atoms = fusion.weighs(Modality::Atoms);
    let spectra = fusion.weighs(Modality::Spectra);
    if atoms && page.atoms.grid.with(Option::is_none) {
        return "Find the atom columns (below) to use the atom modality.".into();
    }
    if spectra && page.spectra.chips.with(|c| !matches!(c, Some(Ok(_)))) {
        return "Open a spectrum image of this field of view (Spectra, below) to use the spectral modality.".into();
    }
    match (fusion.weighs(Modality::Image), atoms, spectra) {
        (true, false, false) => "The image encoder alone.".into(),
        (false, true, false) => "Atoms only: chips are compared by the Wasserstein distance between their g(r); no embedding needed. Chips without columns stay unassigned.".into(),
        (false, false, true) => "Spectra only: chips are compared by their spectra's vectors; no embedding needed.".into(),
        (false, false, false) => "No modality has a weight: the image encoder is used.".into(),
        _ => "Several modalities, combined as chosen; a chip without atom columns is classified by the others.".into(),
    }
}
