//! Run-time backend choice: a device spec picks the backend, and the requested command
//! runs monomorphised for it. Backends are compiled in by Cargo features.

use core::fmt;
use core::str::FromStr;

use burn::tensor::backend::AutodiffBackend;
use entrannas_search::bench::{MemoryProbe, ProcessPeakRss, SampledProbe};

use crate::error::CliError;

/// A backend family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's `flex` CPU backend.
    Flex,
    /// burn's `ndarray` CPU backend.
    Ndarray,
    /// wgpu with WGSL shaders (Vulkan, Metal, DX12 underneath).
    Wgpu,
    /// wgpu compiling SPIR-V for Vulkan.
    Vulkan,
    /// wgpu compiling MSL for Metal.
    Metal,
    /// CUDA through CubeCL.
    Cuda,
    /// libtorch.
    Tch,
}

impl BackendKind {
    /// Every backend, in the order `entrannas info` lists them.
    pub const ALL: [BackendKind; 7] = [
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Wgpu,
        BackendKind::Vulkan,
        BackendKind::Metal,
        BackendKind::Cuda,
        BackendKind::Tch,
    ];

    /// The name in device specs, which is also the Cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Vulkan => "vulkan",
            BackendKind::Metal => "metal",
            BackendKind::Cuda => "cuda",
            BackendKind::Tch => "tch",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Vulkan => cfg!(feature = "vulkan"),
            BackendKind::Metal => cfg!(feature = "metal"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
            BackendKind::Tch => cfg!(feature = "tch"),
        }
    }

    /// Whether it runs on the CPU.
    pub fn is_cpu(self) -> bool {
        matches!(self, BackendKind::Flex | BackendKind::Ndarray)
    }
}

/// A device spec: `flex`, `ndarray`, `wgpu[:N]`, `vulkan[:N]`, `metal`, `cuda[:N]`,
/// `tch` (CPU), `tch:cuda[:N]`, or `cpu` for the default CPU backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// The backend.
    pub kind: BackendKind,
    /// Device index (GPU number); `None` for the default device.
    pub index: Option<usize>,
    /// For `tch`: run on CUDA.
    pub tch_cuda: bool,
}

/// The CPU backend used when no device is given: the faster of the two on a search
/// step (see `docs/BENCHMARKS.md`), if compiled in.
pub fn default_cpu() -> BackendKind {
    if cfg!(feature = "flex") {
        BackendKind::Flex
    } else {
        BackendKind::Ndarray
    }
}

impl Default for DeviceSpec {
    fn default() -> Self {
        Self {
            kind: default_cpu(),
            index: None,
            tch_cuda: false,
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if self.tch_cuda {
            f.write_str(":cuda")?;
        }
        if let Some(i) = self.index {
            write!(f, ":{i}")?;
        }
        Ok(())
    }
}

impl FromStr for DeviceSpec {
    type Err = CliError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = || {
            CliError::Usage(format!(
                "invalid device `{spec}`; valid: cpu, flex, ndarray, wgpu[:N], vulkan[:N], metal, cuda[:N], tch, tch:cuda[:N]"
            ))
        };
        let mut parts = spec.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let kind = match name {
            "cpu" => default_cpu(),
            _ => *BackendKind::ALL
                .iter()
                .find(|k| k.name() == name)
                .ok_or_else(bad)?,
        };
        let mut rest: Vec<&str> = parts.collect();
        let tch_cuda = kind == BackendKind::Tch && rest.first() == Some(&"cuda");
        if tch_cuda {
            rest.remove(0);
        }
        let index = match rest.as_slice() {
            [] => None,
            [n] if !kind.is_cpu() && kind != BackendKind::Tch || tch_cuda => {
                Some(n.parse::<usize>().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(Self {
            kind,
            index,
            tch_cuda,
        })
    }
}

/// A command that runs on whichever backend the device spec names.
pub trait BackendTask {
    /// What the command returns.
    type Output;
    /// Runs on backend `B` and `device`; `label` describes both for logs and records.
    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Self::Output;
}

/// A command that runs on several devices of one backend (data-parallel search).
pub trait DevicesTask {
    /// What the command returns.
    type Output;
    /// Runs on backend `B` and `devices` (at least one); `label` describes them.
    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, label: &str) -> Self::Output;
}

/// Runs `task` on the backend and device of `spec`. A backend not compiled into this
/// binary is an error naming the Cargo feature that adds it.
pub fn dispatch<T: BackendTask>(spec: &DeviceSpec, task: T) -> Result<T::Output, CliError> {
    struct One<T>(T);
    impl<T: BackendTask> DevicesTask for One<T> {
        type Output = T::Output;
        fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, label: &str) -> T::Output {
            let device = devices
                .into_iter()
                .next()
                .expect("dispatch passes one device");
            self.0.run::<B>(device, label)
        }
    }
    dispatch_devices(std::slice::from_ref(spec), One(task))
}

/// Parses a comma-separated list of device specs of one backend, each device once:
/// `cuda:0,cuda:1`. A CPU backend has a single device.
pub fn parse_devices(list: &str) -> Result<Vec<DeviceSpec>, CliError> {
    let specs = list
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<DeviceSpec>, _>>()?;
    let first = &specs[0];
    if let Some(other) = specs
        .iter()
        .find(|s| (s.kind, s.tch_cuda) != (first.kind, first.tch_cuda))
    {
        return Err(CliError::Usage(format!(
            "devices `{list}` mix backends ({first} and {other}); data-parallel devices must all be of one backend"
        )));
    }
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].contains(spec) {
            return Err(CliError::Usage(format!(
                "device {spec} is listed twice in `{list}`; to split batches on one device, give it once and set --shards"
            )));
        }
    }
    Ok(specs)
}

/// Runs `task` on the devices of `specs` (one backend, at least one device; see
/// [`parse_devices`]). A backend not compiled into this binary is an error naming the
/// Cargo feature that adds it.
pub fn dispatch_devices<T: DevicesTask>(
    specs: &[DeviceSpec],
    task: T,
) -> Result<T::Output, CliError> {
    let Some(first) = specs.first() else {
        return Err(CliError::Usage("no device given".into()));
    };
    if !first.kind.compiled() {
        return Err(CliError::BackendMissing(first.kind.name()));
    }
    let label = specs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    #[allow(unused_variables)]
    let indices: Vec<usize> = specs.iter().map(|s| s.index.unwrap_or(0)).collect();
    #[cfg(any(feature = "wgpu", feature = "vulkan", feature = "metal"))]
    let wgpu_devices = || {
        specs
            .iter()
            .map(|s| wgpu_device(s.index))
            .collect::<Vec<_>>()
    };
    match first.kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => Ok(task
            .run::<burn::backend::Autodiff<burn::backend::Flex>>(vec![Default::default()], &label)),
        #[cfg(feature = "ndarray")]
        BackendKind::Ndarray => Ok(task
            .run::<burn::backend::Autodiff<burn::backend::NdArray<f32>>>(
                vec![burn::backend::ndarray::NdArrayDevice::Cpu],
                &label,
            )),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => {
            Ok(task.run::<burn::backend::Autodiff<burn::backend::Wgpu>>(wgpu_devices(), &label))
        }
        #[cfg(feature = "vulkan")]
        BackendKind::Vulkan => {
            Ok(task.run::<burn::backend::Autodiff<burn::backend::Vulkan>>(wgpu_devices(), &label))
        }
        #[cfg(feature = "metal")]
        BackendKind::Metal => {
            Ok(task.run::<burn::backend::Autodiff<burn::backend::Metal>>(wgpu_devices(), &label))
        }
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Ok(task.run::<burn::backend::Autodiff<burn::backend::Cuda>>(
            indices
                .iter()
                .map(|&i| burn::backend::cuda::CudaDevice::new(i))
                .collect(),
            &label,
        )),
        #[cfg(feature = "tch")]
        BackendKind::Tch => {
            let devices = if first.tch_cuda {
                indices
                    .iter()
                    .map(|&i| burn::backend::libtorch::LibTorchDevice::Cuda(i))
                    .collect()
            } else {
                vec![burn::backend::libtorch::LibTorchDevice::Cpu]
            };
            Ok(task.run::<burn::backend::Autodiff<burn::backend::LibTorch>>(devices, &label))
        }
        #[allow(unreachable_patterns)]
        _ => Err(CliError::BackendMissing(first.kind.name())),
    }
}

/// What measures the memory of a run on the device `label` names (as the backends
/// print it): the largest sample of `device_pool` (a GPU's memory pool, from
/// [`device_memory_reader`]) when there is one, the process's peak resident size on the
/// CPU backends, nothing otherwise (libtorch).
pub fn memory_probe(
    label: &str,
    device_pool: Option<Box<dyn FnMut() -> Option<u64>>>,
) -> Option<Box<dyn MemoryProbe>> {
    match device_pool {
        Some(read) => Some(Box::new(SampledProbe::new(read))),
        None if label.starts_with("flex") || label.starts_with("ndarray") => {
            Some(Box::new(ProcessPeakRss::new()))
        }
        None => None,
    }
}

/// Reads the bytes that the GPU memory pool of `spec`'s device holds (CubeCL's
/// `bytes_reserved`: what the process has taken from the driver, freed or not), for
/// the backends that keep one: `cuda`, `wgpu`, `vulkan`, `metal`; for `tch:cuda`, what
/// `nvidia-smi` says this process holds on the GPU (libtorch's cache and the CUDA
/// context). `None` for the CPU backends.
pub fn device_memory_reader(spec: &DeviceSpec) -> Option<Box<dyn FnMut() -> Option<u64>>> {
    match spec.kind {
        #[cfg(feature = "tch")]
        BackendKind::Tch if spec.tch_cuda => {
            let index = spec.index.unwrap_or(0);
            Some(Box::new(move || crate::memory::process_gpu_used(index)))
        }
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => {
            let device = burn::backend::cuda::CudaDevice::new(spec.index.unwrap_or(0));
            Some(Box::new(move || {
                pool_reserved::<burn::cubecl::cuda::CudaRuntime>(&device)
            }))
        }
        #[cfg(any(feature = "wgpu", feature = "vulkan", feature = "metal"))]
        BackendKind::Wgpu | BackendKind::Vulkan | BackendKind::Metal => {
            let device = wgpu_device(spec.index);
            Some(Box::new(move || {
                pool_reserved::<burn::backend::wgpu::WgpuRuntime>(&device)
            }))
        }
        _ => None,
    }
}

#[cfg(any(
    feature = "cuda",
    feature = "wgpu",
    feature = "vulkan",
    feature = "metal"
))]
fn pool_reserved<R: burn::cubecl::Runtime>(device: &R::Device) -> Option<u64> {
    R::client(device)
        .memory_usage()
        .ok()
        .map(|usage| usage.bytes_reserved)
}

#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "metal"))]
fn wgpu_device(index: Option<usize>) -> burn::backend::wgpu::WgpuDevice {
    match index {
        Some(i) => burn::backend::wgpu::WgpuDevice::DiscreteGpu(i),
        None => burn::backend::wgpu::WgpuDevice::DefaultDevice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s: DeviceSpec = "cuda:1".parse().unwrap();
        assert_eq!((s.kind, s.index), (BackendKind::Cuda, Some(1)));
        let s: DeviceSpec = "tch:cuda".parse().unwrap();
        assert!(s.tch_cuda && s.kind == BackendKind::Tch);
        assert_eq!("tch:cuda:2".parse::<DeviceSpec>().unwrap().index, Some(2));
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap().kind, default_cpu());
        for bad in ["gpu", "cuda:x", "flex:1", "ndarray:0:1", ""] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
        assert_eq!(
            "vulkan:0".parse::<DeviceSpec>().unwrap().to_string(),
            "vulkan:0"
        );
    }

    #[test]
    fn device_lists_parse_one_backend_each_device_once() {
        let specs = parse_devices("cuda:0,cuda:1").unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            (specs[1].kind, specs[1].index),
            (BackendKind::Cuda, Some(1))
        );
        assert_eq!(parse_devices("flex").unwrap(), vec![DeviceSpec::default()]);
        let err = |list: &str| parse_devices(list).unwrap_err().to_string();
        assert!(err("cuda:0,vulkan:1").contains("mix backends"));
        assert!(err("tch:cuda:0,tch").contains("mix backends"));
        assert!(err("cuda:1,cuda:1").contains("listed twice"));
        assert!(err("cuda:0,").contains("invalid device"));
    }

    /// Gradients of `ln(x)` and of `1 / x` (both `1 / x` and `-1 / x^2` involve a
    /// reciprocal), as float32, for `n` positive values.
    struct ReciprocalGradients(usize);
    impl BackendTask for ReciprocalGradients {
        type Output = (Vec<f64>, Vec<f32>, Vec<f32>);
        fn run<B: AutodiffBackend>(self, device: B::Device, _: &str) -> Self::Output {
            use burn::tensor::{Tensor, TensorData};
            let values: Vec<f64> = (0..self.0).map(|i| 0.3 + 0.173 * i as f64).collect();
            let input = || {
                let data = TensorData::new(values.iter().map(|v| *v as f32).collect(), [self.0]);
                Tensor::<B, 1>::from_data(data, &device).require_grad()
            };
            let grad = |x: &Tensor<B, 1>, grads: &B::Gradients| {
                x.grad(grads).unwrap().into_data().to_vec::<f32>().unwrap()
            };
            let x = input();
            let of_log = grad(&x, &x.clone().log().sum().backward());
            let x = input();
            let of_ratio = grad(&x, &x.ones_like().div(x.clone()).sum().backward());
            let exact = values.iter().map(|v| f64::from(*v as f32)).collect();
            (exact, of_log, of_ratio)
        }
    }

    #[test]
    fn every_cpu_backend_differentiates_log_and_division_exactly() {
        // burn-ndarray's SIMD reciprocal is a hardware estimate (12 bits on AVX2): with
        // it, both gradients were off by up to 1.5e-4, on tensors of 32 elements or more.
        for kind in [BackendKind::Flex, BackendKind::Ndarray] {
            if !kind.compiled() {
                continue;
            }
            let spec = DeviceSpec {
                kind,
                ..DeviceSpec::default()
            };
            for n in [7, 32, 33, 100, 257] {
                let (exact, of_log, of_ratio) = dispatch(&spec, ReciprocalGradients(n)).unwrap();
                for ((x, d_log), d_ratio) in exact.iter().zip(&of_log).zip(&of_ratio) {
                    let (d_log, d_ratio) = (f64::from(*d_log), f64::from(*d_ratio));
                    let (want_log, want_ratio) = (1.0 / x, -1.0 / (x * x));
                    assert!(
                        approx::relative_eq!(d_log, want_log, max_relative = 2e-7),
                        "{}, {n} values: d ln(x)/dx at {x} is {d_log}, not {want_log}",
                        kind.name()
                    );
                    assert!(
                        approx::relative_eq!(d_ratio, want_ratio, max_relative = 4e-7),
                        "{}, {n} values: d(1/x)/dx at {x} is {d_ratio}, not {want_ratio}",
                        kind.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_backend_not_compiled_names_its_feature() {
        if !BackendKind::Cuda.compiled() {
            struct Nothing;
            impl BackendTask for Nothing {
                type Output = ();
                fn run<B: AutodiffBackend>(self, _: B::Device, _: &str) {}
            }
            let err = dispatch(&"cuda".parse().unwrap(), Nothing)
                .unwrap_err()
                .to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
}
