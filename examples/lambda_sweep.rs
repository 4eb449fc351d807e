//! The paper's Table 3: EnTranNAS-DST searches with sparsity weight lambda 0.05, 0.1
//! and 0.2 (`--lambdas`) on the same data and seed: edges kept in the normal and the
//! reduction cell, the target-net's parameters and FLOPs, child-net accuracy and
//! search time. A larger lambda must keep fewer connections; the program says so
//! plainly when its run does not show it.
//!
//! The defaults are the settings of docs/RESULTS.md's Table 3 (h) and (j): 3 seeds per
//! lambda, judged on the means, `C = 8`, 5 cells, 3 epochs at batch 32, architecture
//! learning rate 0.01, temperature annealed from 5.0 to 0.5.
//!
//! ```sh
//! # 6,000 + 6,000 Fashion-MNIST images (docs/RESULTS.md, Table 3 (h): about 10 minutes
//! # per search on 2 cores); the flags after the portions are the defaults
//! cargo run --release -p entrannas-examples --example lambda_sweep -- \
//!     --dataset fashion-mnist --train-portion 0.1 --val-portion 0.1 \
//!     --eval-limit 1000 --out runs/examples/lambda_sweep \
//!     --seeds 3 --epochs 3 --channels 8 --layers 5 --batch-size 32 --arch-lr 0.01 \
//!     --tau-final 0.5
//! ```
//!
//! Each search writes its run directory (`<out>/lambda-<value>-seed-<s>`, with
//! `report.html`); the table is also saved as `<out>/summary.md`.

use clap::Parser;
use entrannas_examples::lambda_sweep::{LambdaSweepArgs, run};

/// The paper's Table 3 at CPU scale.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LambdaSweepArgs,
}

fn main() {
    entrannas_examples::finish(|| run(&Cli::parse().args));
}
