//! Chipscope's web app: a Leptos single-page app compiled to WebAssembly. UI components hold view
//! state only and call `chipscope-core` for everything they show.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod atoms;
#[cfg(target_arch = "wasm32")]
mod autosave;
// The benchmark hook, only in a bench build (`--features bench`; scripts/bench-classify.sh).
#[cfg(all(target_arch = "wasm32", feature = "bench"))]
mod bench;
#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod compute;
#[cfg(target_arch = "wasm32")]
mod crash;
#[cfg(target_arch = "wasm32")]
mod download;
#[cfg(target_arch = "wasm32")]
mod embedding;
#[cfg(target_arch = "wasm32")]
mod frames;
#[cfg(target_arch = "wasm32")]
mod guidance;
#[cfg(target_arch = "wasm32")]
mod labelling;
#[cfg(target_arch = "wasm32")]
mod links;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod loading;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod project;
#[cfg(target_arch = "wasm32")]
mod project_run;
#[cfg(target_arch = "wasm32")]
mod ready;
#[cfg(target_arch = "wasm32")]
mod session_io;
#[cfg(target_arch = "wasm32")]
mod spectra;
#[cfg(target_arch = "wasm32")]
mod threads;
#[cfg(target_arch = "wasm32")]
mod weights_fetch;
// Pure geometry, also tested natively.
#[cfg(any(target_arch = "wasm32", test))]
mod zoom;

#[cfg(target_arch = "wasm32")]
fn main() {
    crash::install();
    #[cfg(feature = "bench")]
    bench::install();
    leptos::mount::mount_to_body(components::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "chipscope-web runs in the browser: build and serve it with `bash scripts/serve.sh`."
    );
    std::process::exit(2);
}
