//! `entrannas show`: a genotype as SVG, DOT, DARTS text or JSON.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use entrannas_cell::{Genotype, genotype_dot, genotype_svg};

use crate::error::CliError;

/// Output formats of `entrannas show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Both cells as one SVG picture.
    Svg,
    /// Graphviz DOT.
    Dot,
    /// DARTS's Python `Genotype(...)` text.
    Darts,
    /// entrannas's genotype JSON.
    Json,
}

/// Arguments of `entrannas show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// A genotype file (JSON or DARTS text) or a built-in name: darts_v1, darts_v2, pc_darts.
    pub genotype: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Svg)]
    pub format: Format,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Reads a genotype file, or a built-in genotype by name, and checks its op names.
pub fn load_genotype(what: &str) -> Result<Genotype, CliError> {
    let genotype = if Path::new(what).exists() {
        Genotype::load(what)?
    } else {
        Genotype::builtin(what).map_err(|e| {
            CliError::Usage(format!(
                "`{what}` is neither a genotype file nor a built-in genotype: {e}"
            ))
        })?
    };
    let names = super::op_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    genotype.validate(&names)?;
    Ok(genotype)
}

/// Runs `entrannas show`.
pub fn run(args: ShowArgs) -> Result<(), CliError> {
    let genotype = load_genotype(&args.genotype)?;
    let text = match args.format {
        Format::Svg => genotype_svg(&genotype),
        Format::Dot => genotype_dot(&genotype),
        Format::Darts => genotype.to_darts_text(),
        Format::Json => genotype.to_json(),
    };
    super::emit(args.out.as_deref(), &text)
}
