//! Library use: search over an operation of one's own. Registers a 7x7 separable
//! convolution (`sep_conv_7x7`), searches the embedded Fashion-MNIST subset over
//! `none, skip_connect, max_pool_3x3, sep_conv_3x3, sep_conv_7x7`, trains the selected
//! genotype's target-net for one epoch with the same registry, reloads it from its
//! checkpoint and evaluates it:
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example custom_op -- --epochs 2 --out runs/examples
//! ```

use clap::Parser;
use entrannas_examples::custom_op::{self, CustomOpArgs, CustomOpOutcome, SEP_CONV_7X7};
use entrannas_examples::pct;

/// Search over a registered operation, then train and reload its genotype.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: CustomOpArgs,
}

fn main() {
    entrannas_examples::finish(|| custom_op::run(&Cli::parse().args).map(|o| describe(&o)));
}

/// What the example prints about its outcome.
fn describe(outcome: &CustomOpOutcome) -> String {
    format!(
        "genotype: {}\n{} of its {} connections use {SEP_CONV_7X7}\ntest accuracy after training {} %, reloaded from {}: {} %\nsearch: {}",
        outcome.genotype.to_darts_text(),
        outcome.custom_connections,
        outcome.connections,
        pct(outcome.trained_accuracy),
        outcome.train_dir.display(),
        pct(outcome.reloaded_accuracy),
        outcome.search_dir.display(),
    )
}
