//! One module per subcommand.

pub mod bench;
pub mod common;
pub mod data;
pub mod derive;
pub mod info;
pub mod report;
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

/// Parses an image shape `CxHxW`, for example `1x28x28`.
pub fn parse_image(image: &str) -> Result<[usize; 3], CliError> {
    let bad = || {
        CliError::Usage(format!(
            "invalid image shape `{image}`; expected CxHxW, for example 1x28x28"
        ))
    };
    let dims: Vec<usize> = image
        .split('x')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match dims[..] {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => Err(bad()),
    }
}
