//! Measurements of a search that change no weight: the super-net's and the child-net's
//! accuracies with the running statistics or after BN recalibration, the child-net's
//! drift from the super-net cell by cell, and the architecture gradient.

use burn::data::dataset::Dataset;
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use entrannas_cell::CellPlan;
use entrannas_data::{ImageBatch, ImageDataset, Prefetch};
use entrannas_ops::PreciseStatistics;
use entrannas_relax::CellType;
use entrannas_relax::host::Matrix;

use crate::SearchError;
use crate::searcher::{Derivation, Searcher, architecture_loss};
use crate::supernet::{Architecture, CellArchitecture, CellDrift, SuperNet};

impl<B: AutodiffBackend> Searcher<B> {
    /// Accuracy of the super-net and of the child-net (derived paths only) on
    /// `dataset`, with batch-norm running statistics (no gradients).
    pub fn evaluate(
        &self,
        dataset: &ImageDataset,
        derivation: &Derivation,
        tau: f64,
    ) -> Result<(f64, f64), SearchError> {
        let net = self.net.valid();
        let arch = inner_architecture(&self.architecture(derivation, tau, true)?);
        let [supernet, child] = self.accuracies(dataset, |images| {
            [
                net.forward(images.clone(), &arch),
                net.forward_child(images, &derivation.normal, &derivation.reduce),
            ]
        })?;
        Ok((supernet, child))
    }

    /// Accuracy of the super-net on `dataset` (running statistics, no gradients) with
    /// its Engine cells weighted by `normal` and `reduce` instead of the learned
    /// coefficients: host matrices `[edges, K]`, one row per edge in the order of the
    /// architecture parameters, one column per [op](Searcher::ops). Transit cells run
    /// `derivation`; Engine cells compute every `(edge, op)` pair (DST's too), a pair
    /// weighted 0 adding nothing. With the derived pairs at 1 and every other pair at 0
    /// this computes the child-net; with the learned coefficients, the super-net.
    ///
    /// # Errors
    /// A matrix of the wrong shape (named), or a data error.
    pub fn evaluate_engine_coefficients(
        &self,
        dataset: &ImageDataset,
        derivation: &Derivation,
        normal: &Matrix,
        reduce: &Matrix,
    ) -> Result<f64, SearchError> {
        let [edges, ops] = self.arch.alpha(CellType::Normal).dims();
        let device = &self.device;
        let tensor = |name: &str, matrix: &Matrix, plan: &CellPlan| {
            if matrix.len() != edges || matrix.iter().any(|row| row.len() != ops) {
                return Err(SearchError::Config(format!(
                    "{name} Engine coefficients must be {edges} rows of {ops} values, \
                     one per edge and op"
                )));
            }
            let values: Vec<f64> = matrix.iter().flatten().copied().collect();
            Ok(CellArchitecture {
                coefficients: Tensor::<B::InnerBackend, 2>::from_data(
                    TensorData::new(values, [edges, ops]),
                    device,
                ),
                plan: plan.clone(),
                active: None,
            })
        };
        let arch = Architecture {
            normal: tensor("normal", normal, &derivation.normal)?,
            reduce: tensor("reduction", reduce, &derivation.reduce)?,
        };
        let net = self.net.valid();
        let [accuracy] = self.accuracies(dataset, |images| [net.forward(images, &arch)])?;
        Ok(accuracy)
    }

    /// The gradient of the architecture loss on `val` with respect to `alpha`, normal
    /// and reduction cells (`[edges, K]` each, row-major, on the host), as the
    /// architecture step computes it before Adam (weight decay not added); nothing is
    /// updated except the batch norms' running statistics, as in a step.
    ///
    /// # Errors
    /// As [`Searcher::step`].
    pub fn architecture_gradient(
        &self,
        val: &ImageBatch<B>,
        derivation: &Derivation,
        tau: f64,
    ) -> Result<(Vec<f64>, Vec<f64>), SearchError> {
        let net = self.net.clone().no_grad();
        let (method, lambda) = (self.config.method, self.config.lambda);
        let (loss, _) = architecture_loss(&net, &self.arch, method, lambda, derivation, tau, val)?;
        let grads = loss.backward();
        let host = |param: &burn::module::Param<Tensor<B, 2>>| -> Vec<f64> {
            param
                .val()
                .grad(&grads)
                .map(|g| g.to_data().iter::<f64>().collect())
                .unwrap_or_default()
        };
        Ok((host(&self.arch.alpha_normal), host(&self.arch.alpha_reduce)))
    }

    /// The child-net's drift from the super-net cell by cell
    /// ([`crate::supernet::SuperNet::cell_drift`]) on the first `batches` batches of
    /// `dataset`, with the running statistics, every figure averaged over the batches.
    ///
    /// # Errors
    /// A data error, or an empty dataset.
    pub fn cell_drift(
        &self,
        dataset: &ImageDataset,
        derivation: &Derivation,
        tau: f64,
        batches: usize,
    ) -> Result<Vec<CellDrift>, SearchError> {
        let net = self.net.valid();
        let arch = inner_architecture(&self.architecture(derivation, tau, true)?);
        let len = (batches * self.config.batch_size).min(dataset.len());
        let loader = Prefetch::start(dataset, (0..len).collect(), self.config.batch_size, 0);
        let mut sum: Option<Vec<CellDrift>> = None;
        let mut count = 0usize;
        while let Some(batch) = loader.next_batch::<B::InnerBackend>(&self.device)? {
            let drift = net.cell_drift(batch.images, &arch, &derivation.normal, &derivation.reduce);
            count += 1;
            sum = Some(match sum {
                None => drift,
                Some(mut total) => {
                    for (t, d) in total.iter_mut().zip(&drift) {
                        t.supernet = (t.supernet.0 + d.supernet.0, t.supernet.1 + d.supernet.1);
                        t.child = (t.child.0 + d.child.0, t.child.1 + d.child.1);
                        t.relative_difference += d.relative_difference;
                        t.local_difference += d.local_difference;
                    }
                    total
                }
            });
        }
        let mut drift =
            sum.ok_or_else(|| SearchError::Config("no image to measure the drift on".into()))?;
        let n = count as f64;
        for d in &mut drift {
            d.supernet = (d.supernet.0 / n, d.supernet.1 / n);
            d.child = (d.child.0 / n, d.child.1 / n);
            d.relative_difference /= n;
            d.local_difference /= n;
        }
        Ok(drift)
    }

    /// Accuracies of the super-net and of the child-net on `dataset`, each after
    /// re-estimating its batch-norm running statistics (BN recalibration): the first
    /// `batches` batches of `calibration` (with epoch `epoch`'s augmentation) go
    /// through the network in training mode, without gradients and without changing a
    /// weight, each batch norm's statistics become the uniform average of those
    /// batches' statistics ([`PreciseStatistics`]), then the network is evaluated as in
    /// [`Searcher::evaluate`]. The super-net's running statistics are restored
    /// afterwards, so the search continues exactly as if this had not been measured.
    ///
    /// Running statistics describe the paths the training batches took: a child-net
    /// whose Engine cells' weighted mixtures become plain sums of the derived paths,
    /// and a super-net whose Transit cells followed a derivation that changed during
    /// the last batches, both see activations their statistics do not describe.
    /// Recalibrating both compares the two architectures alone.
    pub fn evaluate_recalibrated(
        &mut self,
        calibration: &ImageDataset,
        dataset: &ImageDataset,
        derivation: &Derivation,
        tau: f64,
        batches: usize,
        epoch: usize,
    ) -> Result<(f64, f64), SearchError> {
        // `into_record` folds every pending running-statistics update in first.
        let saved = self.net.clone().into_record();
        let measure = || -> Result<(f64, f64), SearchError> {
            let arch = self.architecture(derivation, tau, true)?;
            let inference = inner_architecture(&arch);
            self.recalibrate(calibration, batches, epoch, |net, images| {
                net.forward(images, &arch)
            })?;
            let net = self.net.valid();
            let [supernet] =
                self.accuracies(dataset, |images| [net.forward(images, &inference)])?;
            // The Transit cells' batch norms serve both networks: re-estimated again.
            self.recalibrate(calibration, batches, epoch, |net, images| {
                net.forward_child(images, &derivation.normal, &derivation.reduce)
            })?;
            let net = self.net.valid();
            let [child] = self.accuracies(dataset, |images| {
                [net.forward_child(images, &derivation.normal, &derivation.reduce)]
            })?;
            Ok((supernet, child))
        };
        let accuracies = measure();
        self.net = self.net.clone().load_record(saved);
        accuracies
    }

    /// Sets the running statistics of every batch norm that `forward` reaches to
    /// their average over the first `batches` batches of `calibration`.
    fn recalibrate(
        &self,
        calibration: &ImageDataset,
        batches: usize,
        epoch: usize,
        forward: impl Fn(&SuperNet<B>, Tensor<B, 4>) -> Tensor<B, 2>,
    ) -> Result<(), SearchError> {
        // Without gradients nothing is recorded for a backward pass, but the backend
        // still tracks autodiff, so batch norm normalizes by batch statistics and
        // updates the running ones, which every clone shares.
        let mut calibrating = self.net.clone().no_grad();
        let mut precise = PreciseStatistics::new(&calibrating);
        let len = (batches * self.config.batch_size).min(calibration.len());
        let loader = Prefetch::start(
            calibration,
            (0..len).collect(),
            self.config.batch_size,
            epoch,
        );
        while let Some(batch) = loader.next_batch::<B>(&self.device)? {
            calibrating = PreciseStatistics::reset(calibrating);
            let _ = forward(&calibrating, batch.images);
            precise.add(&calibrating);
        }
        // The clones share their running statistics: this sets the super-net's.
        let _ = precise.apply(calibrating);
        Ok(())
    }

    /// The fraction of the first `eval_limit` images of `dataset` that each of the
    /// `N` forward passes classifies correctly (one read-back at the end).
    fn accuracies<const N: usize>(
        &self,
        dataset: &ImageDataset,
        forwards: impl Fn(Tensor<B::InnerBackend, 4>) -> [Tensor<B::InnerBackend, 2>; N],
    ) -> Result<[f64; N], SearchError> {
        let len = self
            .config
            .eval_limit
            .map_or(dataset.len(), |l| l.min(dataset.len()));
        let batches = Prefetch::start(dataset, (0..len).collect(), self.config.batch_size, 0);
        let mut correct: [Tensor<B::InnerBackend, 1>; N] =
            core::array::from_fn(|_| Tensor::zeros([1], &self.device));
        let mut total = 0usize;
        while let Some(batch) = batches.next_batch::<B::InnerBackend>(&self.device)? {
            total += batch.targets.dims()[0];
            for (sum, logits) in correct.iter_mut().zip(forwards(batch.images)) {
                *sum = sum.clone() + count_correct(logits, batch.targets.clone());
            }
        }
        let total = total.max(1) as f64;
        Ok(scalars(correct).map(|c| c / total))
    }
}

/// `arch` on the backend without autodiff, for evaluation.
pub(crate) fn inner_architecture<B: AutodiffBackend>(
    arch: &Architecture<B>,
) -> Architecture<B::InnerBackend> {
    let inner = |a: &CellArchitecture<B>| CellArchitecture {
        coefficients: a.coefficients.clone().inner(),
        plan: a.plan.clone(),
        active: a.active.clone(),
    };
    Architecture {
        normal: inner(&arch.normal),
        reduce: inner(&arch.reduce),
    }
}

/// The values of `N` one-element tensors, read back to the host together.
pub(crate) fn scalars<Bk: Backend, const N: usize>(parts: [Tensor<Bk, 1>; N]) -> [f64; N] {
    let data = Tensor::cat(parts.to_vec(), 0).into_data();
    let mut values = data.iter::<f64>();
    core::array::from_fn(|_| values.next().unwrap_or(f64::NAN))
}

/// How many rows of `logits` have their largest value at the target class.
pub(crate) fn count_correct<Bk: Backend>(
    logits: Tensor<Bk, 2>,
    targets: Tensor<Bk, 1, Int>,
) -> Tensor<Bk, 1> {
    let [n, _] = logits.dims();
    logits.argmax(1).reshape([n]).equal(targets).float().sum()
}
