//! Picks the compute backend at start: WebGPU when the browser gives an adapter, else the CPU
//! (on every core in the threaded build, see [`crate::threads`]).

use burn::tensor::{Device, Tensor};

use crate::threads::{self, CpuThreads};

/// Which backend runs the networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    #[cfg_attr(not(feature = "webgpu"), allow(dead_code))] // the threaded build has no WebGPU
    WebGpu,
    Cpu,
}

/// What runs the encoders on the CPU: Chipscope's own kernels, or one of burn's two CPU
/// backends; `?cpu=flex` or `?cpu=ndarray` in the URL picks burn's (for measurements), otherwise
/// [`CpuBackend::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuBackend {
    Kernels,
    Flex,
    Ndarray,
}

impl CpuBackend {
    /// The fastest in WebAssembly on our encoders (see the README's measurements).
    pub const DEFAULT: CpuBackend = CpuBackend::Kernels;

    /// The backend the URL asks for, or the default.
    pub fn from_url() -> Self {
        let search = leptos::prelude::window()
            .location()
            .search()
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        match params.and_then(|params| params.get("cpu")).as_deref() {
            Some("ndarray") => CpuBackend::Ndarray,
            Some("flex") => CpuBackend::Flex,
            _ => Self::DEFAULT,
        }
    }

    /// A device on this backend (Flex's for the kernels, which need none, so that what is made
    /// beside them lives on the CPU).
    pub fn device(self) -> Device {
        match self {
            CpuBackend::Kernels | CpuBackend::Flex => Device::flex(),
            #[allow(deprecated)] // kept to measure it against Flex
            CpuBackend::Ndarray => Device::ndarray(),
        }
    }

    /// "Chipscope's kernels", "Flex" or "ndarray".
    pub fn name(self) -> &'static str {
        match self {
            CpuBackend::Kernels => "Chipscope's kernels",
            CpuBackend::Flex => "Flex",
            CpuBackend::Ndarray => "ndarray",
        }
    }
}

/// The backend in use, its device, its CPU threads, and a line saying why or on what.
#[derive(Clone, Debug)]
pub struct BackendStatus {
    pub kind: BackendKind,
    pub device: Device,
    /// Threads the CPU encoders run on (1 on WebGPU, which needs none).
    pub threads: usize,
    /// What runs the encoders on the CPU; `None` on WebGPU.
    pub cpu: Option<CpuBackend>,
    pub detail: String,
}

impl BackendStatus {
    /// Short name for the page: "WebGPU" or "CPU".
    pub fn label(&self) -> &'static str {
        match self.kind {
            BackendKind::WebGpu => "WebGPU",
            BackendKind::Cpu => "CPU",
        }
    }

    /// Whether encoders run on Chipscope's kernels rather than burn.
    pub fn packed(&self) -> bool {
        self.cpu == Some(CpuBackend::Kernels)
    }

    /// The CPU on `threads`, with the reason it is not WebGPU.
    fn cpu(threads: &CpuThreads, reason: &str) -> Self {
        let backend = CpuBackend::from_url();
        BackendStatus {
            kind: BackendKind::Cpu,
            device: backend.device(),
            threads: threads.count,
            cpu: Some(backend),
            detail: format!(
                "{} in WebAssembly on {}; {reason}",
                backend.name(),
                threads.note
            ),
        }
    }

    /// The CPU fallback for when WebGPU fails mid-run (only the build with WebGPU, which runs
    /// the CPU on the main thread).
    #[cfg_attr(not(feature = "webgpu"), allow(dead_code))]
    pub fn cpu_fallback(reason: &str) -> Self {
        let threads = CpuThreads {
            count: 1,
            note: "1 thread (the WebGPU build)".to_string(),
        };
        Self::cpu(&threads, reason)
    }
}

/// Starts the CPU thread pool first (nothing may touch burn's CPU backends before it), then
/// initialises WebGPU asynchronously (as burn requires in a browser) and proves it with a small
/// reduction; falls back to burn's CPU backend, checked the same way, when that fails, or at
/// once when `avoid_webgpu` (WebGPU ended the page just before).
pub async fn select_backend(avoid_webgpu: bool) -> BackendStatus {
    let threads = threads::start().await;
    let gpu_failure = match avoid_webgpu {
        true => "WebGPU stopped the page with an error; reload to try it again".to_string(),
        false => match webgpu().await {
            Ok(status) => return status,
            Err(failure) => failure,
        },
    };
    let mut status = BackendStatus::cpu(&threads, &gpu_failure);
    if let Err(error) = self_check(&status.device).await {
        status.detail = format!("CPU self-check failed ({error}); {gpu_failure}");
    }
    status
}

/// WebGPU, checked, or why not.
#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<BackendStatus, String> {
    #[cfg(feature = "autotune")]
    set_autotune_budget();
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => match self_check(&device).await {
            Ok(()) => {
                let info = setup.adapter.get_info();
                Ok(BackendStatus {
                    kind: BackendKind::WebGpu,
                    device,
                    threads: 1,
                    cpu: None,
                    detail: format!(
                        "{} ({:?})",
                        adapter_name(&info.name, &info.driver),
                        setup.backend
                    ),
                })
            }
            Err(error) => Err(format!("WebGPU failed its self-check: {error}")),
        },
        Err(error) => Err(format!("WebGPU unavailable: {error}")),
    }
}

/// Bounds burn's kernel autotuning (CubeCL's configuration, set once before the device exists).
/// In the browser CubeCL tunes with a fixed count: every candidate kernel runs its warm-up and
/// then `max_samples` timed runs (10 by default) on each new input shape, so a first run of a
/// shape cost dozens of forward passes, minutes on a slow or emulated GPU. Two timed runs after
/// the warm-up still tell apart the candidates that differ by much (a depthwise or 1×1 kernel
/// against the direct one), and the minimal level groups nearby shapes under one key, so fewer
/// shapes are tuned at all.
#[cfg(feature = "autotune")]
fn set_autotune_budget() {
    use cubecl_runtime::config::autotune::AutotuneLevel;
    use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mut config = CubeClRuntimeConfig::default();
    config.autotune.level = AutotuneLevel::Minimal;
    config.autotune.bench.min_samples = 1;
    config.autotune.bench.max_samples = 2;
    // Kept if something set it first (a second backend selection in one page).
    CubeClRuntimeConfig::try_set(config);
}

/// The threaded build has no WebGPU: the loader chose it because the browser offered no adapter.
#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> Result<BackendStatus, String> {
    Err("no WebGPU adapter".to_string())
}

#[cfg(feature = "webgpu")]
fn adapter_name(name: &str, driver: &str) -> String {
    match (name.is_empty(), driver.is_empty()) {
        (false, _) => name.to_string(),
        (true, false) => driver.to_string(),
        (true, true) => "adapter details withheld by the browser".to_string(),
    }
}

/// Sums 1..=4 on `device` and reads the result back.
async fn self_check(device: &Device) -> Result<(), String> {
    let sum: f32 = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], device)
        .sum()
        .into_scalar_async()
        .await
        .map_err(|error| format!("{error:?}"))?;
    if (sum - 10.0).abs() < 1e-5 {
        Ok(())
    } else {
        Err(format!("1+2+3+4 gave {sum}"))
    }
}
