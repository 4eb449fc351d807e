//! What a search writes in its run directory, and resuming from its last checkpoint.
//!
//! A search's run directory ([`RunDir`], from the run layer) holds `config.json`,
//! `history.jsonl` (one [`EpochRecord`] per line), `metrics.csv`, the selected epoch's
//! `genotype.json`, `genotype.txt` (DARTS form), `normal.svg` and `reduce.svg`,
//! `selection.json` (which epoch and why), and `checkpoint/` (weights, architecture
//! parameters and both optimizers' states in full precision, plus `state.json`).
//!
//! A search stopped at any moment (`kill -9` included) resumes from a consistent
//! state: every file is written whole or not at all, and the checkpoint is rotated so
//! that one complete checkpoint survives a stop between any two file-system steps
//! ([`RunDir::save_checkpoint`]).
//!
//! [`run_searches`] runs several seeds in sequence, each in its own run directory
//! `run-<i>-seed-<s>` of a parent that holds `runs.json`, `summary.json`,
//! `summary.csv` and a copy of the best run's genotype and diagrams
//! ([`entrannas_run::run_plan`]).

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;
use entrannas_cell::{TargetLayout, TargetNetSpec, target_net_cost};
use entrannas_data::{OpenedDataset, SearchSplit};
use entrannas_diagram::cell_svg;
use entrannas_ops::{BackendFailure, OpRegistry, catch_backend_panic};
use entrannas_run::names::{CONFIG_FILE, GENOTYPE_FILE, SUMMARY_CSV, SUMMARY_JSON};
use entrannas_run::{
    CheckpointState, PlannedRun, RunDir, RunError, RunsPlan, best_of, copy_files, load_record_file,
    run_plan, save_record_file, write_plan,
};
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::config::SearchConfig;
use crate::searcher::{EpochRecord, SearchObserver, Searcher};
use crate::supernet::StemLayout;

/// The checkpoint folder of a search.
pub const CHECKPOINT: &str = "checkpoint";
/// Which epoch the search selected, and why ([`Selection`]).
pub const SELECTION_FILE: &str = "selection.json";
/// The selected genotype in DARTS form.
pub const GENOTYPE_TEXT_FILE: &str = "genotype.txt";
/// The selected normal cell, drawn.
pub const NORMAL_SVG: &str = "normal.svg";
/// The selected reduction cell, drawn.
pub const REDUCE_SVG: &str = "reduce.svg";
/// The files of the best search a multi-run parent holds a copy of.
const BEST_FILES: [&str; 4] = [GENOTYPE_FILE, GENOTYPE_TEXT_FILE, NORMAL_SVG, REDUCE_SVG];

/// The search checkpoint's `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCheckpoint {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The entrannas version that wrote it.
    pub version: String,
}

impl CheckpointState for SearchCheckpoint {
    fn epochs_done(&self) -> usize {
        self.epochs_done
    }
}

/// Which epoch's genotype a run selected, and by which rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The selected epoch (0-based).
    pub epoch: usize,
    /// The rule, in words (which accuracy was compared, how ties go).
    pub rule: String,
    /// The selected epoch's child-net accuracy (running statistics).
    pub child_accuracy: f64,
    /// The selected epoch's child-net accuracy after BN recalibration, when measured.
    #[serde(default)]
    pub child_accuracy_recalibrated: Option<f64>,
    /// The selected epoch's super-net accuracy.
    pub supernet_accuracy: f64,
}

impl Selection {
    /// The accuracy the selection compared: after BN recalibration when measured,
    /// else with the running statistics.
    pub fn score(&self) -> f64 {
        self.child_accuracy_recalibrated
            .unwrap_or(self.child_accuracy)
    }
}

/// The result of a finished search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Every epoch's record.
    pub history: Vec<EpochRecord>,
    /// The selected epoch.
    pub selection: Selection,
}

impl SearchConfig {
    /// The configuration of the search (or multi-run parent) in `run`.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] naming `config.json` when it is missing or not a search
    /// configuration.
    pub fn from_run(run: &RunDir) -> Result<Self, SearchError> {
        let path = run.file(CONFIG_FILE);
        Self::read(&path).map_err(|message| RunError::Corrupt { path, message }.into())
    }
}

/// Rewrites `history.jsonl`, `metrics.csv`, the selected genotype's files and
/// `selection.json`.
fn write_records(run: &RunDir, history: &[EpochRecord]) -> Result<Selection, SearchError> {
    run.write_history(history)?;
    let best = select(history).expect("at least one epoch");
    let genotype = &history[best.epoch].genotype;
    run.write(GENOTYPE_FILE, genotype.to_json().as_bytes())?;
    run.write(
        GENOTYPE_TEXT_FILE,
        format!("{}\n", genotype.to_darts_text()).as_bytes(),
    )?;
    run.write(
        NORMAL_SVG,
        cell_svg(&genotype.normal, "normal cell").as_bytes(),
    )?;
    run.write(
        REDUCE_SVG,
        cell_svg(&genotype.reduce, "reduction cell").as_bytes(),
    )?;
    run.write_json(SELECTION_FILE, &best)?;
    Ok(best)
}

impl<B: AutodiffBackend> Searcher<B> {
    /// Saves this searcher in `run` as the checkpoint after `epochs_done` epochs: the
    /// super-net, the architecture parameters and both optimizers' states.
    ///
    /// # Errors
    /// The file system's refusal, naming the file; the previous checkpoint stays.
    pub fn save_checkpoint(&self, run: &RunDir, epochs_done: usize) -> Result<(), SearchError> {
        let state = SearchCheckpoint {
            epochs_done,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        run.save_checkpoint(CHECKPOINT, &state, |dir| {
            save_record_file::<B, _>(self.net.clone().into_record(), &dir.join("net.mpk"))?;
            save_record_file::<B, _>(self.arch.clone().into_record(), &dir.join("arch.mpk"))?;
            save_record_file::<B, _>(
                self.weight_optimizer.to_record(),
                &dir.join("weight_optimizer.mpk"),
            )?;
            save_record_file::<B, _>(
                self.arch_optimizer.to_record(),
                &dir.join("arch_optimizer.mpk"),
            )
        })?;
        Ok(())
    }

    /// Loads the latest complete checkpoint of `run` into this (freshly built)
    /// searcher without changing the directory (safe while the search still runs);
    /// returns the epochs done (0, the searcher untouched, when there is none).
    ///
    /// # Errors
    /// A checkpoint that cannot be read, or was written for another super-net.
    pub fn load_checkpoint(&mut self, run: &RunDir) -> Result<usize, SearchError> {
        let Some((dir, state)) = run.latest_checkpoint::<SearchCheckpoint>(CHECKPOINT)? else {
            return Ok(0);
        };
        self.load_records(&dir)?;
        Ok(state.epochs_done)
    }

    /// Loads the records of the checkpoint folder `dir`.
    fn load_records(&mut self, dir: &Path) -> Result<(), SearchError> {
        let device = self.device().clone();
        let net = load_record_file::<B, _>(&dir.join("net.mpk"), &device)?;
        self.net = self.net.clone().load_record(net);
        let arch = load_record_file::<B, _>(&dir.join("arch.mpk"), &device)?;
        self.arch = self.arch.clone().load_record(arch);
        let record = load_record_file::<B, _>(&dir.join("weight_optimizer.mpk"), &device)?;
        self.weight_optimizer = self.weight_optimizer.clone().load_record(record);
        let record = load_record_file::<B, _>(&dir.join("arch_optimizer.mpk"), &device)?;
        self.arch_optimizer = self.arch_optimizer.clone().load_record(record);
        Ok(())
    }
}

/// The selection rule: the epoch with the best child-net accuracy on the architecture
/// split, measured after BN recalibration when every epoch has that measurement (it
/// judges the derived architecture, not how well the super-net's statistics fit it),
/// else with the running statistics; ties go to the later epoch (further annealed).
pub fn select(history: &[EpochRecord]) -> Option<Selection> {
    let recalibrated = history
        .iter()
        .all(|r| r.child_accuracy_recalibrated.is_some());
    let score = |r: &EpochRecord| {
        if recalibrated {
            r.child_accuracy_recalibrated.unwrap_or(f64::NAN)
        } else {
            r.child_accuracy
        }
    };
    let best = history
        .iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)).then(a.epoch.cmp(&b.epoch)))?;
    let measure = if recalibrated {
        "after BN recalibration"
    } else {
        "with the super-net's running statistics"
    };
    Some(Selection {
        epoch: best.epoch,
        rule: format!(
            "best child-net accuracy on the architecture split, {measure} (ties: later epoch)"
        ),
        child_accuracy: best.child_accuracy,
        child_accuracy_recalibrated: best.child_accuracy_recalibrated.filter(|_| recalibrated),
        supernet_accuracy: best.supernet_accuracy,
    })
}

/// One search of a [`run_searches`], as `summary.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The search's number (1-based, as in its directory name).
    pub run: usize,
    /// Its seed.
    pub seed: u64,
    /// Its subdirectory of the parent.
    pub dir: String,
    /// Its selected epoch and that epoch's accuracies.
    pub selection: Selection,
    /// The selected genotype in DARTS form.
    pub genotype: String,
    /// Connections kept by the selected normal and reduction cells.
    pub connections: [usize; 2],
    /// Parameters of the selected genotype's target-net.
    pub target_params: Option<u64>,
    /// Multiply-adds of the selected genotype's target-net.
    pub target_flops: Option<u64>,
    /// Wall time of all its epochs in seconds.
    pub seconds: f64,
}

/// `summary.json` of a [`run_searches`]: every search and which one was kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsSummary {
    /// How the best search is chosen.
    pub rule: String,
    /// The best search's index in `runs` (0-based).
    pub best: usize,
    /// Every search, in seed order.
    pub runs: Vec<RunSummary>,
}

impl RunsSummary {
    /// The summary as a plain-text table, the best search marked with `*`.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:>4} {:>6} {:>6} {:>9} {:>9} {:>9} {:>7} {:>6} {:>8}  {}\n",
            "run",
            "seed",
            "epoch",
            "child %",
            "re-BN %",
            "super %",
            "gap",
            "edges",
            "params",
            "directory"
        );
        for (i, r) in self.runs.iter().enumerate() {
            let params = r
                .target_params
                .map_or("-".into(), |p| format!("{:.2}M", p as f64 / 1e6));
            let recalibrated = r
                .selection
                .child_accuracy_recalibrated
                .map_or("-".into(), |c| format!("{:.2}", 100.0 * c));
            out.push_str(&format!(
                "{:>3}{} {:>6} {:>6} {:>9.2} {:>9} {:>9.2} {:>+7.2} {:>6} {:>8}  {}\n",
                r.run,
                if i == self.best { "*" } else { " " },
                r.seed,
                r.selection.epoch + 1,
                100.0 * r.selection.child_accuracy,
                recalibrated,
                100.0 * r.selection.supernet_accuracy,
                100.0 * (r.selection.supernet_accuracy - r.selection.child_accuracy),
                format!("{}/{}", r.connections[0], r.connections[1]),
                params,
                r.dir
            ));
        }
        out.push_str(&format!("* kept: {}\n", self.rule));
        out
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "run,seed,dir,best,selected_epoch,child_accuracy,child_accuracy_recalibrated,supernet_accuracy,gap,normal_connections,reduce_connections,target_params,target_flops,seconds,genotype\n",
        );
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        for (i, r) in self.runs.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{},{},{:.6},{},{:.6},{:.6},{},{},{},{},{:.3},\"{}\"\n",
                r.run,
                r.seed,
                r.dir,
                i == self.best,
                r.selection.epoch,
                r.selection.child_accuracy,
                r.selection
                    .child_accuracy_recalibrated
                    .map_or(String::new(), |c| format!("{c:.6}")),
                r.selection.supernet_accuracy,
                r.selection.supernet_accuracy - r.selection.child_accuracy,
                r.connections[0],
                r.connections[1],
                opt(r.target_params),
                opt(r.target_flops),
                r.seconds,
                r.genotype.replace('"', "\"\"")
            ));
        }
        out
    }
}

/// The result of [`run_searches`].
#[derive(Debug, Clone)]
pub struct RunsOutcome {
    /// Every search's outcome, in seed order.
    pub outcomes: Vec<SearchOutcome>,
    /// The summary written to `summary.json` and `summary.csv`.
    pub summary: RunsSummary,
}

impl RunsOutcome {
    /// The best search's outcome.
    pub fn best(&self) -> &SearchOutcome {
        &self.outcomes[self.summary.best]
    }
}

/// Runs `runs` searches of `config` in sequence with seeds `config.seed`,
/// `config.seed + 1`, ..., each in its own run directory `run-<i>-seed-<s>` of
/// `parent`, and keeps the best as the paper does: the search whose selected epoch has
/// the highest child-net accuracy on its architecture split (ties: the earlier seed).
/// Writes `config.json` and `runs.json` into `parent` first, and `summary.json`,
/// `summary.csv` and copies of the best search's `genotype.json`, `genotype.txt`,
/// `normal.svg` and `reduce.svg` at the end.
///
/// [`resume_searches`] continues them. A stop requested by the observer ends with
/// [`RunError::Stopped`] naming the parent, to resume as a whole. `devices` as for
/// [`run_search`].
pub fn run_searches<B: AutodiffBackend>(
    config: &SearchConfig,
    registry: &OpRegistry,
    runs: usize,
    data: &OpenedDataset,
    parent: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<RunsOutcome, SearchError> {
    searches::<B>(
        Some((config, runs)),
        registry,
        data,
        parent,
        observer,
        devices,
    )
}

/// Continues the searches of [`run_searches`] in `parent` with its own `config.json`
/// and `runs.json`: finished searches are read back, an interrupted one continues from
/// its checkpoint and the missing ones run.
pub fn resume_searches<B: AutodiffBackend>(
    registry: &OpRegistry,
    data: &OpenedDataset,
    parent: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<RunsOutcome, SearchError> {
    searches::<B>(None, registry, data, parent, observer, devices)
}

/// [`run_searches`] with `Some((config, runs))`, [`resume_searches`] with `None`.
fn searches<B: AutodiffBackend>(
    fresh: Option<(&SearchConfig, usize)>,
    registry: &OpRegistry,
    data: &OpenedDataset,
    parent: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<RunsOutcome, SearchError> {
    let _lock = parent.lock()?;
    let (config, plan) = match fresh {
        None => (SearchConfig::from_run(parent)?, RunsPlan::read(parent)?),
        Some((config, runs)) => {
            config.validate()?;
            let plan =
                RunsPlan::new(runs, config.seed).map_err(|e| SearchError::Config(e.to_string()))?;
            write_plan(parent, &plan, config)?;
            (config.clone(), plan)
        }
    };
    // The observer is both told which run starts and asked whether to stop.
    let observer = std::cell::RefCell::new(observer);
    let outcomes = run_plan(
        parent,
        &plan,
        |index, runs, seed| observer.borrow_mut().run_started(index, runs, seed),
        |run: PlannedRun| {
            let config = config.clone().with_seed(run.seed);
            search::<B>(
                (!run.started).then_some(&config),
                registry,
                data,
                &run.dir,
                &mut **observer.borrow_mut(),
                devices,
            )
        },
        || observer.borrow_mut().should_stop(),
    )?;
    let summary = summarize(&plan, &outcomes);
    let best = RunDir::open(parent.file(&summary.runs[summary.best].dir))?;
    copy_files(&best, parent, &BEST_FILES)?;
    parent.write_json(SUMMARY_JSON, &summary)?;
    parent.write(SUMMARY_CSV, summary.csv().as_bytes())?;
    Ok(RunsOutcome { outcomes, summary })
}

fn summarize(plan: &RunsPlan, outcomes: &[SearchOutcome]) -> RunsSummary {
    let runs: Vec<RunSummary> = outcomes
        .iter()
        .enumerate()
        .map(|(index, outcome)| {
            let selected = &outcome.history[outcome.selection.epoch];
            RunSummary {
                run: index + 1,
                seed: plan.seed(index),
                dir: plan.dir_name(index),
                selection: outcome.selection.clone(),
                genotype: selected.genotype.to_darts_text(),
                connections: [selected.normal.connections, selected.reduce.connections],
                target_params: selected.target_params,
                target_flops: selected.target_flops,
                seconds: outcome.history.iter().map(|r| r.seconds).sum(),
            }
        })
        .collect();
    // The first of the best: ties keep the earlier seed.
    let best = best_of(runs.iter().map(|r| r.selection.score()));
    RunsSummary {
        rule: "highest child-net accuracy of the selected epoch on the architecture split, after BN recalibration where measured (ties: earlier seed)".into(),
        best,
        runs,
    }
}

/// Runs a search in `run` (a fresh directory, see [`RunDir::create`]), writing every
/// file after every epoch; [`resume_search`] continues it. The first of `devices`
/// holds the super-net, the architecture parameters and the optimizers; the shards of
/// data-parallel steps (`config.shards > 1`) run on all of them
/// ([`Searcher::set_devices`]). One device is the usual case. The candidate ops are
/// built from `registry`, their depthwise convolutions computed as
/// `SearchConfig::depthwise` says.
pub fn run_search<B: AutodiffBackend>(
    config: &SearchConfig,
    registry: &OpRegistry,
    data: &OpenedDataset,
    run: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<SearchOutcome, SearchError> {
    search::<B>(Some(config), registry, data, run, observer, devices)
}

/// Continues the search in `run` with the run's own `config.json`, from its last
/// complete checkpoint; a finished search returns its outcome. A run killed before its
/// first checkpoint was complete starts from scratch; one whose `history.jsonl` records
/// more epochs than such a kill leaves (one) but which has no complete checkpoint is
/// refused ([`RunError::Corrupt`]) rather than overwritten.
pub fn resume_search<B: AutodiffBackend>(
    registry: &OpRegistry,
    data: &OpenedDataset,
    run: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<SearchOutcome, SearchError> {
    search::<B>(None, registry, data, run, observer, devices)
}

/// [`run_search`] with `Some(config)`, [`resume_search`] with `None`.
fn search<B: AutodiffBackend>(
    fresh: Option<&SearchConfig>,
    registry: &OpRegistry,
    data: &OpenedDataset,
    run: &RunDir,
    observer: &mut dyn SearchObserver,
    devices: &[B::Device],
) -> Result<SearchOutcome, SearchError> {
    let _lock = run.lock()?;
    let config = match fresh {
        None => SearchConfig::from_run(run)?,
        Some(config) => config.clone(),
    };
    let split = SearchSplit {
        train_portion: config.train_portion,
        val_portion: config.val_portion,
        seed: config.seed,
    };
    let search = data.search_split(&split)?;
    check_batch_fits(config.batch_size, search.train.len(), search.val.len())?;
    let device = devices
        .first()
        .ok_or_else(|| SearchError::Config("no device given".into()))?;
    let mut searcher = Searcher::<B>::with_registry(config.clone(), registry, &data.info, device)?;
    searcher.set_devices(devices)?;
    // A resumed search continues from its last complete checkpoint; one stopped before
    // its first checkpoint (at most one record written) starts over.
    let checkpoint = match fresh {
        None => run.resume_checkpoint::<SearchCheckpoint>(CHECKPOINT)?,
        Some(_) => None,
    };
    let (start, mut history) = match checkpoint {
        Some(state) => {
            searcher.load_records(&run.checkpoint(CHECKPOINT))?;
            (state.epochs_done, run.history(state.epochs_done)?)
        }
        None => {
            run.write_json(CONFIG_FILE, &config)?;
            (0, Vec::new())
        }
    };
    let val_eval = search.val.clone().with_augment(None, config.seed);
    // The derived target-net is counted as the paper evaluates it: the layout's
    // defaults (CIFAR: C = 36, L = 20) at the dataset's image size and classes.
    let layout = match config.stem {
        StemLayout::Cifar => TargetLayout::Cifar,
        StemLayout::Imagenet => TargetLayout::Imagenet,
    };
    let info = &data.info;
    let target = TargetNetSpec::for_shape(
        layout,
        [info.channels, info.height, info.width],
        info.classes,
    );
    for epoch in start..config.epochs {
        let mut record = catch_backend_panic(|| {
            searcher.train_epoch(epoch, &search.train, &search.val, &val_eval, observer)
        })
        .map_err(|message| BackendFailure {
            job: "search",
            device: format!("{device:?}"),
            epoch,
            batch_size: config.batch_size,
            message,
            run: run.path().to_path_buf(),
            epochs_done: epoch,
        })??;
        match target_net_cost(&record.genotype, &target, registry) {
            Ok(cost) => {
                record.target_params = Some(cost.params);
                record.target_flops = Some(cost.flops);
            }
            Err(e) => {
                tracing::warn!("epoch {epoch}: the derived target-net cannot be counted: {e}")
            }
        }
        history.push(record);
        write_records(run, &history)?;
        searcher.save_checkpoint(run, epoch + 1)?;
        if epoch + 1 < config.epochs && observer.should_stop() {
            return Err(RunError::Stopped {
                run: run.path().to_path_buf(),
                epochs_done: epoch + 1,
            }
            .into());
        }
    }
    let selection =
        select(&history).ok_or_else(|| SearchError::Config("the search ran no epoch".into()))?;
    Ok(SearchOutcome { history, selection })
}

/// A batch larger than either split of the search would make every epoch one smaller
/// batch, whatever was asked: refused, naming both sizes and the largest that fits.
pub fn check_batch_fits(batch_size: usize, train: usize, val: usize) -> Result<(), SearchError> {
    let fits = train.min(val);
    if batch_size > fits {
        return Err(SearchError::Config(format!(
            "batch size {batch_size} is larger than the search's splits ({train} images train the weights, {val} the architecture): lower the batch size to at most {fits}, or give the splits more images (train_portion, val_portion)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Method, OpSpace};
    use burn::backend::{Autodiff, Flex};
    use entrannas_data::{AugmentConfig, DatasetInfo, DatasetKind, InMemoryImages};

    use crate::isolated::seeded;

    /// The CLI's CPU backend, in float32 (float64 tests of this binary use `NdArray`:
    /// ARCHITECTURE.md).
    type B = Autodiff<Flex>;

    /// 48 images of 1x8x8 in 2 classes: class 1 is bright on the left half.
    fn data() -> OpenedDataset {
        let n = 48;
        let mut pixels = Vec::with_capacity(n * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let label = i % 2;
            for p in 0..64 {
                let left = p % 8 < 4;
                let base = if left == (label == 1) { 180 } else { 40 };
                pixels.push((base + (i * 7 + p * 13) % 50) as u8);
            }
            labels.push(label);
        }
        let images = InMemoryImages::new(1, 8, 8, pixels, labels).unwrap();
        OpenedDataset {
            kind: DatasetKind::Embedded,
            info: DatasetInfo::new(
                DatasetKind::Embedded,
                [1, 8, 8],
                vec!["dark".into(), "bright".into()],
            ),
            location: "test".into(),
            train: images.clone().into(),
            test: images.into(),
            augment: AugmentConfig {
                crop_padding: 1,
                flip: true,
                cutout: None,
                min_crop_scale: 1.0,
            },
        }
    }

    /// Runs `config` through in `run`, on one CPU device, with no observer.
    fn search_through(config: &SearchConfig, run: &RunDir) -> SearchOutcome {
        run_search::<B>(
            config,
            &OpRegistry::default(),
            &data(),
            run,
            &mut (),
            &[Default::default()],
        )
        .unwrap()
    }

    fn tiny(method: Method) -> SearchConfig {
        SearchConfig::new()
            .with_method(method)
            .with_space(OpSpace::Standard)
            .with_channels(4)
            .with_layers(3)
            .with_nodes(2)
            .with_epochs(3)
            .with_batch_size(8)
            .with_lr(0.05)
            .with_arch_lr(0.05)
            .with_bottleneck(Some(2))
            .with_steps_per_epoch(Some(2))
    }

    #[test]
    fn measuring_the_recalibrated_child_changes_nothing_else() {
        let _turn = seeded();
        let search = |batches: usize| {
            let dir = tempfile::tempdir().unwrap();
            let run = RunDir::create(dir.path().join("run"), false).unwrap();
            let config = tiny(Method::Entran).with_child_bn_batches(batches);
            let outcome = search_through(&config, &run);
            let csv = std::fs::read_to_string(run.path().join("metrics.csv")).unwrap();
            // Every float of the checkpointed net: weights and batch-norm running
            // statistics, in module order (parameter ids are random, so not the bytes).
            let mut searcher =
                Searcher::<B>::new(config.clone(), &data().info, &Default::default()).unwrap();
            searcher.load_checkpoint(&run).unwrap();
            struct Floats(Vec<f32>);
            impl<Bk: burn::tensor::backend::Backend> burn::module::ModuleVisitor<Bk> for Floats {
                fn visit_float<const D: usize>(
                    &mut self,
                    param: &burn::module::Param<burn::tensor::Tensor<Bk, D>>,
                ) {
                    self.0.extend(param.val().into_data().iter::<f32>());
                }
            }
            let mut floats = Floats(Vec::new());
            burn::module::Module::visit(&searcher.net, &mut floats);
            (outcome, csv, floats.0)
        };
        let (without, csv_without, weights_without) = search(0);
        let (with, csv_with, weights_with) = search(3);
        assert_eq!(without.history.len(), with.history.len());
        for (a, b) in without.history.iter().zip(&with.history) {
            // The super-net's statistics are restored after the measurement, so the
            // search, its evaluation and its architecture go on bit for bit.
            assert_eq!(a.child_accuracy_recalibrated, None);
            assert_eq!(a.supernet_accuracy_recalibrated, None);
            assert!(b.child_accuracy_recalibrated.is_some());
            assert!(b.supernet_accuracy_recalibrated.is_some());
            assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
            assert_eq!(a.arch_loss, b.arch_loss, "epoch {}", a.epoch);
            assert_eq!(
                a.supernet_accuracy, b.supernet_accuracy,
                "epoch {}",
                a.epoch
            );
            assert_eq!(a.child_accuracy, b.child_accuracy, "epoch {}", a.epoch);
            assert_eq!(a.arch, b.arch, "epoch {}", a.epoch);
        }
        // Weights and batch-norm running statistics, in full precision.
        assert!(!weights_without.is_empty());
        assert!(
            weights_without == weights_with,
            "the checkpointed nets differ"
        );
        assert!(without.selection.rule.contains("running statistics"));
        assert!(with.selection.rule.contains("after BN recalibration"));
        let header = |csv: &str| csv.lines().next().unwrap().to_string();
        assert_eq!(header(&csv_without), header(&csv_with));
        let column = header(&csv_with)
            .split(',')
            .position(|c| c == "child_accuracy_recalibrated")
            .unwrap();
        let last = |csv: &str| {
            let line = csv.lines().last().unwrap().to_string();
            line.split(',').nth(column).unwrap().to_string()
        };
        assert_eq!(last(&csv_without), "");
        let recalibrated = with.history.last().unwrap().child_accuracy_recalibrated;
        assert_eq!(last(&csv_with), format!("{:.6}", recalibrated.unwrap()));
        // The gap column compares the two recalibrated networks.
        let gap_column = column + 1;
        let gap = csv_with
            .lines()
            .last()
            .unwrap()
            .split(',')
            .nth(gap_column)
            .unwrap()
            .to_string();
        let record = with.history.last().unwrap();
        assert_eq!(gap, format!("{:.6}", record.gap_recalibrated().unwrap()));
    }

    #[test]
    fn a_sharded_search_depends_on_its_shards_not_on_its_devices() {
        let _turn = seeded();
        let search = |config: &SearchConfig, devices: usize| {
            let dir = tempfile::tempdir().unwrap();
            let run = RunDir::create(dir.path().join("run"), false).unwrap();
            let devices = vec![Default::default(); devices];
            let mut history = run_search::<B>(
                config,
                &OpRegistry::default(),
                &data(),
                &run,
                &mut (),
                &devices,
            )
            .unwrap()
            .history;
            for r in &mut history {
                (r.seconds, r.images_per_second) = (0.0, 0.0);
            }
            history
        };
        for method in [Method::Entran, Method::Dst] {
            // A batch of 7 splits 3 + 2 + 2: uneven shards weigh by their size.
            let sharded = tiny(method).with_batch_size(7).with_shards(3);
            let on_one = search(&sharded, 1);
            let on_three = search(&sharded, 3);
            assert_eq!(
                on_one, on_three,
                "{method}: the device count changed the search"
            );
            // The sharded path really ran: batch norm over 2-3 images instead of 7
            // gives other losses, though the same kind of search.
            let whole = search(&tiny(method).with_batch_size(7), 1);
            assert_ne!(on_one[0].train_loss, whole[0].train_loss, "{method}");
            assert_ne!(
                on_one.last().unwrap().arch,
                whole.last().unwrap().arch,
                "{method}"
            );
            for r in &on_one {
                assert!(
                    r.train_loss.is_finite() && r.arch_loss.is_finite(),
                    "{method}"
                );
            }
            // The architecture went on moving from epoch to epoch.
            assert_ne!(on_one[0].arch, on_one.last().unwrap().arch, "{method}");
        }
    }

    #[test]
    fn a_batch_larger_than_a_split_is_refused_before_anything_is_written() {
        let _turn = seeded();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        // 48 images, half for each split.
        let err = run_search::<B>(
            &tiny(Method::Entran).with_batch_size(25),
            &OpRegistry::default(),
            &data(),
            &run,
            &mut (),
            &[Default::default()],
        )
        .unwrap_err();
        assert!(matches!(err, SearchError::Config(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("batch size 25")
                && text.contains("24 images train the weights, 24 the architecture")
                && text.contains("at most 24"),
            "{text}"
        );
        assert!(!run.path().join("config.json").exists());
        assert!(!run.path().join("checkpoint").exists());
        assert!(check_batch_fits(24, 24, 30).is_ok());
        assert!(check_batch_fits(25, 30, 24).is_err());
    }

    #[test]
    fn shards_must_fit_the_batch_and_the_devices() {
        let _turn = seeded();
        for (shards, batch) in [(0, 8), (9, 8)] {
            let err = tiny(Method::Entran)
                .with_batch_size(batch)
                .with_shards(shards)
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.contains("shards"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let devices = vec![Default::default(); 3];
        let err = run_search::<B>(
            &tiny(Method::Entran).with_shards(2),
            &OpRegistry::default(),
            &data(),
            &run,
            &mut (),
            &devices,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("3 devices but 2 shard(s)"), "{err}");
        let err = run_search::<B>(
            &tiny(Method::Entran),
            &OpRegistry::default(),
            &data(),
            &run,
            &mut (),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no device"), "{err}");
    }

    #[test]
    fn selection_compares_recalibrated_accuracies_only_when_every_epoch_has_one() {
        let _turn = seeded();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let outcome = search_through(&tiny(Method::Entran), &run);
        let mut history = outcome.history;
        // Running statistics favour epoch 0, recalibrated ones epoch 1.
        for (r, (running, recalibrated)) in
            history.iter_mut().zip([(0.9, 0.2), (0.1, 0.8), (0.1, 0.1)])
        {
            r.child_accuracy = running;
            r.child_accuracy_recalibrated = Some(recalibrated);
        }
        let chosen = select(&history).unwrap();
        assert_eq!(chosen.epoch, 1);
        assert_eq!(chosen.child_accuracy_recalibrated, Some(0.8));
        assert_eq!(chosen.score(), 0.8);
        // One epoch without the measurement (a history written by an earlier
        // version, resumed): every epoch is compared on the running statistics.
        history[2].child_accuracy_recalibrated = None;
        let chosen = select(&history).unwrap();
        assert_eq!(chosen.epoch, 0);
        assert_eq!(chosen.child_accuracy_recalibrated, None);
        assert_eq!(chosen.score(), 0.9);
        assert!(chosen.rule.contains("running statistics"));
    }

    #[test]
    fn every_method_runs_and_writes_its_run_directory() {
        let _turn = seeded();
        for method in [Method::Entran, Method::Dst, Method::Darts] {
            let dir = tempfile::tempdir().unwrap();
            let run = RunDir::create(dir.path().join("run"), false).unwrap();
            let config = tiny(method).with_epochs(2);
            let outcome = search_through(&config, &run);
            assert_eq!(outcome.history.len(), 2, "{method}");
            for file in [
                "config.json",
                "history.jsonl",
                "metrics.csv",
                "genotype.json",
                "genotype.txt",
                "normal.svg",
                "reduce.svg",
                "selection.json",
                "checkpoint/state.json",
                "checkpoint/net.mpk",
            ] {
                assert!(run.path().join(file).is_file(), "{method}: {file} missing");
            }
            let genotype =
                entrannas_cell::Genotype::load(run.path().join("genotype.json")).unwrap();
            assert_eq!(genotype, outcome.history[outcome.selection.epoch].genotype);
            for r in &outcome.history {
                // Every epoch records the derivation of its final alpha, DARTS too
                // (which skips the per-step derivation, as no cell uses it).
                let report = entrannas_relax::derive_report(&r.arch, method.rule()).unwrap();
                assert_eq!(r.genotype, report.genotype, "{method}, epoch {}", r.epoch);
                // The Engine weight the child drops: none for DST, which derives every
                // weighted pair; a share of the op weight for top-2.
                let topology = r.arch.topology();
                for (d, cell) in [(&r.normal, &report.normal), (&r.reduce, &report.reduce)] {
                    let outside = d.weight_outside_child.unwrap();
                    assert_eq!(outside, cell.weight_outside_derived(&r.arch.ops, &topology));
                    match method {
                        Method::Dst => assert!(outside < 1e-12, "{outside}"),
                        _ => assert!(outside > 0.1 && outside < 1.0, "{method}: {outside}"),
                    }
                    assert_eq!(
                        d.mean_largest_coefficient,
                        Some(cell.mean_largest_coefficient())
                    );
                    assert_eq!(
                        d.dropped_edges,
                        Some(cell.dropped_edges(&r.arch.ops, &topology))
                    );
                }
                assert!(r.train_loss.is_finite() && (0.0..=1.0).contains(&r.child_accuracy));
                let recalibrated = r.child_accuracy_recalibrated.unwrap();
                assert!((0.0..=1.0).contains(&recalibrated), "{method}");
                let supernet = r.supernet_accuracy_recalibrated.unwrap();
                assert!((0.0..=1.0).contains(&supernet), "{method}");
                assert_eq!(r.gap_recalibrated(), Some(supernet - recalibrated));
                assert!(r.target_params.unwrap() > 0 && r.target_flops.unwrap() > 0);
                // Two steps per epoch: at most two changes, the last change at most
                // two steps back, and without one the derivation held all epoch.
                match (method, r.derivation_changes, r.derivation_stable_steps) {
                    (Method::Darts, None, None) => {}
                    (Method::Entran | Method::Dst, Some(changes), Some(stable)) => {
                        assert!(changes <= 2 && (1..=2).contains(&stable), "{method}");
                        assert!(changes > 0 || stable == 2, "{method}");
                    }
                    other => panic!("{method}: derivation stability {other:?}"),
                }
                if method == Method::Dst {
                    assert!(r.normal.thresholds.is_some());
                } else {
                    // top-2 keeps exactly two inputs per node.
                    assert!(r.genotype.normal.nodes.iter().all(|n| n.len() == 2));
                }
            }
            // A second search into the same directory is refused without --force.
            assert!(matches!(
                RunDir::create(run.path(), false),
                Err(RunError::RunExists(_))
            ));
        }
    }

    #[test]
    fn a_frozen_architecture_keeps_its_derivation_all_epoch() {
        let _turn = seeded();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let config = tiny(Method::Entran).with_epochs(1).with_arch_lr(0.0);
        let outcome = search_through(&config, &run);
        let r = &outcome.history[0];
        assert_eq!(
            (r.derivation_changes, r.derivation_stable_steps),
            (Some(0), Some(2))
        );
        let csv = std::fs::read_to_string(run.path().join("metrics.csv")).unwrap();
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .ends_with(",seconds,derivation_changes,derivation_stable_steps,normal_weight_outside_child,reduce_weight_outside_child,normal_mean_largest_coefficient,reduce_mean_largest_coefficient,normal_dropped_edges_to_none,reduce_dropped_edges_to_none")
        );
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(row[row.len() - 8..row.len() - 6], ["0", "2"], "{csv}");
        let outside = format!("{:.6}", r.normal.weight_outside_child.unwrap());
        assert_eq!(row[row.len() - 6], outside, "{csv}");
        let sharpness = r.reduce.mean_largest_coefficient.unwrap();
        assert!((0.125..=1.0).contains(&sharpness), "{sharpness}");
        assert_eq!(row[row.len() - 3], format!("{sharpness:.6}"), "{csv}");
        let dropped = r.normal.dropped_edges.unwrap();
        assert!(
            dropped.to_none <= dropped.edges && dropped.edges <= 14,
            "{dropped:?}"
        );
        assert_eq!(row[row.len() - 2], dropped.to_none.to_string(), "{csv}");
    }

    /// The search of `config` run through in `dir/straight`, and run in
    /// `dir/interrupted` until it stops after its first epoch (checkpoint written).
    fn straight_and_stopped_after_one(
        config: &SearchConfig,
        dir: &Path,
    ) -> (SearchOutcome, RunDir) {
        let devices = [Default::default()];
        let straight = RunDir::create(dir.join("straight"), false).unwrap();
        let full = run_search::<B>(
            config,
            &OpRegistry::default(),
            &data(),
            &straight,
            &mut (),
            &devices,
        )
        .unwrap();
        let interrupted = RunDir::create(dir.join("interrupted"), false).unwrap();
        let stopped = run_search::<B>(
            config,
            &OpRegistry::default(),
            &data(),
            &interrupted,
            &mut StopAfter::new(1),
            &devices,
        );
        assert!(matches!(
            stopped,
            Err(SearchError::Run(RunError::Stopped { epochs_done: 1, .. }))
        ));
        (full, interrupted)
    }

    /// Panics as an allocation that did not fit would, at the first step of epoch
    /// `epoch`.
    struct OutOfMemoryAt {
        epoch: usize,
        current: usize,
    }

    impl entrannas_run::RunObserver<EpochRecord> for OutOfMemoryAt {
        fn epoch_started(&mut self, epoch: usize, _epochs: usize, _steps: usize) {
            self.current = epoch;
        }

        fn step(&mut self, _progress: &entrannas_run::StepProgress) {
            if self.current == self.epoch {
                panic!("CUDA error: out of memory (test)");
            }
        }
    }

    #[test]
    fn a_backend_failure_keeps_the_checkpoint_and_says_what_to_lower() {
        let _turn = seeded();
        let config = tiny(Method::Entran);
        let dir = tempfile::tempdir().unwrap();
        let devices = [Default::default()];
        let straight = RunDir::create(dir.path().join("straight"), false).unwrap();
        let full = run_search::<B>(
            &config,
            &OpRegistry::default(),
            &data(),
            &straight,
            &mut (),
            &devices,
        )
        .unwrap();
        let run = RunDir::create(dir.path().join("failed"), false).unwrap();
        let failed = run_search::<B>(
            &config,
            &OpRegistry::default(),
            &data(),
            &run,
            &mut OutOfMemoryAt {
                epoch: 1,
                current: 0,
            },
            &devices,
        )
        .unwrap_err();
        let SearchError::BackendFailed(BackendFailure {
            epoch,
            batch_size,
            epochs_done,
            ..
        }) = &failed
        else {
            panic!("expected a backend failure, got {failed:?}");
        };
        assert_eq!((*epoch, *batch_size, *epochs_done), (1, 8, 1));
        let text = failed.to_string();
        assert!(
            text.starts_with("the backend failed in epoch 2 on ")
                && text.contains("at batch size 8: CUDA error: out of memory (test)")
                && text.contains("lower the batch size")
                && text.contains("last checkpoint, after 1 epoch(s), is intact"),
            "{text}"
        );
        // The failed epoch left no record; resuming ends as if nothing had happened.
        assert_eq!(run.recorded_epochs().unwrap(), 1);
        let resumed = resume_search::<B>(
            &OpRegistry::default(),
            &data(),
            &RunDir::open(run.path()).unwrap(),
            &mut (),
            &devices,
        )
        .unwrap();
        assert_eq!(resumed.history.len(), full.history.len());
        for (a, b) in full.history.iter().zip(&resumed.history) {
            assert_eq!(a.genotype, b.genotype, "epoch {}", a.epoch);
            assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
        }
    }

    #[test]
    fn a_resumed_search_ends_like_an_uninterrupted_one() {
        let _turn = seeded();
        let config = tiny(Method::Dst);
        let dir = tempfile::tempdir().unwrap();
        let (full, interrupted) = straight_and_stopped_after_one(&config, dir.path());
        let resumed = resume_search::<B>(
            &OpRegistry::default(),
            &data(),
            &RunDir::open(interrupted.path()).unwrap(),
            &mut (),
            &[Default::default()],
        )
        .unwrap();

        assert_eq!(resumed.history.len(), full.history.len());
        // The CPU kernels are deterministic (flex divides exactly; the workspace
        // Cargo.toml says why that matters), so a resumed search computes exactly what
        // the uninterrupted one did: any difference is a resume bug.
        for (a, b) in full.history.iter().zip(&resumed.history) {
            assert_eq!(a.genotype, b.genotype, "epoch {}", a.epoch);
            assert_eq!(
                [
                    a.train_loss,
                    a.arch_loss,
                    a.supernet_accuracy,
                    a.child_accuracy
                ],
                [
                    b.train_loss,
                    b.arch_loss,
                    b.supernet_accuracy,
                    b.child_accuracy
                ],
                "epoch {}",
                a.epoch
            );
            assert_eq!(a.arch, b.arch, "epoch {}", a.epoch);
        }
    }

    #[test]
    fn resuming_a_run_whose_checkpoint_is_gone_keeps_its_history() {
        let _turn = seeded();
        let config = tiny(Method::Entran);
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let stopped = run_search::<B>(
            &config,
            &OpRegistry::default(),
            &data(),
            &run,
            &mut StopAfter::new(2),
            &[Default::default()],
        );
        assert!(matches!(
            stopped,
            Err(SearchError::Run(RunError::Stopped { .. }))
        ));
        let history = std::fs::read_to_string(run.path().join("history.jsonl")).unwrap();
        std::fs::remove_dir_all(run.path().join("checkpoint")).unwrap();
        let resume = || {
            resume_search::<B>(
                &OpRegistry::default(),
                &data(),
                &RunDir::open(run.path()).unwrap(),
                &mut (),
                &[Default::default()],
            )
        };

        let resumed = resume();
        let Err(SearchError::Run(RunError::Corrupt { path, message })) = resumed else {
            panic!("expected a refusal, got {resumed:?}");
        };
        assert!(
            path.ends_with("checkpoint/state.json"),
            "{}",
            path.display()
        );
        assert!(message.contains("records 2 epoch"), "{message}");
        assert_eq!(
            std::fs::read_to_string(run.path().join("history.jsonl")).unwrap(),
            history,
            "the records must be left as they were"
        );

        // One record and no checkpoint is what a kill between the first epoch's record
        // and its checkpoint leaves: that run starts over and finishes.
        let first = history.lines().next().unwrap();
        std::fs::write(run.path().join("history.jsonl"), format!("{first}\n")).unwrap();
        assert_eq!(resume().unwrap().history.len(), config.epochs);
    }

    #[test]
    fn a_checkpoint_holds_everything_the_search_goes_on_with() {
        // A searcher whose super-net was initialised from another seed, loaded from a
        // checkpoint, must go on exactly as the search that wrote it: nothing that
        // matters may be left to the initialisation.
        let _turn = seeded();
        let config = tiny(Method::Dst);
        let dir = tempfile::tempdir().unwrap();
        let (full, stopped) = straight_and_stopped_after_one(&config, dir.path());

        let device = Default::default();
        let mut searcher = Searcher::<B>::new(config.clone(), &data().info, &device).unwrap();
        <B as burn::tensor::backend::Backend>::seed(&device, 99);
        let other = config
            .supernet(data().info.channels, data().info.classes)
            .init(&OpRegistry::default(), &device)
            .unwrap();
        entrannas_ops::materialize(&other);
        searcher.net = other;
        assert_eq!(searcher.load_checkpoint(&stopped).unwrap(), 1);

        let split = SearchSplit {
            train_portion: config.train_portion,
            val_portion: config.val_portion,
            seed: config.seed,
        };
        let search = data().search_split(&split).unwrap();
        let val_eval = search.val.clone().with_augment(None, config.seed);
        let record = searcher
            .train_epoch(1, &search.train, &search.val, &val_eval, &mut ())
            .unwrap();
        let want = &full.history[1];
        assert_eq!(
            [
                record.train_loss,
                record.arch_loss,
                record.supernet_accuracy
            ],
            [want.train_loss, want.arch_loss, want.supernet_accuracy]
        );
        assert_eq!(record.arch, want.arch);
    }

    /// The depthwise strategy of every op of `net`.
    fn strategies(net: &crate::SuperNet<B>) -> Vec<entrannas_ops::DepthwiseConv> {
        let mut ops: Vec<&entrannas_ops::Op<B>> = vec![&net.stem0];
        for cell in &net.cells {
            ops.extend(
                cell.preprocess
                    .iter()
                    .chain(&cell.reduce)
                    .chain(&cell.recover),
            );
            ops.extend(cell.candidates.iter().flatten().flatten());
        }
        ops.into_iter().map(|op| op.depthwise()).collect()
    }

    #[test]
    fn each_search_computes_with_its_own_depthwise_strategy() {
        use entrannas_ops::DepthwiseConv;
        let _turn = seeded();
        let config = tiny(Method::Entran)
            .with_epochs(2)
            .with_depthwise(DepthwiseConv::Taps);
        // Two searchers of one process, built at the same time on two threads, each
        // with its own strategy in every op.
        let info = data().info;
        let built = |config: &SearchConfig| {
            let searcher = Searcher::<B>::new(config.clone(), &info, &Default::default()).unwrap();
            strategies(&searcher.net)
        };
        let grouped = config.clone().with_depthwise(DepthwiseConv::Grouped);
        let (taps_ops, grouped_ops) = std::thread::scope(|s| {
            let taps = s.spawn(|| built(&config));
            let grouped = s.spawn(|| built(&grouped));
            (taps.join().unwrap(), grouped.join().unwrap())
        });
        assert!(taps_ops.len() > 10, "{taps_ops:?}");
        assert!(taps_ops.iter().all(|&d| d == DepthwiseConv::Taps));
        assert!(grouped_ops.iter().all(|&d| d == DepthwiseConv::Grouped));

        // A resumed search computes with the strategy its run recorded, whatever the
        // searchers around it use, and ends as the uninterrupted one.
        let dir = tempfile::tempdir().unwrap();
        let (full, interrupted) = straight_and_stopped_after_one(&config, dir.path());
        let recorded = RunDir::open(interrupted.path()).unwrap();
        let saved = SearchConfig::from_run(&recorded).unwrap();
        assert_eq!(saved.depthwise, DepthwiseConv::Taps);
        let mut loaded = Searcher::<B>::new(saved, &info, &Default::default()).unwrap();
        loaded.load_checkpoint(&recorded).unwrap();
        assert!(
            strategies(&loaded.net)
                .iter()
                .all(|&d| d == DepthwiseConv::Taps)
        );
        let resumed = resume_search::<B>(
            &OpRegistry::default(),
            &data(),
            &recorded,
            &mut (),
            &[Default::default()],
        )
        .unwrap();
        let without_times = |outcome: &SearchOutcome| -> Vec<EpochRecord> {
            let mut history = outcome.history.clone();
            for r in &mut history {
                (r.seconds, r.images_per_second) = (0.0, 0.0);
            }
            history
        };
        assert_eq!(without_times(&resumed), without_times(&full));
    }

    /// Asks to stop once `n` epochs have finished; counts the epochs it saw.
    struct StopAfter {
        n: usize,
        seen: usize,
        runs: Vec<(usize, usize, u64)>,
    }

    impl StopAfter {
        fn new(n: usize) -> Self {
            Self {
                n,
                seen: 0,
                runs: Vec::new(),
            }
        }
    }

    impl entrannas_run::RunObserver<EpochRecord> for StopAfter {
        fn run_started(&mut self, run: usize, runs: usize, seed: u64) {
            self.runs.push((run, runs, seed));
        }
        fn epoch_finished(&mut self, _record: &EpochRecord) {
            self.seen += 1;
        }
        fn should_stop(&mut self) -> bool {
            self.seen >= self.n
        }
    }

    #[test]
    fn several_searches_keep_the_best_and_resume_only_the_unfinished() {
        let _turn = seeded();
        let config = tiny(Method::Entran).with_epochs(2).with_seed(7);
        let dir = tempfile::tempdir().unwrap();
        let parent = RunDir::create(dir.path().join("runs"), false).unwrap();
        // Stops inside the second search, after its first epoch.
        let mut observer = StopAfter::new(3);
        let stopped = run_searches::<B>(
            &config,
            &OpRegistry::default(),
            3,
            &data(),
            &parent,
            &mut observer,
            &[Default::default()],
        );
        match stopped {
            Err(SearchError::Run(RunError::Stopped { run, epochs_done })) => {
                assert_eq!(run, parent.path());
                assert_eq!(epochs_done, 1);
            }
            other => panic!("expected a stop, got {other:?}"),
        }
        assert_eq!(observer.runs, vec![(0, 3, 7), (1, 3, 8)]);
        assert!(RunsPlan::is_parent(&parent));
        assert!(!parent.path().join("summary.json").exists());

        // Resuming reads the first search back, finishes the second (one epoch left)
        // and runs the third (two epochs).
        let parent = RunDir::open(parent.path()).unwrap();
        let mut observer = StopAfter::new(usize::MAX);
        let outcome = resume_searches::<B>(
            &OpRegistry::default(),
            &data(),
            &parent,
            &mut observer,
            &[Default::default()],
        )
        .unwrap();
        assert_eq!(observer.seen, 3);
        assert_eq!(observer.runs, vec![(0, 3, 7), (1, 3, 8), (2, 3, 9)]);
        let summary = &outcome.summary;
        assert_eq!(summary.runs.len(), 3);
        for (i, r) in summary.runs.iter().enumerate() {
            assert_eq!(r.seed, 7 + i as u64);
            assert_eq!(r.dir, format!("run-{}-seed-{}", i + 1, 7 + i));
            let sub = RunDir::open(parent.path().join(&r.dir)).unwrap();
            assert_eq!(SearchConfig::from_run(&sub).unwrap().seed, r.seed);
            assert_eq!(outcome.outcomes[i].history.len(), 2);
            assert_eq!(r.selection, outcome.outcomes[i].selection);
        }
        // The best: the highest child-net accuracy, the first of equals.
        let top = summary
            .runs
            .iter()
            .map(|r| r.selection.score())
            .fold(f64::MIN, f64::max);
        let first_top = summary
            .runs
            .iter()
            .position(|r| r.selection.score() == top)
            .unwrap();
        assert_eq!(summary.best, first_top);
        let best_dir = parent.path().join(&summary.runs[summary.best].dir);
        for file in ["genotype.json", "genotype.txt", "normal.svg", "reduce.svg"] {
            assert_eq!(
                std::fs::read(parent.path().join(file)).unwrap(),
                std::fs::read(best_dir.join(file)).unwrap(),
                "{file}"
            );
        }
        let written: RunsSummary = serde_json::from_str(
            &std::fs::read_to_string(parent.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&written, summary);
        let csv = std::fs::read_to_string(parent.path().join("summary.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);
        assert_eq!(
            csv.lines().filter(|l| l.contains(",true,")).count(),
            1,
            "{csv}"
        );
        let table = summary.table();
        assert_eq!(table.lines().count(), 5, "{table}");
        assert!(table.contains(&format!("{}*", summary.best + 1)), "{table}");
    }

    #[test]
    fn zero_searches_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let parent = RunDir::create(dir.path().join("runs"), false).unwrap();
        let err = run_searches::<B>(
            &tiny(Method::Entran),
            &OpRegistry::default(),
            0,
            &data(),
            &parent,
            &mut (),
            &[Default::default()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
    }

    #[test]
    fn a_search_killed_between_the_checkpoint_renames_resumes_from_a_complete_one() {
        let _turn = seeded();
        let config = tiny(Method::Entran).with_epochs(2);
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let stopped = run_search::<B>(
            &config,
            &OpRegistry::default(),
            &data(),
            &run,
            &mut StopAfter::new(1),
            &[Default::default()],
        );
        assert!(matches!(
            stopped,
            Err(SearchError::Run(RunError::Stopped { .. }))
        ));
        // The state a kill leaves after `checkpoint` was moved aside and while the
        // next checkpoint was still being written: no `checkpoint`, an incomplete
        // `checkpoint.tmp` (no state.json) and the complete `checkpoint.old`.
        std::fs::rename(
            run.path().join("checkpoint"),
            run.path().join("checkpoint.old"),
        )
        .unwrap();
        let tmp = run.path().join("checkpoint.tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join("net.mpk"), b"half a file").unwrap();
        std::fs::write(tmp.join("state.json.tmp"), b"{\"epochs_do").unwrap();
        let (found, state) = run
            .latest_checkpoint::<SearchCheckpoint>(CHECKPOINT)
            .unwrap()
            .unwrap();
        assert_eq!(found, run.path().join("checkpoint.old"));
        assert_eq!(state.epochs_done, 1);

        let mut observer = StopAfter::new(usize::MAX);
        let resumed = resume_search::<B>(
            &OpRegistry::default(),
            &data(),
            &RunDir::open(run.path()).unwrap(),
            &mut observer,
            &[Default::default()],
        )
        .unwrap();
        assert_eq!(observer.seen, 1, "only the second epoch runs again");
        assert_eq!(resumed.history.len(), 2);
        // The new checkpoint replaced every leftover.
        assert!(run.path().join("checkpoint/state.json").is_file());
        assert!(!run.path().join("checkpoint.old").exists());
        assert!(!tmp.exists());
        let (_, state) = run
            .latest_checkpoint::<SearchCheckpoint>(CHECKPOINT)
            .unwrap()
            .unwrap();
        assert_eq!(state.epochs_done, 2);

        // A complete checkpoint.tmp with more epochs wins over checkpoint.
        std::fs::rename(run.path().join("checkpoint"), &tmp).unwrap();
        std::fs::create_dir(run.path().join("checkpoint")).unwrap();
        std::fs::write(
            run.path().join("checkpoint/state.json"),
            r#"{"epochs_done": 1, "version": "0"}"#,
        )
        .unwrap();
        let (found, state) = run
            .latest_checkpoint::<SearchCheckpoint>(CHECKPOINT)
            .unwrap()
            .unwrap();
        assert_eq!((found, state.epochs_done), (tmp, 2));
    }

    #[test]
    fn a_broken_checkpoint_is_an_error_naming_the_file() {
        let _turn = seeded();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let config = tiny(Method::Entran).with_epochs(1);
        search_through(&config, &run);
        std::fs::write(run.path().join("checkpoint/net.mpk"), b"garbage").unwrap();
        let err = resume_search::<B>(
            &OpRegistry::default(),
            &data(),
            &run,
            &mut (),
            &[Default::default()],
        )
        .expect_err("corrupt checkpoint must fail")
        .to_string();
        assert!(err.contains("net.mpk"), "{err}");
    }

    /// A search stopped before each file-system step of its second epoch's records and
    /// checkpoint in turn (what `kill -9` leaves at that moment) resumes to the
    /// uninterrupted search's history.
    #[test]
    fn a_search_stopped_at_any_step_of_its_writes_resumes_to_the_uninterrupted_result() {
        use entrannas_run::fault;
        let _turn = seeded();
        let config = tiny(Method::Entran).with_epochs(2);
        let dir = tempfile::tempdir().unwrap();
        let (full, after_one) = straight_and_stopped_after_one(&config, dir.path());
        let resume = |run: &RunDir| {
            resume_search::<B>(
                &OpRegistry::default(),
                &data(),
                run,
                &mut (),
                &[Default::default()],
            )
        };
        // The steps of the second epoch's writes.
        let probe = RunDir::create(dir.path().join("probe"), false).unwrap();
        entrannas_run::durable::copy_dir(after_one.path(), probe.path()).unwrap();
        fault::fail_at(None);
        resume(&probe).unwrap();
        let steps = fault::steps();
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("rename") && s.ends_with("checkpoint")),
            "{steps:?}"
        );
        // Every step of the checkpoint's rotation and of the history's write (the other
        // files are written the same way as the history, by the same function).
        let chosen = (1..=steps.len())
            .filter(|&k| steps[k - 1].contains("checkpoint") || steps[k - 1].contains("history"));
        for k in chosen {
            let run = RunDir::create(dir.path().join(format!("stop-{k}")), false).unwrap();
            entrannas_run::durable::copy_dir(after_one.path(), run.path()).unwrap();
            fault::fail_at(Some(k));
            let err = resume(&run).expect_err("the injected fault ends the search");
            fault::fail_at(None);
            assert!(err.to_string().contains("injected fault"), "{k}: {err}");
            let resumed =
                resume(&run).unwrap_or_else(|e| panic!("stopped before {}: {e}", steps[k - 1]));
            assert_eq!(resumed.history.len(), 2);
            for (a, b) in full.history.iter().zip(&resumed.history) {
                assert_eq!(
                    (&a.genotype, a.train_loss, a.arch_loss, a.child_accuracy),
                    (&b.genotype, b.train_loss, b.arch_loss, b.child_accuracy),
                    "stopped before {}",
                    steps[k - 1]
                );
            }
            assert_eq!(
                resumed.selection,
                full.selection,
                "stopped before {}",
                steps[k - 1]
            );
            std::fs::remove_dir_all(run.path()).unwrap();
        }
    }
}
