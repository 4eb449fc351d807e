//! Several runs of one configuration with consecutive seeds, in one parent directory.
//!
//! The parent holds `config.json` (the configuration of the first run), `runs.json`
//! ([`RunsPlan`]), one run directory per seed named `run-<i>-seed-<s>`, and at the end
//! `summary.json` and `summary.csv`. [`run_plan`] starts or resumes each run in turn:
//! a finished run is read back, an interrupted one continues from its checkpoint, the
//! missing ones start.

use serde::{Deserialize, Serialize};

use crate::dir::RunDir;
use crate::error::{RunError, corrupt};
use crate::names::{CONFIG_FILE, RUNS_FILE};

/// What `runs.json` records: how many runs, from which seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunsPlan {
    /// Runs, with seeds `first_seed`, `first_seed + 1`, ...
    pub runs: usize,
    /// The first run's seed.
    pub first_seed: u64,
}

impl RunsPlan {
    /// `runs` runs from `first_seed`.
    ///
    /// # Errors
    /// [`PlanError::NoRuns`] for zero runs.
    pub fn new(runs: usize, first_seed: u64) -> Result<Self, PlanError> {
        if runs == 0 {
            return Err(PlanError::NoRuns);
        }
        Ok(Self { runs, first_seed })
    }

    /// The seed of run `index` (0-based).
    pub fn seed(&self, index: usize) -> u64 {
        self.first_seed.wrapping_add(index as u64)
    }

    /// The folder of run `index` (0-based): `run-<index + 1>-seed-<seed>`.
    pub fn dir_name(&self, index: usize) -> String {
        format!("run-{}-seed-{}", index + 1, self.seed(index))
    }

    /// Whether `dir` is the parent of several runs (holds `runs.json`).
    pub fn is_parent(dir: &RunDir) -> bool {
        dir.file(RUNS_FILE).is_file()
    }

    /// Reads `runs.json` of a parent.
    ///
    /// # Errors
    /// [`RunError::Corrupt`] for a missing or malformed file.
    pub fn read(parent: &RunDir) -> Result<Self, RunError> {
        let plan: Self = parent.read_json(RUNS_FILE)?;
        if plan.runs == 0 {
            return Err(corrupt(&parent.file(RUNS_FILE), "plans no run"));
        }
        Ok(plan)
    }
}

/// A plan that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Zero runs were asked for.
    #[error("the number of runs must be at least 1")]
    NoRuns,
}

/// An error type of a layer above that can carry a [`RunError`], so that [`run_plan`]
/// can tell a stopped run from a failed one.
pub trait CarriesRunError: From<RunError> {
    /// The run-layer error inside, if this is one.
    fn run_error(&self) -> Option<&RunError>;
}

/// One run of a plan, as [`run_plan`] hands it over.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its index (0-based).
    pub index: usize,
    /// Its seed.
    pub seed: u64,
    /// Its run directory: existing (with a `config.json`) when `started`, else fresh.
    pub dir: RunDir,
    /// Whether it was started before (resume it; a finished one returns its outcome).
    pub started: bool,
}

/// Writes the plan and the configuration `config` into `parent` (fresh runs only).
///
/// # Errors
/// The file system's refusal, naming the file.
pub fn write_plan<C: Serialize>(
    parent: &RunDir,
    plan: &RunsPlan,
    config: &C,
) -> Result<(), RunError> {
    parent.write_json(CONFIG_FILE, config)?;
    parent.write_json(RUNS_FILE, plan)
}

/// Runs every run of `plan` under `parent` in turn with `each`, after telling
/// `started` which one starts; between runs, `should_stop` may end the plan. A run
/// that stops ([`RunError::Stopped`]) stops the plan, and the error then names the
/// parent, which resumes as a whole. The caller holds the parent's lock.
///
/// # Errors
/// The first run's error, or [`RunError::Stopped`] naming the parent.
pub fn run_plan<T, E: CarriesRunError>(
    parent: &RunDir,
    plan: &RunsPlan,
    mut started: impl FnMut(usize, usize, u64),
    mut each: impl FnMut(PlannedRun) -> Result<T, E>,
    mut should_stop: impl FnMut() -> bool,
) -> Result<Vec<T>, E> {
    let mut outcomes = Vec::with_capacity(plan.runs);
    for index in 0..plan.runs {
        let seed = plan.seed(index);
        started(index, plan.runs, seed);
        let path = parent.file(&plan.dir_name(index));
        let was_started = path.join(CONFIG_FILE).is_file();
        let dir = if was_started {
            RunDir::open(&path)?
        } else {
            RunDir::create(&path, false)?
        };
        let outcome = each(PlannedRun {
            index,
            seed,
            dir,
            started: was_started,
        });
        match outcome {
            Err(e) => {
                if let Some(RunError::Stopped { epochs_done, .. }) = e.run_error() {
                    return Err(RunError::Stopped {
                        run: parent.path().to_path_buf(),
                        epochs_done: *epochs_done,
                    }
                    .into());
                }
                return Err(e);
            }
            Ok(outcome) => outcomes.push(outcome),
        }
        if index + 1 < plan.runs && should_stop() {
            return Err(RunError::Stopped {
                run: parent.path().to_path_buf(),
                epochs_done: 0,
            }
            .into());
        }
    }
    Ok(outcomes)
}

/// The index of the best of `scores`: the highest, ties to the earliest (NaN never
/// wins over a number).
pub fn best_of(scores: impl IntoIterator<Item = f64>) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, score) in scores.into_iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => score > b || (b.is_nan() && !score.is_nan()),
        };
        if better {
            best = Some((i, score));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// Copies the files `names` of run `from` into `to`, each whole or not at all.
///
/// # Errors
/// A file that cannot be read or written, named.
pub fn copy_files(from: &RunDir, to: &RunDir, names: &[&str]) -> Result<(), RunError> {
    for name in names {
        let path = from.file(name);
        let contents = std::fs::read(&path).map_err(crate::error::io("read", &path))?;
        to.write(name, &contents)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failure(RunError);

    impl From<RunError> for Failure {
        fn from(e: RunError) -> Self {
            Failure(e)
        }
    }

    impl CarriesRunError for Failure {
        fn run_error(&self) -> Option<&RunError> {
            Some(&self.0)
        }
    }

    #[test]
    fn seeds_and_folders_follow_the_first_seed() {
        let plan = RunsPlan::new(3, 7).unwrap();
        assert_eq!((plan.seed(0), plan.seed(2)), (7, 9));
        assert_eq!(plan.dir_name(1), "run-2-seed-8");
        assert_eq!(RunsPlan::new(0, 1), Err(PlanError::NoRuns));
    }

    #[test]
    fn the_best_is_the_first_highest_and_nan_never_wins() {
        assert_eq!(best_of([0.5, 0.9, 0.9, 0.1]), 1);
        assert_eq!(best_of([f64::NAN, 0.2, 0.1]), 1);
        assert_eq!(best_of([0.3, f64::NAN]), 0);
        assert_eq!(best_of([]), 0);
    }

    #[test]
    fn a_plan_resumes_started_runs_and_a_stop_names_the_parent() {
        let root = tempfile::tempdir().unwrap();
        let parent = RunDir::create(root.path().join("parent"), false).unwrap();
        let plan = RunsPlan::new(3, 10).unwrap();
        write_plan(&parent, &plan, &serde_json::json!({"epochs": 1})).unwrap();
        assert!(RunsPlan::is_parent(&parent));
        assert_eq!(RunsPlan::read(&parent).unwrap(), plan);
        // The second run stops after its first epoch.
        let err = run_plan(
            &parent,
            &plan,
            |_, _, _| {},
            |run: PlannedRun| -> Result<u64, Failure> {
                assert!(!run.started);
                run.dir.write_json(CONFIG_FILE, &run.seed)?;
                if run.index == 1 {
                    return Err(RunError::Stopped {
                        run: run.dir.path().to_path_buf(),
                        epochs_done: 1,
                    }
                    .into());
                }
                Ok(run.seed)
            },
            || false,
        )
        .unwrap_err();
        match err.0 {
            RunError::Stopped { run, epochs_done } => {
                assert_eq!((run.as_path(), epochs_done), (parent.path(), 1));
            }
            other => panic!("{other:?}"),
        }
        let mut seen = Vec::new();
        let seeds = run_plan(
            &parent,
            &plan,
            |i, n, s| seen.push((i, n, s)),
            |run: PlannedRun| -> Result<(u64, bool), Failure> { Ok((run.seed, run.started)) },
            || false,
        )
        .unwrap();
        assert_eq!(seeds, vec![(10, true), (11, true), (12, false)]);
        assert_eq!(seen, vec![(0, 3, 10), (1, 3, 11), (2, 3, 12)]);
    }
}
