//! The spectral modality's panel: opening a spectrum image beside the image (or using the
//! image the spectral file carries), what it holds, the encoder (raw or spec2vec, with the
//! training's progress), the elements marked, the element map shown, and the sum spectrum with
//! each class's mean spectrum and the marked X-ray lines.

use std::sync::Arc;

use chipscope_core::spectra::chips::RawSettings;
use chipscope_core::spectra::lines::parse_elements;
use chipscope_core::spectra::modality::SpectralEncoder;
use chipscope_core::spectra::spec2vec::Spec2VecParams;
use chipscope_core::spectra::{EnergyAxis, SpectrumImage};
use leptos::prelude::*;

use crate::components::import::picked_files;
use crate::loading::open_spectrum_files;
use crate::page::Page;
use crate::spectra::{LoadedSpectra, SpectraState};

/// Width and height of the spectrum plot, in SVG units, and the most points a curve has.
const PLOT: (f64, f64) = (300.0, 130.0);
const POINTS: usize = 300;
/// Highest energy plotted, keV.
const TOP_KEV: f64 = 20.0;

/// The spectrum image: open, describe, encode, mark and plot.
#[component]
pub fn SpectraPanel() -> impl IntoView {
    let page = Page::from_context();
    let spectra = page.spectra;
    let on_pick = move |event: leptos::ev::Event| open_spectrum_files(page, picked_files(&event));
    view! {
        <section class="panel" data-testid="spectra-panel">
            <h2>"Spectra (EDS)"</h2>
            <label class="button small">
                "open a spectrum image…"
                <input type="file" multiple accept=".emd,.bcf,.pts,.ser,.dm3,.dm4,.msa,.ema,.rpl,.raw"
                    data-testid="spectra-input" on:change=on_pick/>
            </label>
            {move || match spectra.loaded.get() {
                None => view! {
                    <p class="hint">"An EDS spectrum image (Velox EMD, Bruker BCF, JEOL PTS, FEI TIA .ser, DigitalMicrograph, Lispix .rpl with its .raw) or a single EMSA spectrum. A spectral file opened as the image brings its map along."</p>
                }.into_any(),
                Some(loaded) => view! { <LoadedView loaded/> }.into_any(),
            }}
        </section>
    }
}

/// What is open, and the controls that need it.
#[component]
fn LoadedView(loaded: Arc<LoadedSpectra>) -> impl IntoView {
    let page = Page::from_context();
    let spectra = page.spectra;
    let notes = loaded.file.notes.join("; ");
    view! {
        <p class="hint" data-testid="spectra-status">{describe(&loaded)}</p>
        {(!notes.is_empty()).then(|| view! { <p class="hint">{notes}</p> })}
        {move || spectra.chips.get().and_then(Result::err).map(|message| view! {
            <p class="error" role="alert" data-testid="spectra-mismatch">{message}</p>
        })}
        <SurveyOffer loaded=loaded.clone()/>
        {loaded.map().is_some().then(|| view! { <EncoderChoice/> })}
        <label class="row">
            "elements"
            <input type="text" placeholder="e.g. Fe, S, C" data-testid="spectra-elements"
                prop:value=move || spectra.elements.get().join(", ")
                on:change=move |event| set_elements(page, event_target_value(&event))/>
        </label>
        {loaded.map().is_some().then(|| view! { <ElementMapChoice/> })}
        <SpectrumPlot/>
    }
}

/// "P45.bcf: 100 × 75 px × 2048 channels, 0–20 keV, 165 941 counts (22.1 per pixel), held
/// in 0.9 MB".
fn describe(loaded: &LoadedSpectra) -> String {
    let file = &loaded.file;
    let range = |axis: &EnergyAxis| {
        format!(
            "{:.2}–{:.1} keV",
            axis.offset_kev,
            axis.energy(axis.channels)
        )
    };
    match (&file.map, &file.spectrum) {
        (Some(map), _) => format!(
            "{}: {} spectrum image, {} × {} px × {} channels, {}, {} counts ({:.2} per pixel), held sparse in {:.1} MB",
            loaded.name,
            file.format,
            map.width,
            map.height,
            map.axis.channels,
            range(&map.axis),
            map.total_counts(),
            map.total_counts() as f64 / (map.width * map.height) as f64,
            map.memory_bytes() as f64 / 1e6
        ),
        (None, Some(spectrum)) => format!(
            "{}: a single {} spectrum, {} channels, {} — shown for reference; chips need a spectrum image",
            loaded.name,
            file.format,
            spectrum.axis.channels,
            range(&spectrum.axis)
        ),
        (None, None) => format!("{}: no spectra", loaded.name),
    }
}

/// A button to use the image the spectral file carries (its HAADF, or its counts) as the
/// image, when another image is on screen.
#[component]
fn SurveyOffer(loaded: Arc<LoadedSpectra>) -> impl IntoView {
    let page = Page::from_context();
    let app = page.app;
    let identity = loaded.source.identity();
    let shown = move || {
        app.loaded
            .with(|l| l.as_ref().map(|l| l.source.identity()))
            .is_some_and(|open| open == identity)
    };
    let survey = loaded.file.survey();
    move || {
        let (name, dataset) = survey.clone().filter(|_| !shown())?;
        let loaded = loaded.clone();
        let use_it = move |_| {
            page.show(
                loaded.name.clone(),
                (dataset.clone(), Some(loaded.file.clone())),
                loaded.source.clone(),
            )
        };
        Some(view! {
            <button class="button small secondary" data-testid="use-survey" on:click=use_it>
                {format!("Use its {name} as the image")}
            </button>
        })
    }
}

/// Raw or spec2vec, and their settings; spec2vec's training progress.
#[component]
fn EncoderChoice() -> impl IntoView {
    let spectra = Page::from_context().spectra;
    let is_raw = move || matches!(spectra.encoder.get(), SpectralEncoder::Raw(_));
    view! {
        <div class="row">
            <label>
                <input type="radio" name="spectral-encoder" data-testid="spectra-raw" prop:checked=is_raw
                    on:change=move |_| spectra.encoder.set(SpectralEncoder::raw())/>
                "raw spectra"
            </label>
            <label>
                <input type="radio" name="spectral-encoder" data-testid="spectra-spec2vec" prop:checked=move || !is_raw()
                    on:change=move |_| spectra.encoder.set(SpectralEncoder::Spec2vec(Spec2VecParams::default()))/>
                "spec2vec"
            </label>
        </div>
        {move || match spectra.encoder.get() {
            SpectralEncoder::Raw(raw) => raw_settings(spectra, raw).into_any(),
            SpectralEncoder::Spec2vec(params) => spec2vec_settings(spectra, params).into_any(),
        }}
        {move || spectra.progress.get().map(|done| view! {
            <p class="hint">
                "Training spec2vec on the chips… "
                <progress max=1 value=done data-testid="spec2vec-progress"/>
            </p>
        })}
    }
}

fn raw_settings(spectra: SpectraState, raw: RawSettings) -> impl IntoView {
    let (low, high) = raw.range_kev.unwrap_or((0.0, 0.0));
    let set_range = move |which: usize, text: String| {
        let mut range = raw.range_kev.unwrap_or((0.0, TOP_KEV));
        let value = text.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        match (which, value) {
            (_, None) => {
                return spectra.encoder.set(SpectralEncoder::Raw(RawSettings {
                    range_kev: None,
                    ..raw
                }));
            }
            (0, Some(v)) => range.0 = v,
            (_, Some(v)) => range.1 = v,
        }
        let range_kev = (range.0 < range.1).then_some(range);
        spectra
            .encoder
            .set(SpectralEncoder::Raw(RawSettings { range_kev, ..raw }));
    };
    let shown = |value: f64| {
        if raw.range_kev.is_some() {
            value.to_string()
        } else {
            String::new()
        }
    };
    view! {
        <div class="row">
            <label>
                <input type="checkbox" data-testid="spectra-normalise" prop:checked=raw.normalise
                    on:change=move |event| spectra.encoder.set(SpectralEncoder::Raw(RawSettings { normalise: event_target_checked(&event), ..raw }))/>
                "normalise to total counts"
            </label>
        </div>
        <label class="row">
            "energy range (keV)"
            <input type="number" step=0.1 placeholder="all" data-testid="spectra-range-low" prop:value=shown(low)
                on:change=move |event| set_range(0, event_target_value(&event))/>
            <input type="number" step=0.1 placeholder="all" data-testid="spectra-range-high" prop:value=shown(high)
                on:change=move |event| set_range(1, event_target_value(&event))/>
        </label>
    }
}

fn spec2vec_settings(spectra: SpectraState, params: Spec2VecParams) -> impl IntoView {
    let set = move |change: &dyn Fn(&mut Spec2VecParams)| {
        let mut params = params;
        change(&mut params);
        spectra.encoder.set(SpectralEncoder::Spec2vec(params));
    };
    view! {
        <label class="row">
            "intensity power p"
            <input type="number" min=0 max=4 step=0.1 data-testid="spectra-power" prop:value=params.intensity_power.to_string()
                on:change=move |event| {
                    if let Ok(p) = event_target_value(&event).trim().parse::<f32>() && (0.0..=4.0).contains(&p) {
                        set(&|params| params.intensity_power = p);
                    }
                }/>
        </label>
        <div class="row">
            <label>
                <input type="checkbox" data-testid="spectra-skipgram" prop:checked=params.skip_gram
                    on:change=move |event| {
                        let skip_gram = event_target_checked(&event);
                        set(&|params| params.skip_gram = skip_gram);
                    }/>
                "skip-gram (else CBOW)"
            </label>
        </div>
        <p class="hint">{format!(
            "Words of {:.0} eV, the {} strongest per chip, {}-d vectors, {} epochs; trained on this image's chips.",
            params.word_kev * 1000.0, params.max_words, params.dim, params.epochs
        )}</p>
    }
}

/// Which element's map is drawn over the image.
#[component]
fn ElementMapChoice() -> impl IntoView {
    let spectra = Page::from_context().spectra;
    view! {
        <label class="row">
            "element map"
            <select data-testid="element-map" on:change=move |event| {
                let value = event_target_value(&event);
                spectra.map_element.set((!value.is_empty()).then_some(value));
            }>
                <option value="" selected=move || spectra.map_element.get().is_none()>"none"</option>
                {move || spectra.elements.get().into_iter().map(|element| {
                    let selected = spectra.map_element.get().as_deref() == Some(element.as_str());
                    view! { <option value=element.clone() selected=selected>{element.clone()}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

/// Takes the elements typed, refusing symbols without X-ray lines.
fn set_elements(page: Page, text: String) {
    match parse_elements(&text) {
        Err(message) => page.app.error.set(Some(message)),
        Ok(elements) => {
            let spectra = page.spectra;
            if spectra
                .map_element
                .with_untracked(|m| m.as_ref().is_some_and(|m| !elements.contains(m)))
            {
                spectra.map_element.set(None);
            }
            spectra.elements.set(elements);
        }
    }
}

/// The sum spectrum and each class's mean spectrum (each scaled to its highest point), with
/// the marked elements' lines.
#[component]
fn SpectrumPlot() -> impl IntoView {
    let page = Page::from_context();
    let (spectra, labels) = (page.spectra, page.labels);
    let sum = Memo::new(move |_| {
        let loaded = spectra.loaded.get()?;
        let beam = loaded.map().and_then(|m| m.beam_kv);
        let sum = loaded.file.sum_spectrum()?;
        Some((sum.axis, sum.counts, beam))
    });
    move || {
        let (axis, sum, beam) = sum.get()?;
        let range = plotted_range(&axis, beam);
        let mut curves = vec![("sum".to_string(), "#c8c8c8".to_string(), sum)];
        let chips = spectra.chips.get().and_then(Result::ok);
        if let (Some(chips), Some(assignments)) = (chips, labels.assignments()) {
            let classes = labels.history.with(|h| h.current().classes.clone());
            let means = chips.class_means(&assignments, classes.len());
            curves.extend(classes.iter().zip(means).filter_map(|(class, mean)| {
                Some((class.name.clone(), class.colour.to_string(), mean?))
            }));
        }
        let markers = spectra.marked_lines(range);
        let x = move |kev: f64| (kev - range.0) / (range.1 - range.0) * PLOT.0;
        Some(view! {
            <figure class="pdf-plot" data-testid="spectrum-plot">
                <svg viewBox=format!("0 0 {} {}", PLOT.0, PLOT.1 + 14.0) role="img" aria-label="spectra">
                    <line x1=0 y1=PLOT.1 x2=PLOT.0 y2=PLOT.1 class="axis"/>
                    {ticks(range).into_iter().map(|kev| view! {
                        <text x=x(kev) y=PLOT.1 + 12.0 class="tick">{format!("{kev}")}</text>
                    }).collect_view()}
                    {markers.iter().map(|line| view! {
                        <line class="marker" data-testid="line-marker" x1=x(line.energy_kev) x2=x(line.energy_kev) y1=10 y2=PLOT.1/>
                        <text class="tick" x=x(line.energy_kev) + 1.0 y=9>{format!("{} {}", line.element, greek(line.line))}</text>
                    }).collect_view()}
                    {curves.iter().map(|(name, colour, counts)| view! {
                        <polyline data-testid="spectrum-curve" data-name=name.clone() points=polyline(counts, &axis, range) stroke=colour.clone()/>
                    }).collect_view()}
                </svg>
                <figcaption class="hint">
                    {"counts against energy (keV), each curve scaled to its peak — "}
                    {curves.iter().map(|(name, colour, _)| view! {
                        <span class="legend" style=format!("color: {colour}")>{format!("■ {name} ")}</span>
                    }).collect_view()}
                </figcaption>
            </figure>
        })
    }
}

/// From 0.1 keV (or the axis start) to the beam energy or 20 keV, whichever is lower (the
/// lines of interest lie below), inside the axis.
fn plotted_range(axis: &EnergyAxis, beam_kv: Option<f64>) -> (f64, f64) {
    let low = axis.offset_kev.max(0.1);
    let top = beam_kv.map_or(TOP_KEV, |kv| kv.min(TOP_KEV));
    let high = axis.energy(axis.channels).min(top);
    (low, high.max(low + axis.scale_kev))
}

/// Whole keV ticks, every 1, 2 or 5 keV so there are at most 10.
fn ticks((low, high): (f64, f64)) -> Vec<f64> {
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|step| (high - low) / step <= 10.0)
        .unwrap_or(20.0);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// "Kα" for "Ka", "Lβ1" for "Lb1".
fn greek(line: &str) -> String {
    line.replace('a', "α").replace('b', "β")
}

/// The counts inside `range` summed into at most [`POINTS`] bins, scaled so the highest bin
/// touches the top of the plot.
fn polyline(counts: &[f64], axis: &EnergyAxis, (low, high): (f64, f64)) -> String {
    let first = axis.channel_of(low).unwrap_or(0);
    let last = axis
        .channel_of(high)
        .unwrap_or(axis.channels.saturating_sub(1));
    let kept = &counts[first.min(counts.len())..(last + 1).min(counts.len())];
    let per_bin = kept.len().div_ceil(POINTS).max(1);
    let bins: Vec<f64> = kept.chunks(per_bin).map(|c| c.iter().sum()).collect();
    let peak = bins.iter().copied().fold(0.0, f64::max);
    let scale = if peak > 0.0 { PLOT.1 * 0.9 / peak } else { 0.0 };
    let step = PLOT.0 / bins.len().max(1) as f64;
    bins.iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1} ", (i as f64 + 0.5) * step, PLOT.1 - v * scale))
        .collect()
}

/// The element map's counts per map pixel, smoothed over about a chip's worth of map pixels
/// for display.
pub fn element_map_for_display(map: &SpectrumImage, counts: &[u32]) -> Vec<f32> {
    let values: Vec<f32> = counts.iter().map(|&n| n as f32).collect();
    let sigma = (map.width.max(map.height) as f32 / 256.0).max(1.0);
    chipscope_core::smoothing::gaussian_smooth(&values, map.width, sigma)
}
