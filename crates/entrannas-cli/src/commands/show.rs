//! `entrannas show`: a genotype as SVG, DOT, DARTS text or JSON.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use entrannas_cell::{Genotype, TargetLayout, TargetNetSpec, target_net_cost};
use entrannas_diagram::{genotype_dot, genotype_svg};
use entrannas_ops::OpRegistry;

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
    /// Print the target-net's parameters and multiply-adds instead of the genotype.
    #[arg(long)]
    pub stats: bool,
    /// Target-net layout for `--stats`: `cifar` (3x32x32, C = 36, L = 20) or
    /// `imagenet` (3x224x224, C = 48, L = 14).
    #[arg(long, default_value = "cifar")]
    pub layout: String,
    /// Initial channels C for `--stats` (default: the layout's).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells L for `--stats` (default: the layout's).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Classes for `--stats` (default: 10 for cifar, 1000 for imagenet).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Image `CxHxW` for `--stats` (default: the layout's).
    #[arg(long)]
    pub image: Option<String>,
    /// With `--stats`: JSON with `params` and `flops` as plain numbers.
    #[arg(long)]
    pub json: bool,
}

fn stats(genotype: &Genotype, args: &ShowArgs) -> Result<String, CliError> {
    let layout: TargetLayout = args
        .layout
        .parse()
        .map_err(|e: entrannas_cell::TargetError| CliError::Usage(e.to_string()))?;
    let mut spec = match layout {
        TargetLayout::Cifar => TargetNetSpec::cifar(args.classes.unwrap_or(10)),
        TargetLayout::Imagenet => TargetNetSpec::imagenet(args.classes.unwrap_or(1000)),
    };
    if let Some(image) = &args.image {
        spec = TargetNetSpec::for_shape(layout, super::parse_image(image)?, spec.classes);
    }
    if let Some(c) = args.channels {
        spec = spec.with_channels(c);
    }
    if let Some(l) = args.layers {
        spec = spec.with_layers(l);
    }
    let cost = target_net_cost(genotype, &spec, &OpRegistry::default())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let stats = genotype.stats();
    Ok(if args.json {
        serde_json::json!({
            "params": cost.params,
            "flops": cost.flops,
            "auxiliary_params": cost.auxiliary_params,
            "layout": layout.name(),
            "channels": spec.channels,
            "layers": spec.layers,
            "classes": spec.classes,
            "image": spec.input_shape(),
            "normal_connections": stats.normal.connections,
            "reduce_connections": stats.reduce.connections,
        })
        .to_string()
    } else {
        format!(
            "{} layout, C = {}, L = {}, {} classes, input {:?}\nparameters: {} ({:.2} M, auxiliary head excluded; head: {})\nmultiply-adds: {} ({:.1} M)\nconnections: normal {}, reduce {}",
            layout.name(),
            spec.channels,
            spec.layers,
            spec.classes,
            spec.input_shape(),
            cost.params,
            cost.params as f64 / 1e6,
            cost.auxiliary_params,
            cost.flops,
            cost.flops as f64 / 1e6,
            stats.normal.connections,
            stats.reduce.connections
        )
    })
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
    if args.stats {
        return super::emit(args.out.as_deref(), &stats(&genotype, &args)?);
    }
    let text = match args.format {
        Format::Svg => genotype_svg(&genotype),
        Format::Dot => genotype_dot(&genotype),
        Format::Darts => genotype.to_darts_text(),
        Format::Json => genotype.to_json(),
    };
    super::emit(args.out.as_deref(), &text)
}
