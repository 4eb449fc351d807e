//! The arch file: architecture parameters on disk, written by the search every epoch and
//! read by `entrannas derive`; and the derivation report built from it.
//!
//! ```json
//! {"ops": ["none", "skip_connect", "sep_conv_3x3"], "inputs": 2, "nodes": 4, "tau": 1.0,
//!  "normal": {"alpha": [[0.1, 0.2, 0.3], ...one row per edge...], "beta": [0.0, 0.0, 0.0, 0.0]},
//!  "reduce": {"alpha": [...], "beta": [...]}}
//! ```
//!
//! `alpha` has one row per edge in DARTS order and one value per op; `beta` (one value
//! per intermediate node) is needed only by the DST rule. `inputs`, `nodes` and `tau`
//! default to 2, 4 and 1.0.

use std::path::Path;

use entrannas_cell::CellTopology;
use entrannas_cell::{CellGenotype, Connection, Genotype};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::derivation::{
    NONE_OP, derive_dst, derive_top_k, validate_beta, validate_matrix, validate_ops,
    validate_topology,
};
use crate::error::RelaxError;
use crate::host::{self, Matrix};

fn default_inputs() -> usize {
    2
}

fn default_nodes() -> usize {
    4
}

fn default_tau() -> f64 {
    1.0
}

/// The architecture parameters of one cell type in an arch file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellArch {
    /// Operation logits, one row per edge (DARTS order), one value per op.
    pub alpha: Matrix,
    /// Threshold logits, one per intermediate node (DST only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<Vec<f64>>,
}

/// An arch file: the op list, the cell's shape, the temperature and both cell types'
/// parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchFile {
    /// The op names, one per column of `alpha` (`none` allowed).
    pub ops: Vec<String>,
    /// Number of input nodes per cell.
    #[serde(default = "default_inputs")]
    pub inputs: usize,
    /// Number of intermediate nodes per cell.
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// The softmax temperature the coefficients are computed at.
    #[serde(default = "default_tau")]
    pub tau: f64,
    /// The normal cell's parameters.
    pub normal: CellArch,
    /// The reduction cell's parameters.
    pub reduce: CellArch,
}

impl ArchFile {
    /// Parses and validates an arch file; op names must be among `valid_ops`.
    ///
    /// # Errors
    /// Malformed JSON (with line and column), a missing field or a field of the wrong type
    /// (named with its position, e.g. `normal.alpha[3][2]`), any failure of
    /// [`ArchFile::validate`], or an op name not in `valid_ops`.
    pub fn from_json_str(text: &str, valid_ops: &[&str]) -> Result<Self, RelaxError> {
        let value: Value = serde_json::from_str(text)?;
        let arch = Self::from_json_value(&value)?;
        arch.validate()?;
        arch.check_op_names(valid_ops)?;
        Ok(arch)
    }

    /// Reads an arch file from parsed JSON, naming the field of any missing or wrongly
    /// typed value; does not [`validate`](ArchFile::validate). Unknown fields are
    /// ignored, so the search may add its own.
    ///
    /// # Errors
    /// [`RelaxError::MissingField`] or [`RelaxError::FieldType`].
    pub fn from_json_value(value: &Value) -> Result<Self, RelaxError> {
        let root = object(value, "the arch file")?;
        let cell = |name: &str| -> Result<CellArch, RelaxError> {
            let cell = object(required(root, name, name)?, name)?;
            let alpha_field = format!("{name}.alpha");
            let beta_field = format!("{name}.beta");
            Ok(CellArch {
                alpha: matrix(required(cell, "alpha", &alpha_field)?, &alpha_field)?,
                beta: match cell.get("beta") {
                    None | Some(Value::Null) => None,
                    Some(beta) => Some(numbers(beta, &beta_field)?),
                },
            })
        };
        let ops = array(required(root, "ops", "ops")?, "ops")?
            .iter()
            .enumerate()
            .map(|(i, op)| match op {
                Value::String(name) => Ok(name.clone()),
                other => Err(wrong_type(&format!("ops[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<String>, RelaxError>>()?;
        Ok(ArchFile {
            ops,
            inputs: optional_count(root, "inputs")?.unwrap_or_else(default_inputs),
            nodes: optional_count(root, "nodes")?.unwrap_or_else(default_nodes),
            tau: match root.get("tau") {
                None | Some(Value::Null) => default_tau(),
                Some(tau) => number(tau, "tau")?,
            },
            normal: cell("normal")?,
            reduce: cell("reduce")?,
        })
    }

    /// Reads, parses and validates an arch file; see [`ArchFile::from_json_str`].
    ///
    /// # Errors
    /// The file cannot be read, or [`ArchFile::from_json_str`] fails.
    pub fn from_path(path: impl AsRef<Path>, valid_ops: &[&str]) -> Result<Self, RelaxError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RelaxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, valid_ops)
    }

    /// The arch file as pretty-printed JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("an arch file always serialises")
    }

    /// Writes the arch file as pretty-printed JSON.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), RelaxError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json_string()).map_err(|source| RelaxError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The cell's DAG.
    pub fn topology(&self) -> CellTopology {
        CellTopology::new(self.inputs, self.nodes)
    }

    /// The parameters of the normal and the reduction cell, with the field prefix used
    /// in messages.
    fn cells(&self) -> [(&'static str, &CellArch); 2] {
        [("normal", &self.normal), ("reduce", &self.reduce)]
    }

    /// Checks the structure: a usable op list, a valid topology and temperature, `alpha`
    /// with one row per edge and one value per op, `beta` (where present) with one value
    /// per node, every number finite.
    ///
    /// # Errors
    /// The first problem found, naming its field.
    pub fn validate(&self) -> Result<(), RelaxError> {
        validate_ops(&self.ops)?;
        let topology = self.topology();
        validate_topology(&topology)?;
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(RelaxError::InvalidTemperature(self.tau));
        }
        for (name, cell) in self.cells() {
            validate_matrix(
                &format!("{name}.alpha"),
                &cell.alpha,
                &topology,
                self.ops.len(),
            )?;
            if let Some(beta) = &cell.beta {
                validate_beta(&format!("{name}.beta"), beta, &topology)?;
            }
        }
        Ok(())
    }

    /// Checks every op name is one of `valid_ops`.
    ///
    /// # Errors
    /// [`RelaxError::UnknownOp`] listing the valid names.
    pub fn check_op_names(&self, valid_ops: &[&str]) -> Result<(), RelaxError> {
        match self
            .ops
            .iter()
            .enumerate()
            .find(|(_, op)| !valid_ops.contains(&op.as_str()))
        {
            Some((index, op)) => Err(RelaxError::UnknownOp {
                name: op.clone(),
                index,
                valid: valid_ops.iter().map(|s| s.to_string()).collect(),
            }),
            None => Ok(()),
        }
    }
}

fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Value, RelaxError> {
    object.get(key).ok_or_else(|| RelaxError::MissingField {
        field: field.to_string(),
    })
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> RelaxError {
    RelaxError::FieldType {
        field: field.to_string(),
        expected: expected.to_string(),
        found: kind(found),
    }
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, RelaxError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(field, "an object", value))
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, RelaxError> {
    value
        .as_array()
        .ok_or_else(|| wrong_type(field, "an array", value))
}

fn number(value: &Value, field: &str) -> Result<f64, RelaxError> {
    value
        .as_f64()
        .ok_or_else(|| wrong_type(field, "a number", value))
}

fn numbers(value: &Value, field: &str) -> Result<Vec<f64>, RelaxError> {
    array(value, field)?
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("{field}[{i}]")))
        .collect()
}

fn matrix(value: &Value, field: &str) -> Result<Matrix, RelaxError> {
    array(value, field)?
        .iter()
        .enumerate()
        .map(|(i, row)| numbers(row, &format!("{field}[{i}]")))
        .collect()
}

fn optional_count(object: &Map<String, Value>, key: &str) -> Result<Option<usize>, RelaxError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong_type(key, "a non-negative integer", value)),
    }
}

/// A derivation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The hand-crafted rule: `k` edges per node, each with its strongest non-`none` op
    /// (`TopK(2)` is DARTS and EnTranNAS). See [`derive_top_k`].
    TopK(usize),
    /// The hand-crafted rule with at most `max_skip` `skip_connect` per cell.
    TopKMaxSkip {
        /// Edges per node.
        k: usize,
        /// The most `skip_connect` connections a cell may keep.
        max_skip: usize,
    },
    /// EnTranNAS-DST: every connection with `q > 0`. See [`derive_dst`].
    Dst,
}

impl Default for Rule {
    /// `TopK(2)`.
    fn default() -> Self {
        Rule::TopK(2)
    }
}

/// The derivation of one cell type: its coefficients at every stage and the selected
/// connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    /// Softmax with temperature (Eq. 5), one row per edge.
    pub p: Matrix,
    /// After connection normalization (Eq. 7); DST only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_hat: Option<Matrix>,
    /// The thresholds, one per node; DST only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<Vec<f64>>,
    /// The DST coefficients (Eqs. 8 and 9); DST only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<Matrix>,
    /// The selected connections of every intermediate node, as `[input, "op"]` pairs.
    pub derived: Vec<Vec<Connection>>,
}

impl CellReport {
    /// The coefficients an Engine cell weights its ops with: `q` for DST, `p` otherwise.
    pub fn engine_coefficients(&self) -> &Matrix {
        self.q.as_ref().unwrap_or(&self.p)
    }

    /// The share of an Engine cell's op weight that its derived cell does not compute:
    /// the [engine coefficients](Self::engine_coefficients) of every `(edge, op)` pair
    /// that is not a derived connection, over those of all pairs, both without `none`
    /// (it outputs zeros, so its weight adds nothing to a node).
    ///
    /// 0 means the Engine cell mixes only its child's connections, so the super-net and
    /// the child-net differ only in how those are weighted; DST always gives 0, since it
    /// derives every pair with `q > 0`. Under the top-2 rule with one-hot op weights, it
    /// is the share of the edges whose strongest op is not `none` that the derived cell
    /// drops: `(14 - 8) / 14` for DARTS's cell when no edge goes to `none`. `ops` names
    /// the coefficient columns and `topology` the rows; a matrix without weight outside
    /// `none` gives 0. Connections that do not fit the topology (an input at or after
    /// its node, an unknown op) count as outside: they weigh nothing in the Engine cell.
    pub fn weight_outside_derived<S: AsRef<str>>(&self, ops: &[S], topology: &CellTopology) -> f64 {
        let coefficients = self.engine_coefficients();
        let counted = |k: usize| ops.get(k).is_some_and(|op| op.as_ref() != NONE_OP);
        let mut inside = 0.0;
        for (node, connections) in topology.intermediate_nodes().zip(&self.derived) {
            for connection in connections.iter().filter(|c| c.input < node) {
                let edge = topology.edge_index(connection.input, node);
                let Some(k) = ops.iter().position(|op| op.as_ref() == connection.op) else {
                    continue;
                };
                if counted(k) {
                    inside += coefficients
                        .get(edge)
                        .and_then(|row| row.get(k))
                        .unwrap_or(&0.0);
                }
            }
        }
        let total: f64 = coefficients
            .iter()
            .flat_map(|row| row.iter().enumerate())
            .filter(|(k, _)| counted(*k))
            .map(|(_, c)| c)
            .sum();
        if total > 0.0 {
            ((total - inside) / total).max(0.0)
        } else {
            0.0
        }
    }

    /// The mean over edges of the largest coefficient of each edge's op distribution
    /// `p` (`none` included): `1 / K` for uniform distributions, 1 when every edge is
    /// one-hot. How far the softmax has sharpened, at the report's temperature.
    pub fn mean_largest_coefficient(&self) -> f64 {
        let largest = self
            .p
            .iter()
            .map(|row| row.iter().copied().fold(0.0, f64::max));
        largest.clone().sum::<f64>() / largest.count().max(1) as f64
    }

    /// The edges the derived cell does not compute, and how many of them have `none`
    /// as their strongest op in `p` (the super-net itself switched them off, rather
    /// than the rule dropping an edge whose op it still weights). `ops` names the
    /// coefficient columns and `topology` the rows, as for
    /// [`weight_outside_derived`](Self::weight_outside_derived).
    pub fn dropped_edges<S: AsRef<str>>(&self, ops: &[S], topology: &CellTopology) -> DroppedEdges {
        let none = ops.iter().position(|op| op.as_ref() == NONE_OP);
        let mut dropped = DroppedEdges::default();
        for (edge, source, target) in topology.edges() {
            let kept = self
                .derived
                .get(target - topology.inputs)
                .is_some_and(|node| node.iter().any(|c| c.input == source));
            if kept {
                continue;
            }
            dropped.edges += 1;
            let Some(row) = self.p.get(edge) else {
                continue;
            };
            let strongest = row.iter().enumerate().fold(
                None,
                |best: Option<(usize, f64)>, (k, &v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((k, v)),
                },
            );
            if none.is_some() && strongest.map(|(k, _)| k) == none {
                dropped.to_none += 1;
            }
        }
        dropped
    }
}

/// The edges a derived cell drops ([`CellReport::dropped_edges`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedEdges {
    /// Edges of the cell with no derived connection.
    pub edges: usize,
    /// Of those, the edges whose strongest op is `none`.
    pub to_none: usize,
}

/// The derivation report of an arch file: both cell types' coefficients and the
/// genotype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeriveReport {
    /// The normal cell.
    pub normal: CellReport,
    /// The reduction cell.
    pub reduce: CellReport,
    /// The derived architecture.
    pub genotype: Genotype,
}

/// Derives both cell types of `arch` with `rule`, reporting the coefficients.
///
/// # Errors
/// Any failure of [`ArchFile::validate`], a `beta` missing for [`Rule::Dst`], or `k = 0`.
pub fn derive_report(arch: &ArchFile, rule: Rule) -> Result<DeriveReport, RelaxError> {
    arch.validate()?;
    let topology = arch.topology();
    let cell = |name: &str, cell: &CellArch| -> Result<(CellReport, CellGenotype), RelaxError> {
        let p = host::softmax_with_temperature(&cell.alpha, arch.tau);
        let (genotype, p_hat, t, q) = match rule {
            Rule::TopK(k) => (
                derive_top_k(&p, &arch.ops, &topology, k, None)?,
                None,
                None,
                None,
            ),
            Rule::TopKMaxSkip { k, max_skip } => (
                derive_top_k(&p, &arch.ops, &topology, k, Some(max_skip))?,
                None,
                None,
                None,
            ),
            Rule::Dst => {
                let beta = cell.beta.as_ref().ok_or_else(|| RelaxError::MissingBeta {
                    field: format!("{name}.beta"),
                })?;
                let stages = host::dst_stages(&cell.alpha, beta, arch.tau, &topology);
                let genotype = derive_dst(&stages.q, &arch.ops, &topology)?;
                (genotype, Some(stages.p_hat), Some(stages.t), Some(stages.q))
            }
        };
        let report = CellReport {
            p,
            p_hat,
            t,
            q,
            derived: genotype.nodes.clone(),
        };
        Ok((report, genotype))
    };
    let (normal, normal_genotype) = cell("normal", &arch.normal)?;
    let (reduce, reduce_genotype) = cell("reduce", &arch.reduce)?;
    Ok(DeriveReport {
        normal,
        reduce,
        genotype: Genotype {
            normal: normal_genotype,
            reduce: reduce_genotype,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    const VALID: [&str; 4] = ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"];

    fn sample(beta: bool) -> ArchFile {
        let topology = CellTopology::DARTS;
        let alpha = |shift: usize| -> Matrix {
            (0..topology.num_edges())
                .map(|e| {
                    (0..3)
                        .map(|k| (((e + shift) * 5 + k * 3) % 7) as f64 * 0.1)
                        .collect()
                })
                .collect()
        };
        ArchFile {
            ops: vec!["none".into(), "skip_connect".into(), "sep_conv_3x3".into()],
            inputs: 2,
            nodes: 4,
            tau: 1.0,
            normal: CellArch {
                alpha: alpha(0),
                beta: beta.then(|| vec![0.0, 0.5, -0.5, 1.0]),
            },
            reduce: CellArch {
                alpha: alpha(3),
                beta: beta.then(|| vec![0.0; 4]),
            },
        }
    }

    #[test]
    fn round_trips_through_json() {
        let arch = sample(true);
        let text = arch.to_json_string();
        assert_eq!(ArchFile::from_json_str(&text, &VALID).unwrap(), arch);
        let arch = sample(false);
        let text = arch.to_json_string();
        assert!(!text.contains("beta"));
        assert_eq!(ArchFile::from_json_str(&text, &VALID).unwrap(), arch);
    }

    #[test]
    fn inputs_nodes_and_tau_have_defaults() {
        let text = r#"{"ops": ["skip_connect", "sep_conv_3x3"],
            "normal": {"alpha": [[0, 1], [1, 0]]}, "reduce": {"alpha": [[0, 1], [1, 0]]},
            "nodes": 1}"#;
        let arch = ArchFile::from_json_str(text, &VALID).unwrap();
        assert_eq!((arch.inputs, arch.nodes, arch.tau), (2, 1, 1.0));
    }

    #[test]
    fn parse_errors_name_the_field() {
        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["normal"]["alpha"].as_array_mut().unwrap().pop();
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "normal.alpha has 13 rows, expected 14 for 2 inputs and 4 nodes"
        );

        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["reduce"]["alpha"][5] = serde_json::json!([0.1, 0.2]);
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reduce.alpha[5] has 2 values, expected 3 (one per op in the op list)"
        );

        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["ops"][2] = serde_json::json!("sep_conv_9x9");
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown op `sep_conv_9x9` in ops[2]; valid ops: none, skip_connect, sep_conv_3x3, max_pool_3x3"
        );

        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["reduce"]["beta"] = serde_json::json!([0.0, 1.0]);
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert!(e.to_string().starts_with("reduce.beta has 2 values"), "{e}");

        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["tau"] = serde_json::json!(0.0);
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert!(matches!(e, RelaxError::InvalidTemperature(_)));

        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["ops"] = serde_json::json!(["none", "none", "none"]);
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert!(matches!(e, RelaxError::DuplicateOp { .. }));
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let e = ArchFile::from_json_str("{\n  \"ops\": [\"none\",,]\n}", &VALID).unwrap_err();
        let message = e.to_string();
        assert!(message.starts_with("malformed arch file:"), "{message}");
        assert!(message.contains("line 2 column"), "{message}");
        let e = ArchFile::from_json_str(r#"{"ops": ["none"]}"#, &VALID).unwrap_err();
        assert!(e.to_string().contains("missing field `normal`"), "{e}");
        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["normal"]["alpha"][3][2] = serde_json::json!("x");
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`normal.alpha[3][2]` must be a number, found string \"x\""
        );
        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["reduce"].as_object_mut().unwrap().remove("alpha");
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(e.to_string(), "missing field `reduce.alpha`");
        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["inputs"] = serde_json::json!(-1);
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`inputs` must be a non-negative integer, found number -1"
        );
        let mut value = serde_json::to_value(sample(true)).unwrap();
        value["reduce"]["beta"] = serde_json::json!({"a": 1});
        let e = ArchFile::from_json_str(&value.to_string(), &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`reduce.beta` must be an array, found an object"
        );
        let e = ArchFile::from_json_str("[1, 2]", &VALID).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`the arch file` must be an object, found an array"
        );
        // JSON has no NaN or infinity: out-of-range numbers are rejected by the parser.
        let mut text = sample(false).to_json_string();
        text = text.replacen("0.0", "1e999", 1);
        assert!(matches!(
            ArchFile::from_json_str(&text, &VALID),
            Err(RelaxError::Json(_))
        ));
    }

    #[test]
    fn non_finite_values_are_rejected_not_panicked_on() {
        let mut arch = sample(true);
        arch.reduce.alpha[2][1] = f64::INFINITY;
        let e = derive_report(&arch, Rule::TopK(2)).unwrap_err();
        assert_eq!(e.to_string(), "reduce.alpha[2][1] is not finite (inf)");
        let mut arch = sample(true);
        arch.normal.beta.as_mut().unwrap()[1] = f64::NAN;
        let e = derive_report(&arch, Rule::Dst).unwrap_err();
        assert_eq!(e.to_string(), "normal.beta[1] is not finite (NaN)");
    }

    #[test]
    fn dst_needs_beta() {
        let mut arch = sample(true);
        arch.reduce.beta = None;
        let e = derive_report(&arch, Rule::Dst).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reduce.beta is missing: the dst rule needs one threshold logit per intermediate node"
        );
        // Top-k does not.
        assert!(derive_report(&arch, Rule::TopK(2)).is_ok());
    }

    #[test]
    fn top2_report_has_p_and_derived_only() {
        let report = derive_report(&sample(false), Rule::TopK(2)).unwrap();
        let value = serde_json::to_value(&report).unwrap();
        let normal = value["normal"].as_object().unwrap();
        let mut keys: Vec<&str> = normal.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["derived", "p"]);
        assert_eq!(normal["p"].as_array().unwrap().len(), 14);
        assert_eq!(
            value["normal"]["derived"],
            value["genotype"]["normal"]["nodes"]
        );
        assert_eq!(
            value["genotype"]["normal"]["concat"],
            serde_json::json!([2, 3, 4, 5])
        );
        for node in &report.genotype.normal.nodes {
            assert_eq!(node.len(), 2);
            assert!(node.iter().all(|c| c.op != "none"));
        }
        // Pairs are serialised as [input, "op"].
        assert!(value["normal"]["derived"][0][0][0].is_u64());
        assert!(value["normal"]["derived"][0][0][1].is_string());
    }

    #[test]
    fn dst_report_has_every_stage_and_matches_the_host_math() {
        let arch = sample(true);
        let report = derive_report(&arch, Rule::Dst).unwrap();
        let stages = host::dst_stages(
            &arch.normal.alpha,
            arch.normal.beta.as_ref().unwrap(),
            arch.tau,
            &arch.topology(),
        );
        assert_eq!(report.normal.p, stages.p);
        assert_eq!(report.normal.p_hat.as_ref(), Some(&stages.p_hat));
        assert_eq!(report.normal.t.as_ref(), Some(&stages.t));
        assert_eq!(report.normal.q.as_ref(), Some(&stages.q));
        let value = serde_json::to_value(&report).unwrap();
        let mut keys: Vec<&str> = value["reduce"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["derived", "p", "p_hat", "q", "t"]);
        for node in &report.genotype.normal.nodes {
            assert!(!node.is_empty());
        }
    }

    #[test]
    fn max_skip_rule_caps_skip_connections() {
        let arch = sample(false);
        let report = derive_report(&arch, Rule::TopKMaxSkip { k: 2, max_skip: 0 }).unwrap();
        for cell in [&report.genotype.normal, &report.genotype.reduce] {
            assert!(cell.nodes.iter().flatten().all(|c| c.op != "skip_connect"));
        }
    }

    #[test]
    fn weight_outside_derived_by_hand() {
        // One intermediate node, edges (0, 2) and (1, 2); ops none, skip, conv.
        let topology = CellTopology::new(2, 1);
        let ops = ["none", "skip_connect", "sep_conv_3x3"];
        let report = CellReport {
            p: vec![vec![0.2, 0.3, 0.5], vec![0.6, 0.1, 0.3]],
            p_hat: None,
            t: None,
            q: None,
            derived: vec![vec![Connection::new(0, "sep_conv_3x3")]],
        };
        // Without `none`: 0.3 + 0.5 + 0.1 + 0.3 = 1.2 in all, 0.5 of it derived.
        assert_relative_eq!(
            report.weight_outside_derived(&ops, &topology),
            0.7 / 1.2,
            epsilon = 1e-12
        );
        // Both edges' convs derived: the skips' 0.4 stays outside.
        let both = CellReport {
            derived: vec![vec![
                Connection::new(0, "sep_conv_3x3"),
                Connection::new(1, "sep_conv_3x3"),
            ]],
            ..report.clone()
        };
        assert_relative_eq!(
            both.weight_outside_derived(&ops, &topology),
            0.4 / 1.2,
            epsilon = 1e-12
        );
        // DST weighs with q, not p.
        let dst = CellReport {
            q: Some(vec![vec![0.0, 0.0, 1.0], vec![0.0, 0.25, 0.75]]),
            ..report.clone()
        };
        assert_relative_eq!(
            dst.weight_outside_derived(&ops, &topology),
            1.0 / 2.0,
            epsilon = 1e-12
        );
        // A connection from a later node (a malformed report) weighs nothing; no panic.
        let backwards = CellReport {
            derived: vec![vec![Connection::new(3, "sep_conv_3x3")]],
            ..report
        };
        assert_relative_eq!(
            backwards.weight_outside_derived(&ops, &topology),
            1.0,
            epsilon = 1e-12
        );
        // Only `none` weighted: nothing to lose.
        let silent = CellReport {
            p: vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0]],
            p_hat: None,
            t: None,
            q: None,
            derived: vec![vec![Connection::new(0, "skip_connect")]],
        };
        assert_eq!(silent.weight_outside_derived(&ops, &topology), 0.0);
    }

    #[test]
    fn mean_largest_coefficient_and_dropped_edges_by_hand() {
        // Two intermediate nodes: edges (0,2), (1,2), (0,3), (1,3), (2,3).
        let topology = CellTopology::new(2, 2);
        let ops = ["none", "skip_connect", "sep_conv_3x3"];
        let report = CellReport {
            p: vec![
                vec![0.2, 0.3, 0.5],
                vec![0.6, 0.1, 0.3],
                vec![0.1, 0.8, 0.1],
                vec![0.5, 0.25, 0.25],
                vec![0.3, 0.3, 0.4],
            ],
            p_hat: None,
            t: None,
            q: None,
            derived: vec![
                vec![Connection::new(0, "sep_conv_3x3")],
                vec![
                    Connection::new(0, "skip_connect"),
                    Connection::new(2, "sep_conv_3x3"),
                ],
            ],
        };
        assert_relative_eq!(
            report.mean_largest_coefficient(),
            (0.5 + 0.6 + 0.8 + 0.5 + 0.4) / 5.0,
            epsilon = 1e-12
        );
        // Dropped: (1,2), where none is strongest, and (1,3), where none is strongest too.
        assert_eq!(
            report.dropped_edges(&ops, &topology),
            DroppedEdges {
                edges: 2,
                to_none: 2
            }
        );
        // Keep (1,3) and drop (0,3), whose strongest op is skip_connect.
        let other = CellReport {
            derived: vec![
                vec![Connection::new(0, "sep_conv_3x3")],
                vec![
                    Connection::new(1, "skip_connect"),
                    Connection::new(2, "sep_conv_3x3"),
                ],
            ],
            ..report.clone()
        };
        assert_eq!(
            other.dropped_edges(&ops, &topology),
            DroppedEdges {
                edges: 2,
                to_none: 1
            }
        );
        // Without a `none` column nothing counts as switched off; uniform rows give 1/K.
        let uniform = CellReport {
            p: vec![vec![0.5, 0.5]; 5],
            ..report
        };
        assert_relative_eq!(uniform.mean_largest_coefficient(), 0.5, epsilon = 1e-12);
        assert_eq!(
            uniform
                .dropped_edges(&["skip_connect", "sep_conv_3x3"], &topology)
                .to_none,
            0
        );
    }

    /// A DARTS cell whose edges are one-hot at a low temperature: `chosen(edge)` is the
    /// op index that wins on that edge.
    fn one_hot_arch(chosen: impl Fn(usize) -> usize) -> ArchFile {
        let alpha: Matrix = (0..14)
            .map(|e| {
                (0..3)
                    .map(|k| if k == chosen(e) { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        ArchFile {
            ops: vec!["none".into(), "skip_connect".into(), "sep_conv_3x3".into()],
            inputs: 2,
            nodes: 4,
            tau: 0.01,
            normal: CellArch {
                alpha: alpha.clone(),
                beta: None,
            },
            reduce: CellArch { alpha, beta: None },
        }
    }

    #[test]
    fn top2_engine_weighs_its_dropped_edges_unless_none_takes_them() {
        let topology = CellTopology::DARTS;
        // Every edge one-hot on a conv: 6 of 14 edges' weight is dropped.
        let arch = one_hot_arch(|_| 2);
        let report = derive_report(&arch, Rule::TopK(2)).unwrap();
        assert_relative_eq!(
            report.normal.weight_outside_derived(&arch.ops, &topology),
            6.0 / 14.0,
            epsilon = 1e-9
        );
        // The two edges into each node from its two nearest predecessors keep a conv, the
        // others go to `none`: the Engine cell mixes exactly its child.
        let arch = one_hot_arch(|e| {
            let (_, source, target) = topology.edges().nth(e).unwrap();
            if source + 2 >= target { 2 } else { 0 }
        });
        let report = derive_report(&arch, Rule::TopK(2)).unwrap();
        assert!(report.normal.weight_outside_derived(&arch.ops, &topology) < 1e-9);
    }

    fn valid_arch() -> impl Strategy<Value = (ArchFile, usize)> {
        (1usize..4, 1usize..6, 2usize..7).prop_flat_map(|(inputs, nodes, num_ops)| {
            let topology = CellTopology::new(inputs, nodes);
            let matrix = prop::collection::vec(
                prop::collection::vec(-3.0f64..3.0, num_ops),
                topology.num_edges(),
            );
            let beta = prop::collection::vec(-3.0f64..3.0, nodes);
            (
                matrix.clone(),
                matrix,
                beta.clone(),
                beta,
                0.05f64..5.0,
                1usize..4,
            )
                .prop_map(move |(normal, reduce, normal_beta, reduce_beta, tau, k)| {
                    let mut ops = vec!["none".to_string()];
                    ops.extend((1..num_ops).map(|k| format!("op_{k}")));
                    let arch = ArchFile {
                        ops,
                        inputs,
                        nodes,
                        tau,
                        normal: CellArch {
                            alpha: normal,
                            beta: Some(normal_beta),
                        },
                        reduce: CellArch {
                            alpha: reduce,
                            beta: Some(reduce_beta),
                        },
                    };
                    (arch, k)
                })
        })
    }

    proptest::proptest! {
        /// DST derives every pair it weighs, so its Engine cell loses nothing; top-k
        /// loses a share in [0, 1) (its derived ops always carry some weight).
        #[test]
        fn weight_outside_derived_bounds(input in valid_arch()) {
            let (arch, k) = input;
            let topology = arch.topology();
            let dst = derive_report(&arch, Rule::Dst).unwrap();
            for cell in [&dst.normal, &dst.reduce] {
                prop_assert!(cell.weight_outside_derived(&arch.ops, &topology).abs() < 1e-12);
            }
            let top = derive_report(&arch, Rule::TopK(k)).unwrap();
            for cell in [&top.normal, &top.reduce] {
                let share = cell.weight_outside_derived(&arch.ops, &topology);
                prop_assert!((0.0..1.0).contains(&share), "{share}");
            }
        }
    }

    fn any_number() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -10.0f64..10.0,
            1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, -f64::INFINITY, 0.0, -1.0, 1e300]),
        ]
    }

    fn any_arch() -> impl Strategy<Value = ArchFile> {
        let names = prop::sample::select(vec!["none", "skip_connect", "sep_conv_3x3", "bogus"]);
        let cell = || {
            (
                prop::collection::vec(prop::collection::vec(any_number(), 0..5), 0..12),
                prop::option::of(prop::collection::vec(any_number(), 0..6)),
            )
                .prop_map(|(alpha, beta)| CellArch { alpha, beta })
        };
        (
            prop::collection::vec(names.prop_map(String::from), 0..5),
            prop::sample::select(vec![0usize, 1, 2, 3, usize::MAX]),
            prop::sample::select(vec![0usize, 1, 2, 4, 1 << 40, usize::MAX]),
            any_number(),
            cell(),
            cell(),
        )
            .prop_map(|(ops, inputs, nodes, tau, normal, reduce)| ArchFile {
                ops,
                inputs,
                nodes,
                tau,
                normal,
                reduce,
            })
    }

    proptest::proptest! {
        #[test]
        fn bad_input_never_panics(arch in any_arch(), k in 0usize..4, text in ".{0,64}") {
            for rule in [Rule::TopK(k), Rule::TopKMaxSkip { k, max_skip: 0 }, Rule::Dst] {
                let _ = derive_report(&arch, rule);
            }
            let _ = ArchFile::from_json_str(&arch.to_json_string(), &VALID);
            let _ = ArchFile::from_json_str(&text, &VALID);
        }
    }

    #[test]
    fn reads_and_writes_files() {
        let dir = std::env::temp_dir().join(format!("entrannas-relax-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("arch.json");
        sample(true).write(&path).unwrap();
        assert_eq!(ArchFile::from_path(&path, &VALID).unwrap(), sample(true));
        std::fs::remove_file(&path).unwrap();
        let e = ArchFile::from_path(&path, &VALID).unwrap_err();
        assert!(e.to_string().starts_with("cannot access arch file"), "{e}");
        std::fs::remove_dir(&dir).unwrap();
    }
}
