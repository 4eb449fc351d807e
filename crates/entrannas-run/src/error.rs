//! The one error type of the run layer.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// What can go wrong reading or writing a run directory. Messages name the file or
/// directory concerned; advice about command-line flags is the CLI's to add.
#[derive(Debug, Error)]
pub enum RunError {
    /// The file system refused: no space left, read-only, permission denied, missing.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`, `move into place`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error (its message names the errno's meaning).
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
    /// A checkpoint record could not be encoded or decoded.
    #[error("checkpoint {}: {message}", path.display())]
    Record {
        /// The record file.
        path: PathBuf,
        /// What went wrong ([`crate::describe_recorder_error`]).
        message: String,
    },
    /// Another process holds the run directory ([`crate::RunLock`]).
    #[error(
        "{} is in use by another entrannas process ({holder}); wait for it to end or stop it (Ctrl-C stops it after the epoch's checkpoint), or choose another directory",
        dir.display()
    )]
    InUse {
        /// The run directory.
        dir: PathBuf,
        /// Who holds it, as far as its lock file says (`process 1234`).
        holder: String,
    },
    /// A new run was asked for in a directory that already holds one.
    #[error("{} already holds a run", .0.display())]
    RunExists(PathBuf),
    /// The run was asked to stop after an epoch; its checkpoint can be resumed.
    #[error("stopped after {epochs_done} epochs; {} can be resumed", run.display())]
    Stopped {
        /// The run directory (the parent of a multi-run plan).
        run: PathBuf,
        /// Epochs completed and checkpointed (of the run that stopped).
        epochs_done: usize,
    },
}

impl RunError {
    /// Whether the error is about the input (a missing or malformed file, a directory
    /// in use or already holding a run) rather than the system (a disk that refused).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            RunError::Corrupt { .. } | RunError::InUse { .. } | RunError::RunExists(_)
        )
    }
}

/// The error of a failed file operation `action` on `path`.
pub fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RunError + 'a {
    move |source| RunError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A file that is not what this version wrote.
pub fn corrupt(path: &Path, message: impl Into<String>) -> RunError {
    RunError::Corrupt {
        path: path.to_path_buf(),
        message: message.into(),
    }
}
