//! The examples' error type.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop an example.
#[derive(Debug, Error)]
pub enum ExampleError {
    /// A search failed (configuration, run directory, checkpoint).
    #[error(transparent)]
    Search(#[from] entrannas_search::SearchError),
    /// A training failed (configuration, run directory, checkpoint).
    #[error(transparent)]
    Eval(#[from] entrannas_eval::EvalError),
    /// A run directory could not be read or written.
    #[error(transparent)]
    Run(#[from] entrannas_run::RunError),
    /// An operation could not be registered.
    #[error(transparent)]
    Ops(#[from] entrannas_ops::OpsError),
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] entrannas_data::DataError),
    /// The run's report pages could not be written.
    #[error(transparent)]
    Report(#[from] entrannas_report::ReportError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A flag value the experiment cannot use.
    #[error("invalid argument: {0}")]
    Usage(String),
}
