//! Errors of the search layer.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong configuring, running, saving or resuming a search.
#[derive(Debug, Error)]
pub enum SearchError {
    /// A value that is not one of the accepted choices.
    #[error("invalid {what} `{value}`; valid: {valid}")]
    InvalidChoice {
        /// What was being chosen.
        what: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        valid: String,
    },
    /// An inconsistent configuration.
    #[error("invalid search configuration: {0}")]
    Config(String),
    /// A cell could not be built or run.
    #[error(transparent)]
    Cell(#[from] entrannas_cell::CellError),
    /// An operation could not be built.
    #[error(transparent)]
    Ops(#[from] entrannas_ops::OpsError),
    /// The relaxation or derivation failed.
    #[error(transparent)]
    Relax(#[from] entrannas_relax::RelaxError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] entrannas_data::DataError),
    /// A genotype could not be written or read.
    #[error(transparent)]
    Genotype(#[from] entrannas_cell::GenotypeError),
    /// A file of the run directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A run directory's file is not what this version wrote.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint could not be saved or loaded.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong ([`entrannas_ops::describe_recorder_error`]).
        message: String,
    },
    /// The run directory is being written by another process, or its lock file
    /// cannot be used.
    #[error(transparent)]
    Lock(#[from] entrannas_ops::RunLockError),
    /// The run directory already holds a run.
    #[error("{} already holds a run; pass --force to overwrite it or --resume to continue it", .0.display())]
    RunExists(PathBuf),
    /// The search was asked to stop; its checkpoint can be resumed.
    #[error("search stopped after {epochs_done} epochs; continue it with --resume {}", run.display())]
    Stopped {
        /// The run directory.
        run: PathBuf,
        /// Epochs completed and checkpointed.
        epochs_done: usize,
    },
    /// The backend failed inside an epoch (burn panicked; on a GPU most often an
    /// allocation that did not fit). Nothing of the epoch was recorded and the last
    /// checkpoint is intact.
    #[error(transparent)]
    BackendFailed(#[from] entrannas_ops::BackendFailure),
    /// The loss became NaN or infinite.
    #[error(
        "the {0} loss is not finite at epoch {1}, step {2}; lower the learning rate or check the data"
    )]
    Diverged(&'static str, usize, usize),
}

impl From<entrannas_ops::RecordFileError> for SearchError {
    /// A file-system refusal stays an [`SearchError::Io`] (the operating system's words,
    /// the file named); a record that cannot be encoded or decoded is a
    /// [`SearchError::Checkpoint`].
    fn from(e: entrannas_ops::RecordFileError) -> Self {
        match e {
            entrannas_ops::RecordFileError::Io {
                action,
                path,
                source,
            } => SearchError::Io {
                action,
                path,
                source,
            },
            entrannas_ops::RecordFileError::Record { path, message } => {
                SearchError::Checkpoint { path, message }
            }
        }
    }
}
