//! `entrannas info`: compiled backends and the devices they can open.

use std::any::Any;
use std::panic;
#[cfg(any(test, feature = "tch"))]
use std::path::{Path, PathBuf};
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
    // CubeCL's GPU backends compile kernels at run time; libtorch and the CPU do not.
    if BackendKind::ALL
        .iter()
        .any(|k| k.compiled() && !k.is_cpu() && *k != BackendKind::Tch)
    {
        println!(
            "GPU kernel cache: {}",
            crate::kernel_cache::KernelCache::current()
        );
    }
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
        #[cfg(feature = "tch")]
        if kind == BackendKind::Tch && status == "available" {
            println!("           {}", libtorch_details());
        }
    }
    Ok(())
}

/// Which libtorch the process loaded and what it sees: the PyTorch version, the
/// library's folder, CUDA devices and cuDNN.
#[cfg(feature = "tch")]
fn libtorch_details() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let library = loaded_library(&maps, "libtorch_cpu.so");
    let version = library
        .as_deref()
        .and_then(pytorch_version)
        .unwrap_or_else(|| "of unknown version".into());
    let folder = library
        .as_deref()
        .and_then(Path::parent)
        .map_or("a folder not found".into(), |p| p.display().to_string());
    let cuda = if tch::Cuda::is_available() {
        format!(
            "CUDA: {} device(s), cuDNN {}",
            tch::Cuda::device_count(),
            if tch::Cuda::cudnn_is_available() {
                "available"
            } else {
                "unavailable"
            }
        )
    } else {
        "CUDA: unavailable (CPU only)".into()
    };
    format!("libtorch: PyTorch {version} from {folder}; {cuda}")
}

/// The path of the loaded shared library whose file name starts with `name`, in the
/// text of `/proc/self/maps` (one mapping per line, the path last).
#[cfg(any(test, feature = "tch"))]
fn loaded_library(maps: &str, name: &str) -> Option<PathBuf> {
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(Path::new)
        .find(|path| {
            path.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(name))
        })
        .map(Path::to_path_buf)
}

/// The PyTorch version of the libtorch at `library` (its `lib` folder's file): the
/// pip package's `torch/version.py` (`__version__ = '2.11.0+cu130'`), else a libtorch
/// archive's `build-version` file.
#[cfg(any(test, feature = "tch"))]
fn pytorch_version(library: &Path) -> Option<String> {
    let root = library.parent()?.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let version = text.lines().find_map(|line| {
            let value = line.strip_prefix("__version__")?.trim_start();
            let value = value.strip_prefix('=')?.trim();
            Some(value.trim_matches(|c| c == '\'' || c == '"').to_string())
        });
        if version.is_some() {
            return version;
        }
    }
    std::fs::read_to_string(root.join("build-version"))
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaded_libtorch_is_found_in_the_memory_maps() {
        let maps = "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                    7f02-7f03 r--p 00000000 08:01 13 /opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so\n\
                    7f04-7f05 rw-p 00000000 00:00 0 \n";
        assert_eq!(
            loaded_library(maps, "libtorch_cpu.so"),
            Some(PathBuf::from(
                "/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so"
            ))
        );
        assert_eq!(loaded_library(maps, "libtorch_cuda.so"), None);
    }

    #[test]
    fn the_pytorch_version_is_read_beside_the_library() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp.path().join("torch/lib");
        std::fs::create_dir_all(&lib).unwrap();
        let library = lib.join("libtorch_cpu.so");
        assert_eq!(pytorch_version(&library), None);
        // A libtorch archive.
        std::fs::write(tmp.path().join("torch/build-version"), "2.9.0+cpu\n").unwrap();
        assert_eq!(pytorch_version(&library).as_deref(), Some("2.9.0+cpu"));
        // A pip package wins.
        std::fs::write(
            tmp.path().join("torch/version.py"),
            "from typing import Optional\n__version__ = '2.11.0+cu130'\ngit_version = 'abc'\n",
        )
        .unwrap();
        assert_eq!(pytorch_version(&library).as_deref(), Some("2.11.0+cu130"));
    }
}
