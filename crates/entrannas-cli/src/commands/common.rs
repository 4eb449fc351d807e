//! What `search` and `train` share: flag groups flattened into both, the parser of the
//! libraries' named choices (method, op space, placement, preset, layout), and the
//! macro that lays given flags over a configuration.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Arg, Args, Command};
use entrannas_cell::TargetLayout;
use entrannas_search::{EnginePlacement, Method, OpSpace, Preset};

/// A library enum with one name per value, offered as a flag's choices.
pub trait Choice: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    fn values() -> &'static [Self];
    /// The value's name on the command line.
    fn name(self) -> &'static str;
}

macro_rules! choice {
    ($($ty:ty),+) => {
        $(impl Choice for $ty {
            fn values() -> &'static [Self] {
                &<$ty>::ALL
            }
            fn name(self) -> &'static str {
                <$ty>::name(self)
            }
        })+
    };
}

choice!(Method, OpSpace, EnginePlacement, Preset, TargetLayout);

/// clap's parser of a [`Choice`]: `--help` lists the names, and an unknown one is
/// refused by clap with the list (exit 2).
#[derive(Clone)]
pub struct ChoiceParser<T>(PhantomData<T>);

impl<T: Choice> ChoiceParser<T> {
    /// The parser of `T`'s names.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: Choice> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let names = T::values().iter().map(|v| v.name());
        let name = PossibleValuesParser::new(names).parse_ref(cmd, arg, value)?;
        T::values()
            .iter()
            .copied()
            .find(|v| v.name() == name)
            .ok_or_else(|| clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            T::values().iter().map(|v| PossibleValue::new(v.name())),
        ))
    }
}

/// The flags `search` and `train` share.
#[derive(Args, Debug, Default)]
pub struct SharedArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

impl SharedArgs {
    /// Whether any flag that changes the configuration or makes a new run directory
    /// was given.
    pub fn any(&self) -> bool {
        self.output.makes_a_run() || self.data.any() || self.schedule.any()
    }
}

/// Where a run's directory goes, and whether to plan only.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Run directory and plan")]
pub struct OutputArgs {
    /// Run directory (default: `runs/<UTC timestamp>` for a search,
    /// `runs/train-<UTC timestamp>` for a training).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite a run directory that already holds a run.
    #[arg(long)]
    pub force: bool,
    /// Print the plan (parameters, estimated peak memory, steps, and the time per epoch
    /// projected from a few timed steps on the device) and exit without running or
    /// writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even when the memory estimate exceeds the memory the device can have (the
    /// estimate can be wrong; docs/BENCHMARKS.md says how it is made).
    #[arg(long)]
    pub ignore_memory_estimate: bool,
}

impl OutputArgs {
    /// Whether a flag that makes a new run directory was given.
    pub fn makes_a_run(&self) -> bool {
        self.out.is_some() || self.force
    }
}

/// The dataset a search or a training reads.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Dataset")]
pub struct DatasetArgs {
    /// Dataset: embedded (the default unless `--config` names one), fashion-mnist,
    /// mnist, cifar10, cifar100, folder.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Dataset directory.
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Leave undecodable image files out (counted and reported) instead of stopping.
    #[arg(long)]
    pub skip_bad_images: bool,
}

impl DatasetArgs {
    /// Whether any of these flags was given.
    pub fn any(&self) -> bool {
        self.dataset.is_some() || self.data_dir.is_some() || self.skip_bad_images
    }
}

/// The net's size and the schedule, in a search and in a training alike.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Net and schedule")]
pub struct ScheduleArgs {
    /// Initial channels C.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate of the weights.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of everything (initialization, split, batch order, augmentation).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop each epoch after this many steps.
    #[arg(long)]
    pub steps_per_epoch: Option<usize>,
    /// Evaluate on at most this many held-out images per epoch (a search: of the
    /// architecture split; a training: of the test set).
    #[arg(long)]
    pub eval_limit: Option<usize>,
}

impl ScheduleArgs {
    /// Whether any of these flags was given.
    pub fn any(&self) -> bool {
        let Self {
            channels,
            layers,
            epochs,
            batch_size,
            lr,
            seed,
            steps_per_epoch,
            eval_limit,
        } = self;
        channels.is_some()
            || layers.is_some()
            || epochs.is_some()
            || batch_size.is_some()
            || lr.is_some()
            || seed.is_some()
            || steps_per_epoch.is_some()
            || eval_limit.is_some()
    }
}

/// Lays the flags given on the command line over a configuration: `set` fields take
/// the flag's value, `wrap` fields (`Option`s in the configuration) take `Some` of it.
macro_rules! override_fields {
    ($args:expr => $config:expr; set: $($field:ident),*; wrap: $($wrapped:ident),* $(,)?) => {
        $( if let Some(v) = $args.$field.clone() { $config.$field = v; } )*
        $( if let Some(v) = $args.$wrapped.clone() { $config.$wrapped = Some(v); } )*
    };
}
pub(crate) use override_fields;

/// Lays the [`SharedArgs`] given over a search's or a training's configuration (both
/// name these fields alike).
macro_rules! override_shared {
    ($shared:expr => $config:expr) => {
        $crate::commands::common::override_fields!($shared.data => $config; set: dataset; wrap: data_dir);
        if $shared.data.skip_bad_images {
            $config.skip_bad_images = true;
        }
        $crate::commands::common::override_fields!($shared.schedule => $config;
            set: channels, layers, epochs, batch_size, lr, seed;
            wrap: steps_per_epoch, eval_limit);
    };
}
pub(crate) use override_shared;
