//! Errors of the evaluation layer.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong building, training, saving, loading or evaluating a target-net.
/// Messages name the file concerned where there is one.
#[derive(Debug, Error)]
pub enum EvalError {
    /// An inconsistent training configuration.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The target-net could not be laid out from the genotype.
    #[error(transparent)]
    Target(#[from] entrannas_cell::TargetError),
    /// A genotype could not be read or written.
    #[error(transparent)]
    Genotype(#[from] entrannas_cell::GenotypeError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] entrannas_data::DataError),
    /// Images whose shape the net does not take.
    #[error("the net takes images with {expected} channels, the data has {found}")]
    InputShape {
        /// Channels the net was built for.
        expected: usize,
        /// Channels of the data.
        found: usize,
    },
    /// A dataset with no item where at least one is needed.
    #[error("the {0} set is empty")]
    EmptyDataset(&'static str),
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of a run directory is missing or not what this version wrote.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint file could not be saved or loaded.
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
    /// Training was asked to stop; `last/` can be resumed.
    #[error("training stopped after {epochs_done} epochs; continue it with --resume {}", run.display())]
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
    /// The training loss became NaN or infinite.
    #[error(
        "the training loss is not finite at epoch {epoch}, step {step}; lower the learning rate or check the data"
    )]
    Diverged {
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch.
        step: usize,
    },
}

/// The error of a failed file operation on `path`.
pub(crate) fn io<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> EvalError + 'a {
    move |source| EvalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl From<entrannas_ops::RecordFileError> for EvalError {
    /// A file-system refusal stays an [`EvalError::Io`] (the operating system's words,
    /// the file named); a record that cannot be encoded or decoded is an
    /// [`EvalError::Checkpoint`].
    fn from(e: entrannas_ops::RecordFileError) -> Self {
        match e {
            entrannas_ops::RecordFileError::Io {
                action,
                path,
                source,
            } => EvalError::Io {
                action: action.strip_prefix("cannot ").unwrap_or(action),
                path,
                source,
            },
            entrannas_ops::RecordFileError::Record { path, message } => {
                EvalError::Checkpoint { path, message }
            }
        }
    }
}
