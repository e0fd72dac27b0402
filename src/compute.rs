//! Picks the compute backend at start: WebGPU when the browser gives an adapter, else the CPU.

use burn::tensor::{Device, Tensor};

/// Which backend runs the networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    WebGpu,
    Cpu,
}

/// The backend in use and a line saying why or on what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendStatus {
    pub kind: BackendKind,
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
}

/// Initialises WebGPU asynchronously (as burn requires in a browser) and proves it with a small
/// reduction; falls back to burn's CPU backend, checked the same way, when that fails.
pub async fn select_backend() -> BackendStatus {
    let gpu_failure = match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => match self_check(&device).await {
            Ok(()) => {
                let info = setup.adapter.get_info();
                return BackendStatus {
                    kind: BackendKind::WebGpu,
                    detail: format!(
                        "{} ({:?})",
                        adapter_name(&info.name, &info.driver),
                        setup.backend
                    ),
                };
            }
            Err(error) => format!("WebGPU failed its self-check: {error}"),
        },
        Err(error) => format!("WebGPU unavailable: {error}"),
    };
    #[allow(deprecated)]
    // ndarray is the stack's CPU backend until the encoder work compares it with Flex
    let cpu = Device::ndarray();
    let detail = match self_check(&cpu).await {
        Ok(()) => format!("ndarray in WebAssembly; {gpu_failure}"),
        Err(error) => format!("CPU self-check failed ({error}); {gpu_failure}"),
    };
    BackendStatus {
        kind: BackendKind::Cpu,
        detail,
    }
}

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
