//! One module per subcommand.

pub mod data;
pub mod derive;
pub mod info;
pub mod search;
pub mod show;
pub mod train;

use std::path::Path;

use crate::error::CliError;

/// Writes `contents` to `path`, or to stdout when `path` is `None`.
pub fn emit(path: Option<&Path>, contents: &str) -> Result<(), CliError> {
    match path {
        Some(path) => std::fs::write(path, contents).map_err(|source| CliError::Write {
            path: path.display().to_string(),
            source,
        }),
        None => {
            println!("{contents}");
            Ok(())
        }
    }
}

/// The names of every known operation.
pub fn op_names() -> Vec<String> {
    entrannas_ops::OpRegistry::default().names()
}
