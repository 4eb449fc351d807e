//! What `search --dry-run` and `train --dry-run` print: the plan, the memory estimate
//! beside the memory the device can have and the peak measured over a few timed steps,
//! and the time per epoch projected from those steps.

use entrannas_ops::MemoryEstimate;
use entrannas_ops::{EpochProjection, human_seconds};
use entrannas_search::bench::{MemoryMeasure, MemoryProbe, MemoryReading};

use crate::memory::{MemoryLimit, describe};

/// Steps timed after the first by a dry run.
pub const TIMED_STEPS: usize = 2;

/// The memory lines: the estimate, what was measured over the timed steps (when a
/// probe could measure), and the limit of the device.
pub fn memory_lines(
    estimate: &MemoryEstimate,
    batch: usize,
    measured: Option<MemoryReading>,
    limit: Option<&MemoryLimit>,
) -> String {
    let measured = measured.map_or(String::new(), |m| {
        format!(
            "\n  measured over the timed steps: {:.0} MiB ({})",
            m.bytes as f64 / 1048576.0,
            match m.measure {
                MemoryMeasure::RssDelta => "growth of the process's peak RSS",
                other => other.describe(),
            }
        )
    });
    let limit = limit.map_or_else(
        || "unknown (this backend does not report free memory)".to_string(),
        MemoryLimit::describe,
    );
    format!(
        "  memory: estimated {}{measured}\n  memory the device can have: {limit}",
        describe(estimate, batch)
    )
}

/// The time line of a projection over `epochs` epochs on `label`.
pub fn time_line(label: &str, projection: &EpochProjection, epochs: usize) -> String {
    let epoch = projection.epoch_seconds();
    format!(
        "  time on {label}: first step {}, then {} per step (median of {}); evaluation about {} per epoch; about {} per epoch of {} steps, {} for {epochs} epoch(s)",
        human_seconds(projection.first_step_seconds),
        human_seconds(projection.step_seconds),
        projection.timed_steps,
        human_seconds(projection.evaluation_seconds),
        human_seconds(epoch),
        projection.steps_per_epoch,
        human_seconds(epoch * epochs as f64 + projection.first_step_seconds),
    )
}

/// Why a dry run did not time any step: the estimate exceeds the device's memory.
pub fn not_timed(limit: &MemoryLimit) -> String {
    format!(
        "  time: not measured, the estimate exceeds the {}; lower the batch size, or add --ignore-memory-estimate to time it anyway",
        limit.describe()
    )
}

/// The lines after a plan's own: the memory lines ([`memory_lines`]), then the time
/// line of `projection` over `epochs` on `label`, or why nothing was timed.
pub fn resource_lines(
    (estimate, batch): (&MemoryEstimate, usize),
    limit: Option<&MemoryLimit>,
    (projection, measured): (Option<EpochProjection>, Option<MemoryReading>),
    label: &str,
    epochs: usize,
) -> String {
    let mut text = memory_lines(estimate, batch, measured, limit);
    match (&projection, limit) {
        (Some(p), _) => text.push_str(&format!("\n{}", time_line(label, p, epochs))),
        (None, Some(limit)) => text.push_str(&format!("\n{}", not_timed(limit))),
        (None, None) => {}
    }
    text
}

/// When `timed`, runs `time` with `probe` reset before and sampled after every step,
/// and returns its result with the peak the probe saw; otherwise nothing.
pub fn time_if<T, E>(
    timed: bool,
    probe: Option<Box<dyn MemoryProbe>>,
    time: impl FnOnce(&mut dyn FnMut()) -> Result<T, E>,
) -> Result<(Option<T>, Option<MemoryReading>), E> {
    if !timed {
        return Ok((None, None));
    }
    let mut probe = probe;
    let (result, measured) = measure(probe.as_mut(), time);
    Ok((Some(result?), measured))
}

/// Runs `time` with `probe` reset before and sampled after every step, and returns
/// its result with the peak the probe saw.
pub fn measure<T>(
    probe: Option<&mut Box<dyn MemoryProbe>>,
    time: impl FnOnce(&mut dyn FnMut()) -> T,
) -> (T, Option<MemoryReading>) {
    match probe {
        Some(probe) => {
            probe.reset();
            let result = time(&mut || probe.sample());
            (result, probe.peak())
        }
        None => (time(&mut || {}), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_line_projects_every_epoch() {
        let p = EpochProjection {
            first_step_seconds: 3.0,
            step_seconds: 1.5,
            timed_steps: 2,
            steps_per_epoch: 100,
            evaluation_seconds: 30.0,
        };
        let line = time_line("flex (cpu)", &p, 50);
        assert!(
            line.contains("first step 3.0 s, then 1.5 s per step (median of 2)")
                && line.contains("about 3.0 min per epoch of 100 steps")
                && line.contains("2.5 h for 50 epoch(s)"),
            "{line}"
        );
    }
}
