//! `history.jsonl` and `metrics.csv`: one record per epoch, read and written for any
//! record type.
//!
//! serde_json writes a float that is not finite (a diverged loss) as `null`, which
//! does not read back into an `f64`; a record type names where it has floats
//! ([`HistoryRecord::is_float`]) and such nulls read back as NaN, so a diverged run
//! still resumes and gets its report.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A record of one epoch, as a history holds it.
pub trait HistoryRecord: Serialize + DeserializeOwned {
    /// The first line of `metrics.csv` (column names, no line end).
    const CSV_HEADER: &'static str;

    /// This record as a line of `metrics.csv` (no line end).
    fn csv_row(&self) -> String;

    /// Whether the value at JSON path `path` (field names and array indices below the
    /// record) is an `f64`, so that a `null` there is a NaN.
    fn is_float(_path: &[&str]) -> bool {
        false
    }

    /// Sets the `f64` at `path` (one [`HistoryRecord::is_float`] accepts) to NaN.
    fn set_nan(&mut self, _path: &[&str]) {}
}

/// A line of a history that is not a record of the expected type.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// The line's number (1-based, blank lines counted).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The lines of a history that are not blank, with their 1-based numbers.
pub fn record_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// Parses one record, reading `null` at a float position as NaN.
///
/// # Errors
/// serde_json's error for a line that is not such a record.
pub fn parse_record<R: HistoryRecord>(line: &str) -> Result<R, serde_json::Error> {
    let first = match serde_json::from_str::<R>(line) {
        Ok(record) => return Ok(record),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_str::<Value>(line) else {
        return Err(first);
    };
    let mut found = Vec::new();
    replace_float_nulls::<R>(&mut value, &mut Vec::new(), &mut found);
    if found.is_empty() {
        return Err(first);
    }
    let Ok(mut record) = serde_json::from_value::<R>(value) else {
        return Err(first);
    };
    for path in &found {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        record.set_nan(&segments);
    }
    Ok(record)
}

/// Replaces every `null` at a float position below `value` with 0 and collects its
/// path.
fn replace_float_nulls<R: HistoryRecord>(
    value: &mut Value,
    path: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) {
    match value {
        Value::Null => {
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            if R::is_float(&segments) {
                *value = Value::from(0.0);
                found.push(path.clone());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                replace_float_nulls::<R>(item, path, found);
                path.pop();
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                path.push(key.clone());
                replace_float_nulls::<R>(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Parses the records of a history's text, at most `limit` of them.
///
/// # Errors
/// The first line that is not a record.
pub fn parse_history<R: HistoryRecord>(text: &str, limit: usize) -> Result<Vec<R>, BadLine> {
    record_lines(text)
        .take(limit)
        .map(|(line, l)| {
            parse_record(l).map_err(|e| BadLine {
                line,
                message: e.to_string(),
            })
        })
        .collect()
}

/// `history.jsonl` and `metrics.csv` of `history`.
pub fn render_history<R: HistoryRecord>(history: &[R]) -> (String, String) {
    let mut jsonl = String::new();
    let mut csv = format!("{}\n", R::CSV_HEADER);
    for record in history {
        jsonl.push_str(&serde_json::to_string(record).expect("records serialise"));
        jsonl.push('\n');
        csv.push_str(&record.csv_row());
        csv.push('\n');
    }
    (jsonl, csv)
}

/// The index of a float in a path segment (`usize::MAX` when it is not a number).
pub fn index(segment: &str) -> usize {
    segment.parse().unwrap_or(usize::MAX)
}

/// Sets `values[segment]` to NaN when `segment` is an index into it.
pub fn nan_at(values: &mut [f64], segment: &str) {
    if let Some(v) = values.get_mut(index(segment)) {
        *v = f64::NAN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Epoch {
        epoch: usize,
        loss: f64,
        curve: Vec<f64>,
        note: Option<String>,
    }

    impl HistoryRecord for Epoch {
        const CSV_HEADER: &'static str = "epoch,loss";

        fn csv_row(&self) -> String {
            format!("{},{}", self.epoch, self.loss)
        }

        fn is_float(path: &[&str]) -> bool {
            matches!(path, ["loss"] | ["curve", _])
        }

        fn set_nan(&mut self, path: &[&str]) {
            match path {
                ["loss"] => self.loss = f64::NAN,
                ["curve", i] => nan_at(&mut self.curve, i),
                _ => {}
            }
        }
    }

    fn epoch(epoch: usize, loss: f64) -> Epoch {
        Epoch {
            epoch,
            loss,
            curve: vec![1.0, loss],
            note: None,
        }
    }

    #[test]
    fn a_history_reads_back_what_was_written_up_to_the_limit() {
        let history = vec![epoch(0, 1.5), epoch(1, 0.25), epoch(2, 0.125)];
        let (jsonl, csv) = render_history(&history);
        assert_eq!(csv, "epoch,loss\n0,1.5\n1,0.25\n2,0.125\n");
        assert_eq!(parse_history::<Epoch>(&jsonl, usize::MAX).unwrap(), history);
        assert_eq!(parse_history::<Epoch>(&jsonl, 2).unwrap(), history[..2]);
    }

    #[test]
    fn non_finite_floats_read_back_as_nan_and_other_nulls_stay_errors() {
        let diverged = epoch(3, f64::INFINITY);
        let (jsonl, _) = render_history(std::slice::from_ref(&diverged));
        assert!(jsonl.contains("\"loss\":null"), "{jsonl}");
        let read = parse_history::<Epoch>(&jsonl, 1).unwrap();
        assert!(read[0].loss.is_nan() && read[0].curve[1].is_nan());
        assert_eq!(read[0].curve[0], 1.0);
        assert!(read[0].note.is_none());
        let bad = "\n{\"epoch\":null,\"loss\":1.0,\"curve\":[],\"note\":null}\n";
        let err = parse_history::<Epoch>(bad, 5).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("null"), "{}", err.message);
    }
}
