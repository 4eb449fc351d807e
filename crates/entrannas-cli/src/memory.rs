//! The pre-flight memory check of `search` and `train`: the estimate from the
//! configuration (`entrannas_search::memory`, `entrannas_eval::memory`) against the
//! memory the process can have on its device.

use std::fs;
use std::process::Command;

use entrannas_ops::MemoryEstimate;

use crate::backend::{BackendKind, DeviceSpec};
use crate::error::CliError;

const MIB: f64 = 1024.0 * 1024.0;

/// Memory the process can still take, and where that figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// What limits it, in words.
    pub source: String,
}

impl MemoryLimit {
    /// The limit in words: `20480 MiB (the memory available on this machine)`.
    pub fn describe(&self) -> String {
        format!("{:.0} MiB ({})", self.bytes as f64 / MIB, self.source)
    }
}

/// Whether `device` computes in the machine's main memory.
fn on_the_cpu(device: &DeviceSpec) -> bool {
    match device.kind {
        BackendKind::Flex | BackendKind::Ndarray => true,
        BackendKind::Tch => !device.tch_cuda,
        _ => false,
    }
}

/// Whether `device` is an NVIDIA GPU (CubeCL's `cuda` or libtorch's CUDA).
fn on_cuda(device: &DeviceSpec) -> bool {
    match device.kind {
        BackendKind::Cuda => true,
        BackendKind::Tch => device.tch_cuda,
        _ => false,
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The room left under a cgroup limit: `max - current` (cgroup v2's `memory.max`,
/// or v1's `memory.limit_in_bytes`), `None` without a limit.
fn cgroup_room(max: &str, current: &str) -> Option<u64> {
    let max: u64 = max.trim().parse().ok()?; // "max" (no limit) does not parse
    let current: u64 = current.trim().parse().ok()?;
    // cgroup v1 reports "no limit" as a huge number.
    (max < 1 << 60).then(|| max.saturating_sub(current))
}

/// The memory this process can take on this machine: the smaller of the kernel's
/// available memory and the room under the process's cgroup limit. `None` where
/// neither can be read (not Linux).
pub fn cpu_limit() -> Option<MemoryLimit> {
    let read = |path: &str| fs::read_to_string(path).ok();
    let available = read("/proc/meminfo")
        .and_then(|text| mem_available(&text))
        .map(|bytes| MemoryLimit {
            bytes,
            source: "the memory available on this machine (MemAvailable)".into(),
        });
    let cgroup = [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ]
    .iter()
    .find_map(|(max, current)| cgroup_room(&read(max)?, &read(current)?))
    .map(|bytes| MemoryLimit {
        bytes,
        source: "the room under this process's cgroup memory limit".into(),
    });
    match (available, cgroup) {
        (Some(a), Some(c)) => Some(if c.bytes < a.bytes { c } else { a }),
        (a, c) => a.or(c),
    }
}

/// The free memory of GPU `index` in `nvidia-smi --query-gpu=index,memory.free
/// --format=csv,noheader,nounits` output (one `index, MiB` line per GPU), in bytes.
fn nvidia_smi_free(output: &str, index: usize) -> Option<u64> {
    output.lines().find_map(|line| {
        let (i, free) = line.split_once(',')?;
        let i: usize = i.trim().parse().ok()?;
        let mib: u64 = free.trim().parse().ok()?;
        (i == index).then_some(mib * 1024 * 1024)
    })
}

/// The free memory of NVIDIA GPU `index` as `nvidia-smi` reports it; `None` where
/// `nvidia-smi` is missing or fails. Its numbering is the driver's (PCI order), which
/// CUDA follows unless `CUDA_VISIBLE_DEVICES` or `CUDA_DEVICE_ORDER` reorder it.
pub fn cuda_limit(index: usize) -> Option<MemoryLimit> {
    let output = Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,memory.free",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let bytes = nvidia_smi_free(&String::from_utf8_lossy(&output.stdout), index)?;
    Some(MemoryLimit {
        bytes,
        source: format!("the free memory of GPU {index} (nvidia-smi)"),
    })
}

/// The GPU memory process `pid` holds in `nvidia-smi --query-compute-apps=pid,used_memory
/// --format=csv,noheader,nounits` output (one `pid, MiB` line per process and GPU), in
/// bytes: the sum of its lines, `None` if it has none.
#[cfg(any(test, feature = "tch"))]
fn nvidia_smi_process_used(output: &str, pid: u32) -> Option<u64> {
    output
        .lines()
        .filter_map(|line| {
            let (p, used) = line.split_once(',')?;
            let p: u32 = p.trim().parse().ok()?;
            let mib: u64 = used.trim().parse().ok()?;
            (p == pid).then_some(mib * 1024 * 1024)
        })
        .reduce(|a, b| a + b)
}

/// The memory this process holds on NVIDIA GPU `index` as `nvidia-smi` reports it (the
/// driver's per-process figure: libtorch's cached blocks plus the CUDA context, so the
/// peak of a run, since libtorch's cache only grows); `None` where `nvidia-smi` is
/// missing or fails, or before the process has touched the GPU. For `tch:cuda`, whose
/// allocator's statistics tch does not expose.
#[cfg(feature = "tch")]
pub fn process_gpu_used(index: usize) -> Option<u64> {
    let output = Command::new("nvidia-smi")
        .args([
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
            "-i",
            &index.to_string(),
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    nvidia_smi_process_used(&String::from_utf8_lossy(&output.stdout), std::process::id())
}

/// The memory a run on `device` can have, where it can be known: the CPU's available
/// memory and cgroup room, an NVIDIA GPU's free memory. `None` for the other GPU
/// backends (wgpu, Vulkan and Metal do not report free memory).
pub fn limit_for(device: &DeviceSpec) -> Option<MemoryLimit> {
    if on_the_cpu(device) {
        cpu_limit()
    } else if on_cuda(device) {
        cuda_limit(device.index.unwrap_or(0))
    } else {
        None
    }
}

/// One line describing an estimate.
pub fn describe(estimate: &MemoryEstimate, batch: usize) -> String {
    format!(
        "about {:.0} MiB at batch {batch} ({} parameters: weights, gradients and optimizer state {:.0} MiB; activations kept for backward {:.0} MiB)",
        estimate.peak as f64 / MIB,
        estimate.params,
        estimate.weights as f64 / MIB,
        estimate.activations as f64 / MIB
    )
}

/// The pre-flight check: refuses (exit 2) a `job` ("search", "training") whose
/// estimated peak at `batch` exceeds `limit`, naming both figures and the largest batch
/// that fits. No limit, nothing to refuse.
pub fn check(
    job: &str,
    estimate: &MemoryEstimate,
    batch: usize,
    limit: Option<&MemoryLimit>,
) -> Result<(), CliError> {
    let Some(limit) = limit else {
        return Ok(());
    };
    if estimate.peak <= limit.bytes {
        return Ok(());
    }
    let fits = estimate.largest_batch(batch, limit.bytes);
    let lower = if fits == 0 {
        "no batch fits: lower the channels or the cells".to_string()
    } else {
        format!("the largest batch that fits is {fits} (--batch-size {fits})")
    };
    Err(CliError::Usage(format!(
        "a step of this {job} needs {}, more than the {:.0} MiB that is {}; {lower}, or pass --ignore-memory-estimate to run anyway (docs/BENCHMARKS.md says how the estimate is made)",
        describe(estimate, batch),
        limit.bytes as f64 / MIB,
        limit.source
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrannas_search::SearchConfig;
    use entrannas_search::memory::estimate_search_memory;

    #[test]
    fn meminfo_and_cgroup_texts_are_read() {
        let meminfo =
            "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_available(meminfo), Some(20_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(
            cgroup_room("1073741824\n", "73741824\n"),
            Some(1_000_000_000)
        );
        assert_eq!(cgroup_room("max\n", "73741824\n"), None);
        assert_eq!(cgroup_room("9223372036854771712\n", "5\n"), None);
        assert_eq!(cgroup_room("100\n", "200\n"), Some(0));
    }

    #[test]
    fn the_largest_batch_that_fits_follows_the_linear_estimate() {
        let estimate = MemoryEstimate::from_parts(1000, 12_000, 64_000, 1.0, 45);
        // 1,000 bytes of peak per image at batch 64 above the fixed 12,045.
        assert_eq!(estimate.largest_batch(64, 12_045 + 32_000), 32);
        assert_eq!(estimate.largest_batch(64, 12_045 + 31_999), 31);
        assert_eq!(estimate.largest_batch(64, 10_000), 0);
        let limit = MemoryLimit {
            bytes: 12_045 + 32_000,
            source: "a test".into(),
        };
        let err = check("training", &estimate, 64, Some(&limit))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a step of this training needs about 0 MiB at batch 64")
                && err.contains("the largest batch that fits is 32 (--batch-size 32)")
                && err.contains("that is a test;"),
            "{err}"
        );
        assert!(check("training", &estimate, 64, None).is_ok());
        let roomy = MemoryLimit {
            bytes: estimate.peak,
            ..limit
        };
        assert!(check("training", &estimate, 64, Some(&roomy)).is_ok());
    }

    #[test]
    fn nvidia_smi_free_memory_is_read_per_gpu() {
        let output = "0, 80000\n1, 1024\n";
        assert_eq!(nvidia_smi_free(output, 0), Some(80_000 << 20));
        assert_eq!(nvidia_smi_free(output, 1), Some(1024 << 20));
        assert_eq!(nvidia_smi_free(output, 2), None);
        assert_eq!(nvidia_smi_free("[N/A]\n", 0), None);
        let cpu = DeviceSpec::default();
        assert!(on_the_cpu(&cpu) && !on_cuda(&cpu));
    }

    #[test]
    fn nvidia_smi_process_memory_is_this_process_lines_summed() {
        let output = "4242, 1500\n77, 900\n4242, 20\n";
        assert_eq!(nvidia_smi_process_used(output, 4242), Some(1520 << 20));
        assert_eq!(nvidia_smi_process_used(output, 77), Some(900 << 20));
        assert_eq!(nvidia_smi_process_used(output, 1), None);
        assert_eq!(
            nvidia_smi_process_used("No running processes found\n", 1),
            None
        );
        assert_eq!(nvidia_smi_process_used("4242, [N/A]\n", 4242), None);
    }

    #[test]
    fn a_search_larger_than_any_machine_is_refused_naming_the_figures() {
        let config = SearchConfig::new().with_channels(100_000_000);
        let estimate = estimate_search_memory(
            &config,
            &entrannas_ops::OpRegistry::default(),
            [1, 28, 28],
            10,
        )
        .unwrap();
        let Some(limit) = limit_for(&DeviceSpec::default()) else {
            return; // not Linux: nothing to compare with
        };
        let err = check("search", &estimate, config.batch_size, Some(&limit))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a step of this search needs about ")
                && err.contains("--ignore-memory-estimate")
                && err.contains("MiB that is "),
            "{err}"
        );
    }
}
