//! The first-order bi-level search (SPEC section 4).
//!
//! Each iteration: the Transit cells' derivation is refreshed from the current
//! `alpha`/`beta` (the only read-back to the host in a step), one architecture step on
//! a `val` batch (Adam; plus the DST sparsity regularizer), then one weight step on a
//! `train` batch (SGD with momentum and weight decay, global gradient-norm clip).
//! The temperature is annealed and the learning rate cosine-annealed per epoch.

use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use entrannas_cell::{CellPlan, CellTopology, Genotype, OpCount};
use entrannas_data::{DatasetInfo, ImageBatch, ImageDataset, Prefetch, epoch_order};
use entrannas_ops::EpochProjection;
use entrannas_ops::{OpRegistry, clip_global_norm};
use entrannas_relax::{
    ArchFile, ArchParams, ArchParamsConfig, CellReport, CellType, DeriveReport, DroppedEdges, Rule,
    derive_report,
};
use entrannas_run::{RunObserver, StepProgress};
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::config::SearchConfig;
use crate::measure::{count_correct, scalars};
use crate::parallel::{StepTarget, parallel_step};
use crate::space::Method;
use crate::supernet::{Architecture, CellArchitecture, SuperNet};

/// The weight optimizer's type.
pub type WeightOptimizer<B> =
    OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, SuperNet<B>, B>;
/// The architecture optimizer's type.
pub type ArchOptimizer<B> = OptimizerAdaptor<Adam, ArchParams<B>, B>;

/// Receives a search's progress; the CLI draws bars and writes logs from it. Any
/// [`RunObserver`] of search records is one (`()` ignores everything).
pub trait SearchObserver: RunObserver<EpochRecord> {}

impl<T: RunObserver<EpochRecord> + ?Sized> SearchObserver for T {}

/// Collapse diagnostics of one cell type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDiagnostics {
    /// Connections kept.
    pub connections: usize,
    /// Distinct edges kept.
    pub edges: usize,
    /// `skip_connect` connections kept.
    pub skip_connects: usize,
    /// Parameter-free connections kept (pools, skips).
    pub parameter_free: usize,
    /// Mean entropy (nats) of the per-edge op distribution `p`.
    pub op_entropy: f64,
    /// Thresholds `t(j)` (DST only).
    pub thresholds: Option<Vec<f64>>,
    /// Share of the Engine cells' op weight (all ops but `none`) on connections the
    /// derived cell does not compute ([`CellReport::weight_outside_derived`]): the part
    /// of the super-net the child-net drops. `None` in histories written before it was
    /// recorded.
    #[serde(default)]
    pub weight_outside_child: Option<f64>,
    /// Mean over edges of the largest op coefficient of `p` at the epoch's temperature
    /// ([`CellReport::mean_largest_coefficient`]): `1 / K` uniform, 1 one-hot. `None` in
    /// histories written before it was recorded.
    #[serde(default)]
    pub mean_largest_coefficient: Option<f64>,
    /// The edges the derived cell drops, and how many of them have `none` as their
    /// strongest op ([`CellReport::dropped_edges`]). `None` in histories written before
    /// it was recorded.
    #[serde(default)]
    pub dropped_edges: Option<DroppedEdges>,
}

/// Everything recorded about one epoch (one line of `history.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Weight learning rate used.
    pub lr: f64,
    /// Temperature used.
    pub tau: f64,
    /// Mean weight-step loss.
    pub train_loss: f64,
    /// Weight-step training accuracy.
    pub train_accuracy: f64,
    /// Mean architecture-step loss (validation loss plus the regularizer).
    pub arch_loss: f64,
    /// Super-net accuracy on the architecture split (Engine cells mixed).
    pub supernet_accuracy: f64,
    /// Child-net accuracy on the architecture split (derived paths only).
    pub child_accuracy: f64,
    /// `supernet_accuracy - child_accuracy`.
    pub gap: f64,
    /// Super-net accuracy on the architecture split after its batch-norm statistics
    /// were re-estimated through it with the epoch's final derivation
    /// (`child_bn_batches` batches of the weights' split; no weight changed). `None`
    /// when not measured (`child_bn_batches = 0`, or a history written before this
    /// field existed).
    #[serde(default)]
    pub supernet_accuracy_recalibrated: Option<f64>,
    /// Child-net accuracy on the architecture split after its batch-norm statistics
    /// were re-estimated through it, as for `supernet_accuracy_recalibrated`.
    #[serde(default)]
    pub child_accuracy_recalibrated: Option<f64>,
    /// Steps of the epoch after which the derived genotype differed from the one
    /// before (the Transit cells' paths changed with it). `None` where the
    /// derivation is not refreshed every step (every cell an Engine cell, not DST)
    /// or in a history written before this field existed.
    #[serde(default)]
    pub derivation_changes: Option<usize>,
    /// Steps at the end of the epoch since the derived genotype last changed (all the
    /// epoch's steps when it never did): the batches whose batch-norm running
    /// statistics the final child-net's paths alone produced. `None` as for
    /// `derivation_changes`.
    #[serde(default)]
    pub derivation_stable_steps: Option<usize>,
    /// The genotype derived at the end of the epoch.
    pub genotype: Genotype,
    /// Normal-cell diagnostics.
    pub normal: CellDiagnostics,
    /// Reduction-cell diagnostics.
    pub reduce: CellDiagnostics,
    /// Parameters of the derived target-net (if the counter knows the layout).
    pub target_params: Option<u64>,
    /// Multiply-adds of the derived target-net.
    pub target_flops: Option<u64>,
    /// Wall time of the epoch in seconds.
    pub seconds: f64,
    /// Images per second during training.
    pub images_per_second: f64,
    /// The architecture parameters at the end of the epoch, in `entrannas derive`'s schema.
    pub arch: ArchFile,
}

impl EpochRecord {
    /// `supernet_accuracy_recalibrated - child_accuracy_recalibrated`: the accuracy the
    /// child-net loses when both networks' batch-norm statistics describe their own
    /// paths. `None` unless both were measured.
    pub fn gap_recalibrated(&self) -> Option<f64> {
        Some(self.supernet_accuracy_recalibrated? - self.child_accuracy_recalibrated?)
    }
}

/// What one [`Searcher::step`] computed, left on the device.
#[derive(Debug, Clone)]
pub struct StepOutput<B: AutodiffBackend> {
    /// The architecture-step loss (validation loss plus the DST regularizer), `[1]`.
    pub arch_loss: Tensor<B::InnerBackend, 1>,
    /// The weight-step mean loss, `[1]`.
    pub loss: Tensor<B::InnerBackend, 1>,
    /// Correct weight-step predictions, `[1]`.
    pub correct: Tensor<B::InnerBackend, 1>,
    /// What the cells of both forward passes computed (every shard's).
    pub op_count: OpCount,
}

/// The state of a search: super-net, architecture parameters and their optimizers.
pub struct Searcher<B: AutodiffBackend> {
    /// The configuration.
    pub(crate) config: SearchConfig,
    ops: Vec<String>,
    topology: CellTopology,
    /// The super-net.
    pub(crate) net: SuperNet<B>,
    /// The architecture parameters.
    pub(crate) arch: ArchParams<B>,
    /// The weight optimizer (SGD).
    pub(crate) weight_optimizer: WeightOptimizer<B>,
    /// The architecture optimizer (Adam).
    pub(crate) arch_optimizer: ArchOptimizer<B>,
    pub(crate) device: B::Device,
    /// Where the shards of a data-parallel step run (shard `s` on `devices[s mod n]`).
    devices: Vec<B::Device>,
}

fn weight_optimizer<B: AutodiffBackend>(config: &SearchConfig) -> WeightOptimizer<B> {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init()
}

fn arch_optimizer<B: AutodiffBackend>(config: &SearchConfig) -> ArchOptimizer<B> {
    AdamConfig::new()
        .with_beta_1(config.arch_beta1 as f32)
        .with_beta_2(config.arch_beta2 as f32)
        .with_epsilon(config.arch_epsilon as f32)
        .with_weight_decay(Some(WeightDecayConfig::new(
            config.arch_weight_decay as f32,
        )))
        .init()
}

/// The derivation of one step: the report (coefficients, genotype) and the plans.
pub struct Derivation {
    /// Coefficients and genotype.
    pub report: DeriveReport,
    /// Normal-cell plan.
    pub normal: CellPlan,
    /// Reduction-cell plan.
    pub reduce: CellPlan,
}

impl<B: AutodiffBackend> Searcher<B> {
    /// A fresh search over the built-in operations for a dataset described by `info`.
    /// Seeds the backend and the architecture initialisation with `config.seed`.
    pub fn new(
        config: SearchConfig,
        info: &DatasetInfo,
        device: &B::Device,
    ) -> Result<Self, SearchError> {
        Self::with_registry(config, &OpRegistry::default(), info, device)
    }

    /// A fresh search whose candidate ops ([`SearchConfig::ops`]) are built from
    /// `registry`: the built-ins and any op registered in it.
    pub fn with_registry(
        config: SearchConfig,
        registry: &OpRegistry,
        info: &DatasetInfo,
        device: &B::Device,
    ) -> Result<Self, SearchError> {
        config.validate()?;
        config.validate_ops(registry)?;
        B::seed(device, config.seed);
        let net_config = config.supernet(info.channels, info.classes);
        let mut net = net_config.init(registry, device)?;
        net.set_depthwise(config.depthwise);
        // Every weight now, not when the derivation first selects its op.
        entrannas_ops::materialize(&net);
        let topology = net_config.topology;
        let ops = config.ops();
        let arch = ArchParamsConfig::new(topology, ops.len())
            .with_dst(config.method == Method::Dst)
            .with_seed(config.seed)
            .with_alpha_std(config.alpha_std)
            .with_beta_init(config.beta_init)
            .init(device);
        Ok(Self {
            weight_optimizer: weight_optimizer(&config),
            arch_optimizer: arch_optimizer(&config),
            config,
            ops,
            topology,
            net,
            arch,
            device: device.clone(),
            devices: vec![device.clone()],
        })
    }

    /// Places the shards of data-parallel steps ([`SearchConfig::shards`]) on
    /// `devices`, shard `s` on `devices[s mod devices.len()]`; the super-net, the
    /// architecture parameters and the optimizers stay on the device the searcher was
    /// made on. More devices than shards, or none, is a configuration error.
    pub fn set_devices(&mut self, devices: &[B::Device]) -> Result<(), SearchError> {
        if devices.is_empty() {
            return Err(SearchError::Config("no device given".into()));
        }
        if devices.len() > self.config.shards {
            return Err(SearchError::Config(format!(
                "{} devices but {} shard(s): every device needs at least one shard (set shards to {} or more)",
                devices.len(),
                self.config.shards,
                devices.len()
            )));
        }
        self.devices = devices.to_vec();
        Ok(())
    }

    /// The configuration it searches with.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The super-net (its weights, as trained so far).
    pub fn net(&self) -> &SuperNet<B> {
        &self.net
    }

    /// The architecture parameters (as learned so far).
    pub fn arch(&self) -> &ArchParams<B> {
        &self.arch
    }

    /// The candidate op names (coefficient columns).
    pub fn ops(&self) -> &[String] {
        &self.ops
    }

    /// The device.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Whether a forward pass depends on the derivation: some cell is a Transit cell,
    /// or DST's Engine cells compute only the derived active pairs.
    fn forward_follows_derivation(&self) -> bool {
        self.config.method == Method::Dst || self.net.engines.iter().any(|engine| !engine)
    }

    fn rule(&self) -> Rule {
        match (self.config.method.rule(), self.config.max_skip) {
            (Rule::TopK(k), Some(max_skip)) => Rule::TopKMaxSkip { k, max_skip },
            (rule, _) => rule,
        }
    }

    /// The architecture parameters in `entrannas derive`'s schema.
    pub fn arch_file(&self, tau: f64) -> ArchFile {
        self.arch.to_host().to_arch_file(&self.ops, tau)
    }

    /// Derives the current architecture (reads `alpha`/`beta` back to the host).
    pub fn derive(&self, tau: f64) -> Result<Derivation, SearchError> {
        let report = derive_report(&self.arch_file(tau), self.rule())?;
        let normal = CellPlan::from_genotype(&report.genotype.normal, &self.ops, &self.topology)?;
        let reduce = CellPlan::from_genotype(&report.genotype.reduce, &self.ops, &self.topology)?;
        Ok(Derivation {
            report,
            normal,
            reduce,
        })
    }

    pub(crate) fn architecture(
        &self,
        derivation: &Derivation,
        tau: f64,
        detach: bool,
    ) -> Result<Architecture<B>, SearchError> {
        architecture(&self.arch, self.config.method, derivation, tau, detach)
    }

    /// Runs epoch `epoch` over `train` (weights) and `val` (architecture) and evaluates
    /// super-net and child-net on `val_eval` (the architecture split, unaugmented);
    /// with `child_bn_batches > 0` also both after BN recalibration on the first
    /// batches of `train` ([`Searcher::evaluate_recalibrated`]).
    pub fn train_epoch(
        &mut self,
        epoch: usize,
        train: &ImageDataset,
        val: &ImageDataset,
        val_eval: &ImageDataset,
        observer: &mut dyn SearchObserver,
    ) -> Result<EpochRecord, SearchError> {
        let start = Instant::now();
        let config = self.config.clone();
        let tau = config.schedule().at_epoch(epoch);
        let lr = config.lr_at(epoch);
        let batch = config.batch_size;
        let steps_available = train.len().div_ceil(batch).min(val.len().div_ceil(batch));
        let steps = config
            .steps_per_epoch
            .map_or(steps_available, |s| s.min(steps_available));
        let train_batches = Prefetch::start(
            train,
            epoch_order(train.len(), config.seed, epoch, true),
            batch,
            epoch,
        );
        let val_order = epoch_order(val.len(), config.seed ^ 0x5eed, epoch, true);
        let val_batches = Prefetch::start(val, val_order, batch, epoch);
        observer.epoch_started(epoch, config.epochs, steps);

        let zero = || Tensor::<B::InnerBackend, 1>::zeros([1], &self.device);
        let (mut loss_sum, mut arch_loss_sum, mut correct) = (zero(), zero(), zero());
        let mut seen = 0usize;
        let mut images = 0usize;
        let mut derivation = self.derive(tau)?;
        let (mut changes, mut stable) = (0usize, 0usize);
        for step in 0..steps {
            let (Some(v), Some(t)) = (
                val_batches.next_batch::<B>(&self.device)?,
                train_batches.next_batch::<B>(&self.device)?,
            ) else {
                break;
            };
            let before = derivation.report.genotype.clone();
            let out = self.step(&mut derivation, &v, &t, tau, lr)?;
            if derivation.report.genotype == before {
                stable += 1;
            } else {
                changes += 1;
                stable = 1;
            }
            let n = t.targets.dims()[0];
            arch_loss_sum = arch_loss_sum + out.arch_loss;
            loss_sum = loss_sum + out.loss.mul_scalar(n as f64);
            correct = correct + out.correct;
            seen += n;
            images += n + v.targets.dims()[0];

            if (step + 1) % 10 == 0 || step + 1 == steps {
                // One read-back (one device sync) for both sums.
                let [loss, accuracy] =
                    scalars([loss_sum.clone(), correct.clone()]).map(|sum| sum / seen as f64);
                if !loss.is_finite() {
                    return Err(SearchError::Diverged("weight", epoch, step));
                }
                observer.step(&StepProgress {
                    epoch,
                    step: step + 1,
                    steps,
                    loss,
                    accuracy,
                    images_per_second: images as f64 / start.elapsed().as_secs_f64(),
                });
            }
        }
        let follows = self.forward_follows_derivation();
        if !follows {
            derivation = self.derive(tau)?;
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let seen_f = seen.max(1) as f64;
        let arch_loss = scalar(arch_loss_sum) / steps.max(1) as f64;
        if !arch_loss.is_finite() {
            return Err(SearchError::Diverged("architecture", epoch, steps));
        }

        let (supernet_accuracy, child_accuracy) = self.evaluate(val_eval, &derivation, tau)?;
        let recalibrated = match config.child_bn_batches {
            0 => None,
            batches => Some(self.evaluate_recalibrated(
                train,
                val_eval,
                &derivation,
                tau,
                batches,
                epoch,
            )?),
        };
        let report = &derivation.report;
        let arch_file = self.arch_file(tau);
        let record = EpochRecord {
            epoch,
            lr,
            tau,
            train_loss: scalar(loss_sum) / seen_f,
            train_accuracy: scalar(correct) / seen_f,
            arch_loss,
            supernet_accuracy,
            child_accuracy,
            gap: supernet_accuracy - child_accuracy,
            supernet_accuracy_recalibrated: recalibrated.map(|(supernet, _)| supernet),
            child_accuracy_recalibrated: recalibrated.map(|(_, child)| child),
            derivation_changes: follows.then_some(changes),
            derivation_stable_steps: follows.then_some(stable),
            genotype: report.genotype.clone(),
            normal: diagnostics(
                &report.genotype.normal,
                &report.normal,
                &self.ops,
                &self.topology,
            ),
            reduce: diagnostics(
                &report.genotype.reduce,
                &report.reduce,
                &self.ops,
                &self.topology,
            ),
            target_params: None,
            target_flops: None,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_seconds.max(1e-9),
            arch: arch_file,
        };
        observer.epoch_finished(&record);
        Ok(record)
    }

    /// One search iteration exactly as [`Searcher::train_epoch`] runs it: an
    /// architecture step on `val` (Transit cells follow `derivation`; DST adds the
    /// sparsity regularizer), then `derivation` is refreshed from the updated
    /// `alpha`/`beta` (the iteration's only read-back to the host; skipped when every
    /// cell is an Engine cell and the method is not DST, as in DARTS, where no forward
    /// pass uses it), then a weight step on `train` at learning rate `lr` with the
    /// architecture fixed. Start from [`Searcher::derive`] and pass the same
    /// `derivation` to every call. With `config.shards > 1` both steps split their
    /// batch into data-parallel shards ([`crate::parallel`], [`Searcher::set_devices`]).
    ///
    /// The returned losses stay on the device; reading one waits for the forward
    /// passes (use `B::sync` to wait for the updates too).
    pub fn step(
        &mut self,
        derivation: &mut Derivation,
        val: &ImageBatch<B>,
        train: &ImageBatch<B>,
        tau: f64,
        lr: f64,
    ) -> Result<StepOutput<B>, SearchError> {
        if self.config.shards > 1 {
            return self.step_parallel(derivation, val, train, tau, lr);
        }
        let (method, lambda) = (self.config.method, self.config.lambda);
        let (arch_lr, grad_clip) = (self.config.arch_lr, self.config.grad_clip);

        // Architecture step on a val batch.
        // The weights take no gradient here: the backward pass then skips every
        // weight gradient (the convolutions' most costly part) and computes only what
        // reaches alpha/beta. The clone shares the running statistics, which the
        // forward updates as before.
        let net = self.net.clone().no_grad();
        let (loss, arch_count) =
            architecture_loss(&net, &self.arch, method, lambda, derivation, tau, val)?;
        let arch_loss = loss.clone().detach().inner();
        let grads = GradientsParams::from_grads(loss.backward(), &self.arch);
        self.arch = self.arch_optimizer.step(arch_lr, self.arch.clone(), grads);

        // The derivation follows the new alpha/beta where the weight step uses it
        // (Transit cells' paths, DST's active pairs). A super-net of Engine cells only
        // (DARTS) ignores it: nothing is read back there, and `train_epoch` derives once
        // after the last step.
        if self.forward_follows_derivation() {
            *derivation = self.derive(tau)?;
        }

        // Weight step on a train batch, architecture fixed.
        let (loss, correct, weight_count) =
            weight_loss(&self.net, &self.arch, method, derivation, tau, train)?;
        let weight_loss = loss.clone().detach().inner();
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        let grads = clip_global_norm(&self.net, grads, grad_clip);
        self.net = self.weight_optimizer.step(lr, self.net.clone(), grads);
        Ok(StepOutput {
            arch_loss,
            loss: weight_loss,
            correct,
            op_count: arch_count + weight_count,
        })
    }

    /// [`Searcher::step`] with each batch split into `config.shards` shards, run in
    /// parallel on replicas ([`crate::parallel`]); the optimizers step once, on the
    /// summed gradients, on the searcher's device.
    fn step_parallel(
        &mut self,
        derivation: &mut Derivation,
        val: &ImageBatch<B>,
        train: &ImageBatch<B>,
        tau: f64,
        lr: f64,
    ) -> Result<StepOutput<B>, SearchError> {
        let (method, lambda, shards) = (self.config.method, self.config.lambda, self.config.shards);
        let (arch_lr, grad_clip) = (self.config.arch_lr, self.config.grad_clip);

        // What every shard's cells computed, on whichever thread it ran.
        let counted = std::sync::Mutex::new(OpCount::default());
        let add = |count: OpCount| *counted.lock().expect("counts are plain sums") += count;

        // Architecture step on the val batch's shards.
        let current: &Derivation = derivation;
        let step = parallel_step(
            self.net.clone(),
            &self.arch,
            val,
            shards,
            &self.devices,
            StepTarget::Architecture,
            |net, arch, shard| {
                let (loss, count) =
                    architecture_loss(net, arch, method, lambda, current, tau, shard)?;
                add(count);
                Ok((loss, None))
            },
        )?;
        self.net = step.net;
        let arch_loss = step.loss;
        self.arch = self
            .arch_optimizer
            .step(arch_lr, self.arch.clone(), step.grads);
        if self.forward_follows_derivation() {
            *derivation = self.derive(tau)?;
        }

        // Weight step on the train batch's shards, architecture fixed.
        let current: &Derivation = derivation;
        let step = parallel_step(
            self.net.clone(),
            &self.arch,
            train,
            shards,
            &self.devices,
            StepTarget::Weights,
            |net, arch, shard| {
                let (loss, correct, count) = weight_loss(net, arch, method, current, tau, shard)?;
                add(count);
                Ok((loss, Some(correct)))
            },
        )?;
        let grads = clip_global_norm(&step.net, step.grads, grad_clip);
        self.net = self.weight_optimizer.step(lr, step.net, grads);
        let op_count = *counted.lock().expect("counts are plain sums");
        Ok(StepOutput {
            arch_loss,
            loss: step.loss,
            correct: step.correct,
            op_count,
        })
    }

    /// Times a few iterations of epoch 0 as [`Searcher::train_epoch`] runs them (the
    /// first on its own, then `timed` more; `after_step` runs after each, for a memory
    /// probe) and the end-of-epoch evaluation on two batches of `val_eval` (and, when
    /// the configuration recalibrates, after one and after two batches of BN
    /// recalibration), and projects one
    /// epoch from them: what `entrannas search --dry-run` prints. The iterations update
    /// the weights and the architecture: use a searcher made for the purpose.
    ///
    /// # Errors
    /// Splits smaller than `1 + timed` batches, or a data error.
    pub fn project_epoch(
        &mut self,
        train: &ImageDataset,
        val: &ImageDataset,
        val_eval: &ImageDataset,
        timed: usize,
        after_step: &mut dyn FnMut(),
    ) -> Result<EpochProjection, SearchError> {
        let config = self.config.clone();
        let batch = config.batch_size.max(1);
        let available = train.len().div_ceil(batch).min(val.len().div_ceil(batch));
        let steps_per_epoch = config
            .steps_per_epoch
            .map_or(available, |s| s.min(available));
        let count = (1 + timed).min(train.len().min(val.len()) / batch);
        if count == 0 {
            return Err(SearchError::Config(format!(
                "the splits ({} and {} images) hold no batch of {batch} to time",
                train.len(),
                val.len()
            )));
        }
        let (tau, lr) = (config.schedule().at_epoch(0), config.lr_at(0));
        let take = |dataset: &ImageDataset, seed: u64| {
            let mut order = epoch_order(dataset.len(), seed, 0, true);
            order.truncate(count * batch);
            Prefetch::start(dataset, order, batch, 0)
        };
        let (train_batches, val_batches) =
            (take(train, config.seed), take(val, config.seed ^ 0x5eed));
        let mut derivation = self.derive(tau)?;
        let mut seconds = Vec::with_capacity(count);
        while let (Some(v), Some(t)) = (
            val_batches.next_batch::<B>(&self.device)?,
            train_batches.next_batch::<B>(&self.device)?,
        ) {
            let start = Instant::now();
            let out = self.step(&mut derivation, &v, &t, tau, lr)?;
            let _ = scalar(out.loss);
            let _ = B::sync(&self.device);
            seconds.push(start.elapsed().as_secs_f64());
            after_step();
        }
        let evaluated = config
            .eval_limit
            .map_or(val_eval.len(), |l| l.min(val_eval.len()));
        let probe = evaluated.min(2 * batch);
        let evaluation_seconds = if probe == 0 {
            0.0
        } else {
            let sample = val_eval.clone().with_indices((0..probe).collect());
            let start = Instant::now();
            self.evaluate(&sample, &derivation, tau)?;
            let plain = start.elapsed().as_secs_f64();
            let probed = probe.div_ceil(batch);
            let per_batch = plain / probed as f64;
            let unprobed = (evaluated.div_ceil(batch) - probed) as f64;
            let mut total = plain + per_batch * unprobed;
            let calibrations = config.child_bn_batches.min(train.len().div_ceil(batch));
            if calibrations > 0 {
                // Timed with one and with two calibration batches (per network): the
                // difference is one batch's, the rest the fixed part (the evaluation of
                // the sample, saving and restoring the statistics).
                let mut recalibrated = |batches| -> Result<f64, SearchError> {
                    let start = Instant::now();
                    self.evaluate_recalibrated(train, &sample, &derivation, tau, batches, 0)?;
                    Ok(start.elapsed().as_secs_f64())
                };
                let one = recalibrated(1)?;
                let per_calibration = if calibrations > 1 {
                    (recalibrated(2)? - one).max(0.0)
                } else {
                    0.0
                };
                total += one + per_calibration * (calibrations - 1) as f64 + per_batch * unprobed;
            }
            after_step();
            total
        };
        Ok(EpochProjection::from_steps(
            &seconds,
            steps_per_epoch,
            evaluation_seconds,
        ))
    }
}

/// The architecture a forward pass runs: `arch`'s coefficients at temperature `tau`
/// (detached for a weight step) with `derivation`'s plans.
fn architecture<B: AutodiffBackend>(
    arch: &ArchParams<B>,
    method: Method,
    derivation: &Derivation,
    tau: f64,
    detach: bool,
) -> Result<Architecture<B>, SearchError> {
    let dst = method == Method::Dst;
    let relaxation = method.relaxation();
    let cell = |cell: CellType, plan: &CellPlan| -> Result<CellArchitecture<B>, SearchError> {
        let mut coefficients = arch.coefficients(cell, relaxation, tau)?;
        if detach {
            coefficients = coefficients.detach();
        }
        Ok(CellArchitecture {
            coefficients,
            plan: plan.clone(),
            active: dst.then(|| plan.clone()),
        })
    };
    Ok(Architecture {
        normal: cell(CellType::Normal, &derivation.normal)?,
        reduce: cell(CellType::Reduce, &derivation.reduce)?,
    })
}

/// The architecture step's loss on `batch`: cross-entropy of the super-net through
/// `derivation` with `arch`'s coefficients at `tau` (gradients reach `arch`), plus
/// DST's sparsity regularizer; with what the super-net's cells computed.
pub(crate) fn architecture_loss<B: AutodiffBackend>(
    net: &SuperNet<B>,
    arch: &ArchParams<B>,
    method: Method,
    lambda: f64,
    derivation: &Derivation,
    tau: f64,
    batch: &ImageBatch<B>,
) -> Result<(Tensor<B, 1>, OpCount), SearchError> {
    let architecture = architecture(arch, method, derivation, tau, false)?;
    let (logits, count) = net.forward_counted(batch.images.clone(), &architecture);
    let mut loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, batch.targets.clone());
    if let Some(reg) = (method == Method::Dst)
        .then(|| arch.sparsity_regularizer(lambda))
        .flatten()
    {
        loss = loss + reg;
    }
    Ok((loss, count))
}

/// The weight step's loss, its correct predictions and its cells' work.
pub(crate) type WeightLoss<B> = (
    Tensor<B, 1>,
    Tensor<<B as AutodiffBackend>::InnerBackend, 1>,
    OpCount,
);

/// The weight step's loss on `batch`, the architecture fixed (coefficients detached),
/// the number of correct predictions, and what the super-net's cells computed.
pub(crate) fn weight_loss<B: AutodiffBackend>(
    net: &SuperNet<B>,
    arch: &ArchParams<B>,
    method: Method,
    derivation: &Derivation,
    tau: f64,
    batch: &ImageBatch<B>,
) -> Result<WeightLoss<B>, SearchError> {
    let architecture = architecture(arch, method, derivation, tau, true)?;
    let (logits, count) = net.forward_counted(batch.images.clone(), &architecture);
    let correct = count_correct(
        logits.clone().detach().inner(),
        batch.targets.clone().inner(),
    );
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, batch.targets.clone());
    Ok((loss, correct, count))
}

fn scalar<Bk: Backend>(t: Tensor<Bk, 1>) -> f64 {
    t.into_data().iter::<f64>().next().unwrap_or(f64::NAN)
}

fn diagnostics(
    cell: &entrannas_cell::CellGenotype,
    report: &CellReport,
    ops: &[String],
    topology: &CellTopology,
) -> CellDiagnostics {
    let stats = cell.stats();
    let entropy = report
        .p
        .iter()
        .map(|row| {
            -row.iter()
                .filter(|v| **v > 0.0)
                .map(|v| v * v.ln())
                .sum::<f64>()
        })
        .sum::<f64>()
        / report.p.len().max(1) as f64;
    CellDiagnostics {
        connections: stats.connections,
        edges: stats.edges,
        skip_connects: stats.skip_connects,
        parameter_free: stats.parameter_free,
        op_entropy: entropy,
        thresholds: report.t.clone(),
        weight_outside_child: Some(report.weight_outside_derived(ops, topology)),
        mean_largest_coefficient: Some(report.mean_largest_coefficient()),
        dropped_edges: Some(report.dropped_edges(ops, topology)),
    }
}
