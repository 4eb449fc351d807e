//! The operation zoo of EnTranNAS.
//!
//! Every candidate operation is described as data first ([`LayerSpec`] sequences,
//! from which parameters, shapes and multiply-adds are computed without building a
//! tensor), then built as a burn module ([`Op`]) generic over the backend. Built-in
//! operations are named by [`OpKind`] with DARTS's exact names; a user's crate adds
//! its own through [`OpRegistry::register`].

#![warn(missing_docs)]

mod depthwise;
mod error;
mod fault;
mod grad;
mod init;
mod kind;
mod module;
mod norm;
pub mod recipes;
mod registry;
mod replica;
mod resources;
mod spec;

pub use depthwise::DepthwiseConv;
pub use error::OpsError;
pub use fault::{BackendFailure, backend_failure_advice, catch_backend_panic, is_out_of_memory};
pub use grad::{clip_global_norm, sum_gradients};
pub use init::materialize;
pub use kind::OpKind;
pub use module::{FactorizedReduce, Identity, Layer, Op, Pool, Relu, Zero, apply_conv};
pub use norm::{BN_MOMENTUM, BatchNorm2d, PreciseStatistics, RunningStatistics};
pub use registry::{OpRecipe, OpRegistry};
pub use replica::replicate;
pub use resources::{EpochProjection, FLOAT_BYTES, MemoryEstimate, human_seconds, median};
pub use spec::{ConvSpec, LayerSpec, OpSpec, SequenceCost, sequence_cost, sequence_retained};

#[cfg(test)]
mod gradcheck;
