//! The paper's Table 3: EnTranNAS-DST searches with sparsity weight lambda 0.05, 0.1
//! and 0.2 (`--lambdas`) on the same data and seed: edges kept in the normal and the
//! reduction cell, the target-net's parameters and FLOPs, child-net accuracy and
//! search time. A larger lambda must keep fewer connections; the program says so
//! plainly when its run does not show it.
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example lambda_sweep -- \
//!     --epochs 3 --channels 8 --layers 5 --batch-size 96 --out runs/examples/lambda_sweep
//! ```
//!
//! Each search writes its run directory (`<out>/lambda-<value>`, with `report.html`);
//! the table is also saved as `<out>/summary.md`.

use clap::Parser;
use entrannas_examples::lambda_sweep::{LambdaSweepArgs, run};

/// The paper's Table 3 at CPU scale.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LambdaSweepArgs,
}

fn main() {
    entrannas_examples::finish(run(&Cli::parse().args));
}
