//! Batch norm with an affine switch.
//!
//! burn's `BatchNorm` always learns a scale and shift; DARTS's search cells use
//! `affine = False`. This one makes the scale and shift optional, keeps running
//! statistics (unbiased variance, as PyTorch) and uses them outside autodiff.
//! [`PreciseStatistics`] re-estimates those statistics as a uniform average over many
//! batches ("precise BN"), for a network whose activations changed since training.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Weight of the newest batch in the running statistics (PyTorch's default).
pub const BN_MOMENTUM: f64 = 0.1;

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
    /// Weight of the newest batch in the running statistics: always [`BN_MOMENTUM`],
    /// which [`PreciseStatistics`] relies on.
    momentum: f64,
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
            momentum: BN_MOMENTUM,
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

/// The field names of [`BatchNorm2d`]'s running statistics, as module visitors and
/// mappers see them.
const RUNNING_FIELDS: [&str; 2] = ["running_mean", "running_var"];
/// [`BatchNorm2d`] as module visitors and mappers name its container.
const NORM_CONTAINER: &str = "Struct:BatchNorm2d";

/// The module path a visitor or mapper is at, enough to tell when the next float is a
/// [`BatchNorm2d`] running statistic.
#[derive(Debug, Default)]
struct Path(Vec<(String, String)>);

impl Path {
    fn enter(&mut self, name: &str, container: &str) {
        self.0.push((name.to_owned(), container.to_owned()));
    }

    fn exit(&mut self) {
        self.0.pop();
    }

    fn at_running_statistic(&self) -> bool {
        self.0.last().is_some_and(|(name, container)| {
            container == NORM_CONTAINER && RUNNING_FIELDS.contains(&name.as_str())
        })
    }
}

/// Running statistics re-estimated as the uniform average of many batches' statistics
/// ("precise BN"), where the running average's momentum would weight the last few
/// batches most.
///
/// For each batch: [`reset`](Self::reset) the module, run one training-mode forward
/// (autodiff backend; gradients may be off) of the batch through it, then
/// [`add`](Self::add) the module; finally [`apply`](Self::apply) writes the averages.
/// burn shares running statistics between clones of a module, so every step acts on
/// all clones: snapshot the module's record first if the statistics must be restored.
/// A running statistic that no batch reached (all its sums exactly zero) keeps the
/// value it had when [`new`](Self::new) saw it.
#[derive(Debug)]
pub struct PreciseStatistics<B: Backend> {
    /// Each statistic's value before the first reset, by parameter id.
    original: HashMap<ParamId, Tensor<B, 1>>,
    /// Each statistic's sum of per-batch values.
    sums: HashMap<ParamId, Tensor<B, 1>>,
    /// Batches added.
    batches: usize,
}

impl<B: Backend> PreciseStatistics<B> {
    /// Starts an estimate for `module`'s batch norms, remembering their current
    /// statistics.
    pub fn new<M: Module<B>>(module: &M) -> Self {
        Self {
            original: read_running_statistics(module),
            sums: HashMap::new(),
            batches: 0,
        }
    }

    /// Folds pending running-statistic updates in and sets every running statistic of
    /// `module` to zero, so that the next training-mode forward leaves [`BN_MOMENTUM`]
    /// times its batch's statistics there.
    pub fn reset<M: Module<B>>(module: M) -> M {
        sync(&module);
        module.map(&mut WriteStatistics {
            path: Path::default(),
            value: |tensor: Tensor<B, 1>, _| tensor.zeros_like(),
        })
    }

    /// Adds the statistics left by the batch forwarded since the last
    /// [`reset`](Self::reset).
    pub fn add<M: Module<B>>(&mut self, module: &M) {
        for (id, value) in read_running_statistics(module) {
            let batch = value.div_scalar(BN_MOMENTUM);
            let sum = match self.sums.remove(&id) {
                Some(sum) => sum.add(batch),
                None => batch,
            };
            self.sums.insert(id, sum);
        }
        self.batches += 1;
    }

    /// The number of batches added.
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// Whether some batch reached each statistic (a non-zero sum), read back to the
    /// host in one transfer.
    fn reached(&self) -> HashMap<ParamId, bool> {
        let (ids, largest): (Vec<ParamId>, Vec<Tensor<B, 1>>) = self
            .sums
            .iter()
            .map(|(id, sum)| (*id, sum.clone().abs().max()))
            .unzip();
        if ids.is_empty() {
            return HashMap::new();
        }
        let data = Tensor::cat(largest, 0).into_data();
        ids.into_iter()
            .zip(data.iter::<f64>())
            .map(|(id, value)| (id, value != 0.0))
            .collect()
    }

    /// Writes each statistic's average over the added batches into `module` (the
    /// value before the first reset where no batch reached it, or no batch was added).
    pub fn apply<M: Module<B>>(&self, module: M) -> M {
        sync(&module);
        let batches = self.batches.max(1) as f64;
        let reached = self.reached();
        module.map(&mut WriteStatistics {
            path: Path::default(),
            value: |tensor: Tensor<B, 1>, id: ParamId| match (self.sums.get(&id), reached.get(&id))
            {
                (Some(sum), Some(true)) => sum.clone().div_scalar(batches),
                _ => self.original.get(&id).cloned().unwrap_or(tensor),
            },
        })
    }
}

/// The running statistics of every [`BatchNorm2d`] of a module, by parameter id: what a
/// data-parallel replica brings back from its shard, to be merged into the module the
/// replicas were made from ([`RunningStatistics::write_weighted_mean`]).
#[derive(Debug, Clone)]
pub struct RunningStatistics<B: Backend>(HashMap<ParamId, Tensor<B, 1>>);

impl<B: Backend> RunningStatistics<B> {
    /// Reads `module`'s statistics, pending updates folded in.
    pub fn read<M: Module<B>>(module: &M) -> Self {
        Self(read_running_statistics(module))
    }

    /// The number of statistics read (two per batch norm).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the module had no batch norm.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets each running statistic of `target` to `sum_i weight_i * part_i` over the
    /// `(statistics, weight)` pairs of `parts` that hold it (moved to the statistic's
    /// device, added in the order of `parts`); one no part holds keeps its value.
    ///
    /// Replicas that started from the same statistics and each ran one training-mode
    /// forward of a shard, weighted by shard size over batch size, give the running
    /// mean the whole batch would have given, and the size-weighted mean of the shards'
    /// variances (the variance between shards is not in it).
    pub fn write_weighted_mean<M: Module<B>>(target: M, parts: &[(Self, f64)]) -> M {
        sync(&target);
        target.map(&mut WriteStatistics {
            path: Path::default(),
            value: |tensor: Tensor<B, 1>, id: ParamId| {
                let device = tensor.device();
                parts
                    .iter()
                    .filter_map(|(statistics, weight)| {
                        let part = statistics.0.get(&id)?;
                        Some(part.clone().to_device(&device).mul_scalar(*weight))
                    })
                    .reduce(|sum, part| sum + part)
                    .unwrap_or(tensor)
            },
        })
    }
}

/// Folds every pending running-statistic update of `module` (and its clones) in.
fn sync<B: Backend, M: Module<B>>(module: &M) {
    // `into_record` synchronizes each running state, which clones share.
    let _ = module.clone().into_record();
}

/// Every [`BatchNorm2d`] running statistic of `module`, synchronized, by parameter id.
fn read_running_statistics<B: Backend, M: Module<B>>(module: &M) -> HashMap<ParamId, Tensor<B, 1>> {
    sync(module);
    let mut reader = ReadStatistics {
        path: Path::default(),
        values: HashMap::new(),
    };
    module.visit(&mut reader);
    reader.values
}

/// Collects the running statistics a module visit passes.
struct ReadStatistics<B: Backend> {
    path: Path,
    values: HashMap<ParamId, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for ReadStatistics<B> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.path.at_running_statistic() {
            let tensor = param.val();
            let len = tensor.shape().num_elements();
            self.values.insert(param.id, tensor.reshape([len]));
        }
    }
}

/// Replaces every running statistic a module map passes by `value(current, id)`.
struct WriteStatistics<F> {
    path: Path,
    value: F,
}

impl<B: Backend, F: FnMut(Tensor<B, 1>, ParamId) -> Tensor<B, 1>> ModuleMapper<B>
    for WriteStatistics<F>
{
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if !self.path.at_running_statistic() {
            return param;
        }
        let (id, tensor, _) = param.consume();
        let shape = tensor.shape();
        let len = shape.num_elements();
        let value = (self.value)(tensor.reshape([len]), id);
        Param::initialized(id, value.reshape(shape))
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
    fn replicas_statistics_merge_by_shard_weight() {
        let device = Default::default();
        let norm = BatchNorm2d::<Ad>::new(1, false, &device);
        // Shard a: 1, 2, 3 (mean 2, unbiased var 1); shard b: 10 (one value: mean 10,
        // var 0 by the `count - 1 >= 1` rule). The whole batch's mean is 4.
        let shard = |v: Vec<f64>| {
            let n = v.len();
            Tensor::<Ad, 4>::from_data(TensorData::new(v, [n, 1, 1, 1]), &device)
        };
        let a = crate::replicate(&norm, &device);
        let b = crate::replicate(&norm, &device);
        let _ = a.forward(shard(vec![1.0, 2.0, 3.0]));
        let _ = b.forward(shard(vec![10.0]));
        let parts = [
            (RunningStatistics::read(&a), 0.75),
            (RunningStatistics::read(&b), 0.25),
        ];
        assert_eq!(parts[0].0.len(), 2);
        let merged = RunningStatistics::write_weighted_mean(norm.clone(), &parts);
        // 0.9 x 0 + 0.1 x (0.75 x 2 + 0.25 x 10): the whole batch's running mean.
        assert_relative_eq!(
            values(merged.running_mean.value_sync())[0],
            0.1 * 4.0,
            epsilon = 1e-12
        );
        // 0.9 x 1 + 0.1 x (0.75 x 1 + 0.25 x 0): the shards' variances, size-weighted.
        assert_relative_eq!(
            values(merged.running_var.value_sync())[0],
            0.9 + 0.1 * 0.75,
            epsilon = 1e-12
        );
        // A module the parts know nothing of keeps its statistics.
        let other = BatchNorm2d::<Ad>::new(1, false, &device);
        let kept = RunningStatistics::write_weighted_mean(other, &parts);
        assert_eq!(values(kept.running_mean.value_sync()), vec![0.0]);
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

    /// One channel, the batch `values` as `[n, 1, 1, 1]`.
    fn column(values: &[f64]) -> Tensor<Ad, 4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len(), 1, 1, 1]),
            &Default::default(),
        )
    }

    #[derive(Module, Debug)]
    struct Nested<B: Backend> {
        reached: Vec<BatchNorm2d<B>>,
        unreached: BatchNorm2d<B>,
    }

    #[test]
    fn precise_statistics_average_every_batch_uniformly() {
        let device = Default::default();
        let net = Nested {
            reached: vec![BatchNorm2d::<Ad>::new(1, true, &device)],
            unreached: BatchNorm2d::new(1, false, &device),
        };
        // Earlier training leaves statistics in both norms.
        let _ = net.reached[0].forward(column(&[10.0, 12.0]));
        let _ = net.unreached.forward(column(&[10.0, 12.0]));
        let before = values(net.unreached.running_var.value_sync());

        let mut precise = PreciseStatistics::new(&net);
        // Batch means 2.5 and 5, unbiased variances 5/3 and 20/3, and a third batch
        // (mean 0, variance 2) to tell a uniform average from a momentum average.
        for batch in [
            &[1.0, 2.0, 3.0, 4.0][..],
            &[2.0, 4.0, 6.0, 8.0],
            &[-1.0, 1.0],
        ] {
            let net_now = PreciseStatistics::reset(net.clone());
            let _ = net_now.reached[0].forward(column(batch));
            precise.add(&net_now);
        }
        assert_eq!(precise.batches(), 3);
        let net = precise.apply(net);
        assert_relative_eq!(
            values(net.reached[0].running_mean.value_sync())[0],
            (2.5 + 5.0 + 0.0) / 3.0,
            epsilon = 1e-12
        );
        assert_relative_eq!(
            values(net.reached[0].running_var.value_sync())[0],
            (5.0 / 3.0 + 20.0 / 3.0 + 2.0) / 3.0,
            epsilon = 1e-12
        );
        // The norm no batch reached keeps its statistics.
        assert_relative_eq!(
            values(net.unreached.running_mean.value_sync())[0],
            0.1 * 11.0,
            epsilon = 1e-12
        );
        assert_eq!(values(net.unreached.running_var.value_sync()), before);
        // Evaluation normalizes with the average.
        let inference = net.valid();
        let x =
            Tensor::<NdArray<f64>, 4>::from_data(TensorData::new(vec![3.0], [1, 1, 1, 1]), &device);
        let var: f64 = (5.0 / 3.0 + 20.0 / 3.0 + 2.0) / 3.0;
        assert_relative_eq!(
            values(inference.reached[0].forward(x))[0],
            (3.0 - 2.5) / (var + 1e-5).sqrt(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn precise_statistics_without_batches_change_nothing() {
        let device = Default::default();
        let norm = BatchNorm2d::<Ad>::new(1, false, &device);
        let _ = norm.forward(column(&[1.0, 3.0]));
        let mean = values(norm.running_mean.value_sync());
        let precise = PreciseStatistics::new(&norm);
        let norm = precise.apply(PreciseStatistics::reset(norm));
        assert_eq!(values(norm.running_mean.value_sync()), mean);
        assert_eq!(values(norm.running_var.value_sync()), vec![0.9 + 0.1 * 2.0]);
    }
}
