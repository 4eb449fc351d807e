//! The operation zoo of EnTranNAS.
//!
//! Every candidate operation is described as data first ([`LayerSpec`] sequences,
//! from which parameters, shapes and multiply-adds are computed without building a
//! tensor), then built as a burn module ([`Op`]) generic over the backend. Built-in
//! operations are named by [`OpKind`] with DARTS's exact names; a user's crate adds
//! its own through [`OpRegistry::register`].

#![warn(missing_docs)]

pub mod depthwise;
mod error;
pub mod fault;
pub mod grad;
pub mod init;
pub mod kind;
pub mod module;
pub mod norm;
pub mod recipes;
pub mod registry;
pub mod replica;
pub mod resources;
pub mod spec;

pub use depthwise::DepthwiseConv;
pub use error::OpsError;
pub use fault::{BackendFailure, backend_failure_advice, catch_backend_panic, is_out_of_memory};
pub use grad::{clip_global_norm, sum_gradients};
pub use init::materialize;
pub use kind::OpKind;
pub use module::{Layer, Op};
pub use norm::{BatchNorm2d, PreciseStatistics, RunningStatistics};
pub use registry::{OpRecipe, OpRegistry};
pub use replica::replicate;
pub use resources::{EpochProjection, MemoryEstimate};
pub use spec::{ConvSpec, LayerSpec, OpSpec, SequenceCost, sequence_cost, sequence_retained};

#[cfg(test)]
mod gradcheck;
