//! Page scaffolding and number formatting shared by the report and the evolution page.

use serde::Serialize;
use serde_json::Value;

use crate::html::escape;

/// The style sheet of every page: system fonts only, nothing fetched.
const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;\
background:#fff;margin:0 auto;max-width:1280px;padding:1em 1.5em 3em}\
h1{font-size:1.5em;margin-bottom:.2em}\
h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}\
h3{font-size:1em;margin:1em 0 .4em}\
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}\
th,td{border:1px solid #ddd;padding:.2em .55em;text-align:left;vertical-align:top}\
th{background:#f5f5f5}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.selected td{background:#fff3c4}\
.scroll{overflow-x:auto;max-width:100%}\
.plots,.cells{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}\
.cells>div{border:1px solid #eee;padding:.3em}\
svg{max-width:100%;height:auto}\
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}\
.note{color:#666;font-size:.9em}\
.warn{color:#a0522d}\
.badge{background:#b8860b;color:#fff;border-radius:3px;padding:0 .4em;font-size:.8em}\
";

/// A complete HTML page.
pub(crate) fn page(title: &str, extra_css: &str, body: &str, script: Option<&str>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}{extra_css}\n</style>\n",
        escape(title)
    );
    if script.is_some() {
        out.push_str("<noscript><style>.frame{display:block !important}.controls{display:none}</style></noscript>\n");
    }
    out.push_str("</head>\n<body>\n");
    out.push_str(body);
    if let Some(script) = script {
        out.push_str("<script>\n");
        out.push_str(script);
        out.push_str("\n</script>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A two-column table of already-escaped HTML values.
pub(crate) fn kv_table(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table>\n");
    for (k, v) in rows {
        out.push_str(&format!("<tr><th>{}</th><td>{v}</td></tr>\n", escape(k)));
    }
    out.push_str("</table>\n");
    out
}

/// A table row of cells (already-escaped HTML); numbers are right-aligned.
pub(crate) fn row(cells: &[String], class: Option<&str>) -> String {
    let mut out = match class {
        Some(c) => format!("<tr class=\"{c}\">"),
        None => String::from("<tr>"),
    };
    for c in cells {
        let numeric = c
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_digit() || ch == '-' || ch == '+');
        if numeric {
            out.push_str(&format!("<td class=\"num\">{c}</td>"));
        } else {
            out.push_str(&format!("<td>{c}</td>"));
        }
    }
    out.push_str("</tr>\n");
    out
}

/// A header row.
pub(crate) fn header(names: &[&str]) -> String {
    let mut out = String::from("<tr>");
    for n in names {
        out.push_str(&format!("<th>{}</th>", escape(n)));
    }
    out.push_str("</tr>\n");
    out
}

/// A configuration as a field / value table (fields in the file's order of keys).
pub(crate) fn config_table<T: Serialize>(config: &T) -> String {
    let value = serde_json::to_value(config).unwrap_or(Value::Null);
    let Value::Object(fields) = value else {
        return String::from("<p class=\"note\">(not a JSON object)</p>\n");
    };
    let rows: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Null => "none".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.as_str(), format!("<code>{}</code>", escape(&text)))
        })
        .collect();
    kv_table(&rows)
}

/// `0.9312` as `93.12%`; non-finite values as `n/a`.
pub(crate) fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", 100.0 * v)
    } else {
        "n/a".into()
    }
}

/// A signed percentage-point difference (`+1.20 pp`).
pub(crate) fn points(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.2} pp", 100.0 * v)
    } else {
        "n/a".into()
    }
}

/// A float with `decimals` decimals; non-finite values as `n/a`.
pub(crate) fn float(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "n/a".into()
    }
}

/// `1234567` as `1,234,567 (1.23 M)`.
pub(crate) fn count(v: u64) -> String {
    let digits = v.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let short = match v {
        0..1_000 => return grouped,
        1_000..1_000_000 => format!("{:.2} K", v as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} M", v as f64 / 1e6),
        _ => format!("{:.2} G", v as f64 / 1e9),
    };
    format!("{grouped} ({short})")
}

/// An optional count, `not recorded` when absent.
pub(crate) fn opt_count(v: Option<u64>) -> String {
    v.map_or_else(|| "not recorded".into(), count)
}

/// Seconds as `12.3 s`, `4 min 05 s` or `2 h 03 min`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "n/a".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h == 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{h} h {m:02} min")
    }
}

/// Seconds since 1970 as a UTC date and time (`2025-01-31 13:45:00 UTC`).
pub(crate) fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rest = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// Mean of the finite values, if any.
pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567 (1.23 M)");
        assert_eq!(percent(0.93125), "93.12%");
        assert_eq!(percent(f64::NAN), "n/a");
        assert_eq!(points(-0.012), "-1.20 pp");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(7380.0), "2 h 03 min");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_738_331_100), "2025-01-31 13:45:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
