//! How much memory a training step of a target-net needs, from its configuration and
//! genotype alone, before anything is allocated (issue 36).
//!
//! The model is the search's (`entrannas-search`'s `memory` module): a constant, the
//! weights with their gradients and SGD momentum, and the activations one training
//! forward keeps for backward ([`entrannas_cell::TargetPlan::retained_elements`], per
//! image, times the batch) scaled by [`TRAIN_ACTIVATION_FACTOR`] for what backward
//! allocates beside them. The constants are calibrated against peaks measured by
//! `entrannas train --dry-run` (docs/BENCHMARKS.md, "Memory estimate from the plan").

use entrannas_cell::Genotype;
use entrannas_data::DatasetInfo;
use entrannas_ops::FLOAT_BYTES;
use entrannas_ops::{MemoryEstimate, OpRegistry};

use crate::EvalError;
use crate::config::TrainConfig;

/// Peak bytes per counted activation byte of a training step, fitted to the peaks
/// `entrannas train --dry-run` measured on the CPU (0.736 to 0.762 over seven
/// configurations; docs/BENCHMARKS.md). Higher than the search's: a training step has
/// one forward and backward, whose buffers all count, where a search step's two
/// passes free the first's before the second's peak.
pub const TRAIN_ACTIVATION_FACTOR: f64 = 0.75;

/// Bytes a training step needs besides weights and activations (allocator, runtime,
/// batches in flight), fitted to measured peaks on the CPU.
pub const TRAIN_BASE_BYTES: u64 = 45 << 20;

/// The memory of one training step of `genotype`'s target-net as `config` lays it out
/// for images of `info`'s shape: weights, gradients and momentum of every trainable
/// parameter (auxiliary head included), and the activations of one batch.
///
/// # Errors
/// A genotype the layout cannot build.
pub fn estimate_training_memory(
    config: &TrainConfig,
    genotype: &Genotype,
    registry: &OpRegistry,
    info: &DatasetInfo,
) -> Result<MemoryEstimate, EvalError> {
    let plan = config.target_spec(info).plan(genotype, registry)?;
    let cost = plan.cost();
    let params = cost.params.saturating_add(cost.auxiliary_params);
    let weights = params.saturating_mul(3 * FLOAT_BYTES);
    let activations = plan
        .retained_elements()
        .saturating_mul(FLOAT_BYTES)
        .saturating_mul(config.batch_size as u64);
    Ok(MemoryEstimate::from_parts(
        params,
        weights,
        activations,
        TRAIN_ACTIVATION_FACTOR,
        TRAIN_BASE_BYTES,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrannas_cell::darts_v2;
    use entrannas_data::DatasetKind;

    fn info() -> DatasetInfo {
        let classes = (0..10).map(|c| format!("class {c}")).collect();
        DatasetInfo::new(DatasetKind::Cifar10, [3, 32, 32], classes)
    }

    #[test]
    fn the_estimate_grows_with_the_batch_and_counts_the_auxiliary_head() {
        let genotype = darts_v2();
        let registry = OpRegistry::default();
        let at = |batch: usize, auxiliary: bool| {
            let mut config = TrainConfig::cifar();
            config.batch_size = batch;
            config.auxiliary = auxiliary;
            estimate_training_memory(&config, &genotype, &registry, &info()).unwrap()
        };
        let (small, large) = (at(32, true), at(64, true));
        assert_eq!(large.activations, 2 * small.activations);
        assert_eq!(large.weights, small.weights);
        // DARTS's 3,349,342 parameters and the auxiliary head's 476,426.
        assert_eq!(small.params, 3_349_342 + 476_426);
        assert_eq!(small.weights, small.params * 12);
        let without = at(32, false);
        assert!(without.params < small.params && without.activations < small.activations);
        assert_eq!(small.largest_batch(32, small.peak), 32);
    }

    /// `entrannas train <genotype> --dry-run` on the embedded Fashion-MNIST subset
    /// (1x28x28, 10 classes), CPU `flex` backend: genotype, channels, layers, batch,
    /// auxiliary head, measured peak in MiB (docs/BENCHMARKS.md).
    const MEASURED: [(&str, usize, usize, usize, bool, f64); 7] = [
        ("darts_v2", 36, 20, 96, true, 6462.0),
        ("darts_v2", 36, 20, 64, true, 4335.0),
        ("darts_v2", 36, 20, 32, false, 2202.0),
        ("darts_v2", 16, 8, 64, true, 752.0),
        ("darts_v2", 16, 8, 128, true, 1499.0),
        ("pc_darts", 16, 8, 64, true, 838.0),
        ("darts_v2", 16, 8, 64, true, 737.0), // the full Fashion-MNIST
    ];

    #[test]
    fn the_estimate_is_within_a_quarter_of_every_measured_training() {
        let registry = OpRegistry::default();
        let info = DatasetInfo::new(
            DatasetKind::Embedded,
            [1, 28, 28],
            (0..10).map(|c| c.to_string()).collect(),
        );
        for (name, channels, layers, batch, auxiliary, measured) in MEASURED {
            let genotype = match name {
                "darts_v2" => darts_v2(),
                _ => entrannas_cell::pc_darts(),
            };
            let mut config = TrainConfig::cifar();
            (config.channels, config.layers) = (channels, layers);
            (config.batch_size, config.auxiliary) = (batch, auxiliary);
            let estimate = estimate_training_memory(&config, &genotype, &registry, &info).unwrap();
            let peak = estimate.peak as f64 / 1048576.0;
            let error = (peak - measured) / measured;
            assert!(
                error.abs() <= 0.25,
                "{name} C = {channels}, L = {layers}, batch {batch}: estimated {peak:.0} MiB, measured {measured} MiB ({:+.1}%)",
                100.0 * error
            );
        }
    }
}
