//! How many threads run the CPU encoders, and the one way CPU work leaves the main thread.
//!
//! Two builds of the page exist (scripts/build-web.sh). The threaded one (`--features threads`,
//! in `dist/threads/`) shares its WebAssembly memory with a pool of Web Workers
//! (wasm-bindgen-rayon), so burn's Flex kernels use every core; `public/loader.js` loads it when
//! the page is cross-origin isolated and the browser offers no WebGPU adapter. The default build
//! has WebGPU and runs the CPU on the main thread, yielding between network stages.
//!
//! In the threaded build the main thread must never run a burn CPU operation: rayon would block
//! it while the pool works (browsers forbid the main thread to wait), and one that ran before
//! the pool started would pin rayon to a single thread. So the pool starts before anything else
//! touches burn, and every CPU forward pass goes through [`off_main`].

/// The threads the CPU encoders run on, and why that many (for the backend badge).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuThreads {
    /// Threads in the pool; 1 when the work runs on the main thread.
    pub count: usize,
    /// How many, and why no more: "4 threads", "1 thread (the page is not cross-origin isolated)".
    pub note: String,
}

/// Starts the thread pool with one worker per core the browser reports (threaded build), or
/// says why this build runs on one thread, as `public/loader.js` recorded when it chose it.
pub async fn start() -> CpuThreads {
    #[cfg(feature = "threads")]
    {
        pool::start().await
    }
    #[cfg(not(feature = "threads"))]
    {
        let why = loader_note().unwrap_or_else(|| "this build has no thread pool".to_string());
        CpuThreads {
            count: 1,
            note: format!("1 thread ({why})"),
        }
    }
}

/// Runs `job` on the thread pool and waits for it without blocking the page; where there is no
/// pool, runs it here and now.
pub async fn off_main<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
    #[cfg(feature = "threads")]
    if pool::started() {
        return pool::run(job).await;
    }
    job()
}

/// Whether CPU work runs on the pool (and so may take longer steps than the main thread could).
pub fn pooled() -> bool {
    #[cfg(feature = "threads")]
    {
        pool::started()
    }
    #[cfg(not(feature = "threads"))]
    {
        false
    }
}

/// `window.chipscopeBuild.why`: the loader's reason for loading the build without threads.
#[cfg(not(feature = "threads"))]
fn loader_note() -> Option<String> {
    let build = js_sys::Reflect::get(&leptos::prelude::window(), &"chipscopeBuild".into()).ok()?;
    js_sys::Reflect::get(&build, &"why".into())
        .ok()
        .as_ref()
        .and_then(wasm_bindgen::JsValue::as_string)
}

#[cfg(feature = "threads")]
mod pool {
    use std::sync::atomic::{AtomicBool, Ordering};

    use wasm_bindgen_futures::JsFuture;

    use super::CpuThreads;

    static STARTED: AtomicBool = AtomicBool::new(false);

    pub fn started() -> bool {
        STARTED.load(Ordering::Acquire)
    }

    pub async fn start() -> CpuThreads {
        let cores = leptos::prelude::window()
            .navigator()
            .hardware_concurrency()
            .max(1.0) as usize;
        match JsFuture::from(wasm_bindgen_rayon::init_thread_pool(cores)).await {
            Ok(_) => {
                STARTED.store(true, Ordering::Release);
                let unit = if cores == 1 { "thread" } else { "threads" };
                CpuThreads {
                    count: cores,
                    note: format!("{cores} {unit}"),
                }
            }
            Err(error) => CpuThreads {
                count: 1,
                note: format!("1 thread (the thread pool did not start: {error:?})"),
            },
        }
    }

    /// `job` on a pool thread; the answer comes back through a channel whose sender wakes this
    /// task across threads (wasm-bindgen-futures' executor handles wake-ups from workers).
    pub async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = futures_channel::oneshot::channel();
        rayon::spawn(move || {
            // The receiver outlives the job: the page awaits it.
            let _ = sender.send(job());
        });
        // The sender is dropped unsent only if the job panicked, and a panic aborts the module.
        receiver
            .await
            .expect("the pool runs every job to its end or aborts")
    }
}
