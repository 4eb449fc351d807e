//! Batch norm with an affine switch.
//!
//! burn's `BatchNorm` always learns a scale and shift; DARTS's search cells use
//! `affine = False`. This one makes the scale and shift optional, keeps running
//! statistics (unbiased variance, as PyTorch) and uses them outside autodiff.

use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// 2-D batch norm over `[batch, channels, height, width]`, optionally affine.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    /// Learnable scale, present when affine.
    pub gamma: Option<Param<Tensor<B, 1>>>,
    /// Learnable shift, present when affine.
    pub beta: Option<Param<Tensor<B, 1>>>,
    /// Running mean, used in evaluation.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (unbiased) variance, used in evaluation.
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Weight of the newest batch in the running statistics (PyTorch's 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// A batch norm over `channels` channels; `affine` adds scale (ones) and shift (zeros).
    pub fn new(channels: usize, affine: bool, device: &B::Device) -> Self {
        let param = |value: Tensor<B, 1>| Some(Param::from_tensor(value));
        Self {
            gamma: if affine {
                param(Tensor::ones([channels], device))
            } else {
                None
            },
            beta: if affine {
                param(Tensor::zeros([channels], device))
            } else {
                None
            },
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalises with the batch statistics when gradients are tracked (training) and
    /// updates the running statistics; with the running statistics otherwise.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, channels, height, width] = input.dims();
        let device = input.device();
        // Work on rows `[batch * channels, pixels]`: a free reshape, and per-channel
        // values broadcast along rows, which CPU backends do far faster than a 4-D
        // broadcast over `[1, C, 1, 1]`.
        let rows = input.reshape([batch * channels, height * width]);
        let per_row = |per_channel: Tensor<B, 1>| {
            per_channel
                .reshape([1, channels])
                .repeat_dim(0, batch)
                .reshape([batch * channels, 1])
        };
        let (centered, var) = if B::ad_enabled(&device) {
            let count = (batch * height * width) as f64;
            let per_channel = |t: Tensor<B, 2>| {
                t.sum_dim(1)
                    .reshape([batch, channels])
                    .sum_dim(0)
                    .reshape([channels])
                    .div_scalar(count)
            };
            let mean = per_channel(rows.clone());
            let centered = rows.sub(per_row(mean.clone()));
            let var = per_channel(centered.clone().square());
            let unbiased = count / (count - 1.0).max(1.0);
            let update = |state: &RunningState<Tensor<B, 1>>, batch_value: Tensor<B, 1>| {
                let old = state.value_sync().to_device(&device);
                let new = old
                    .mul_scalar(1.0 - self.momentum)
                    .add(batch_value.detach().mul_scalar(self.momentum));
                state.update(new.detach());
            };
            update(&self.running_mean, mean);
            update(&self.running_var, var.clone().mul_scalar(unbiased));
            (centered, var)
        } else {
            let mean = self.running_mean.value().to_device(&device);
            (
                rows.sub(per_row(mean)),
                self.running_var.value().to_device(&device),
            )
        };
        let mut scale = var.add_scalar(self.epsilon).sqrt().recip();
        if let Some(gamma) = &self.gamma {
            scale = scale.mul(gamma.val());
        }
        let mut out = centered.mul(per_row(scale));
        if let Some(beta) = &self.beta {
            out = out.add(per_row(beta.val()));
        }
        out.reshape([batch, channels, height, width])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::AutodiffModule;
    use burn::tensor::TensorData;

    type Ad = Autodiff<NdArray<f64>>;

    fn values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f64> {
        t.into_data().to_vec::<f64>().unwrap()
    }

    #[test]
    fn training_updates_running_statistics_and_evaluation_uses_them() {
        let device = Default::default();
        let norm = BatchNorm2d::<Ad>::new(1, false, &device);
        // One channel, values 1..=4: mean 2.5, biased var 1.25, unbiased var 5/3.
        let x = Tensor::<Ad, 4>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [2, 1, 1, 2]),
            &device,
        );
        let out = values(norm.forward(x.clone()));
        let std = (1.25f64 + 1e-5).sqrt();
        assert_relative_eq!(out[0], (1.0 - 2.5) / std, epsilon = 1e-12);
        assert_relative_eq!(
            values(norm.running_mean.value_sync())[0],
            0.25,
            epsilon = 1e-12
        );
        assert_relative_eq!(
            values(norm.running_var.value_sync())[0],
            0.9 + 0.1 * 5.0 / 3.0,
            epsilon = 1e-12
        );

        // Evaluation (no autodiff) uses the running statistics, not the batch's.
        let inference = norm.valid();
        let x = Tensor::<NdArray<f64>, 4>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [2, 1, 1, 2]),
            &device,
        );
        let out = values(inference.forward(x));
        let var = 0.9 + 0.1 * 5.0 / 3.0;
        assert_relative_eq!(
            out[3],
            (4.0 - 0.25) / (var + 1e-5f64).sqrt(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn affine_switch_adds_exactly_scale_and_shift() {
        let device = Default::default();
        assert!(
            BatchNorm2d::<NdArray<f64>>::new(5, false, &device)
                .gamma
                .is_none()
        );
        let affine = BatchNorm2d::<NdArray<f64>>::new(5, true, &device);
        assert_eq!(affine.gamma.as_ref().unwrap().dims(), [5]);
        assert_eq!(affine.beta.as_ref().unwrap().dims(), [5]);
    }
}
