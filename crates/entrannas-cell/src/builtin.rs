//! Published genotypes: DARTS (first and second order) and PC-DARTS.
//!
//! Values are copied from `cnn/genotypes.py` of
//! [quark0/darts](https://github.com/quark0/darts) (`DARTS_V1`, `DARTS_V2`) and
//! `genotypes.py` of [yuhuixu1993/PC-DARTS](https://github.com/yuhuixu1993/PC-DARTS)
//! (`PCDARTS = PC_DARTS_cifar`). The published text is kept verbatim in the `*_TEXT`
//! constants; the tests check that it parses to the genotypes built here.

use crate::error::GenotypeError;
use crate::genotype::{CellGenotype, Connection, Genotype};

/// `DARTS_V1` (first-order DARTS, CIFAR-10) exactly as published in quark0/darts.
pub const DARTS_V1_TEXT: &str = "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])";

/// `DARTS_V2` (second-order DARTS, CIFAR-10) exactly as published in quark0/darts.
pub const DARTS_V2_TEXT: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/// `PC_DARTS_cifar` (the `PCDARTS` genotype) exactly as published in
/// yuhuixu1993/PC-DARTS.
pub const PC_DARTS_TEXT: &str = "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))";

/// The names accepted by [`Genotype::builtin`] (besides the aliases `pcdarts` and
/// `darts`, which is `darts_v2` as in DARTS's code).
pub const BUILTIN_NAMES: [&str; 3] = ["darts_v1", "darts_v2", "pc_darts"];

type Pairs = [(&'static str, usize); 8];

const DARTS_V1_NORMAL: Pairs = [
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("skip_connect", 2),
];
const DARTS_V1_REDUCE: Pairs = [
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("skip_connect", 2),
    ("avg_pool_3x3", 0),
];
const DARTS_V2_NORMAL: Pairs = [
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("skip_connect", 0),
    ("dil_conv_3x3", 2),
];
const DARTS_V2_REDUCE: Pairs = [
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
];
const PC_DARTS_NORMAL: Pairs = [
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("sep_conv_3x3", 0),
    ("dil_conv_3x3", 1),
    ("sep_conv_5x5", 0),
    ("sep_conv_3x3", 1),
    ("avg_pool_3x3", 0),
    ("dil_conv_3x3", 1),
];
const PC_DARTS_REDUCE: Pairs = [
    ("sep_conv_5x5", 1),
    ("max_pool_3x3", 0),
    ("sep_conv_5x5", 1),
    ("sep_conv_5x5", 2),
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 3),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 2),
];

/// A DARTS cell: 2 inputs, pairs `(op, input)` grouped 2 per node, concat `[2, 3, 4, 5]`.
fn darts_cell(pairs: &Pairs) -> CellGenotype {
    CellGenotype {
        inputs: 2,
        nodes: pairs
            .chunks(2)
            .map(|node| {
                node.iter()
                    .map(|&(op, input)| Connection::new(input, op))
                    .collect()
            })
            .collect(),
        concat: vec![2, 3, 4, 5],
    }
}

/// `DARTS_V1`: the cells found by first-order DARTS on CIFAR-10 ([`DARTS_V1_TEXT`]).
pub fn darts_v1() -> Genotype {
    Genotype {
        normal: darts_cell(&DARTS_V1_NORMAL),
        reduce: darts_cell(&DARTS_V1_REDUCE),
    }
}

/// `DARTS_V2`: the cells found by second-order DARTS on CIFAR-10 ([`DARTS_V2_TEXT`]).
pub fn darts_v2() -> Genotype {
    Genotype {
        normal: darts_cell(&DARTS_V2_NORMAL),
        reduce: darts_cell(&DARTS_V2_REDUCE),
    }
}

/// `PCDARTS`: the cells found by PC-DARTS on CIFAR-10 ([`PC_DARTS_TEXT`]).
pub fn pc_darts() -> Genotype {
    Genotype {
        normal: darts_cell(&PC_DARTS_NORMAL),
        reduce: darts_cell(&PC_DARTS_REDUCE),
    }
}

impl Genotype {
    /// A published genotype by name, case-insensitive, `-` and `_` ignored:
    /// `darts_v1`, `darts_v2` (alias `darts`), `pc_darts` (alias `pcdarts`).
    ///
    /// # Errors
    /// [`GenotypeError::UnknownBuiltin`] listing the valid names.
    pub fn builtin(name: &str) -> Result<Self, GenotypeError> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect();
        match key.trim() {
            "dartsv1" => Ok(darts_v1()),
            "dartsv2" | "darts" => Ok(darts_v2()),
            "pcdarts" => Ok(pc_darts()),
            _ => Err(GenotypeError::UnknownBuiltin {
                name: name.to_owned(),
                valid: BUILTIN_NAMES.join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD_OPS: [&str; 8] = [
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    ];

    #[test]
    fn published_text_parses_to_the_constants() {
        for (text, genotype) in [
            (DARTS_V1_TEXT, darts_v1()),
            (DARTS_V2_TEXT, darts_v2()),
            (PC_DARTS_TEXT, pc_darts()),
        ] {
            assert_eq!(Genotype::from_darts_text(text).unwrap(), genotype);
            genotype.validate(&STANDARD_OPS).unwrap();
        }
    }

    #[test]
    fn darts_v2_matches_the_published_values() {
        let g = darts_v2();
        assert_eq!(
            g.normal.nodes[3],
            vec![
                Connection::new(0, "skip_connect"),
                Connection::new(2, "dil_conv_3x3")
            ]
        );
        assert_eq!(
            g.reduce.nodes[1],
            vec![
                Connection::new(2, "skip_connect"),
                Connection::new(1, "max_pool_3x3")
            ]
        );
        assert_ne!(darts_v1(), g);
        assert_ne!(pc_darts(), g);
    }

    #[test]
    fn builtin_lookup_is_case_insensitive_with_aliases() {
        for (name, expected) in [
            ("darts_v1", darts_v1()),
            ("DARTS_V2", darts_v2()),
            ("darts", darts_v2()),
            ("pc_darts", pc_darts()),
            ("PCDARTS", pc_darts()),
            ("PC-DARTS", pc_darts()),
        ] {
            assert_eq!(Genotype::builtin(name).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn unknown_builtin_lists_the_valid_names() {
        let err = Genotype::builtin("enas").unwrap_err();
        assert!(matches!(err, GenotypeError::UnknownBuiltin { .. }));
        let message = err.to_string();
        assert!(message.contains("`enas`"));
        for name in BUILTIN_NAMES {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn collapse_counts_of_darts_v1() {
        let stats = darts_v1().stats();
        assert_eq!(stats.normal.connections, 8);
        assert_eq!(stats.normal.edges, 8);
        assert_eq!(stats.normal.skip_connects, 3);
        assert_eq!(stats.normal.parameter_free, 3);
        assert_eq!(stats.reduce.skip_connects, 3);
        assert_eq!(stats.reduce.parameter_free, 8);
    }
}
