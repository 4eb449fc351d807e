//! Cells of EnTranNAS: the cell DAG and DARTS's edge order ([`CellTopology`]), genotypes
//! (the derived architecture passed from search to evaluation) with their versioned
//! JSON file ([`json`]: [`Genotype::load`], [`Genotype::save`]), DARTS's Python text
//! form ([`darts_text`]: [`Genotype::from_darts_text`], [`Genotype::to_darts_text`]), validation and collapse
//! counts, the published DARTS and PC-DARTS genotypes ([`Genotype::builtin`]); the
//! search cell ([`SearchCell`]: Engine and Transit forwards) and the target-net's plan
//! ([`TargetNetSpec`]). Their diagrams are drawn by the `entrannas-diagram` crate.
//!
//! Nodes are numbered as in DARTS: `0 .. inputs` are the cell inputs, intermediate
//! nodes follow; operations are named by their DARTS strings (`sep_conv_3x3`).

#![warn(missing_docs)]

mod builtin;
pub mod darts_text;
mod error;
mod genotype;
pub mod json;
mod topology;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use builtin::{
    BUILTIN_NAMES, DARTS_V1_TEXT, DARTS_V2_TEXT, PC_DARTS_TEXT, darts_v1, darts_v2, pc_darts,
};
pub use error::GenotypeError;
pub use genotype::{
    CellGenotype, CellKind, CellStats, Connection, GENOTYPE_SCHEMA_VERSION, Genotype,
    GenotypeStats, PARAMETER_FREE_OPS,
};
pub use topology::CellTopology;

mod search_cell;
pub use search_cell::{
    CellError, CellInput, CellPlan, CellWork, OpCount, SearchCell, SearchCellConfig,
};

mod target;
pub use target::{
    AUXILIARY_CHANNELS, AuxiliaryPlan, TargetCellPlan, TargetConnection, TargetCost, TargetError,
    TargetLayout, TargetNetSpec, TargetPlan, target_net_cost,
};
