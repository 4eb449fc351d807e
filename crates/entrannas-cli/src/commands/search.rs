//! `entrannas search`: the bi-level search, with a run directory that can be resumed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use entrannas_data::{OpenOptions, OpenedDataset, open};
use entrannas_ops::{DepthwiseConv, OpRegistry};
use entrannas_run::{Environment, RunDir, RunsPlan};
use entrannas_search::{
    EnginePlacement, Method, OpSpace, Preset, SearchConfig, resume_search, resume_searches,
    run_search, run_searches,
};

use crate::backend::{
    DeviceSpec, DevicesTask, device_memory_reader, dispatch_devices, memory_probe, parse_devices,
};
use crate::commands::common::{ChoiceParser, SharedArgs, override_fields, override_shared};
use crate::error::CliError;
use crate::progress::{EpochBar, PeakMemory, SearchProgress};

/// Arguments of `entrannas search`. Flags override the `--config` file or the preset.
/// Without `--preset`, `--config` and `--dataset`, the `quick` preset searches the
/// embedded Fashion-MNIST subset; with a dataset, the paper's defaults apply.
#[derive(Args, Debug, Default)]
pub struct SearchArgs {
    /// A search config (JSON, as a run's `config.json`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Starting configuration: `quick` (C = 8, 5 cells, 4 epochs at batch 64: minutes
    /// on a CPU; the default without --dataset) or `paper` (C = 16, 8 cells, 50 epochs
    /// at batch 512; the default with --dataset).
    #[arg(long, conflicts_with = "config", value_parser = ChoiceParser::<Preset>::new())]
    pub preset: Option<Preset>,
    /// Continue the search in this run directory from its last checkpoint.
    #[arg(long, conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    /// Run N searches with seeds seed, seed + 1, ... in subdirectories
    /// `run-<i>-seed-<s>` of the run directory and keep the best (highest child-net
    /// accuracy of the selected epoch), with `summary.json` and `summary.csv`.
    #[arg(long)]
    pub runs: Option<usize>,
    /// Device: `cpu`, `flex`, `ndarray`, `wgpu[:N]`, `vulkan[:N]`, `metal`, `cuda[:N]`,
    /// `tch`, `tch:cuda[:N]`; several GPUs of one backend as a list (`cuda:0,cuda:1`) for a
    /// data-parallel search, one shard of every batch per device unless --shards says
    /// otherwise.
    #[arg(long)]
    pub device: Option<String>,
    /// Split every batch into N shards, each run forward and backward on its own
    /// replica of the super-net (shard s on device s mod devices), gradients summed
    /// (default: 1, or the number of devices listed). Batch norm normalizes each shard
    /// by its own statistics, so results depend on N, not on the devices.
    #[arg(long)]
    pub shards: Option<usize>,
    /// The search: EnTranNAS (`entran`), EnTranNAS-DST (`dst`) or DARTS (`darts`).
    #[arg(long, value_parser = ChoiceParser::<Method>::new())]
    pub method: Option<Method>,
    /// The candidate operations: `standard` (DARTS's 8) or `extended` (13).
    #[arg(long, value_parser = ChoiceParser::<OpSpace>::new())]
    pub space: Option<OpSpace>,
    /// The candidate operations, comma separated, instead of a space's list: any of
    /// the registered ops (an unknown name is an error that lists them), for example
    /// `none,skip_connect,sep_conv_3x3,sep_conv_5x5,max_pool_3x3`.
    #[arg(long, value_delimiter = ',', conflicts_with = "space")]
    pub ops: Option<Vec<String>>,
    /// Which cells are Engine cells: the first normal and reduction cell (`first`), the
    /// last ones (`last`), the first half (`half`) or every cell (`all`).
    #[arg(long, value_parser = ChoiceParser::<EnginePlacement>::new())]
    pub engine: Option<EnginePlacement>,
    /// Bottleneck ratio; 0 turns the bottleneck off.
    #[arg(long)]
    pub bottleneck: Option<usize>,
    /// Turn feature sharing off.
    #[arg(long)]
    pub no_sharing: bool,
    /// DST sparsity weight lambda (Eq. 11), applied to each cell type over its own
    /// nodes.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Architecture learning rate.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Intermediate nodes per cell.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Cap on `skip_connect`s per cell (top-2 methods).
    #[arg(long)]
    pub max_skip: Option<usize>,
    /// Fraction of every class of the training set that trains the weights.
    #[arg(long)]
    pub train_portion: Option<f64>,
    /// Fraction of every class that trains the architecture (default: the rest).
    #[arg(long)]
    pub val_portion: Option<f64>,
    /// Initial softmax temperature.
    #[arg(long)]
    pub tau0: Option<f64>,
    /// Temperature at the last epoch (sets the per-epoch factor).
    #[arg(long)]
    pub tau_final: Option<f64>,
    /// Training batches whose averaged statistics replace the super-net's and the
    /// child-net's batch-norm statistics before their second (recalibrated) accuracy
    /// each epoch; 0 skips it (default 40).
    #[arg(long)]
    pub child_bn_batches: Option<usize>,
    #[command(flatten)]
    pub shared: SharedArgs,
}

impl SearchArgs {
    /// Whether any flag that changes the configuration was given.
    fn overrides_config(&self) -> bool {
        let options = [
            self.preset.is_some(),
            self.method.is_some(),
            self.space.is_some(),
            self.ops.is_some(),
            self.engine.is_some(),
            self.bottleneck.is_some(),
            self.no_sharing,
            self.lambda.is_some(),
            self.arch_lr.is_some(),
            self.nodes.is_some(),
            self.max_skip.is_some(),
            self.train_portion.is_some(),
            self.val_portion.is_some(),
            self.tau0.is_some(),
            self.tau_final.is_some(),
            self.child_bn_batches.is_some(),
            self.shards.is_some(),
            self.runs.is_some(),
            self.shared.any(),
        ];
        options.into_iter().any(|o| o)
    }
}

/// The preset a search starts from: `--preset`, else `quick` when neither `--config`
/// nor `--dataset` is given (the README's first command), else `paper`.
pub fn preset(args: &SearchArgs) -> Preset {
    match args.preset {
        Some(preset) => preset,
        None if args.config.is_none() && args.shared.data.dataset.is_none() => Preset::Quick,
        None => Preset::Paper,
    }
}

/// The configuration: `--config` or the preset, then flags.
pub fn build_config(args: &SearchArgs) -> Result<SearchConfig, CliError> {
    let mut c = match &args.config {
        Some(path) => SearchConfig::read(path).map_err(|e| {
            CliError::Usage(format!("cannot read search config {}: {e}", path.display()))
        })?,
        None => preset(args).config(),
    };
    if let Some(v) = args.method {
        c.method = v;
    }
    if let Some(v) = args.space {
        c.space = v;
        c.candidate_ops = None;
    }
    if let Some(ops) = &args.ops {
        c.candidate_ops = Some(ops.iter().map(|op| op.trim().to_string()).collect());
    }
    if let Some(v) = args.engine {
        c.engine = v;
    }
    if let Some(v) = args.bottleneck {
        c.bottleneck = (v > 0).then_some(v);
    }
    if args.no_sharing {
        c.sharing = false;
    }
    override_shared!(args.shared => c);
    override_fields!(args => c;
        set: lambda, arch_lr, nodes, train_portion, child_bn_batches, shards;
        wrap: max_skip, val_portion, tau0, tau_final);
    c.validate()?;
    c.validate_ops(&OpRegistry::default())?;
    Ok(c)
}

/// Reads the dataset a config names.
pub fn open_dataset(config: &SearchConfig) -> Result<OpenedDataset, CliError> {
    let kind = super::data::dataset_kind(&config.dataset)?;
    let options = OpenOptions {
        skip_undecodable: config.skip_bad_images,
        ..OpenOptions::default()
    };
    let data = open(
        kind,
        config.data_dir.as_deref().map(std::path::Path::new),
        &options,
    )?;
    super::data::report_skipped(&data);
    Ok(data)
}

/// `runs/<prefix>YYYYMMDD-HHMMSS` in UTC.
pub fn default_run_dir(prefix: &str) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    PathBuf::from("runs").join(format!(
        "{prefix}{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    ))
}

struct SearchTask {
    config: SearchConfig,
    data: OpenedDataset,
    run: RunDir,
    resume: bool,
    /// Several searches (`--runs`, or a resumed parent of several).
    runs: Option<usize>,
    /// The first device's GPU memory pool reader, if it has one.
    device_pool: Option<Box<dyn FnMut() -> Option<u64>>>,
}

impl DevicesTask for SearchTask {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(mut self, devices: Vec<B::Device>, label: &str) -> Self::Output {
        self.run
            .write_environment(&Environment::now(label, &self.data.location), self.resume)?;
        let c = &self.config;
        let shards = if c.shards > 1 {
            format!(" in {} data-parallel shards", c.shards)
        } else {
            String::new()
        };
        eprintln!(
            "search: {} (C = {}, {} cells, {} epochs, batch {}{shards}) on {} ({} train images, {} classes) on {label}; run directory {}",
            c.method,
            c.channels,
            c.layers,
            c.epochs,
            c.batch_size,
            self.data.info.name,
            self.data.train.len(),
            self.data.info.classes,
            self.run.path().display()
        );
        let memory = PeakMemory::new(memory_probe(label, self.device_pool.take()));
        let mut progress = SearchProgress(EpochBar::new(memory));
        if let Some(runs) = self.runs {
            return self.run_several::<B>(runs, &mut progress, &devices);
        }
        let registry = OpRegistry::default();
        let outcome = if self.resume {
            resume_search::<B>(&registry, &self.data, &self.run, &mut progress, &devices)?
        } else {
            run_search::<B>(
                &self.config,
                &registry,
                &self.data,
                &self.run,
                &mut progress,
                &devices,
            )?
        };
        let best = &outcome.history[outcome.selection.epoch];
        let selection = &outcome.selection;
        eprintln!(
            "selected epoch {} (child-net accuracy {:.2}%{}, super-net {:.2}%{})",
            selection.epoch + 1,
            100.0 * selection.child_accuracy,
            selection
                .child_accuracy_recalibrated
                .map_or(String::new(), |c| format!(
                    ", {:.2}% after BN recalibration",
                    100.0 * c
                )),
            100.0 * selection.supernet_accuracy,
            best.supernet_accuracy_recalibrated
                .map_or(String::new(), |s| format!(
                    ", {:.2}% after BN recalibration",
                    100.0 * s
                )),
        );
        let reports = super::report::write(self.run.path())?;
        println!("{}", best.genotype.to_darts_text());
        print_results(self.run.path(), &reports, None);
        Ok(())
    }
}

impl SearchTask {
    /// `--runs N`: the searches in sequence, their reports, the summary table.
    fn run_several<B: AutodiffBackend>(
        self,
        runs: usize,
        progress: &mut SearchProgress,
        devices: &[B::Device],
    ) -> Result<(), CliError> {
        let registry = OpRegistry::default();
        let outcome = if self.resume {
            resume_searches::<B>(&registry, &self.data, &self.run, progress, devices)?
        } else {
            run_searches::<B>(
                &self.config,
                &registry,
                runs,
                &self.data,
                &self.run,
                progress,
                devices,
            )?
        };
        let mut best_reports = Vec::new();
        for (i, r) in outcome.summary.runs.iter().enumerate() {
            let reports = super::report::write(&self.run.path().join(&r.dir))?;
            if i == outcome.summary.best {
                best_reports = reports;
            }
        }
        eprint!("{}", outcome.summary.table());
        let best = outcome.best();
        println!(
            "{}",
            best.history[best.selection.epoch].genotype.to_darts_text()
        );
        print_results(
            self.run.path(),
            &best_reports,
            Some(&["summary.json", "summary.csv"]),
        );
        Ok(())
    }
}

/// Ends a search by saying where its results are (on stderr, after the genotype on
/// stdout, so that a terminal shows them last); `summary` names the summary files of
/// several searches.
fn print_results(run: &Path, reports: &[PathBuf], summary: Option<&[&str]>) {
    let files = |names: &[&str]| -> String {
        names
            .iter()
            .map(|n| run.join(n).display().to_string())
            .collect::<Vec<_>>()
            .join("  ")
    };
    let reports: Vec<String> = reports.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "results in {}:\n  genotype  {}\n  diagrams  {}\n  report    {}",
        run.display(),
        files(&["genotype.json", "genotype.txt"]),
        files(&["normal.svg", "reduce.svg"]),
        reports.join("  ")
    );
    if let Some(names) = summary {
        eprintln!("  summary   {}", files(names));
    }
}

/// Runs `entrannas search`; `depthwise` is the global `--depthwise`, recorded in a new
/// run's configuration and checked against a resumed one's.
pub fn run(args: SearchArgs, depthwise: Option<DepthwiseConv>) -> Result<(), CliError> {
    let devices = match args.device.as_deref() {
        Some(list) => parse_devices(list)?,
        None => vec![DeviceSpec::default()],
    };
    let (config, run, resume, runs) = match &args.resume {
        Some(dir) if args.overrides_config() => {
            return Err(CliError::Usage(format!(
                "--resume continues {} with its own config.json; search flags are not applied to a resumed run (edit that file instead)",
                dir.display()
            )));
        }
        Some(dir) => {
            let run = RunDir::open(dir)?;
            let runs = if RunsPlan::is_parent(&run) {
                Some(RunsPlan::read(&run)?.runs)
            } else {
                None
            };
            let config = SearchConfig::from_run(&run)?;
            check_resumed_depthwise(dir, config.depthwise, depthwise)?;
            if devices.len() > config.shards {
                return Err(CliError::Usage(format!(
                    "{} was searched in {} shard(s), fewer than the {} devices given; a resumed run keeps its config.json, so give at most {} device(s)",
                    dir.display(),
                    config.shards,
                    devices.len(),
                    config.shards
                )));
            }
            (config, Some(run), true, runs)
        }
        None => {
            let mut config = build_config(&args)?;
            if let Some(strategy) = depthwise {
                config.depthwise = strategy;
            }
            if args.shards.is_none() && devices.len() > 1 {
                config.shards = devices.len();
                config.validate()?;
            }
            if args.runs == Some(0) {
                return Err(CliError::Usage("--runs must be at least 1".into()));
            }
            (config, None, false, args.runs)
        }
    };
    let data = open_dataset(&config)?;
    // The batch against the splits first: a batch larger than the data also makes an
    // enormous memory estimate, but the batch is what to change.
    let (train, val) = split_sizes(&config, &data)?;
    entrannas_search::check_batch_fits(config.batch_size, train, val)?;
    let estimate = entrannas_search::memory::estimate_search_memory(
        &config,
        &OpRegistry::default(),
        [data.info.channels, data.info.height, data.info.width],
        data.info.classes,
    )?;
    let limit = crate::memory::limit_for(&devices[0]);
    let fits = crate::memory::check("search", &estimate, config.batch_size, limit.as_ref());
    if args.shared.output.dry_run {
        let timed = fits.is_ok() || args.shared.output.ignore_memory_estimate;
        let task = DryRun {
            config,
            data,
            splits: (train, val),
            estimate,
            limit,
            timed,
            device_pool: device_memory_reader(&devices[0]),
        };
        println!("{}", dispatch_devices(&devices, task)??);
        return Ok(());
    }
    if !args.shared.output.ignore_memory_estimate {
        fits?;
    }
    let run = match run {
        Some(run) => run,
        None => RunDir::create(
            args.shared
                .output
                .out
                .clone()
                .unwrap_or_else(|| default_run_dir("")),
            args.shared.output.force,
        )?,
    };
    crate::alloc_guard::set_context(format!(
        "searching at batch size {} in {}",
        config.batch_size,
        run.path().display()
    ));
    dispatch_devices(
        &devices,
        SearchTask {
            config,
            data,
            run,
            resume,
            runs,
            device_pool: device_memory_reader(&devices[0]),
        },
    )?
}

/// Images in the search's weight and architecture splits.
fn split_sizes(config: &SearchConfig, data: &OpenedDataset) -> Result<(usize, usize), CliError> {
    use burn::data::dataset::Dataset;
    let split = data.search_split(&entrannas_data::SearchSplit {
        train_portion: config.train_portion,
        val_portion: config.val_portion,
        seed: config.seed,
    })?;
    Ok((split.train.len(), split.val.len()))
}

/// `--dry-run`: the plan, and (when the estimate fits or is ignored) a few steps timed
/// on the device with their memory measured; nothing is written.
struct DryRun {
    config: SearchConfig,
    data: OpenedDataset,
    /// Images in the weight and architecture splits.
    splits: (usize, usize),
    estimate: entrannas_search::memory::MemoryEstimate,
    limit: Option<crate::memory::MemoryLimit>,
    timed: bool,
    device_pool: Option<Box<dyn FnMut() -> Option<u64>>>,
}

impl DevicesTask for DryRun {
    type Output = Result<String, CliError>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, label: &str) -> Self::Output {
        let DryRun {
            config,
            data,
            splits: (train, val),
            estimate,
            limit,
            timed,
            device_pool,
        } = self;
        let full = train.min(val).div_ceil(config.batch_size.max(1));
        let steps = config.steps_per_epoch.map_or(full, |s| s.min(full));
        let mut text = format!(
            "plan: {} search, C = {}, {} cells, {} epochs at batch {} on {}\n  split: {train} images train the weights, {val} the architecture; {steps} steps per epoch, {} architecture steps in all",
            config.method,
            config.channels,
            config.layers,
            config.epochs,
            config.batch_size,
            data.location,
            steps * config.epochs,
        );
        let timing = crate::plan::time_if(timed, memory_probe(label, device_pool), |after_step| {
            let split = data.search_split(&entrannas_data::SearchSplit {
                train_portion: config.train_portion,
                val_portion: config.val_portion,
                seed: config.seed,
            })?;
            let mut searcher =
                entrannas_search::Searcher::<B>::new(config.clone(), &data.info, &devices[0])?;
            searcher.set_devices(&devices)?;
            let val_eval = split.val.clone().with_augment(None, config.seed);
            Ok::<_, CliError>(searcher.project_epoch(
                &split.train,
                &split.val,
                &val_eval,
                crate::plan::TIMED_STEPS,
                after_step,
            )?)
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

/// A `--depthwise` given with `--resume` must be the one the run recorded: the
/// strategies compute the same values with different rounding, so a resumed run that
/// switched would not end as the uninterrupted one.
pub fn check_resumed_depthwise(
    dir: &Path,
    recorded: DepthwiseConv,
    given: Option<DepthwiseConv>,
) -> Result<(), CliError> {
    match given {
        Some(given) if given != recorded => Err(CliError::Usage(format!(
            "--resume continues {} with its own config.json, which computes depthwise convolutions as `{recorded}`; drop --depthwise {given} (or edit that file)",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::common::DatasetArgs;

    #[test]
    fn the_preset_is_quick_without_a_dataset_and_paper_with_one() {
        let quick = build_config(&SearchArgs::default()).unwrap();
        assert_eq!(quick, SearchConfig::quick());
        let args = SearchArgs {
            shared: SharedArgs {
                data: DatasetArgs {
                    dataset: Some("fashion-mnist".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            build_config(&args).unwrap(),
            SearchConfig::paper().with_dataset("fashion-mnist".into())
        );
        // An explicit preset wins; flags override it.
        let args = parse(&["--preset", "paper", "--epochs", "3"]).unwrap();
        assert_eq!(
            build_config(&args).unwrap(),
            SearchConfig::paper().with_epochs(3)
        );
    }

    /// The flags as `entrannas search` reads them.
    fn parse(flags: &[&str]) -> Result<SearchArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Search {
            #[command(flatten)]
            args: SearchArgs,
        }
        let argv = std::iter::once("search").chain(flags.iter().copied());
        <Search as clap::Parser>::try_parse_from(argv).map(|s| s.args)
    }

    #[test]
    fn named_choices_are_parsed_by_clap_and_an_unknown_one_lists_the_valid_ones() {
        let args = parse(&["--method", "dst", "--space", "extended", "--engine", "last"]).unwrap();
        let c = build_config(&args).unwrap();
        assert_eq!(
            (c.method, c.space, c.engine),
            (Method::Dst, OpSpace::Extended, EnginePlacement::Last)
        );
        for (flag, value, valid) in [
            ("--preset", "tiny", "quick, paper"),
            ("--method", "enas", "entran, dst, darts"),
            ("--space", "huge", "standard, extended"),
            ("--engine", "middle", "first, last, half, all"),
        ] {
            let Err(err) = parse(&[flag, value]) else {
                panic!("{flag} {value} was accepted");
            };
            assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(
                text.contains(value) && text.contains(&format!("[possible values: {valid}]")),
                "{text}"
            );
        }
    }
}
