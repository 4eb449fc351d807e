//! Training a target-net from scratch (SGD with momentum, weight decay, global
//! gradient-norm clip, auxiliary loss, drop-path) and evaluating it.
//!
//! Reproducibility: the net is initialised after seeding the backend with the
//! configured seed; every epoch reseeds it from `(seed, epoch)` before its drop-path
//! masks are drawn, and the batch order and augmentation depend only on
//! `(seed, epoch)`. An epoch therefore computes the same thing whether the training
//! ran straight through or was resumed from a checkpoint.

use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use entrannas_cell::{Genotype, TargetCost, TargetNetSpec};
use entrannas_data::mix_seed;
use entrannas_data::{DatasetInfo, ImageBatch, ImageDataset, OpenedDataset, Prefetch, epoch_order};
use entrannas_ops::EpochProjection;
use entrannas_ops::OpRegistry;
use entrannas_ops::clip_global_norm;
use entrannas_run::history::HistoryRecord;
use entrannas_run::{RunObserver, StepProgress};
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::config::TrainConfig;
use crate::net::TargetNet;

/// The optimizer's type: SGD on the inner backend, adapted to the autodiff net.
pub type TargetOptimizer<B> =
    OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, TargetNet<B>, B>;

/// Distinguishes the drop-path seed of an epoch from the shuffle seed.
const DROP_PATH_SALT: u64 = 0xd20b;

/// Everything recorded about one epoch (one line of `history.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Drop-path probability used.
    pub drop_path: f64,
    /// Mean training loss (label smoothing and weighted auxiliary loss included).
    pub train_loss: f64,
    /// Training accuracy of the main classifier.
    pub train_accuracy: f64,
    /// Mean test cross-entropy (no smoothing).
    pub test_loss: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Wall time of the epoch in seconds, evaluation included.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// Receives a training's progress; the CLI draws bars and writes logs from it. Any
/// [`RunObserver`] of training records is one (`()` ignores everything).
pub trait TrainObserver: RunObserver<EpochRecord> {}

impl<T: RunObserver<EpochRecord> + ?Sized> TrainObserver for T {}

const FLOATS: [&str; 8] = [
    "lr",
    "drop_path",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "images_per_second",
];

impl HistoryRecord for EpochRecord {
    const CSV_HEADER: &'static str = "epoch,lr,drop_path,train_loss,train_accuracy,test_loss,test_accuracy,test_error,seconds,images_per_second";

    fn csv_row(&self) -> String {
        format!(
            "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3},{:.1}",
            self.epoch,
            self.lr,
            self.drop_path,
            self.train_loss,
            self.train_accuracy,
            self.test_loss,
            self.test_accuracy,
            1.0 - self.test_accuracy,
            self.seconds,
            self.images_per_second
        )
    }

    fn is_float(path: &[&str]) -> bool {
        matches!(path, [field] if FLOATS.contains(field))
    }

    fn set_nan(&mut self, path: &[&str]) {
        let nan = f64::NAN;
        match path {
            ["lr"] => self.lr = nan,
            ["drop_path"] => self.drop_path = nan,
            ["train_loss"] => self.train_loss = nan,
            ["train_accuracy"] => self.train_accuracy = nan,
            ["test_loss"] => self.test_loss = nan,
            ["test_accuracy"] => self.test_accuracy = nan,
            ["seconds"] => self.seconds = nan,
            ["images_per_second"] => self.images_per_second = nan,
            _ => {}
        }
    }
}

/// The state of a training: configuration, net and optimizer.
pub struct Trainer<B: AutodiffBackend> {
    /// The configuration.
    pub(crate) config: TrainConfig,
    /// The genotype the net is built from.
    pub(crate) genotype: Genotype,
    /// The net's shape.
    pub(crate) spec: TargetNetSpec,
    /// Parameters and FLOPs of the net.
    pub(crate) cost: TargetCost,
    /// The net.
    pub(crate) net: TargetNet<B>,
    /// The optimizer (SGD with momentum).
    pub(crate) optimizer: TargetOptimizer<B>,
    device: B::Device,
}

fn optimizer<B: AutodiffBackend>(config: &TrainConfig) -> TargetOptimizer<B> {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init()
}

impl<B: AutodiffBackend> Trainer<B> {
    /// A fresh training of `genotype` on a dataset described by `info`: seeds the
    /// backend with `config.seed` and initialises the net.
    pub fn new(
        config: TrainConfig,
        genotype: Genotype,
        registry: &OpRegistry,
        info: &DatasetInfo,
        device: &B::Device,
    ) -> Result<Self, EvalError> {
        config.validate()?;
        let spec = config.target_spec(info);
        let plan = spec.plan(&genotype, registry)?;
        B::seed(device, config.seed);
        let mut net = TargetNet::new(&plan, device);
        net.set_depthwise(config.depthwise);
        Ok(Self {
            optimizer: optimizer(&config),
            cost: plan.cost(),
            config,
            genotype,
            spec,
            net,
            device: device.clone(),
        })
    }

    /// The device.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// The configuration it trains with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The genotype the net is built from.
    pub fn genotype(&self) -> &Genotype {
        &self.genotype
    }

    /// The net's shape.
    pub fn spec(&self) -> &TargetNetSpec {
        &self.spec
    }

    /// Parameters and multiply-adds of the net.
    pub fn cost(&self) -> &TargetCost {
        &self.cost
    }

    /// The net (its weights, as trained so far).
    pub fn net(&self) -> &TargetNet<B> {
        &self.net
    }

    /// The training set (augmented with the configured cutout) and the test set
    /// (limited to `eval_limit` images) of `data`.
    pub fn datasets(
        &self,
        data: &OpenedDataset,
    ) -> Result<(ImageDataset, ImageDataset), EvalError> {
        let expected = self.spec.input_channels;
        if data.info.channels != expected {
            return Err(EvalError::InputShape {
                expected,
                found: data.info.channels,
            });
        }
        let augment = entrannas_data::AugmentConfig {
            cutout: self.config.cutout,
            ..data.augment.clone()
        };
        let train = data
            .train_dataset(self.config.seed)
            .with_augment(Some(augment), self.config.seed);
        let mut test = data.test_dataset();
        if let Some(limit) = self.config.eval_limit {
            test = test.with_indices((0..limit.min(data.test.len())).collect());
        }
        Ok((train, test))
    }

    /// Trains epoch `epoch` on `train`, then evaluates on `test`.
    pub fn train_epoch(
        &mut self,
        epoch: usize,
        train: &ImageDataset,
        test: &ImageDataset,
        observer: &mut dyn TrainObserver,
    ) -> Result<EpochRecord, EvalError> {
        let start = Instant::now();
        let config = self.config.clone();
        let lr = config.lr_at(epoch);
        let drop_path = config.drop_path_at(epoch);
        let batch = config.batch_size;
        let available = train.len().div_ceil(batch);
        if available == 0 {
            return Err(EvalError::EmptyDataset("training"));
        }
        let steps = config
            .steps_per_epoch
            .map_or(available, |s| s.min(available));
        let mut order = epoch_order(train.len(), config.seed, epoch, true);
        order.truncate(steps * batch);
        let batches = Prefetch::start(train, order, batch, epoch);
        B::seed(
            &self.device,
            mix_seed(&[config.seed, epoch as u64, DROP_PATH_SALT]),
        );
        observer.epoch_started(epoch, config.epochs, steps);

        let loss_fn = self.loss_fn();
        let zero = || Tensor::<B::InnerBackend, 1>::zeros([1], &self.device);
        let (mut loss_sum, mut correct) = (zero(), zero());
        let mut seen = 0usize;
        for step in 0..steps {
            let Some(b) = batches.next_batch::<B>(&self.device)? else {
                break;
            };
            let n = b.targets.dims()[0];
            let (loss, right) = self.step(b, &loss_fn, lr, drop_path);
            loss_sum = loss_sum + loss.mul_scalar(n as f64);
            correct = correct + right;
            seen += n;

            if (step + 1) % 10 == 0 || step + 1 == steps {
                // The step's only read-back (one device sync for both sums).
                let [loss, accuracy] =
                    scalars([loss_sum.clone(), correct.clone()]).map(|sum| sum / seen as f64);
                if !loss.is_finite() {
                    return Err(EvalError::Diverged { epoch, step });
                }
                observer.step(&StepProgress {
                    epoch,
                    step: step + 1,
                    steps,
                    loss,
                    accuracy,
                    images_per_second: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
                });
            }
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let (test_loss, test_accuracy) = evaluate(&self.net.valid(), test, batch)?;
        let seen_f = seen.max(1) as f64;
        let record = EpochRecord {
            epoch,
            lr,
            drop_path,
            train_loss: scalar(loss_sum) / seen_f,
            train_accuracy: scalar(correct) / seen_f,
            test_loss,
            test_accuracy,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: seen as f64 / train_seconds.max(1e-9),
        };
        observer.epoch_finished(&record);
        Ok(record)
    }
}

impl<B: AutodiffBackend> Trainer<B> {
    /// One training step on `batch` at learning rate `lr` with drop-path probability
    /// `drop_path`: forward (auxiliary loss added), backward, clipping, SGD update.
    /// Returns the batch's mean loss and its number of correct predictions, both
    /// still on the device.
    pub fn step(
        &mut self,
        batch: ImageBatch<B>,
        loss_fn: &CrossEntropyLoss<B>,
        lr: f64,
        drop_path: f64,
    ) -> (Tensor<B::InnerBackend, 1>, Tensor<B::InnerBackend, 1>) {
        let out = self.net.forward(batch.images, drop_path);
        let mut loss = loss_fn.forward(out.logits.clone(), batch.targets.clone());
        if let Some(aux) = out.auxiliary {
            let aux = loss_fn.forward(aux, batch.targets.clone());
            loss = loss + aux.mul_scalar(self.config.auxiliary_weight);
        }
        let mean = loss.clone().detach().inner();
        let correct = count_correct(out.logits.detach().inner(), batch.targets.inner());
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.net);
        if let Some(max_norm) = self.config.grad_clip {
            grads = clip_global_norm(&self.net, grads, max_norm);
        }
        self.net = self.optimizer.step(lr, self.net.clone(), grads);
        (mean, correct)
    }

    /// The loss function of training: cross-entropy with the configured label
    /// smoothing.
    pub fn loss_fn(&self) -> CrossEntropyLoss<B> {
        let smoothing =
            (self.config.label_smoothing > 0.0).then_some(self.config.label_smoothing as f32);
        CrossEntropyLossConfig::new()
            .with_smoothing(smoothing)
            .init(&self.device)
    }

    /// Times a few steps of epoch 0 on `train` (the first on its own, then `timed`
    /// more; `after_step` runs after each, for a memory probe) and the evaluation of up
    /// to two batches of `test`, and projects one epoch of the configuration from
    /// them: what `entrannas train --dry-run` prints. The steps change the net's
    /// weights: use a trainer made for the purpose.
    ///
    /// # Errors
    /// A training set smaller than `1 + timed` batches, or a data error.
    pub fn project_epoch(
        &mut self,
        train: &ImageDataset,
        test: &ImageDataset,
        timed: usize,
        after_step: &mut dyn FnMut(),
    ) -> Result<EpochProjection, EvalError> {
        let batch = self.config.batch_size;
        let available = train.len().div_ceil(batch);
        let steps_per_epoch = self
            .config
            .steps_per_epoch
            .map_or(available, |s| s.min(available));
        let count = (1 + timed).min(train.len() / batch.max(1));
        if count == 0 {
            return Err(EvalError::EmptyDataset("training"));
        }
        let mut order = epoch_order(train.len(), self.config.seed, 0, true);
        order.truncate(count * batch);
        let batches = Prefetch::start(train, order, batch, 0);
        let loss_fn = self.loss_fn();
        let (lr, drop_path) = (self.config.lr_at(0), self.config.drop_path_at(0));
        let mut seconds = Vec::with_capacity(count);
        while let Some(b) = batches.next_batch::<B>(&self.device)? {
            let start = Instant::now();
            let (loss, _) = self.step(b, &loss_fn, lr, drop_path);
            // Reading the loss waits for the forward; `sync` for the update.
            let _ = scalar(loss);
            let _ = B::sync(&self.device);
            seconds.push(start.elapsed().as_secs_f64());
            after_step();
        }
        let evaluation_seconds = if test.is_empty() {
            0.0
        } else {
            let probe = test.len().min(2 * batch);
            let sample = test.clone().with_indices((0..probe).collect());
            let start = Instant::now();
            evaluate(&self.net.valid(), &sample, batch)?;
            let per_batch = start.elapsed().as_secs_f64() / probe.div_ceil(batch) as f64;
            after_step();
            per_batch * test.len().div_ceil(batch) as f64
        };
        Ok(EpochProjection::from_steps(
            &seconds,
            steps_per_epoch,
            evaluation_seconds,
        ))
    }
}

/// Mean cross-entropy and accuracy of `net` on `dataset`, in batches of `batch_size`.
/// Pass an evaluation net (`net.valid()`): on an autodiff backend batch norm would use
/// and update batch statistics.
///
/// # Errors
/// An empty dataset, or images with another channel count than the net takes.
pub fn evaluate<B: Backend>(
    net: &TargetNet<B>,
    dataset: &ImageDataset,
    batch_size: usize,
) -> Result<(f64, f64), EvalError> {
    if dataset.is_empty() {
        return Err(EvalError::EmptyDataset("evaluation"));
    }
    let [channels, _, _] = dataset.shape();
    if channels != net.input_channels {
        return Err(EvalError::InputShape {
            expected: net.input_channels,
            found: channels,
        });
    }
    let device = net.classifier.weight.device();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let batches = Prefetch::start(
        dataset,
        (0..dataset.len()).collect(),
        batch_size,
        dataset.epoch() as usize,
    );
    let mut loss_sum = Tensor::<B, 1>::zeros([1], &device);
    let mut correct = loss_sum.clone();
    let mut total = 0usize;
    while let Some(batch) = batches.next_batch::<B>(&device)? {
        let n = batch.targets.dims()[0];
        let logits = net.logits(batch.images);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        loss_sum = loss_sum + loss.mul_scalar(n as f64);
        correct = correct + count_correct(logits, batch.targets);
        total += n;
    }
    let total = total.max(1) as f64;
    Ok((scalar(loss_sum) / total, scalar(correct) / total))
}

fn scalar<Bk: Backend>(t: Tensor<Bk, 1>) -> f64 {
    t.into_data().iter::<f64>().next().unwrap_or(f64::NAN)
}

/// The values of `N` one-element tensors, read back to the host together.
fn scalars<Bk: Backend, const N: usize>(parts: [Tensor<Bk, 1>; N]) -> [f64; N] {
    let data = Tensor::cat(parts.to_vec(), 0).into_data();
    let mut values = data.iter::<f64>();
    core::array::from_fn(|_| values.next().unwrap_or(f64::NAN))
}

fn count_correct<Bk: Backend>(logits: Tensor<Bk, 2>, targets: Tensor<Bk, 1, Int>) -> Tensor<Bk, 1> {
    let [n, _] = logits.dims();
    logits.argmax(1).reshape([n]).equal(targets).float().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{B, seeded, tiny_config, toy_data};

    #[test]
    fn a_few_steps_decrease_the_training_loss() {
        let _turn = seeded();
        let data = toy_data();
        let config = tiny_config().with_epochs(4);
        let mut trainer = Trainer::<B>::new(
            config,
            Genotype::builtin("darts_v2").unwrap(),
            &OpRegistry::default(),
            &data.info,
            &Default::default(),
        )
        .unwrap();
        let (train, test) = trainer.datasets(&data).unwrap();
        let records: Vec<EpochRecord> = (0..4)
            .map(|e| trainer.train_epoch(e, &train, &test, &mut ()).unwrap())
            .collect();
        let first = records[0].train_loss;
        let last = records[3].train_loss;
        assert!(last < 0.8 * first, "training loss {first} -> {last}");
        assert!(records[3].test_accuracy > 0.6, "{records:?}");
        assert!(records.iter().all(|r| r.test_loss.is_finite()));
        assert_eq!(records[0].drop_path, 0.0);
        assert!(records[3].drop_path > 0.0);
    }

    #[test]
    fn several_sums_are_read_back_together_in_order() {
        let device = Default::default();
        let one = |v: f32| Tensor::<crate::testing::Inner, 1>::from_floats([v], &device);
        let [a, b, c] = scalars([one(1.5), one(-2.25), one(7.0)]);
        assert_eq!((a, b, c), (1.5, -2.25, 7.0));
    }

    #[test]
    fn global_clipping_scales_every_gradient_by_one_factor() {
        let _turn = seeded();
        let device = Default::default();
        let linear = burn::nn::LinearConfig::new(3, 2).init::<B>(&device);
        let x = Tensor::<B, 2>::ones([4, 3], &device).mul_scalar(10.0);
        let loss = linear.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        let norm = |g: &GradientsParams| {
            let w = g.get::<crate::testing::Inner, 2>(linear.weight.id).unwrap();
            let b = g
                .get::<crate::testing::Inner, 1>(linear.bias.as_ref().unwrap().id)
                .unwrap();
            (w.square().sum().into_scalar() + b.square().sum().into_scalar()).sqrt()
        };
        assert!(norm(&grads) > 5.0);
        let clipped = clip_global_norm(&linear, grads, 1.0);
        assert!((norm(&clipped) - 1.0).abs() < 1e-4, "{}", norm(&clipped));
    }

    #[test]
    fn evaluation_refuses_data_the_net_cannot_take() {
        let _turn = seeded();
        let data = toy_data();
        let trainer = Trainer::<B>::new(
            tiny_config(),
            Genotype::builtin("darts_v2").unwrap(),
            &OpRegistry::default(),
            &data.info,
            &Default::default(),
        )
        .unwrap();
        let net = trainer.net.valid();
        let empty = data.test_dataset().with_indices(vec![]);
        assert!(matches!(
            evaluate(&net, &empty, 8),
            Err(EvalError::EmptyDataset(_))
        ));
        let rgb = crate::testing::toy_data_with_channels(3);
        assert!(matches!(
            evaluate(&net, &rgb.test_dataset(), 8),
            Err(EvalError::InputShape {
                expected: 1,
                found: 3
            })
        ));
        assert!(matches!(
            trainer.datasets(&rgb),
            Err(EvalError::InputShape { .. })
        ));
    }
}
