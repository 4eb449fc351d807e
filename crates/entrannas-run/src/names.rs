//! The names of the files every run directory shares.

/// The run's configuration (a search's or a training's).
pub const CONFIG_FILE: &str = "config.json";
/// One record per epoch, one JSON object per line ([`crate::history`]).
pub const HISTORY_FILE: &str = "history.jsonl";
/// The history as a table ([`crate::history::HistoryRecord::csv_row`]).
pub const METRICS_FILE: &str = "metrics.csv";
/// Where and how the run started ([`crate::Environment`]).
pub const ENVIRONMENT_FILE: &str = "environment.json";
/// Where and how the run was last resumed ([`crate::Environment`]).
pub const ENVIRONMENT_RESUME_FILE: &str = "environment-resume.json";
/// The genotype a search selected, or the one a training trains.
pub const GENOTYPE_FILE: &str = "genotype.json";
/// The lock file ([`crate::RunLock`]).
pub const LOCK_FILE: &str = "run.lock";
/// A checkpoint's bookkeeping, written last: a checkpoint folder with it is complete.
pub const STATE_FILE: &str = "state.json";
/// The plan of a multi-run parent ([`crate::RunsPlan`]).
pub const RUNS_FILE: &str = "runs.json";
/// A multi-run parent's summary, as JSON.
pub const SUMMARY_JSON: &str = "summary.json";
/// A multi-run parent's summary, as a table.
pub const SUMMARY_CSV: &str = "summary.csv";
