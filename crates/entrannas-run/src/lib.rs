//! The run layer of EnTranNAS: what a search and a training share about their run
//! directories.
//!
//! - [`RunDir`]: the directory, its files written whole or not at all
//!   ([`durable`]), `history.jsonl` and `metrics.csv` for any
//!   [`history::HistoryRecord`], and
//!   checkpoints of any list of records with the rotation that survives a stop
//!   between any two file-system steps ([`RunDir::save_checkpoint`],
//!   [`RunDir::recover_checkpoint`]).
//! - [`RunLock`]: one writer per directory.
//! - [`RunsPlan`] and [`run_plan`]: several runs with consecutive seeds under one
//!   parent, resumed as a whole.
//! - [`Environment`], [`StepProgress`] and [`RunObserver`]: what a run records about
//!   where it ran, and tells whoever watches it.
//! - [`config_file`]: configuration files read over defaults; [`save_record_file`] and
//!   [`load_record_file`]: checkpoint records in burn's format with errors a user can
//!   act on.
//! - [`on_worker_pool`]: runs a command's computation on a worker of the CPU
//!   backend's thread pool, where its parallel kernels start without a hand-off.
//! - [`RunError`]: the one error type of all of it.
//!
//! The file names are the constants of [`names`].

#![warn(missing_docs)]

pub mod config_file;
mod dir;
pub mod durable;
mod environment;
mod error;
pub mod fault;
pub mod history;
mod lock;
pub mod names;
mod plan;
mod pool;
mod progress;
mod record;

pub use dir::{CheckpointState, RunDir, read_json};
pub use environment::{BURN_VERSION, Environment};
pub use error::{RunError, corrupt, io};
pub use lock::RunLock;
pub use plan::{
    CarriesRunError, PlanError, PlannedRun, RunsPlan, best_of, copy_files, run_plan, write_plan,
};
pub use pool::on_worker_pool;
pub use progress::{RunObserver, StepProgress};
pub use record::{
    RecordAccess, RecordFormat, describe_recorder_error, load_record_file, save_record_file,
};
