//! The paper's Table 1: super-net against child-net accuracy for each Engine-cell
//! placement (`all`, `half`, `last`, `first`; method entran), on the same data and
//! seed, optionally with DARTS as an extra row (`--with-darts`).
//!
//! The paper (CIFAR-10) loses 0.44 points with `first` and 24.32 with `all`. The
//! check run here: on Fashion-MNIST, `first` must lose at most 2 points while `all`
//! loses clearly more; the program says so plainly when its run does not show it.
//!
//! The defaults are the settings of docs/RESULTS.md's 8-cell runs: the paper's depth
//! (8 cells, `C = 8`), 3 epochs at batch 32, architecture learning rate 0.01.
//!
//! ```sh
//! # 10,200 + 10,200 Fashion-MNIST images (docs/RESULTS.md, Table 1: about 25 minutes
//! # for `first`, 47 for `all` on 2 cores); the flags after the portions are the defaults
//! cargo run --release -p entrannas-examples --example table1 -- \
//!     --dataset fashion-mnist --train-portion 0.17 --val-portion 0.17 \
//!     --eval-limit 2000 --placements first,all --out runs/examples/table1 \
//!     --epochs 3 --channels 8 --layers 8 --batch-size 32 --arch-lr 0.01
//! ```
//!
//! Each search writes its run directory (`<out>/<placement>`, with `report.html`);
//! the table is also saved as `<out>/summary.md`. `--seeds N` searches each placement
//! with N seeds (`<out>/<placement>-seed-<s>`), adds mean ± std rows and judges the
//! ordering on the means; `--resume` continues an interrupted experiment.

use clap::Parser;
use entrannas_examples::table1::{Table1Args, run};

/// The paper's Table 1 at CPU scale.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Table1Args,
}

fn main() {
    entrannas_examples::finish(|| run(&Cli::parse().args));
}
