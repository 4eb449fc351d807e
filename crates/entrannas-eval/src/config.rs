//! The training configuration of a target-net, with the paper's values as defaults
//! (SPEC section 5). Saved as `config.json` in every run directory.

use std::path::Path;

use burn::config::Config;
use entrannas_cell::{TargetLayout, TargetNetSpec};
use entrannas_data::{DatasetInfo, DatasetKind, OpenOptions, OpenedDataset};
use entrannas_ops::DepthwiseConv;
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// How the learning rate falls from `lr` to `lr_min` over the epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Cosine annealing per epoch (DARTS, CIFAR).
    Cosine,
    /// Linear decay per epoch (PC-DARTS and EnTranNAS, ImageNet).
    Linear,
}

/// How a target-net is trained. [`TrainConfig::new`] (= [`TrainConfig::cifar`]) gives
/// the paper's CIFAR-10 values, [`TrainConfig::imagenet`] its ImageNet values.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Stem and cell layout.
    #[config(default = "TargetLayout::Cifar")]
    pub layout: TargetLayout,
    /// Initial channels `C`.
    #[config(default = 36)]
    pub channels: usize,
    /// Cells `L` (reductions at `L/3` and `2L/3`).
    #[config(default = 20)]
    pub layers: usize,
    /// Auxiliary head after cell `2L/3`.
    #[config(default = true)]
    pub auxiliary: bool,
    /// Weight of the auxiliary loss.
    #[config(default = 0.4)]
    pub auxiliary_weight: f64,
    /// Final drop-path probability, reached linearly from 0 over the epochs.
    #[config(default = 0.2)]
    pub drop_path: f64,
    /// Epochs.
    #[config(default = 600)]
    pub epochs: usize,
    /// Batch size of training and evaluation.
    #[config(default = 96)]
    pub batch_size: usize,
    /// Initial learning rate.
    #[config(default = 0.025)]
    pub lr: f64,
    /// Final learning rate.
    #[config(default = 0.0)]
    pub lr_min: f64,
    /// How the learning rate falls.
    #[config(default = "LrSchedule::Cosine")]
    pub schedule: LrSchedule,
    /// Epochs of linear warm-up from `lr / warmup_epochs` to `lr` (PC-DARTS uses 5 for
    /// batches above 256 on ImageNet).
    #[config(default = 0)]
    pub warmup_epochs: usize,
    /// SGD momentum (PyTorch semantics: no dampening).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Weight decay.
    #[config(default = 3e-4)]
    pub weight_decay: f64,
    /// Global gradient-norm clip (PyTorch's `clip_grad_norm_`); `None`: no clipping.
    #[config(default = "Some(5.0)")]
    pub grad_clip: Option<f64>,
    /// Cutout side in pixels; `None`: no cutout. Replaces the dataset's default.
    #[config(default = "Some(16)")]
    pub cutout: Option<usize>,
    /// Label smoothing of the training loss (0: none).
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// Seed of everything: initialisation, shuffles, augmentation, drop-path.
    #[config(default = 0)]
    pub seed: u64,
    /// Dataset name (`cifar10`, `cifar100`, `fashion-mnist`, `mnist`, `folder`, `embedded`).
    #[config(default = "String::from(\"cifar10\")")]
    pub dataset: String,
    /// Dataset directory (default: the dataset's usual place).
    pub data_dir: Option<String>,
    /// Leave image files that cannot be decoded (image folders) out of the dataset,
    /// counted and reported, instead of stopping at the first one.
    #[config(default = false)]
    pub skip_bad_images: bool,
    /// Stop each epoch after this many steps (`None`: the whole training set).
    pub steps_per_epoch: Option<usize>,
    /// Evaluate on at most this many test images (`None`: all).
    pub eval_limit: Option<usize>,
    /// How depthwise convolutions are computed (`grouped`, `taps`, `tap-weight-grad`):
    /// the same values, a different speed per backend (docs/GPU.md, section 4). The
    /// target-net's operations are built with it ([`crate::TargetNet::set_depthwise`]),
    /// in a training, its resumption and a checkpoint loaded for evaluation.
    #[config(default = "DepthwiseConv::Grouped")]
    pub depthwise: DepthwiseConv,
}

impl TrainConfig {
    /// Reads a config file written by this or an earlier version: fields the file
    /// lacks (added since) take their defaults, where burn's `Config::load` would
    /// refuse the file; a field this version does not know (a misspelt one) is
    /// refused, where `Config::load` would ignore it
    /// ([`entrannas_run::config_file`]).
    ///
    /// # Errors
    /// The file cannot be read, is not a JSON object, has an unknown field or a bad
    /// value (the message names the field).
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        entrannas_run::config_file::read_with_defaults(path, &Self::new())
    }
    /// The paper's CIFAR-10 training: 600 epochs, batch 96, SGD lr 0.025 cosine to 0,
    /// momentum 0.9, wd 3e-4, clip 5, cutout 16, drop-path 0.2, auxiliary 0.4, `C = 36`,
    /// `L = 20`.
    pub fn cifar() -> Self {
        Self::new()
    }

    /// A training that only checks a pipeline in seconds: the CIFAR layout at `C = 4`,
    /// `L = 3`, one epoch of 4 steps at batch 32, the embedded data (its 1,000 test
    /// images). Its accuracy means nothing.
    pub fn smoke() -> Self {
        let mut config = Self::cifar();
        (config.channels, config.layers) = (4, 3);
        (config.epochs, config.batch_size) = (1, 32);
        config.steps_per_epoch = Some(4);
        config.dataset = "embedded".into();
        config
    }

    /// The paper's ImageNet training: 250 epochs, batch 1024, lr 0.5 linearly to 0
    /// (5 warm-up epochs, as PC-DARTS), wd 3e-5, label smoothing 0.1, auxiliary 0.4, no
    /// cutout or drop-path (as DARTS and PC-DARTS), `C = 48`, `L = 14`.
    pub fn imagenet() -> Self {
        Self::new()
            .with_layout(TargetLayout::Imagenet)
            .with_channels(48)
            .with_layers(14)
            .with_epochs(250)
            .with_batch_size(1024)
            .with_lr(0.5)
            .with_schedule(LrSchedule::Linear)
            .with_warmup_epochs(5)
            .with_weight_decay(3e-5)
            .with_label_smoothing(0.1)
            .with_cutout(None)
            .with_drop_path(0.0)
            .with_dataset("folder".into())
    }

    /// The learning rate of `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        if epoch < self.warmup_epochs {
            return self.lr * (epoch + 1) as f64 / self.warmup_epochs as f64;
        }
        let progress = epoch as f64 / self.epochs.max(1) as f64;
        let fraction = match self.schedule {
            LrSchedule::Cosine => 0.5 * (1.0 + (core::f64::consts::PI * progress).cos()),
            LrSchedule::Linear => 1.0 - progress,
        };
        self.lr_min + (self.lr - self.lr_min) * fraction
    }

    /// The drop-path probability of `epoch`: `drop_path * epoch / epochs` (DARTS).
    pub fn drop_path_at(&self, epoch: usize) -> f64 {
        self.drop_path * epoch as f64 / self.epochs.max(1) as f64
    }

    /// The target-net for a dataset described by `info`.
    pub fn target_spec(&self, info: &DatasetInfo) -> TargetNetSpec {
        TargetNetSpec::for_shape(self.layout, info.shape(), info.classes)
            .with_channels(self.channels)
            .with_layers(self.layers)
            .with_auxiliary(self.auxiliary)
    }

    /// Opens the configured dataset (`dataset`, `data_dir`, `skip_bad_images`).
    pub fn open_dataset(&self) -> Result<OpenedDataset, EvalError> {
        let kind: DatasetKind = self.dataset.parse()?;
        let dir = self.data_dir.as_deref().map(Path::new);
        let options = OpenOptions {
            skip_undecodable: self.skip_bad_images,
            ..OpenOptions::default()
        };
        Ok(entrannas_data::open(kind, dir, &options)?)
    }

    /// Checks values that would make training meaningless or fail.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |m: String| Err(EvalError::Config(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad(format!(
                "epochs and batch size must be at least 1, got {} and {}",
                self.epochs, self.batch_size
            ));
        }
        if self.steps_per_epoch == Some(0) || self.eval_limit == Some(0) {
            return bad("steps per epoch and evaluation limit must be at least 1".into());
        }
        let non_negative = [
            ("lr", self.lr),
            ("lr_min", self.lr_min),
            ("weight decay", self.weight_decay),
            ("auxiliary weight", self.auxiliary_weight),
        ];
        if let Some((name, v)) = non_negative
            .iter()
            .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
        {
            return bad(format!(
                "{name} must be a finite non-negative number, got {v}"
            ));
        }
        let fractions = [
            ("drop-path", self.drop_path),
            ("label smoothing", self.label_smoothing),
            ("momentum", self.momentum),
        ];
        if let Some((name, v)) = fractions.iter().find(|(_, v)| !(0.0..1.0).contains(v)) {
            return bad(format!("{name} must be in [0, 1), got {v}"));
        }
        if let Some(clip) = self.grad_clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return bad(format!("gradient clip must be positive, got {clip}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = TrainConfig::cifar();
        assert_eq!(
            (c.epochs, c.batch_size, c.channels, c.layers),
            (600, 96, 36, 20)
        );
        assert_eq!((c.lr, c.momentum, c.weight_decay), (0.025, 0.9, 3e-4));
        assert_eq!(
            (c.grad_clip, c.cutout, c.drop_path),
            (Some(5.0), Some(16), 0.2)
        );
        assert_eq!(c.auxiliary_weight, 0.4);
        let i = TrainConfig::imagenet();
        assert_eq!(
            (i.epochs, i.batch_size, i.channels, i.layers),
            (250, 1024, 48, 14)
        );
        assert_eq!((i.lr, i.weight_decay, i.label_smoothing), (0.5, 3e-5, 0.1));
        c.validate().unwrap();
        i.validate().unwrap();
    }

    #[test]
    fn schedules() {
        let c = TrainConfig::new().with_epochs(10).with_lr(1.0);
        assert_eq!(c.lr_at(0), 1.0);
        assert!((c.lr_at(5) - 0.5).abs() < 1e-12);
        assert!(c.lr_at(9) > 0.0 && c.lr_at(9) < 0.03);
        assert_eq!(c.drop_path_at(0), 0.0);
        assert!((c.drop_path_at(5) - 0.1).abs() < 1e-12);
        let l = c.with_schedule(LrSchedule::Linear).with_warmup_epochs(2);
        assert_eq!((l.lr_at(0), l.lr_at(1)), (0.5, 1.0));
        assert!((l.lr_at(6) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn bad_values_are_refused_and_the_json_round_trips() {
        for c in [
            TrainConfig::new().with_epochs(0),
            TrainConfig::new().with_drop_path(1.0),
            TrainConfig::new().with_lr(f64::NAN),
            TrainConfig::new().with_grad_clip(Some(0.0)),
        ] {
            assert!(matches!(c.validate(), Err(EvalError::Config(_))), "{c:?}");
        }
        assert!(matches!(
            TrainConfig::new()
                .with_dataset("svhn".into())
                .open_dataset(),
            Err(EvalError::Data(_))
        ));
        let c = TrainConfig::imagenet().with_seed(7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        c.save(&path).unwrap();
        assert_eq!(TrainConfig::load(&path).unwrap(), c);
        assert_eq!(TrainConfig::read(&path).unwrap(), c);
        // A misspelt field is refused by name, not left at its default.
        std::fs::write(&path, r#"{"epochs": 3, "drop_prob": 0.3}"#).unwrap();
        let err = TrainConfig::read(&path).unwrap_err();
        assert!(err.contains("unknown field `drop_prob`"), "{err}");
        assert!(err.contains("drop_path"), "{err}");
    }
}
