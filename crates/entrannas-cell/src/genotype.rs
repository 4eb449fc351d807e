//! Genotypes: the derived architecture, the only thing passed from search to evaluation.
//!
//! This module holds the types, validation and the connection counts used for collapse
//! diagnostics. JSON files are handled in [`crate::json`] (methods [`Genotype::to_json`],
//! [`Genotype::from_json`], [`Genotype::load`], [`Genotype::save`]), DARTS's Python text
//! form in [`crate::darts_text`], published genotypes in [`crate::builtin`].

use core::fmt;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::GenotypeError;
use crate::topology::CellTopology;

/// The version of the genotype JSON schema written by this crate.
pub const GENOTYPE_SCHEMA_VERSION: u32 = 1;

/// One selected connection into an intermediate node: operation `op` applied to node
/// `input`. Serialised as the pair `[input, "op"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "(usize, String)", into = "(usize, String)")]
pub struct Connection {
    /// The source node (0 and 1 are the cell inputs).
    pub input: usize,
    /// The operation's DARTS name.
    pub op: String,
}

impl Connection {
    /// A connection applying `op` to node `input`.
    pub fn new(input: usize, op: impl Into<String>) -> Self {
        Self {
            input,
            op: op.into(),
        }
    }
}

impl From<(usize, String)> for Connection {
    fn from((input, op): (usize, String)) -> Self {
        Self { input, op }
    }
}

impl From<Connection> for (usize, String) {
    fn from(c: Connection) -> Self {
        (c.input, c.op)
    }
}

/// The derived structure of one cell type. A field it does not know is refused when
/// reading (a misspelt `inputs` would otherwise silently read as 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellGenotype {
    /// Number of input nodes (2 in DARTS).
    #[serde(default = "default_inputs")]
    pub inputs: usize,
    /// For each intermediate node, in order, its selected connections (1 or more).
    pub nodes: Vec<Vec<Connection>>,
    /// The nodes concatenated to form the cell output (DARTS: `[2, 3, 4, 5]`).
    pub concat: Vec<usize>,
}

fn default_inputs() -> usize {
    2
}

/// A searched architecture: one normal and one reduction cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genotype {
    /// The normal cell.
    pub normal: CellGenotype,
    /// The reduction cell.
    pub reduce: CellGenotype,
}

/// Which of the two cell types of a [`Genotype`] something refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// The normal cell (`normal`).
    Normal,
    /// The reduction cell (`reduce`).
    Reduce,
}

impl CellKind {
    /// Both kinds, normal first.
    pub const ALL: [CellKind; 2] = [CellKind::Normal, CellKind::Reduce];

    /// The field name of the cell: `normal` or `reduce`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Normal => "normal",
            CellKind::Reduce => "reduce",
        }
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operations counted as parameter-free by [`CellStats::parameter_free`]:
/// `none`, `max_pool_3x3`, `avg_pool_3x3` and `skip_connect` (a `skip_connect` at
/// stride 2 is a factorized reduce with weights, but DARTS collapse diagnostics count
/// it as parameter-free all the same).
pub const PARAMETER_FREE_OPS: [&str; 4] = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"];

/// Connection counts of one cell, for collapse diagnostics (a DARTS cell drifting
/// towards `skip_connect`s and pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CellStats {
    /// Number of selected connections `(input, op)` over all nodes.
    pub connections: usize,
    /// Number of distinct edges `(input, node)` kept; lower than `connections` when a
    /// node takes several operations from the same input (possible with DST).
    pub edges: usize,
    /// Number of connections whose op is `skip_connect`.
    pub skip_connects: usize,
    /// Number of connections whose op is one of [`PARAMETER_FREE_OPS`].
    pub parameter_free: usize,
}

/// [`CellStats`] of both cells of a genotype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct GenotypeStats {
    /// Counts of the normal cell.
    pub normal: CellStats,
    /// Counts of the reduction cell.
    pub reduce: CellStats,
}

impl CellGenotype {
    /// The cell's DAG shape: its inputs and `nodes.len()` intermediate nodes.
    pub fn topology(&self) -> CellTopology {
        CellTopology::new(self.inputs, self.nodes.len())
    }

    /// Total number of nodes, inputs included.
    pub fn num_nodes(&self) -> usize {
        self.inputs + self.nodes.len()
    }

    /// Every connection as `(node, connection)`, `node` numbered as in DARTS (the first
    /// intermediate node is `inputs`).
    pub fn connections(&self) -> impl Iterator<Item = (usize, &Connection)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(move |(k, conns)| conns.iter().map(move |c| (self.inputs + k, c)))
    }

    /// Connection counts for collapse diagnostics.
    pub fn stats(&self) -> CellStats {
        let mut edges = HashSet::new();
        let mut stats = CellStats::default();
        for (node, c) in self.connections() {
            stats.connections += 1;
            edges.insert((c.input, node));
            if c.op == "skip_connect" {
                stats.skip_connects += 1;
            }
            if PARAMETER_FREE_OPS.contains(&c.op.as_str()) {
                stats.parameter_free += 1;
            }
        }
        stats.edges = edges.len();
        stats
    }

    /// Checks the cell's structure, as [`validate`](Self::validate) does, but not the
    /// operation names.
    ///
    /// # Errors
    /// The first problem found, in this order: `inputs == 0`, no intermediate node, a
    /// node with no connection, a connection from the same or a later node, then
    /// `concat` empty, naming a node out of range, an input node, or a node twice.
    pub fn validate_structure(&self, cell: CellKind) -> Result<(), GenotypeError> {
        self.check(cell, None)
    }

    /// Checks the cell's structure and that every op is one of `known_ops`.
    ///
    /// # Errors
    /// As [`validate_structure`](Self::validate_structure), plus
    /// [`GenotypeError::UnknownOp`] (naming the op, the cell, the node and the valid
    /// names) for an op not in `known_ops`.
    pub fn validate(&self, cell: CellKind, known_ops: &[&str]) -> Result<(), GenotypeError> {
        self.check(cell, Some(known_ops))
    }

    fn check(&self, cell: CellKind, known_ops: Option<&[&str]>) -> Result<(), GenotypeError> {
        if self.inputs == 0 {
            return Err(GenotypeError::NoInputs { cell });
        }
        if self.nodes.is_empty() {
            return Err(GenotypeError::NoIntermediateNodes { cell });
        }
        for (k, conns) in self.nodes.iter().enumerate() {
            let node = self.inputs + k;
            if conns.is_empty() {
                return Err(GenotypeError::EmptyNode { cell, node });
            }
            for c in conns {
                if c.input >= node {
                    return Err(GenotypeError::ForwardInput {
                        cell,
                        node,
                        input: c.input,
                        op: c.op.clone(),
                    });
                }
                if let Some(known) = known_ops
                    && !known.contains(&c.op.as_str())
                {
                    let valid = if known.is_empty() {
                        "(none given)".to_owned()
                    } else {
                        known.join(", ")
                    };
                    return Err(GenotypeError::UnknownOp {
                        cell,
                        node,
                        op: c.op.clone(),
                        valid,
                    });
                }
            }
        }
        if self.concat.is_empty() {
            return Err(GenotypeError::EmptyConcat { cell });
        }
        let mut seen = HashSet::new();
        for &index in &self.concat {
            if index >= self.num_nodes() {
                return Err(GenotypeError::ConcatOutOfRange {
                    cell,
                    index,
                    nodes: self.num_nodes(),
                });
            }
            if index < self.inputs {
                return Err(GenotypeError::ConcatInput {
                    cell,
                    index,
                    inputs: self.inputs,
                });
            }
            if !seen.insert(index) {
                return Err(GenotypeError::DuplicateConcat { cell, index });
            }
        }
        Ok(())
    }
}

impl Genotype {
    /// The cell of kind `kind`.
    pub fn cell(&self, kind: CellKind) -> &CellGenotype {
        match kind {
            CellKind::Normal => &self.normal,
            CellKind::Reduce => &self.reduce,
        }
    }

    /// Both cells with their kinds, normal first.
    pub fn cells(&self) -> [(CellKind, &CellGenotype); 2] {
        [
            (CellKind::Normal, &self.normal),
            (CellKind::Reduce, &self.reduce),
        ]
    }

    /// Checks both cells' structure (see [`CellGenotype::validate_structure`]), normal
    /// cell first.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate_structure(&self) -> Result<(), GenotypeError> {
        self.cells()
            .into_iter()
            .try_for_each(|(kind, cell)| cell.validate_structure(kind))
    }

    /// Checks both cells (see [`CellGenotype::validate`]) against the op names
    /// `known_ops`, normal cell first. With the built-in ops:
    /// `OpKind::ALL.map(OpKind::name)` from `entrannas-ops`.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, known_ops: &[&str]) -> Result<(), GenotypeError> {
        self.cells()
            .into_iter()
            .try_for_each(|(kind, cell)| cell.validate(kind, known_ops))
    }

    /// Connection counts of both cells, for collapse diagnostics.
    pub fn stats(&self) -> GenotypeStats {
        GenotypeStats {
            normal: self.normal.stats(),
            reduce: self.reduce.stats(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::darts_v2;

    const OPS: [&str; 3] = ["sep_conv_3x3", "skip_connect", "max_pool_3x3"];

    fn cell() -> CellGenotype {
        CellGenotype {
            inputs: 2,
            nodes: vec![
                vec![
                    Connection::new(0, "sep_conv_3x3"),
                    Connection::new(1, "skip_connect"),
                ],
                vec![
                    Connection::new(2, "max_pool_3x3"),
                    Connection::new(2, "sep_conv_3x3"),
                    Connection::new(0, "skip_connect"),
                ],
            ],
            concat: vec![2, 3],
        }
    }

    fn err_of(f: impl FnOnce(&mut CellGenotype)) -> GenotypeError {
        let mut c = cell();
        f(&mut c);
        c.validate(CellKind::Reduce, &OPS).unwrap_err()
    }

    #[test]
    fn connection_serialises_as_a_pair() {
        let c = Connection::new(1, "sep_conv_3x3");
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"[1,"sep_conv_3x3"]"#);
    }

    #[test]
    fn valid_cell_passes() {
        cell().validate(CellKind::Normal, &OPS).unwrap();
        cell().validate_structure(CellKind::Normal).unwrap();
        assert_eq!(cell().topology(), CellTopology::new(2, 2));
    }

    #[test]
    fn unknown_op_names_op_cell_node_and_valid_names() {
        let err = err_of(|c| c.nodes[1][1].op = "conv_9x9".into());
        assert!(matches!(
            &err,
            GenotypeError::UnknownOp { cell: CellKind::Reduce, node: 3, op, .. } if op == "conv_9x9"
        ));
        assert_eq!(
            err.to_string(),
            "reduce cell, node 3: unknown operation `conv_9x9`; valid operations: \
             sep_conv_3x3, skip_connect, max_pool_3x3"
        );
        let mut c = cell();
        c.nodes[1][1].op = "conv_9x9".into();
        c.validate_structure(CellKind::Normal).unwrap();
        let err = cell().validate(CellKind::Normal, &[]).unwrap_err();
        assert!(err.to_string().contains("(none given)"), "{err}");
    }

    #[test]
    fn input_from_same_or_later_node_is_rejected() {
        for input in [3, 4, 99] {
            let err = err_of(|c| c.nodes[1][0].input = input);
            assert!(
                matches!(err, GenotypeError::ForwardInput { cell: CellKind::Reduce, node: 3, input: i, .. } if i == input),
                "{err}"
            );
            assert!(err.to_string().starts_with("reduce cell, node 3:"), "{err}");
        }
    }

    #[test]
    fn structural_errors() {
        let cases: Vec<(GenotypeError, &str)> = vec![
            (err_of(|c| c.inputs = 0), "inputs` is 0"),
            (err_of(|c| c.nodes.clear()), "no intermediate nodes"),
            (
                err_of(|c| c.nodes[0].clear()),
                "node 2: no incoming connection",
            ),
            (err_of(|c| c.concat.clear()), "`concat` is empty"),
            (
                err_of(|c| c.concat = vec![2, 4]),
                "names node 4, but the cell has only 4 nodes",
            ),
            (err_of(|c| c.concat = vec![3, 3]), "names node 3 twice"),
            (
                err_of(|c| c.concat = vec![1, 2]),
                "names node 1, an input node",
            ),
        ];
        for (err, text) in &cases {
            let message = err.to_string();
            assert!(message.starts_with("reduce cell"), "{message}");
            assert!(message.contains(text), "{message} should contain {text}");
        }
        assert!(matches!(cases[0].0, GenotypeError::NoInputs { .. }));
        assert!(matches!(
            cases[1].0,
            GenotypeError::NoIntermediateNodes { .. }
        ));
        assert!(matches!(
            cases[2].0,
            GenotypeError::EmptyNode { node: 2, .. }
        ));
        assert!(matches!(cases[3].0, GenotypeError::EmptyConcat { .. }));
        assert!(matches!(
            cases[4].0,
            GenotypeError::ConcatOutOfRange {
                index: 4,
                nodes: 4,
                ..
            }
        ));
        assert!(matches!(
            cases[5].0,
            GenotypeError::DuplicateConcat { index: 3, .. }
        ));
        assert!(matches!(
            cases[6].0,
            GenotypeError::ConcatInput {
                index: 1,
                inputs: 2,
                ..
            }
        ));
    }

    #[test]
    fn genotype_validation_names_the_failing_cell() {
        let mut g = darts_v2();
        g.validate(&[
            "sep_conv_3x3",
            "skip_connect",
            "dil_conv_3x3",
            "max_pool_3x3",
        ])
        .unwrap();
        let err = g.validate(&OPS).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("normal cell, node 5: unknown operation `dil_conv_3x3`"),
            "{err}"
        );
        g.normal.nodes[3][1].op = "skip_connect".into();
        let err = g.validate(&["sep_conv_3x3", "skip_connect"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("reduce cell, node 2: unknown operation `max_pool_3x3`"),
            "{err}"
        );
        g.reduce.concat.push(2);
        assert!(matches!(
            g.validate_structure(),
            Err(GenotypeError::DuplicateConcat {
                cell: CellKind::Reduce,
                index: 2
            })
        ));
    }

    #[test]
    fn stats_count_connections_edges_skips_and_parameter_free_ops() {
        let stats = cell().stats();
        assert_eq!(
            stats,
            CellStats {
                connections: 5,
                edges: 4,
                skip_connects: 2,
                parameter_free: 3,
            }
        );
        let g = darts_v2().stats();
        assert_eq!(g.normal.connections, 8);
        assert_eq!(g.normal.skip_connects, 2);
        assert_eq!(g.normal.parameter_free, 2);
        assert_eq!(g.reduce.parameter_free, 8);
    }

    #[test]
    fn cell_kind_names() {
        assert_eq!(CellKind::Normal.to_string(), "normal");
        assert_eq!(CellKind::Reduce.name(), "reduce");
        let g = darts_v2();
        assert_eq!(g.cell(CellKind::Reduce), &g.reduce);
    }

    proptest::proptest! {
        #[test]
        fn json_round_trips(g in crate::testing::arb_genotype()) {
            g.validate_structure().unwrap();
            let text = g.to_json();
            proptest::prop_assert_eq!(Genotype::from_json(&text).unwrap(), g);
        }

        #[test]
        fn darts_text_round_trips(g in crate::testing::arb_genotype()) {
            let text = g.to_darts_text();
            let two_per_node = |c: &CellGenotype| c.nodes.iter().all(|n| n.len() == 2);
            proptest::prop_assert_eq!(text.contains("normal_nodes"), !two_per_node(&g.normal));
            proptest::prop_assert_eq!(text.contains("reduce_nodes"), !two_per_node(&g.reduce));
            proptest::prop_assert_eq!(Genotype::from_darts_text(&text).unwrap(), g);
        }
    }
}
