//! The one error type of this crate.

use std::path::PathBuf;

/// What went wrong while finding, reading or checking a dataset.
///
/// Every variant that concerns a file names it, so a message printed by the CLI tells
/// the user which file to look at.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder the reader needs does not exist.
    #[error("{path}: not found{hint}")]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// Where else was looked and how to get the data (starts with a separator, or is empty).
        hint: String,
    },
    /// The file exists but reading it failed.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is shorter than its header (or record layout) says it must be.
    #[error("{path}: truncated: expected {expected} bytes, found {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (after decompression for gzip files).
        expected: u64,
        /// Bytes actually present (after decompression for gzip files).
        actual: u64,
    },
    /// The file does not start with the magic number of the expected IDX file type.
    #[error("{path}: bad magic number {found:#010x}, expected {expected:#010x} ({what})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number wanted.
        expected: u32,
        /// What kind of file was expected (`IDX images`, `IDX labels`).
        what: &'static str,
    },
    /// The file is structurally wrong in some other way (dimensions, trailing bytes,
    /// corrupt compression, an empty class folder ...).
    #[error("{path}: {problem}")]
    BadFormat {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// An images file and its labels file disagree on the number of items.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Images it holds.
        image_count: usize,
        /// The labels file.
        labels: PathBuf,
        /// Labels it holds.
        label_count: usize,
    },
    /// A CIFAR binary file's length is not a whole number of records.
    #[error("{path}: length {len} bytes is not a multiple of the {record}-byte record size")]
    RecordSize {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The record size of the format.
        record: usize,
    },
    /// A label is not below the number of classes of the dataset.
    #[error("{path}: item {index} has label {label}, but the dataset has {classes} classes")]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Position of the item in the file.
        index: usize,
        /// The label read.
        label: usize,
        /// Number of classes of the dataset.
        classes: usize,
    },
    /// An image file of an image folder cannot be decoded.
    #[error("{path}: cannot decode image: {reason}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A dataset name that is not one of [`crate::DatasetKind`]'s names.
    #[error("unknown dataset '{name}'; valid names: {valid}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The valid names, separated by `|`.
        valid: String,
    },
    /// The dataset cannot be opened without a data directory.
    #[error("dataset '{kind}' needs a data directory ({what})")]
    NeedsDataDir {
        /// The dataset name.
        kind: String,
        /// What the directory must contain.
        what: String,
    },
    /// The thread preparing a loader's batches stopped without finishing its epoch
    /// (it panicked).
    #[error(
        "the data loading thread stopped before the end of the epoch (see the panic message above)"
    )]
    LoaderStopped,
    /// An option value is out of its valid range.
    #[error("invalid data option: {0}")]
    InvalidOption(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path,
                hint: String::new(),
            }
        } else {
            DataError::Io { path, source }
        }
    }

    pub(crate) fn bad_format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        DataError::BadFormat {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
