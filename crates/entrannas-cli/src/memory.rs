//! The pre-flight memory check of `search`: the estimate from the configuration
//! (`entrannas_search::memory`) against the memory the process can have.

use std::fs;

use entrannas_data::DatasetInfo;
use entrannas_search::SearchConfig;
use entrannas_search::memory::{MemoryEstimate, estimate_search_memory};

use crate::backend::{BackendKind, DeviceSpec};
use crate::error::CliError;

const MIB: f64 = 1024.0 * 1024.0;

/// Memory the process can still take, and where that figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// What limits it, in words.
    pub source: &'static str,
}

/// Whether `device` computes in the machine's main memory.
fn on_the_cpu(device: &DeviceSpec) -> bool {
    match device.kind {
        BackendKind::Flex | BackendKind::Ndarray => true,
        BackendKind::Tch => !device.tch_cuda,
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
            source: "the memory available on this machine (MemAvailable)",
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
        source: "the room under this process's cgroup memory limit",
    });
    match (available, cgroup) {
        (Some(a), Some(c)) => Some(if c.bytes < a.bytes { c } else { a }),
        (a, c) => a.or(c),
    }
}

/// The largest batch whose estimated peak stays within `limit` bytes, given the
/// estimate at `batch` (the peak grows linearly with the batch); 0 when none does.
pub fn largest_batch(estimate: &MemoryEstimate, batch: usize, limit: u64) -> usize {
    let per_image = estimate.peak.saturating_sub(estimate.fixed()) as f64 / batch.max(1) as f64;
    if limit <= estimate.fixed() || per_image <= 0.0 {
        return 0;
    }
    ((limit - estimate.fixed()) as f64 / per_image).floor() as usize
}

/// One line describing an estimate.
pub fn describe(estimate: &MemoryEstimate, batch: usize) -> String {
    format!(
        "about {:.0} MiB at batch {batch} ({} parameters: weights, gradients and momentum {:.0} MiB; activations kept for backward {:.0} MiB)",
        estimate.peak as f64 / MIB,
        estimate.params,
        estimate.weights as f64 / MIB,
        estimate.activations as f64 / MIB
    )
}

/// The pre-flight check: refuses (exit 2) a search whose estimated peak exceeds what a
/// CPU device can have, naming both figures and the largest batch that fits, unless
/// `ignore`. GPU devices are not checked (their free memory is not read here); the
/// estimate is returned for the plan either way.
pub fn preflight(
    config: &SearchConfig,
    info: &DatasetInfo,
    device: &DeviceSpec,
    ignore: bool,
) -> Result<MemoryEstimate, CliError> {
    let estimate = estimate_search_memory(
        config,
        [info.channels, info.height, info.width],
        info.classes,
    )?;
    if ignore || !on_the_cpu(device) {
        return Ok(estimate);
    }
    let Some(limit) = cpu_limit() else {
        return Ok(estimate);
    };
    if estimate.peak > limit.bytes {
        let fits = largest_batch(&estimate, config.batch_size, limit.bytes);
        let lower = if fits == 0 {
            "no batch fits: lower the channels or the cells".to_string()
        } else {
            format!("the largest batch that fits is {fits} (--batch-size {fits})")
        };
        return Err(CliError::Usage(format!(
            "a step of this search needs {}, more than the {:.0} MiB that is {}; {lower}, or pass --ignore-memory-estimate to run anyway (docs/BENCHMARKS.md says how the estimate is made)",
            describe(&estimate, config.batch_size),
            limit.bytes as f64 / MIB,
            limit.source
        )));
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let estimate = MemoryEstimate {
            params: 1000,
            weights: 12_000,
            activations: 64_000,
            peak: 45 + 12_000 + 64_000,
            base: 45,
        };
        // 1,000 bytes of peak per image at batch 64 above the fixed 12,045.
        assert_eq!(largest_batch(&estimate, 64, 12_045 + 32_000), 32);
        assert_eq!(largest_batch(&estimate, 64, 12_045 + 31_999), 31);
        assert_eq!(largest_batch(&estimate, 64, 10_000), 0);
    }

    #[test]
    fn a_search_larger_than_any_machine_is_refused_naming_the_figures() {
        let config = SearchConfig::new().with_channels(100_000_000);
        let info = DatasetInfo::new(
            entrannas_data::DatasetKind::Embedded,
            [1, 28, 28],
            (0..10).map(|i| i.to_string()).collect(),
        );
        let cpu = DeviceSpec::default();
        if cpu_limit().is_none() {
            return; // not Linux: nothing to compare with
        }
        let err = preflight(&config, &info, &cpu, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a step of this search needs about ")
                && err.contains("--ignore-memory-estimate")
                && err.contains("MiB that is "),
            "{err}"
        );
        assert!(preflight(&config, &info, &cpu, true).is_ok());
    }
}
