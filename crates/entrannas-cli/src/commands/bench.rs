//! `entrannas bench`: the paper's Table 2 ladder (DARTS, + Engine/Transit, + feature
//! sharing, + bottleneck, DST dense and sparse) on any device.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use entrannas_ops::DepthwiseConv;
use entrannas_search::StemLayout;
use entrannas_search::bench::{
    BenchConfig, BenchEvent, MemoryProbe, NoMemoryProbe, Rung, StepKind, run_ladder, table,
};

use crate::backend::{
    DeviceSpec, DevicesTask, device_memory_reader, dispatch_devices, memory_probe, parse_devices,
};
use crate::error::CliError;

/// Arguments of `entrannas bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Device: `cpu`, `flex`, `ndarray`, `wgpu[:N]`, `vulkan[:N]`, `metal`, `cuda[:N]`,
    /// `tch`, `tch:cuda[:N]`; a list of one backend's devices (`cuda:0,cuda:1`) shards every
    /// batch over them (peak memory is then the first device's).
    #[arg(long)]
    pub device: Option<String>,
    /// Data-parallel shards of every batch (default: 1, or the number of devices).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Batch sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub batch_sizes: Vec<usize>,
    /// Timed iterations (one architecture step and one weight step each).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed iterations after the first (which is timed on its own).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Initial channels C.
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    /// Cells L.
    #[arg(long, default_value_t = 8)]
    pub layers: usize,
    /// Image `CxHxW` of the random data.
    #[arg(long, default_value = "3x32x32")]
    pub image: String,
    /// Classes of the random data.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Rungs to run, comma separated (default: all): darts, engine-transit, sharing,
    /// bottleneck, dst-dense, dst-sparse.
    #[arg(long, value_delimiter = ',')]
    pub rungs: Vec<String>,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seed of the initialisation and the random data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The ladder, where to write its JSON, and the device memory reader of GPU backends.
struct BenchTask(
    BenchConfig,
    Option<PathBuf>,
    Option<Box<dyn FnMut() -> Option<u64>>>,
);

impl DevicesTask for BenchTask {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, label: &str) -> Self::Output {
        let BenchTask(config, json, device_memory) = self;
        eprintln!(
            "bench on {label}: batch sizes {:?}, {} timed steps, depthwise convolutions {}{}",
            config.batch_sizes,
            config.steps,
            config.depthwise,
            if config.shards > 1 {
                format!(", {} data-parallel shards", config.shards)
            } else {
                String::new()
            }
        );
        // Process peak RSS measures the CPU backends' memory; a GPU's is its memory
        // pool, read after every step.
        let mut measured = memory_probe(label, device_memory);
        let mut none = NoMemoryProbe;
        let probe: &mut dyn MemoryProbe = match &mut measured {
            Some(p) => p.as_mut(),
            None => &mut none,
        };
        let mut on_event = |event: BenchEvent<'_>| {
            let row = match event {
                BenchEvent::Row(row) => row,
                BenchEvent::Step {
                    rung,
                    batch,
                    kind,
                    index,
                    of,
                    seconds,
                    loss,
                } => {
                    let kind = match kind {
                        StepKind::First => "first",
                        StepKind::Warmup => "warm-up",
                        StepKind::Timed => "timed",
                    };
                    eprintln!(
                        "    {} batch {batch}: step {index}/{of} ({kind}) {seconds:.3} s, loss {loss:.4}",
                        rung.label()
                    );
                    return;
                }
            };
            eprintln!(
                "  {} batch {}: {}",
                row.rung.label(),
                row.batch_size,
                match &row.error {
                    Some(e) => format!("failed: {e}"),
                    None => format!(
                        "{:.3} s/step (first step {:.2} s)",
                        row.median_step_seconds.unwrap_or(f64::NAN),
                        row.first_step_seconds.unwrap_or(f64::NAN)
                    ),
                }
            );
        };
        let rows = run_ladder::<B>(&config, &devices, probe, &mut on_event)?;
        println!("device: {label}\n{}", table(&rows));
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "device": label,
                "shards": config.shards,
                "depthwise": config.depthwise,
                "rows": rows,
            }))
            .expect("rows serialise");
            super::emit(Some(&path), &text)?;
        }
        Ok(())
    }
}

/// Runs `entrannas bench`.
/// `depthwise` is the global `--depthwise` (default: burn's grouped convolution).
pub fn run(args: BenchArgs, depthwise: Option<DepthwiseConv>) -> Result<(), CliError> {
    let devices = match args.device.as_deref() {
        Some(list) => parse_devices(list)?,
        None => vec![DeviceSpec::default()],
    };
    let image = super::parse_image(&args.image)?;
    let mut config = BenchConfig {
        batch_sizes: args.batch_sizes.clone(),
        steps: args.steps,
        warmup: args.warmup,
        channels: args.channels,
        layers: args.layers,
        image,
        classes: args.classes,
        seed: args.seed,
        shards: args.shards.unwrap_or(devices.len()),
        depthwise: depthwise.unwrap_or_default(),
        stem: if image[1] >= 128 {
            StemLayout::Imagenet
        } else {
            StemLayout::Cifar
        },
        ..BenchConfig::default()
    };
    if !args.rungs.is_empty() {
        config.rungs = args
            .rungs
            .iter()
            .map(|r| r.parse::<Rung>())
            .collect::<Result<_, _>>()?;
    }
    dispatch_devices(
        &devices,
        BenchTask(config, args.json, device_memory_reader(&devices[0])),
    )?
}
