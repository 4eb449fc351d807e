//! Reports of EnTranNAS run directories (layer 5, beside the CLI).
//!
//! - [`write_report`] writes `report.html` for a search or a training run: the
//!   configuration, environment and cost, loss and accuracy curves (super-net,
//!   child-net and their gap for a search), the selected cells, parameters and FLOPs,
//!   collapse diagnostics per epoch, and which epoch was selected and why.
//! - [`write_evolution`] writes one SVG frame per epoch of a search
//!   (`evolution/epoch_NNN.svg`) and `evolution.html`, a page stepping through them.
//!
//! Both pages are self-contained: inline CSS and inline SVG, no fonts, images or
//! scripts from anywhere (the evolution page has one small inline script), so they
//! open from `file://` and can be archived or mailed as one file. Run directories are
//! read with the search and evaluation crates' own types ([`load_run`]); a run's kind
//! is told by its history records.
//!
//! ```no_run
//! # fn main() -> Result<(), entrannas_report::ReportError> {
//! let dir = std::path::Path::new("runs/search-20250131-134500");
//! let report = entrannas_report::write_report(dir)?;
//! let evolution = entrannas_report::write_evolution(dir)?;
//! println!("{} and {}", report.display(), evolution.display());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod evolution;
pub mod html;
mod page;
pub mod plot;
mod report;
mod run;

pub use error::ReportError;
pub use evolution::{EVOLUTION_FILE, FRAMES_DIR, frame_name, render_evolution, write_evolution};
pub use report::{REPORT_FILE, render_report, shown, write_report};
pub use run::{EnvironmentFile, Run, RunKind, SearchRun, TrainRun, detect_kind, load_run};
