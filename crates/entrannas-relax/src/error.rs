//! The errors of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when validating architecture parameters, deriving a
/// genotype from them or reading an arch file. Every message names the offending field.
#[derive(Debug, Error)]
pub enum RelaxError {
    /// The arch file is not valid JSON or does not have the schema's shape; serde's
    /// message carries the line and column.
    #[error("malformed arch file: {0}")]
    Json(#[from] serde_json::Error),

    /// A required field of the arch file is missing.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field, e.g. `normal.alpha`.
        field: String,
    },

    /// A field of the arch file has the wrong JSON type.
    #[error("`{field}` must be {expected}, found {found}")]
    FieldType {
        /// The field and position, e.g. `normal.alpha[3][2]`.
        field: String,
        /// What the schema expects there.
        expected: String,
        /// What the file has there.
        found: String,
    },

    /// The arch file could not be read or written.
    #[error("cannot access arch file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A cell needs at least one input node and one intermediate node.
    #[error(
        "a cell needs at least 1 input and 1 intermediate node, got {inputs} inputs and {nodes} nodes"
    )]
    InvalidTopology {
        /// Number of input nodes asked for.
        inputs: usize,
        /// Number of intermediate nodes asked for.
        nodes: usize,
    },

    /// A coefficient matrix has the wrong number of rows (one row per edge).
    #[error("{field} has {rows} rows, expected {expected} for {inputs} inputs and {nodes} nodes")]
    RowCount {
        /// The matrix, e.g. `normal.alpha`.
        field: String,
        /// Rows found.
        rows: usize,
        /// Rows expected (the number of edges).
        expected: usize,
        /// Input nodes of the topology.
        inputs: usize,
        /// Intermediate nodes of the topology.
        nodes: usize,
    },

    /// A row of a coefficient matrix does not have one value per operation.
    #[error("{field}[{row}] has {len} values, expected {expected} (one per op in the op list)")]
    RowLength {
        /// The matrix, e.g. `normal.alpha`.
        field: String,
        /// The row (edge) index.
        row: usize,
        /// Values found.
        len: usize,
        /// Values expected (the number of ops).
        expected: usize,
    },

    /// A threshold vector does not have one value per intermediate node.
    #[error("{field} has {len} values, expected {expected} (one per intermediate node)")]
    BetaLength {
        /// The vector, e.g. `reduce.beta`.
        field: String,
        /// Values found.
        len: usize,
        /// Values expected.
        expected: usize,
    },

    /// A value is NaN or infinite.
    #[error("{field} is not finite ({value})")]
    NonFinite {
        /// The value's location, e.g. `normal.alpha[3][1]`.
        field: String,
        /// The value.
        value: f64,
    },

    /// The op list is empty.
    #[error("the op list is empty")]
    EmptyOps,

    /// The op list has no operation other than `none`: nothing could be selected.
    #[error("the op list has no operation other than `none`")]
    OnlyNone,

    /// An op name appears twice in the op list.
    #[error("op `{name}` appears more than once in ops")]
    DuplicateOp {
        /// The repeated name.
        name: String,
    },

    /// An op name is not one of the known operations.
    #[error("unknown op `{name}` in ops[{index}]; valid ops: {}", valid.join(", "))]
    UnknownOp {
        /// The unknown name.
        name: String,
        /// Its position in the op list.
        index: usize,
        /// The names that would have been accepted.
        valid: Vec<String>,
    },

    /// The DST rule needs thresholds and the cell has none.
    #[error("{field} is missing: the dst rule needs one threshold logit per intermediate node")]
    MissingBeta {
        /// The missing field, e.g. `reduce.beta`.
        field: String,
    },

    /// The temperature is not a positive finite number.
    #[error("tau must be positive and finite, got {0}")]
    InvalidTemperature(f64),

    /// The top-k rule was asked to keep no edge.
    #[error("top-k needs k >= 1, got k = {0}")]
    InvalidK(usize),
}
