//! The CLI's errors and their exit codes.

use entrannas_run::{CarriesRunError, RunError};
use thiserror::Error;

/// Everything a command can fail with.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments or input files.
    #[error("{0}")]
    Usage(String),
    /// A backend that this binary was built without.
    #[error(
        "backend `{0}` is not compiled into this binary; rebuild with `--features {0}` (GPU builds: `cargo build --release -p entrannas-cli --features {0},fusion,autotune`)"
    )]
    BackendMissing(&'static str),
    /// A search failed.
    #[error(transparent)]
    Search(#[from] entrannas_search::SearchError),
    /// A training or evaluation failed.
    #[error(transparent)]
    Eval(#[from] entrannas_eval::EvalError),
    /// A run directory could not be read or written.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A report could not be written.
    #[error(transparent)]
    Report(#[from] entrannas_report::ReportError),
    /// A dataset could not be read.
    #[error(transparent)]
    Data(#[from] entrannas_data::DataError),
    /// A genotype could not be read or written.
    #[error(transparent)]
    Genotype(#[from] entrannas_cell::GenotypeError),
    /// The relaxation or derivation failed.
    #[error(transparent)]
    Relax(#[from] entrannas_relax::RelaxError),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl CliError {
    /// The run-layer error inside, if this is one.
    fn run_error(&self) -> Option<&RunError> {
        match self {
            CliError::Run(e) => Some(e),
            CliError::Search(e) => e.run_error(),
            CliError::Eval(e) => e.run_error(),
            _ => None,
        }
    }

    /// What to do next, in terms of this CLI's flags, where the library's message
    /// cannot say it.
    pub fn advice(&self) -> Option<String> {
        if let CliError::Search(entrannas_search::SearchError::BackendFailed(failure))
        | CliError::Eval(entrannas_eval::EvalError::BackendFailed(failure)) = self
        {
            return Some(format!(
                "continue it with --resume {}",
                failure.run.display()
            ));
        }
        match self.run_error()? {
            RunError::RunExists(_) => {
                Some("pass --force to overwrite it, or --resume to continue it".into())
            }
            RunError::Stopped { run, .. } => {
                Some(format!("continue it with --resume {}", run.display()))
            }
            _ => None,
        }
    }

    /// The process exit code: 2 for bad input, 3 for a missing backend, 130 for a
    /// search or training stopped by Ctrl-C (resumable), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        use entrannas_eval::EvalError as E;
        use entrannas_search::SearchError as S;
        if let Some(run) = self.run_error() {
            return match run {
                RunError::Stopped { .. } => 130,
                e if e.is_bad_input() => 2,
                _ => 1,
            };
        }
        match self {
            CliError::Usage(_) | CliError::Data(_) | CliError::Genotype(_) | CliError::Relax(_) => {
                2
            }
            CliError::Search(
                S::InvalidChoice { .. } | S::Config(_) | S::Data(_) | S::Genotype(_),
            ) => 2,
            CliError::Eval(
                E::Config(_)
                | E::Target(_)
                | E::Genotype(_)
                | E::Data(_)
                | E::InputShape { .. }
                | E::EmptyDataset(_),
            ) => 2,
            CliError::BackendMissing(_) => 3,
            _ => 1,
        }
    }
}
