//! Cuts the embedded Fashion-MNIST subset out of the full dataset.
//!
//! ```text
//! cargo run -p entrannas-data --example make_embedded_subset -- \
//!     /usr/share/datasets/fashion-mnist crates/entrannas-data/data
//! ```
//!
//! Takes the first 500 training and the first 100 test images of every class, in file
//! order, and writes them as gzip IDX files under the same names as the originals. The
//! output depends only on the input files.

use std::path::PathBuf;
use std::process::ExitCode;

use entrannas_data::idx::{read_idx_split, write_idx_split};
use entrannas_data::{EMBEDDED_TEST_PER_CLASS, EMBEDDED_TRAIN_PER_CLASS};
use entrannas_data::{class_counts, first_per_class};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: make_embedded_subset <fashion-mnist dir> <output dir>");
        return ExitCode::FAILURE;
    };
    let splits = [
        ("train", EMBEDDED_TRAIN_PER_CLASS),
        ("t10k", EMBEDDED_TEST_PER_CLASS),
    ];
    for (split, per_class) in splits {
        let name = |kind: &str| format!("{split}-{kind}-ubyte.gz");
        let run = || -> Result<(), entrannas_data::DataError> {
            let full = read_idx_split(
                &src.join(name("images-idx3")),
                &src.join(name("labels-idx1")),
                10,
            )?;
            let subset = full.select(&first_per_class(full.labels(), 10, per_class));
            std::fs::create_dir_all(dst).map_err(|e| entrannas_data::DataError::Io {
                path: dst.clone(),
                source: e,
            })?;
            write_idx_split(
                &subset,
                &dst.join(name("images-idx3")),
                &dst.join(name("labels-idx1")),
            )?;
            let all: Vec<usize> = (0..subset.len()).collect();
            println!(
                "{split}: {} images, per class {:?}",
                subset.len(),
                class_counts(subset.labels(), &all, 10)
            );
            Ok(())
        };
        if let Err(e) = run() {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
