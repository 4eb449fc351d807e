//! `entrannas train`: train the target-net of a genotype from scratch; `entrannas eval`:
//! evaluate a trained checkpoint.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use entrannas_cell::Genotype;
use entrannas_cell::TargetLayout;
use entrannas_data::OpenedDataset;
use entrannas_eval::{TrainConfig, TrainJob, evaluate, load_for_inference};
use entrannas_ops::DepthwiseConv;
use entrannas_run::names::{CONFIG_FILE, GENOTYPE_FILE};
use entrannas_run::{Environment, RunDir, RunsPlan};

use crate::backend::{BackendTask, DeviceSpec, device_memory_reader, dispatch, memory_probe};
use crate::commands::common::{ChoiceParser, SharedArgs, override_fields, override_shared};
use crate::error::CliError;
use crate::progress::{EpochBar, PeakMemory, TrainProgress};

/// Arguments of `entrannas train`. Flags override `--config`, which overrides the
/// layout's paper defaults.
#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// A genotype file (JSON or DARTS text; a search's `genotype.json`) or a built-in
    /// name: darts_v1, darts_v2, pc_darts.
    pub genotype: Option<String>,
    /// A training config (JSON, as a run's `config.json`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the training in this run directory from its `last/` checkpoint.
    #[arg(long, conflicts_with_all = ["config", "genotype"])]
    pub resume: Option<PathBuf>,
    /// Train N times with seeds seed, seed + 1, ... in subdirectories
    /// `run-<i>-seed-<s>` of the run directory, and report mean and std of the final
    /// test error (`summary.json`, `summary.csv`).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Device: `cpu`, `flex`, `ndarray`, `wgpu[:N]`, `vulkan[:N]`, `metal`, `cuda[:N]`,
    /// `tch`, `tch:cuda[:N]`.
    #[arg(long)]
    pub device: Option<String>,
    /// The target-net's shape and the paper's defaults for it: `cifar` (the default)
    /// or `imagenet`.
    #[arg(long, value_parser = ChoiceParser::<TargetLayout>::new())]
    pub layout: Option<TargetLayout>,
    /// Drop-path probability at the end of training.
    #[arg(long)]
    pub drop_path: Option<f64>,
    /// Cutout length; 0 turns it off.
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Turn the auxiliary head off.
    #[arg(long)]
    pub no_auxiliary: bool,
    #[command(flatten)]
    pub shared: SharedArgs,
}

impl TrainArgs {
    /// Whether any flag that changes the configuration or the output was given.
    fn overrides_config(&self) -> bool {
        let options = [
            self.runs != 1,
            self.layout.is_some(),
            self.drop_path.is_some(),
            self.cutout.is_some(),
            self.no_auxiliary,
            self.shared.any(),
        ];
        options.into_iter().any(|o| o)
    }
}

fn config(args: &TrainArgs) -> Result<TrainConfig, CliError> {
    let mut c = match (&args.config, args.layout) {
        (Some(path), _) => TrainConfig::read(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read training config {}: {e}",
                path.display()
            ))
        })?,
        (None, None | Some(TargetLayout::Cifar)) => TrainConfig::cifar(),
        (None, Some(TargetLayout::Imagenet)) => TrainConfig::imagenet(),
    };
    if args.config.is_none() && args.shared.data.dataset.is_none() {
        // Like `search`, work out of the box: the embedded Fashion-MNIST subset.
        c.dataset = "embedded".into();
    }
    if let Some(layout) = args.layout {
        c.layout = layout;
    }
    override_shared!(args.shared => c);
    override_fields!(args => c; set: drop_path; wrap: );
    if let Some(cutout) = args.cutout {
        c.cutout = (cutout > 0).then_some(cutout);
    }
    if args.no_auxiliary {
        c.auxiliary = false;
    }
    c.validate()?;
    Ok(c)
}

struct TrainTask {
    job: TrainJob,
    data: OpenedDataset,
    out: PathBuf,
    resume: bool,
    force: bool,
    runs: usize,
    /// The device's GPU memory pool reader, if it has one.
    device_pool: Option<Box<dyn FnMut() -> Option<u64>>>,
}

impl BackendTask for TrainTask {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(mut self, device: B::Device, label: &str) -> Self::Output {
        let memory = PeakMemory::new(memory_probe(label, self.device_pool.take()));
        let mut progress = TrainProgress(EpochBar::new(memory));
        eprintln!(
            "train: {} layout, C = {}, L = {}, {} epochs on {} ({label}); output in {}",
            self.job.config.layout,
            self.job.config.channels,
            self.job.config.layers,
            self.job.config.epochs,
            self.data.info.name,
            self.out.display()
        );
        let resumed_parent = self.resume && RunsPlan::is_parent(&RunDir::open(&self.out)?);
        if self.runs > 1 || resumed_parent {
            let outcome = if resumed_parent {
                let parent = RunDir::open(&self.out)?;
                parent.write_environment(&Environment::now(label, &self.data.location), true)?;
                TrainJob::resume_repeated::<B>(
                    &parent,
                    &self.job.registry,
                    &self.data,
                    &mut progress,
                    &device,
                )?
            } else {
                let parent = RunDir::create(&self.out, self.force)?;
                parent.write_environment(&Environment::now(label, &self.data.location), false)?;
                self.job.run_repeated::<B>(
                    &self.data,
                    &parent,
                    self.runs,
                    &mut progress,
                    &device,
                )?
            };
            println!(
                "final test error over {} runs: {:.2} +- {:.2} % ({} params, {} multiply-adds)",
                outcome.seeds.len(),
                100.0 * outcome.mean_error,
                100.0 * outcome.std_error,
                outcome.cost.params,
                outcome.cost.flops
            );
            return Ok(());
        }
        let outcome = if self.resume {
            let run = RunDir::open(&self.out)?;
            run.write_environment(&Environment::now(label, &self.data.location), true)?;
            TrainJob::resume::<B>(&run, &self.job.registry, &self.data, &mut progress, &device)?
        } else {
            let run = RunDir::create(&self.out, self.force)?;
            run.write_environment(&Environment::now(label, &self.data.location), false)?;
            self.job
                .run::<B>(&self.data, &run, &mut progress, &device)?
        };
        for file in super::report::write(&self.out)? {
            eprintln!("report: {}", file.display());
        }
        println!(
            "final test error {:.2} % after {} epochs; checkpoints in {}",
            100.0 * outcome.final_test_error(),
            outcome.history.len(),
            self.out.display()
        );
        Ok(())
    }
}

/// Runs `entrannas train`.
/// `depthwise` is the global `--depthwise`, recorded in a new run's configuration and
/// checked against a resumed one's.
pub fn run(args: TrainArgs, depthwise: Option<DepthwiseConv>) -> Result<(), CliError> {
    let device: DeviceSpec = args
        .device
        .as_deref()
        .map_or(Ok(DeviceSpec::default()), str::parse)?;
    let (job, out, resume) = match &args.resume {
        Some(dir) if args.overrides_config() => {
            return Err(CliError::Usage(format!(
                "--resume continues {} with its own config.json; training flags are not applied to a resumed run (edit that file instead)",
                dir.display()
            )));
        }
        Some(dir) => {
            if !dir.join(CONFIG_FILE).exists() && dir.join("run-0").join(CONFIG_FILE).is_file() {
                return Err(CliError::Usage(format!(
                    "{} holds repeated trainings written by an earlier version (run-0, run-1, ...; no runs.json): resume each on its own with --resume {}",
                    dir.display(),
                    dir.join("run-<k>").display()
                )));
            }
            let run = RunDir::open(dir)?;
            let config = TrainConfig::from_run(&run)?;
            super::search::check_resumed_depthwise(dir, config.depthwise, depthwise)?;
            let genotype = Genotype::load(run.file(GENOTYPE_FILE))?;
            (TrainJob::new(config, genotype), dir.clone(), true)
        }
        None => {
            let what = args.genotype.as_deref().ok_or_else(|| {
                CliError::Usage(
                    "give a genotype (file or built-in name) or --resume RUN_DIR".into(),
                )
            })?;
            let genotype = super::show::load_genotype(what)?;
            let out = args
                .shared
                .output
                .out
                .clone()
                .unwrap_or_else(|| super::search::default_run_dir("train-"));
            let mut config = config(&args)?;
            if let Some(strategy) = depthwise {
                config.depthwise = strategy;
            }
            (TrainJob::new(config, genotype), out, false)
        }
    };
    let data = job.config.open_dataset()?;
    super::data::report_skipped(&data);
    entrannas_eval::check_batch_fits(job.config.batch_size, &data)?;
    let estimate = job.estimate_memory(&data.info)?;
    let limit = crate::memory::limit_for(&device);
    let fits = crate::memory::check("training", &estimate, job.config.batch_size, limit.as_ref());
    if args.shared.output.dry_run {
        let timed = fits.is_ok() || args.shared.output.ignore_memory_estimate;
        let task = TrainDryRun {
            job,
            data,
            estimate,
            limit,
            timed,
            device_pool: device_memory_reader(&device),
        };
        println!("{}", dispatch(&device, task)??);
        return Ok(());
    }
    if !args.shared.output.ignore_memory_estimate {
        fits?;
    }
    crate::alloc_guard::set_context(format!(
        "training at batch size {} in {}",
        job.config.batch_size,
        out.display()
    ));
    dispatch(
        &device,
        TrainTask {
            job,
            data,
            out,
            resume,
            force: args.shared.output.force,
            runs: args.runs,
            device_pool: device_memory_reader(&device),
        },
    )?
}

/// `train --dry-run`: the plan, and (when the estimate fits or is ignored) a few steps
/// timed on the device with their memory measured; nothing is written.
struct TrainDryRun {
    job: TrainJob,
    data: OpenedDataset,
    estimate: entrannas_ops::MemoryEstimate,
    limit: Option<crate::memory::MemoryLimit>,
    timed: bool,
    device_pool: Option<Box<dyn FnMut() -> Option<u64>>>,
}

impl BackendTask for TrainDryRun {
    type Output = Result<String, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Self::Output {
        let TrainDryRun {
            job,
            data,
            estimate,
            limit,
            timed,
            device_pool,
        } = self;
        let config = &job.config;
        let batch = config.batch_size.max(1);
        let full = data.train.len().div_ceil(batch);
        let steps = config.steps_per_epoch.map_or(full, |s| s.min(full));
        let tested = config
            .eval_limit
            .map_or(data.test.len(), |l| l.min(data.test.len()));
        let cost = job
            .config
            .target_spec(&data.info)
            .plan(&job.genotype, &job.registry)
            .map_err(entrannas_eval::EvalError::from)?
            .cost();
        let mut text = format!(
            "plan: training, {} layout, C = {}, L = {}, {} epochs at batch {} on {}\n  net: {} parameters ({} in the auxiliary head), {} multiply-adds per image\n  data: {} training images, {steps} steps per epoch; {tested} test images evaluated per epoch",
            config.layout,
            config.channels,
            config.layers,
            config.epochs,
            config.batch_size,
            data.location,
            cost.params + cost.auxiliary_params,
            cost.auxiliary_params,
            cost.flops,
            data.train.len(),
        );
        let timing = crate::plan::time_if(timed, memory_probe(label, device_pool), |after_step| {
            job.project_epoch::<B>(&data, &device, crate::plan::TIMED_STEPS, after_step)
        })?;
        text.push('\n');
        text.push_str(&crate::plan::resource_lines(
            (&estimate, config.batch_size),
            limit.as_ref(),
            timing,
            label,
            config.epochs,
        ));
        Ok(text)
    }
}

/// Arguments of `entrannas eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A training run directory (its `last/` checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset to evaluate on (default: the one it was trained on).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Dataset directory.
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Device.
    #[arg(long)]
    pub device: Option<String>,
}

/// The arguments and the global `--depthwise` (default: the run's own).
struct EvalTask(EvalArgs, Option<DepthwiseConv>);

impl BackendTask for EvalTask {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Self::Output {
        let args = self.0;
        let mut loaded = load_for_inference::<B::InnerBackend>(&args.checkpoint, &device)?;
        if let Some(depthwise) = self.1 {
            loaded.net.set_depthwise(depthwise);
        }
        let mut config = loaded.config.clone();
        if let Some(d) = args.dataset {
            config.dataset = d;
        }
        if args.data_dir.is_some() {
            config.data_dir = args.data_dir;
        }
        let data = config.open_dataset()?;
        let (loss, accuracy) = evaluate(&loaded.net, &data.test_dataset(), args.batch_size)?;
        println!(
            "{}: test loss {loss:.4}, accuracy {:.2} %, error {:.2} % on {} ({label}); at the end of training: accuracy {:.2} %",
            loaded.checkpoint.display(),
            100.0 * accuracy,
            100.0 * (1.0 - accuracy),
            data.info.name,
            100.0 * loaded.state.test_accuracy
        );
        Ok(())
    }
}

/// Runs `entrannas eval`; `depthwise` is the global `--depthwise`.
pub fn run_eval(args: EvalArgs, depthwise: Option<DepthwiseConv>) -> Result<(), CliError> {
    let device: DeviceSpec = args
        .device
        .as_deref()
        .map_or(Ok(DeviceSpec::default()), str::parse)?;
    dispatch(&device, EvalTask(args, depthwise))?
}
