//! Replicas of a module for data-parallel steps.

use std::collections::HashSet;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// A copy of `module` on `device` for one data-parallel shard: the same parameter ids
/// and values, the same parameters requiring gradients, and batch-norm running
/// statistics of its own.
///
/// A plain `clone().fork(device)` would share the running statistics with `module`
/// (burn keeps them behind a shared lock and records updates per thread), so replicas
/// updating them in parallel threads would interfere; a replica's statistics are
/// instead read back and merged explicitly
/// ([`RunningStatistics`](crate::RunningStatistics)).
pub fn replicate<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, device: &B::Device) -> M {
    // Going through the inner backend gives fresh running statistics, but burn 0.21
    // drops the parameters' gradient requirement on the way back; restore it by id.
    struct Trainable(HashSet<ParamId>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Trainable {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if param.val().is_require_grad() {
                self.0.insert(param.id);
            }
        }
    }
    struct RequireGrad(HashSet<ParamId>);
    impl<B: AutodiffBackend> ModuleMapper<B> for RequireGrad {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            if self.0.contains(&param.id) {
                param.set_require_grad(true)
            } else {
                param
            }
        }
    }
    let mut trainable = Trainable(HashSet::new());
    module.visit(&mut trainable);
    M::from_inner(module.valid())
        .fork(device)
        .map(&mut RequireGrad(trainable.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, TensorData};

    use crate::norm::BatchNorm2d;

    type Ad = Autodiff<NdArray<f64>>;

    #[derive(Module, Debug)]
    struct Net<B: burn::tensor::backend::Backend> {
        weight: Param<Tensor<B, 1>>,
        frozen: Param<Tensor<B, 1>>,
        norm: BatchNorm2d<B>,
    }

    fn net() -> Net<Ad> {
        let device = Default::default();
        Net {
            weight: Param::from_tensor(Tensor::from_data(TensorData::from([2.0, -1.0]), &device)),
            frozen: Param::from_tensor(Tensor::from_data(TensorData::from([3.0, 5.0]), &device))
                .set_require_grad(false),
            norm: BatchNorm2d::new(2, false, &device),
        }
    }

    fn forward(net: &Net<Ad>) -> Tensor<Ad, 1> {
        let input =
            Tensor::<Ad, 4>::random([3, 2, 2, 2], Distribution::Default, &Default::default());
        let scale = (net.weight.val() * net.frozen.val()).reshape([1, 2, 1, 1]);
        net.norm.forward(input * scale).sum()
    }

    #[test]
    fn a_replica_keeps_ids_values_and_gradients_but_not_the_statistics() {
        let original = net();
        let replica = replicate(&original, &Default::default());
        assert_eq!(replica.weight.id, original.weight.id);
        assert_eq!(
            replica.frozen.val().into_data(),
            original.frozen.val().into_data()
        );
        assert!(replica.weight.val().is_require_grad());
        assert!(!replica.frozen.val().is_require_grad());
        let grads = GradientsParams::from_grads(forward(&replica).backward(), &replica);
        assert_eq!(grads.len(), 1);
        assert!(grads.get::<NdArray<f64>, 1>(original.weight.id).is_some());
        // The replica's training-mode forward moved its own running mean only.
        let mean = |n: &Net<Ad>| n.norm.running_mean.value_sync().into_data();
        assert_ne!(mean(&replica), mean(&original));
        assert_eq!(
            mean(&original),
            TensorData::from([0.0, 0.0]).convert::<f64>()
        );
    }
}
