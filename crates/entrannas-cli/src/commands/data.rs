//! `entrannas data`: validate a dataset (an image folder: decode every image) and
//! describe it.

use std::path::PathBuf;

use clap::Args;
use entrannas_data::{DatasetKind, OpenOptions, SearchSplit, open};

use crate::error::CliError;

/// Arguments of `entrannas data`.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// `embedded`, `fashion-mnist`, `mnist`, `cifar10`, `cifar100` or `folder`.
    #[arg(long, default_value = "embedded")]
    pub dataset: String,
    /// The dataset's directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Fraction of the training split that trains the weights in a search.
    #[arg(long, default_value_t = 0.5)]
    pub train_portion: f64,
    /// Seed of the search split.
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Leave image files that cannot be decoded out (and report how many) instead of
    /// failing on the first one. Every image of a `folder` dataset is decoded either way.
    #[arg(long)]
    pub skip_bad_images: bool,
}

/// Parses a dataset name.
pub fn dataset_kind(name: &str) -> Result<DatasetKind, CliError> {
    Ok(name.parse::<DatasetKind>()?)
}

/// Tells on stderr how many undecodable images opening `data` left out, if any.
pub fn report_skipped(data: &entrannas_data::OpenedDataset) {
    let skipped = data.skipped_images();
    if let Some(first) = skipped.first() {
        eprintln!(
            "skipped {} undecodable image(s) (first: {})",
            skipped.len(),
            first.display()
        );
    }
}

/// Runs `entrannas data`.
pub fn run(args: DataArgs) -> Result<(), CliError> {
    let options = OpenOptions {
        skip_undecodable: args.skip_bad_images,
        ..OpenOptions::default()
    };
    let mut data = open(
        dataset_kind(&args.dataset)?,
        args.data_dir.as_deref(),
        &options,
    )?;
    data.check_pixels()?;
    let split = SearchSplit {
        train_portion: args.train_portion,
        val_portion: None,
        seed: args.seed,
    };
    let summary = data.search_summary(&split)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summaries serialise")
        );
    } else {
        println!("{summary}");
    }
    Ok(())
}
