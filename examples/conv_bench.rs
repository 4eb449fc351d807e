//! 1x1 convolutions: burn's `conv2d` against `entrannas_ops::apply_conv` (a
//! matrix product on the strided input), forward and backward on the CPU backend, at
//! the shapes of the quick-preset super-net (docs/PERFORMANCE.md):
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example conv_bench
//! ```

use std::time::Instant;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use entrannas_examples::{Cpu, ExampleError, Table};
use entrannas_ops::DepthwiseConv;
use entrannas_ops::apply_conv;

/// Times one 1x1 convolution per shape and stride, both ways.
#[derive(Parser)]
struct Cli {
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Timed repetitions of forward plus backward (after one untimed).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
}

/// `(channels, height = width)` of the inputs timed.
const SHAPES: [(usize, usize); 5] = [(2, 28), (8, 28), (24, 28), (16, 14), (32, 7)];

fn main() {
    entrannas_examples::finish(|| run(Cli::parse()));
}

/// Mean milliseconds of forward plus backward (input and weight gradients) of `apply`.
fn time(
    repeats: usize,
    x: &Tensor<Cpu, 4>,
    conv: &Conv2d<Cpu>,
    apply: fn(&Conv2d<Cpu>, Tensor<Cpu, 4>) -> Tensor<Cpu, 4>,
) -> f64 {
    let once = || {
        let x = x.clone().require_grad();
        let y = apply(conv, x.clone());
        let grads = (y.clone() * y).sum().backward();
        let dx = x.grad(&grads).expect("input gradient").sum().into_scalar();
        let dw = conv
            .weight
            .val()
            .grad(&grads)
            .expect("weight gradient")
            .sum()
            .into_scalar();
        std::hint::black_box(dx + dw);
    };
    once();
    let start = Instant::now();
    for _ in 0..repeats {
        once();
    }
    start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64
}

fn run(cli: Cli) -> Result<String, ExampleError> {
    if cli.batch == 0 || cli.repeats == 0 {
        return Err(ExampleError::Usage(
            "--batch and --repeats must be at least 1".into(),
        ));
    }
    let device = Default::default();
    let mut table = Table::new([
        "input (N x C x H x W)",
        "stride",
        "burn conv2d (ms)",
        "apply_conv (ms)",
        "speed-up",
    ]);
    for (c, size) in SHAPES {
        let x = Tensor::<Cpu, 4>::random(
            [cli.batch, c, size, size],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        for stride in [1, 2] {
            let conv = Conv2dConfig::new([c, c], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init::<Cpu>(&device);
            let burns = time(cli.repeats, &x, &conv, |conv, x| conv.forward(x));
            let ours = time(cli.repeats, &x, &conv, |conv, x| {
                apply_conv(conv, x, DepthwiseConv::Grouped)
            });
            table.push([
                format!("{} x {c} x {size} x {size}", cli.batch),
                stride.to_string(),
                format!("{burns:.2}"),
                format!("{ours:.2}"),
                format!("{:.2}x", burns / ours),
            ]);
        }
    }
    Ok(table.render())
}
