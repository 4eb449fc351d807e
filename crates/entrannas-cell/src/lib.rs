//! Cells of EnTranNAS: the cell DAG and DARTS's edge order ([`CellTopology`]), genotypes
//! (the derived architecture passed from search to evaluation) with their versioned
//! JSON file ([`json`]), DARTS's Python text form ([`darts_text`]), validation and
//! collapse counts, the published DARTS and PC-DARTS genotypes ([`builtin`]), and cell
//! diagrams as SVG or Graphviz DOT ([`diagram`]).
//!
//! Nodes are numbered as in DARTS: `0 .. inputs` are the cell inputs, intermediate
//! nodes follow; operations are named by their DARTS strings (`sep_conv_3x3`).

#![warn(missing_docs)]

pub mod builtin;
pub mod darts_text;
pub mod diagram;
pub mod error;
pub mod genotype;
pub mod json;
pub mod topology;

#[cfg(test)]
pub(crate) mod testing;

pub use builtin::{BUILTIN_NAMES, darts_v1, darts_v2, pc_darts};
pub use diagram::{cell_dot, cell_svg, genotype_dot, genotype_svg};
pub use error::GenotypeError;
pub use genotype::{
    CellGenotype, CellKind, CellStats, Connection, GENOTYPE_SCHEMA_VERSION, Genotype,
    GenotypeStats, PARAMETER_FREE_OPS,
};
pub use topology::CellTopology;

pub mod search_cell;
pub use search_cell::{
    CellError, CellInput, CellPlan, CellWork, OpCount, SearchCell, SearchCellConfig,
};

pub mod target;
pub use target::{
    AUXILIARY_CHANNELS, AuxiliaryPlan, TargetCellPlan, TargetConnection, TargetCost, TargetError,
    TargetLayout, TargetNetSpec, TargetPlan, target_net_cost,
};
