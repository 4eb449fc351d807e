//! The relaxation math of EnTranNAS and EnTranNAS-DST (SPEC section 3), for any number
//! of input nodes, intermediate nodes and candidate ops.
//!
//! * The equations on burn tensors, generic over the backend so gradients reach
//!   `alpha` and `beta`: [`softmax_with_temperature`] (Eq. 5),
//!   [`connection_normalization`] (Eq. 7), [`thresholds`], [`prune`] (Eq. 8),
//!   [`operation_normalization`] (Eq. 9), [`dst_coefficients`] (all of them) and
//!   [`sparsity_regularizer`] (Eq. 11).
//! * [`host`]: the same math on float64 host matrices.
//! * The derivation rules, [`derive_top_k`] (DARTS, Eq. 4) and
//!   [`derive_dst`] (Eq. 10), producing a [`CellGenotype`](entrannas_cell::CellGenotype).
//! * The temperature schedule ([`TemperatureSchedule`]).
//! * The architecture parameters as a burn module ([`ArchParams`]).
//! * The arch file written by the search and read by `entrannas derive` ([`ArchFile`]),
//!   and [`derive_report`].
//!
//! Coefficient matrices are `[edges, K]` with edges in DARTS order
//! ([`CellTopology`](entrannas_cell::CellTopology)) and columns in the order of
//! the op list.

#![warn(missing_docs)]

mod arch_file;
mod derivation;
mod error;
pub mod host;
mod params;
mod relax;
mod schedule;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use arch_file::{
    ArchFile, CellArch, CellReport, DeriveReport, DroppedEdges, Rule, derive_report,
};
pub use derivation::{derive_dst, derive_top_k, validate_matrix};
pub use error::RelaxError;
pub use params::{ArchParams, ArchParamsConfig, CellType, HostArchParams, Relaxation};
pub use relax::{
    THRESHOLD_MAX, THRESHOLD_MIN, connection_normalization, dst_coefficients,
    operation_normalization, prune, softmax_with_temperature, sparsity_regularizer,
    threshold_bounds, thresholds,
};
pub use schedule::TemperatureSchedule;
