//! How much memory a search step needs, from its configuration alone, before anything
//! is allocated (issue 36).
//!
//! The model: a step's peak is a constant (the runtime, the data pipeline), the
//! weights with their gradients and momentum, and the activations one training
//! forward keeps for backward ([`crate::SuperNetConfig::retained_elements`], per image, times
//! the batch), scaled by [`ACTIVATION_FACTOR`] for what backward allocates beside
//! them. The two constants are calibrated against `entrannas bench`'s measured peaks
//! (docs/PERFORMANCE.md, "Peak memory of the ladder").

use entrannas_cell::CellWork;
use entrannas_ops::FLOAT_BYTES as FLOAT;
pub use entrannas_ops::MemoryEstimate;
use entrannas_ops::OpRegistry;

use crate::SearchError;
use crate::config::SearchConfig;
use crate::space::Method;

/// Peak bytes per counted activation byte, fitted to the CPU bench (the count is an
/// upper bound: burn frees some of the tensors it counts, such as a ReLU's output that
/// only the next layer's input keeps, before the backward's own buffers reach their
/// peak).
pub const ACTIVATION_FACTOR: f64 = 0.68;

/// Bytes a step needs besides weights and activations (allocator, runtime, batches in
/// flight), fitted to the CPU bench.
pub const BASE_BYTES: u64 = 45 << 20;

/// The memory of a step of `config`'s search on images of `[channels, height, width]`
/// with `classes` classes. DST is estimated at its dense start (every pair computed,
/// in Transit cells too), its largest state; Transit cells of the top-2 rule at two
/// connections per node.
pub fn estimate_search_memory(
    config: &SearchConfig,
    registry: &OpRegistry,
    image: [usize; 3],
    classes: usize,
) -> Result<MemoryEstimate, SearchError> {
    estimate_with_pairs(config, registry, image, classes, None)
}

/// [`estimate_search_memory`] with the connections a sparse DST state keeps (normal,
/// reduction), where known: its Engine cells compute those pairs, and its Transit
/// cells the same (DST derives every pair it weights).
pub fn estimate_with_pairs(
    config: &SearchConfig,
    registry: &OpRegistry,
    [channels, height, width]: [usize; 3],
    classes: usize,
    dst_pairs: Option<(usize, usize)>,
) -> Result<MemoryEstimate, SearchError> {
    config.validate_ops(registry)?;
    let net = config.supernet(channels, classes);
    let params = net.params(registry)?;
    let both = |work| (work, work);
    let (engine, transit) = match (config.method, dst_pairs) {
        (Method::Dst, None) => (both(CellWork::Engine), both(CellWork::Engine)),
        (Method::Dst, Some((normal, reduce))) => {
            let pairs = (CellWork::Pairs(normal), CellWork::Pairs(reduce));
            (pairs, pairs)
        }
        _ => (
            both(CellWork::Engine),
            both(CellWork::Pairs(2 * config.nodes)),
        ),
    };
    let per_image = net.retained_elements(registry, [height, width], engine, transit)?;
    // Saturating: an absurd configuration (a hundred million channels) must give a
    // huge estimate to refuse, not an overflow.
    let activations = per_image
        .saturating_mul(FLOAT)
        .saturating_mul(config.batch_size as u64);
    let weights = params
        .saturating_mul(FLOAT * 3)
        .saturating_mul(config.shards.max(1) as u64);
    Ok(MemoryEstimate::from_parts(
        params,
        weights,
        activations,
        ACTIVATION_FACTOR,
        BASE_BYTES,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{BenchConfig, Rung};

    const MIB: f64 = 1048576.0;

    /// `entrannas bench --batch-sizes 32,64` on the CPU (docs/PERFORMANCE.md, "Peak
    /// memory of the ladder"): rung, batch, measured peak in MiB.
    const MEASURED: [(Rung, usize, f64); 12] = [
        (Rung::Darts, 32, 3405.5),
        (Rung::Darts, 64, 6676.4),
        (Rung::EngineTransit, 32, 1526.9),
        (Rung::EngineTransit, 64, 2963.5),
        (Rung::Sharing, 32, 767.8),
        (Rung::Sharing, 64, 1452.3),
        (Rung::Bottleneck, 32, 485.1),
        (Rung::Bottleneck, 64, 951.0),
        (Rung::DstDense, 32, 634.3),
        (Rung::DstDense, 64, 1262.9),
        (Rung::DstSparse, 32, 352.3),
        (Rung::DstSparse, 64, 667.0),
    ];

    #[test]
    fn the_estimate_is_within_a_quarter_of_every_measured_rung() {
        let bench = BenchConfig::default();
        for (rung, batch, measured) in MEASURED {
            let config = rung.config(&bench, batch);
            // The sparse rung's plan keeps 6 + 4 connections (bench's `conn n+r`).
            let pairs = (rung == Rung::DstSparse).then_some((6, 4));
            let estimate = estimate_with_pairs(
                &config,
                &OpRegistry::default(),
                bench.image,
                bench.classes,
                pairs,
            )
            .unwrap();
            let peak = estimate.peak as f64 / MIB;
            let error = (peak - measured) / measured;
            assert!(
                error.abs() <= 0.25,
                "{} at batch {batch}: estimated {peak:.1} MiB, measured {measured} MiB ({:+.1}%)",
                rung.key(),
                100.0 * error
            );
            assert!(estimate.activations > estimate.weights, "{}", rung.key());
        }
    }

    #[test]
    fn a_measurement_the_fit_did_not_see_is_within_a_quarter() {
        // Full EnTranNAS on Fashion-MNIST's 1x28x28 at batch 64: 737.9 MiB measured
        // (docs/PERFORMANCE.md, "Both cores").
        let bench = BenchConfig::default();
        let config = Rung::Bottleneck.config(&bench, 64);
        let peak = estimate_search_memory(&config, &OpRegistry::default(), [1, 28, 28], 10)
            .unwrap()
            .peak as f64
            / MIB;
        assert!((peak - 737.9).abs() / 737.9 <= 0.25, "{peak:.1} MiB");
    }

    #[test]
    fn activations_grow_with_the_batch_and_dst_is_costed_at_its_dense_start() {
        let bench = BenchConfig::default();
        let at = |rung: Rung, batch| {
            estimate_search_memory(
                &rung.config(&bench, batch),
                &OpRegistry::default(),
                bench.image,
                bench.classes,
            )
            .unwrap()
        };
        let (small, large) = (at(Rung::Bottleneck, 32), at(Rung::Bottleneck, 64));
        assert_eq!(large.activations, 2 * small.activations);
        assert_eq!((large.weights, large.params), (small.weights, small.params));
        // Trainable parameters only: the bench's 217,594 also counts batch-norm statistics.
        assert_eq!(small.params, 206_362);
        // Without known pairs, the sparse rung is costed as the dense one.
        assert_eq!(at(Rung::DstSparse, 32).peak, at(Rung::DstDense, 32).peak);
        assert!(at(Rung::Darts, 32).peak > 5 * small.peak);
    }
}
