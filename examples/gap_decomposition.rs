//! Where a search's child-net loses its accuracy against the super-net: the super-net
//! evaluated with its Engine cells' coefficients edited one step at a time towards the
//! child-net (issue 34, item 3):
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example gap_decomposition -- \
//!     docs/runs/table1-paper-arch-lr-0.1/first-seed-2
//! ```

use clap::Parser;
use entrannas_examples::gap_decomposition::{self, GapArgs};

/// The super-net with edited Engine coefficients, at a run's last checkpoint.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: GapArgs,
}

fn main() {
    let cli = Cli::parse();
    entrannas_examples::finish(|| {
        gap_decomposition::run(&cli.args).map(|report| {
            let [normal, reduce] = report.dropped;
            format!(
                "{} after {} epoch(s), tau {:.3}, running statistics of the search:\n{}\n\
             dropped edges whose strongest op is not none (still computed by the Engine \
             cell at tau -> 0): normal {} of {}, reduction {} of {}\n",
                cli.args.run.display(),
                report.epochs,
                report.tau,
                report.table(),
                normal.still_computed,
                normal.dropped,
                reduce.still_computed,
                reduce.dropped,
            )
        })
    });
}
