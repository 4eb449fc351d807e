//! The EnTranNAS super-net and its first-order bi-level search.

#![warn(missing_docs)]

pub mod bench;
mod config;
mod error;
mod history;
#[cfg(test)]
mod isolated;
mod measure;
pub mod memory;
pub mod parallel;
mod run;
mod searcher;
mod space;
mod supernet;

pub use config::{Preset, SearchConfig};
pub use error::SearchError;
pub use run::{
    CHECKPOINT, GENOTYPE_TEXT_FILE, NORMAL_SVG, REDUCE_SVG, RunSummary, RunsOutcome, RunsSummary,
    SELECTION_FILE, SearchCheckpoint, SearchOutcome, Selection, check_batch_fits, resume_search,
    resume_searches, run_search, run_searches, select,
};
pub use searcher::{
    ArchOptimizer, CellDiagnostics, Derivation, EpochRecord, SearchObserver, Searcher, StepOutput,
    WeightOptimizer,
};
pub use space::{EnginePlacement, Method, OpSpace};
pub use supernet::{
    Architecture, CellArchitecture, CellDrift, StemLayout, SuperNet, SuperNetConfig,
    method_defaults,
};
