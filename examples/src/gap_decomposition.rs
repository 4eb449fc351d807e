//! Where a search's child-net loses its accuracy against the super-net (issue 34, item
//! 3): the last checkpoint's super-net is evaluated with the batch-norm running
//! statistics of the search, once per edit of its Engine cells' coefficients, each edit
//! one step from the learned mixture towards the child-net:
//!
//! - **learned**: the coefficients at the last epoch's temperature (the super-net);
//! - **dropped edges off**: every edge the derivation drops weighted 0 (as if `none`
//!   had won it), the derived edges' op mixtures left as learned;
//! - **derived ops one-hot**: each derived edge's op weighted 1 and that edge's other
//!   ops 0, the dropped edges left as learned;
//! - **both** (the child-net): derived pairs 1, everything else 0;
//! - **at `tau`** (each of `--taus`): the learned `alpha` at a lower temperature;
//! - **argmax** (the limit `tau -> 0`): every edge one-hot on its strongest op, `none`
//!   included, so an edge that `none` wins adds nothing.
//!
//! "both" computes exactly the child-net (`forward_child`), so its accuracy is the
//! measured child-net accuracy: a check of the method, printed beside it.

use std::path::PathBuf;

use clap::Args;
use entrannas_cell::{CellPlan, CellTopology};
use entrannas_relax::host::{self, Matrix};
use entrannas_relax::{ArchFile, CellArch};
use entrannas_search::{Method, Searcher};

use crate::checkpoint::load_search;
use crate::{Cpu, ExampleError, Table};

/// Flags of the `gap_decomposition` example.
#[derive(Args, Debug)]
pub struct GapArgs {
    /// A search run directory with a checkpoint (`first-seed-2` of a `table1` run, or an
    /// `entrannas search` output).
    pub run: PathBuf,
    /// Lower temperatures to evaluate the learned `alpha` at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.01")]
    pub taus: Vec<f64>,
    /// Where the dataset is, when not where the run's config says.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// One evaluation of the super-net with edited Engine coefficients.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Short name (the table's first column).
    pub name: String,
    /// Accuracy on the run's evaluation images (the first `eval_limit` of the
    /// architecture split), with the search's running statistics.
    pub accuracy: f64,
}

/// Per cell type, what the derivation drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedCount {
    /// Edges the derived cell does not compute.
    pub dropped: usize,
    /// Of those, the edges whose strongest op is not `none`: at `tau -> 0` the Engine
    /// cell still adds them at full weight, the child-net does not.
    pub still_computed: usize,
}

/// The measurement and where it was taken.
#[derive(Debug, Clone)]
pub struct GapReport {
    /// Epochs the checkpoint holds.
    pub epochs: usize,
    /// The temperature of its last epoch.
    pub tau: f64,
    /// The child-net's accuracy measured as the search does (`forward_child`).
    pub child: f64,
    /// The edits, in the order of the module documentation.
    pub variants: Vec<Variant>,
    /// Normal and reduction cell.
    pub dropped: [DroppedCount; 2],
}

impl GapReport {
    /// The report as a table: one row per edit, with the points it loses against the
    /// learned super-net.
    pub fn table(&self) -> String {
        let learned = self.variants.first().map_or(0.0, |v| v.accuracy);
        let mut table = Table::new(["Engine coefficients", "accuracy (%)", "vs learned"]);
        for v in &self.variants {
            table.push([
                v.name.clone(),
                format!("{:.2}", 100.0 * v.accuracy),
                format!("{:+.2}", 100.0 * (v.accuracy - learned)),
            ]);
        }
        table.push([
            "child-net (forward_child, the check)".to_owned(),
            format!("{:.2}", 100.0 * self.child),
            format!("{:+.2}", 100.0 * (self.child - learned)),
        ]);
        table.render()
    }
}

/// The Engine coefficients of `cell` at temperature `tau`: `p` (EnTranNAS) or DST's `q`.
fn coefficients(cell: &CellArch, method: Method, tau: f64, topology: &CellTopology) -> Matrix {
    match (&cell.beta, method) {
        (Some(beta), Method::Dst) => host::dst_coefficients(&cell.alpha, beta, tau, topology),
        _ => host::softmax_with_temperature(&cell.alpha, tau),
    }
}

/// Every `(edge, op)` pair `plan` derives, as `(edge index, op index)`.
fn derived_pairs(plan: &CellPlan, topology: &CellTopology) -> Vec<(usize, usize)> {
    topology
        .intermediate_nodes()
        .zip(&plan.nodes)
        .flat_map(|(node, pairs)| {
            pairs
                .iter()
                .map(move |&(source, op)| (topology.edge_index(source, node), op))
        })
        .collect()
}

/// `p` with the rows of edges outside `pairs` set to 0 (`drop`) and the rows of edges
/// in `pairs` one-hot on their derived op (`harden`).
fn edit(p: &[Vec<f64>], pairs: &[(usize, usize)], drop: bool, harden: bool) -> Matrix {
    p.iter()
        .enumerate()
        .map(|(edge, row)| {
            let derived: Vec<usize> = pairs
                .iter()
                .filter(|(e, _)| *e == edge)
                .map(|&(_, k)| k)
                .collect();
            if derived.is_empty() {
                if drop {
                    vec![0.0; row.len()]
                } else {
                    row.clone()
                }
            } else if harden {
                (0..row.len())
                    .map(|k| if derived.contains(&k) { 1.0 } else { 0.0 })
                    .collect()
            } else {
                row.clone()
            }
        })
        .collect()
}

/// The index of the largest value of `row` (the first of ties).
fn argmax(row: &[f64]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |best, (k, &v)| if v > row[best] { k } else { best })
}

/// Every row one-hot on its largest value (the first of ties).
fn argmax_rows(p: &[Vec<f64>]) -> Matrix {
    p.iter()
        .map(|row| {
            let best = argmax(row);
            (0..row.len())
                .map(|k| if k == best { 1.0 } else { 0.0 })
                .collect()
        })
        .collect()
}

/// How many edges of `p` are outside `pairs`, and how many of those `none` (column
/// `none`, if any) does not win.
fn dropped_count(p: &[Vec<f64>], pairs: &[(usize, usize)], none: Option<usize>) -> DroppedCount {
    let dropped: Vec<usize> = (0..p.len())
        .filter(|edge| !pairs.iter().any(|(e, _)| e == edge))
        .collect();
    let still_computed = dropped
        .iter()
        .filter(|&&edge| Some(argmax(&p[edge])) != none)
        .count();
    DroppedCount {
        dropped: dropped.len(),
        still_computed,
    }
}

/// Loads the run's last checkpoint and evaluates every edit on its evaluation images.
pub fn run(args: &GapArgs) -> Result<GapReport, ExampleError> {
    if let Some(bad) = args.taus.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
        return Err(ExampleError::Usage(format!(
            "--taus: {bad} is not a positive temperature"
        )));
    }
    let loaded = load_search(&args.run, args.data_dir.as_deref())?;
    let val_eval = loaded.evaluation_images();
    let searcher: &Searcher<Cpu> = &loaded.searcher;
    let derivation = &loaded.derivation;
    let file: ArchFile = searcher.arch_file(loaded.tau);
    let topology = file.topology();
    let method = loaded.config.method;
    let none = searcher.ops().iter().position(|op| op == "none");
    let pairs = [
        derived_pairs(&derivation.normal, &topology),
        derived_pairs(&derivation.reduce, &topology),
    ];
    let at = |tau: f64| {
        [
            coefficients(&file.normal, method, tau, &topology),
            coefficients(&file.reduce, method, tau, &topology),
        ]
    };
    let learned = at(loaded.tau);
    let edited = |drop: bool, harden: bool| {
        [
            edit(&learned[0], &pairs[0], drop, harden),
            edit(&learned[1], &pairs[1], drop, harden),
        ]
    };
    let mut edits: Vec<(String, [Matrix; 2])> = vec![
        (format!("learned (tau {:.3})", loaded.tau), learned.clone()),
        ("dropped edges off".to_owned(), edited(true, false)),
        ("derived ops one-hot".to_owned(), edited(false, true)),
        ("both (the child-net)".to_owned(), edited(true, true)),
    ];
    for &tau in &args.taus {
        edits.push((format!("learned alpha at tau {tau}"), at(tau)));
    }
    edits.push((
        "argmax of every edge (tau -> 0)".to_owned(),
        [argmax_rows(&learned[0]), argmax_rows(&learned[1])],
    ));
    let mut variants = Vec::with_capacity(edits.len());
    for (name, [normal, reduce]) in edits {
        let accuracy =
            searcher.evaluate_engine_coefficients(&val_eval, derivation, &normal, &reduce)?;
        variants.push(Variant { name, accuracy });
    }
    let (_, child) = searcher.evaluate(&val_eval, derivation, loaded.tau)?;
    Ok(GapReport {
        epochs: loaded.epochs,
        tau: loaded.tau,
        child,
        variants,
        dropped: [
            dropped_count(&learned[0], &pairs[0], none),
            dropped_count(&learned[1], &pairs[1], none),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_drop_and_harden_the_right_rows() {
        let p = vec![
            vec![0.5, 0.3, 0.2],
            vec![0.1, 0.6, 0.3],
            vec![0.7, 0.2, 0.1],
        ];
        // Edge 1 derived with op 2 (not its largest).
        let pairs = [(1, 2)];
        assert_eq!(edit(&p, &pairs, false, false), p);
        assert_eq!(
            edit(&p, &pairs, true, false),
            vec![vec![0.0; 3], p[1].clone(), vec![0.0; 3]]
        );
        assert_eq!(
            edit(&p, &pairs, false, true),
            vec![p[0].clone(), vec![0.0, 0.0, 1.0], p[2].clone()]
        );
        assert_eq!(
            edit(&p, &pairs, true, true),
            vec![vec![0.0; 3], vec![0.0, 0.0, 1.0], vec![0.0; 3]]
        );
        assert_eq!(
            argmax_rows(&p),
            vec![
                vec![1.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![1.0, 0.0, 0.0]
            ]
        );
        // Op 0 is `none`: edge 2 goes to none, edge 0 too; neither is still computed.
        assert_eq!(
            dropped_count(&p, &pairs, Some(0)),
            DroppedCount {
                dropped: 2,
                still_computed: 0
            }
        );
        assert_eq!(
            dropped_count(&p, &pairs, None),
            DroppedCount {
                dropped: 2,
                still_computed: 2
            }
        );
    }
}
