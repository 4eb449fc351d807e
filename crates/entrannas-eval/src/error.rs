//! Errors of the evaluation layer.

use entrannas_run::{CarriesRunError, RunError};
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
    /// The run directory could not be read or written, is in use or already holds a
    /// run, or training was asked to stop ([`RunError::Stopped`]: `last/` can be
    /// resumed).
    #[error(transparent)]
    Run(#[from] RunError),
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

impl CarriesRunError for EvalError {
    fn run_error(&self) -> Option<&RunError> {
        match self {
            EvalError::Run(e) => Some(e),
            _ => None,
        }
    }
}
