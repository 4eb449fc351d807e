//! Progress display for long runs: a bar with loss, accuracy, throughput and ETA on a
//! terminal; plain log lines otherwise. Ctrl-C asks the search to stop after the
//! current epoch's checkpoint.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use entrannas_run::{RunObserver, StepProgress};
use entrannas_search::EpochRecord;
use entrannas_search::bench::{MemoryMeasure, MemoryProbe};
use indicatif::{ProgressBar, ProgressStyle};

/// The peak memory a run has needed so far, shown with its progress: a GPU's memory
/// pool (the largest of the bytes reserved from the driver, sampled whenever the
/// progress is shown), the process's peak resident size (`VmHWM`) on the CPU backends,
/// nothing where neither can be read (libtorch).
pub struct PeakMemory(Option<Box<dyn MemoryProbe>>);

impl PeakMemory {
    /// Shows what `probe` ([`crate::backend::memory_probe`]) measures; nothing without one.
    pub fn new(probe: Option<Box<dyn MemoryProbe>>) -> Self {
        Self(probe)
    }

    /// `, peak memory N MiB (what)`, or nothing when it cannot be read.
    fn sample_and_describe(&mut self) -> String {
        let Some(probe) = &mut self.0 else {
            return String::new();
        };
        probe.sample();
        probe.peak().map_or(String::new(), |r| {
            let what = match r.measure {
                MemoryMeasure::DeviceSampled => "device pool",
                _ => "process RSS",
            };
            format!(", peak memory {:.0} MiB ({what})", r.bytes as f64 / MIB)
        })
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// An epoch progress bar on a terminal, log lines otherwise, and the Ctrl-C flag.
pub struct EpochBar {
    bar: Option<ProgressBar>,
    interactive: bool,
    stop: Arc<AtomicBool>,
    started: Instant,
    epochs: usize,
    first_epoch: Option<usize>,
    memory: PeakMemory,
}

impl EpochBar {
    /// A progress display showing the run's peak `memory`; Ctrl-C sets a flag that
    /// stops the run after the epoch.
    pub fn new(memory: PeakMemory) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // A second Ctrl-C (or a handler that cannot be installed) falls back to the
        // default: the process ends, and the last checkpoint still resumes.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping after this epoch's checkpoint (Ctrl-C again to quit now)");
        });
        Self {
            bar: None,
            interactive: std::io::stderr().is_terminal(),
            stop,
            started: Instant::now(),
            epochs: 0,
            first_epoch: None,
            memory,
        }
    }

    /// An epoch with `steps` steps starts.
    pub fn start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.epochs = epochs;
        self.first_epoch.get_or_insert(epoch);
        if self.interactive {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} (epoch ETA {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
            self.bar = Some(bar);
        }
    }

    /// Progress within the epoch.
    pub fn step(&mut self, epoch: usize, step: usize, steps: usize, message: String) {
        let message = message + &self.memory.sample_and_describe();
        match &self.bar {
            Some(bar) => {
                bar.set_position(step as u64);
                bar.set_message(message);
            }
            None => eprintln!("epoch {} step {step}/{steps}: {message}", epoch + 1),
        }
    }

    /// The epoch is done: clears the bar and prints `summary` with the run's ETA.
    pub fn finish(&mut self, epoch: usize, summary: String) {
        let summary = summary + &self.memory.sample_and_describe();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let first = self.first_epoch.unwrap_or(epoch);
        let done = epoch + 1 - first;
        let left = self.epochs.saturating_sub(epoch + 1);
        let per_epoch = self.started.elapsed().as_secs_f64() / done.max(1) as f64;
        eprintln!(
            "epoch {}/{}: {summary} (ETA {})",
            epoch + 1,
            self.epochs,
            format_duration(per_epoch * left as f64)
        );
    }

    /// A new search of several starts: its ETA counts from now.
    pub fn restart(&mut self) {
        self.started = Instant::now();
        self.first_epoch = None;
    }

    /// Whether Ctrl-C asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn step_message(loss: f64, accuracy: f64, images_per_second: f64) -> String {
    format!(
        "loss {loss:.4} acc {:.2}% {images_per_second:.0} img/s",
        100.0 * accuracy
    )
}

/// Search progress on stderr.
pub struct SearchProgress(pub EpochBar);

/// Training progress on stderr.
pub struct TrainProgress(pub EpochBar);

impl RunObserver<entrannas_eval::EpochRecord> for TrainProgress {
    fn run_started(&mut self, run: usize, runs: usize, seed: u64) {
        if runs > 1 {
            eprintln!("run {}/{runs} (seed {seed})", run + 1);
        }
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.0.start(epoch, epochs, steps);
    }

    fn step(&mut self, p: &StepProgress) {
        let message = step_message(p.loss, p.accuracy, p.images_per_second);
        self.0.step(p.epoch, p.step, p.steps, message);
    }

    fn epoch_finished(&mut self, r: &entrannas_eval::EpochRecord) {
        let summary = format!(
            "train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | lr {:.4} drop-path {:.3} | {:.0} img/s, {}",
            r.train_loss,
            100.0 * r.train_accuracy,
            r.test_loss,
            100.0 * r.test_accuracy,
            r.lr,
            r.drop_path,
            r.images_per_second,
            format_duration(r.seconds)
        );
        self.0.finish(r.epoch, summary);
    }

    fn should_stop(&mut self) -> bool {
        self.0.stop_requested()
    }
}

/// `1h02m`, `3m07s` or `12s`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

impl RunObserver<EpochRecord> for SearchProgress {
    fn run_started(&mut self, run: usize, runs: usize, seed: u64) {
        eprintln!("search {}/{runs} (seed {seed})", run + 1);
        self.0.restart();
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.0.start(epoch, epochs, steps);
    }

    fn step(&mut self, p: &StepProgress) {
        let message = step_message(p.loss, p.accuracy, p.images_per_second);
        self.0.step(p.epoch, p.step, p.steps, message);
    }

    fn epoch_finished(&mut self, r: &EpochRecord) {
        let thresholds = |t: &Option<Vec<f64>>| {
            t.as_ref().map_or(String::new(), |t| {
                let t: Vec<String> = t.iter().map(|v| format!("{v:.3}")).collect();
                format!(" t=[{}]", t.join(" "))
            })
        };
        let summary = format!(
            "train loss {:.4} acc {:.2}% | val super-net {:.2}% child-net {:.2}% (gap {:+.2}){} | tau {:.3} lr {:.4} | edges {}/{}{}{}{}{} | {:.0} img/s, {}",
            r.train_loss,
            100.0 * r.train_accuracy,
            100.0 * r.supernet_accuracy,
            100.0 * r.child_accuracy,
            100.0 * r.gap,
            match (
                r.supernet_accuracy_recalibrated,
                r.child_accuracy_recalibrated
            ) {
                (Some(s), Some(c)) => format!(
                    " | re-BN super-net {:.2}% child-net {:.2}% (gap {:+.2})",
                    100.0 * s,
                    100.0 * c,
                    100.0 * (s - c)
                ),
                (None, Some(c)) => format!(" re-BN {:.2}%", 100.0 * c),
                _ => String::new(),
            },
            r.tau,
            r.lr,
            r.normal.connections,
            r.reduce.connections,
            thresholds(&r.normal.thresholds),
            thresholds(&r.reduce.thresholds),
            match (r.derivation_changes, r.derivation_stable_steps) {
                (Some(changes), Some(stable)) =>
                    format!(", derivation changed {changes}x, last {stable} steps ago"),
                _ => String::new(),
            },
            match (
                r.normal.mean_largest_coefficient,
                r.reduce.mean_largest_coefficient
            ) {
                (Some(n), Some(r)) => format!(", largest op weight {n:.2}/{r:.2}"),
                _ => String::new(),
            },
            r.images_per_second,
            format_duration(r.seconds),
        );
        self.0.finish(r.epoch, summary);
    }

    fn should_stop(&mut self) -> bool {
        self.0.stop_requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory_probe;

    #[test]
    fn peak_memory_is_the_pools_largest_sample_or_the_process_peak() {
        let mut samples = vec![1 << 20, 3 << 20].into_iter();
        let probe = memory_probe("cuda:0", Some(Box::new(move || samples.next())));
        let mut pool = PeakMemory::new(probe);
        let mut described = || pool.sample_and_describe();
        assert_eq!(described(), ", peak memory 1 MiB (device pool)");
        assert_eq!(described(), ", peak memory 3 MiB (device pool)");
        // A reader with nothing more to say keeps the peak.
        assert_eq!(described(), ", peak memory 3 MiB (device pool)");

        let mut cpu = PeakMemory::new(memory_probe("flex (cpu)", None));
        let text = cpu.sample_and_describe();
        if cfg!(target_os = "linux") {
            assert!(
                text.starts_with(", peak memory ") && text.ends_with(" MiB (process RSS)"),
                "{text}"
            );
        }
        assert!(memory_probe("tch", None).is_none());
        assert_eq!(PeakMemory::new(None).sample_and_describe(), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(187.0), "3m07s");
        assert_eq!(format_duration(3720.0), "1h02m");
    }
}
