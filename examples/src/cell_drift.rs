//! Which cells make the child-net differ from the super-net (issue 34, item 3): for the
//! last checkpoint of a search run directory, both networks run side by side on the
//! same images of the architecture split, and each cell reports its output's mean and
//! standard deviation in both, the relative difference accumulated up to it, and the
//! difference it makes on its own ([`entrannas_search::CellDrift`]).

use std::path::PathBuf;

use clap::Args;
use entrannas_search::CellDrift;

use crate::checkpoint::load_search;
use crate::{ExampleError, Table};

/// Flags of the `cell_drift` example.
#[derive(Args, Debug)]
pub struct CellDriftArgs {
    /// A search run directory with a checkpoint (`first-seed-2` of a `table1` run, or an
    /// `entrannas search` output).
    pub run: PathBuf,
    /// Batches of the architecture split to average over.
    #[arg(long, default_value_t = 10)]
    pub batches: usize,
    /// Where the dataset is, when not where the run's config says.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The measurement and where it was taken.
#[derive(Debug)]
pub struct DriftReport {
    /// Epochs the checkpoint holds.
    pub epochs: usize,
    /// The temperature of its last epoch.
    pub tau: f64,
    /// Per cell.
    pub cells: Vec<CellDrift>,
}

impl DriftReport {
    /// The report as a table, one row per cell.
    pub fn table(&self) -> String {
        let mut table = Table::new([
            "cell",
            "type",
            "super-net mean +- std",
            "child-net mean +- std",
            "drift so far",
            "own drift",
        ]);
        for d in &self.cells {
            table.push([
                d.cell.to_string(),
                format!(
                    "{} {}",
                    if d.reduction { "reduction" } else { "normal" },
                    if d.engine { "Engine" } else { "Transit" }
                ),
                format!("{:.3} +- {:.3}", d.supernet.0, d.supernet.1),
                format!("{:.3} +- {:.3}", d.child.0, d.child.1),
                format!("{:.3}", d.relative_difference),
                format!("{:.3}", d.local_difference),
            ]);
        }
        table.render()
    }
}

/// Loads the run's last checkpoint and measures the drift on the first `batches`
/// batches of its architecture split, at the temperature of its last epoch.
pub fn run(args: &CellDriftArgs) -> Result<DriftReport, ExampleError> {
    let loaded = load_search(&args.run, args.data_dir.as_deref())?;
    let val_eval = loaded.evaluation_images();
    let cells =
        loaded
            .searcher
            .cell_drift(&val_eval, &loaded.derivation, loaded.tau, args.batches)?;
    Ok(DriftReport {
        epochs: loaded.epochs,
        tau: loaded.tau,
        cells,
    })
}
