//! `entrannas derive`: architecture parameters in, coefficients and genotype out.

use std::path::PathBuf;

use clap::Args;
use entrannas_relax::{ArchFile, Rule, derive_report};

use crate::error::CliError;

/// Arguments of `entrannas derive`.
#[derive(Args, Debug)]
pub struct DeriveArgs {
    /// Architecture parameters: `{"ops": [...], "inputs": 2, "nodes": 4, "tau": 1.0,
    /// "normal": {"alpha": [[...]], "beta": [...]}, "reduce": {...}}` (the `arch` field
    /// of a search's `history.jsonl` lines has this schema).
    #[arg(long)]
    pub arch: PathBuf,
    /// `top2` (DARTS / EnTranNAS; `topK` for other K) or `dst`.
    #[arg(long, default_value = "top2")]
    pub rule: String,
    /// Cap on `skip_connect`s per cell for top-K rules.
    #[arg(long)]
    pub max_skip: Option<usize>,
}

/// Parses `top2`, `top3`, ... or `dst`.
pub fn parse_rule(rule: &str, max_skip: Option<usize>) -> Result<Rule, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "invalid rule `{rule}`; valid: top2 (or topK for K >= 1), dst"
        ))
    };
    if rule == "dst" {
        if max_skip.is_some() {
            return Err(CliError::Usage(
                "--max-skip applies to top-K rules only".into(),
            ));
        }
        return Ok(Rule::Dst);
    }
    let k: usize = rule
        .strip_prefix("top")
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if k == 0 {
        return Err(bad());
    }
    Ok(match max_skip {
        Some(max_skip) => Rule::TopKMaxSkip { k, max_skip },
        None => Rule::TopK(k),
    })
}

/// Runs `entrannas derive`.
pub fn run(args: DeriveArgs) -> Result<(), CliError> {
    let rule = parse_rule(&args.rule, args.max_skip)?;
    let names = super::op_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let arch = ArchFile::from_path(&args.arch, &names)?;
    let report = derive_report(&arch, rule)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("reports serialise")
    );
    Ok(())
}
