//! The flags every example takes, and the search configuration they describe.

use std::path::{Path, PathBuf};

use clap::Args;
use entrannas_data::{DatasetKind, OpenOptions, OpenedDataset, open};
use entrannas_search::SearchConfig;

use crate::ExampleError;
use crate::runner::Existing;

/// Dataset, super-net size, schedule and output flags shared by the examples.
///
/// The defaults are the CPU-scale settings under which docs/RESULTS.md reproduces the
/// paper's tables best: a small super-net (`C = 8`, 5 cells; `table1` 8, the paper's
/// depth), 3 epochs at batch 32, the weight learning rate scaled linearly from the
/// paper's 0.2 at batch 512, the architecture learning rate 0.01 (as the CLI's `quick`
/// preset; the paper's 6e-4 assumes batch 512 and about 2,450 architecture steps, and
/// at this scale leaves `alpha` almost uniform), and the temperature annealed from 5.0
/// to the paper's final 0.1 within the run (`lambda_sweep`: 0.5).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct CommonArgs {
    /// Dataset: embedded (5,000 Fashion-MNIST images compiled in), fashion-mnist,
    /// mnist, cifar10, cifar100, folder.
    #[arg(long, default_value = "embedded")]
    pub dataset: String,
    /// Dataset directory (Fashion-MNIST default: /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Search epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Initial channels C of the super-net.
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    /// Cells L of the super-net (default: the example's, 5 or 8).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Intermediate nodes per cell.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Batch size of both steps.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Weight learning rate (default: 0.2 x batch / 512, the paper's rate scaled).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Adam learning rate of the architecture parameters (the paper's 6e-4 assumes
    /// batch 512 and about 2,450 architecture steps; docs/RESULTS.md measured it
    /// leaving `alpha` almost uniform in searches of this size).
    #[arg(long, default_value_t = 0.01)]
    pub arch_lr: f64,
    /// Temperature at the last epoch (default: the example's; the paper's 50 epochs
    /// end near 0.1).
    #[arg(long)]
    pub tau_final: Option<f64>,
    /// Fraction of the training set that trains the weights.
    #[arg(long, default_value_t = 0.5)]
    pub train_portion: f64,
    /// Fraction of the training set that trains the architecture (default: the rest).
    #[arg(long)]
    pub val_portion: Option<f64>,
    /// Evaluate super-net and child-net on at most this many validation images.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Stop each epoch after this many steps (default: the whole split).
    #[arg(long)]
    pub steps_per_epoch: Option<usize>,
    /// Training batches that re-estimate the child-net's batch-norm statistics before
    /// its recalibrated accuracy is measured, every epoch (0: not measured).
    #[arg(long, default_value_t = 40)]
    pub child_bn_batches: usize,
    /// Seed of everything (split, shuffles, augmentation, initialisation).
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// Output directory; each search writes its run directory below it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite run directories that already hold a run.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue an interrupted experiment in the output directory: searches that
    /// finished there are read back, an interrupted one continues from its last
    /// checkpoint, the missing ones run. Each must have been started with the
    /// configuration these flags give.
    #[arg(long)]
    pub resume: bool,
}

/// An example's own defaults for the flags whose best value differs between examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExampleDefaults {
    /// Cells of the super-net when `--layers` is not given.
    pub layers: usize,
    /// Final temperature when `--tau-final` is not given.
    pub tau_final: f64,
}

impl ExampleDefaults {
    /// 5 cells, temperature annealed to 0.1: the small super-net of most examples.
    pub const SMALL: Self = Self {
        layers: 5,
        tau_final: 0.1,
    };
}

impl CommonArgs {
    /// The search configuration these flags describe, with [`ExampleDefaults::SMALL`]
    /// (method `entran`, standard space, first-cell Engine placement: the experiments
    /// change those).
    pub fn config(&self) -> SearchConfig {
        self.config_with(ExampleDefaults::SMALL)
    }

    /// The search configuration these flags describe, `defaults` for the flags not
    /// given.
    pub fn config_with(&self, defaults: ExampleDefaults) -> SearchConfig {
        let lr = self.lr.unwrap_or(0.2 * self.batch_size as f64 / 512.0);
        SearchConfig::new()
            .with_dataset(self.dataset.clone())
            .with_data_dir(self.data_dir.as_ref().map(|d| d.display().to_string()))
            .with_epochs(self.epochs)
            .with_channels(self.channels)
            .with_layers(self.layers.unwrap_or(defaults.layers))
            .with_nodes(self.nodes)
            .with_batch_size(self.batch_size)
            .with_lr(lr)
            .with_arch_lr(self.arch_lr)
            .with_tau_final(Some(self.tau_final.unwrap_or(defaults.tau_final)))
            .with_train_portion(self.train_portion)
            .with_val_portion(self.val_portion)
            .with_eval_limit(self.eval_limit)
            .with_steps_per_epoch(self.steps_per_epoch)
            .with_child_bn_batches(self.child_bn_batches)
            .with_seed(self.seed)
    }

    /// The output directory: `--out`, else `runs/examples/<name>`.
    pub fn out_dir(&self, name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| Path::new("runs").join("examples").join(name))
    }

    /// What to do with a search whose run directory already holds a run (`--force`,
    /// `--resume`, else refuse).
    pub fn existing(&self) -> Existing {
        if self.force {
            Existing::Overwrite
        } else if self.resume {
            Existing::Resume
        } else {
            Existing::Refuse
        }
    }

    /// Opens the dataset named by `--dataset` and `--data-dir`.
    pub fn open_data(&self) -> Result<OpenedDataset, ExampleError> {
        let kind: DatasetKind = self.dataset.parse()?;
        Ok(open(
            kind,
            self.data_dir.as_deref(),
            &OpenOptions::default(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn flags_reach_the_config_and_the_rate_scales_with_the_batch() {
        let cli = Cli::parse_from(["x", "--batch-size", "128", "--val-portion", "0.1"]);
        let c = cli.common.config();
        assert_eq!(
            (c.channels, c.layers, c.epochs, c.batch_size),
            (8, 5, 3, 128)
        );
        assert!((c.lr - 0.05).abs() < 1e-12, "{}", c.lr);
        assert_eq!(c.val_portion, Some(0.1));
        assert_eq!(c.tau_final, Some(0.1));
        assert_eq!(c.arch_lr, 0.01);
        c.validate().unwrap();
        // An example's defaults apply to the flags not given, never over a flag.
        let deep = ExampleDefaults {
            layers: 8,
            tau_final: 0.5,
        };
        let c = cli.common.config_with(deep);
        assert_eq!((c.layers, c.tau_final, c.batch_size), (8, Some(0.5), 128));
        let cli = Cli::parse_from(["x", "--layers", "6", "--tau-final", "0.2"]);
        let c = cli.common.config_with(deep);
        assert_eq!((c.layers, c.tau_final, c.batch_size), (6, Some(0.2), 32));
        assert!((c.lr - 0.0125).abs() < 1e-12, "{}", c.lr);
        assert_eq!(
            cli.common.out_dir("table1"),
            Path::new("runs/examples/table1")
        );
    }

    #[test]
    fn an_unknown_dataset_is_an_error_naming_it() {
        let cli = Cli::parse_from(["x", "--dataset", "svhn"]);
        let err = cli.common.open_data().unwrap_err().to_string();
        assert!(err.contains("svhn"), "{err}");
    }
}
