//! Library use: one EnTranNAS search through the library API, printing the genotype.
//!
//! Searches the Fashion-MNIST subset compiled into the binary with a small super-net
//! (C = 8, 5 cells, 3 epochs at batch 32, architecture learning rate 0.01, temperature
//! annealed to the paper's final 0.1) on the CPU, writes the run directory (config, history, genotype, diagrams,
//! checkpoint, report pages) and prints the selected genotype in DARTS form:
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example search -- --epochs 2 --out runs/examples/search
//! ```
//!
//! The heart of it is five calls: open the data, configure, create the run directory,
//! search, read the genotype.

use clap::Parser;
use entrannas_examples::{CommonArgs, Cpu, EpochLine, ExampleError, Table, pct};
use entrannas_ops::OpRegistry;
use entrannas_run::RunDir;
use entrannas_search::run_search;

/// One EnTranNAS search on the embedded Fashion-MNIST subset (or `--dataset`).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    entrannas_examples::finish(|| run(Cli::parse()).map(|()| ""));
}

fn run(cli: Cli) -> Result<(), ExampleError> {
    let data = cli.common.open_data()?;
    let config = cli.common.config();
    let run = RunDir::create(cli.common.out_dir("search"), cli.common.force)?;
    let mut progress = EpochLine {
        label: "search".into(),
        epochs: config.epochs,
    };
    let outcome = run_search::<Cpu>(
        &config,
        &OpRegistry::default(),
        &data,
        &run,
        &mut progress,
        &[Default::default()],
    )?;
    entrannas_report::write_report(run.path())?;

    let mut table = Table::new([
        "epoch",
        "tau",
        "super-net acc (%)",
        "child-net acc (%)",
        "edges (N/R)",
    ]);
    for r in &outcome.history {
        table.push([
            (r.epoch + 1).to_string(),
            format!("{:.3}", r.tau),
            pct(r.supernet_accuracy),
            pct(r.child_accuracy),
            format!("{}/{}", r.normal.edges, r.reduce.edges),
        ]);
    }
    print!("{}", table.render());
    let selected = &outcome.history[outcome.selection.epoch];
    println!(
        "selected epoch {}: {}",
        selected.epoch + 1,
        selected.genotype.to_darts_text()
    );
    println!("run directory: {}", run.path().display());
    Ok(())
}
