//! Why does a child-net lose accuracy? Evaluates the child-net of finished searches
//! (run directories written by `table1`, `lambda_sweep`, `extended_space` or
//! `entrannas search`) three ways on the search's architecture split: with the
//! batch-norm running statistics of the super-net (as the search reports it), after
//! re-estimating them through the child-net on 40 training batches (the super-net's
//! accuracy after the same through its own paths beside it), and with each batch
//! normalized by its own statistics. `--batches N` sets how many training batches the
//! recalibration averages (default: the run's `child_bn_batches`).
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example child_bn -- \
//!     runs/examples/table1/first runs/examples/table1/all
//! ```
//!
//! Each run is evaluated on the dataset its `config.json` names.

use std::path::PathBuf;

use clap::Parser;
use entrannas_examples::ExampleError;
use entrannas_examples::child_bn::{check, table};

/// The child-net of finished searches under three batch-norm treatments.
#[derive(Parser)]
struct Cli {
    /// Search run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Training batches the recalibration averages (default: each run's
    /// `child_bn_batches`).
    #[arg(long)]
    batches: Option<usize>,
}

fn main() {
    entrannas_examples::finish(|| run(Cli::parse()).map(|()| ""));
}

fn run(cli: Cli) -> Result<(), ExampleError> {
    let mut checks = Vec::new();
    for dir in &cli.runs {
        let c = check(dir, cli.batches)?;
        eprintln!("{}: done", dir.display());
        checks.push(c);
    }
    print!("{}", table(&checks).render());
    Ok(())
}
