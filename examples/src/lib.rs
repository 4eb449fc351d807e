//! Shared code of the entrannas examples (`examples/*.rs`): the command-line flags
//! every program takes, running one search with a progress line per epoch, the
//! experiments behind the paper's Tables 1, 3 and 4, and printing their tables.
//!
//! Each experiment is a function of its parsed flags ([`table1::run`],
//! [`lambda_sweep::run`], [`extended_space::run`]), so the smoke tests run exactly the
//! programs' code at a tiny size. The programs only parse flags, call it, and print.

#![warn(missing_docs)]

pub mod args;
pub mod cell_drift;
pub mod checkpoint;
pub mod child_bn;
pub mod custom_op;
pub mod error;
pub mod extended_space;
pub mod gap_decomposition;
pub mod lambda_sweep;
pub mod runner;
pub mod table;
pub mod table1;

pub use args::{CommonArgs, ExampleDefaults};
pub use error::ExampleError;
pub use runner::{EpochLine, Existing, Trial, TrialResult, run_trials};
pub use table::Table;

/// The backend the examples run on: burn's `flex` CPU backend (the fastest CPU
/// backend, as `entrannas search`'s default device) with automatic differentiation.
pub type Cpu = burn::backend::Autodiff<burn::backend::Flex>;

/// Ends an example's `main`: runs `work` on a worker of the CPU backend's thread pool
/// ([`entrannas_run::on_worker_pool`], where its parallel kernels start without a
/// hand-off), then prints what it produced, or the error on stderr with exit code 2.
pub fn finish<T, W>(work: W)
where
    T: core::fmt::Display + Send,
    W: FnOnce() -> Result<T, ExampleError> + Send,
{
    match entrannas_run::on_worker_pool(work) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// What an experiment produced: its table and the statements checked against the
/// paper's claim (each says whether this run shows it).
#[derive(Debug, Clone)]
pub struct ExperimentReport {
    /// One row per search.
    pub table: Table,
    /// Plain statements about the run (expected ordering seen or not, caveats).
    pub notes: Vec<String>,
    /// Whether this run shows what the paper claims.
    pub as_expected: bool,
}

impl core::fmt::Display for ExperimentReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.table.render())?;
        for note in &self.notes {
            writeln!(f, "\n{note}")?;
        }
        Ok(())
    }
}

impl ExperimentReport {
    /// Writes the report as `summary.md` into `dir`, returning the file.
    pub fn save(&self, dir: &std::path::Path) -> Result<std::path::PathBuf, ExampleError> {
        let path = dir.join("summary.md");
        std::fs::write(&path, self.to_string()).map_err(|source| ExampleError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Percentage points of an accuracy in `[0, 1]`, two decimals.
pub fn pct(accuracy: f64) -> String {
    format!("{:.2}", 100.0 * accuracy)
}

/// A count in millions, two decimals (`-` when unknown).
pub fn millions(count: Option<u64>) -> String {
    count.map_or_else(|| "-".into(), |c| format!("{:.2}", c as f64 / 1e6))
}
