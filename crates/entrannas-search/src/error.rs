//! Errors of the search layer.

use entrannas_run::{CarriesRunError, RunError};
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
    /// The run directory could not be read or written, is in use or already holds a
    /// run, or the search was asked to stop ([`RunError::Stopped`]: its checkpoint can
    /// be resumed).
    #[error(transparent)]
    Run(#[from] RunError),
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

impl CarriesRunError for SearchError {
    fn run_error(&self) -> Option<&RunError> {
        match self {
            SearchError::Run(e) => Some(e),
            _ => None,
        }
    }
}
