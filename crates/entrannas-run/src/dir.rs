//! A run directory: its files, its history and its checkpoints.
//!
//! A checkpoint `<name>/` is written as `<name>.tmp/` (every record written and synced,
//! `state.json` last), then `<name>/` is renamed to `<name>.old/`, `<name>.tmp/` to
//! `<name>/`, the directory synced and `<name>.old/` removed. A process stopped
//! between any two of these steps leaves at least one complete checkpoint (a folder
//! with its `state.json`) among the three names; [`RunDir::recover_checkpoint`] puts
//! the one with the most epochs back in place.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::durable::{create_dir, remove_dir, rename, sync_dir, write_atomic};
use crate::environment::Environment;
use crate::error::{RunError, corrupt, io};
use crate::history::{HistoryRecord, parse_history, record_lines, render_history};
use crate::lock::RunLock;
use crate::names::{
    CONFIG_FILE, ENVIRONMENT_FILE, ENVIRONMENT_RESUME_FILE, HISTORY_FILE, METRICS_FILE, STATE_FILE,
};

/// What every checkpoint's `state.json` says: how many epochs it holds.
pub trait CheckpointState: Serialize + DeserializeOwned {
    /// Epochs completed when the checkpoint was written.
    fn epochs_done(&self) -> usize;
}

/// A run directory: a search's, a training's, or the parent of several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// A new run directory at `path` (created with its parents). A directory that
    /// already holds a run (`config.json`) is refused unless `force`, which clears it
    /// (refused while another process writes it; the lock file stays).
    ///
    /// # Errors
    /// [`RunError::RunExists`], [`RunError::InUse`], or the file system's refusal.
    pub fn create(path: impl Into<PathBuf>, force: bool) -> Result<Self, RunError> {
        let path = path.into();
        if path.join(CONFIG_FILE).exists() {
            if !force {
                return Err(RunError::RunExists(path));
            }
            RunLock::acquire(&path)?.clear()?;
        }
        create_dir(&path)?;
        Ok(Self { path })
    }

    /// An existing run directory (one with a `config.json`), to resume or read.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] naming the missing `config.json`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RunError> {
        let path = path.into();
        let config = path.join(CONFIG_FILE);
        if !config.is_file() {
            return Err(corrupt(&config, "missing: not a run directory"));
        }
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the file (or folder) `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Claims the directory for this process until the lock is dropped.
    ///
    /// # Errors
    /// As [`RunLock::acquire`].
    pub fn lock(&self) -> Result<RunLock, RunError> {
        RunLock::acquire(&self.path)
    }

    /// Writes the file `name` whole or not at all ([`write_atomic`]).
    ///
    /// # Errors
    /// The file system's refusal, naming the file.
    pub fn write(&self, name: &str, contents: &[u8]) -> Result<(), RunError> {
        write_atomic(&self.file(name), contents)
    }

    /// Writes `value` as pretty JSON to the file `name`, whole or not at all.
    ///
    /// # Errors
    /// The file system's refusal, naming the file.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunError> {
        let json = serde_json::to_string_pretty(value).expect("plain data serialises");
        self.write(name, json.as_bytes())
    }

    /// Reads the JSON file `name`.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] for a missing file or one that is not a `T`.
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, RunError> {
        read_json(&self.file(name))
    }

    /// Writes `environment.json`, or `environment-resume.json` when `resumed`.
    ///
    /// # Errors
    /// The file system's refusal, naming the file.
    pub fn write_environment(
        &self,
        environment: &Environment,
        resumed: bool,
    ) -> Result<(), RunError> {
        let name = if resumed {
            ENVIRONMENT_RESUME_FILE
        } else {
            ENVIRONMENT_FILE
        };
        self.write_json(name, environment)
    }

    /// How many records `history.jsonl` holds (0 when it does not exist yet).
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn recorded_epochs(&self) -> Result<usize, RunError> {
        let path = self.file(HISTORY_FILE);
        if !path.exists() {
            return Ok(0);
        }
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        Ok(record_lines(&text).count())
    }

    /// The first `epochs` records of `history.jsonl` (a run stopped after writing a
    /// record but before its checkpoint repeats that epoch, so later ones are left).
    ///
    /// # Errors
    /// [`RunError::Corrupt`] for a line that is not a record, or fewer than `epochs`.
    pub fn history<R: HistoryRecord>(&self, epochs: usize) -> Result<Vec<R>, RunError> {
        if epochs == 0 {
            return Ok(Vec::new());
        }
        let path = self.file(HISTORY_FILE);
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        let history = parse_history::<R>(&text, epochs)
            .map_err(|bad| corrupt(&path, format!("line {}: {}", bad.line, bad.message)))?;
        if history.len() < epochs {
            return Err(corrupt(
                &path,
                format!(
                    "{} epochs recorded, the checkpoint has {epochs}",
                    history.len()
                ),
            ));
        }
        Ok(history)
    }

    /// Rewrites `history.jsonl` and `metrics.csv` from `history`, each whole or not at
    /// all.
    ///
    /// # Errors
    /// The file system's refusal, naming the file.
    pub fn write_history<R: HistoryRecord>(&self, history: &[R]) -> Result<(), RunError> {
        let (jsonl, csv) = render_history(history);
        self.write(HISTORY_FILE, jsonl.as_bytes())?;
        self.write(METRICS_FILE, csv.as_bytes())
    }

    /// Writes checkpoint `name`: `write` fills a fresh folder (the path it is given)
    /// with the records, then `state` is written as its `state.json`, and the folder
    /// replaces the previous checkpoint `name` (see the module documentation).
    ///
    /// # Errors
    /// The file system's refusal or `write`'s error; the previous checkpoint (or the
    /// new one, if complete) stays recoverable.
    pub fn save_checkpoint<S: CheckpointState>(
        &self,
        name: &str,
        state: &S,
        write: impl FnOnce(&Path) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let (dir, tmp, old) = self.checkpoint_names(name);
        remove_dir(&tmp)?;
        remove_dir(&old)?;
        create_dir(&tmp)?;
        write(&tmp)?;
        let json = serde_json::to_string_pretty(state).expect("states serialise");
        write_atomic(&tmp.join(STATE_FILE), json.as_bytes())?;
        if dir.exists() {
            rename(&dir, &old)?;
        }
        rename(&tmp, &dir)?;
        sync_dir(&self.path)?;
        remove_dir(&old)
    }

    /// The folder of checkpoint `name` (complete when it holds a `state.json`).
    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.file(name)
    }

    /// `<name>`, `<name>.tmp` and `<name>.old`.
    fn checkpoint_names(&self, name: &str) -> (PathBuf, PathBuf, PathBuf) {
        (
            self.file(name),
            self.file(&format!("{name}.tmp")),
            self.file(&format!("{name}.old")),
        )
    }

    /// The complete checkpoint `name` with the most epochs among `<name>/`,
    /// `<name>.tmp/` and `<name>.old/` (ties: `<name>/` itself), and its state; `None`
    /// when none is complete. Reads only: safe on a run another process is writing.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] for a `state.json` that is not a `S`.
    pub fn latest_checkpoint<S: CheckpointState>(
        &self,
        name: &str,
    ) -> Result<Option<(PathBuf, S)>, RunError> {
        let (dir, tmp, old) = self.checkpoint_names(name);
        let mut latest: Option<(PathBuf, S)> = None;
        for candidate in [dir, tmp, old] {
            let state_path = candidate.join(STATE_FILE);
            if !state_path.is_file() {
                continue;
            }
            let state: S = read_json(&state_path)?;
            if latest
                .as_ref()
                .is_none_or(|(_, best)| state.epochs_done() > best.epochs_done())
            {
                latest = Some((candidate, state));
            }
        }
        Ok(latest)
    }

    /// Puts the checkpoint [`RunDir::latest_checkpoint`] finds in place as `<name>/`,
    /// removes the other two, and returns its state; `None` when none is complete.
    /// The caller holds the directory's lock.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] for a `state.json` that is not a `S`, or the file
    /// system's refusal.
    pub fn recover_checkpoint<S: CheckpointState>(
        &self,
        name: &str,
    ) -> Result<Option<S>, RunError> {
        let (dir, tmp, old) = self.checkpoint_names(name);
        let Some((chosen, state)) = self.latest_checkpoint::<S>(name)? else {
            return Ok(None);
        };
        if chosen != dir {
            // The same steps as a save: the one in place moves aside first.
            let aside = if chosen == old { &tmp } else { &old };
            remove_dir(aside)?;
            if dir.exists() {
                rename(&dir, aside)?;
            }
            rename(&chosen, &dir)?;
            sync_dir(&self.path)?;
        }
        remove_dir(&tmp)?;
        remove_dir(&old)?;
        Ok(Some(state))
    }

    /// The checkpoint `name` a resumed run continues from ([`RunDir::recover_checkpoint`]);
    /// `None` for a run that starts over: one stopped before its first checkpoint was
    /// complete, which has at most the one record written just before it.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] when there is no checkpoint but `history.jsonl` holds more
    /// than one record (the checkpoint was removed: starting over would overwrite them).
    pub fn resume_checkpoint<S: CheckpointState>(&self, name: &str) -> Result<Option<S>, RunError> {
        if let Some(state) = self.recover_checkpoint(name)? {
            return Ok(Some(state));
        }
        let recorded = self.recorded_epochs()?;
        if recorded > 1 {
            return Err(corrupt(
                &self.file(name).join(STATE_FILE),
                format!(
                    "missing, but {HISTORY_FILE} records {recorded} epoch(s): resuming would start over and overwrite them; restore the checkpoint, or start the run again from scratch"
                ),
            ));
        }
        Ok(None)
    }
}

/// Reads the JSON file at `path`.
///
/// # Errors
/// [`RunError::Corrupt`] for a missing file or one that is not a `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    if !path.exists() {
        return Err(corrupt(path, "missing"));
    }
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    serde_json::from_str(&text).map_err(|e| corrupt(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct State {
        epochs_done: usize,
    }

    impl CheckpointState for State {
        fn epochs_done(&self) -> usize {
            self.epochs_done
        }
    }

    /// Saves a checkpoint whose one record says its epoch.
    fn save(run: &RunDir, epochs_done: usize) -> Result<(), RunError> {
        run.save_checkpoint("last", &State { epochs_done }, |dir| {
            crate::durable::write_synced(&dir.join("data"), epochs_done.to_string().as_bytes())
        })
    }

    /// The recovered checkpoint's epochs, checked against its record.
    fn recovered(run: &RunDir) -> Option<usize> {
        let state: State = run.recover_checkpoint("last").unwrap()?;
        let data = fs::read_to_string(run.checkpoint("last").join("data")).unwrap();
        assert_eq!(data, state.epochs_done.to_string());
        for leftover in ["last.tmp", "last.old"] {
            assert!(!run.file(leftover).exists(), "{leftover} left");
        }
        Some(state.epochs_done)
    }

    #[test]
    fn the_latest_complete_checkpoint_is_put_back_in_place() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path().join("run"), false).unwrap();
        assert_eq!(recovered(&run), None);
        save(&run, 1).unwrap();
        save(&run, 2).unwrap();
        assert_eq!(recovered(&run), Some(2));
        // Stopped after the previous one moved aside, before the new one moved in.
        fs::rename(run.file("last"), run.file("last.old")).unwrap();
        assert_eq!(recovered(&run), Some(2));
        // A complete `.tmp` with more epochs wins over the one in place.
        fs::create_dir_all(run.file("last.tmp")).unwrap();
        fs::write(run.file("last.tmp/data"), "3").unwrap();
        fs::write(run.file("last.tmp/state.json"), "{\"epochs_done\":3}").unwrap();
        assert_eq!(recovered(&run), Some(3));
        // An incomplete `.tmp` (no state.json) is ignored and removed.
        fs::create_dir_all(run.file("last.tmp")).unwrap();
        fs::write(run.file("last.tmp/data"), "4").unwrap();
        assert_eq!(recovered(&run), Some(3));
        // A state.json that is not one is refused, named.
        fs::write(run.file("last/state.json"), "[]").unwrap();
        let err = run.recover_checkpoint::<State>("last").unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    #[test]
    fn a_run_without_its_checkpoint_but_with_records_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path().join("run"), false).unwrap();
        run.write(HISTORY_FILE, b"{}\n").unwrap();
        assert_eq!(run.resume_checkpoint::<State>("last").unwrap(), None);
        run.write(HISTORY_FILE, b"{}\n{}\n").unwrap();
        let err = run
            .resume_checkpoint::<State>("last")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("last/state.json") && err.contains("records 2 epoch(s)"),
            "{err}"
        );
    }

    #[test]
    fn an_existing_run_is_refused_unless_forced() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("run");
        let run = RunDir::create(&path, false).unwrap();
        run.write(CONFIG_FILE, b"{}").unwrap();
        assert!(matches!(
            RunDir::create(&path, false),
            Err(RunError::RunExists(_))
        ));
        RunDir::create(&path, true).unwrap();
        assert!(!path.join(CONFIG_FILE).exists());
        let err = RunDir::open(&path).unwrap_err().to_string();
        assert!(err.contains("config.json: missing"), "{err}");
    }

    /// Stops a checkpoint write before each of its file-system steps in turn: every
    /// stop leaves a checkpoint that recovers to the previous epoch or the new one,
    /// and the next save succeeds.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_save_stopped_at_any_step_recovers_the_previous_or_the_new_checkpoint() {
        use crate::fault;
        let root = tempfile::tempdir().unwrap();
        fault::fail_at(None);
        let probe = RunDir::create(root.path().join("probe"), false).unwrap();
        save(&probe, 1).unwrap();
        fault::fail_at(None);
        save(&probe, 2).unwrap();
        let steps = fault::steps();
        assert!(steps.len() >= 10, "{steps:?}");
        for k in 1..=steps.len() {
            let run = RunDir::create(root.path().join(format!("run-{k}")), false).unwrap();
            save(&run, 1).unwrap();
            fault::fail_at(Some(k));
            let err = save(&run, 2).unwrap_err();
            fault::fail_at(None);
            assert!(err.to_string().contains("injected fault"), "{k}: {err}");
            let epochs = recovered(&run).unwrap_or_else(|| panic!("step {k}: none left"));
            assert!(
                epochs == 1 || epochs == 2,
                "step {k} ({}): {epochs}",
                steps[k - 1]
            );
            save(&run, 3).unwrap();
            assert_eq!(recovered(&run), Some(3));
        }
    }
}
