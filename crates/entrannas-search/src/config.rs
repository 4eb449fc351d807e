//! The search configuration: every hyperparameter of SPEC sections 2 and 4, with the
//! paper's values as defaults. Saved as `config.json` in every run directory.

use core::fmt;
use core::str::FromStr;

use burn::config::Config;
use entrannas_ops::DepthwiseConv;

use crate::SearchError;
use crate::space::{EnginePlacement, Method, OpSpace};
use crate::supernet::{StemLayout, SuperNetConfig};

/// A search's configuration. `Config::load` / `save` read and write it as JSON.
#[derive(Config, Debug, PartialEq)]
pub struct SearchConfig {
    /// `entran` (default), `dst` or `darts`.
    #[config(default = "Method::Entran")]
    pub method: Method,
    /// `standard` (8 ops) or `extended` (13 ops); see [`SearchConfig::ops`].
    #[config(default = "OpSpace::Standard")]
    pub space: OpSpace,
    /// The candidate operations by registered name, replacing the space's list
    /// (`--ops`): any built-in or any op registered in the [`entrannas_ops::OpRegistry`]
    /// the search is given. `None`: the space's list.
    pub candidate_ops: Option<Vec<String>>,
    /// Engine-cell placement: `first` (default), `last`, `half`, `all`. DARTS uses `all`.
    #[config(default = "EnginePlacement::First")]
    pub engine: EnginePlacement,
    /// Feature sharing (off for DARTS).
    #[config(default = true)]
    pub sharing: bool,
    /// Bottleneck ratio (Appendix B.4: 4); `None` for none.
    #[config(default = "Some(4)")]
    pub bottleneck: Option<usize>,
    /// Initial channels `C`.
    #[config(default = 16)]
    pub channels: usize,
    /// Cells `L`.
    #[config(default = 8)]
    pub layers: usize,
    /// Intermediate nodes per cell.
    #[config(default = 4)]
    pub nodes: usize,
    /// Epochs.
    #[config(default = 50)]
    pub epochs: usize,
    /// Batch size of both the weight and the architecture step (512 with bottleneck).
    #[config(default = 512)]
    pub batch_size: usize,
    /// Weight learning rate at epoch 0, cosine-annealed to `lr_min` (0.2 at batch 512).
    #[config(default = 0.2)]
    pub lr: f64,
    /// Final weight learning rate.
    #[config(default = 0.0)]
    pub lr_min: f64,
    /// SGD momentum (no dampening, as PyTorch).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Weight decay of the network weights.
    #[config(default = 3e-4)]
    pub weight_decay: f64,
    /// Global gradient-norm clip of the weight step.
    #[config(default = 5.0)]
    pub grad_clip: f64,
    /// Adam learning rate of the architecture parameters.
    #[config(default = 6e-4)]
    pub arch_lr: f64,
    /// Adam beta1 of the architecture step.
    #[config(default = 0.5)]
    pub arch_beta1: f64,
    /// Adam beta2 of the architecture step.
    #[config(default = 0.999)]
    pub arch_beta2: f64,
    /// Adam epsilon (PyTorch's 1e-8; burn's default is 1e-5).
    #[config(default = 1e-8)]
    pub arch_epsilon: f64,
    /// Weight decay of the architecture parameters.
    #[config(default = 1e-3)]
    pub arch_weight_decay: f64,
    /// Initial temperature; `None` takes the method's (5.0, DARTS 1.0).
    pub tau0: Option<f64>,
    /// Temperature factor per epoch; `None` takes the method's (0.923, DARTS 1.0).
    pub tau_factor: Option<f64>,
    /// Temperature wanted at the last epoch. When set, it replaces `tau_factor`: the
    /// factor becomes `(tau_final / tau0)^(1 / (epochs - 1))`, so a short search anneals
    /// as far as the paper's 50 epochs do (5.0 x 0.923^49 ~= 0.1). DARTS, whose
    /// softmax has no temperature (a constant 1), ignores it unless `tau0` is set.
    pub tau_final: Option<f64>,
    /// DST sparsity weight `lambda` (Eq. 11), applied per cell type: each of the
    /// normal and the reduction cell adds `lambda / n * sum_j -log t(j)` over its own
    /// `n` nodes, so `lambda` weighs each cell type as the paper's single cell (SPEC
    /// 3.7). Runs before 2026-12-07 divided the sum over both types by `2 n`, half this.
    #[config(default = 0.1)]
    pub lambda: f64,
    /// Standard deviation of the initial `alpha` (DARTS: 1e-3).
    #[config(default = 1e-3)]
    pub alpha_std: f64,
    /// Initial `beta` (0: `t = 0.5`, every connection active at the start).
    #[config(default = 0.0)]
    pub beta_init: f64,
    /// Most `skip_connect`s a top-2 cell may keep (`None`: no cap).
    pub max_skip: Option<usize>,
    /// Fraction of the training set used for the weights; the rest trains the
    /// architecture.
    #[config(default = 0.5)]
    pub train_portion: f64,
    /// Fraction of the training set that trains the architecture; `None` takes the
    /// rest, `1 - train_portion` (the paper's ImageNet search: 0.1 and 0.1).
    pub val_portion: Option<f64>,
    /// Seed of everything: split, shuffles, augmentation, initialisation.
    #[config(default = 2)]
    pub seed: u64,
    /// Dataset name (`embedded`, `fashion-mnist`, `cifar10`, `cifar100`, `folder`).
    #[config(default = "String::from(\"embedded\")")]
    pub dataset: String,
    /// Dataset directory (default: the dataset's usual place).
    pub data_dir: Option<String>,
    /// Leave image files that cannot be decoded (image folders) out of the dataset,
    /// counted and reported, instead of stopping at the first one.
    #[config(default = false)]
    pub skip_bad_images: bool,
    /// Stem layout (`cifar` for small images, `imagenet` for 224).
    #[config(default = "StemLayout::Cifar")]
    pub stem: StemLayout,
    /// Stop each epoch after this many steps (`None`: the whole split).
    pub steps_per_epoch: Option<usize>,
    /// Evaluate super-net and child-net on at most this many validation images.
    pub eval_limit: Option<usize>,
    /// Batches of the weights' split run through the super-net and, separately, the
    /// child-net after each epoch, to re-estimate each network's batch-norm
    /// statistics before its accuracy is measured a second time (BN recalibration;
    /// the super-net's statistics are restored afterwards). Each batch norm gets the
    /// uniform average of these batches' statistics ("precise BN"): more batches, less
    /// noise. 0 skips the measurement.
    #[config(default = 40)]
    pub child_bn_batches: usize,
    /// Data parallelism: each batch is split into this many shards, as equal as
    /// possible, and each shard runs forward and backward on its own replica of the
    /// super-net (shard `s` on device `s mod devices`); the gradients are summed
    /// weighted by shard size, so a weight or architecture step equals the whole
    /// batch's except for batch norm, which normalizes each shard by its own
    /// statistics (as PyTorch's `DataParallel`). The results depend on the shards, not
    /// on the devices: a search with 2 shards gives the same history on 1 device as on
    /// 2. 1: no splitting.
    #[config(default = 1)]
    pub shards: usize,
    /// How depthwise convolutions are computed (`grouped`, `taps`, `tap-weight-grad`):
    /// the same values, a different speed per backend (docs/GPU.md, section 4). The
    /// super-net's operations are built with it ([`crate::SuperNet::set_depthwise`]),
    /// so a resumed search computes as the interrupted one did, and searches of other
    /// strategies in the same process are not affected.
    #[config(default = "DepthwiseConv::Grouped")]
    pub depthwise: DepthwiseConv,
}

/// A named starting configuration; `--config` files and flags override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// [`SearchConfig::quick`]: a small super-net for a few minutes on a CPU.
    Quick,
    /// [`SearchConfig::paper`]: the paper's CIFAR-10 search.
    Paper,
}

impl Preset {
    /// Every preset, in the order the CLI lists them.
    pub const ALL: [Preset; 2] = [Preset::Quick, Preset::Paper];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Quick => "quick",
            Preset::Paper => "paper",
        }
    }

    /// The configuration this preset names.
    pub fn config(self) -> SearchConfig {
        match self {
            Preset::Quick => SearchConfig::quick(),
            Preset::Paper => SearchConfig::paper(),
        }
    }
}

crate::space::named_enum!(Preset, "preset");

/// The quick preset's architecture learning rate (see [`SearchConfig::quick`]).
const QUICK_ARCH_LR: f64 = 0.01;

impl SearchConfig {
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

    /// The paper's search (SPEC sections 2 and 4): `C = 16`, 8 cells, 50 epochs,
    /// batch 512 at learning rate 0.2, temperature 5.0 annealed by 0.923 per epoch.
    /// The same as [`SearchConfig::new`].
    pub fn paper() -> Self {
        Self::new()
    }

    /// A search that finishes in a few minutes on two CPU cores (the embedded
    /// Fashion-MNIST subset: about 5 minutes, see the README): the paper's method
    /// with a small super-net, `C = 8` and 5 cells, for 4 epochs at batch 64.
    ///
    /// * The weight learning rate follows the linear scaling rule from the paper's
    ///   0.2 at batch 512: `0.2 x 64 / 512 = 0.025`, which is also DARTS's own rate at
    ///   batch 64.
    /// * The temperature still ends where the paper's 50 epochs end: `tau_final = 0.1`
    ///   anneals 5.0 to 0.1 over the 4 epochs (factor `0.02^(1/3) ~= 0.27` per epoch),
    ///   so the last epochs' child-nets are as close to their super-nets as the
    ///   paper's.
    /// * The architecture learning rate keeps the paper's total movement of `alpha`:
    ///   the paper's Adam takes about 2,450 steps of 6e-4 (25,000 images at batch 512
    ///   for 50 epochs); this search takes about 160 (2,500 at batch 64 for 4
    ///   epochs), so `6e-4 x 2450 / 160 ~= 0.01`. Measured on the embedded data (seed
    ///   2, last epoch, super-net / child-net validation accuracy): with 6e-4, `alpha`
    ///   stayed within +-0.04, `p` was still almost uniform at `tau = 0.1`, the Transit
    ///   cells' derivation flipped from step to step, 41% / 11%; with 0.02, 34% / 25%;
    ///   with 0.01, 53% / 36%. The other Adam settings are the paper's.
    pub fn quick() -> Self {
        Self::new()
            .with_channels(8)
            .with_layers(5)
            .with_epochs(4)
            .with_batch_size(64)
            .with_lr(0.2 * 64.0 / 512.0)
            .with_arch_lr(QUICK_ARCH_LR)
            .with_tau_final(Some(0.1))
    }

    /// A search that only checks a pipeline in seconds (an installation, a program
    /// embedding the library, CI): the `quick` settings on a super-net of `C = 4`, 3
    /// cells, 2 epochs of 4 steps at batch 32, 64 images measured, 2 batches of BN
    /// recalibration. Its genotype means nothing.
    pub fn smoke() -> Self {
        Self::quick()
            .with_channels(4)
            .with_layers(3)
            .with_epochs(2)
            .with_batch_size(32)
            .with_lr(0.2 * 32.0 / 512.0)
            .with_steps_per_epoch(Some(4))
            .with_eval_limit(Some(64))
            .with_child_bn_batches(2)
    }

    /// The candidate ops: [`SearchConfig::candidate_ops`] when given, else those of the
    /// configured space for the method (DST leaves `none` out).
    pub fn ops(&self) -> Vec<String> {
        self.candidate_ops
            .clone()
            .unwrap_or_else(|| self.space.ops(self.method))
    }

    /// Checks the candidate ops against `registry`: every name registered, none twice,
    /// at least one that is not `none`, and no `none` for DST (its thresholds prune
    /// edges instead). The error names the op and lists the registered ones.
    pub fn validate_ops(&self, registry: &entrannas_ops::OpRegistry) -> Result<(), SearchError> {
        let ops = self.ops();
        let bad = |m: String| Err(SearchError::Config(m));
        let listed = || registry.names().join(", ");
        for (i, op) in ops.iter().enumerate() {
            if !registry.contains(op) {
                return bad(format!(
                    "unknown candidate op `{op}`; the registered ops are: {}",
                    listed()
                ));
            }
            if ops[..i].contains(op) {
                return bad(format!("candidate op `{op}` is listed twice"));
            }
        }
        if ops.iter().all(|op| registry.is_zero(op)) {
            return bad(format!(
                "the candidate ops need at least one that is not `none`; the registered ops are: {}",
                listed()
            ));
        }
        if self.method == Method::Dst && ops.iter().any(|op| registry.is_zero(op)) {
            return bad(
                "DST searches without the `none` op (its thresholds prune edges instead): leave it out of the candidate ops".into(),
            );
        }
        Ok(())
    }

    /// The temperature schedule: explicit values, else the method's.
    pub fn schedule(&self) -> entrannas_relax::TemperatureSchedule {
        let default = self.method.default_schedule();
        let initial = self.tau0.unwrap_or(default.initial);
        let annealed = default.factor != 1.0 || self.tau0.is_some();
        let factor = match self.tau_final.filter(|_| annealed) {
            Some(last) if self.epochs > 1 => (last / initial).powf(1.0 / (self.epochs - 1) as f64),
            Some(_) => 1.0,
            None => self.tau_factor.unwrap_or(default.factor),
        };
        entrannas_relax::TemperatureSchedule::new(initial, factor)
    }

    /// The weight learning rate of `epoch` (cosine annealing per epoch, as DARTS).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let progress = epoch as f64 / self.epochs.max(1) as f64;
        self.lr_min
            + 0.5 * (self.lr - self.lr_min) * (1.0 + (core::f64::consts::PI * progress).cos())
    }

    /// The super-net shape for a dataset with `input_channels` and `classes`.
    /// DARTS makes every cell an Engine cell and turns feature sharing off.
    pub fn supernet(&self, input_channels: usize, classes: usize) -> SuperNetConfig {
        let (engine, sharing) = match self.method {
            Method::Darts => (EnginePlacement::All, false),
            _ => (self.engine, self.sharing),
        };
        SuperNetConfig {
            input_channels,
            classes,
            channels: self.channels,
            layers: self.layers,
            topology: entrannas_cell::CellTopology::new(2, self.nodes),
            ops: self.ops(),
            sharing,
            bottleneck: self.bottleneck,
            engine,
            stem: self.stem,
        }
    }

    /// Checks values that would make the search meaningless.
    pub fn validate(&self) -> Result<(), crate::SearchError> {
        let bad = |m: String| Err(crate::SearchError::Config(m));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if self.channels == 0 || self.nodes == 0 {
            return bad("channels and nodes must be at least 1".into());
        }
        if !(self.train_portion > 0.0 && self.train_portion < 1.0) {
            return bad(format!(
                "train portion must be in (0, 1), got {}",
                self.train_portion
            ));
        }
        if let Some(v) = self.val_portion
            && !(v > 0.0 && self.train_portion + v <= 1.0 + 1e-9)
        {
            return bad(format!(
                "val portion must be positive with train + val portions at most 1, got {} + {v}",
                self.train_portion
            ));
        }
        if self.shards == 0 || self.shards > self.batch_size {
            return bad(format!(
                "shards must be between 1 and the batch size {}, got {}",
                self.batch_size, self.shards
            ));
        }
        if self.bottleneck == Some(0) {
            return bad("bottleneck ratio must be at least 1".into());
        }
        if let Some(last) = self.tau_final
            && !(last.is_finite() && last > 0.0)
        {
            return bad(format!("final temperature must be positive, got {last}"));
        }
        let schedule = self.schedule();
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(schedule.initial) && positive(schedule.factor)) {
            return bad(format!(
                "the initial temperature and its per-epoch factor must be positive, got tau0 = {} and factor {}",
                schedule.initial, schedule.factor
            ));
        }
        for (name, v) in [
            ("lr", self.lr),
            ("arch lr", self.arch_lr),
            ("lambda", self.lambda),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!(
                    "{name} must be a finite non-negative number, got {v}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use entrannas_ops::OpRegistry;

    #[test]
    fn candidate_ops_replace_the_space_and_are_checked_against_the_registry() {
        let registry = OpRegistry::default();
        let list = |ops: &[&str]| Some(ops.iter().map(|o| o.to_string()).collect());
        let standard = SearchConfig::new();
        assert_eq!(standard.ops().len(), 8);
        assert!(standard.validate_ops(&registry).is_ok());
        let mine =
            SearchConfig::new().with_candidate_ops(list(&["none", "conv_3x3", "skip_connect"]));
        assert_eq!(mine.ops(), ["none", "conv_3x3", "skip_connect"]);
        assert!(mine.validate_ops(&registry).is_ok());
        let error = |config: SearchConfig| config.validate_ops(&registry).unwrap_err().to_string();
        let unknown = error(SearchConfig::new().with_candidate_ops(list(&["none", "conv_9x9"])));
        assert!(
            unknown.contains("unknown candidate op `conv_9x9`") && unknown.contains("dil_conv_5x5"),
            "{unknown}"
        );
        let twice = error(SearchConfig::new().with_candidate_ops(list(&["conv_3x3", "conv_3x3"])));
        assert!(twice.contains("`conv_3x3` is listed twice"), "{twice}");
        assert!(
            error(SearchConfig::new().with_candidate_ops(list(&["none"]))).contains("not `none`")
        );
        assert!(error(SearchConfig::new().with_candidate_ops(list(&[]))).contains("not `none`"));
        let dst = SearchConfig::new().with_method(Method::Dst);
        assert!(!dst.ops().contains(&"none".to_string()));
        assert!(error(dst.with_candidate_ops(list(&["none", "conv_3x3"]))).contains("DST"));
        // A configuration written before the field existed reads as the space's list.
        let old = serde_json::to_value(SearchConfig::new()).unwrap();
        let mut old = old.as_object().unwrap().clone();
        old.remove("candidate_ops");
        let dir = std::env::temp_dir().join(format!("entrannas-old-config-{}", std::process::id()));
        std::fs::write(&dir, serde_json::to_string(&old).unwrap()).unwrap();
        let read = SearchConfig::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(read.candidate_ops, None);
        assert_eq!(read.ops().len(), 8);
    }

    #[test]
    fn a_config_written_before_shards_existed_reads_as_one_shard() {
        let mut json: serde_json::Value =
            serde_json::to_value(SearchConfig::new().with_shards(4)).unwrap();
        assert_eq!(json["shards"], 4);
        json.as_object_mut().unwrap().remove("shards");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let old = SearchConfig::read(&path).unwrap();
        assert_eq!(old.shards, 1);
        assert_eq!(old, SearchConfig::new());
    }

    #[test]
    fn final_temperature_sets_the_factor_for_the_epoch_count() {
        let mut c = SearchConfig::new().with_epochs(5).with_tau_final(Some(0.1));
        let s = c.schedule();
        assert_eq!(s.at_epoch(0), 5.0);
        assert_relative_eq!(s.at_epoch(4), 0.1, max_relative = 1e-12);
        // One epoch: no annealing at all.
        c.epochs = 1;
        assert_eq!(c.schedule().factor, 1.0);
        // Without it the paper's factor applies.
        c.tau_final = None;
        assert_eq!(c.schedule().factor, 0.923);
    }

    #[test]
    fn the_quick_preset_scales_the_paper_and_ends_at_its_temperature() {
        let paper = SearchConfig::paper();
        assert_eq!(paper, SearchConfig::new());
        assert_eq!((paper.channels, paper.layers, paper.epochs), (16, 8, 50));
        let quick: SearchConfig = "quick".parse::<Preset>().unwrap().config();
        assert_eq!(
            (quick.channels, quick.layers, quick.epochs, quick.batch_size),
            (8, 5, 4, 64)
        );
        // Linear scaling: 0.2 at 512 is 0.025 at 64.
        assert_relative_eq!(quick.lr, 0.025, max_relative = 1e-12);
        let s = quick.schedule();
        assert_eq!(s.at_epoch(0), 5.0);
        assert_relative_eq!(s.at_epoch(3), 0.1, max_relative = 1e-12);
        // The paper's own schedule reaches about the same value after 50 epochs.
        assert_relative_eq!(paper.schedule().at_epoch(49), 0.1, max_relative = 0.05);
        quick.validate().unwrap();
        // DARTS keeps its constant temperature under the quick preset.
        let darts = quick.clone().with_method(Method::Darts).schedule();
        assert_eq!((darts.initial, darts.factor), (1.0, 1.0));
        let err = "fast".parse::<Preset>().unwrap_err().to_string();
        assert!(
            err.contains("fast") && err.contains("quick, paper"),
            "{err}"
        );
    }

    #[test]
    fn a_config_written_before_a_field_was_added_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let mut old = serde_json::to_value(SearchConfig::new().with_epochs(7)).unwrap();
        old.as_object_mut().unwrap().remove("skip_bad_images");
        std::fs::write(&path, old.to_string()).unwrap();
        assert!(
            SearchConfig::load(&path).is_err(),
            "burn's loader refuses it"
        );
        let c = SearchConfig::read(&path).unwrap();
        assert_eq!((c.epochs, c.skip_bad_images), (7, false));
        std::fs::write(&path, "{\"epochs\": \"many\"}").unwrap();
        let err = SearchConfig::read(&path).unwrap_err();
        assert!(err.contains("field `epochs`: invalid type"), "{err}");
        // A misspelt field is not silently left at its default.
        std::fs::write(&path, "{\"epoch\": 5}").unwrap();
        let err = SearchConfig::read(&path).unwrap_err();
        assert!(err.contains("unknown field `epoch`"), "{err}");
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn a_non_positive_final_temperature_is_rejected() {
        let c = SearchConfig::new().with_tau_final(Some(0.0));
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("final temperature")
        );
    }

    #[test]
    fn a_temperature_schedule_that_is_not_positive_is_rejected_in_words() {
        for (tau0, factor) in [
            (0.0, 0.9),
            (-1.0, 0.9),
            (f64::NAN, 0.9),
            (5.0, f64::INFINITY),
        ] {
            let c = SearchConfig::new()
                .with_tau0(Some(tau0))
                .with_tau_factor(Some(factor));
            let message = c.validate().unwrap_err().to_string();
            assert!(
                message.contains(&format!("got tau0 = {tau0} and factor {factor}")),
                "{message}"
            );
        }
    }
}
