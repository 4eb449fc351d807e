//! Run directories of a target-net training, checkpoints, resuming, repeated runs and
//! loading a trained net for inference.
//!
//! A run directory holds `config.json` ([`TrainConfig`]), `genotype.json` (a copy of
//! the genotype trained), `net.json` (the [`TargetNetSpec`]), `cost.json`
//! ([`TargetCost`]), `history.jsonl` (one [`EpochRecord`] per line), `metrics.csv`, and
//! two checkpoints: `last/` (after the latest epoch) and `best/` (the epoch with the
//! best test accuracy). A checkpoint holds `model.mpk` (weights and batch-norm
//! statistics), `optimizer.mpk` (momentum buffers), both in full precision, and
//! `state.json`, plus copies of `config.json`, `genotype.json` and `net.json` so it
//! can be loaded on its own. Checkpoints are written to `<name>.tmp` and renamed, so
//! training killed while saving keeps the previous one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::{AutodiffBackend, Backend};
use entrannas_cell::{Genotype, TargetCost, TargetNetSpec};
use entrannas_data::{DatasetInfo, OpenedDataset};
use entrannas_ops::{
    BackendFailure, EpochProjection, MemoryEstimate, OpRegistry, RunLock, catch_backend_panic,
    load_record_file, save_record_file,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::config::TrainConfig;
use crate::error::io;
use crate::net::TargetNet;
use crate::train::{EpochRecord, TrainObserver, Trainer};

/// A checkpoint's bookkeeping (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed when it was written.
    pub epochs_done: usize,
    /// Test loss of the checkpointed weights.
    pub test_loss: f64,
    /// Test accuracy of the checkpointed weights.
    pub test_accuracy: f64,
    /// The entrannas version that wrote it.
    pub version: String,
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

/// A run directory (see the module documentation).
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, EvalError> {
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    serde_json::from_str(&text).map_err(|e| EvalError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_file(path: &Path, contents: &str) -> Result<(), EvalError> {
    let mut file = fs::File::create(path).map_err(io("write", path))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io("write", path))
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}

/// Writes the files that describe a net: `config.json`, `genotype.json`, `net.json`.
fn write_description<B: AutodiffBackend>(
    dir: &Path,
    trainer: &Trainer<B>,
) -> Result<(), EvalError> {
    let path = dir.join("config.json");
    trainer.config.save(&path).map_err(io("write", &path))?;
    trainer.genotype.save(dir.join("genotype.json"))?;
    write_file(&dir.join("net.json"), &to_json(&trainer.spec))
}

impl RunDir {
    /// A new run directory at `path`. A directory that already holds a run
    /// (`config.json`) is refused unless `force`, which clears it.
    pub fn create(path: impl Into<PathBuf>, force: bool) -> Result<Self, EvalError> {
        let path = path.into();
        if path.join("config.json").exists() {
            if !force {
                return Err(EvalError::RunExists(path));
            }
            // Refused while another process writes it; the lock file stays.
            RunLock::acquire(&path)?.clear()?;
        }
        fs::create_dir_all(&path).map_err(io("create", &path))?;
        Ok(Self { path })
    }

    /// An existing run directory, to resume or read.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, EvalError> {
        let path = path.into();
        let config = path.join("config.json");
        if !config.is_file() {
            return Err(EvalError::Corrupt {
                path: config,
                message: "missing: not a training run directory".into(),
            });
        }
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `config.json`.
    pub fn config(&self) -> Result<TrainConfig, EvalError> {
        load_config(&self.path.join("config.json"))
    }

    /// How many epochs `history.jsonl` records (0 when it does not exist yet).
    pub fn recorded_epochs(&self) -> Result<usize, EvalError> {
        let path = self.path.join("history.jsonl");
        if !path.exists() {
            return Ok(0);
        }
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
    }

    /// Reads `genotype.json`.
    pub fn genotype(&self) -> Result<Genotype, EvalError> {
        Ok(Genotype::load(self.path.join("genotype.json"))?)
    }

    /// Reads the history, keeping only the first `epochs` records (a run killed after
    /// writing a record but before its checkpoint repeats that epoch).
    pub fn history(&self, epochs: usize) -> Result<Vec<EpochRecord>, EvalError> {
        let path = self.path.join("history.jsonl");
        if epochs == 0 {
            return Ok(Vec::new());
        }
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        let mut history = Vec::with_capacity(epochs);
        for (number, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            if history.len() == epochs {
                break;
            }
            let record = serde_json::from_str(line).map_err(|e| EvalError::Corrupt {
                path: path.clone(),
                message: format!("line {}: {e}", number + 1),
            })?;
            history.push(record);
        }
        if history.len() < epochs {
            return Err(EvalError::Corrupt {
                path,
                message: format!(
                    "{} epochs recorded, the checkpoint has {epochs}",
                    history.len()
                ),
            });
        }
        Ok(history)
    }

    fn write_records(&self, history: &[EpochRecord]) -> Result<(), EvalError> {
        let mut jsonl = String::new();
        let mut csv = String::from(
            "epoch,lr,drop_path,train_loss,train_accuracy,test_loss,test_accuracy,test_error,seconds,images_per_second\n",
        );
        for r in history {
            jsonl.push_str(&serde_json::to_string(r).expect("records serialise"));
            jsonl.push('\n');
            csv.push_str(&format!(
                "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3},{:.1}\n",
                r.epoch,
                r.lr,
                r.drop_path,
                r.train_loss,
                r.train_accuracy,
                r.test_loss,
                r.test_accuracy,
                1.0 - r.test_accuracy,
                r.seconds,
                r.images_per_second
            ));
        }
        write_file(&self.path.join("history.jsonl"), &jsonl)?;
        write_file(&self.path.join("metrics.csv"), &csv)
    }

    /// Saves the trainer as checkpoint `name` (`last` or `best`).
    pub fn save_checkpoint<B: AutodiffBackend>(
        &self,
        name: &str,
        trainer: &Trainer<B>,
        state: &CheckpointState,
    ) -> Result<(), EvalError> {
        let tmp = self.path.join(format!("{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io("clear", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
        // Records first (each written and synced), state.json last: a `<name>.tmp`
        // with its state.json is complete.
        save_record_file::<B, _>(trainer.net.clone().into_record(), &tmp.join("model.mpk"))?;
        save_record_file::<B, _>(trainer.optimizer.to_record(), &tmp.join("optimizer.mpk"))?;
        write_description(&tmp, trainer)?;
        write_file(&tmp.join("state.json"), &to_json(state))?;
        // The previous checkpoint is moved aside, not removed, until the new one is in
        // place: a training killed between the renames keeps one complete checkpoint
        // ([`RunDir::recover_checkpoint`] puts it back).
        let dir = self.path.join(name);
        let old = self.path.join(format!("{name}.old"));
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io("clear", &old))?;
        }
        if dir.exists() {
            fs::rename(&dir, &old).map_err(io("move aside", &dir))?;
        }
        fs::rename(&tmp, &dir).map_err(io("move into place", &dir))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io("remove", &old))?;
        }
        Ok(())
    }

    /// Puts checkpoint `name` back in place after a training was killed while saving
    /// it: when `<name>/` is missing, the complete `<name>.tmp/` (its state.json
    /// written) becomes `<name>/`, else `<name>.old/` (the one it was replacing).
    /// Nothing happens when `<name>/` exists or neither is there.
    pub fn recover_checkpoint(&self, name: &str) -> Result<(), EvalError> {
        let dir = self.path.join(name);
        if dir.join("state.json").is_file() {
            return Ok(());
        }
        let tmp = self.path.join(format!("{name}.tmp"));
        let old = self.path.join(format!("{name}.old"));
        let from = if tmp.join("state.json").is_file() {
            tmp
        } else if old.join("state.json").is_file() {
            old
        } else {
            return Ok(());
        };
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io("clear", &dir))?;
        }
        fs::rename(&from, &dir).map_err(io("move into place", &dir))
    }

    /// Loads checkpoint `name` into a trainer built for the same net; returns its state.
    pub fn load_checkpoint<B: AutodiffBackend>(
        &self,
        name: &str,
        trainer: &mut Trainer<B>,
    ) -> Result<CheckpointState, EvalError> {
        let dir = self.path.join(name);
        let state: CheckpointState = read_json(&dir.join("state.json"))?;
        let device = trainer.device().clone();
        let model = load_record_file::<B, _>(&dir.join("model.mpk"), &device)?;
        trainer.net = trainer.net.clone().load_record(model);
        let record = load_record_file::<B, _>(&dir.join("optimizer.mpk"), &device)?;
        trainer.optimizer = trainer.optimizer.clone().load_record(record);
        Ok(state)
    }
}

fn load_config(path: &Path) -> Result<TrainConfig, EvalError> {
    if !path.is_file() {
        return Err(EvalError::Corrupt {
            path: path.to_path_buf(),
            message: "missing".into(),
        });
    }
    TrainConfig::read(path).map_err(|message| EvalError::Corrupt {
        path: path.to_path_buf(),
        message,
    })
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

    /// A fresh trainer of this job for `data` on `device`, the process's depthwise
    /// strategy set to the configuration's, the batch checked against the data.
    fn trainer<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        device: &B::Device,
    ) -> Result<Trainer<B>, EvalError> {
        entrannas_ops::set_depthwise_conv(self.config.depthwise);
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
    /// writing every file after every epoch. Sets the process's depthwise strategy to
    /// the configuration's (`TrainConfig::depthwise`).
    pub fn run<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        run: &RunDir,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let _lock = RunLock::acquire(run.path())?;
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
        write_description(run.path(), &trainer)?;
        write_file(&run.path().join("cost.json"), &to_json(&trainer.cost))?;
        train_from(trainer, 0, Vec::new(), data, run, observer)
    }

    /// Continues the training in `run` from its `last/` checkpoint, with the run's own
    /// `config.json` and `genotype.json`. Ends like an uninterrupted run (on a CPU
    /// backend, bit for bit). A run killed before its first checkpoint was complete
    /// starts from scratch; one whose `history.jsonl` records more epochs than such a
    /// kill leaves (one) but whose checkpoint is gone is refused (starting over would
    /// overwrite those records); a finished one returns its outcome.
    pub fn resume<B: AutodiffBackend>(
        run: &RunDir,
        registry: &OpRegistry,
        data: &OpenedDataset,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<TrainOutcome, EvalError> {
        let _lock = RunLock::acquire(run.path())?;
        let job = TrainJob::new(run.config()?, run.genotype()?).with_registry(registry.clone());
        run.recover_checkpoint("last")?;
        let state_path = run.path().join("last").join("state.json");
        if !state_path.is_file() {
            // An epoch's record is written just before its checkpoint: one record and
            // no checkpoint is a run killed in between, which starts over.
            let recorded = run.recorded_epochs()?;
            if recorded > 1 {
                return Err(EvalError::Corrupt {
                    path: state_path,
                    message: format!(
                        "missing, but history.jsonl records {recorded} epoch(s): resuming would start over and overwrite them; restore the `last/` checkpoint, or train again from scratch (`entrannas train` with the run's config.json and genotype.json, --out and --force)"
                    ),
                });
            }
            return job.run_locked::<B>(data, run, observer, device);
        }
        entrannas_ops::set_depthwise_conv(job.config.depthwise);
        check_batch_fits(job.config.batch_size, data)?;
        let mut trainer =
            Trainer::<B>::new(job.config, job.genotype, registry, &data.info, device)?;
        let net_path = run.path().join("net.json");
        let trained: TargetNetSpec = read_json(&net_path)?;
        if trained != trainer.spec {
            return Err(EvalError::Corrupt {
                path: net_path,
                message: format!(
                    "the run trains {trained:?}; this dataset ({}) gives {:?}",
                    data.info.name, trainer.spec
                ),
            });
        }
        let state = run.load_checkpoint("last", &mut trainer)?;
        let history = run.history(state.epochs_done)?;
        train_from(trainer, state.epochs_done, history, data, run, observer)
    }

    /// Trains `runs` times with seeds `seed, seed + 1, ...` in `root/run-<k>`, and
    /// summarises the final test errors (also in `root/summary.json`). An existing
    /// `run-<k>` is resumed (or, when finished, read) unless `force` clears it, so an
    /// interrupted series continues where it stopped.
    pub fn run_repeated<B: AutodiffBackend>(
        &self,
        data: &OpenedDataset,
        root: &Path,
        runs: usize,
        force: bool,
        observer: &mut dyn TrainObserver,
        device: &B::Device,
    ) -> Result<RepeatedOutcome, EvalError> {
        if runs == 0 {
            return Err(EvalError::Config("--runs must be at least 1".into()));
        }
        let _lock = RunLock::acquire(root)?;
        let mut seeds = Vec::with_capacity(runs);
        let mut final_errors = Vec::with_capacity(runs);
        let mut cost = TargetCost::default();
        for k in 0..runs {
            let seed = self.config.seed.wrapping_add(k as u64);
            observer.run_started(k, runs, seed);
            let path = root.join(format!("run-{k}"));
            let outcome = if path.join("config.json").exists() && !force {
                Self::resume::<B>(
                    &RunDir::open(&path)?,
                    &self.registry,
                    data,
                    observer,
                    device,
                )?
            } else {
                let job = TrainJob {
                    config: self.config.clone().with_seed(seed),
                    ..self.clone()
                };
                job.run::<B>(data, &RunDir::create(&path, force)?, observer, device)?
            };
            seeds.push(seed);
            final_errors.push(outcome.final_test_error());
            cost = outcome.cost;
        }
        let n = runs as f64;
        let mean_error = final_errors.iter().sum::<f64>() / n;
        let variance = final_errors
            .iter()
            .map(|e| (e - mean_error).powi(2))
            .sum::<f64>();
        let summary = RepeatedOutcome {
            seeds,
            std_error: if runs > 1 {
                (variance / (n - 1.0)).sqrt()
            } else {
                0.0
            },
            final_errors,
            mean_error,
            cost,
        };
        write_file(&root.join("summary.json"), &to_json(&summary))?;
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
        let state = CheckpointState {
            epochs_done: epoch + 1,
            test_loss: record.test_loss,
            test_accuracy: record.test_accuracy,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        history.push(record);
        run.write_records(&history)?;
        if improved {
            run.save_checkpoint("best", &trainer, &state)?;
        }
        run.save_checkpoint("last", &trainer, &state)?;
        if epoch + 1 < epochs && observer.should_stop() {
            return Err(EvalError::Stopped {
                run: run.path().to_path_buf(),
                epochs_done: epoch + 1,
            });
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
    pub state: CheckpointState,
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
    let dir = if path.join("model.mpk").is_file() {
        path.to_path_buf()
    } else if path.join("last").join("model.mpk").is_file() {
        path.join("last")
    } else {
        return Err(EvalError::Corrupt {
            path: path.join("model.mpk"),
            message: format!(
                "missing: {} is neither a checkpoint directory nor a run directory with a `last/` checkpoint",
                path.display()
            ),
        });
    };
    let config = load_config(&dir.join("config.json"))?;
    let genotype = Genotype::load(dir.join("genotype.json"))?;
    let spec: TargetNetSpec = read_json(&dir.join("net.json"))?;
    let state: CheckpointState = read_json(&dir.join("state.json"))?;
    let model = load_record_file::<B, _>(&dir.join("model.mpk"), device)?;
    let net = TargetNet::<B>::from_genotype(&genotype, &spec, registry, device)?.load_record(model);
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

    fn darts() -> Genotype {
        Genotype::builtin("darts_v2").unwrap()
    }

    struct StopAfterOne;
    impl TrainObserver for StopAfterOne {
        fn should_stop(&mut self) -> bool {
            true
        }
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
        let straight = RunDir::create(dir.path().join("straight"), false).unwrap();
        let full = job
            .run::<B>(&data, &straight, &mut (), &Default::default())
            .unwrap();

        let interrupted = RunDir::create(dir.path().join("interrupted"), false).unwrap();
        let stopped = job.run::<B>(&data, &interrupted, &mut StopAfterOne, &Default::default());
        assert!(matches!(
            stopped,
            Err(EvalError::Stopped { epochs_done: 1, .. })
        ));
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
        let Err(EvalError::Corrupt { path, message }) = resumed else {
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
    impl TrainObserver for OutOfMemoryInSecondEpoch {
        fn epoch_started(&mut self, epoch: usize, _epochs: usize, _steps: usize) {
            self.0 = epoch;
        }
        fn step(&mut self, _progress: &crate::StepProgress) {
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
        assert!(matches!(stopped, Err(EvalError::Stopped { .. })));
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
        assert_eq!(run.genotype().unwrap(), darts());
        assert!(matches!(
            RunDir::create(run.path(), false),
            Err(EvalError::RunExists(_))
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
            run.config().unwrap(),
            darts(),
            &OpRegistry::default(),
            &data.info,
            &device,
        )
        .unwrap();
        let fresh = logits(&trainer.net.valid());
        run.load_checkpoint("last", &mut trainer).unwrap();
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
        let err = RunDir::open(run.path())
            .unwrap()
            .config()
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
        impl TrainObserver for Seeds {
            fn run_started(&mut self, _run: usize, _runs: usize, seed: u64) {
                self.0.push(seed);
            }
        }
        let mut seen = Seeds(Vec::new());
        let summary = job
            .run_repeated::<B>(&data, dir.path(), 2, false, &mut seen, &Default::default())
            .unwrap();
        assert_eq!(seen.0, vec![5, 6]);
        assert_eq!(summary.seeds, vec![5, 6]);
        let [a, b] = summary.final_errors[..] else {
            panic!("two runs")
        };
        assert!((summary.mean_error - (a + b) / 2.0).abs() < 1e-12);
        assert!((summary.std_error - (a - b).abs() / 2f64.sqrt()).abs() < 1e-12);
        assert!(dir.path().join("summary.json").is_file());
        assert_eq!(
            RunDir::open(dir.path().join("run-1"))
                .unwrap()
                .config()
                .unwrap()
                .seed,
            6
        );
        // Finished runs are read back, not retrained.
        let again = job
            .run_repeated::<B>(&data, dir.path(), 2, false, &mut (), &Default::default())
            .unwrap();
        assert_eq!(again, summary);
    }
}
