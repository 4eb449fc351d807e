//! Errors of the operation layer.

use thiserror::Error;

/// What can go wrong when naming or building an operation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpsError {
    /// An operation name that neither the built-ins nor the registry know.
    #[error("unknown operation `{name}`; valid operations: {}", valid.join(", "))]
    UnknownOp {
        /// The name that was asked for.
        name: String,
        /// Every name that would have been accepted.
        valid: Vec<String>,
    },
    /// A registration under a name that is already taken.
    #[error("operation `{0}` is already registered")]
    DuplicateOp(String),
    /// An operation asked for an impossible shape (for example zero channels).
    #[error("invalid operation spec: {0}")]
    InvalidSpec(String),
}
