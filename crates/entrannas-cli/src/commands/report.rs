//! `entrannas report`: a self-contained HTML report of a search or training run, and
//! for searches the page stepping through the architecture's evolution.

use std::path::{Path, PathBuf};

use clap::Args;
use entrannas_report::{RunKind, detect_kind, write_evolution, write_report};

use crate::error::CliError;

/// Arguments of `entrannas report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A search or training run directory.
    pub run: PathBuf,
}

/// Writes `report.html` (and, for a search, `evolution.html` with one frame per
/// epoch) into `run`; returns the files written.
pub fn write(run: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut written = vec![write_report(run)?];
    if detect_kind(run)? == RunKind::Search {
        written.push(write_evolution(run)?);
    }
    Ok(written)
}

/// Runs `entrannas report`.
pub fn run(args: ReportArgs) -> Result<(), CliError> {
    for file in write(&args.run)? {
        println!("{}", file.display());
    }
    Ok(())
}
