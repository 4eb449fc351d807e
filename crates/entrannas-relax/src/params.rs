//! The architecture parameters as a burn module of their own, separate from the network
//! weights (they have their own optimizer in the bi-level search).

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use entrannas_cell::CellTopology;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::arch_file::{ArchFile, CellArch};
use crate::error::RelaxError;
use crate::relax::{dst_coefficients, softmax_with_temperature, sparsity_regularizer};

/// Which of the two cell types a set of parameters belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellType {
    /// The normal cell (keeps the resolution).
    Normal,
    /// The reduction cell (halves the resolution).
    Reduce,
}

/// How the architecture parameters become edge coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relaxation {
    /// `p`, the softmax with temperature (Eq. 5): EnTranNAS, and DARTS with `tau = 1`.
    Softmax,
    /// `q`, the DST coefficients (Eqs. 5, 7, 8, 9): EnTranNAS-DST; needs `beta`.
    Dst,
}

/// Settings to create [`ArchParams`].
///
/// `alpha` starts at `alpha_std * N(0, 1)` (DARTS: `1e-3 * N(0, 1)`), drawn on the host
/// from a `StdRng` seeded with `seed` (normal cell first, then reduction cell), so a seed
/// makes the initialisation repeatable on every backend.
///
/// `beta` (DST only) starts at `beta_init = 0`, i.e. every threshold is `t = 0.5`. With
/// `alpha` that close to zero every `p` of a node is within a fraction of a percent of
/// the node's largest one, so every `p_hat` is close to `1 > 0.5` and every connection
/// is active (`q > 0` everywhere) at the start, as the paper asks; a connection is
/// pruned only once its `p_hat` falls below half the node's strongest one, or the
/// regularizer raises `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchParamsConfig {
    /// The cell's DAG.
    pub topology: CellTopology,
    /// `K`, the number of candidate operations per edge.
    pub num_ops: usize,
    /// Whether to create `beta` (EnTranNAS-DST).
    pub dst: bool,
    /// The standard deviation of the initial `alpha` (`1e-3`).
    pub alpha_std: f64,
    /// The initial value of every `beta` (`0`, so `t = 0.5`).
    pub beta_init: f64,
    /// The seed of the host random generator.
    pub seed: u64,
}

impl ArchParamsConfig {
    /// DARTS-style defaults for a topology and `num_ops` ops: no `beta`,
    /// `alpha_std = 1e-3`, `beta_init = 0`, `seed = 0`.
    pub fn new(topology: CellTopology, num_ops: usize) -> Self {
        Self {
            topology,
            num_ops,
            dst: false,
            alpha_std: 1e-3,
            beta_init: 0.0,
            seed: 0,
        }
    }

    /// Sets whether `beta` is created.
    pub fn with_dst(mut self, dst: bool) -> Self {
        self.dst = dst;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the standard deviation of the initial `alpha`.
    pub fn with_alpha_std(mut self, alpha_std: f64) -> Self {
        self.alpha_std = alpha_std;
        self
    }

    /// Sets the initial `beta`.
    pub fn with_beta_init(mut self, beta_init: f64) -> Self {
        self.beta_init = beta_init;
        self
    }

    /// The initial `alpha` of both cell types on the host, `(normal, reduce)`, each
    /// `[edges, num_ops]`.
    pub fn initial_alphas(&self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut matrix = || -> Vec<Vec<f64>> {
            (0..self.topology.num_edges())
                .map(|_| {
                    (0..self.num_ops)
                        .map(|_| self.alpha_std * standard_normal(&mut rng))
                        .collect()
                })
                .collect()
        };
        let normal = matrix();
        let reduce = matrix();
        (normal, reduce)
    }

    /// Creates the parameters on `device`, in the device's default float dtype (as every
    /// burn module does).
    pub fn init<B: Backend>(&self, device: &B::Device) -> ArchParams<B> {
        let (normal, reduce) = self.initial_alphas();
        let alpha = |m: Vec<Vec<f64>>| {
            let shape = [self.topology.num_edges(), self.num_ops];
            let data = TensorData::new(m.into_iter().flatten().collect::<Vec<f64>>(), shape);
            Param::from_tensor(Tensor::<B, 2>::from_data(data, device))
        };
        let beta = || {
            self.dst.then(|| {
                let data = TensorData::new(
                    vec![self.beta_init; self.topology.intermediates],
                    [self.topology.intermediates],
                );
                Param::from_tensor(Tensor::<B, 1>::from_data(data, device))
            })
        };
        ArchParams {
            alpha_normal: alpha(normal),
            alpha_reduce: alpha(reduce),
            beta_normal: beta(),
            beta_reduce: beta(),
            topology: self.topology,
        }
    }
}

/// One draw from `N(0, 1)` by the Box-Muller transform.
fn standard_normal(rng: &mut StdRng) -> f64 {
    // `random` is in [0, 1); `1 - u` is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The architecture parameters of the search: one `alpha` (`[edges, K]`) per cell type
/// and, for EnTranNAS-DST, one `beta` (`[intermediates]`) per cell type. Created by
/// [`ArchParamsConfig::init`].
#[derive(Module, Debug)]
pub struct ArchParams<B: Backend> {
    /// Operation logits of the normal cells, `[edges, K]`.
    pub alpha_normal: Param<Tensor<B, 2>>,
    /// Operation logits of the reduction cells, `[edges, K]`.
    pub alpha_reduce: Param<Tensor<B, 2>>,
    /// Threshold logits of the normal cells, `[intermediates]` (DST only).
    pub beta_normal: Option<Param<Tensor<B, 1>>>,
    /// Threshold logits of the reduction cells, `[intermediates]` (DST only).
    pub beta_reduce: Option<Param<Tensor<B, 1>>>,
    /// The cell's DAG (not a parameter).
    #[module(skip)]
    pub topology: CellTopology,
}

/// [`ArchParams`] read back to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostArchParams {
    /// The cell's DAG.
    pub topology: CellTopology,
    /// `alpha` of the normal cells, one row per edge.
    pub alpha_normal: Vec<Vec<f32>>,
    /// `alpha` of the reduction cells, one row per edge.
    pub alpha_reduce: Vec<Vec<f32>>,
    /// `beta` of the normal cells (DST only).
    pub beta_normal: Option<Vec<f32>>,
    /// `beta` of the reduction cells (DST only).
    pub beta_reduce: Option<Vec<f32>>,
}

impl<B: Backend> ArchParams<B> {
    /// The operation logits of one cell type.
    pub fn alpha(&self, cell: CellType) -> Tensor<B, 2> {
        match cell {
            CellType::Normal => self.alpha_normal.val(),
            CellType::Reduce => self.alpha_reduce.val(),
        }
    }

    /// The threshold logits of one cell type, if this is a DST search.
    pub fn beta(&self, cell: CellType) -> Option<Tensor<B, 1>> {
        match cell {
            CellType::Normal => self.beta_normal.as_ref().map(Param::val),
            CellType::Reduce => self.beta_reduce.as_ref().map(Param::val),
        }
    }

    /// The edge coefficients of one cell type at temperature `tau`: `p` for
    /// [`Relaxation::Softmax`], `q` for [`Relaxation::Dst`].
    ///
    /// # Errors
    /// [`RelaxError::MissingBeta`] for [`Relaxation::Dst`] without `beta`;
    /// [`RelaxError::InvalidTemperature`] when `tau` is not positive and finite.
    pub fn coefficients(
        &self,
        cell: CellType,
        relaxation: Relaxation,
        tau: f64,
    ) -> Result<Tensor<B, 2>, RelaxError> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(RelaxError::InvalidTemperature(tau));
        }
        match relaxation {
            Relaxation::Softmax => Ok(softmax_with_temperature(self.alpha(cell), tau)),
            Relaxation::Dst => {
                let beta = self.beta(cell).ok_or_else(|| RelaxError::MissingBeta {
                    field: beta_field(cell).to_string(),
                })?;
                Ok(dst_coefficients(
                    self.alpha(cell),
                    beta,
                    tau,
                    &self.topology,
                ))
            }
        }
    }

    /// Eq. 11's regularizer over the thresholds of both cell types, or `None` when this
    /// is not a DST search.
    pub fn sparsity_regularizer(&self, lambda: f64) -> Option<Tensor<B, 1>> {
        let betas: Vec<Tensor<B, 1>> = [CellType::Normal, CellType::Reduce]
            .into_iter()
            .filter_map(|cell| self.beta(cell))
            .collect();
        (!betas.is_empty()).then(|| sparsity_regularizer(&betas, lambda))
    }

    /// Reads `alpha` and `beta` back to the host.
    pub fn to_host(&self) -> HostArchParams {
        let rows = |t: Tensor<B, 2>| -> Vec<Vec<f32>> {
            let [_, k] = t.dims();
            let values: Vec<f32> = t.into_data().iter::<f32>().collect();
            if k == 0 {
                return Vec::new();
            }
            values.chunks(k).map(<[f32]>::to_vec).collect()
        };
        let vector = |t: Tensor<B, 1>| -> Vec<f32> { t.into_data().iter::<f32>().collect() };
        HostArchParams {
            topology: self.topology,
            alpha_normal: rows(self.alpha(CellType::Normal)),
            alpha_reduce: rows(self.alpha(CellType::Reduce)),
            beta_normal: self.beta(CellType::Normal).map(vector),
            beta_reduce: self.beta(CellType::Reduce).map(vector),
        }
    }
}

fn beta_field(cell: CellType) -> &'static str {
    match cell {
        CellType::Normal => "beta_normal",
        CellType::Reduce => "beta_reduce",
    }
}

impl HostArchParams {
    /// The arch file of these parameters for an op list and temperature, as the search
    /// writes it every epoch. Each float32 value is written as the shortest decimal that
    /// reads back to it (`0.001`, not `0.0010000000474974513`).
    pub fn to_arch_file<S: AsRef<str>>(&self, ops: &[S], tau: f64) -> ArchFile {
        let widen_vec = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| shortest_f64(x)).collect() };
        let widen = |m: &[Vec<f32>]| -> Vec<Vec<f64>> { m.iter().map(|r| widen_vec(r)).collect() };
        ArchFile {
            ops: ops.iter().map(|op| op.as_ref().to_string()).collect(),
            inputs: self.topology.inputs,
            nodes: self.topology.intermediates,
            tau,
            normal: CellArch {
                alpha: widen(&self.alpha_normal),
                beta: self.beta_normal.as_deref().map(widen_vec),
            },
            reduce: CellArch {
                alpha: widen(&self.alpha_reduce),
                beta: self.beta_reduce.as_deref().map(widen_vec),
            },
        }
    }
}

/// The float64 whose shortest decimal is the float32's shortest decimal.
fn shortest_f64(x: f32) -> f64 {
    if x.is_finite() {
        x.to_string().parse().unwrap_or(f64::from(x))
    } else {
        f64::from(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::test_util::{B64, F32, in_precision, matrix, rows, values};
    use burn::module::AutodiffModule;

    #[test]
    fn a_seed_makes_alpha_repeatable() {
        let config = ArchParamsConfig::new(CellTopology::DARTS, 8).with_seed(7);
        let a = config.init::<F32>(&Default::default()).to_host();
        let b = config.init::<F32>(&Default::default()).to_host();
        assert_eq!(a, b);
        let c = config
            .clone()
            .with_seed(8)
            .init::<F32>(&Default::default())
            .to_host();
        assert_ne!(a.alpha_normal, c.alpha_normal);
        assert_ne!(a.alpha_normal, a.alpha_reduce);
        assert_eq!(a.alpha_normal.len(), 14);
        assert!(a.alpha_normal.iter().all(|row| row.len() == 8));
        assert!(a.beta_normal.is_none() && a.beta_reduce.is_none());
    }

    #[test]
    fn alpha_is_small_and_roughly_standard_normal() {
        let (normal, reduce) = ArchParamsConfig::new(CellTopology::new(2, 6), 13)
            .with_seed(3)
            .initial_alphas();
        let all: Vec<f64> = normal.iter().chain(&reduce).flatten().copied().collect();
        let n = all.len() as f64;
        let mean = all.iter().sum::<f64>() / n;
        let std = (all.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 3e-4, "mean {mean}");
        assert!((std - 1e-3).abs() < 2e-4, "std {std}");
        assert!(all.iter().all(|a| a.abs() < 6e-3));
    }

    #[test]
    fn initial_dst_parameters_keep_every_connection_active() {
        for (inputs, nodes, k) in [(2, 4, 7), (2, 4, 12), (1, 6, 13), (3, 2, 2)] {
            let topology = CellTopology::new(inputs, nodes);
            for seed in 0..5 {
                let params = ArchParamsConfig::new(topology, k)
                    .with_dst(true)
                    .with_seed(seed)
                    .init::<B64>(&Default::default());
                let t = values(crate::relax::thresholds(
                    params.beta(CellType::Normal).unwrap(),
                ));
                assert!(t.iter().all(|&t| t == 0.5));
                for tau in [1.0, 5.0] {
                    for cell in [CellType::Normal, CellType::Reduce] {
                        let q = rows(params.coefficients(cell, Relaxation::Dst, tau).unwrap());
                        assert!(
                            q.iter().flatten().all(|&q| q > 0.0),
                            "a connection starts pruned: {q:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn coefficients_follow_the_mode() {
        let params = ArchParamsConfig::new(CellTopology::DARTS, 5)
            .with_dst(true)
            .with_alpha_std(1.0)
            .with_beta_init(0.3)
            .with_seed(1)
            .init::<B64>(&Default::default());
        let host_params = params.to_host();
        let alpha: Vec<Vec<f64>> = host_params
            .alpha_reduce
            .iter()
            .map(|r| r.iter().map(|&a| f64::from(a)).collect())
            .collect();
        let p = rows(
            params
                .coefficients(CellType::Reduce, Relaxation::Softmax, 2.0)
                .unwrap(),
        );
        crate::test_util::assert_close(&p, &host::softmax_with_temperature(&alpha, 2.0), 1e-6);
        let q = rows(
            params
                .coefficients(CellType::Reduce, Relaxation::Dst, 2.0)
                .unwrap(),
        );
        let beta = [0.3; 4];
        crate::test_util::assert_close(
            &q,
            &host::dst_coefficients(&alpha, &beta, 2.0, &CellTopology::DARTS),
            1e-6,
        );
        assert!(matches!(
            params.coefficients(CellType::Normal, Relaxation::Softmax, 0.0),
            Err(RelaxError::InvalidTemperature(_))
        ));
    }

    #[test]
    fn dst_needs_beta_and_the_regularizer_needs_dst() {
        let params = ArchParamsConfig::new(CellTopology::DARTS, 8).init::<B64>(&Default::default());
        assert!(matches!(
            params.coefficients(CellType::Normal, Relaxation::Dst, 1.0),
            Err(RelaxError::MissingBeta { .. })
        ));
        assert!(params.sparsity_regularizer(0.1).is_none());
    }

    #[test]
    fn gradients_reach_alpha_and_beta_of_both_cells() {
        let params = ArchParamsConfig::new(CellTopology::DARTS, 8)
            .with_dst(true)
            .with_seed(2)
            .init::<B64>(&Default::default());
        in_precision(params.alpha_normal.val());
        let weights = |seed: usize| {
            let values: Vec<f64> = (0..14 * 8).map(|i| ((i + seed) as f64).sin()).collect();
            matrix::<B64>(&values.chunks(8).map(<[f64]>::to_vec).collect::<Vec<_>>())
        };
        let loss = params
            .coefficients(CellType::Normal, Relaxation::Dst, 5.0)
            .unwrap()
            .mul(weights(0))
            .sum()
            + params
                .coefficients(CellType::Reduce, Relaxation::Dst, 5.0)
                .unwrap()
                .mul(weights(1))
                .sum()
            + params.sparsity_regularizer(0.1).unwrap();
        let grads = loss.backward();
        let alpha_grad = rows(params.alpha_normal.val().grad(&grads).unwrap());
        assert!(alpha_grad.iter().flatten().any(|&g| g != 0.0));
        assert!(alpha_grad.iter().flatten().all(|g| g.is_finite()));
        for cell in [CellType::Normal, CellType::Reduce] {
            let g = values(params.beta(cell).unwrap().grad(&grads).unwrap());
            assert!(g.iter().all(|g| g.is_finite() && *g != 0.0), "{g:?}");
        }
        // The module is separate from network weights and can leave autodiff.
        let inner = params.valid();
        assert_eq!(inner.alpha_normal.val().dims(), [14, 8]);
        assert_eq!(params.num_params(), 2 * 14 * 8 + 2 * 4);
    }

    #[test]
    fn host_parameters_become_an_arch_file() {
        let params = ArchParamsConfig::new(CellTopology::new(2, 3), 3)
            .with_dst(true)
            .with_seed(4)
            .init::<F32>(&Default::default());
        let arch = params
            .to_host()
            .to_arch_file(&["none", "skip_connect", "sep_conv_3x3"], 2.5);
        assert_eq!((arch.inputs, arch.nodes, arch.tau), (2, 3, 2.5));
        assert_eq!(arch.normal.alpha.len(), 9);
        assert_eq!(arch.reduce.beta, Some(vec![0.0; 3]));
        arch.validate().unwrap();
        let text = arch.to_json_string();
        let first = params.to_host().alpha_normal[0][0];
        assert!(text.contains(&first.to_string()), "{text}");
    }
}
