//! Reading a run directory: telling a search run from a training run, and loading its
//! files with the search and evaluation crates' own types.

use std::fs;
use std::path::{Path, PathBuf};

use entrannas_cell::{Genotype, TargetCost, TargetNetSpec};
use entrannas_eval::TrainConfig;
use entrannas_run::Environment;
use entrannas_run::history::{self, HistoryRecord};
use entrannas_run::names::{CONFIG_FILE, ENVIRONMENT_FILE, ENVIRONMENT_RESUME_FILE, HISTORY_FILE};
use entrannas_search::{SearchConfig, Selection};
use serde::de::DeserializeOwned;
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

fn read_history_text(dir: &Path) -> Result<(PathBuf, String), ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join(HISTORY_FILE);
    if !path.exists() {
        return Err(ReportError::MissingHistory { path });
    }
    let text = fs::read_to_string(&path).map_err(io("read", &path))?;
    Ok((path, text))
}

fn kind_of(path: &Path, text: &str) -> Result<RunKind, ReportError> {
    let Some((line, first)) = history::record_lines(text).next() else {
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

fn parse_history<T: HistoryRecord>(path: &Path, text: &str) -> Result<Vec<T>, ReportError> {
    history::parse_history(text, usize::MAX).map_err(|bad| ReportError::MalformedLine {
        path: path.to_path_buf(),
        line: bad.line,
        message: bad.message,
    })
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
    for name in [ENVIRONMENT_FILE, ENVIRONMENT_RESUME_FILE] {
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
    let config = read_config(&dir.join(CONFIG_FILE), SearchConfig::read)?;
    let environments = read_environments(dir)?;
    let selection_path = dir.join("selection.json");
    let (selection, selection_recorded) = match read_optional::<Selection>(&selection_path)? {
        Some(s) => (s, true),
        None => (
            entrannas_search::select(&history).ok_or_else(|| ReportError::EmptyHistory {
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
        config: read_config(&dir.join(CONFIG_FILE), TrainConfig::read)?,
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
