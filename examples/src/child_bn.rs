//! Why a child-net loses accuracy: the child-net of a finished search evaluated three
//! ways. The search measures it with the batch-norm running statistics accumulated
//! while training the super-net; a child-net whose cells compute different sums (the
//! Engine cells' weighted mixtures become plain sums of the derived paths) sees
//! activations those statistics do not describe. Re-estimating the statistics on
//! training batches through the child-net (BN recalibration), or normalizing each
//! batch by its own statistics, tells that mismatch apart from the weights' quality.

use std::path::{Path, PathBuf};

use burn::tensor::ElementConversion;
use entrannas_data::{DatasetKind, OpenOptions, Prefetch, SearchSplit, open};
use entrannas_run::RunDir;
use entrannas_search::Derivation;
use entrannas_search::{SearchConfig, Searcher};

use crate::{Cpu, ExampleError, Table, pct};

/// One run's child-net, evaluated three ways on the architecture split.
#[derive(Debug, Clone, PartialEq)]
pub struct BnCheck {
    /// The run directory.
    pub run: PathBuf,
    /// Super-net accuracy with the running statistics (as the search reports it).
    pub supernet: f64,
    /// Child-net accuracy with the running statistics (as the search reports it).
    pub child: f64,
    /// Super-net accuracy after re-estimating the running statistics through it
    /// ([`Searcher::evaluate_recalibrated`] on `calibration_batches` batches).
    pub supernet_recalibrated: f64,
    /// Child-net accuracy after re-estimating the running statistics through it.
    pub child_recalibrated: f64,
    /// The training batches the recalibration averaged.
    pub calibration_batches: usize,
    /// Child-net accuracy with every batch normalized by its own statistics.
    pub child_batch_stats: f64,
}

/// Child-net forwards of `order`'s images of `data` on the autodiff backend, where
/// batch norm normalizes by each batch's statistics and updates the running ones.
/// Returns the fraction classified correctly.
fn child_train_mode(
    searcher: &Searcher<Cpu>,
    derivation: &Derivation,
    data: &entrannas_data::ImageDataset,
    order: Vec<usize>,
) -> Result<f64, ExampleError> {
    let batches = Prefetch::start(data, order, searcher.config().batch_size, 0);
    let (mut correct, mut total) = (0usize, 0usize);
    while let Some(batch) = batches.next_batch::<Cpu>(searcher.device())? {
        let n = batch.targets.dims()[0];
        let logits =
            searcher
                .net()
                .forward_child(batch.images, &derivation.normal, &derivation.reduce);
        // The autodiff backend keeps each forward's graph until a backward pass
        // consumes it: without one, memory grows with every batch.
        let _ = logits.clone().sum().backward();
        let hits: f64 = logits
            .argmax(1)
            .reshape([n])
            .equal(batch.targets)
            .float()
            .sum()
            .into_scalar()
            .elem();
        correct += hits.round() as usize;
        total += n;
    }
    Ok(correct as f64 / total.max(1) as f64)
}

/// Evaluates the child-net of the finished search in `run_dir` (its last checkpoint,
/// at its last epoch's temperature) on the dataset its `config.json` names. The
/// recalibration averages `batches` training batches; `None` takes the run's
/// `child_bn_batches` (the default where the run skipped the measurement).
pub fn check(run_dir: &Path, batches: Option<usize>) -> Result<BnCheck, ExampleError> {
    let run = RunDir::open(run_dir)?;
    let config = SearchConfig::from_run(&run)?;
    let kind: DatasetKind = config.dataset.parse()?;
    let data = open(
        kind,
        config.data_dir.as_deref().map(Path::new),
        &OpenOptions::default(),
    )?;
    let device = Default::default();
    let mut searcher = Searcher::<Cpu>::new(config.clone(), &data.info, &device)?;
    let epochs = searcher.load_checkpoint(&run)?;
    let history: Vec<entrannas_search::EpochRecord> = run.history(epochs)?;
    let tau = history
        .last()
        .map(|r| r.tau)
        .ok_or_else(|| ExampleError::Usage(format!("{}: no epoch recorded", run_dir.display())))?;
    let derivation = searcher.derive(tau)?;
    let split = SearchSplit {
        train_portion: config.train_portion,
        val_portion: config.val_portion,
        seed: config.seed,
    };
    let search = data.search_split(&split)?;
    let val = search.val.clone().with_augment(None, config.seed);
    let (supernet, child) = searcher.evaluate(&val, &derivation, tau)?;
    let limit = config.eval_limit.map_or(val.source_indices().len(), |l| {
        l.min(val.source_indices().len())
    });
    let train = search.train.clone().with_augment(None, config.seed);
    let batches = batches.unwrap_or(match config.child_bn_batches {
        0 => SearchConfig::new().child_bn_batches,
        batches => batches,
    });
    let (supernet_recalibrated, child_recalibrated) =
        searcher.evaluate_recalibrated(&train, &val, &derivation, tau, batches, 0)?;
    let child_batch_stats = child_train_mode(&searcher, &derivation, &val, (0..limit).collect())?;
    Ok(BnCheck {
        run: run_dir.to_path_buf(),
        supernet,
        child,
        supernet_recalibrated,
        child_recalibrated,
        calibration_batches: batches,
        child_batch_stats,
    })
}

/// The checks as a table, one row per run.
pub fn table(checks: &[BnCheck]) -> Table {
    let mut table = Table::new([
        "run",
        "super-net (%)",
        "child-net, running BN (%)",
        "super-net, recalibrated BN (%)",
        "child-net, recalibrated BN (%)",
        "calibration batches",
        "child-net, batch BN (%)",
    ]);
    for c in checks {
        table.push([
            c.run.display().to_string(),
            pct(c.supernet),
            pct(c.child),
            pct(c.supernet_recalibrated),
            pct(c.child_recalibrated),
            c.calibration_batches.to_string(),
            pct(c.child_batch_stats),
        ]);
    }
    table
}
