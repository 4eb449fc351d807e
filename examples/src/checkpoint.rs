//! A search run's last checkpoint, loaded for a measurement (`cell_drift`,
//! `gap_decomposition`): its configuration, data, searcher, temperature and derivation.

use std::path::{Path, PathBuf};

use entrannas_data::{
    DatasetKind, ImageDataset, OpenOptions, OpenedDataset, SearchData, SearchSplit, open,
};
use entrannas_run::RunDir;
use entrannas_search::Derivation;
use entrannas_search::{SearchConfig, Searcher};

use crate::{Cpu, ExampleError};

/// A search as its last checkpoint left it.
pub struct LoadedSearch {
    /// The run's configuration.
    pub config: SearchConfig,
    /// The searcher with the checkpoint's weights and architecture.
    pub searcher: Searcher<Cpu>,
    /// Epochs the checkpoint holds (at least 1).
    pub epochs: usize,
    /// The temperature of its last epoch.
    pub tau: f64,
    /// The derivation at that temperature.
    pub derivation: Derivation,
    /// The run's weight and architecture splits.
    pub split: SearchData,
}

impl LoadedSearch {
    /// The architecture split without augmentation: the images the search evaluated its
    /// super-net and child-net on (the first `eval_limit` of them are used there).
    pub fn evaluation_images(&self) -> ImageDataset {
        self.split.val.clone().with_augment(None, self.config.seed)
    }
}

/// Loads the last checkpoint of the search in `run`, its dataset from `data_dir` or
/// where its configuration says. A run without a checkpoint is an error naming it.
pub fn load_search(run: &Path, data_dir: Option<&Path>) -> Result<LoadedSearch, ExampleError> {
    let dir = RunDir::open(run)?;
    let config = SearchConfig::from_run(&dir)?;
    let kind: DatasetKind = config.dataset.parse()?;
    let data_dir = data_dir
        .map(Path::to_path_buf)
        .or_else(|| config.data_dir.as_ref().map(PathBuf::from));
    let data: OpenedDataset = open(kind, data_dir.as_deref(), &OpenOptions::default())?;
    let mut searcher = Searcher::<Cpu>::new(config.clone(), &data.info, &Default::default())?;
    let epochs = searcher.load_checkpoint(&dir)?;
    if epochs == 0 {
        return Err(ExampleError::Usage(format!(
            "{} has no checkpoint to measure",
            run.display()
        )));
    }
    let tau = config.schedule().at_epoch(epochs - 1);
    let derivation = searcher.derive(tau)?;
    let split = data.search_split(&SearchSplit {
        train_portion: config.train_portion,
        val_portion: config.val_portion,
        seed: config.seed,
    })?;
    Ok(LoadedSearch {
        config,
        searcher,
        epochs,
        tau,
        derivation,
        split,
    })
}
