//! Searching over an operation of one's own, through the public API: register it, search
//! over a list that includes it, derive a genotype, train that genotype's target-net
//! with the same registry, reload the trained net and evaluate it.
//!
//! The operation is a 7x7 separable convolution (`sep_conv_7x7`): DARTS's separable
//! convolution with a larger kernel, twice ReLU, depthwise 7x7, pointwise 1x1, batch
//! norm.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use entrannas_cell::Genotype;
use entrannas_eval::{TrainConfig, TrainJob, evaluate, load_for_inference_with};
use entrannas_ops::{ConvSpec, LayerSpec, OpRegistry, OpSpec};
use entrannas_run::RunDir;
use entrannas_search::run_search;

use crate::{CommonArgs, Cpu, EpochLine, ExampleError};

/// The registered operation's name.
pub const SEP_CONV_7X7: &str = "sep_conv_7x7";

/// The layers of `sep_conv_7x7` for `spec` (stride on the first depthwise convolution,
/// as the built-in separable convolutions).
fn sep_conv_7x7(spec: &OpSpec) -> Vec<LayerSpec> {
    let c = spec.channels;
    let norm = LayerSpec::Norm {
        channels: c,
        affine: spec.affine,
    };
    let half = |stride| {
        [
            LayerSpec::Relu,
            LayerSpec::Conv(ConvSpec::square(c, c, 7, stride, 3, 1).depthwise()),
            LayerSpec::Conv(ConvSpec::square(c, c, 1, 1, 0, 1)),
            norm,
        ]
    };
    half(spec.stride).into_iter().chain(half(1)).collect()
}

/// The built-in operations plus `sep_conv_7x7`.
pub fn registry() -> Result<OpRegistry, ExampleError> {
    let mut registry = OpRegistry::default();
    registry.register(SEP_CONV_7X7, Arc::new(sep_conv_7x7))?;
    Ok(registry)
}

/// Flags of the `custom_op` example.
#[derive(Args, Debug)]
pub struct CustomOpArgs {
    /// Search flags shared by the examples.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The candidate operations, comma separated (`sep_conv_7x7` is the registered one).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,skip_connect,max_pool_3x3,sep_conv_3x3,sep_conv_7x7"
    )]
    pub ops: Vec<String>,
    /// Training epochs of the derived target-net.
    #[arg(long, default_value_t = 1)]
    pub train_epochs: usize,
}

/// What the example found.
#[derive(Debug)]
pub struct CustomOpOutcome {
    /// The selected genotype.
    pub genotype: Genotype,
    /// How many of its connections use the registered operation.
    pub custom_connections: usize,
    /// Its connections, normal and reduction cells together.
    pub connections: usize,
    /// Test accuracy at the end of training.
    pub trained_accuracy: f64,
    /// Test accuracy of the net reloaded from its checkpoint.
    pub reloaded_accuracy: f64,
    /// The search's run directory.
    pub search_dir: PathBuf,
    /// The training's run directory.
    pub train_dir: PathBuf,
}

/// Searches over `args.ops` with the registry that knows `sep_conv_7x7`, trains the
/// selected genotype with that registry, reloads the trained net and evaluates it.
pub fn run(args: &CustomOpArgs) -> Result<CustomOpOutcome, ExampleError> {
    let registry = registry()?;
    let data = args.common.open_data()?;
    let config = args
        .common
        .config()
        .with_candidate_ops(Some(args.ops.clone()));
    let search_dir = args.common.out_dir("custom-op").join("search");
    let run = RunDir::create(&search_dir, args.common.force)?;
    let mut progress = EpochLine {
        label: "search".into(),
        epochs: config.epochs,
    };
    let device = Default::default();
    let outcome = run_search::<Cpu>(&config, &registry, &data, &run, &mut progress, &[device])?;
    let genotype = outcome.history[outcome.selection.epoch].genotype.clone();
    let connections = || {
        [&genotype.normal, &genotype.reduce]
            .into_iter()
            .flat_map(|cell| cell.nodes.iter().flatten())
    };
    let custom_connections = connections().filter(|c| c.op == SEP_CONV_7X7).count();
    let total = connections().count();

    let mut train = TrainConfig::cifar();
    train.channels = args.common.channels;
    train.layers = args.common.layers.unwrap_or(5);
    train.epochs = args.train_epochs;
    train.batch_size = args.common.batch_size;
    train.steps_per_epoch = args.common.steps_per_epoch;
    train.eval_limit = args.common.eval_limit;
    train.dataset = args.common.dataset.clone();
    let train_dir = args.common.out_dir("custom-op").join("train");
    let job = TrainJob::new(train.clone(), genotype.clone()).with_registry(registry.clone());
    let trained = job.run::<Cpu>(
        &data,
        &RunDir::create(&train_dir, args.common.force)?,
        &mut (),
        &device,
    )?;
    let loaded = load_for_inference_with::<burn::backend::Flex>(&train_dir, &registry, &device)?;
    let mut test = data.test_dataset();
    if let Some(limit) = train.eval_limit {
        test = test.with_indices((0..limit.min(data.test.len())).collect());
    }
    let (_, reloaded_accuracy) = evaluate(&loaded.net, &test, train.batch_size)?;
    Ok(CustomOpOutcome {
        genotype,
        custom_connections,
        connections: total,
        trained_accuracy: trained.last().test_accuracy,
        reloaded_accuracy,
        search_dir,
        train_dir,
    })
}
