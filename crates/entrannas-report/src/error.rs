//! The errors of report generation.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong reading a run directory or writing a report. Every variant names
/// the file concerned.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The run directory does not exist or is not a directory.
    #[error("{}: not a run directory (it does not exist or is not a directory)", .path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// `history.jsonl` is missing: the run has not finished an epoch, or the path is
    /// not a run directory.
    #[error(
        "{}: missing: no epoch recorded yet, or not a search or training run directory",
        .path.display()
    )]
    MissingHistory {
        /// The expected `history.jsonl`.
        path: PathBuf,
    },
    /// `history.jsonl` holds no record.
    #[error("{}: empty: no epoch recorded yet", .path.display())]
    EmptyHistory {
        /// The `history.jsonl`.
        path: PathBuf,
    },
    /// A line of `history.jsonl` is not a record of the run's kind.
    #[error("{}: line {line}: {message}", .path.display())]
    MalformedLine {
        /// The `history.jsonl`.
        path: PathBuf,
        /// The line number (1-based, blank lines counted).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The history's records are neither search nor training records.
    #[error("{}: unknown run kind: {message}", .path.display())]
    UnknownRunKind {
        /// The `history.jsonl`.
        path: PathBuf,
        /// Why the kind could not be told.
        message: String,
    },
    /// A required file is missing.
    #[error("{}: missing", .path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
    },
    /// A file's content is invalid.
    #[error("{}: {message}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The evolution page was asked of a training run.
    #[error(
        "{}: a training run; the evolution page needs a search run (its history holds every epoch's genotype)",
        .path.display()
    )]
    NotASearchRun {
        /// The run directory.
        path: PathBuf,
    },
    /// A file cannot be read or written.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// `read`, `write`, `create`, ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A closure turning an I/O error into [`ReportError::Io`] for `path`.
pub(crate) fn io<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> ReportError + 'a {
    move |source| ReportError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
