//! Reading a run directory: telling a search run from a training run, and loading its
//! files with the search and evaluation crates' own types.

use std::fs;
use std::path::{Path, PathBuf};

use entrannas_cell::{Genotype, TargetCost, TargetNetSpec};
use entrannas_eval::TrainConfig;
use entrannas_search::{SearchConfig, Selection};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ReportError, io};

/// The kind of a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// Written by `entrannas search` (`entrannas_search::run_search`).
    Search,
    /// Written by `entrannas train` (`entrannas_eval::TrainJob`).
    Train,
}

/// What `environment.json` records (written by the CLI; every field may be absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Environment {
    /// The entrannas version.
    pub entrannas: Option<String>,
    /// The burn version.
    pub burn: Option<String>,
    /// The device the run used.
    pub device: Option<String>,
    /// Where the dataset was read from.
    pub dataset: Option<String>,
    /// The command line.
    pub command: Vec<String>,
    /// When the run started (seconds since 1970-01-01 UTC).
    pub started_unix: Option<u64>,
}

/// An environment file found in a run directory (`environment.json`,
/// `environment-resume.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFile {
    /// The file name.
    pub name: String,
    /// Its content.
    pub environment: Environment,
}

/// The files of a search run directory.
#[derive(Debug, Clone)]
pub struct SearchRun {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: SearchConfig,
    /// `environment.json` and `environment-resume.json`, those present.
    pub environments: Vec<EnvironmentFile>,
    /// `history.jsonl`, one record per epoch.
    pub history: Vec<entrannas_search::EpochRecord>,
    /// `selection.json`, or the search's own rule applied to the history when the file
    /// is missing.
    pub selection: Selection,
    /// Whether `selection` was read from `selection.json` (`false`: recomputed).
    pub selection_recorded: bool,
    /// `genotype.json`, or the selected epoch's genotype when the file is missing.
    pub genotype: Genotype,
    /// Whether `genotype` was read from `genotype.json`.
    pub genotype_recorded: bool,
}

impl SearchRun {
    /// The selected epoch's record.
    pub fn selected(&self) -> Option<&entrannas_search::EpochRecord> {
        self.history
            .iter()
            .find(|r| r.epoch == self.selection.epoch)
    }

    /// Whether any epoch recorded DST thresholds.
    pub fn has_thresholds(&self) -> bool {
        self.history
            .iter()
            .any(|r| r.normal.thresholds.is_some() || r.reduce.thresholds.is_some())
    }
}

/// The files of a training run directory.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: TrainConfig,
    /// `environment.json` and `environment-resume.json`, those present.
    pub environments: Vec<EnvironmentFile>,
    /// `history.jsonl`, one record per epoch.
    pub history: Vec<entrannas_eval::EpochRecord>,
    /// `genotype.json`, if present.
    pub genotype: Option<Genotype>,
    /// `net.json`, if present.
    pub net: Option<TargetNetSpec>,
    /// `cost.json`, if present.
    pub cost: Option<TargetCost>,
}

impl TrainRun {
    /// The epoch with the best test accuracy (the first of equals), as the `best/`
    /// checkpoint holds.
    pub fn best(&self) -> Option<&entrannas_eval::EpochRecord> {
        self.history.iter().fold(None, |best, r| match best {
            Some(b) if b.test_accuracy >= r.test_accuracy || r.test_accuracy.is_nan() => Some(b),
            _ => Some(r),
        })
    }
}

/// A loaded run directory.
#[derive(Debug, Clone)]
pub enum Run {
    /// A search run.
    Search(Box<SearchRun>),
    /// A training run.
    Train(Box<TrainRun>),
}

impl Run {
    /// The kind.
    pub fn kind(&self) -> RunKind {
        match self {
            Run::Search(_) => RunKind::Search,
            Run::Train(_) => RunKind::Train,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        match self {
            Run::Search(run) => &run.dir,
            Run::Train(run) => &run.dir,
        }
    }
}

/// The lines of `history.jsonl` that are not blank, with their 1-based line numbers.
fn records(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

fn read_history_text(dir: &Path) -> Result<(PathBuf, String), ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join("history.jsonl");
    if !path.exists() {
        return Err(ReportError::MissingHistory { path });
    }
    let text = fs::read_to_string(&path).map_err(io("read", &path))?;
    Ok((path, text))
}

fn kind_of(path: &Path, text: &str) -> Result<RunKind, ReportError> {
    let Some((line, first)) = records(text).next() else {
        return Err(ReportError::EmptyHistory {
            path: path.to_path_buf(),
        });
    };
    let value: Value = serde_json::from_str(first).map_err(|e| ReportError::MalformedLine {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    })?;
    let Value::Object(fields) = value else {
        return Err(ReportError::UnknownRunKind {
            path: path.to_path_buf(),
            message: format!("line {line} is not a JSON object"),
        });
    };
    let search = ["child_accuracy", "supernet_accuracy", "genotype"];
    let train = ["test_accuracy", "test_loss", "drop_path"];
    if search.iter().any(|k| fields.contains_key(*k)) {
        Ok(RunKind::Search)
    } else if train.iter().any(|k| fields.contains_key(*k)) {
        Ok(RunKind::Train)
    } else {
        Err(ReportError::UnknownRunKind {
            path: path.to_path_buf(),
            message: format!(
                "line {line} has neither `child_accuracy` (a search record) nor \
                 `test_accuracy` (a training record)"
            ),
        })
    }
}

/// Tells the kind of the run in `dir` from its first history record.
///
/// # Errors
/// [`ReportError::NotADirectory`], [`ReportError::MissingHistory`],
/// [`ReportError::EmptyHistory`], [`ReportError::MalformedLine`] (the first record is
/// not JSON), [`ReportError::UnknownRunKind`], or an I/O error.
pub fn detect_kind(dir: &Path) -> Result<RunKind, ReportError> {
    let (path, text) = read_history_text(dir)?;
    kind_of(&path, &text)
}

/// How a record type tolerates `null` for its floats (see [`parse_record`]).
trait NanTolerant: DeserializeOwned {
    /// Whether the value at JSON path `path` (segments below the record) is an `f64`.
    fn is_float(path: &[&str]) -> bool;
    /// Sets the `f64` at `path` to NaN.
    fn set_nan(&mut self, path: &[&str]);
}

const SEARCH_FLOATS: [&str; 10] = [
    "lr",
    "tau",
    "train_loss",
    "train_accuracy",
    "arch_loss",
    "supernet_accuracy",
    "child_accuracy",
    "gap",
    "seconds",
    "images_per_second",
];

fn index(segment: &str) -> usize {
    segment.parse().unwrap_or(usize::MAX)
}

fn nan_at(values: &mut [f64], i: &str) {
    if let Some(v) = values.get_mut(index(i)) {
        *v = f64::NAN;
    }
}

impl NanTolerant for entrannas_search::EpochRecord {
    fn is_float(path: &[&str]) -> bool {
        match path {
            [field] => SEARCH_FLOATS.contains(field),
            ["normal" | "reduce", "op_entropy"] => true,
            ["normal" | "reduce", "thresholds", _] => true,
            ["arch", "tau"] => true,
            ["arch", "normal" | "reduce", "alpha", _, _] => true,
            ["arch", "normal" | "reduce", "beta", _] => true,
            _ => false,
        }
    }

    fn set_nan(&mut self, path: &[&str]) {
        let nan = f64::NAN;
        fn diagnostics<'a>(
            r: &'a mut entrannas_search::EpochRecord,
            cell: &str,
        ) -> &'a mut entrannas_search::searcher::CellDiagnostics {
            if cell == "normal" {
                &mut r.normal
            } else {
                &mut r.reduce
            }
        }
        match path {
            ["lr"] => self.lr = nan,
            ["tau"] => self.tau = nan,
            ["train_loss"] => self.train_loss = nan,
            ["train_accuracy"] => self.train_accuracy = nan,
            ["arch_loss"] => self.arch_loss = nan,
            ["supernet_accuracy"] => self.supernet_accuracy = nan,
            ["child_accuracy"] => self.child_accuracy = nan,
            ["gap"] => self.gap = nan,
            ["seconds"] => self.seconds = nan,
            ["images_per_second"] => self.images_per_second = nan,
            [cell, "op_entropy"] => diagnostics(self, cell).op_entropy = nan,
            [cell, "thresholds", i] => {
                if let Some(t) = diagnostics(self, cell).thresholds.as_mut() {
                    nan_at(t, i);
                }
            }
            ["arch", "tau"] => self.arch.tau = nan,
            ["arch", cell, what, rest @ ..] => {
                let arch = if *cell == "normal" {
                    &mut self.arch.normal
                } else {
                    &mut self.arch.reduce
                };
                match (*what, rest) {
                    ("alpha", [i, j]) => {
                        if let Some(row) = arch.alpha.get_mut(index(i)) {
                            nan_at(row, j);
                        }
                    }
                    ("beta", [i]) => {
                        if let Some(beta) = arch.beta.as_mut() {
                            nan_at(beta, i);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

const TRAIN_FLOATS: [&str; 8] = [
    "lr",
    "drop_path",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "images_per_second",
];

impl NanTolerant for entrannas_eval::EpochRecord {
    fn is_float(path: &[&str]) -> bool {
        matches!(path, [field] if TRAIN_FLOATS.contains(field))
    }

    fn set_nan(&mut self, path: &[&str]) {
        let nan = f64::NAN;
        match path {
            ["lr"] => self.lr = nan,
            ["drop_path"] => self.drop_path = nan,
            ["train_loss"] => self.train_loss = nan,
            ["train_accuracy"] => self.train_accuracy = nan,
            ["test_loss"] => self.test_loss = nan,
            ["test_accuracy"] => self.test_accuracy = nan,
            ["seconds"] => self.seconds = nan,
            ["images_per_second"] => self.images_per_second = nan,
            _ => {}
        }
    }
}

/// Replaces every `null` at a float position below `value` with 0 and collects its
/// path.
fn replace_nulls<T: NanTolerant>(
    value: &mut Value,
    path: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) {
    match value {
        Value::Null => {
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            if T::is_float(&segments) {
                *value = Value::from(0.0);
                found.push(path.clone());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                replace_nulls::<T>(item, path, found);
                path.pop();
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                path.push(key.clone());
                replace_nulls::<T>(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Parses one history record. `serde_json` writes a non-finite float (a diverged
/// loss) as `null`, which does not read back into an `f64`; such nulls, where the
/// record has a float, are read as NaN, so a diverged run still gets its report.
fn parse_record<T: NanTolerant>(line: &str) -> Result<T, serde_json::Error> {
    let first = match serde_json::from_str::<T>(line) {
        Ok(record) => return Ok(record),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_str::<Value>(line) else {
        return Err(first);
    };
    let mut found = Vec::new();
    replace_nulls::<T>(&mut value, &mut Vec::new(), &mut found);
    if found.is_empty() {
        return Err(first);
    }
    let Ok(mut record) = serde_json::from_value::<T>(value) else {
        return Err(first);
    };
    for path in &found {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        record.set_nan(&segments);
    }
    Ok(record)
}

fn parse_history<T: NanTolerant>(path: &Path, text: &str) -> Result<Vec<T>, ReportError> {
    records(text)
        .map(|(line, l)| {
            parse_record(l).map_err(|e| ReportError::MalformedLine {
                path: path.to_path_buf(),
                line,
                message: e.to_string(),
            })
        })
        .collect()
}

fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ReportError::Malformed {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Reads a run's `config.json` with `read`, which gives fields the file lacks (added
/// since the run) their defaults, as resuming the run would.
fn read_config<T>(path: &Path, read: fn(&Path) -> Result<T, String>) -> Result<T, ReportError> {
    if !path.exists() {
        return Err(ReportError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    read(path).map_err(|message| ReportError::Malformed {
        path: path.to_path_buf(),
        message,
    })
}

fn read_genotype(path: &Path) -> Result<Option<Genotype>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    let parsed = if text.trim_start().starts_with('{') {
        Genotype::from_json(&text)
    } else {
        Genotype::from_darts_text(&text)
    };
    parsed.map(Some).map_err(|e| ReportError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn read_environments(dir: &Path) -> Result<Vec<EnvironmentFile>, ReportError> {
    let mut found = Vec::new();
    for name in ["environment.json", "environment-resume.json"] {
        if let Some(environment) = read_optional(&dir.join(name))? {
            found.push(EnvironmentFile {
                name: name.to_string(),
                environment,
            });
        }
    }
    Ok(found)
}

fn load_search(dir: &Path, history_path: &Path, text: &str) -> Result<SearchRun, ReportError> {
    let history: Vec<entrannas_search::EpochRecord> = parse_history(history_path, text)?;
    let config = read_config(&dir.join("config.json"), SearchConfig::read)?;
    let environments = read_environments(dir)?;
    let selection_path = dir.join("selection.json");
    let (selection, selection_recorded) = match read_optional::<Selection>(&selection_path)? {
        Some(s) => (s, true),
        None => (
            entrannas_search::run::select(&history).ok_or_else(|| ReportError::EmptyHistory {
                path: history_path.to_path_buf(),
            })?,
            false,
        ),
    };
    let Some(selected) = history.iter().find(|r| r.epoch == selection.epoch) else {
        return Err(ReportError::Malformed {
            path: selection_path,
            message: format!(
                "selects epoch {}, which history.jsonl does not record (epochs {})",
                selection.epoch,
                epoch_range(history.iter().map(|r| r.epoch))
            ),
        });
    };
    let (genotype, genotype_recorded) = match read_genotype(&dir.join("genotype.json"))? {
        Some(g) => (g, true),
        None => (selected.genotype.clone(), false),
    };
    Ok(SearchRun {
        dir: dir.to_path_buf(),
        config,
        environments,
        history,
        selection,
        selection_recorded,
        genotype,
        genotype_recorded,
    })
}

fn epoch_range(epochs: impl Iterator<Item = usize>) -> String {
    let (mut lo, mut hi) = (usize::MAX, 0);
    for e in epochs {
        lo = lo.min(e);
        hi = hi.max(e);
    }
    if lo > hi {
        "none".into()
    } else {
        format!("{lo}..={hi}")
    }
}

fn load_train(dir: &Path, history_path: &Path, text: &str) -> Result<TrainRun, ReportError> {
    Ok(TrainRun {
        dir: dir.to_path_buf(),
        history: parse_history(history_path, text)?,
        config: read_config(&dir.join("config.json"), TrainConfig::read)?,
        environments: read_environments(dir)?,
        genotype: read_genotype(&dir.join("genotype.json"))?,
        net: read_optional(&dir.join("net.json"))?,
        cost: read_optional(&dir.join("cost.json"))?,
    })
}

/// Loads the run in `dir`: its kind (from the history records), configuration,
/// history and the other files a report shows.
///
/// # Errors
/// Those of [`detect_kind`]; [`ReportError::MalformedLine`] naming the first history
/// line that is not a record of the run's kind; [`ReportError::MissingFile`] without
/// `config.json`; [`ReportError::Malformed`] for an invalid `config.json`,
/// `selection.json` (or one selecting an epoch the history lacks), `genotype.json`,
/// `environment.json`, `net.json` or `cost.json`.
pub fn load_run(dir: &Path) -> Result<Run, ReportError> {
    let (path, text) = read_history_text(dir)?;
    Ok(match kind_of(&path, &text)? {
        RunKind::Search => Run::Search(Box::new(load_search(dir, &path, &text)?)),
        RunKind::Train => Run::Train(Box::new(load_train(dir, &path, &text)?)),
    })
}
