//! The relaxation math of SPEC section 3 on burn tensors, one function per equation.
//!
//! Every function is generic over the backend, so on an autodiff backend the gradients
//! of the architecture loss reach `alpha` (shape `[edges, K]`, edges in DARTS order) and
//! `beta` (shape `[intermediates]`). The same math on host numbers lives in
//! [`crate::host`]; the two are cross-checked in the tests.
//!
//! # Threshold bounds (the float32 guarantee)
//!
//! In float32 `sigmoid(beta)` rounds to exactly `1.0` once `beta` exceeds about 17.
//! Then `p_hat - t` is `0` even for a node's strongest connection (whose `p_hat` is exactly
//! `1`, see [`connection_normalization`]) and the node would be cut off. [`thresholds`]
//! therefore clamps `t` to `[THRESHOLD_MIN, THRESHOLD_MAX]` with
//! `THRESHOLD_MAX = 1 - 2^-23`, a number exactly representable in float32 and float64:
//! `1 - t >= 2^-23 > 0`, so every node keeps at least one connection for any `beta`, in
//! either precision. The lower bound `THRESHOLD_MIN = 2^-20` keeps every positive
//! `q` at least one float32 ulp of `2^-20` (about `5.7e-14`), so that the squared row
//! sums in the backward pass of [`operation_normalization`] never underflow to zero and
//! gradients stay finite. Outside the bounds the clamp passes no gradient to `beta`;
//! [`sparsity_regularizer`] is evaluated on the unclamped sigmoid and keeps pushing
//! `beta` up. For half-precision backends the bounds widen to what the type can
//! represent ([`threshold_bounds`]).

use burn::tensor::activation::{log_sigmoid, relu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use entrannas_cell::CellTopology;

/// Smallest threshold `t(j)` used by [`thresholds`]: `2^-20`.
pub const THRESHOLD_MIN: f64 = 1.0 / 1_048_576.0;

/// Largest threshold `t(j)` used by [`thresholds`]: `1 - 2^-23`, the float32 guarantee
/// that `p_hat - t > 0` for a node's strongest connection.
pub const THRESHOLD_MAX: f64 = 1.0 - 1.0 / 8_388_608.0;

/// The `[min, max]` bounds of `t(j)` for tensors of `dtype`: [`THRESHOLD_MIN`] and
/// [`THRESHOLD_MAX`] for float32 and float64; for float16 (and flex32, which may
/// compute in half precision) `[2^-10, 1 - 2^-10]`, for bfloat16 `[2^-20, 1 - 2^-7]`,
/// so that `1 - t` stays representable and positive.
pub fn threshold_bounds(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F16 | DType::Flex32 => (1.0 / 1024.0, 1.0 - 1.0 / 1024.0),
        DType::BF16 => (THRESHOLD_MIN, 1.0 - 1.0 / 128.0),
        _ => (THRESHOLD_MIN, THRESHOLD_MAX),
    }
}

/// Eq. 5: `p_k = exp(alpha_k / tau) / sum_k' exp(alpha_k' / tau)` on every row (edge) of
/// `alpha` (`[edges, K]`). EnTranNAS Engine cells (and DARTS, with `tau = 1`) use `p`
/// directly as coefficients.
///
/// # Panics
/// If `tau` is not positive and finite.
pub fn softmax_with_temperature<B: Backend>(alpha: Tensor<B, 2>, tau: f64) -> Tensor<B, 2> {
    assert!(
        tau.is_finite() && tau > 0.0,
        "tau must be positive and finite, got {tau}"
    );
    softmax(alpha.div_scalar(tau), 1)
}

/// Eq. 7: connection normalization. For every intermediate node `j`, each `p` of an edge
/// into `j` is divided by the maximum of `p` over all edges into `j` and all ops, so the
/// strongest connection into every node has `p_hat` exactly `1`.
///
/// # Panics
/// If `p` does not have one row per edge of `topology`.
pub fn connection_normalization<B: Backend>(
    p: Tensor<B, 2>,
    topology: &CellTopology,
) -> Tensor<B, 2> {
    check_rows(&p, topology, "p");
    let nodes = topology
        .intermediate_nodes()
        .map(|node| {
            let incoming = p.clone().slice(topology.incoming(node));
            let node_max = incoming.clone().max().reshape([1, 1]);
            incoming.div(node_max)
        })
        .collect();
    Tensor::cat(nodes, 0)
}

/// The threshold of every intermediate node: `t(j) = sigmoid(beta_j)`, clamped to
/// [`threshold_bounds`] (`[2^-20, 1 - 2^-23]` in float32 and float64) so that every node
/// keeps a connection and gradients stay finite; see the module documentation.
///
/// The sigmoid is computed as `exp(log_sigmoid(beta))` in the backend's own precision.
pub fn thresholds<B: Backend>(beta: Tensor<B, 1>) -> Tensor<B, 1> {
    let (low, high) = threshold_bounds(beta.dtype());
    log_sigmoid(beta).exp().clamp(low, high)
}

/// Eq. 8: pruning, `q_k^(i,j) = ReLU(p_hat_k^(i,j) - t(j))`, with `t` holding one
/// threshold per intermediate node (see [`thresholds`]).
///
/// # Panics
/// If `p_hat` does not have one row per edge or `t` one value per intermediate node.
pub fn prune<B: Backend>(
    p_hat: Tensor<B, 2>,
    t: Tensor<B, 1>,
    topology: &CellTopology,
) -> Tensor<B, 2> {
    check_rows(&p_hat, topology, "p_hat");
    assert_eq!(
        t.dims()[0],
        topology.intermediates,
        "t has {} values, expected one per intermediate node ({})",
        t.dims()[0],
        topology.intermediates
    );
    let nodes = topology
        .intermediate_nodes()
        .enumerate()
        .map(|(position, node)| {
            let incoming = p_hat.clone().slice(topology.incoming(node));
            let threshold = t.clone().slice(position..position + 1).reshape([1, 1]);
            relu(incoming.sub(threshold))
        })
        .collect();
    Tensor::cat(nodes, 0)
}

/// Eq. 9: operation normalization. A row (edge) with some `q_k > 0` is divided by its
/// sum; a row of zeros stays zeros. Zero rows are divided by `1` instead of their sum, so
/// there is no division by zero and no NaN in the forward or the backward pass.
pub fn operation_normalization<B: Backend>(q: Tensor<B, 2>) -> Tensor<B, 2> {
    let row_sum = q.clone().sum_dim(1);
    let empty_row = row_sum.clone().equal_elem(0.0);
    q.div(row_sum.mask_fill(empty_row, 1.0))
}

/// The DST coefficients used by EnTranNAS-DST Engine cells: Eqs. 5, 7, 8 and 9 composed,
/// `operation_normalization(prune(connection_normalization(softmax_with_temperature(alpha,
/// tau)), thresholds(beta)))`. Every row sums to `1` or is all zero, and every
/// intermediate node keeps at least one non-zero coefficient.
///
/// # Panics
/// If the shapes do not match `topology` or `tau` is not positive and finite.
pub fn dst_coefficients<B: Backend>(
    alpha: Tensor<B, 2>,
    beta: Tensor<B, 1>,
    tau: f64,
    topology: &CellTopology,
) -> Tensor<B, 2> {
    let p = softmax_with_temperature(alpha, tau);
    let p_hat = connection_normalization(p, topology);
    let q = prune(p_hat, thresholds(beta), topology);
    operation_normalization(q)
}

/// Eq. 11's regularizer: `sum over cell types of lambda / n * sum_j -log t(j)`, each
/// element of `betas` one cell type's `n` thresholds (pass both cell types' `beta`; SPEC
/// section 3, item 7). Each cell type is regularized as the paper's single cell, so
/// `lambda` means what it means in the paper. Returns a one-element tensor. Its gradient
/// with respect to `beta_j` of a cell type with `n` thresholds is
/// `-lambda / n * (1 - sigmoid(beta_j))`, so a larger `lambda` pushes `beta` (and `t`)
/// up harder and fewer connections survive. A cell type without thresholds adds 0.
///
/// `-log t(j)` is evaluated as `-log_sigmoid(beta_j)` on the unclamped `beta`: it
/// never overflows, and it keeps pushing `beta` up even where [`thresholds`] clamps.
///
/// # Panics
/// If `betas` holds no value at all (there is no device to put the result on).
pub fn sparsity_regularizer<B: Backend>(betas: &[Tensor<B, 1>], lambda: f64) -> Tensor<B, 1> {
    betas
        .iter()
        .filter(|beta| beta.dims()[0] > 0)
        .map(|beta| {
            let n = beta.dims()[0] as f64;
            log_sigmoid(beta.clone()).neg().sum().mul_scalar(lambda / n)
        })
        .reduce(|a, b| a.add(b))
        .expect("sparsity_regularizer needs at least one threshold")
}

fn check_rows<B: Backend>(matrix: &Tensor<B, 2>, topology: &CellTopology, name: &str) {
    assert_eq!(
        matrix.dims()[0],
        topology.num_edges(),
        "{name} has {} rows, expected one per edge ({}) of {topology:?}",
        matrix.dims()[0],
        topology.num_edges()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::test_util::{A32, B64, F32, assert_close, matrix, rows, values, vector};
    use approx::assert_relative_eq;
    use burn::tensor::backend::AutodiffBackend;

    /// A 1-node, 2-input, K = 3 cell done by hand at tau = 2:
    /// `alpha / tau` = `[0, ln 2, ln 5]` and `[0, 0, ln 2]`.
    fn hand_alpha() -> Vec<Vec<f64>> {
        let (ln2, ln5) = (2f64.ln(), 5f64.ln());
        vec![vec![0.0, 2.0 * ln2, 2.0 * ln5], vec![0.0, 0.0, 2.0 * ln2]]
    }

    fn one_node() -> CellTopology {
        CellTopology::new(2, 1)
    }

    /// The logit whose sigmoid is `t`.
    fn logit(t: f64) -> f64 {
        (t / (1.0 - t)).ln()
    }

    #[test]
    fn hand_computed_softmax_and_connection_normalization() {
        let p = softmax_with_temperature(matrix::<B64>(&hand_alpha()), 2.0);
        let expected_p = vec![vec![0.125, 0.25, 0.625], vec![0.25, 0.25, 0.5]];
        assert_close(&rows(p.clone()), &expected_p, 1e-12);
        let p_hat = connection_normalization(p, &one_node());
        let expected_p_hat = vec![vec![0.2, 0.4, 1.0], vec![0.4, 0.4, 0.8]];
        assert_close(&rows(p_hat), &expected_p_hat, 1e-12);
    }

    #[test]
    fn hand_computed_dst_coefficients_at_t_0_3() {
        let q = dst_coefficients(
            matrix::<B64>(&hand_alpha()),
            vector(&[logit(0.3)]),
            2.0,
            &one_node(),
        );
        // q before Eq. 9: [0, 0.1, 0.7] and [0.1, 0.1, 0.5].
        let expected = vec![
            vec![0.0, 0.125, 0.875],
            vec![1.0 / 7.0, 1.0 / 7.0, 5.0 / 7.0],
        ];
        assert_close(&rows(q), &expected, 1e-9);
    }

    #[test]
    fn hand_computed_dst_coefficients_with_a_pruned_edge() {
        let alpha = matrix::<B64>(&hand_alpha());
        let p_hat = connection_normalization(softmax_with_temperature(alpha, 2.0), &one_node());
        let t = thresholds(vector::<B64>(&[logit(0.85)]));
        assert_relative_eq!(values(t.clone())[0], 0.85, max_relative = 1e-12);
        let q = prune(p_hat, t, &one_node());
        assert_close(
            &rows(q.clone()),
            &[vec![0.0, 0.0, 0.15], vec![0.0; 3]],
            1e-9,
        );
        let q = operation_normalization(q);
        assert_eq!(rows(q), vec![vec![0.0, 0.0, 1.0], vec![0.0; 3]]);
    }

    #[test]
    fn prune_uses_each_nodes_own_threshold() {
        // 1 input, 2 nodes: edge 0 into node 1, edges 1 and 2 into node 2.
        let topology = CellTopology::new(1, 2);
        let p_hat = matrix::<B64>(&[vec![1.0, 0.5], vec![0.9, 0.2], vec![1.0, 0.4]]);
        let t = vector::<B64>(&[0.25, 0.5]);
        let q = rows(prune(p_hat, t, &topology));
        assert_close(
            &q,
            &[vec![0.75, 0.25], vec![0.4, 0.0], vec![0.5, 0.0]],
            1e-12,
        );
    }

    #[test]
    fn operation_normalization_keeps_zero_rows_and_normalizes_the_rest() {
        let q = matrix::<B64>(&[vec![0.0, 0.0, 0.0], vec![1.0, 3.0, 0.0]]);
        let q = rows(operation_normalization(q));
        assert_eq!(q, vec![vec![0.0, 0.0, 0.0], vec![0.25, 0.75, 0.0]]);
    }

    #[test]
    fn operation_normalization_backward_is_finite_on_zero_rows() {
        let q = matrix::<B64>(&[vec![0.0, 0.0], vec![0.5, 0.25]]).require_grad();
        let weights = matrix::<B64>(&[vec![1.0, -2.0], vec![3.0, 1.0]]);
        let loss = operation_normalization(q.clone()).mul(weights).sum();
        let grads = loss.backward();
        let grad = rows(q.grad(&grads).expect("q has a gradient"));
        assert!(grad.iter().flatten().all(|g| g.is_finite()), "{grad:?}");
        // Zero row: d(q / 1)/dq = weights.
        assert_close(&grad[..1], &[vec![1.0, -2.0]], 1e-12);
        // Row [0.5, 0.25], sum 0.75: d(sum_k w_k q_k / s)/dq_j = (w_j - sum_k w_k q_k / s) / s.
        let mean = (3.0 * 0.5 + 0.25) / 0.75;
        assert_close(
            &grad[1..],
            &[vec![(3.0 - mean) / 0.75, (1.0 - mean) / 0.75]],
            1e-12,
        );
    }

    #[test]
    fn thresholds_are_bounded_sigmoids() {
        let t = values(thresholds(vector::<B64>(&[-1e4, -3.0, 0.0, 2.0, 1e4])));
        assert_eq!(t[0], THRESHOLD_MIN);
        assert_relative_eq!(t[1], host::sigmoid(-3.0), max_relative = 1e-12);
        assert_relative_eq!(t[2], 0.5, max_relative = 1e-12);
        assert_relative_eq!(t[3], host::sigmoid(2.0), max_relative = 1e-12);
        assert_eq!(t[4], THRESHOLD_MAX);
        assert!(t.iter().all(|&t| t > 0.0 && t < 1.0));
    }

    #[test]
    fn float32_sigmoid_rounds_to_one_without_the_bound() {
        // The reason for THRESHOLD_MAX: the unbounded sigmoid is exactly 1 in float32.
        let raw = values(log_sigmoid(vector::<F32>(&[20.0])).exp());
        assert_eq!(raw[0], 1.0);
        let bounded = values(thresholds(vector::<F32>(&[20.0])));
        assert!(bounded[0] < 1.0);
        assert_eq!(bounded[0] as f32, (1.0 - f64::powi(2.0, -23)) as f32);
    }

    /// With huge beta in float32, every node still keeps its strongest connection.
    fn huge_beta_keeps_one_connection_per_node<B: AutodiffBackend>() {
        let topology = CellTopology::new(2, 3);
        let alpha_rows: Vec<Vec<f64>> = (0..topology.num_edges())
            .map(|e| (0..4).map(|k| ((e * 7 + k * 3) % 5) as f64 * 0.3).collect())
            .collect();
        for beta_value in [20.0, 50.0, 1e4] {
            let alpha = matrix::<B>(&alpha_rows).require_grad();
            let beta = vector::<B>(&[beta_value; 3]).require_grad();
            let t = values(thresholds(beta.clone()));
            assert!(t.iter().all(|&t| t < 1.0), "beta {beta_value}: t = {t:?}");
            let q = dst_coefficients(alpha.clone(), beta.clone(), 1.0, &topology);
            let q_rows = rows(q.clone());
            for node in topology.intermediate_nodes() {
                let kept = q_rows[topology.incoming(node)]
                    .iter()
                    .flatten()
                    .filter(|&&v| v > 0.0)
                    .count();
                assert!(kept >= 1, "beta {beta_value}: node {node} lost all inputs");
            }
            let loss = q.sum() + sparsity_regularizer(std::slice::from_ref(&beta), 0.5);
            let grads = loss.backward();
            let alpha_grad = rows(alpha.grad(&grads).expect("alpha gradient"));
            let beta_grad = values(beta.grad(&grads).expect("beta gradient"));
            assert!(alpha_grad.iter().flatten().all(|g| g.is_finite()));
            assert!(beta_grad.iter().all(|g| g.is_finite()));
        }
    }

    #[test]
    fn float32_huge_beta_keeps_one_connection_per_node() {
        huge_beta_keeps_one_connection_per_node::<A32>();
    }

    #[test]
    fn float64_huge_beta_keeps_one_connection_per_node() {
        huge_beta_keeps_one_connection_per_node::<B64>();
    }

    #[test]
    fn hand_computed_regularizer_and_its_gradient() {
        let normal = vector::<B64>(&[0.0]).require_grad();
        let reduce = vector::<B64>(&[3f64.ln()]).require_grad();
        let r = sparsity_regularizer(&[normal.clone(), reduce.clone()], 0.2);
        // One threshold per cell type: 0.2 / 1 * -ln 0.5 + 0.2 / 1 * -ln 0.75.
        assert_relative_eq!(
            values(r.clone())[0],
            0.2 * (2f64.ln() - 0.75f64.ln()),
            max_relative = 1e-12
        );
        let grads = r.backward();
        let g_normal = values(normal.grad(&grads).unwrap())[0];
        let g_reduce = values(reduce.grad(&grads).unwrap())[0];
        assert_relative_eq!(g_normal, -0.2 * 0.5, max_relative = 1e-9);
        assert_relative_eq!(g_reduce, -0.2 * 0.25, max_relative = 1e-9);
        // Each cell type is averaged over its own nodes: four normal thresholds at 0
        // weigh as much as one reduction threshold at 0.
        let four = vector::<B64>(&[0.0; 4]);
        let one = vector::<B64>(&[0.0]);
        assert_relative_eq!(
            values(sparsity_regularizer(&[four, one], 0.2))[0],
            2.0 * 0.2 * 2f64.ln(),
            max_relative = 1e-12
        );
    }

    #[test]
    fn regularizer_matches_host_and_stays_finite_for_huge_beta() {
        let betas = [vec![-1e4, 0.5], vec![1e4, -2.0, 3.0]];
        let tensors: Vec<Tensor<B64, 1>> = betas.iter().map(|b| vector(b)).collect();
        let value = values(sparsity_regularizer(&tensors, 0.1))[0];
        let slices: Vec<&[f64]> = betas.iter().map(Vec::as_slice).collect();
        assert!(value.is_finite());
        assert_relative_eq!(
            value,
            host::sparsity_regularizer(&slices, 0.1),
            max_relative = 1e-12
        );
    }

    #[test]
    fn dst_gradient_matches_finite_differences() {
        let topology = CellTopology::new(2, 2);
        let alpha_rows = vec![
            vec![0.3, -0.2, 0.8, 0.1],
            vec![-0.5, 0.4, 0.0, 0.6],
            vec![0.2, 0.9, -0.3, 0.1],
            vec![0.7, -0.1, 0.5, -0.6],
            vec![0.05, 0.35, -0.45, 0.25],
        ];
        let beta_values = vec![-0.4, 0.2];
        let weights: Vec<Vec<f64>> = (0..5)
            .map(|e| (0..4).map(|k| ((e * 4 + k) as f64 * 0.37).sin()).collect())
            .collect();
        let tau = 0.7;
        let host_loss = |alpha: &[Vec<f64>], beta: &[f64]| -> f64 {
            let q = host::dst_coefficients(alpha, beta, tau, &topology);
            q.iter()
                .flatten()
                .zip(weights.iter().flatten())
                .map(|(q, w)| q * w)
                .sum::<f64>()
                + host::sparsity_regularizer(&[beta], 0.3)
        };

        let alpha = matrix::<B64>(&alpha_rows).require_grad();
        let beta = vector::<B64>(&beta_values).require_grad();
        let q = dst_coefficients(alpha.clone(), beta.clone(), tau, &topology);
        let loss =
            q.mul(matrix(&weights)).sum() + sparsity_regularizer(std::slice::from_ref(&beta), 0.3);
        assert_relative_eq!(
            values(loss.clone())[0],
            host_loss(&alpha_rows, &beta_values),
            max_relative = 1e-9
        );
        let grads = loss.backward();
        let alpha_grad = rows(alpha.grad(&grads).unwrap());
        let beta_grad = values(beta.grad(&grads).unwrap());

        let h = 1e-6;
        for e in 0..5 {
            for k in 0..4 {
                let mut plus = alpha_rows.clone();
                plus[e][k] += h;
                let mut minus = alpha_rows.clone();
                minus[e][k] -= h;
                let numeric =
                    (host_loss(&plus, &beta_values) - host_loss(&minus, &beta_values)) / (2.0 * h);
                assert!(
                    (alpha_grad[e][k] - numeric).abs() < 1e-6,
                    "d/dalpha[{e}][{k}]: autodiff {} vs numeric {numeric}",
                    alpha_grad[e][k]
                );
            }
        }
        for j in 0..2 {
            let mut plus = beta_values.clone();
            plus[j] += h;
            let mut minus = beta_values.clone();
            minus[j] -= h;
            let numeric =
                (host_loss(&alpha_rows, &plus) - host_loss(&alpha_rows, &minus)) / (2.0 * h);
            assert!(
                (beta_grad[j] - numeric).abs() < 1e-6,
                "d/dbeta[{j}]: autodiff {} vs numeric {numeric}",
                beta_grad[j]
            );
            assert!(beta_grad[j] != 0.0);
        }
    }

    #[test]
    #[should_panic(expected = "tau must be positive")]
    fn zero_temperature_is_rejected() {
        let _ = softmax_with_temperature(matrix::<B64>(&hand_alpha()), 0.0);
    }
}
