//! `entrannas info`: compiled backends and the devices they can open.

use std::any::Any;
use std::panic;
use std::sync::{Arc, Mutex};

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::backend::{BackendKind, BackendTask, DeviceSpec, default_cpu, dispatch};
use crate::error::CliError;

/// Opens a device and runs one small computation on it.
struct Probe;

impl BackendTask for Probe {
    type Output = ();
    fn run<B: AutodiffBackend>(self, device: B::Device, _label: &str) {
        let x = Tensor::<B, 2>::ones([4, 4], &device);
        let _ = x.clone().matmul(x).sum().into_data();
    }
}

/// Runs `entrannas info`.
pub fn run() -> Result<(), CliError> {
    println!("entrannas {} (burn 0.21.0)", env!("CARGO_PKG_VERSION"));
    println!("default device: {} (`cpu`)", default_cpu().name());
    println!(
        "GPU kernel cache: {}",
        crate::kernel_cache::KernelCache::current()
    );
    println!("backends (device spec: status):");
    for kind in BackendKind::ALL {
        if !kind.compiled() {
            println!(
                "  {:<8} not compiled (Cargo feature `{}`)",
                kind.name(),
                kind.name()
            );
            continue;
        }
        let spec = DeviceSpec {
            kind,
            index: None,
            tch_cuda: false,
        };
        if let Some(missing) = missing_runtime_library(kind) {
            println!("  {:<8} unavailable: {missing}", kind.name());
            continue;
        }
        // Opening a GPU without a driver panics inside the backend, often on CubeCL's
        // device thread, after which the caller sees only a closed channel: report the
        // first panic of any thread instead.
        let first_panic = Arc::new(Mutex::new(None::<String>));
        let hook = panic::take_hook();
        let seen = Arc::clone(&first_panic);
        panic::set_hook(Box::new(move |info| {
            let mut first = seen.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(panic_text(info.payload()));
            }
        }));
        let outcome = panic::catch_unwind(|| dispatch(&spec, Probe));
        panic::set_hook(hook);
        let first = first_panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        let status = match outcome {
            Ok(Ok(())) => "available".to_string(),
            Ok(Err(e)) => format!("unavailable: {e}"),
            Err(panic) => format!(
                "unavailable: {}",
                first.unwrap_or_else(|| panic_text(panic.as_ref()))
            ),
        };
        let syntax = match kind {
            BackendKind::Flex | BackendKind::Ndarray => kind.name().to_string(),
            BackendKind::Tch => "tch, tch:cuda[:N]".into(),
            BackendKind::Metal => "metal".into(),
            _ => format!("{}[:N]", kind.name()),
        };
        println!("  {:<8} {status} (device spec: {syntax})", kind.name());
    }
    Ok(())
}

/// The first line of a panic's message.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the backend panicked".into());
    message.lines().next().unwrap_or_default().to_string()
}

/// The shared library a backend loads at run time that cannot be found, if any. CUDA
/// opens the driver (`libcuda.so`) and NVRTC (`libnvrtc.so.13`, which compiles every
/// kernel) lazily, and a missing one surfaces only as a panic inside CubeCL's device
/// thread; naming it here says what to install or put on `LD_LIBRARY_PATH`.
#[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
fn missing_runtime_library(kind: BackendKind) -> Option<String> {
    #[cfg(feature = "cuda")]
    if kind == BackendKind::Cuda {
        // SAFETY: only loads (and unloads) the libraries CubeCL itself loads by the same
        // names; no symbol is called.
        let (driver, nvrtc) = unsafe {
            (
                cudarc::driver::sys::is_culib_present(),
                cudarc::nvrtc::sys::is_culib_present(),
            )
        };
        if !driver {
            return Some("no NVIDIA driver library (libcuda.so) found".into());
        }
        if !nvrtc {
            return Some(
                "no NVRTC library (libnvrtc.so.13) found: add the CUDA 13 toolkit's lib64 \
                 (/usr/local/cuda/lib64) to LD_LIBRARY_PATH"
                    .into(),
            );
        }
    }
    None
}
