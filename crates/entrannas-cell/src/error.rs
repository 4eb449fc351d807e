//! The error type of genotype reading, writing and validation.

use std::path::PathBuf;

use thiserror::Error;

use crate::genotype::CellKind;

/// Everything that can go wrong reading, writing, parsing or validating a genotype.
///
/// Messages name the cell (`normal` / `reduce`) and the node (numbered as in DARTS:
/// `0 .. inputs` are the cell inputs, intermediate nodes follow) where that applies.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GenotypeError {
    /// The text is not JSON, or a cell in it does not have the expected shape.
    #[error("invalid genotype JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The JSON is valid but not an object.
    #[error(
        "genotype JSON must be an object {{\"schema\": {supported}, \"normal\": {{...}}, \"reduce\": {{...}}}}, found {found}"
    )]
    NotAnObject {
        /// What was found instead (`an array`, `a string`, ...).
        found: &'static str,
        /// The schema version this build writes.
        supported: u32,
    },

    /// The JSON object has no `schema` field.
    #[error(
        "genotype JSON has no `schema` field; expected {{\"schema\": {supported}, \"normal\": {{...}}, \"reduce\": {{...}}}}"
    )]
    MissingSchema {
        /// The schema version this build reads.
        supported: u32,
    },

    /// The JSON's `schema` is not a version this build can read (for example, one
    /// written by a newer entrannas).
    #[error(
        "unsupported genotype schema version {found}: this build of entrannas reads schema version {supported} only"
    )]
    UnsupportedSchema {
        /// The `schema` value found, as written in the file.
        found: String,
        /// The schema version this build reads.
        supported: u32,
    },

    /// Reading or writing a genotype file failed.
    #[error("cannot {action} genotype file {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A genotype file was read but its content is invalid.
    #[error("genotype file {}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        source: Box<GenotypeError>,
    },

    /// DARTS genotype text (`Genotype(normal=[...], ...)`) could not be parsed.
    #[error(
        "DARTS genotype text, line {line}, column {column}: expected {expected}, found {found}"
    )]
    DartsText {
        /// 1-based line of the offending token.
        line: usize,
        /// 1-based column (in characters) of the offending token.
        column: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found.
        found: String,
    },

    /// A cell has `inputs == 0`.
    #[error("{cell} cell: `inputs` is 0; a cell needs at least one input node")]
    NoInputs {
        /// The cell.
        cell: CellKind,
    },

    /// A cell has no intermediate nodes.
    #[error("{cell} cell has no intermediate nodes; it needs at least one")]
    NoIntermediateNodes {
        /// The cell.
        cell: CellKind,
    },

    /// An intermediate node has no incoming connection.
    #[error(
        "{cell} cell, node {node}: no incoming connection; every intermediate node needs at least one"
    )]
    EmptyNode {
        /// The cell.
        cell: CellKind,
        /// The node (DARTS numbering).
        node: usize,
    },

    /// A connection comes from the node itself or from a later node.
    #[error(
        "{cell} cell, node {node}: connection `{op}` from node {input} does not come from an earlier node (inputs must be < {node})"
    )]
    ForwardInput {
        /// The cell.
        cell: CellKind,
        /// The node the connection enters.
        node: usize,
        /// The offending source node.
        input: usize,
        /// The connection's operation.
        op: String,
    },

    /// A connection names an operation that is not in the caller's op set.
    #[error("{cell} cell, node {node}: unknown operation `{op}`; valid operations: {valid}")]
    UnknownOp {
        /// The cell.
        cell: CellKind,
        /// The node the connection enters.
        node: usize,
        /// The unknown operation name.
        op: String,
        /// The valid names, comma separated.
        valid: String,
    },

    /// A cell's `concat` is empty.
    #[error("{cell} cell: `concat` is empty; at least one intermediate node must form the output")]
    EmptyConcat {
        /// The cell.
        cell: CellKind,
    },

    /// A cell's `concat` names a node that does not exist.
    #[error("{cell} cell: `concat` names node {index}, but the cell has only {nodes} nodes")]
    ConcatOutOfRange {
        /// The cell.
        cell: CellKind,
        /// The offending index.
        index: usize,
        /// Number of nodes of the cell, inputs included.
        nodes: usize,
    },

    /// A cell's `concat` names a node twice.
    #[error("{cell} cell: `concat` names node {index} twice")]
    DuplicateConcat {
        /// The cell.
        cell: CellKind,
        /// The repeated index.
        index: usize,
    },

    /// A cell's `concat` names an input node.
    #[error(
        "{cell} cell: `concat` names node {index}, an input node (nodes 0..{inputs} are inputs); only intermediate nodes can be concatenated"
    )]
    ConcatInput {
        /// The cell.
        cell: CellKind,
        /// The offending index.
        index: usize,
        /// Number of input nodes of the cell.
        inputs: usize,
    },

    /// [`Genotype::builtin`](crate::Genotype::builtin) got a name it does not know.
    #[error("unknown built-in genotype `{name}`; valid names: {valid}")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The valid names, comma separated.
        valid: String,
    },
}
