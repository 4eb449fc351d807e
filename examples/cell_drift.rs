//! Which cells make a search's child-net differ from its super-net: per cell, both
//! networks' output statistics on the same images, the drift accumulated up to the
//! cell and the drift the cell makes on its own (issue 34, item 3):
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example cell_drift -- \
//!     docs/runs/table1-paper-arch-lr-0.1/first-seed-2 --batches 10
//! ```

use clap::Parser;
use entrannas_examples::cell_drift::{self, CellDriftArgs};

/// The child-net's drift from the super-net, cell by cell, at a run's last checkpoint.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CellDriftArgs,
}

fn main() {
    let cli = Cli::parse();
    entrannas_examples::finish(|| {
        cell_drift::run(&cli.args).map(|report| {
            format!(
                "{} after {} epoch(s), tau {:.3}, {} batch(es) of its architecture split:\n{}",
                cli.args.run.display(),
                report.epochs,
                report.tau,
                cli.args.batches,
                report.table()
            )
        })
    });
}
