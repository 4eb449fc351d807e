//! Why does a child-net lose accuracy? Evaluates the child-net of finished searches
//! (run directories written by `table1`, `lambda_sweep`, `extended_space` or
//! `entrannas search`) three ways on the search's architecture split: with the
//! batch-norm running statistics of the super-net (as the search reports it), after
//! re-estimating them through the child-net on 40 training batches, and with each
//! batch normalized by its own statistics.
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example child_bn -- \
//!     --dataset fashion-mnist runs/examples/table1/first runs/examples/table1/all
//! ```
//!
//! `--dataset` and `--data-dir` must name the data the searches used.

use std::path::PathBuf;

use clap::Parser;
use entrannas_data::{DatasetKind, OpenOptions, open};
use entrannas_examples::ExampleError;
use entrannas_examples::child_bn::{check, table};

/// The child-net of finished searches under three batch-norm treatments.
#[derive(Parser)]
struct Cli {
    /// Dataset the searches used.
    #[arg(long, default_value = "embedded")]
    dataset: String,
    /// Its directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Search run directories.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(cli: Cli) -> Result<(), ExampleError> {
    let kind: DatasetKind = cli.dataset.parse()?;
    let data = open(kind, cli.data_dir.as_deref(), &OpenOptions::default())?;
    let mut checks = Vec::new();
    for dir in &cli.runs {
        let c = check(dir, &data)?;
        eprintln!("{}: done", dir.display());
        checks.push(c);
    }
    print!("{}", table(&checks).render());
    Ok(())
}
