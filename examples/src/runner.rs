//! Running searches one after another on the same data, with a progress line per
//! epoch, each into its own run directory (with `environment.json`, `report.html` and
//! `evolution.html`, as `entrannas search` writes them).

use std::path::{Path, PathBuf};

use entrannas_data::OpenedDataset;
use entrannas_ops::OpRegistry;
use entrannas_report::{write_evolution, write_report};
use entrannas_run::{Environment, RunDir, RunObserver};
use entrannas_search::{EpochRecord, SearchConfig, SearchOutcome, resume_search, run_search};

use crate::{Cpu, ExampleError, pct};

/// One search of an experiment: a label (also its run directory's name) and its
/// configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Row label and run-directory name.
    pub label: String,
    /// The search's configuration.
    pub config: SearchConfig,
}

/// A finished search.
#[derive(Debug, Clone)]
pub struct TrialResult {
    /// The trial's label.
    pub label: String,
    /// Its configuration.
    pub config: SearchConfig,
    /// Every epoch's record and the selected epoch.
    pub outcome: SearchOutcome,
    /// Its run directory.
    pub run_dir: PathBuf,
    /// Wall time of the search's epochs in seconds, summed from its history (a
    /// resumed search counts the epochs it ran before too).
    pub seconds: f64,
}

impl TrialResult {
    /// The last epoch's record: the search's final state, at the final temperature.
    pub fn last(&self) -> &EpochRecord {
        self.outcome
            .history
            .last()
            .expect("a finished search has at least one epoch")
    }
}

/// A [`entrannas_search::SearchObserver`] printing one line per epoch on stderr, prefixed by a label.
#[derive(Debug, Clone)]
pub struct EpochLine {
    /// Printed before each line (the trial's label).
    pub label: String,
    /// Epochs of the search.
    pub epochs: usize,
}

impl EpochLine {
    /// The line for one epoch's record.
    pub fn line(&self, r: &EpochRecord) -> String {
        format!(
            "[{}] epoch {}/{}: loss {:.3}, train {}%, super-net {}%, child-net {}% (gap {:+.2}), tau {:.3}, edges {}/{}, {:.0} img/s, {:.0} s",
            self.label,
            r.epoch + 1,
            self.epochs,
            r.train_loss,
            pct(r.train_accuracy),
            pct(r.supernet_accuracy),
            pct(r.child_accuracy),
            100.0 * r.gap,
            r.tau,
            r.normal.edges,
            r.reduce.edges,
            r.images_per_second,
            r.seconds
        )
    }
}

impl RunObserver<EpochRecord> for EpochLine {
    fn epoch_finished(&mut self, record: &EpochRecord) {
        eprintln!("{}", self.line(record));
    }
}

/// What [`run_trials`] does with a trial whose run directory already holds a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Stop with an error naming the directory.
    Refuse,
    /// Search again from scratch, replacing it.
    Overwrite,
    /// Read a finished search back, continue an interrupted one from its last
    /// checkpoint; refused when its configuration is not the trial's.
    Resume,
}

/// Runs `trials` in order on `data`, each into `out/<label>`, doing with a directory
/// that already holds a run what `existing` says, and writes each run's report pages.
pub fn run_trials(
    trials: &[Trial],
    data: &OpenedDataset,
    out: &Path,
    existing: Existing,
) -> Result<Vec<TrialResult>, ExampleError> {
    let mut results = Vec::with_capacity(trials.len());
    for trial in trials {
        let path = out.join(&trial.label);
        let resume = existing == Existing::Resume && path.join("config.json").is_file();
        let run = if resume {
            let run = RunDir::open(&path)?;
            let differences = config_differences(&SearchConfig::from_run(&run)?, &trial.config);
            if !differences.is_empty() {
                return Err(ExampleError::Usage(format!(
                    "--resume: {} was searched with another configuration ({}); \
                     give the flags it was started with, or another --out",
                    path.display(),
                    differences.join(", ")
                )));
            }
            run
        } else {
            let run = RunDir::create(&path, existing == Existing::Overwrite)?;
            write_environment(&run, data)?;
            run
        };
        eprintln!(
            "[{}] {} search, {} space, engine {}, lambda {}: C = {}, {} cells, {} epochs, batch {}; {}",
            trial.label,
            trial.config.method,
            trial.config.space,
            trial.config.engine,
            trial.config.lambda,
            trial.config.channels,
            trial.config.layers,
            trial.config.epochs,
            trial.config.batch_size,
            run.path().display()
        );
        if resume {
            eprintln!("[{}] resuming from its run directory", trial.label);
        }
        let mut observer = EpochLine {
            label: trial.label.clone(),
            epochs: trial.config.epochs,
        };
        let (registry, devices) = (OpRegistry::default(), [Default::default()]);
        let outcome = if resume {
            resume_search::<Cpu>(&registry, data, &run, &mut observer, &devices)?
        } else {
            run_search::<Cpu>(
                &trial.config,
                &registry,
                data,
                &run,
                &mut observer,
                &devices,
            )?
        };
        let seconds = outcome.history.iter().map(|r| r.seconds).sum();
        write_report(run.path())?;
        write_evolution(run.path())?;
        results.push(TrialResult {
            label: trial.label.clone(),
            config: trial.config.clone(),
            outcome,
            run_dir: run.path().to_path_buf(),
            seconds,
        });
    }
    Ok(results)
}

/// Writes `environment.json` (versions, device, dataset, command line, start time)
/// into a new run directory.
fn write_environment(run: &RunDir, data: &OpenedDataset) -> Result<(), ExampleError> {
    run.write_environment(&Environment::now("flex (CPU)", &data.location), false)?;
    Ok(())
}

/// The fields in which two search configurations differ, as `name (saved vs given)`.
fn config_differences(saved: &SearchConfig, given: &SearchConfig) -> Vec<String> {
    let fields = |c: &SearchConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (saved, given) = (fields(saved), fields(given));
    given
        .iter()
        .filter(|(name, value)| saved.get(*name) != Some(*value))
        .map(|(name, value)| {
            let before = saved.get(name).map_or("missing".into(), |v| v.to_string());
            format!("{name}: {before} vs {value}")
        })
        .collect()
}

/// The seeds `first`, `first + 1`, ... of `seeds` searches per setting; a usage error
/// naming both flags when there are none or the last would pass `u64::MAX`.
pub fn seed_range(first: u64, seeds: u64) -> Result<std::ops::RangeInclusive<u64>, ExampleError> {
    if seeds == 0 {
        return Err(ExampleError::Usage("--seeds: give at least 1".into()));
    }
    let last = first.checked_add(seeds - 1).ok_or_else(|| {
        ExampleError::Usage(format!(
            "--seed {first} with --seeds {seeds}: the last seed would pass {}",
            u64::MAX
        ))
    })?;
    Ok(first..=last)
}

/// A trial's label: `name` alone for a single seed, `name-seed-<seed>` among several.
pub fn seeded_label(name: &str, seed: u64, seeds: u64) -> String {
    if seeds == 1 {
        name.to_string()
    } else {
        format!("{name}-seed-{seed}")
    }
}

/// Mean and sample standard deviation (0 for a single value) of `values`.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_std(&[-2.75, 3.05]);
        assert_relative_eq!(m, 0.15, epsilon = 1e-12);
        // Sample variance: (2.9^2 + 2.9^2) / 1 = 16.82.
        assert_relative_eq!(s, 16.82f64.sqrt(), epsilon = 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
    }

    #[test]
    fn seeds_count_up_from_the_first_and_label_only_when_several() {
        assert_eq!(seed_range(2, 3).unwrap(), 2..=4);
        assert!(
            seed_range(2, 0)
                .unwrap_err()
                .to_string()
                .contains("--seeds")
        );
        let err = seed_range(u64::MAX, 2).unwrap_err().to_string();
        assert!(err.contains("--seeds 2"), "{err}");
        assert_eq!(seeded_label("first", 3, 1), "first");
        assert_eq!(seeded_label("first", 3, 2), "first-seed-3");
    }
}
