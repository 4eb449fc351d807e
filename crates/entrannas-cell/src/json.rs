//! The genotype file: versioned JSON.
//!
//! ```json
//! {
//!   "schema": 1,
//!   "normal": {
//!     "inputs": 2,
//!     "nodes": [
//!       [[0, "sep_conv_3x3"], [1, "sep_conv_3x3"]],
//!       ...
//!     ],
//!     "concat": [2, 3, 4, 5]
//!   },
//!   "reduce": { ... }
//! }
//! ```
//!
//! `nodes[k]` lists the connections `[input, "op"]` of intermediate node `inputs + k`.
//! `inputs` may be left out (default 2). The cells may also sit in a `"genotype"`
//! object (as in the search run's derive output), with `schema` at the top level or
//! inside that object. Other top-level fields are ignored; inside a cell, an unknown
//! field is an error.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::error::GenotypeError;
use crate::genotype::{CellGenotype, GENOTYPE_SCHEMA_VERSION, Genotype};

impl Genotype {
    /// The genotype as pretty JSON with a `schema` field (one connection list per
    /// line), readable by [`from_json`](Self::from_json).
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\n  \"schema\": {GENOTYPE_SCHEMA_VERSION},\n");
        for (i, (kind, cell)) in self.cells().into_iter().enumerate() {
            let sep = if i == 0 { "," } else { "" };
            out.push_str(&format!("  \"{kind}\": "));
            write_cell(&mut out, cell);
            out.push_str(sep);
            out.push('\n');
        }
        out.push_str("}\n");
        out
    }

    /// Reads genotype JSON (see [the module docs](crate::json)).
    ///
    /// The result has a valid structure ([`validate_structure`](Self::validate_structure));
    /// op names are not checked: use [`validate`](Self::validate) with your op set.
    ///
    /// # Errors
    /// Invalid JSON or cell shape, a missing or unsupported `schema`, or an invalid
    /// structure.
    pub fn from_json(text: &str) -> Result<Self, GenotypeError> {
        let supported = GENOTYPE_SCHEMA_VERSION;
        let top = match serde_json::from_str::<Value>(text)? {
            Value::Object(map) => map,
            other => {
                return Err(GenotypeError::NotAnObject {
                    found: describe(&other),
                    supported,
                });
            }
        };
        let cells = match top.get("genotype") {
            Some(Value::Object(nested)) if !top.contains_key("normal") => nested,
            _ => &top,
        };
        let schema = top
            .get("schema")
            .or_else(|| cells.get("schema"))
            .ok_or(GenotypeError::MissingSchema { supported })?;
        if schema.as_u64() != Some(u64::from(supported)) {
            return Err(GenotypeError::UnsupportedSchema {
                found: schema.to_string(),
                supported,
            });
        }
        let genotype: Genotype = serde_json::from_value(Value::Object(cells.clone()))?;
        genotype.validate_structure()?;
        Ok(genotype)
    }

    /// Reads a genotype file: JSON (see [`from_json`](Self::from_json)) when its first
    /// non-blank character is `{`, DARTS text (see
    /// [`from_darts_text`](Self::from_darts_text)) otherwise.
    ///
    /// # Errors
    /// [`GenotypeError::Io`] if the file cannot be read, [`GenotypeError::InFile`]
    /// (naming the file) if its content is invalid.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, GenotypeError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| GenotypeError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let parsed = if text.trim_start().starts_with('{') {
            Self::from_json(&text)
        } else {
            Self::from_darts_text(&text)
        };
        parsed.map_err(|e| GenotypeError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Writes the genotype as JSON ([`to_json`](Self::to_json)) to `path`.
    ///
    /// # Errors
    /// [`GenotypeError::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), GenotypeError> {
        let path = path.as_ref();
        fs::write(path, self.to_json()).map_err(|source| GenotypeError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }
}

fn write_cell(out: &mut String, cell: &CellGenotype) {
    out.push_str(&format!("{{\n    \"inputs\": {},\n", cell.inputs));
    if cell.nodes.is_empty() {
        out.push_str("    \"nodes\": [],\n");
    } else {
        out.push_str("    \"nodes\": [\n");
        for (k, conns) in cell.nodes.iter().enumerate() {
            let items: Vec<String> = conns
                .iter()
                .map(|c| format!("[{}, {}]", c.input, Value::String(c.op.clone())))
                .collect();
            let sep = if k + 1 < cell.nodes.len() { "," } else { "" };
            out.push_str(&format!("      [{}]{sep}\n", items.join(", ")));
        }
        out.push_str("    ],\n");
    }
    let concat: Vec<String> = cell.concat.iter().map(usize::to_string).collect();
    out.push_str(&format!("    \"concat\": [{}]\n  }}", concat.join(", ")));
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::{CellKind, Connection};

    fn small() -> Genotype {
        let cell = CellGenotype {
            inputs: 2,
            nodes: vec![
                vec![
                    Connection::new(0, "sep_conv_3x3"),
                    Connection::new(1, "skip_connect"),
                ],
                vec![Connection::new(2, "dil_conv_3x3")],
            ],
            concat: vec![2, 3],
        };
        Genotype {
            normal: cell.clone(),
            reduce: cell,
        }
    }

    #[test]
    fn json_has_schema_and_round_trips() {
        let g = small();
        let text = g.to_json();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["schema"], 1);
        assert_eq!(value["normal"]["nodes"][0][1][1], "skip_connect");
        assert_eq!(value["reduce"]["concat"], serde_json::json!([2, 3]));
        assert_eq!(Genotype::from_json(&text).unwrap(), g);
    }

    #[test]
    fn missing_schema_is_an_error() {
        let text = serde_json::to_string(&small()).unwrap();
        let err = Genotype::from_json(&text).unwrap_err();
        assert!(matches!(err, GenotypeError::MissingSchema { .. }), "{err}");
        assert!(err.to_string().contains("schema"));
    }

    #[test]
    fn newer_or_odd_schema_is_an_error() {
        for schema in ["2", "0", "\"1\"", "1.5", "null"] {
            let text =
                small()
                    .to_json()
                    .replacen("\"schema\": 1", &format!("\"schema\": {schema}"), 1);
            let err = Genotype::from_json(&text).unwrap_err();
            match &err {
                GenotypeError::UnsupportedSchema { found, supported } => {
                    assert_eq!(found, schema);
                    assert_eq!(*supported, 1);
                }
                other => panic!("schema {schema}: unexpected {other}"),
            }
            assert!(err.to_string().contains("version"), "{err}");
        }
    }

    #[test]
    fn nested_genotype_is_accepted() {
        let g = small();
        let cells = serde_json::to_value(&g).unwrap();
        let outer = serde_json::json!({"schema": 1, "epoch": 7, "genotype": cells});
        assert_eq!(Genotype::from_json(&outer.to_string()).unwrap(), g);
        let mut inner = cells.clone();
        inner["schema"] = 1.into();
        let outer = serde_json::json!({"genotype": inner});
        assert_eq!(Genotype::from_json(&outer.to_string()).unwrap(), g);
        let outer = serde_json::json!({"genotype": cells});
        assert!(matches!(
            Genotype::from_json(&outer.to_string()),
            Err(GenotypeError::MissingSchema { .. })
        ));
    }

    #[test]
    fn inputs_defaults_to_two() {
        let text = r#"{"schema": 1,
            "normal": {"nodes": [[[0, "a"], [1, "b"]]], "concat": [2]},
            "reduce": {"nodes": [[[1, "c"]]], "concat": [2]}}"#;
        let g = Genotype::from_json(text).unwrap();
        assert_eq!(g.normal.inputs, 2);
        assert_eq!(g.reduce.nodes[0], vec![Connection::new(1, "c")]);
    }

    #[test]
    fn malformed_json_is_an_error() {
        for text in [
            "",
            "[1, 2]",
            "{\"schema\": 1}",
            "{\"schema\": 1, \"normal\": 3, \"reduce\": 4}",
            "{\"schema\": 1, \"normal\": {\"nodes\": [[[0]]], \"concat\": [2]}, \"reduce\": {\"nodes\": [], \"concat\": []}}",
        ] {
            let err = Genotype::from_json(text).unwrap_err();
            assert!(
                matches!(
                    err,
                    GenotypeError::Json(_) | GenotypeError::NotAnObject { .. }
                ),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn structure_is_checked_on_read() {
        let mut g = small();
        g.reduce.nodes[1][0].input = 3;
        let err = Genotype::from_json(&g.to_json()).unwrap_err();
        assert!(
            matches!(
                err,
                GenotypeError::ForwardInput {
                    cell: CellKind::Reduce,
                    node: 3,
                    input: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_cell_field_is_an_error_and_extra_top_level_fields_are_not() {
        let json = small().to_json();
        let misspelt = json.replacen("\"inputs\"", "\"input\"", 1);
        assert_ne!(misspelt, json);
        let err = Genotype::from_json(&misspelt).unwrap_err().to_string();
        assert!(err.contains("unknown field `input`"), "{err}");
        let annotated = json.replacen('{', "{\n  \"epoch\": 7,", 1);
        assert_eq!(Genotype::from_json(&annotated).unwrap(), small());
    }

    #[test]
    fn save_and_load_name_the_file() {
        let dir = std::env::temp_dir().join(format!("entrannas-cell-json-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.json");
        let g = small();
        g.save(&path).unwrap();
        assert_eq!(Genotype::load(&path).unwrap(), g);

        let text_path = dir.join("g.txt");
        fs::write(&text_path, g.to_darts_text()).unwrap();
        assert_eq!(Genotype::load(&text_path).unwrap(), g);

        fs::write(&path, "{\"normal\": {}}").unwrap();
        let err = Genotype::load(&path).unwrap_err();
        assert!(matches!(err, GenotypeError::InFile { .. }));
        assert!(err.to_string().contains("g.json"), "{err}");

        let missing = dir.join("missing.json");
        let err = Genotype::load(&missing).unwrap_err();
        assert!(matches!(err, GenotypeError::Io { action: "read", .. }));
        assert!(err.to_string().contains("missing.json"), "{err}");

        let err = g.save(dir.join("no/such/dir/g.json")).unwrap_err();
        assert!(err.to_string().contains("g.json"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
