//! Data-parallel search steps ([`SearchConfig::shards`](crate::SearchConfig::shards)).
//!
//! A batch is split into shards; each shard runs forward and backward as its own
//! task of rayon's thread pool (as many at once as the pool has threads), on a replica
//! of the super-net and of the architecture parameters placed on the shard's device.
//! The replicas' gradients are summed on the primary device in shard order (each shard's loss weighted by its share of the batch, so the sum is the
//! whole batch's mean-loss gradient up to batch norm), and their batch-norm running
//! statistics are merged by the same weights. Nothing depends on which thread finishes
//! first, so a seeded CPU run repeats bit for bit, and the result depends on the number
//! of shards, not on the number of devices.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use entrannas_data::ImageBatch;
use entrannas_ops::{RunningStatistics, replicate, sum_gradients};
use entrannas_relax::ArchParams;
use rayon::prelude::*;

use crate::SearchError;
use crate::supernet::SuperNet;

/// The sizes of the shards of a batch of `batch` items split `shards` ways: as equal
/// as possible, the first `batch mod shards` one item larger. Empty shards (a batch
/// smaller than `shards`, as a last short batch can be) are left out.
pub fn shard_sizes(batch: usize, shards: usize) -> Vec<usize> {
    let shards = shards.max(1);
    (0..shards)
        .map(|s| batch / shards + usize::from(s < batch % shards))
        .filter(|&n| n > 0)
        .collect()
}

/// Which parameters a data-parallel step differentiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepTarget {
    /// The architecture parameters (the super-net's weights get no gradient).
    Architecture,
    /// The super-net's weights (the architecture parameters get no gradient).
    Weights,
}

/// What one shard computes on its replicas: the mean loss over the shard and, for a
/// weight step, the number of correct predictions.
pub(crate) type ShardLoss<B> = (
    Tensor<B, 1>,
    Option<Tensor<<B as AutodiffBackend>::InnerBackend, 1>>,
);

/// The outcome of a data-parallel step, everything on the primary device.
pub(crate) struct ParallelStep<B: AutodiffBackend> {
    /// The gradients of the target's parameters, summed over the shards.
    pub grads: GradientsParams,
    /// The batch's mean loss (shard losses weighted by shard size), `[1]`.
    pub loss: Tensor<B::InnerBackend, 1>,
    /// Correct predictions over the batch, `[1]` (zero unless the shards counted them).
    pub correct: Tensor<B::InnerBackend, 1>,
    /// The super-net with its batch-norm statistics merged from the replicas.
    pub net: SuperNet<B>,
}

/// One shard's result, before merging.
struct ShardOutput<B: AutodiffBackend> {
    grads: GradientsParams,
    loss: Tensor<B::InnerBackend, 1>,
    correct: Option<Tensor<B::InnerBackend, 1>>,
    statistics: RunningStatistics<B>,
    weight: f64,
}

/// Runs one step's forward and backward over the shards of `batch`: shard `s` on
/// `devices[s mod devices.len()]`, each as a task of rayon's pool, with `forward`
/// computing the shard's loss on its replicas. `net` and `arch` are left as they are, except that
/// the returned [`ParallelStep::net`] carries the merged batch-norm statistics.
pub(crate) fn parallel_step<B, F>(
    net: SuperNet<B>,
    arch: &ArchParams<B>,
    batch: &ImageBatch<B>,
    shards: usize,
    devices: &[B::Device],
    target: StepTarget,
    forward: F,
) -> Result<ParallelStep<B>, SearchError>
where
    B: AutodiffBackend,
    F: Fn(&SuperNet<B>, &ArchParams<B>, &ImageBatch<B>) -> Result<ShardLoss<B>, SearchError> + Sync,
{
    let primary = batch.images.device();
    let total = batch.targets.dims()[0];
    let sizes = shard_sizes(total, shards);
    let mut start = 0;
    let mut jobs = Vec::with_capacity(sizes.len());
    for (s, &size) in sizes.iter().enumerate() {
        let device = devices[s % devices.len()].clone();
        let shard = ImageBatch {
            images: batch
                .images
                .clone()
                .narrow(0, start, size)
                .to_device(&device),
            targets: batch
                .targets
                .clone()
                .narrow(0, start, size)
                .to_device(&device),
        };
        start += size;
        // Built here, on this thread; each with running statistics of its own.
        let net = replicate(&net, &device);
        let arch = replicate(arch, &device);
        let (net, arch) = match target {
            StepTarget::Architecture => (net.no_grad(), arch),
            StepTarget::Weights => (net, arch.no_grad()),
        };
        jobs.push((net, arch, shard, size as f64 / total as f64));
    }

    // The shards run as tasks of rayon's pool, the pool burn-flex's kernels split
    // work on: a caller on a worker of that pool (`entrannas_run::on_worker_pool`)
    // takes part instead of blocking it, which with one thread would never finish.
    let (forward, on_primary) = (&forward, &primary);
    let outputs: Vec<Result<ShardOutput<B>, SearchError>> = jobs
        .into_par_iter()
        .map(
            |(net, arch, shard, weight)| -> Result<ShardOutput<B>, SearchError> {
                let (loss, correct) = forward(&net, &arch, &shard)?;
                let loss = loss.mul_scalar(weight);
                let value = loss.clone().detach().inner().to_device(on_primary);
                let gradients = loss.backward();
                let grads = match target {
                    StepTarget::Architecture => GradientsParams::from_grads(gradients, &arch),
                    StepTarget::Weights => GradientsParams::from_grads(gradients, &net),
                };
                Ok(ShardOutput {
                    grads,
                    loss: value,
                    correct: correct.map(|c| c.to_device(on_primary)),
                    statistics: RunningStatistics::read(&net),
                    weight,
                })
            },
        )
        .collect();
    let outputs = outputs.into_iter().collect::<Result<Vec<_>, _>>()?;

    let mut parts = Vec::with_capacity(outputs.len());
    let mut rest = Vec::with_capacity(outputs.len());
    for output in outputs {
        parts.push(output.grads);
        rest.push((
            output.loss,
            output.correct,
            output.statistics,
            output.weight,
        ));
    }
    let grads = match target {
        StepTarget::Architecture => sum_gradients(arch, &parts, &primary),
        StepTarget::Weights => sum_gradients(&net, &parts, &primary),
    };
    let zero = || Tensor::<B::InnerBackend, 1>::zeros([1], &primary);
    let (mut loss, mut correct) = (zero(), zero());
    let mut statistics = Vec::with_capacity(rest.len());
    for (shard_loss, shard_correct, shard_statistics, weight) in rest {
        loss = loss + shard_loss;
        if let Some(shard_correct) = shard_correct {
            correct = correct + shard_correct;
        }
        statistics.push((shard_statistics, weight));
    }
    let net = RunningStatistics::write_weighted_mean(net, &statistics);
    Ok(ParallelStep {
        grads,
        loss,
        correct,
        net,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::{AutodiffModule, ModuleVisitor, Param};
    use burn::tensor::{DType, Int, TensorData};
    use entrannas_data::{DatasetInfo, DatasetKind};

    use crate::SearchConfig;
    use crate::isolated::seeded;
    use crate::searcher::{Searcher, architecture_loss, weight_loss};
    use crate::space::Method;

    type B = Autodiff<NdArray<f64>>;

    /// Each gradient of `module`'s parameters in `grads`, flattened, in module order.
    fn flat<M: AutodiffModule<B>>(module: &M, grads: &GradientsParams) -> Vec<Vec<f64>> {
        struct Flat<'a>(&'a GradientsParams, Vec<Vec<f64>>);
        impl ModuleVisitor<B> for Flat<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                if let Some(g) = self.0.get::<NdArray<f64>, D>(param.id) {
                    self.1.push(g.into_data().to_vec::<f64>().unwrap());
                }
            }
        }
        let mut visitor = Flat(grads, Vec::new());
        module.visit(&mut visitor);
        visitor.1
    }

    /// Images in the batch of [`batch`].
    const N: usize = 5;

    /// A deterministic batch of [`N`] 3x8x8 images in 3 classes.
    fn batch() -> ImageBatch<B> {
        let pixels: Vec<f64> = (0..N * 3 * 64).map(|i| (i as f64 * 0.37).sin()).collect();
        let images: Tensor<B, 4> =
            Tensor::from_data(TensorData::new(pixels, [N, 3, 8, 8]), &Default::default());
        // The 1e-9 comparisons need float64 (ARCHITECTURE.md: one precision per device type).
        assert_eq!(images.dtype(), DType::F64);
        ImageBatch::<B> {
            images,
            targets: Tensor::<B, 1, Int>::from_data(
                TensorData::new(vec![0i64, 2, 1, 1, 0], [N]),
                &Default::default(),
            ),
        }
    }

    /// A small searcher for [`batch`]'s images.
    fn searcher(method: Method) -> Searcher<B> {
        let info = DatasetInfo::new(
            DatasetKind::Cifar10,
            [3, 8, 8],
            vec!["a".into(), "b".into(), "c".into()],
        );
        let config = SearchConfig::new()
            .with_method(method)
            .with_channels(4)
            .with_layers(3)
            .with_batch_size(N);
        Searcher::<B>::new(config, &info, &Default::default()).unwrap()
    }

    #[test]
    fn frozen_weights_change_no_architecture_gradient() {
        let _turn = seeded();
        // The architecture step runs the super-net with its weights frozen, so that
        // the backward pass skips their gradients; alpha/beta's must not change.
        for method in [Method::Entran, Method::Dst] {
            let s = searcher(method);
            let derivation = s.derive(0.7).unwrap();
            let grads = |net: &SuperNet<B>| {
                let (loss, _) =
                    architecture_loss(net, &s.arch, method, 0.3, &derivation, 0.7, &batch())
                        .unwrap();
                flat(
                    &s.arch,
                    &GradientsParams::from_grads(loss.backward(), &s.arch),
                )
            };
            let tracked = grads(&s.net);
            let frozen = grads(&s.net.clone().no_grad());
            assert!(!tracked.is_empty());
            assert_eq!(tracked, frozen, "{method}");
        }
    }

    #[test]
    fn sharded_gradients_are_the_size_weighted_sum_of_each_shards_own() {
        let _turn = seeded();
        let (n, batch) = (N, batch());
        for method in [Method::Entran, Method::Dst] {
            let s = searcher(method);
            let (tau, lambda) = (0.7, 0.3);
            let derivation = s.derive(tau).unwrap();
            for shards in [2, 3] {
                for target in [StepTarget::Architecture, StepTarget::Weights] {
                    let loss = |net: &SuperNet<B>, arch: &ArchParams<B>, shard: &ImageBatch<B>| {
                        match target {
                            StepTarget::Architecture => architecture_loss(
                                net,
                                arch,
                                method,
                                lambda,
                                &derivation,
                                tau,
                                shard,
                            )
                            .map(|(l, _)| (l, None)),
                            StepTarget::Weights => {
                                weight_loss(net, arch, method, &derivation, tau, shard)
                                    .map(|(l, c, _)| (l, Some(c)))
                            }
                        }
                    };
                    let got = parallel_step(
                        s.net.clone(),
                        &s.arch,
                        &batch,
                        shards,
                        &[Default::default(), Default::default()],
                        target,
                        loss,
                    )
                    .unwrap();
                    // Each shard on its own, through the searcher's own modules.
                    let mut want: Vec<Vec<f64>> = Vec::new();
                    let (mut want_loss, mut start) = (0.0, 0);
                    for size in shard_sizes(n, shards) {
                        let shard = ImageBatch {
                            images: batch.images.clone().narrow(0, start, size),
                            targets: batch.targets.clone().narrow(0, start, size),
                        };
                        start += size;
                        let (l, _) = loss(&s.net, &s.arch, &shard).unwrap();
                        let l = l.mul_scalar(size as f64 / n as f64);
                        want_loss += l.clone().into_scalar();
                        let grads = l.backward();
                        let part = match target {
                            StepTarget::Architecture => {
                                flat(&s.arch, &GradientsParams::from_grads(grads, &s.arch))
                            }
                            StepTarget::Weights => {
                                flat(&s.net, &GradientsParams::from_grads(grads, &s.net))
                            }
                        };
                        if want.is_empty() {
                            want = part;
                        } else {
                            for (w, p) in want.iter_mut().zip(part) {
                                w.iter_mut().zip(p).for_each(|(w, p)| *w += p);
                            }
                        }
                    }
                    let have = match target {
                        StepTarget::Architecture => flat(&s.arch, &got.grads),
                        StepTarget::Weights => flat(&s.net, &got.grads),
                    };
                    let label = format!("{method}, {shards} shards, {target:?}");
                    assert!(!want.is_empty(), "{label}");
                    assert_eq!(have.len(), want.len(), "{label}");
                    for (h, w) in have.iter().flatten().zip(want.iter().flatten()) {
                        approx::assert_relative_eq!(*h, *w, epsilon = 1e-12, max_relative = 1e-9);
                    }
                    let got_loss = got.loss.into_scalar();
                    approx::assert_relative_eq!(got_loss, want_loss, max_relative = 1e-12);
                    if target == StepTarget::Weights {
                        let correct = got.correct.into_scalar();
                        assert!((0.0..=n as f64).contains(&correct), "{label}: {correct}");
                    }
                }
            }
        }
    }

    #[test]
    fn shards_cover_the_batch_as_evenly_as_possible() {
        assert_eq!(shard_sizes(10, 1), vec![10]);
        assert_eq!(shard_sizes(10, 3), vec![4, 3, 3]);
        assert_eq!(shard_sizes(8, 4), vec![2, 2, 2, 2]);
        assert_eq!(shard_sizes(2, 4), vec![1, 1]);
        assert_eq!(shard_sizes(0, 2), Vec::<usize>::new());
        for batch in 0..40 {
            for shards in 1..9 {
                let sizes = shard_sizes(batch, shards);
                assert_eq!(sizes.iter().sum::<usize>(), batch);
                assert!(sizes.len() <= shards);
                let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
                assert!(hi.zip(lo).is_none_or(|(h, l)| h - l <= 1));
            }
        }
    }
}
