//! Gradient utilities shared by the search and the evaluation trainers.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// Scales all gradients of `module` so that their global L2 norm is at most
/// `max_norm`, as PyTorch's `clip_grad_norm_` (burn's own clipping is per tensor).
/// The scale stays on the device: no read-back.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> GradientsParams {
    struct SquaredNorm<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        total: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let s = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
    }
    struct Scale<'a, B: AutodiffBackend> {
        grads: &'a mut GradientsParams,
        factor: Tensor<B::InnerBackend, 1>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                let factor = self.factor.clone().reshape([1; D]);
                self.grads
                    .register::<B::InnerBackend, D>(param.id, g * factor);
            }
        }
    }
    let mut norm = SquaredNorm::<B> {
        grads: &grads,
        total: None,
    };
    module.visit(&mut norm);
    let Some(total) = norm.total else {
        return grads;
    };
    let factor = total
        .sqrt()
        .add_scalar(1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    module.visit(&mut Scale::<B> {
        grads: &mut grads,
        factor,
    });
    grads
}

/// The sum of gradient sets of `module`'s parameters, as data-parallel replicas of one
/// module (same parameter ids, any devices) computed them: each parameter's gradients
/// are moved to `device` and added in the order of `parts`, so the sum does not depend
/// on which replica finished first. A parameter no part has a gradient for has none in
/// the sum.
pub fn sum_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    parts: &[GradientsParams],
    device: &B::Device,
) -> GradientsParams {
    struct Sum<'a, B: AutodiffBackend> {
        parts: &'a [GradientsParams],
        device: &'a B::Device,
        sum: GradientsParams,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Sum<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let total = self
                .parts
                .iter()
                .filter_map(|grads| grads.get::<B::InnerBackend, D>(param.id))
                .map(|grad| grad.to_device(self.device))
                .reduce(|total, grad| total + grad);
            if let Some(total) = total {
                self.sum.register::<B::InnerBackend, D>(param.id, total);
            }
        }
    }
    let mut sum = Sum::<B> {
        parts,
        device,
        sum: GradientsParams::new(),
    };
    module.visit(&mut sum);
    sum.sum
}
