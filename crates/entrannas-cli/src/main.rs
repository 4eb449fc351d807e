//! `entrannas`: differentiable architecture search (EnTranNAS, EnTranNAS-DST, DARTS) on
//! any compiled burn backend, picked at run time with `--device`.

mod alloc_guard;
mod backend;
mod commands;
mod error;
mod kernel_cache;
mod memory;
mod plan;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

#[global_allocator]
static ALLOCATOR: alloc_guard::ReportingAllocator = alloc_guard::ReportingAllocator;

/// Differentiable neural architecture search: EnTranNAS and EnTranNAS-DST.
#[derive(Parser, Debug)]
#[command(name = "entrannas", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How depthwise convolutions are computed: burn's grouped convolution (`grouped`),
    /// a sum over the kernel's taps (`taps`), or the grouped convolution with the weight
    /// gradient from the taps (`tap-weight-grad`). The same values; the speed differs by
    /// backend (docs/GPU.md, section 4). Default `grouped`; a search or training records
    /// it in its `config.json`, and resuming or evaluating a run uses the recorded one.
    #[arg(long, global = true)]
    depthwise: Option<entrannas_ops::DepthwiseConv>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a search (default: EnTranNAS on the embedded Fashion-MNIST subset).
    // Negative numbers reach the validation (`--lambda -1`: "lambda must be ...")
    // instead of being taken for flags.
    #[command(allow_negative_numbers = true)]
    Search(Box<commands::search::SearchArgs>),
    /// Derive a genotype from architecture parameters (`history.jsonl`'s `arch` schema).
    Derive(commands::derive::DeriveArgs),
    /// Draw or convert a genotype file or a built-in genotype (darts_v1, darts_v2, pc_darts).
    Show(commands::show::ShowArgs),
    /// Train the target-net of a genotype from scratch (the paper's evaluation).
    #[command(allow_negative_numbers = true)]
    Train(Box<commands::train::TrainArgs>),
    /// Evaluate a trained target-net checkpoint on a test set.
    Eval(commands::train::EvalArgs),
    /// Validate a dataset and print its splits, classes, shape and normalization.
    Data(commands::data::DataArgs),
    /// Write report.html (and evolution.html for a search) into a run directory.
    Report(commands::report::ReportArgs),
    /// Time the paper's Table 2 ladder (DARTS -> EnTranNAS components, DST) on a device.
    Bench(commands::bench::BenchArgs),
    /// List the compiled backends and the devices they can open.
    Info,
}

fn run(cli: Cli) -> Result<(), CliError> {
    let depthwise = cli.depthwise;
    match cli.command {
        Command::Search(args) => commands::search::run(*args, depthwise),
        Command::Derive(args) => commands::derive::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Data(args) => commands::data::run(args),
        Command::Train(args) => commands::train::run(*args, depthwise),
        Command::Eval(args) => commands::train::run_eval(args, depthwise),
        Command::Bench(args) => commands::bench::run(args, depthwise),
        Command::Report(args) => commands::report::run(args),
        Command::Info => commands::info::run(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(any(
        feature = "cuda",
        feature = "vulkan",
        feature = "wgpu",
        feature = "metal"
    ))]
    kernel_cache::install();
    // On a worker of the CPU backend's pool, where its parallel kernels start without a
    // hand-off (`on_worker_pool`).
    let result = entrannas_run::on_worker_pool(|| run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(advice) = err.advice() {
                eprintln!("{advice}");
            }
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
