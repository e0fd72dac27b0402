//! Says which compute backend the page picked at start.

use crate::app::AppState;
use crate::compute::BackendKind;
use leptos::prelude::*;

/// "Compute: WebGPU" or "Compute: CPU · 4 threads", with the reason in a tooltip and below.
#[component]
pub fn BackendBadge() -> impl IntoView {
    let status = expect_context::<AppState>().backend;
    move || {
        match status.get() {
        None => view! { <span class="backend pending" data-testid="backend" data-backend="pending">"Compute: detecting…"</span> }.into_any(),
        Some(status) => {
            let kind = if status.kind == BackendKind::WebGpu { "webgpu" } else { "cpu" };
            let threads = match (status.kind, status.threads) {
                (BackendKind::WebGpu, _) => String::new(),
                (BackendKind::Cpu, 1) => " · 1 thread".to_string(),
                (BackendKind::Cpu, n) => format!(" · {n} threads"),
            };
            view! {
                <span class=format!("backend {kind}") data-testid="backend" data-backend=kind data-threads=status.threads title=status.detail.clone()>
                    {format!("Compute: {}{threads}", status.label())}
                    <small>{status.detail.clone()}</small>
                </span>
            }
            .into_any()
        }
    }
    }
}
