//! Prints the summary of a dataset, as `entrannas data` does.
//!
//! ```text
//! cargo run -p entrannas-data --example summary -- [NAME [DATA_DIR]]
//! ```
//!
//! `NAME` is one of `fashion-mnist|mnist|cifar10|cifar100|folder|embedded` (default
//! `embedded`).

use std::path::PathBuf;
use std::process::ExitCode;

use entrannas_data::{DatasetKind, OpenOptions, SearchSplit, open};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), entrannas_data::DataError> {
        let kind: DatasetKind = args.first().map_or("embedded", String::as_str).parse()?;
        let dir = args.get(1).map(PathBuf::from);
        let data = open(kind, dir.as_deref(), &OpenOptions::default())?;
        print!("{}", data.search_summary(&SearchSplit::default())?);
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
