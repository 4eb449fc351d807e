//! The EnTranNAS super-net and its first-order bi-level search.

#![warn(missing_docs)]

pub mod bench;
pub mod config;
mod error;
mod history;
#[cfg(test)]
mod isolated;
pub mod memory;
pub mod parallel;
pub mod run;
pub mod searcher;
pub mod space;
pub mod supernet;

pub use config::{Preset, SearchConfig};
pub use error::SearchError;
pub use run::{
    RunSummary, RunsOutcome, RunsSummary, SearchCheckpoint, SearchOutcome, Selection,
    resume_search, resume_searches, run_search, run_searches,
};
pub use searcher::{EpochRecord, SearchObserver, Searcher};
pub use space::{EnginePlacement, Method, OpSpace};
pub use supernet::{
    Architecture, CellArchitecture, CellDrift, StemLayout, SuperNet, SuperNetConfig,
};
