//! A Table 4-like comparison: EnTranNAS-DST (or `--method`) on the standard 8-op and
//! the extended 13-op space, on the same data and seed, side by side: edges,
//! target-net parameters and FLOPs, child-net accuracy and search time, beside the
//! paper's CIFAR-10 figures where it has them.
//!
//! ```sh
//! # docs/RESULTS.md, Table 4 (the defaults: 3 epochs at batch 32, arch lr 0.01)
//! cargo run --release -p entrannas-examples --example extended_space -- \
//!     --eval-limit 1000 --out runs/examples/extended_space
//! ```
//!
//! Each search writes its run directory (`<out>/standard`, `<out>/extended`, with
//! `report.html`); the table is also saved as `<out>/summary.md`.

use clap::Parser;
use entrannas_examples::extended_space::{ExtendedSpaceArgs, run};

/// The paper's Table 4 comparison at CPU scale.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ExtendedSpaceArgs,
}

fn main() {
    entrannas_examples::finish(|| run(&Cli::parse().args));
}
