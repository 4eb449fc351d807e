//! Reading the JSON configuration files of the layers above (a search's or a
//! training's `config.json`, or a user's `--config` file).
//!
//! burn's `Config::load` refuses a file that lacks a field, so a run directory written
//! before a field was added could not be resumed; it also ignores a field it does not
//! know, so a misspelt one (`"epoch": 5`) would silently leave the default in place.
//! [`from_json_with_defaults`] does the opposite of both: missing fields take their
//! defaults, unknown fields are refused by name, and a bad value names its field.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Reads the configuration in the JSON file at `path` over `defaults`
/// ([`from_json_with_defaults`]).
///
/// # Errors
/// The file cannot be read, or as [`from_json_with_defaults`].
pub fn read_with_defaults<T: Serialize + DeserializeOwned>(
    path: &Path,
    defaults: &T,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    from_json_with_defaults(&text, defaults)
}

/// The configuration in the JSON object `text`, with the fields it lacks taken from
/// `defaults`.
///
/// # Errors
/// `text` is not JSON or not an object; it has a field `defaults` does not (the
/// message names it and lists the valid ones); a field's value does not fit (the
/// message names the field).
pub fn from_json_with_defaults<T: Serialize + DeserializeOwned>(
    text: &str,
    defaults: &T,
) -> Result<T, String> {
    let file: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(fields) = file else {
        return Err("not a JSON object".into());
    };
    let Value::Object(mut merged) = serde_json::to_value(defaults).map_err(|e| e.to_string())?
    else {
        return Err("the defaults are not a JSON object".into());
    };
    let unknown: Vec<&str> = fields
        .keys()
        .filter(|key| !merged.contains_key(*key))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = merged.keys().map(String::as_str).collect();
        return Err(format!(
            "unknown field{} {}; the fields are: {}",
            if unknown.len() == 1 { "" } else { "s" },
            quoted(&unknown),
            known.join(", ")
        ));
    }
    // serde_json names no field when a value does not fit: try each field alone.
    for (key, value) in &fields {
        let mut one: Map<String, Value> = merged.clone();
        one.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
            return Err(format!("field `{key}`: {e}"));
        }
    }
    merged.extend(fields);
    serde_json::from_value(Value::Object(merged)).map_err(|e| e.to_string())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Settings {
        epochs: usize,
        rate: f64,
        limit: Option<usize>,
    }

    const DEFAULTS: Settings = Settings {
        epochs: 50,
        rate: 0.2,
        limit: None,
    };

    #[test]
    fn missing_fields_take_their_defaults_and_given_ones_win() {
        let read = from_json_with_defaults(r#"{"epochs": 3, "limit": 7}"#, &DEFAULTS).unwrap();
        assert_eq!(
            read,
            Settings {
                epochs: 3,
                rate: 0.2,
                limit: Some(7)
            }
        );
        assert_eq!(from_json_with_defaults("{}", &DEFAULTS).unwrap(), DEFAULTS);
        // An optional field may be given as null.
        let read = from_json_with_defaults(r#"{"limit": null}"#, &DEFAULTS).unwrap();
        assert_eq!(read.limit, None);
    }

    #[test]
    fn a_misspelt_field_is_refused_by_name_with_the_valid_ones() {
        let err = from_json_with_defaults(r#"{"epoch": 3, "rates": 1}"#, &DEFAULTS).unwrap_err();
        assert!(err.contains("unknown fields `epoch`, `rates`"), "{err}");
        assert!(
            err.contains("epochs, limit, rate") || err.contains("epochs, rate, limit"),
            "{err}"
        );
        let err = from_json_with_defaults(r#"{"epoch": 3}"#, &DEFAULTS).unwrap_err();
        assert!(err.starts_with("unknown field `epoch`;"), "{err}");
    }

    #[test]
    fn a_value_that_does_not_fit_names_its_field() {
        let err =
            from_json_with_defaults(r#"{"rate": 0.1, "epochs": "x"}"#, &DEFAULTS).unwrap_err();
        assert!(err.starts_with("field `epochs`: invalid type"), "{err}");
        let err = from_json_with_defaults(r#"{"epochs": -1}"#, &DEFAULTS).unwrap_err();
        assert!(err.starts_with("field `epochs`:"), "{err}");
    }

    #[test]
    fn anything_but_a_json_object_is_refused() {
        assert!(
            from_json_with_defaults("[1, 2]", &DEFAULTS)
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(from_json_with_defaults(r#"{"epochs": "#, &DEFAULTS).is_err());
    }

    #[test]
    fn a_file_is_read_or_its_error_reported() {
        let dir =
            std::env::temp_dir().join(format!("entrannas-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"rate": 0.5}"#).unwrap();
        assert_eq!(read_with_defaults(&path, &DEFAULTS).unwrap().rate, 0.5);
        assert!(read_with_defaults(&dir.join("missing.json"), &DEFAULTS).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
