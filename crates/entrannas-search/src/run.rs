//! Run directories: what a search writes, and resuming from its last checkpoint.
//!
//! A run directory holds `config.json`, `history.jsonl` (one [`EpochRecord`] per
//! line), `metrics.csv`, the selected epoch's `genotype.json`, `genotype.txt` (DARTS
//! form), `normal.svg` and `reduce.svg`, `selection.json` (which epoch and why), and
//! `checkpoint/` (weights, architecture parameters and both optimizers' states in full
//! precision, plus `state.json`). The checkpoint is written to `checkpoint.tmp` and
//! renamed, so a search killed while saving keeps the previous one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use entrannas_cell::{TargetLayout, TargetNetSpec, cell_svg, target_net_cost};
use entrannas_data::{OpenedDataset, SearchSplit};
use entrannas_ops::OpRegistry;
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::config::SearchConfig;
use crate::searcher::{EpochRecord, SearchObserver, Searcher};
use crate::supernet::StemLayout;

/// The checkpoint's bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The entrannas version that wrote it.
    pub version: String,
}

/// Which epoch's genotype a run selected, and by which rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The selected epoch (0-based).
    pub epoch: usize,
    /// The rule: `best child-net accuracy on the architecture split (ties: later epoch)`.
    pub rule: String,
    /// The selected epoch's child-net accuracy.
    pub child_accuracy: f64,
    /// The selected epoch's super-net accuracy.
    pub supernet_accuracy: f64,
}

/// The result of a finished search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Every epoch's record.
    pub history: Vec<EpochRecord>,
    /// The selected epoch.
    pub selection: Selection,
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SearchError + 'a {
    move |source| SearchError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

type Rec = NamedMpkFileRecorder<FullPrecisionSettings>;

impl RunDir {
    /// A new run directory at `path`. A directory that already holds a run
    /// (`config.json`) is refused unless `force`, which clears it.
    pub fn create(path: impl Into<PathBuf>, force: bool) -> Result<Self, SearchError> {
        let path = path.into();
        if path.join("config.json").exists() {
            if !force {
                return Err(SearchError::RunExists(path));
            }
            fs::remove_dir_all(&path).map_err(io("cannot clear", &path))?;
        }
        fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        Ok(Self { path })
    }

    /// An existing run directory, to resume.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SearchError> {
        let path = path.into();
        let config = path.join("config.json");
        if !config.is_file() {
            return Err(SearchError::Corrupt {
                path: config,
                message: "missing: not a search run directory".into(),
            });
        }
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `config.json`.
    pub fn config(&self) -> Result<SearchConfig, SearchError> {
        let path = self.path.join("config.json");
        SearchConfig::load(&path).map_err(|e| SearchError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    fn write(&self, name: &str, contents: &str) -> Result<(), SearchError> {
        let path = self.path.join(name);
        fs::write(&path, contents).map_err(io("cannot write", &path))
    }

    /// Reads the history, keeping only the first `epochs` records (a run killed after
    /// writing a record but before its checkpoint repeats that epoch).
    pub fn history(&self, epochs: usize) -> Result<Vec<EpochRecord>, SearchError> {
        let path = self.path.join("history.jsonl");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = fs::read_to_string(&path).map_err(io("cannot read", &path))?;
        let mut history = Vec::new();
        for (line_number, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            if history.len() == epochs {
                break;
            }
            let record: EpochRecord =
                serde_json::from_str(line).map_err(|e| SearchError::Corrupt {
                    path: path.clone(),
                    message: format!("line {}: {e}", line_number + 1),
                })?;
            history.push(record);
        }
        if history.len() < epochs {
            return Err(SearchError::Corrupt {
                path,
                message: format!(
                    "{} epochs recorded, the checkpoint has {epochs}",
                    history.len()
                ),
            });
        }
        Ok(history)
    }

    /// Rewrites `history.jsonl` and `metrics.csv` and the selected genotype files.
    fn write_records(&self, history: &[EpochRecord]) -> Result<Selection, SearchError> {
        let mut jsonl = String::new();
        let mut csv = String::from(
            "epoch,lr,tau,train_loss,train_accuracy,arch_loss,supernet_accuracy,child_accuracy,gap,normal_connections,reduce_connections,normal_skips,target_params,target_flops,seconds\n",
        );
        for r in history {
            jsonl.push_str(&serde_json::to_string(r).expect("records serialise"));
            jsonl.push('\n');
            let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
            csv.push_str(&format!(
                "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{},{:.3}\n",
                r.epoch,
                r.lr,
                r.tau,
                r.train_loss,
                r.train_accuracy,
                r.arch_loss,
                r.supernet_accuracy,
                r.child_accuracy,
                r.gap,
                r.normal.connections,
                r.reduce.connections,
                r.normal.skip_connects,
                opt(r.target_params),
                opt(r.target_flops),
                r.seconds
            ));
        }
        self.write("history.jsonl", &jsonl)?;
        self.write("metrics.csv", &csv)?;
        let best = select(history).expect("at least one epoch");
        let genotype = &history[best.epoch].genotype;
        self.write("genotype.json", &genotype.to_json())?;
        self.write("genotype.txt", &format!("{}\n", genotype.to_darts_text()))?;
        self.write("normal.svg", &cell_svg(&genotype.normal, "normal cell"))?;
        self.write("reduce.svg", &cell_svg(&genotype.reduce, "reduction cell"))?;
        self.write(
            "selection.json",
            &serde_json::to_string_pretty(&best).expect("selection serialises"),
        )?;
        Ok(best)
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.path.join("checkpoint")
    }

    /// Saves the searcher after `epochs_done` epochs.
    pub fn save_checkpoint<B: AutodiffBackend>(
        &self,
        searcher: &Searcher<B>,
        epochs_done: usize,
    ) -> Result<(), SearchError> {
        let tmp = self.path.join("checkpoint.tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io("cannot clear", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io("cannot create", &tmp))?;
        let recorder = Rec::new();
        let fail = |path: PathBuf| {
            move |e: burn::record::RecorderError| SearchError::Checkpoint {
                path,
                message: e.to_string(),
            }
        };
        searcher
            .net
            .clone()
            .save_file(tmp.join("net"), &recorder)
            .map_err(fail(tmp.join("net.mpk")))?;
        searcher
            .arch
            .clone()
            .save_file(tmp.join("arch"), &recorder)
            .map_err(fail(tmp.join("arch.mpk")))?;
        Recorder::<B>::record(
            &recorder,
            searcher.weight_optimizer.to_record(),
            tmp.join("weight_optimizer"),
        )
        .map_err(fail(tmp.join("weight_optimizer.mpk")))?;
        Recorder::<B>::record(
            &recorder,
            searcher.arch_optimizer.to_record(),
            tmp.join("arch_optimizer"),
        )
        .map_err(fail(tmp.join("arch_optimizer.mpk")))?;
        let state = CheckpointState {
            epochs_done,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let state_path = tmp.join("state.json");
        let mut file = fs::File::create(&state_path).map_err(io("cannot write", &state_path))?;
        file.write_all(
            serde_json::to_string_pretty(&state)
                .expect("state serialises")
                .as_bytes(),
        )
        .and_then(|_| file.sync_all())
        .map_err(io("cannot write", &state_path))?;
        let dir = self.checkpoint_dir();
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io("cannot replace", &dir))?;
        }
        fs::rename(&tmp, &dir).map_err(io("cannot move into place", &dir))
    }

    /// Loads the checkpoint into a freshly built searcher; returns the epochs done.
    pub fn load_checkpoint<B: AutodiffBackend>(
        &self,
        searcher: &mut Searcher<B>,
    ) -> Result<usize, SearchError> {
        let dir = self.checkpoint_dir();
        let state_path = dir.join("state.json");
        let text = fs::read_to_string(&state_path).map_err(io("cannot read", &state_path))?;
        let state: CheckpointState =
            serde_json::from_str(&text).map_err(|e| SearchError::Corrupt {
                path: state_path.clone(),
                message: e.to_string(),
            })?;
        let recorder = Rec::new();
        let device = searcher.device().clone();
        let fail = |path: PathBuf| {
            move |e: burn::record::RecorderError| SearchError::Checkpoint {
                path,
                message: e.to_string(),
            }
        };
        searcher.net = searcher
            .net
            .clone()
            .load_file(dir.join("net"), &recorder, &device)
            .map_err(fail(dir.join("net.mpk")))?;
        searcher.arch = searcher
            .arch
            .clone()
            .load_file(dir.join("arch"), &recorder, &device)
            .map_err(fail(dir.join("arch.mpk")))?;
        let record = Recorder::<B>::load(&recorder, dir.join("weight_optimizer"), &device)
            .map_err(fail(dir.join("weight_optimizer.mpk")))?;
        searcher.weight_optimizer = searcher.weight_optimizer.clone().load_record(record);
        let record = Recorder::<B>::load(&recorder, dir.join("arch_optimizer"), &device)
            .map_err(fail(dir.join("arch_optimizer.mpk")))?;
        searcher.arch_optimizer = searcher.arch_optimizer.clone().load_record(record);
        Ok(state.epochs_done)
    }
}

/// The selection rule: the epoch with the best child-net accuracy on the architecture
/// split; ties go to the later epoch (further annealed).
pub fn select(history: &[EpochRecord]) -> Option<Selection> {
    let best = history.iter().max_by(|a, b| {
        a.child_accuracy
            .total_cmp(&b.child_accuracy)
            .then(a.epoch.cmp(&b.epoch))
    })?;
    Some(Selection {
        epoch: best.epoch,
        rule: "best child-net accuracy on the architecture split (ties: later epoch)".into(),
        child_accuracy: best.child_accuracy,
        supernet_accuracy: best.supernet_accuracy,
    })
}

/// Runs (or, with `resume`, continues) a search in `run`, writing every file after
/// every epoch. `config` is ignored when resuming: the run's own `config.json` is used.
pub fn run_search<B: AutodiffBackend>(
    config: &SearchConfig,
    data: &OpenedDataset,
    run: &RunDir,
    resume: bool,
    observer: &mut dyn SearchObserver,
    device: &B::Device,
) -> Result<SearchOutcome, SearchError> {
    let config = if resume {
        run.config()?
    } else {
        config.clone()
    };
    let mut searcher = Searcher::<B>::new(config.clone(), &data.info, device)?;
    let (start, mut history) = if resume && run.checkpoint_dir().join("state.json").exists() {
        let done = run.load_checkpoint(&mut searcher)?;
        (done, run.history(done)?)
    } else {
        let path = run.path().join("config.json");
        config.save(&path).map_err(io("cannot write", &path))?;
        (0, Vec::new())
    };
    let split = SearchSplit {
        train_portion: config.train_portion,
        val_portion: config.val_portion,
        seed: config.seed,
    };
    let search = data.search_split(&split)?;
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
    let registry = OpRegistry::default();
    for epoch in start..config.epochs {
        let mut record =
            searcher.train_epoch(epoch, &search.train, &search.val, &val_eval, observer)?;
        match target_net_cost(&record.genotype, &target, &registry) {
            Ok(cost) => {
                record.target_params = Some(cost.params);
                record.target_flops = Some(cost.flops);
            }
            Err(e) => {
                tracing::warn!("epoch {epoch}: the derived target-net cannot be counted: {e}")
            }
        }
        history.push(record);
        run.write_records(&history)?;
        run.save_checkpoint(&searcher, epoch + 1)?;
        if epoch + 1 < config.epochs && observer.should_stop() {
            return Err(SearchError::Stopped {
                run: run.path().to_path_buf(),
                epochs_done: epoch + 1,
            });
        }
    }
    let selection =
        select(&history).ok_or_else(|| SearchError::Config("the search ran no epoch".into()))?;
    Ok(SearchOutcome { history, selection })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Method, OpSpace};
    use burn::backend::{Autodiff, NdArray};
    use entrannas_data::{AugmentConfig, DatasetInfo, DatasetKind, InMemoryImages};

    type B = Autodiff<NdArray<f32>>;

    /// burn's CPU backends seed one process-wide generator: tests that initialise
    /// networks take turns so each sees only its own seed.
    static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn seeded() -> std::sync::MutexGuard<'static, ()> {
        SEEDED.lock().unwrap_or_else(|e| e.into_inner())
    }

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
    fn every_method_runs_and_writes_its_run_directory() {
        let _turn = seeded();
        for method in [Method::Entran, Method::Dst, Method::Darts] {
            let dir = tempfile::tempdir().unwrap();
            let run = RunDir::create(dir.path().join("run"), false).unwrap();
            let config = tiny(method).with_epochs(2);
            let outcome =
                run_search::<B>(&config, &data(), &run, false, &mut (), &Default::default())
                    .unwrap();
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
                assert!(r.train_loss.is_finite() && (0.0..=1.0).contains(&r.child_accuracy));
                assert!(r.target_params.unwrap() > 0 && r.target_flops.unwrap() > 0);
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
                Err(SearchError::RunExists(_))
            ));
        }
    }

    #[test]
    fn a_resumed_search_ends_like_an_uninterrupted_one() {
        let _turn = seeded();
        let config = tiny(Method::Dst);
        let dir = tempfile::tempdir().unwrap();
        let straight = RunDir::create(dir.path().join("straight"), false).unwrap();
        let full = run_search::<B>(
            &config,
            &data(),
            &straight,
            false,
            &mut (),
            &Default::default(),
        )
        .unwrap();

        struct StopAfterOne;
        impl SearchObserver for StopAfterOne {
            fn should_stop(&mut self) -> bool {
                true
            }
        }
        let interrupted = RunDir::create(dir.path().join("interrupted"), false).unwrap();
        let stopped = run_search::<B>(
            &config,
            &data(),
            &interrupted,
            false,
            &mut StopAfterOne,
            &Default::default(),
        );
        assert!(matches!(
            stopped,
            Err(SearchError::Stopped { epochs_done: 1, .. })
        ));
        let resumed = run_search::<B>(
            &config,
            &data(),
            &RunDir::open(interrupted.path()).unwrap(),
            true,
            &mut (),
            &Default::default(),
        )
        .unwrap();

        assert_eq!(resumed.history.len(), full.history.len());
        // Within one process, SIMD and multi-threaded CPU kernels may round sums
        // differently between two runs (separate processes repeat bit for bit), so
        // floats agree to rounding; a resume bug moves them far more.
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-4 * x.abs().max(y.abs()).max(1e-3);
        for (a, b) in full.history.iter().zip(&resumed.history) {
            assert_eq!(a.genotype, b.genotype, "epoch {}", a.epoch);
            assert!(close(a.train_loss, b.train_loss), "epoch {}", a.epoch);
            assert!(close(a.arch_loss, b.arch_loss), "epoch {}", a.epoch);
            assert!(
                close(a.child_accuracy, b.child_accuracy),
                "epoch {}",
                a.epoch
            );
            let alphas = |r: &EpochRecord| -> Vec<f64> {
                [&r.arch.normal.alpha, &r.arch.reduce.alpha]
                    .into_iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .collect()
            };
            for (x, y) in alphas(a).into_iter().zip(alphas(b)) {
                assert!(close(x, y), "epoch {}: alpha {x} vs {y}", a.epoch);
            }
        }
    }

    #[test]
    fn a_broken_checkpoint_is_an_error_naming_the_file() {
        let _turn = seeded();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run"), false).unwrap();
        let config = tiny(Method::Entran).with_epochs(1);
        run_search::<B>(&config, &data(), &run, false, &mut (), &Default::default()).unwrap();
        std::fs::write(run.path().join("checkpoint/net.mpk"), b"garbage").unwrap();
        let err = run_search::<B>(&config, &data(), &run, true, &mut (), &Default::default())
            .expect_err("corrupt checkpoint must fail")
            .to_string();
        assert!(err.contains("net.mpk"), "{err}");
    }

    #[test]
    fn every_epoch_records_the_derivation_of_its_final_architecture() {
        // DARTS skips the per-step derivation (no cell uses it): the record must still
        // hold the genotype of the epoch's final alpha, as the other methods' do.
        let _turn = seeded();
        for method in [Method::Darts, Method::Entran, Method::Dst] {
            let dir = tempfile::tempdir().unwrap();
            let run = RunDir::create(dir.path().join("run"), false).unwrap();
            let config = tiny(method).with_epochs(2);
            let outcome =
                run_search::<B>(&config, &data(), &run, false, &mut (), &Default::default())
                    .unwrap();
            for record in &outcome.history {
                let derived = entrannas_relax::derive_report(&record.arch, method.rule())
                    .unwrap()
                    .genotype;
                assert_eq!(record.genotype, derived, "{method}, epoch {}", record.epoch);
            }
        }
    }
}
