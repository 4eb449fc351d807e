//! What a running search or training tells whoever watches it.

/// Progress within an epoch, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProgress {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Steps done in this epoch.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// Mean training loss so far this epoch (a search: the weight steps'; a training:
    /// the auxiliary term included).
    pub loss: f64,
    /// Training accuracy so far this epoch.
    pub accuracy: f64,
    /// Images per second (a search: both steps' images).
    pub images_per_second: f64,
}

/// Receives the progress of a run whose epochs are recorded as `R`; the CLI draws bars
/// and writes logs from it. Every method has a default that ignores it.
pub trait RunObserver<R> {
    /// Run `run` (0-based) of `runs` starts with `seed` (multi-run plans only).
    fn run_started(&mut self, _run: usize, _runs: usize, _seed: u64) {}
    /// An epoch with `steps` steps starts.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// Some steps are done (called every few steps; reading the loss syncs the device).
    fn step(&mut self, _progress: &StepProgress) {}
    /// An epoch is done and recorded.
    fn epoch_finished(&mut self, _record: &R) {}
    /// Asked after each epoch's checkpoint is written: `true` stops the run there (for
    /// example on Ctrl-C); resuming continues it.
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
impl<R> RunObserver<R> for () {}
