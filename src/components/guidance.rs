//! The guidance views: classes proposed by clustering (named, merged or dropped), the suggested
//! next chips under the classes (with Next and Skip), and the supports' leave-one-out check in
//! the results, whose flagged supports lead the eye to them.

use crate::app::AppState;
use crate::embedding::EmbeddingState;
use crate::guidance::{ShownProposal, support_quality};
use crate::labelling::LabelState;
use chipscope_core::fusion::Modality;
use chipscope_core::guide::proposals::K_RANGE;
use chipscope_core::guide::quality::SupportQuality;
use chipscope_core::labels::palette_colour;
use leptos::prelude::*;

/// The seed of the clusterings the page proposes (a session records it with k).
const PROPOSAL_SEED: u64 = 1;

/// Classes proposed before any label: Propose (k chosen or suggested), then each open cluster
/// with its colour and size, a name that makes it a class, a merge and a drop.
#[component]
pub fn Proposals() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let embedding = expect_context::<EmbeddingState>();
    let guide = labels.guide;
    let k = RwSignal::new(String::new());
    let propose = move |_| {
        let chosen = k.get_untracked().trim().parse::<usize>().ok();
        guide.wanted.set(Some((chosen, PROPOSAL_SEED)));
        if labels.fusion.with_untracked(|f| f.weighs(Modality::Image)) {
            embedding.start(app);
        }
    };
    let (low, high) = (*K_RANGE.start(), *K_RANGE.end());
    view! {
        <div class="proposals" data-testid="proposals">
            <div class="row">
                <button class="button secondary small" data-testid="propose" on:click=propose>"Propose classes"</button>
                <label class="row">
                    "clusters"
                    <input type="number" min=low max=high placeholder="auto" class="small-number"
                        data-testid="proposal-k" prop:value=move || k.get()
                        on:change=move |event| k.set(event_target_value(&event))/>
                </label>
            </div>
            {move || guide.wanted.get().map(|_| view! {
                <p class="hint" data-testid="proposal-status">"Clustering the chips once they are measured…"</p>
            })}
            {move || guide.proposal.get().map(|shown| view! { <ProposalList shown/> })}
        </div>
    }
}

/// The open clusters of a proposal, each a row to name, merge or drop.
#[component]
fn ProposalList(shown: ShownProposal) -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let guide = labels.guide;
    let settings = shown.proposal.settings;
    let how = match &shown.proposal.silhouettes {
        Some(scores) => {
            let best = scores
                .iter()
                .find(|(k, _)| *k == settings.k)
                .map_or(0.0, |s| s.1);
            format!(
                "{} clusters, the number the silhouette suggests ({best:.2}).",
                settings.k
            )
        }
        None => format!("{} clusters.", settings.k),
    };
    let open: Vec<usize> = (0..shown.open.len()).filter(|&c| shown.open[c]).collect();
    let rows = open
        .iter()
        .map(|&cluster| view! { <ClusterRow cluster open=open.clone() size=shown.proposal.clustering.members(cluster).len()/> })
        .collect_view();
    view! {
        <p class="hint" data-testid="proposal-summary">
            {how}" Name a cluster to make it a class with the chips nearest its centre as supports."
        </p>
        <ol class="clusters">{rows}</ol>
        <button class="button secondary small" data-testid="close-proposal"
            on:click=move |_| guide.proposal.set(None)>"Close the proposal"</button>
    }
}

/// One proposed cluster: its colour and chip count, a name field with "Make class", a merge
/// into another open cluster, and Drop.
#[component]
fn ClusterRow(cluster: usize, open: Vec<usize>, size: usize) -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let guide = labels.guide;
    let name = RwSignal::new(String::new());
    let adopt = move || {
        let name = name.get_untracked().trim().to_string();
        let Some(shown) = guide.proposal.get_untracked() else {
            return;
        };
        if name.is_empty() {
            return labels
                .notice
                .set(Some("Give the cluster a name first.".into()));
        }
        let supports = shown.supports(cluster);
        labels.edit(|l| {
            l.adopt_cluster(&name, &supports, shown.chip_size);
        });
        guide.proposal.update(|p| {
            if let Some(p) = p {
                p.open[cluster] = false;
            }
        });
    };
    let merge = move |event: leptos::ev::Event| {
        if let Ok(into) = event_target_value(&event).parse::<usize>() {
            guide.proposal.update(|p| {
                if let Some(p) = p {
                    p.merge(cluster, into);
                }
            });
        }
    };
    let others = open
        .iter()
        .filter(|&&c| c != cluster)
        .map(|&c| view! { <option value=c.to_string()>{format!("cluster {}", c + 1)}</option> })
        .collect_view();
    view! {
        <li class="cluster row" data-testid="cluster-row" data-cluster=cluster.to_string()>
            <span class="swatch" style=format!("background: {}", palette_colour(cluster))></span>
            <span>{format!("cluster {} · {size} chips", cluster + 1)}</span>
            <input type="text" placeholder="name" data-testid="cluster-name"
                on:input=move |event| name.set(event_target_value(&event))
                on:keydown=move |event: leptos::ev::KeyboardEvent| if event.key() == "Enter" { adopt() }/>
            <button class="button secondary small" data-testid="name-cluster" on:click=move |_| adopt()>"Make class"</button>
            <select data-testid="merge-cluster" title="merge into another cluster" on:change=merge>
                <option value="" selected>"merge into…"</option>
                {others}
            </select>
            <button class="button secondary small" data-testid="drop-cluster"
                on:click=move |_| guide.proposal.update(|p| if let Some(p) = p { p.open[cluster] = false; })>"Drop"</button>
        </li>
    }
}

/// The suggested next chips: how many are outlined, the one in focus and why, Next and Skip.
#[component]
pub fn Suggestions() -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let guide = labels.guide;
    let chip_size = move || labels.history.with_untracked(|h| h.current().chip_size);
    move || {
        let suggestions = guide.suggestions.get();
        (!suggestions.is_empty()).then(|| {
            let focus = guide.focus.get();
            let focused = suggestions
                .iter()
                .position(|(cell, _)| Some(*cell) == focus);
            let about = match focused {
                Some(rank) => {
                    let ([row, col], suggestion) = suggestions[rank];
                    format!(
                        "Suggestion {} of {}: chip [{row}, {col}], {}.",
                        rank + 1,
                        suggestions.len(),
                        suggestion.reason.describe()
                    )
                }
                None => format!(
                    "{} chips worth labelling next are outlined and numbered on the image.",
                    suggestions.len()
                ),
            };
            view! {
                <div class="suggestions" data-testid="suggestions">
                    <p class="hint" data-testid="suggestion-about">{about}</p>
                    <div class="row">
                        <button class="button secondary small" data-testid="next-suggestion"
                            title="N" on:click=move |_| guide.next()>"Next suggestion (N)"</button>
                        <button class="button secondary small" data-testid="skip-suggestion"
                            title="X" disabled=focused.is_none()
                            on:click=move |_| guide.skip(chip_size())>"Skip it (X)"</button>
                    </div>
                </div>
            }
        })
    }
}

/// The supports checked by leave-one-out: the score, the confusion between classes and the
/// supports that look like another class, each with a button that leads the eye to it.
#[component]
pub fn SupportCheck() -> impl IntoView {
    let app = expect_context::<AppState>();
    let labels = expect_context::<LabelState>();
    let quality = Memo::new(move |_| {
        let segmentation = labels.segmentation.get()?;
        let cols = app.grid()?.cols();
        labels
            .history
            .with(|h| support_quality(&segmentation, h.current(), cols))
    });
    move || {
        let quality = quality.get()?;
        let names: Vec<String> = labels
            .history
            .with(|h| h.current().classes.iter().map(|c| c.name.clone()).collect());
        Some(view! {
            <div class="support-check" data-testid="support-check">
                <h3>"Supports"</h3>
                <p class="hint" data-testid="support-score">{score(&quality)}</p>
                {confusion_table(&quality, &names)}
                <Flagged quality=quality.clone() names/>
            </div>
        })
    }
}

/// The leave-one-out score in words.
fn score(quality: &SupportQuality) -> String {
    match quality.accuracy() {
        Some(accuracy) => format!(
            "Leave-one-out: {} of {} supports are classified as their class by the others ({:.0} %).",
            quality.correct(),
            quality.checked(),
            accuracy * 100.0
        ),
        None => "Give a class two supports or more to check them against each other.".into(),
    }
}

/// Rows: the class clicked; columns: the class the other supports give.
fn confusion_table(quality: &SupportQuality, names: &[String]) -> Option<impl IntoView + use<>> {
    (quality.checked() > 0).then(|| {
        let head = names
            .iter()
            .map(|n| view! { <th>{n.clone()}</th> })
            .collect_view();
        let rows = quality
            .confusion
            .iter()
            .zip(names)
            .map(|(row, name)| {
                let cells = row.iter().map(|n| view! { <td>{*n}</td> }).collect_view();
                view! { <tr><th>{name.clone()}</th>{cells}</tr> }
            })
            .collect_view();
        view! {
            <table class="confusion" data-testid="support-confusion">
                <caption>"clicked as (rows) · given by the others (columns)"</caption>
                <tr><th></th>{head}</tr>
                {rows}
            </table>
        }
    })
}

/// The supports the others put in another class, each with a button to look at it.
#[component]
fn Flagged(quality: SupportQuality, names: Vec<String>) -> impl IntoView {
    let labels = expect_context::<LabelState>();
    let app = expect_context::<AppState>();
    let cols = app.grid().map_or(1, |grid| grid.cols());
    quality
        .flagged()
        .map(|check| {
            let cell = [check.chip / cols, check.chip % cols];
            let text = format!(
                "Chip [{}, {}], clicked as {}, looks like {}: a wrong click?",
                cell[0],
                cell[1],
                names[check.class],
                names[check.held_out.expect("flagged")]
            );
            view! {
                <p class="warning" data-testid="flagged-support">
                    {text}" "
                    <button class="button secondary small" data-testid="show-flagged"
                        on:click=move |_| labels.guide.show(Some(cell))>"Show"</button>
                </p>
            }
        })
        .collect_view()
}
