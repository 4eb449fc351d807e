//! Is `alpha` driven by its gradient or by Adam's weight decay? For a search run's last
//! checkpoint: the architecture gradient on several batches of the architecture split
//! (each batch's size, and the size of their mean, the part that persists from batch
//! to batch) against the weight decay's pull `weight_decay x |alpha|` (issue 34):
//!
//! ```sh
//! cargo run --release -p entrannas-examples --example arch_gradient -- \
//!     docs/runs/table1-paper-arch-lr-0.1/first-seed-2 --batches 10
//! ```

use burn::data::dataset::Dataset;
use clap::Parser;
use entrannas_data::Prefetch;
use entrannas_examples::checkpoint::{LoadedSearch, load_search};
use entrannas_examples::{Cpu, ExampleError, Table};

/// The architecture gradient against the weight decay at a run's last checkpoint.
#[derive(Parser)]
struct Cli {
    /// A search run directory with a checkpoint.
    run: std::path::PathBuf,
    /// Batches of the architecture split.
    #[arg(long, default_value_t = 10)]
    batches: usize,
}

fn mean_abs(values: &[f64]) -> f64 {
    values.iter().map(|v| v.abs()).sum::<f64>() / values.len().max(1) as f64
}

fn main() {
    entrannas_examples::finish(|| run(Cli::parse()));
}

fn run(cli: Cli) -> Result<String, ExampleError> {
    let LoadedSearch {
        config,
        searcher,
        epochs,
        tau,
        derivation,
        split,
    } = load_search(&cli.run, None)?;
    let device = Default::default();
    let len = (cli.batches * config.batch_size).min(split.val.len());
    let loader = Prefetch::start(&split.val, (0..len).collect(), config.batch_size, 0);
    let (mut per_batch, mut sums) = ([0.0f64; 2], [Vec::new(), Vec::new()]);
    let mut count = 0;
    while let Some(batch) = loader.next_batch::<Cpu>(&device)? {
        let (normal, reduce) = searcher.architecture_gradient(&batch, &derivation, tau)?;
        for (k, g) in [normal, reduce].into_iter().enumerate() {
            per_batch[k] += mean_abs(&g);
            if sums[k].is_empty() {
                sums[k] = vec![0.0; g.len()];
            }
            sums[k].iter_mut().zip(&g).for_each(|(s, v)| *s += v);
        }
        count += 1;
    }
    let host = |p: &burn::module::Param<burn::tensor::Tensor<Cpu, 2>>| -> Vec<f64> {
        p.val().into_data().iter::<f64>().collect()
    };
    let alphas = [
        host(&searcher.arch().alpha_normal),
        host(&searcher.arch().alpha_reduce),
    ];
    let mut table = Table::new([
        "cell type",
        "mean |g| per batch",
        "mean |mean g| over batches",
        "mean |alpha|",
        "weight decay x mean |alpha|",
        "decay / persistent g",
    ]);
    for (k, name) in ["normal", "reduction"].iter().enumerate() {
        let mean: Vec<f64> = sums[k].iter().map(|s| s / count as f64).collect();
        let decay = config.arch_weight_decay * mean_abs(&alphas[k]);
        table.push([
            name.to_string(),
            format!("{:.2e}", per_batch[k] / count as f64),
            format!("{:.2e}", mean_abs(&mean)),
            format!("{:.3}", mean_abs(&alphas[k])),
            format!("{decay:.2e}"),
            format!("{:.2}", decay / mean_abs(&mean).max(f64::MIN_POSITIVE)),
        ]);
    }
    Ok(format!(
        "{} after {epochs} epoch(s), tau {tau:.3}, {count} batch(es) of {}:\n{}",
        cli.run.display(),
        config.batch_size,
        table.render()
    ))
}
