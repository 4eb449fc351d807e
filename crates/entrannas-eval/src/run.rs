//! What a target-net training writes in its run directory, checkpoints, resuming,
//! repeated runs and loading a trained net for inference.
//!
//! A training's run directory ([`RunDir`], from the run layer) holds `config.json`
//! ([`TrainConfig`]), `genotype.json` (a copy of the genotype trained), `net.json` (the
//! [`TargetNetSpec`]), `cost.json` ([`TargetCost`]), `history.jsonl` (one
//! [`EpochRecord`] per line), `metrics.csv`, and two checkpoints: `last/` (after the
//! latest epoch) and `best/` (the epoch with the best test accuracy). A checkpoint
//! holds `model.mpk` (weights and batch-norm statistics), `optimizer.mpk` (momentum
//! buffers), both in full precision, and `state.json`, plus copies of `config.json`,
//! `genotype.json` and `net.json` so it can be loaded on its own. Every file is written
//! whole or not at all and checkpoints are rotated so that a training stopped between
//! any two file-system steps keeps a complete one ([`RunDir::save_checkpoint`]).
//!
//! [`TrainJob::run_repeated`] trains several seeds under one parent
//! (`run-<i>-seed-<s>`, [`entrannas_run::run_plan`]).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::{AutodiffBackend, Backend};
use entrannas_cell::{Genotype, TargetCost, TargetNetSpec};
use entrannas_data::{DatasetInfo, OpenedDataset};
use entrannas_ops::{
    BackendFailure, EpochProjection, MemoryEstimate, OpRegistry, catch_backend_panic,
};
use entrannas_run::durable::write_synced;
use entrannas_run::names::{CONFIG_FILE, GENOTYPE_FILE, STATE_FILE, SUMMARY_JSON};
use entrannas_run::{
    CheckpointState, PlannedRun, RunDir, RunError, RunsPlan, corrupt, load_record_file, read_json,
    run_plan, save_record_file, write_plan,
};
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::config::TrainConfig;
use crate::net::TargetNet;
use crate::train::{EpochRecord, TrainObserver, Trainer};

/// The checkpoint after the latest epoch.
pub const LAST: &str = "last";
/// The checkpoint of the epoch with the best test accuracy.
pub const BEST: &str = "best";
/// The net's shape ([`TargetNetSpec`]).
pub const NET_FILE: &str = "net.json";
/// The net's parameters and multiply-adds ([`TargetCost`]).
pub const COST_FILE: &str = "cost.json";
/// A checkpoint's weights and batch-norm statistics.
pub const MODEL_RECORD: &str = "model.mpk";
/// A checkpoint's optimizer state.
pub const OPTIMIZER_RECORD: &str = "optimizer.mpk";

/// A training checkpoint's `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainCheckpoint {
    /// Epochs completed when it was written.
    pub epochs_done: usize,
    /// Test loss of the checkpointed weights.
    pub test_loss: f64,
    /// Test accuracy of the checkpointed weights.
    pub test_accuracy: f64,
    /// The entrannas version that wrote it.
    pub version: String,
}

impl CheckpointState for TrainCheckpoint {
    fn epochs_done(&self) -> usize {
        self.epochs_done
    }
}

/// What a finished training gives.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Every epoch's record.
    pub history: Vec<EpochRecord>,
    /// The epoch with the best test accuracy (the first of equals), saved in `best/`.
    pub best_epoch: usize,
    /// Parameters and FLOPs of the net.
    pub cost: TargetCost,
}

impl TrainOutcome {
    /// The last epoch's record.
    pub fn last(&self) -> &EpochRecord {
        self.history.last().expect("a finished training has epochs")
    }

    /// Test error (1 - accuracy) after the last epoch: the number papers report.
    pub fn final_test_error(&self) -> f64 {
        1.0 - self.last().test_accuracy
    }
}

/// The result of [`TrainJob::run_repeated`] (also written to `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatedOutcome {
    /// The seed of each run.
    pub seeds: Vec<u64>,
    /// Final test error of each run.
    pub final_errors: Vec<f64>,
    /// Mean of the final test errors.
    pub mean_error: f64,
    /// Sample standard deviation (n - 1) of the final test errors; 0 for one run.
    pub std_error: f64,
    /// Parameters and FLOPs of the net (the same for every run).
    pub cost: TargetCost,
}

impl TrainConfig {
    /// The configuration of the training (or repeated-training parent) in `run`.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] naming `config.json` when it is missing or not a training
    /// configuration.
    pub fn from_run(run: &RunDir) -> Result<Self, EvalError> {
        read_config(&run.file(CONFIG_FILE))
    }
}

fn read_config(path: &Path) -> Result<TrainConfig, EvalError> {
    if !path.is_file() {
        return Err(corrupt(path, "missing").into());
    }
    TrainConfig::read(path).map_err(|message| corrupt(path, message).into())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}

/// Writes the files that describe a net into `dir`: `config.json`, `genotype.json`,
/// `net.json`, each synced (inside a checkpoint folder, which is renamed whole).
fn write_description<B: AutodiffBackend>(dir: &Path, trainer: &Trainer<B>) -> Result<(), RunError> {
    write_synced(&dir.join(CONFIG_FILE), to_json(&trainer.config).as_bytes())?;
    write_synced(
        &dir.join(GENOTYPE_FILE),
        trainer.genotype.to_json().as_bytes(),
    )?;
    write_synced(&dir.join(NET_FILE), to_json(&trainer.spec).as_bytes())
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Saves this trainer in `run` as checkpoint `name` ([`LAST`] or [`BEST`]) with
    /// `state`: weights, batch-norm statistics, the optimizer's state and the files
    /// that describe the net.
    ///
    /// # Errors
    /// The file system's refusal, naming the file; the previous checkpoint stays.
    pub fn save_checkpoint(
        &self,
        run: &RunDir,
        name: &str,
        state: &TrainCheckpoint,
    ) -> Result<(), EvalError> {
        run.save_checkpoint(name, state, |dir| {
            save_record_file::<B, _>(self.net.clone().into_record(), &dir.join(MODEL_RECORD))?;
            save_record_file::<B, _>(self.optimizer.to_record(), &dir.join(OPTIMIZER_RECORD))?;
            write_description(dir, self)
        })?;
        Ok(())
    }

    /// Loads checkpoint `name` ([`LAST`] or [`BEST`]) of `run` into this trainer
    /// (built for the same net) without changing the directory (safe while the
    /// training still runs); returns its state.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] when there is no complete checkpoint `name`, or a record
    /// that cannot be read.
    pub fn load_checkpoint(
        &mut self,
        run: &RunDir,
        name: &str,
    ) -> Result<TrainCheckpoint, EvalError> {
        let Some((dir, state)) = run.latest_checkpoint::<TrainCheckpoint>(name)? else {
            return Err(corrupt(&run.checkpoint(name).join(STATE_FILE), "missing").into());
        };
        self.load_records(&dir)?;
        Ok(state)
    }

    /// Loads the records of the checkpoint folder `dir` into this trainer (built for
    /// the same net).
    fn load_records(&mut self, dir: &Path) -> Result<(), EvalError> {
        let device = self.device().clone();
        let model = load_record_file::<B, _>(&dir.join(MODEL_RECORD), &device)?;
        self.net = self.net.clone().load_record(model);
        let record = load_record_file::<B, _>(&dir.join(OPTIMIZER_RECORD), &device)?;
        self.optimizer = self.optimizer.clone().load_record(record);
        Ok(())
    }
}

/// What to train: a configuration, a genotype and the operations it may name.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The configuration.
    pub config: TrainConfig,
    /// The genotype.
    pub genotype: Genotype,
    /// The operations (built-ins plus any registered).
    pub registry: OpRegistry,
}

impl TrainJob {
    /// Trains `genotype` with `config` and the built-in operations.
    pub fn new(config: TrainConfig, genotype: Genotype) -> Self {
        Self {
            config,
            genotype,
            registry: OpRegistry::default(),
        }
    }

    /// The same job with another operation registry.
    pub fn with_registry(mut self, registry: OpRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// The memory of one training step of this job on `info`'s images, estimated
    /// before anything is allocated ([`crate::memory::estimate_training_memory`]).
    ///
    /// # Errors
    /// A genotype the configured layout cannot build.
    pub fn estimate_memory(&self, info: &DatasetInfo) -> Result<MemoryEstimate, EvalError> {
        crate::memory::estimate_training_memory(&self.config, &self.genotype, &self.registry, info)
    }

    /// Times a few steps of this job on `device` (the first, then `timed` more) and the
    /// evaluation of two batches, on `data`, and projects one epoch
    /// ([`Trainer::project_epoch`]); writes nothing. `after_step` runs after every
    /// step, for a memory probe.
    ///
    /// # Errors
    /// A batch larger than the training set, a genotype the layout cannot build, or a
    /// data error.
    pub fn project_epoch<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        device: &B::Device,
        timed: usize,
        after_step: &mut dyn FnMut(),
    ) -> Result<EpochProjection, EvalError> {
        let mut trainer = self.trainer::<B>(data, device)?;
        let (train, test) = trainer.datasets(data)?;
        trainer.project_epoch(&train, &test, timed, after_step)
    }

    /// A fresh trainer of this job for `data` on `device`, the batch checked against
    /// the data.
    fn trainer<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        device: &B::Device,
    ) -> Result<Trainer<B>, EvalError> {
        check_batch_fits(self.config.batch_size, data)?;
        Trainer::<B>::new(
            self.config.clone(),
            self.genotype.clone(),
            &self.registry,
            &data.info,
            device,
        )
    }

    /// Trains from scratch in `run` (a fresh directory, see [`RunDir::create`]),
    /// writing every file after every epoch.
    ///
    /// # Errors
    /// Bad data or configuration, a directory in use, the file system's refusal, a
    /// backend failure, a diverged loss, or [`RunError::Stopped`] when the observer
    /// asked to stop ([`TrainJob::resume`] continues it).
    pub fn run<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        run: &RunDir,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let _lock = run.lock()?;
        self.run_locked::<B>(data, run, observer, device)
    }

    /// [`TrainJob::run`] in a directory this process has claimed.
    fn run_locked<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        run: &RunDir,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let trainer = self.trainer::<B>(data, device)?;
        run.write(NET_FILE, to_json(&trainer.spec).as_bytes())?;
        run.write(COST_FILE, to_json(&trainer.cost).as_bytes())?;
        run.write(GENOTYPE_FILE, trainer.genotype.to_json().as_bytes())?;
        // config.json last: a directory with it is a started run.
        run.write_json(CONFIG_FILE, &trainer.config)?;
        train_from(trainer, 0, Vec::new(), data, run, observer)
    }

    /// Continues the training in `run` from its `last/` checkpoint, with the run's own
    /// `config.json` and `genotype.json`. Ends like an uninterrupted run (on a CPU
    /// backend, bit for bit). A run stopped before its first checkpoint was complete
    /// starts from scratch; one whose `history.jsonl` records more epochs than such a
    /// stop leaves (one) but whose checkpoint is gone is refused (starting over would
    /// overwrite those records); a finished one returns its outcome.
    ///
    /// # Errors
    /// As [`TrainJob::run`], and [`RunError::Corrupt`] for a run directory this version
    /// cannot continue, naming the file.
    pub fn resume<B: AutodiffBackend>(
        run: &RunDir,
        registry: &OpRegistry,
        data: &OpenedDataset,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let _lock = run.lock()?;
        Self::resume_locked::<B>(run, registry, data, observer, device)
    }

    /// [`TrainJob::resume`] in a directory this process has claimed.
    fn resume_locked<B: AutodiffBackend>(
        run: &RunDir,
        registry: &OpRegistry,
        data: &OpenedDataset,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let genotype = Genotype::load(run.file(GENOTYPE_FILE))?;
        let job =
            TrainJob::new(TrainConfig::from_run(run)?, genotype).with_registry(registry.clone());
        run.recover_checkpoint::<TrainCheckpoint>(BEST)?;
        let Some(state) = run.resume_checkpoint::<TrainCheckpoint>(LAST)? else {
            return job.run_locked::<B>(data, run, observer, device);
        };
        let mut trainer = job.trainer::<B>(data, device)?;
        let net_path = run.file(NET_FILE);
        let trained: TargetNetSpec = read_json(&net_path)?;
        if trained != trainer.spec {
            return Err(corrupt(
                &net_path,
                format!(
                    "the run trains {trained:?}; this dataset ({}) gives {:?}",
                    data.info.name, trainer.spec
                ),
            )
            .into());
        }
        trainer.load_records(&run.checkpoint(LAST))?;
        let history = run.history(state.epochs_done)?;
        train_from(trainer, state.epochs_done, history, data, run, observer)
    }

    /// Trains `runs` times with seeds `seed, seed + 1, ...` under `parent`, each in
    /// `run-<i>-seed-<s>`, and summarises the final test errors (also in
    /// `summary.json`). `parent` gets `config.json`, `genotype.json` and `runs.json`
    /// first; [`TrainJob::resume_repeated`] continues an interrupted series.
    ///
    /// # Errors
    /// As [`TrainJob::run`]; a stop names the parent.
    pub fn run_repeated<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        parent: &RunDir,
        runs: usize,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<RepeatedOutcome, EvalError> {
        let _lock = parent.lock()?;
        let plan =
            RunsPlan::new(runs, self.config.seed).map_err(|e| EvalError::Config(e.to_string()))?;
        parent.write(GENOTYPE_FILE, self.genotype.to_json().as_bytes())?;
        write_plan(parent, &plan, &self.config)?;
        self.repeated::<B>(data, parent, &plan, observer, device)
    }

    /// Continues the series of [`TrainJob::run_repeated`] in `parent` with its own
    /// `config.json`, `genotype.json` and `runs.json`: finished runs are read back, an
    /// interrupted one continues from its checkpoint, the missing ones run.
    ///
    /// # Errors
    /// As [`TrainJob::run_repeated`]; [`RunError::Corrupt`] for a parent written before
    /// `runs.json` existed (its runs are `run-0`, `run-1`...: resume those one by one).
    pub fn resume_repeated<B: AutodiffBackend>(
        parent: &RunDir,
        registry: &OpRegistry,
        data: &OpenedDataset,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<RepeatedOutcome, EvalError> {
        let _lock = parent.lock()?;
        let plan = RunsPlan::read(parent)?;
        let genotype = Genotype::load(parent.file(GENOTYPE_FILE))?;
        let job =
            TrainJob::new(TrainConfig::from_run(parent)?, genotype).with_registry(registry.clone());
        job.repeated::<B>(data, parent, &plan, observer, device)
    }

    /// The runs of `plan` under `parent` (claimed), then the summary.
    fn repeated<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        parent: &RunDir,
        plan: &RunsPlan,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<RepeatedOutcome, EvalError> {
        let observer = std::cell::RefCell::new(observer);
        let outcomes = run_plan(
            parent,
            plan,
            |index, runs, seed| observer.borrow_mut().run_started(index, runs, seed),
            |run: PlannedRun| {
                let _lock = run.dir.lock()?;
                let observer = &mut **observer.borrow_mut();
                if run.started {
                    Self::resume_locked::<B>(&run.dir, &self.registry, data, observer, device)
                } else {
                    let job = TrainJob {
                        config: self.config.clone().with_seed(run.seed),
                        ..self.clone()
                    };
                    job.run_locked::<B>(data, &run.dir, observer, device)
                }
            },
            || observer.borrow_mut().should_stop(),
        )?;
        let seeds: Vec<u64> = (0..plan.runs).map(|i| plan.seed(i)).collect();
        let final_errors: Vec<f64> = outcomes
            .iter()
            .map(TrainOutcome::final_test_error)
            .collect();
        let n = final_errors.len() as f64;
        let mean_error = final_errors.iter().sum::<f64>() / n;
        let variance = final_errors
            .iter()
            .map(|e| (e - mean_error).powi(2))
            .sum::<f64>();
        let summary = RepeatedOutcome {
            seeds,
            std_error: if final_errors.len() > 1 {
                (variance / (n - 1.0)).sqrt()
            } else {
                0.0
            },
            final_errors,
            mean_error,
            cost: outcomes.last().map(|o| o.cost).unwrap_or_default(),
        };
        parent.write_json(SUMMARY_JSON, &summary)?;
        Ok(summary)
    }
}

/// A batch larger than the training set would make every epoch one smaller batch,
/// whatever was asked: refused, naming both sizes.
///
/// # Errors
/// [`EvalError::Config`] naming the batch size and the training set's size.
pub fn check_batch_fits(batch_size: usize, data: &OpenedDataset) -> Result<(), EvalError> {
    let images = data.train.len();
    if batch_size > images {
        return Err(EvalError::Config(format!(
            "batch size {batch_size} is larger than the training set ({images} images of {}): lower the batch size to at most {images}",
            data.location
        )));
    }
    Ok(())
}

fn train_from<B: AutodiffBackend>(
    mut trainer: Trainer<B>,
    start: usize,
    mut history: Vec<EpochRecord>,
    data: &OpenedDataset,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, EvalError> {
    let (train, test) = trainer.datasets(data)?;
    let epochs = trainer.config.epochs;
    for epoch in start..epochs {
        let record = catch_backend_panic(|| trainer.train_epoch(epoch, &train, &test, observer))
            .map_err(|message| BackendFailure {
            job: "training",
            device: format!("{:?}", trainer.device()),
            epoch,
            batch_size: trainer.config.batch_size,
            message,
            run: run.path().to_path_buf(),
            epochs_done: epoch,
        })??;
        let improved = history
            .iter()
            .all(|r| record.test_accuracy > r.test_accuracy);
        let state = TrainCheckpoint {
            epochs_done: epoch + 1,
            test_loss: record.test_loss,
            test_accuracy: record.test_accuracy,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        history.push(record);
        run.write_history(&history)?;
        if improved {
            trainer.save_checkpoint(run, BEST, &state)?;
        }
        trainer.save_checkpoint(run, LAST, &state)?;
        if epoch + 1 < epochs && observer.should_stop() {
            return Err(RunError::Stopped {
                run: run.path().to_path_buf(),
                epochs_done: epoch + 1,
            }
            .into());
        }
    }
    let best_epoch = history.iter().enumerate().fold(0, |best, (i, r)| {
        if r.test_accuracy > history[best].test_accuracy {
            i
        } else {
            best
        }
    });
    Ok(TrainOutcome {
        history,
        best_epoch,
        cost: trainer.cost,
    })
}

/// A trained net loaded for inference, with what describes it.
#[derive(Debug)]
pub struct LoadedNet<B: Backend> {
    /// The net, on an evaluation (non-autodiff) backend.
    pub net: TargetNet<B>,
    /// The training configuration (dataset, batch size...).
    pub config: TrainConfig,
    /// The genotype.
    pub genotype: Genotype,
    /// The net's shape.
    pub spec: TargetNetSpec,
    /// The checkpoint's state (epochs done, test accuracy).
    pub state: TrainCheckpoint,
    /// The checkpoint directory read.
    pub checkpoint: PathBuf,
}

/// Loads a trained net for inference from a checkpoint directory (`run/last`,
/// `run/best`, or a copy of one), or from a run directory, which means its `last/`
/// checkpoint (the final model, whose test error is the one reported). Rebuilds the
/// net from the saved configuration and genotype with the built-in operations, then
/// loads weights and batch-norm statistics.
pub fn load_for_inference<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<LoadedNet<B>, EvalError> {
    load_for_inference_with(path, &OpRegistry::default(), device)
}

/// [`load_for_inference`] for a genotype that names operations of `registry`.
pub fn load_for_inference_with<B: Backend>(
    path: &Path,
    registry: &OpRegistry,
    device: &B::Device,
) -> Result<LoadedNet<B>, EvalError> {
    let dir = if path.join(MODEL_RECORD).is_file() {
        path.to_path_buf()
    } else if path.join(LAST).join(MODEL_RECORD).is_file() {
        path.join(LAST)
    } else {
        return Err(corrupt(
            &path.join(MODEL_RECORD),
            format!(
                "missing: {} is neither a checkpoint directory nor a run directory with a `last/` checkpoint",
                path.display()
            ),
        )
        .into());
    };
    let config = read_config(&dir.join(CONFIG_FILE))?;
    let genotype = Genotype::load(dir.join(GENOTYPE_FILE))?;
    let spec: TargetNetSpec = read_json(&dir.join(NET_FILE))?;
    let state: TrainCheckpoint = read_json(&dir.join(STATE_FILE))?;
    let model = load_record_file::<B, _>(&dir.join(MODEL_RECORD), device)?;
    let mut net =
        TargetNet::<B>::from_genotype(&genotype, &spec, registry, device)?.load_record(model);
    net.set_depthwise(config.depthwise);
    Ok(LoadedNet {
        net,
        config,
        genotype,
        spec,
        state,
        checkpoint: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{B, Inner, image_batch, seeded, tiny_config, toy_data};
    use crate::train::evaluate;
    use burn::module::AutodiffModule;
    use std::fs;

    fn darts() -> Genotype {
        Genotype::builtin("darts_v2").unwrap()
    }

    struct StopAfterOne;
    impl entrannas_run::RunObserver<EpochRecord> for StopAfterOne {
        fn should_stop(&mut self) -> bool {
            true
        }
    }

    /// `job` trained through in `dir/straight`, and in `dir/interrupted` until it
    /// stops after its first epoch (checkpoint written).
    fn straight_and_stopped_after_one(
        job: &TrainJob,
        data: &OpenedDataset,
        dir: &Path,
    ) -> (TrainOutcome, RunDir, RunDir) {
        let straight = RunDir::create(dir.join("straight"), false).unwrap();
        let full = job
            .run::<B>(data, &straight, &mut (), &Default::default())
            .unwrap();
        let interrupted = RunDir::create(dir.join("interrupted"), false).unwrap();
        let stopped = job.run::<B>(data, &interrupted, &mut StopAfterOne, &Default::default());
        assert!(matches!(
            stopped,
            Err(EvalError::Run(RunError::Stopped { epochs_done: 1, .. }))
        ));
        (full, straight, interrupted)
    }

    fn logits(net: &TargetNet<Inner>) -> Vec<f32> {
        net.logits(image_batch(3, [1, 8, 8], 0.4))
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn a_resumed_training_ends_like_an_uninterrupted_one() {
        let _turn = seeded();
        let data = toy_data();
        let job = TrainJob::new(tiny_config().with_epochs(3), darts());
        let dir = tempfile::tempdir().unwrap();
        let (full, straight, interrupted) = straight_and_stopped_after_one(&job, &data, dir.path());
        let reopened = RunDir::open(interrupted.path()).unwrap();
        let resumed = TrainJob::resume::<B>(
            &reopened,
            &OpRegistry::default(),
            &data,
            &mut (),
            &Default::default(),
        )
        .unwrap();

        assert_eq!(resumed.history.len(), 3);
        // Weights are drawn eagerly at construction and every epoch reseeds drop-path,
        // so the resumed epochs compute exactly what the uninterrupted ones did: the CPU
        // kernels are deterministic (ndarray without its SIMD reciprocal estimate, see
        // the workspace Cargo.toml), so any difference is a resume bug (a lost optimizer
        // state, a wrong schedule position, weights drawn later from a reseeded
        // generator; seen: 2.5% before weights were drawn eagerly).
        for (a, b) in full.history.iter().zip(&resumed.history) {
            assert_eq!(
                [a.train_loss, a.train_accuracy, a.test_loss, a.test_accuracy],
                [b.train_loss, b.train_accuracy, b.test_loss, b.test_accuracy],
                "epoch {}",
                a.epoch
            );
        }
        let device = Default::default();
        let a = load_for_inference::<Inner>(straight.path(), &device).unwrap();
        let b = load_for_inference::<Inner>(interrupted.path(), &device).unwrap();
        assert_eq!(logits(&a.net), logits(&b.net));
        assert_eq!(b.state.epochs_done, 3);
    }

    #[test]
    fn a_batch_larger_than_the_training_set_is_refused_naming_both_sizes() {
        let _turn = seeded();
        let data = toy_data();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let err = TrainJob::new(tiny_config().with_batch_size(49), darts())
            .run::<B>(&data, &run, &mut (), &Default::default())
            .unwrap_err();
        assert!(matches!(err, EvalError::Config(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("batch size 49") && text.contains("(48 images of test)"),
            "{text}"
        );
        assert!(!run.path().join("net.json").exists());
        assert!(!run.path().join("last").exists());
    }

    #[test]
    fn resuming_a_run_whose_checkpoint_is_gone_keeps_its_history() {
        let _turn = seeded();
        let data = toy_data();
        let job = TrainJob::new(tiny_config().with_epochs(2), darts());
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        job.run::<B>(&data, &run, &mut (), &Default::default())
            .unwrap();
        let history = std::fs::read_to_string(run.path().join("history.jsonl")).unwrap();
        std::fs::remove_dir_all(run.path().join("last")).unwrap();
        let resume = || {
            TrainJob::resume::<B>(
                &RunDir::open(run.path()).unwrap(),
                &OpRegistry::default(),
                &data,
                &mut (),
                &Default::default(),
            )
        };

        let resumed = resume();
        let Err(EvalError::Run(RunError::Corrupt { path, message })) = resumed else {
            panic!("expected a refusal, got {resumed:?}");
        };
        assert!(path.ends_with("last/state.json"), "{}", path.display());
        assert!(message.contains("records 2 epoch"), "{message}");
        assert_eq!(
            std::fs::read_to_string(run.path().join("history.jsonl")).unwrap(),
            history,
            "the records must be left as they were"
        );

        // One record and no checkpoint is what a kill between the first epoch's record
        // and its checkpoint leaves: that run starts over and finishes.
        let first = history.lines().next().unwrap();
        std::fs::write(run.path().join("history.jsonl"), format!("{first}\n")).unwrap();
        assert_eq!(resume().unwrap().history.len(), 2);
    }

    /// Panics as an allocation that did not fit would, in the second epoch.
    struct OutOfMemoryInSecondEpoch(usize);
    impl entrannas_run::RunObserver<EpochRecord> for OutOfMemoryInSecondEpoch {
        fn epoch_started(&mut self, epoch: usize, _epochs: usize, _steps: usize) {
            self.0 = epoch;
        }
        fn step(&mut self, _progress: &entrannas_run::StepProgress) {
            if self.0 == 1 {
                panic!("CUDA error: out of memory (test)");
            }
        }
    }

    #[test]
    fn a_backend_failure_keeps_the_last_checkpoint_and_says_what_to_lower() {
        let _turn = seeded();
        let data = toy_data();
        let job = TrainJob::new(tiny_config().with_epochs(2), darts());
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let err = job
            .run::<B>(
                &data,
                &run,
                &mut OutOfMemoryInSecondEpoch(0),
                &Default::default(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::BackendFailed(BackendFailure {
                    epoch: 1,
                    batch_size: 8,
                    epochs_done: 1,
                    ..
                })
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("out of memory (test)")
                && text.contains("lower the batch size")
                && text.contains("last checkpoint, after 1 epoch(s), is intact"),
            "{text}"
        );
        assert_eq!(run.recorded_epochs().unwrap(), 1);
        let resumed = TrainJob::resume::<B>(
            &RunDir::open(run.path()).unwrap(),
            &OpRegistry::default(),
            &data,
            &mut (),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(resumed.history.len(), 2);
    }

    #[test]
    fn a_training_killed_while_replacing_its_checkpoint_resumes_from_the_one_kept() {
        let _turn = seeded();
        let data = toy_data();
        let job = TrainJob::new(tiny_config().with_epochs(2), darts());
        let dir = tempfile::tempdir().unwrap();
        let straight = RunDir::create(dir.path().join("straight"), false).unwrap();
        let full = job
            .run::<B>(&data, &straight, &mut (), &Default::default())
            .unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let stopped = job.run::<B>(&data, &run, &mut StopAfterOne, &Default::default());
        assert!(matches!(
            stopped,
            Err(EvalError::Run(RunError::Stopped { .. }))
        ));
        // Killed after moving the previous checkpoint aside, before the new one took
        // its place: only `last.old/` is left (the first epoch's, complete).
        std::fs::rename(run.path().join("last"), run.path().join("last.old")).unwrap();
        let resumed = TrainJob::resume::<B>(
            &RunDir::open(run.path()).unwrap(),
            &OpRegistry::default(),
            &data,
            &mut (),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(resumed.history.len(), 2);
        assert_eq!(
            resumed.history[1].test_accuracy,
            full.history[1].test_accuracy
        );
        assert!(run.path().join("last/state.json").is_file());
        assert!(!run.path().join("last.old").exists());
    }

    #[test]
    fn save_then_load_gives_identical_outputs_and_test_accuracy() {
        let _turn = seeded();
        let data = toy_data();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let job = TrainJob::new(tiny_config().with_epochs(2), darts());
        let outcome = job
            .run::<B>(&data, &run, &mut (), &Default::default())
            .unwrap();
        for file in [
            "config.json",
            "genotype.json",
            "net.json",
            "cost.json",
            "history.jsonl",
            "metrics.csv",
            "last/model.mpk",
            "last/optimizer.mpk",
            "last/state.json",
            "best/model.mpk",
        ] {
            assert!(run.path().join(file).is_file(), "{file} missing");
        }
        assert_eq!(Genotype::load(run.file(GENOTYPE_FILE)).unwrap(), darts());
        assert!(matches!(
            RunDir::create(run.path(), false),
            Err(RunError::RunExists(_))
        ));

        let device = Default::default();
        let loaded = load_for_inference::<Inner>(run.path(), &device).unwrap();
        assert_eq!(loaded.checkpoint, run.path().join("last"));
        let test = data.test_dataset();
        let (loss, accuracy) = evaluate(&loaded.net, &test, 8).unwrap();
        assert_eq!(
            (loss, accuracy),
            (outcome.last().test_loss, outcome.last().test_accuracy)
        );

        // Against the trainer's own net, rebuilt from `last/`: outputs are identical,
        // and they depend on batch-norm running statistics that training moved.
        let mut trainer = Trainer::<B>::new(
            TrainConfig::from_run(&run).unwrap(),
            darts(),
            &OpRegistry::default(),
            &data.info,
            &device,
        )
        .unwrap();
        let fresh = logits(&trainer.net.valid());
        trainer.load_checkpoint(&run, LAST).unwrap();
        let trained = logits(&trainer.net.valid());
        assert_eq!(trained, logits(&loaded.net));
        assert_ne!(trained, fresh);
        let stats = trainer.net.cells[0].nodes[0][0]
            .op
            .layers
            .iter()
            .find_map(|l| match l {
                entrannas_ops::Layer::Norm(n) => Some(n.running_mean.value()),
                _ => None,
            });
        let mean = stats.unwrap().into_data().to_vec::<f32>().unwrap();
        assert!(
            mean.iter().any(|v| *v != 0.0),
            "running statistics never moved"
        );

        let best = load_for_inference::<Inner>(&run.path().join("best"), &device).unwrap();
        assert_eq!(best.state.epochs_done, outcome.best_epoch + 1);
        assert_eq!(
            best.state.test_accuracy,
            outcome.history[outcome.best_epoch].test_accuracy
        );
    }

    #[test]
    fn broken_or_missing_files_are_errors_naming_them() {
        let _turn = seeded();
        let data = toy_data();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        TrainJob::new(tiny_config().with_epochs(1), darts())
            .run::<B>(&data, &run, &mut (), &Default::default())
            .unwrap();
        let device = Default::default();
        let rgb = crate::testing::toy_data_with_channels(3);
        let err = TrainJob::resume::<B>(&run, &OpRegistry::default(), &rgb, &mut (), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("net.json"), "{err}");
        let err = load_for_inference::<Inner>(dir.path(), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.mpk"), "{err}");
        // A checkpoint cut short (an interrupted copy) is called so.
        let model = run.path().join("last/model.mpk");
        let whole = fs::read(&model).unwrap();
        fs::write(&model, &whole[..whole.len() / 2]).unwrap();
        let err = load_for_inference::<Inner>(run.path(), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("last/model.mpk: the file ends early"), "{err}");
        assert!(!err.contains("0.14.0"), "{err}");
        fs::write(run.path().join("last/model.mpk"), b"garbage").unwrap();
        let err = load_for_inference::<Inner>(run.path(), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("last/model.mpk"), "{err}");
        let err = TrainJob::resume::<B>(&run, &OpRegistry::default(), &data, &mut (), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.mpk"), "{err}");
        fs::write(run.path().join("last/net.json"), b"{").unwrap();
        let err = load_for_inference::<Inner>(run.path(), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("net.json"), "{err}");
        fs::write(run.path().join("config.json"), b"[]").unwrap();
        let err = TrainConfig::from_run(&RunDir::open(run.path()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(RunDir::open(dir.path().join("nowhere")).is_err());
    }

    #[test]
    fn repeated_runs_give_mean_and_std_of_the_final_error() {
        let _turn = seeded();
        let data = toy_data();
        let dir = tempfile::tempdir().unwrap();
        let job = TrainJob::new(tiny_config().with_epochs(1).with_seed(5), darts());
        struct Seeds(Vec<u64>);
        impl entrannas_run::RunObserver<EpochRecord> for Seeds {
            fn run_started(&mut self, _run: usize, _runs: usize, seed: u64) {
                self.0.push(seed);
            }
        }
        let mut seen = Seeds(Vec::new());
        let parent = RunDir::create(dir.path().join("runs"), false).unwrap();
        let summary = job
            .run_repeated::<B>(&data, &parent, 2, &mut seen, &Default::default())
            .unwrap();
        assert_eq!(seen.0, vec![5, 6]);
        assert_eq!(summary.seeds, vec![5, 6]);
        let [a, b] = summary.final_errors[..] else {
            panic!("two runs")
        };
        assert!((summary.mean_error - (a + b) / 2.0).abs() < 1e-12);
        assert!((summary.std_error - (a - b).abs() / 2f64.sqrt()).abs() < 1e-12);
        assert!(parent.file("summary.json").is_file());
        let second = RunDir::open(parent.file("run-2-seed-6")).unwrap();
        assert_eq!(TrainConfig::from_run(&second).unwrap().seed, 6);
        // Finished runs are read back, not retrained.
        let again = TrainJob::resume_repeated::<B>(
            &parent,
            &OpRegistry::default(),
            &data,
            &mut (),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(again, summary);
    }

    /// A training stopped before each file-system step of its second epoch's history
    /// and checkpoints (`best/` and `last/`) in turn, what `kill -9` leaves at that
    /// moment, resumes to the uninterrupted training's history and weights.
    #[test]
    fn a_training_stopped_at_any_step_of_its_writes_resumes_to_the_uninterrupted_result() {
        use entrannas_run::fault;
        let _turn = seeded();
        let data = toy_data();
        let job = TrainJob::new(tiny_config().with_epochs(2), darts());
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let (full, straight, after_one) = straight_and_stopped_after_one(&job, &data, dir.path());
        let resume = |run: &RunDir| {
            TrainJob::resume::<B>(run, &OpRegistry::default(), &data, &mut (), &device)
        };
        let weights = |run: &RunDir| {
            logits(
                &load_for_inference::<Inner>(run.path(), &Default::default())
                    .unwrap()
                    .net,
            )
        };
        let figures = |outcome: &TrainOutcome| {
            let epochs: Vec<[f64; 4]> = outcome
                .history
                .iter()
                .map(|r| [r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy])
                .collect();
            (epochs, outcome.best_epoch)
        };
        let probe = RunDir::create(dir.path().join("probe"), false).unwrap();
        entrannas_run::durable::copy_dir(after_one.path(), probe.path()).unwrap();
        fault::fail_at(None);
        resume(&probe).unwrap();
        let steps = fault::steps();
        assert_eq!(weights(&probe), weights(&straight));
        let chosen: Vec<usize> = (1..=steps.len())
            .filter(|&k| {
                let step = &steps[k - 1];
                step.contains("last") || step.contains("best") || step.contains("history")
            })
            .collect();
        assert!(chosen.len() >= 20, "{steps:?}");
        for k in chosen {
            let run = RunDir::create(dir.path().join(format!("stop-{k}")), false).unwrap();
            entrannas_run::durable::copy_dir(after_one.path(), run.path()).unwrap();
            fault::fail_at(Some(k));
            let err = resume(&run).expect_err("the injected fault ends the training");
            fault::fail_at(None);
            assert!(err.to_string().contains("injected fault"), "{k}: {err}");
            let step = &steps[k - 1];
            let resumed = resume(&run).unwrap_or_else(|e| panic!("stopped before {step}: {e}"));
            assert_eq!(figures(&resumed), figures(&full), "stopped before {step}");
            assert_eq!(weights(&run), weights(&straight), "stopped before {step}");
            fs::remove_dir_all(run.path()).unwrap();
        }
    }
}
