//! What a run will cost before it runs: the memory estimate of one step and the time
//! per epoch projected from a few timed steps. The search and the training fill these
//! in from their own plans (`entrannas-search`'s and `entrannas-eval`'s `memory`
//! modules); the CLI compares them with what the machine has (issue 36).

/// Bytes of one `f32`, the element of every weight and activation.
pub const FLOAT_BYTES: u64 = 4;

/// One step's memory, estimated from a configuration before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Trainable parameters.
    pub params: u64,
    /// Weights, their gradients and the optimizer's state, in bytes (one copy per
    /// data-parallel replica).
    pub weights: u64,
    /// Activations one training forward keeps for backward, in bytes, for the whole
    /// batch.
    pub activations: u64,
    /// The estimated peak of one step, in bytes.
    pub peak: u64,
    /// The part of `peak` that no tensor accounts for (runtime, allocator, batches in
    /// flight).
    pub base: u64,
}

impl MemoryEstimate {
    /// An estimate from its parts: `peak = base + weights + activations * factor`, where
    /// `factor` (peak bytes per counted activation byte) is calibrated against measured
    /// peaks. Saturating, so that an absurd configuration gives a huge estimate to
    /// refuse rather than an overflow.
    pub fn from_parts(params: u64, weights: u64, activations: u64, factor: f64, base: u64) -> Self {
        Self {
            params,
            weights,
            activations,
            peak: base
                .saturating_add(weights)
                .saturating_add((activations as f64 * factor) as u64),
            base,
        }
    }

    /// The part of the peak that does not grow with the batch: the base and the
    /// weights.
    pub fn fixed(&self) -> u64 {
        self.base.saturating_add(self.weights)
    }

    /// The largest batch whose estimated peak stays within `limit` bytes, given that
    /// this estimate is for `batch` images (the peak grows linearly with the batch);
    /// 0 when none does.
    pub fn largest_batch(&self, batch: usize, limit: u64) -> usize {
        let per_image = self.peak.saturating_sub(self.fixed()) as f64 / batch.max(1) as f64;
        if limit <= self.fixed() || per_image <= 0.0 {
            return 0;
        }
        ((limit - self.fixed()) as f64 / per_image).floor() as usize
    }
}

/// A few steps of a run, timed on its device, and the time of one epoch projected
/// from them (what `--dry-run` prints).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochProjection {
    /// Seconds of the first step on its own (on a GPU it compiles kernels).
    pub first_step_seconds: f64,
    /// Median seconds of the steps after the first.
    pub step_seconds: f64,
    /// Steps timed after the first.
    pub timed_steps: usize,
    /// Steps in one epoch.
    pub steps_per_epoch: usize,
    /// Seconds of the end-of-epoch evaluation, projected from timed batches.
    pub evaluation_seconds: f64,
}

impl EpochProjection {
    /// A projection from the seconds of the timed steps (the first one first) and the
    /// projected seconds of an epoch's evaluation. `step_seconds` must not be empty;
    /// with the first step alone (data for no more), it stands for every step.
    pub fn from_steps(
        step_seconds: &[f64],
        steps_per_epoch: usize,
        evaluation_seconds: f64,
    ) -> Self {
        let later = match step_seconds {
            [first] => std::slice::from_ref(first),
            steps => &steps[1..],
        };
        Self {
            first_step_seconds: step_seconds[0],
            step_seconds: median(later),
            timed_steps: step_seconds.len() - 1,
            steps_per_epoch,
            evaluation_seconds,
        }
    }

    /// Projected seconds of one epoch: its steps at the median step time, then its
    /// evaluation.
    pub fn epoch_seconds(&self) -> f64 {
        self.steps_per_epoch as f64 * self.step_seconds + self.evaluation_seconds
    }
}

/// The median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// Seconds as a short human figure: `42 s`, `3.5 min`, `2.1 h`.
pub fn human_seconds(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.1} s")
    } else if seconds < 5400.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_base_weights_and_scaled_activations_and_the_largest_batch_fits() {
        let e = MemoryEstimate::from_parts(10, 1000, 4000, 0.5, 500);
        assert_eq!(e.peak, 500 + 1000 + 2000);
        assert_eq!(e.fixed(), 1500);
        // 2000 bytes for 8 images: 250 per image.
        assert_eq!(e.largest_batch(8, 1500 + 250 * 3 + 10), 3);
        assert_eq!(e.largest_batch(8, e.peak), 8);
        assert_eq!(e.largest_batch(8, 1500), 0);
        let huge = MemoryEstimate::from_parts(u64::MAX, u64::MAX, u64::MAX, 1.0, 1);
        assert_eq!(huge.peak, u64::MAX);
    }

    #[test]
    fn medians_and_projections() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let p = EpochProjection {
            first_step_seconds: 9.0,
            step_seconds: 1.5,
            timed_steps: 2,
            steps_per_epoch: 10,
            evaluation_seconds: 3.0,
        };
        assert_eq!(p.epoch_seconds(), 18.0);
        assert_eq!(EpochProjection::from_steps(&[9.0, 2.0, 1.0], 10, 3.0), p);
        // One step only: it is the estimate of every step.
        let alone = EpochProjection::from_steps(&[4.0], 10, 0.0);
        assert_eq!((alone.step_seconds, alone.timed_steps), (4.0, 0));
        assert_eq!(human_seconds(42.0), "42.0 s");
        assert_eq!(human_seconds(210.0), "3.5 min");
        assert_eq!(human_seconds(7560.0), "2.1 h");
    }
}
