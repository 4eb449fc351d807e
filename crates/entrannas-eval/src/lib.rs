//! The EnTranNAS target-net: the network a genotype describes, trained from scratch
//! (SPEC section 5).
//!
//! - [`TargetNet`]: burn modules built from the same [`entrannas_cell::TargetPlan`]
//!   that gives the parameter and FLOP counts ([`entrannas_cell::target_net_cost`]),
//!   with DARTS's auxiliary head and drop-path.
//! - [`TrainConfig`]: every training hyperparameter, the paper's values as defaults.
//! - [`Trainer`] trains epoch by epoch and reports to a [`TrainObserver`];
//!   [`TrainJob`] runs a whole training in a run directory ([`entrannas_run::RunDir`]:
//!   history, metrics, `best/`
//!   and `last/` checkpoints), resumes it bit for bit on CPU, and repeats it over
//!   seeds ([`TrainJob::run_repeated`]).
//! - [`load_for_inference`] rebuilds a trained net from its run directory;
//!   [`evaluate`] measures loss and accuracy.
//!
//! Layer 4 of the workspace (see `docs/ARCHITECTURE.md`): it reads only the genotype
//! file from the search, never the search crate.
//!
//! ```no_run
//! use entrannas_cell::Genotype;
//! use entrannas_data::{DatasetKind, OpenOptions, open};
//! use entrannas_eval::{TrainConfig, TrainJob};
//! use entrannas_run::RunDir;
//! # fn run<B: burn::tensor::backend::AutodiffBackend>(device: &B::Device) -> Result<(), Box<dyn std::error::Error>> {
//! let data = open(DatasetKind::Embedded, None, &OpenOptions::default())?;
//! let config = TrainConfig::cifar().with_epochs(10).with_channels(16).with_layers(8);
//! let job = TrainJob::new(config, Genotype::builtin("darts_v2")?);
//! let outcome = job.run::<B>(&data, &RunDir::create("runs/eval", false)?, &mut (), device)?;
//! println!("{} parameters, test error {:.2}%", outcome.cost.params, 100.0 * outcome.final_test_error());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod error;
pub mod memory;
mod net;
mod run;
mod train;

#[cfg(test)]
pub(crate) mod testing;

pub use config::{LrSchedule, TrainConfig};
pub use error::EvalError;
pub use net::{AuxiliaryHead, Edge, TargetCell, TargetNet, TargetOutput, drop_path};
pub use run::{
    BEST, COST_FILE, LAST, LoadedNet, MODEL_RECORD, NET_FILE, OPTIMIZER_RECORD, RepeatedOutcome,
    TrainCheckpoint, TrainJob, TrainOutcome, check_batch_fits, load_for_inference,
    load_for_inference_with,
};
pub use train::{EpochRecord, TargetOptimizer, TrainObserver, Trainer, evaluate};
