//! The memory/speed ladder of the paper's Table 2, on any backend.
//!
//! Six rungs, each a [`SearchConfig`]: DARTS (first order), then EnTranNAS's savings
//! added one at a time (Engine/Transit cells, feature sharing, bottleneck), then
//! EnTranNAS-DST at its dense start and in a sparse state. Every rung runs the search's
//! real iteration ([`Searcher::step`]: derivation refresh, one architecture step, one
//! weight step) on random data of a chosen shape, at each requested batch size, and is
//! timed step by step after a separately measured first step and a warm-up.
//!
//! Peak memory comes from a [`MemoryProbe`]: [`ProcessPeakRss`] on CPU backends
//! (Linux `VmHWM`), [`SampledProbe`] for a device-memory reader the caller supplies
//! (the CLI reads CubeCL's memory pool for `cuda` and `wgpu`), [`NoMemoryProbe`] where
//! nothing is measured. burn 0.21's generic `Backend` trait exposes no memory
//! statistics, so this layer cannot read a GPU's on its own.
//!
//! `docs/BENCHMARKS.md` describes the method and its caveats.

use core::fmt;
use core::str::FromStr;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use entrannas_data::{DatasetInfo, DatasetKind, ImageBatch};
use entrannas_ops::DepthwiseConv;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::config::SearchConfig;
use crate::searcher::{Derivation, Searcher};
use crate::space::{EnginePlacement, Method, OpSpace};
use crate::supernet::StemLayout;

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rung {
    /// DARTS, first order: every cell an Engine cell, no sharing, `tau = 1`, no
    /// bottleneck. The reference of every ratio.
    Darts,
    /// EnTranNAS Engine/Transit cells (placement `first`), no sharing, no bottleneck.
    EngineTransit,
    /// As [`Rung::EngineTransit`] with feature sharing.
    Sharing,
    /// As [`Rung::Sharing`] with the bottleneck (the full EnTranNAS search).
    Bottleneck,
    /// EnTranNAS-DST (sharing, bottleneck) at initialisation: every connection active.
    DstDense,
    /// EnTranNAS-DST in a sparse state: high thresholds keep about one or two inputs
    /// per node.
    DstSparse,
}

impl Rung {
    /// Every rung, in ladder order.
    pub const ALL: [Rung; 6] = [
        Rung::Darts,
        Rung::EngineTransit,
        Rung::Sharing,
        Rung::Bottleneck,
        Rung::DstDense,
        Rung::DstSparse,
    ];

    /// The short name used on the command line and in JSON (`engine-transit`).
    pub fn key(self) -> &'static str {
        match self {
            Rung::Darts => "darts",
            Rung::EngineTransit => "engine-transit",
            Rung::Sharing => "sharing",
            Rung::Bottleneck => "bottleneck",
            Rung::DstDense => "dst-dense",
            Rung::DstSparse => "dst-sparse",
        }
    }

    /// The label in the table, as the paper's Table 2 names the rows.
    pub fn label(self) -> &'static str {
        match self {
            Rung::Darts => "darts",
            Rung::EngineTransit => "+ engine/transit",
            Rung::Sharing => "+ feature sharing",
            Rung::Bottleneck => "+ bottleneck",
            Rung::DstDense => "dst dense",
            Rung::DstSparse => "dst sparse",
        }
    }

    /// The search configuration of this rung for `bench` at batch size `batch`.
    pub fn config(self, bench: &BenchConfig, batch: usize) -> SearchConfig {
        let base = SearchConfig::new()
            .with_space(bench.space)
            .with_channels(bench.channels)
            .with_layers(bench.layers)
            .with_nodes(bench.nodes)
            .with_batch_size(batch)
            .with_seed(bench.seed)
            .with_stem(bench.stem)
            .with_shards(bench.shards)
            .with_depthwise(bench.depthwise)
            .with_engine(EnginePlacement::First);
        let bottleneck = Some(bench.bottleneck);
        match self {
            Rung::Darts => base
                .with_method(Method::Darts)
                .with_engine(EnginePlacement::All)
                .with_sharing(false)
                .with_bottleneck(None),
            Rung::EngineTransit => base
                .with_method(Method::Entran)
                .with_sharing(false)
                .with_bottleneck(None),
            Rung::Sharing => base
                .with_method(Method::Entran)
                .with_sharing(true)
                .with_bottleneck(None),
            Rung::Bottleneck => base
                .with_method(Method::Entran)
                .with_sharing(true)
                .with_bottleneck(bottleneck),
            Rung::DstDense => base
                .with_method(Method::Dst)
                .with_sharing(true)
                .with_bottleneck(bottleneck),
            Rung::DstSparse => base
                .with_method(Method::Dst)
                .with_sharing(true)
                .with_bottleneck(bottleneck)
                .with_alpha_std(bench.sparse_alpha_std)
                .with_beta_init(bench.sparse_beta),
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Rung {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rung::ALL
            .into_iter()
            .find(|r| r.key() == s)
            .ok_or_else(|| SearchError::InvalidChoice {
                what: "bench rung",
                value: s.to_string(),
                valid: Rung::ALL.map(Rung::key).join(", "),
            })
    }
}

/// What the ladder runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Batch sizes; every rung runs at each (both steps of an iteration use it).
    pub batch_sizes: Vec<usize>,
    /// Timed iterations per rung and batch size.
    pub steps: usize,
    /// Untimed iterations after the first one (which is timed on its own).
    pub warmup: usize,
    /// Initial channels `C` (16).
    pub channels: usize,
    /// Cells `L` (8).
    pub layers: usize,
    /// Intermediate nodes per cell (4).
    pub nodes: usize,
    /// Image shape `[channels, height, width]` (CIFAR: `[3, 32, 32]`).
    pub image: [usize; 3],
    /// Classes (10).
    pub classes: usize,
    /// Operation space (standard).
    pub space: OpSpace,
    /// Stem layout (CIFAR; `imagenet` for 224 inputs).
    pub stem: StemLayout,
    /// Bottleneck ratio of the bottleneck and DST rungs (4).
    pub bottleneck: usize,
    /// Initial `beta` of the sparse DST rung (4.0: thresholds `t = 0.982`).
    pub sparse_beta: f64,
    /// Standard deviation of the sparse DST rung's initial `alpha` (1.0). The default
    /// `1e-3` keeps every `p_hat` within a fraction of a percent of 1, so no threshold
    /// below 1 would prune anything; spread-out logits let the high thresholds keep
    /// about one or two connections per node.
    pub sparse_alpha_std: f64,
    /// The rungs to run, in order (all six by default). Ratios need [`Rung::Darts`].
    pub rungs: Vec<Rung>,
    /// Seed of the initialisation and of the random data.
    pub seed: u64,
    /// Data-parallel shards of every batch ([`SearchConfig::shards`]), spread over the
    /// devices [`run_ladder`] is given (1).
    #[serde(default = "one")]
    pub shards: usize,
    /// How every rung's depthwise convolutions are computed
    /// ([`SearchConfig::depthwise`]).
    #[serde(default)]
    pub depthwise: DepthwiseConv,
}

fn one() -> usize {
    1
}

impl Default for BenchConfig {
    /// The paper's CIFAR-10 super-net (`C = 16`, 8 cells) at batch 64, 10 timed steps
    /// after 2 warm-up steps, every rung.
    fn default() -> Self {
        Self {
            batch_sizes: vec![64],
            steps: 10,
            warmup: 2,
            channels: 16,
            layers: 8,
            nodes: 4,
            image: [3, 32, 32],
            classes: 10,
            space: OpSpace::Standard,
            stem: StemLayout::Cifar,
            bottleneck: 4,
            sparse_beta: 4.0,
            sparse_alpha_std: 1.0,
            rungs: Rung::ALL.to_vec(),
            seed: 2,
            shards: 1,
            depthwise: DepthwiseConv::default(),
        }
    }
}

impl BenchConfig {
    /// Checks values that would make the ladder meaningless.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |m: &str| Err(SearchError::Config(m.to_string()));
        if self.batch_sizes.is_empty() || self.batch_sizes.contains(&0) {
            return bad("bench batch sizes must be given and at least 1");
        }
        if self.steps == 0 {
            return bad("bench needs at least 1 timed step");
        }
        if self.rungs.is_empty() {
            return bad("bench needs at least one rung");
        }
        if self.image.contains(&0) || self.classes == 0 {
            return bad("bench image shape and class count must be at least 1");
        }
        if self.shards == 0 {
            return bad("bench shards must be at least 1");
        }
        Ok(())
    }
}

/// How a peak-memory figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryMeasure {
    /// Process peak resident set size (`VmHWM`) minus the resident size when the rung
    /// started, after resetting the peak through `/proc/self/clear_refs`.
    RssDelta,
    /// The absolute process peak resident size: the peak could not be reset, so the
    /// figure includes everything before the rung (earlier rungs too).
    RssAbsolute,
    /// Device memory, the largest of the caller's reader's values sampled after the
    /// build and after every (synchronised) step.
    DeviceSampled,
}

impl MemoryMeasure {
    /// A short description for the table.
    pub fn describe(self) -> &'static str {
        match self {
            MemoryMeasure::RssDelta => "process peak RSS over the rung's start",
            MemoryMeasure::RssAbsolute => "absolute process peak RSS (reset failed)",
            MemoryMeasure::DeviceSampled => "device memory, largest sample",
        }
    }
}

/// A peak-memory figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryReading {
    /// Bytes.
    pub bytes: u64,
    /// How they were measured.
    pub measure: MemoryMeasure,
}

/// Measures the peak memory of one rung at one batch size.
pub trait MemoryProbe {
    /// Starts a new peak; called before the rung's super-net is built.
    fn reset(&mut self);
    /// Called after the build and after every synchronised step.
    fn sample(&mut self) {}
    /// The peak since the last [`MemoryProbe::reset`], if this probe can tell.
    fn peak(&mut self) -> Option<MemoryReading>;
}

/// Measures nothing (GPU backends without a memory reader).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemoryProbe;

impl MemoryProbe for NoMemoryProbe {
    fn reset(&mut self) {}

    fn peak(&mut self) -> Option<MemoryReading> {
        None
    }
}

/// The largest value a caller-supplied reader returns (for example a device memory
/// pool's reserved bytes, read after every step): [`MemoryMeasure::DeviceSampled`].
pub struct SampledProbe<F: FnMut() -> Option<u64>> {
    read: F,
    peak: Option<u64>,
}

impl<F: FnMut() -> Option<u64>> SampledProbe<F> {
    /// A probe around `read`.
    pub fn new(read: F) -> Self {
        Self { read, peak: None }
    }
}

impl<F: FnMut() -> Option<u64>> MemoryProbe for SampledProbe<F> {
    fn reset(&mut self) {
        self.peak = None;
    }

    fn sample(&mut self) {
        if let Some(v) = (self.read)() {
            self.peak = Some(self.peak.map_or(v, |p| p.max(v)));
        }
    }

    fn peak(&mut self) -> Option<MemoryReading> {
        self.peak.map(|bytes| MemoryReading {
            bytes,
            measure: MemoryMeasure::DeviceSampled,
        })
    }
}

/// The process's peak resident set size on Linux, for CPU backends.
///
/// [`MemoryProbe::reset`] first returns freed heap memory to the system (glibc's
/// `malloc_trim`, so an earlier rung's freed buffers do not hide this rung's
/// allocations), then writes `5` to `/proc/self/clear_refs`, which resets `VmHWM` to
/// the current `VmRSS`; the peak is `VmHWM` minus that `VmRSS`. If the reset is
/// refused the absolute `VmHWM` is reported as [`MemoryMeasure::RssAbsolute`].
/// `VmHWM` covers the whole process: other threads' allocations count too.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessPeakRss {
    baseline: Option<u64>,
}

impl ProcessPeakRss {
    /// A probe; nothing is read until [`MemoryProbe::reset`].
    pub fn new() -> Self {
        Self::default()
    }
}

/// A `/proc/self/status` field in bytes (`VmHWM`, `VmRSS`), if readable.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: u64 = line[field.len() + 1..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    unsafe extern "C" {
        /// glibc: returns free memory at the top of the heap and free whole pages
        /// inside every arena to the system. Only touches free memory.
        safe fn malloc_trim(pad: usize) -> i32;
    }
    malloc_trim(0);
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

impl MemoryProbe for ProcessPeakRss {
    fn reset(&mut self) {
        release_free_heap();
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        self.baseline = if reset {
            proc_status_bytes("VmRSS")
        } else {
            None
        };
    }

    fn peak(&mut self) -> Option<MemoryReading> {
        let hwm = proc_status_bytes("VmHWM")?;
        Some(match self.baseline {
            Some(base) => MemoryReading {
                bytes: hwm.saturating_sub(base),
                measure: MemoryMeasure::RssDelta,
            },
            None => MemoryReading {
                bytes: hwm,
                measure: MemoryMeasure::RssAbsolute,
            },
        })
    }
}

/// Which of a rung's steps a [`BenchEvent::Step`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The first step (kernel compilation and autotuning on a GPU).
    First,
    /// A warm-up step, not timed in the row.
    Warmup,
    /// A timed step.
    Timed,
}

/// What [`run_ladder`] reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum BenchEvent<'a> {
    /// One (synchronised) step of a rung has finished.
    Step {
        /// The rung.
        rung: Rung,
        /// The batch size.
        batch: usize,
        /// First, warm-up or timed.
        kind: StepKind,
        /// 1-based index among all the rung's steps (first, warm-up and timed).
        index: usize,
        /// How many steps the rung runs in all.
        of: usize,
        /// Wall time of the step, seconds.
        seconds: f64,
        /// The step's weight loss.
        loss: f64,
    },
    /// A rung at a batch size is done (ratios to DARTS are not filled in yet).
    Row(&'a BenchRow),
}

/// One rung at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// The rung.
    pub rung: Rung,
    /// Its table label.
    pub label: String,
    /// Batch size of each of the two steps of an iteration.
    pub batch_size: usize,
    /// Why the rung failed (an error, or a panic such as running out of device
    /// memory); the measurements are then absent.
    pub error: Option<String>,
    /// Seconds of the very first iteration (on GPUs it includes kernel compilation).
    pub first_step_seconds: Option<f64>,
    /// Timed iterations.
    pub steps: usize,
    /// Mean seconds per timed iteration.
    pub mean_step_seconds: Option<f64>,
    /// Median seconds per timed iteration.
    pub median_step_seconds: Option<f64>,
    /// Fastest timed iteration, in seconds.
    pub min_step_seconds: Option<f64>,
    /// Images per second over the timed iterations, counting both steps' batches.
    pub images_per_second: Option<f64>,
    /// Trainable parameters of the super-net (architecture parameters excluded).
    pub params: Option<u64>,
    /// Connections of the derived normal cell after the timed iterations.
    pub connections_normal: Option<usize>,
    /// Connections of the derived reduction cell after the timed iterations.
    pub connections_reduce: Option<usize>,
    /// Candidate-operation evaluations of the last timed iteration, counted by the
    /// cells as they ran ([`crate::searcher::StepOutput::op_count`]): both forward
    /// passes, the architecture step's with the previous derivation and the weight
    /// step's with the refreshed one; a shared `(source, op)` output counts once;
    /// preprocessing, bottleneck and backward passes are not counted. `None` with
    /// data-parallel shards, where every shard evaluates the ops on its part of the
    /// batch (the sum would not compare with one device's).
    pub op_evaluations: Option<usize>,
    /// Peak memory of the rung, if the probe measures it.
    pub peak_memory: Option<MemoryReading>,
    /// The weight-step loss of the last timed iteration.
    pub final_loss: Option<f64>,
    /// DARTS's median step time over this rung's, at the same batch size in the
    /// same run (higher is faster).
    pub speedup_vs_darts: Option<f64>,
    /// DARTS's peak memory over this rung's, at the same batch size in the same run
    /// (higher is less memory).
    pub memory_saving_vs_darts: Option<f64>,
    /// DARTS's op evaluations over this rung's.
    pub op_saving_vs_darts: Option<f64>,
}

impl BenchRow {
    fn failed(rung: Rung, batch_size: usize, steps: usize, error: String) -> Self {
        Self {
            rung,
            label: rung.label().to_string(),
            batch_size,
            error: Some(error),
            first_step_seconds: None,
            steps,
            mean_step_seconds: None,
            median_step_seconds: None,
            min_step_seconds: None,
            images_per_second: None,
            params: None,
            connections_normal: None,
            connections_reduce: None,
            op_evaluations: None,
            peak_memory: None,
            final_loss: None,
            speedup_vs_darts: None,
            memory_saving_vs_darts: None,
            op_saving_vs_darts: None,
        }
    }

    /// Connections of both derived cells.
    pub fn connections(&self) -> Option<usize> {
        Some(self.connections_normal? + self.connections_reduce?)
    }
}

/// Random images in `[-1, 1]` and uniform labels, as two batches (val, train).
fn random_batches<B: Backend>(
    bench: &BenchConfig,
    batch: usize,
    device: &B::Device,
) -> (ImageBatch<B>, ImageBatch<B>) {
    let mut rng = StdRng::seed_from_u64(bench.seed ^ (batch as u64).rotate_left(32));
    let [c, h, w] = bench.image;
    let mut one = || {
        let pixels: Vec<f32> = (0..batch * c * h * w)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let labels: Vec<i64> = (0..batch)
            .map(|_| rng.random_range(0..bench.classes) as i64)
            .collect();
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [batch, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(labels, [batch]), device),
        }
    };
    let val = one();
    let train = one();
    (val, train)
}

/// Waits for the device and reads `t`'s first value.
fn sync_scalar<B: Backend>(t: Tensor<B, 1>, device: &B::Device) -> f64 {
    let value = t.into_data().iter::<f64>().next().unwrap_or(f64::NAN);
    // A backend that cannot sync has already finished what the read needed.
    let _ = B::sync(device);
    value
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Runs one rung at one batch size; errors are reported as text.
fn run_rung<B: AutodiffBackend>(
    rung: Rung,
    bench: &BenchConfig,
    batch: usize,
    devices: &[B::Device],
    memory: &mut dyn MemoryProbe,
    on_event: &mut dyn FnMut(BenchEvent<'_>),
) -> Result<BenchRow, SearchError> {
    let device = devices
        .first()
        .ok_or_else(|| SearchError::Config("no device given".into()))?;
    // Earlier rungs' buffers go back to the device first, so that a memory pool's
    // figure is this rung's own.
    B::memory_cleanup(device);
    memory.reset();
    let config = rung.config(bench, batch);
    let tau = config.schedule().at_epoch(0);
    let lr = config.lr_at(0);
    let classes = (0..bench.classes).map(|c| format!("class {c}")).collect();
    let info = DatasetInfo::new(DatasetKind::Cifar10, bench.image, classes);
    let mut searcher = Searcher::<B>::new(config, &info, device)?;
    searcher.set_devices(devices)?;
    let (val, train) = random_batches::<B>(bench, batch, device);
    let params = searcher.net.num_params() as u64;
    memory.sample();

    let mut derivation = searcher.derive(tau)?;
    let of = 1 + bench.warmup + bench.steps;
    let mut index = 0;
    let mut iterate = |searcher: &mut Searcher<B>, derivation: &mut Derivation, kind| {
        let start = Instant::now();
        let out = searcher.step(derivation, &val, &train, tau, lr)?;
        let count = out.op_count;
        let loss = sync_scalar(out.loss, device);
        let seconds = start.elapsed().as_secs_f64();
        memory.sample();
        index += 1;
        on_event(BenchEvent::Step {
            rung,
            batch,
            kind,
            index,
            of,
            seconds,
            loss,
        });
        Ok::<_, SearchError>((seconds, loss, count))
    };
    let (first, _, _) = iterate(&mut searcher, &mut derivation, StepKind::First)?;
    for _ in 0..bench.warmup {
        iterate(&mut searcher, &mut derivation, StepKind::Warmup)?;
    }
    let mut times = Vec::with_capacity(bench.steps);
    let mut final_loss = f64::NAN;
    let mut evaluations = 0;
    for _ in 0..bench.steps {
        let (seconds, loss, count) = iterate(&mut searcher, &mut derivation, StepKind::Timed)?;
        times.push(seconds);
        final_loss = loss;
        evaluations = count.evaluations;
    }
    let total: f64 = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let stats = derivation.report.genotype.stats();
    drop(searcher);
    Ok(BenchRow {
        error: None,
        first_step_seconds: Some(first),
        mean_step_seconds: Some(total / times.len() as f64),
        median_step_seconds: Some(median(&sorted)),
        min_step_seconds: sorted.first().copied(),
        images_per_second: Some((2 * batch * times.len()) as f64 / total.max(1e-12)),
        params: Some(params),
        connections_normal: Some(stats.normal.connections),
        connections_reduce: Some(stats.reduce.connections),
        // Counted per thread: the shards' worker threads are not seen from here.
        op_evaluations: (bench.shards == 1).then_some(evaluations),
        peak_memory: memory.peak(),
        final_loss: Some(final_loss),
        ..BenchRow::failed(rung, batch, bench.steps, String::new())
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_string())
}

/// Fills the `*_vs_darts` ratios of every row from the DARTS row of its batch size.
pub fn fill_ratios(rows: &mut [BenchRow]) {
    let reference: Vec<(usize, BenchRow)> = rows
        .iter()
        .filter(|r| r.rung == Rung::Darts && r.error.is_none())
        .map(|r| (r.batch_size, r.clone()))
        .collect();
    let ratio = |darts: Option<f64>, this: Option<f64>| match (darts, this) {
        (Some(d), Some(t)) if t > 0.0 && d.is_finite() && t.is_finite() => Some(d / t),
        _ => None,
    };
    for row in rows.iter_mut() {
        let Some((_, darts)) = reference.iter().find(|(b, _)| *b == row.batch_size) else {
            continue;
        };
        row.speedup_vs_darts = ratio(darts.median_step_seconds, row.median_step_seconds);
        row.memory_saving_vs_darts = ratio(
            darts.peak_memory.map(|m| m.bytes as f64),
            row.peak_memory.map(|m| m.bytes as f64),
        );
        row.op_saving_vs_darts = ratio(
            darts.op_evaluations.map(|n| n as f64),
            row.op_evaluations.map(|n| n as f64),
        );
    }
}

/// Runs the ladder: every rung of `bench.rungs` at every batch size, in that order,
/// on the first of `devices` (the shards of `bench.shards > 1` on all of them), with
/// `memory` measuring each run's peak. `on_event` sees every step and every row as it
/// is measured (ratios are filled only in the returned rows).
///
/// A rung that fails (an error, or a panic such as a device running out of memory)
/// becomes a row with [`BenchRow::error`] set; the ladder goes on.
pub fn run_ladder<B: AutodiffBackend>(
    bench: &BenchConfig,
    devices: &[B::Device],
    memory: &mut dyn MemoryProbe,
    on_event: &mut dyn FnMut(BenchEvent<'_>),
) -> Result<Vec<BenchRow>, SearchError> {
    bench.validate()?;
    let mut rows = Vec::with_capacity(bench.batch_sizes.len() * bench.rungs.len());
    for &batch in &bench.batch_sizes {
        for &rung in &bench.rungs {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run_rung::<B>(rung, bench, batch, devices, &mut *memory, &mut *on_event)
            }));
            let row = match outcome {
                Ok(Ok(row)) => row,
                Ok(Err(e)) => BenchRow::failed(rung, batch, bench.steps, e.to_string()),
                Err(payload) => BenchRow::failed(
                    rung,
                    batch,
                    bench.steps,
                    format!("panicked: {}", panic_message(payload.as_ref())),
                ),
            };
            tracing::info!(rung = rung.key(), batch, error = ?row.error, "bench rung done");
            on_event(BenchEvent::Row(&row));
            rows.push(row);
        }
    }
    fill_ratios(&mut rows);
    Ok(rows)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The rows as a plain-text table, one line per row, with the ratios to the DARTS
/// row of the same batch size (computed here, so rows without them work too), and a
/// note on how memory was measured.
pub fn table(rows: &[BenchRow]) -> String {
    let mut rows = rows.to_vec();
    fill_ratios(&mut rows);
    let header = [
        "rung",
        "batch",
        "first s",
        "median s/step",
        "mean s/step",
        "min s/step",
        "img/s",
        "params",
        "conn n+r",
        "op evals",
        "peak memory",
        "speed vs darts",
        "memory vs darts",
    ];
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    let times = |v: f64| format!("{v:.4}");
    let times_x = |v: f64| format!("{v:.2}x");
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut line = vec![r.label.clone(), r.batch_size.to_string()];
        if let Some(error) = &r.error {
            line.push(format!("failed: {error}"));
            lines.push(line);
            continue;
        }
        line.extend([
            opt(r.first_step_seconds, &times),
            opt(r.median_step_seconds, &times),
            opt(r.mean_step_seconds, &times),
            opt(r.min_step_seconds, &times),
            opt(r.images_per_second, &|v| format!("{v:.1}")),
            r.params.map_or("-".into(), |p| p.to_string()),
            match (r.connections_normal, r.connections_reduce) {
                (Some(n), Some(c)) => format!("{n}+{c}"),
                _ => "-".into(),
            },
            r.op_evaluations.map_or("-".into(), |n| n.to_string()),
            r.peak_memory.map_or("-".into(), |m| mib(m.bytes)),
            opt(r.speedup_vs_darts, &times_x),
            opt(r.memory_saving_vs_darts, &|v| format!("{v:.2}x less")),
        ]);
        lines.push(line);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for line in &lines {
        // A failure message spans the remaining columns; do not widen them for it.
        let cells = if line.len() < header.len() {
            2
        } else {
            line.len()
        };
        for (w, cell) in widths.iter_mut().zip(line.iter().take(cells)) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let write_line = |out: &mut String, cells: &[String]| {
        let mut parts = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                parts.push(cell.clone());
            } else if i == 0 {
                parts.push(format!("{cell:<w$}", w = widths[i]));
            } else {
                parts.push(format!("{cell:>w$}", w = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    write_line(&mut out, &header.map(String::from));
    for line in &lines {
        write_line(&mut out, line);
    }
    let mut measures: Vec<MemoryMeasure> = Vec::new();
    for m in rows.iter().filter_map(|r| r.peak_memory.map(|m| m.measure)) {
        if !measures.contains(&m) {
            measures.push(m);
        }
    }
    match measures.as_slice() {
        [] => out.push_str("peak memory: not measured on this backend\n"),
        all => {
            let described: Vec<&str> = all.iter().map(|m| m.describe()).collect();
            let _ = writeln!(out, "peak memory: {}", described.join("; "));
        }
    }
    out.push_str(
        "a step is one architecture step plus one weight step (2 x batch images); \
         ratios are DARTS / rung at the same batch size\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(mib: u64) -> Option<MemoryReading> {
        Some(MemoryReading {
            bytes: mib << 20,
            measure: MemoryMeasure::RssDelta,
        })
    }

    fn row(rung: Rung, batch: usize, seconds: f64, mem: u64) -> BenchRow {
        BenchRow {
            error: None,
            median_step_seconds: Some(seconds),
            mean_step_seconds: Some(seconds),
            min_step_seconds: Some(seconds),
            first_step_seconds: Some(seconds),
            images_per_second: Some(2.0 * batch as f64 / seconds),
            op_evaluations: Some(100),
            peak_memory: reading(mem),
            ..BenchRow::failed(rung, batch, 1, String::new())
        }
    }

    #[test]
    fn ratios_compare_each_row_with_darts_at_its_batch() {
        let mut rows = vec![
            row(Rung::Darts, 8, 2.0, 800),
            row(Rung::Bottleneck, 8, 0.5, 100),
            row(Rung::Darts, 16, 4.0, 1600),
            row(Rung::Sharing, 16, 1.0, 400),
            BenchRow::failed(Rung::DstDense, 16, 1, "out of memory".into()),
            row(Rung::Sharing, 32, 1.0, 400),
        ];
        fill_ratios(&mut rows);
        assert_eq!(rows[0].speedup_vs_darts, Some(1.0));
        assert_eq!(rows[1].speedup_vs_darts, Some(4.0));
        assert_eq!(rows[1].memory_saving_vs_darts, Some(8.0));
        assert_eq!(rows[3].speedup_vs_darts, Some(4.0));
        assert_eq!(rows[3].memory_saving_vs_darts, Some(4.0));
        assert_eq!(rows[4].speedup_vs_darts, None);
        assert_eq!(rows[5].speedup_vs_darts, None, "no DARTS row at batch 32");

        let text = table(&rows);
        assert!(text.contains("failed: out of memory"), "{text}");
        assert!(text.contains("4.00x"), "{text}");
        assert!(text.contains("8.00x less"), "{text}");
        assert!(text.contains("800.0 MiB"), "{text}");
        assert_eq!(text.lines().count(), 1 + rows.len() + 2, "{text}");
    }

    #[test]
    fn rungs_parse_and_configure_the_ladder() {
        for rung in Rung::ALL {
            assert_eq!(rung.key().parse::<Rung>().unwrap(), rung);
        }
        let err = "dense".parse::<Rung>().unwrap_err().to_string();
        assert!(err.contains("dst-dense"), "{err}");

        let bench = BenchConfig::default();
        let darts = Rung::Darts.config(&bench, 64);
        assert_eq!(darts.method, Method::Darts);
        assert_eq!((darts.sharing, darts.bottleneck), (false, None));
        assert_eq!(darts.schedule().at_epoch(0), 1.0);
        let net = darts.supernet(3, 10);
        assert!(net.engines().iter().all(|e| *e));
        let et = Rung::EngineTransit.config(&bench, 64).supernet(3, 10);
        assert_eq!(et.engines().iter().filter(|e| **e).count(), 2);
        assert!(!et.sharing && et.bottleneck.is_none());
        assert!(Rung::Sharing.config(&bench, 64).sharing);
        assert_eq!(Rung::Bottleneck.config(&bench, 64).bottleneck, Some(4));
        let sparse = Rung::DstSparse.config(&bench, 64);
        assert_eq!((sparse.method, sparse.beta_init), (Method::Dst, 4.0));
        assert_eq!(sparse.batch_size, 64);

        assert!(
            BenchConfig {
                batch_sizes: vec![],
                ..bench.clone()
            }
            .validate()
            .is_err()
        );
        assert!(BenchConfig { steps: 0, ..bench }.validate().is_err());
    }

    #[test]
    fn sampled_probe_keeps_the_largest_value_since_reset() {
        let mut values = [10u64, 30, 20].into_iter();
        let mut probe = SampledProbe::new(move || values.next());
        probe.reset();
        probe.sample();
        probe.sample();
        probe.sample();
        probe.sample();
        assert_eq!(probe.peak().map(|m| m.bytes), Some(30));
        probe.reset();
        assert_eq!(probe.peak(), None);
        assert_eq!(NoMemoryProbe.peak(), None);
    }

    /// The ladder builds networks, which reseeds and draws from burn's process-wide
    /// CPU generator; other tests of this crate (the resume test) need that generator
    /// to themselves, and the peak RSS covers the whole process. So the ladder runs
    /// alone in a child process.
    #[test]
    fn tiny_ladder_runs_every_rung() {
        if !crate::isolated::isolated("bench::tests::tiny_ladder_runs_every_rung") {
            return;
        }
        type B = burn::backend::Autodiff<burn::backend::Flex>;
        let bench = BenchConfig {
            batch_sizes: vec![4],
            steps: 1,
            warmup: 0,
            channels: 4,
            layers: 3,
            image: [1, 8, 8],
            ..BenchConfig::default()
        };
        let (mut seen, mut steps) = (0, Vec::new());
        let rows = run_ladder::<B>(
            &bench,
            &[Default::default()],
            &mut ProcessPeakRss::new(),
            &mut |event| match event {
                BenchEvent::Row(_) => seen += 1,
                BenchEvent::Step {
                    kind, index, of, ..
                } => steps.push((kind, index, of)),
            },
        )
        .unwrap();
        assert_eq!((rows.len(), seen), (6, 6));
        // One first step and one timed step per rung, numbered within the rung.
        let per_rung = [(StepKind::First, 1, 2), (StepKind::Timed, 2, 2)];
        assert_eq!(steps, per_rung.repeat(6));
        for (row, rung) in rows.iter().zip(Rung::ALL) {
            assert_eq!(row.rung, rung);
            assert!(row.error.is_none(), "{rung}: {:?}", row.error);
            for t in [
                row.first_step_seconds,
                row.mean_step_seconds,
                row.median_step_seconds,
                row.min_step_seconds,
                row.images_per_second,
            ] {
                let t = t.unwrap();
                assert!(t.is_finite() && t > 0.0, "{rung}: {t}");
            }
            assert!(row.params.unwrap() > 0);
            assert!(row.op_evaluations.unwrap() > 0);
            let memory = row.peak_memory.expect("Linux reports VmHWM");
            assert_eq!(memory.measure, MemoryMeasure::RssDelta, "{rung}");
            assert!(row.final_loss.unwrap().is_finite());
        }
        let by = |r: Rung| rows.iter().find(|row| row.rung == r).unwrap();
        assert_eq!(by(Rung::Darts).speedup_vs_darts, Some(1.0));
        // The measured counts per step (two forward passes over 3 cells: normal,
        // reduce, reduce) against hand counts. DARTS computes every candidate of every
        // edge in every cell.
        let k = 7; // standard space without `none`
        assert_eq!(by(Rung::Darts).op_evaluations, Some(2 * 3 * 14 * k));
        // Engine cells 0 and 1 compute all 14 x 7 candidates; the Transit cell only
        // its 8 top-2 connections (on 8 distinct edges, so 8 evaluations unshared).
        assert_eq!(
            by(Rung::EngineTransit).op_evaluations,
            Some(2 * (2 * 14 * k + 8))
        );
        // Sharing: an Engine cell computes each of its 5 source nodes' 7 ops once; the
        // Transit cell at most its 8 connections.
        // The bottleneck changes widths, not the evaluations.
        for rung in [Rung::Sharing, Rung::Bottleneck] {
            let n = by(rung).op_evaluations.unwrap();
            assert!(
                (2 * (2 * 5 * k + 1)..=2 * (2 * 5 * k + 8)).contains(&n),
                "{rung}: {n}"
            );
        }
        // Dense DST: every connection active, so every cell computes 5 x 7 shared ops.
        assert_eq!(by(Rung::DstDense).op_evaluations, Some(2 * 3 * 5 * k));
        // Dense DST keeps every connection: 14 edges x 7 ops per cell.
        assert_eq!(by(Rung::DstDense).connections(), Some(2 * 14 * k));
        let sparse = by(Rung::DstSparse).connections().unwrap();
        assert!(
            (2 * 4..=2 * 4 * 3).contains(&sparse),
            "about 1-2 inputs per node, got {sparse}"
        );
        assert!(by(Rung::DstSparse).op_evaluations < by(Rung::DstDense).op_evaluations);

        let text = table(&rows);
        for rung in Rung::ALL {
            assert!(text.contains(rung.label()), "{rung} missing:\n{text}");
        }
        let json = serde_json::to_string(&rows).unwrap();
        let back: Vec<BenchRow> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            // serde_json's default float parser may be one unit in the last place off.
            let (x, y) = (
                a.median_step_seconds.unwrap(),
                b.median_step_seconds.unwrap(),
            );
            assert!((x - y).abs() <= 1e-12 * x, "{x} vs {y}");
            assert_eq!(
                (a.rung, a.connections(), a.peak_memory),
                (b.rung, b.connections(), b.peak_memory)
            );
        }
        println!("{text}");

        // Sharded over two (CPU) devices: every rung runs, the batch of 4 split 2 + 2.
        let sharded = BenchConfig {
            shards: 2,
            rungs: vec![Rung::Darts, Rung::DstDense],
            ..bench.clone()
        };
        let rows = run_ladder::<B>(
            &sharded,
            &[Default::default(), Default::default()],
            &mut NoMemoryProbe,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.error, None, "{:?}", row.rung);
            assert!(row.final_loss.is_some_and(f64::is_finite), "{:?}", row.rung);
            assert_eq!(row.op_evaluations, None, "{:?}", row.rung);
        }
        // More devices than shards is an error of every rung, reported as such.
        let rows = run_ladder::<B>(
            &BenchConfig {
                shards: 1,
                ..sharded
            },
            &[Default::default(), Default::default()],
            &mut NoMemoryProbe,
            &mut |_| {},
        )
        .unwrap();
        assert!(rows.iter().all(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.contains("2 devices but 1 shard"))
        }));

        // A ladder whose super-net cannot be built reports failed rows.
        let broken = BenchConfig {
            layers: 2,
            rungs: vec![Rung::Darts, Rung::Bottleneck],
            ..bench
        };
        let rows = run_ladder::<B>(
            &broken,
            &[Default::default()],
            &mut NoMemoryProbe,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.error.as_deref().is_some_and(|e| e.contains("3 cells")))
        );
        assert!(table(&rows).contains("failed"));
    }
}
