//! The relaxation math of SPEC section 3 on host numbers (float64), for derivation,
//! reports and the `derive` command. Each function mirrors its tensor twin at the crate
//! root (for example [`crate::softmax_with_temperature`]), including the threshold
//! bounds, and is cross-checked against it.
//!
//! A matrix is a slice of rows, one row per edge in DARTS order and one column per op.
//! These functions expect well-shaped input (see [`crate::validate_matrix`]) and
//! panic on rows missing for the topology.

use entrannas_cell::CellTopology;
use serde::{Deserialize, Serialize};

use crate::relax::{THRESHOLD_MAX, THRESHOLD_MIN};

/// A host matrix: one row per edge, one column per op.
pub type Matrix = Vec<Vec<f64>>;

/// Eq. 5 on the host: the softmax of every row of `alpha / tau`, computed with the
/// row maximum subtracted so it never overflows.
pub fn softmax_with_temperature(alpha: &[Vec<f64>], tau: f64) -> Matrix {
    alpha.iter().map(|row| softmax_row(row, tau)).collect()
}

fn softmax_row(row: &[f64], tau: f64) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &a| m.max(a / tau));
    let exp: Vec<f64> = row.iter().map(|&a| (a / tau - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Eq. 7 on the host: every `p` of an edge into node `j` divided by the maximum `p` over
/// all edges into `j` and all ops.
pub fn connection_normalization(p: &[Vec<f64>], topology: &CellTopology) -> Matrix {
    let mut p_hat = p.to_vec();
    for node in topology.intermediate_nodes() {
        let rows = topology.incoming(node);
        let node_max = p[rows.clone()]
            .iter()
            .flatten()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        for row in &mut p_hat[rows] {
            for value in row.iter_mut() {
                *value /= node_max;
            }
        }
    }
    p_hat
}

/// The logistic function `1 / (1 + exp(-x))`, evaluated without overflow.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The thresholds on the host: `t(j) = sigmoid(beta_j)` clamped to
/// `[THRESHOLD_MIN, THRESHOLD_MAX]`, exactly as [`crate::relax::thresholds`] does for
/// float32 and float64 tensors.
pub fn thresholds(beta: &[f64]) -> Vec<f64> {
    beta.iter()
        .map(|&b| sigmoid(b).clamp(THRESHOLD_MIN, THRESHOLD_MAX))
        .collect()
}

/// Eq. 8 on the host: `q = max(p_hat - t(j), 0)` for every edge into node `j`; `t` has
/// one value per intermediate node.
pub fn prune(p_hat: &[Vec<f64>], t: &[f64], topology: &CellTopology) -> Matrix {
    let mut q = p_hat.to_vec();
    for (position, node) in topology.intermediate_nodes().enumerate() {
        for row in &mut q[topology.incoming(node)] {
            for value in row.iter_mut() {
                *value = (*value - t[position]).max(0.0);
            }
        }
    }
    q
}

/// Eq. 9 on the host: a row with some positive value divided by its sum; an all-zero row
/// stays all zero.
pub fn operation_normalization(q: &[Vec<f64>]) -> Matrix {
    q.iter()
        .map(|row| {
            let sum: f64 = row.iter().sum();
            let denominator = if sum == 0.0 { 1.0 } else { sum };
            row.iter().map(|v| v / denominator).collect()
        })
        .collect()
}

/// Every intermediate result of the DST relaxation of one cell type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DstStages {
    /// Eq. 5: softmax with temperature, `[edges, K]`.
    pub p: Matrix,
    /// Eq. 7: after connection normalization, `[edges, K]`.
    pub p_hat: Matrix,
    /// The thresholds, one per intermediate node.
    pub t: Vec<f64>,
    /// Eqs. 8 and 9: pruned and operation-normalized coefficients, `[edges, K]`.
    pub q: Matrix,
}

/// Eqs. 5, 7, 8 and 9 on the host, keeping every stage.
pub fn dst_stages(
    alpha: &[Vec<f64>],
    beta: &[f64],
    tau: f64,
    topology: &CellTopology,
) -> DstStages {
    let p = softmax_with_temperature(alpha, tau);
    let p_hat = connection_normalization(&p, topology);
    let t = thresholds(beta);
    let q = operation_normalization(&prune(&p_hat, &t, topology));
    DstStages { p, p_hat, t, q }
}

/// The DST coefficients on the host: the `q` of [`dst_stages`].
pub fn dst_coefficients(
    alpha: &[Vec<f64>],
    beta: &[f64],
    tau: f64,
    topology: &CellTopology,
) -> Matrix {
    dst_stages(alpha, beta, tau, topology).q
}

/// Eq. 11's regularizer on the host: `sum over cell types of lambda / n * sum_j -log
/// sigmoid(beta_j)`, each element of `betas` one cell type's `n` values (unclamped, as
/// in [`crate::relax::sparsity_regularizer`]); an empty cell type adds `0`.
pub fn sparsity_regularizer(betas: &[&[f64]], lambda: f64) -> f64 {
    betas
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| lambda / b.len() as f64 * b.iter().map(|&v| softplus(-v)).sum::<f64>())
        .sum()
}

/// `log(1 + exp(x))` without overflow: `-log sigmoid(b) = softplus(-b)`.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_close;
    use approx::assert_relative_eq;

    #[test]
    fn hand_computed_stages_of_a_one_node_cell() {
        let topology = CellTopology::new(2, 1);
        let (ln2, ln5) = (2f64.ln(), 5f64.ln());
        let alpha = vec![vec![0.0, 2.0 * ln2, 2.0 * ln5], vec![0.0, 0.0, 2.0 * ln2]];
        let beta = [(0.3f64 / 0.7).ln()];
        let stages = dst_stages(&alpha, &beta, 2.0, &topology);
        assert_close(
            &stages.p,
            &[vec![0.125, 0.25, 0.625], vec![0.25, 0.25, 0.5]],
            1e-12,
        );
        assert_close(
            &stages.p_hat,
            &[vec![0.2, 0.4, 1.0], vec![0.4, 0.4, 0.8]],
            1e-12,
        );
        assert_relative_eq!(stages.t[0], 0.3, max_relative = 1e-12);
        assert_close(
            &stages.q,
            &[
                vec![0.0, 0.125, 0.875],
                vec![1.0 / 7.0, 1.0 / 7.0, 5.0 / 7.0],
            ],
            1e-12,
        );
    }

    #[test]
    fn softmax_does_not_overflow_on_huge_logits() {
        let p = softmax_with_temperature(&[vec![1e4, 0.0, -1e4]], 0.01);
        assert_eq!(p, vec![vec![1.0, 0.0, 0.0]]);
    }

    #[test]
    fn sigmoid_is_stable_at_both_ends() {
        assert_eq!(sigmoid(-1e4), 0.0);
        assert_eq!(sigmoid(1e4), 1.0);
        assert_relative_eq!(sigmoid(-40.0), (-40f64).exp() / (1.0 + (-40f64).exp()));
        assert_eq!(thresholds(&[-1e4, 1e4]), vec![THRESHOLD_MIN, THRESHOLD_MAX]);
    }

    #[test]
    fn regularizer_is_lambda_times_each_cell_types_mean_negative_log_sigmoid() {
        let value = sparsity_regularizer(&[&[0.0, 0.0], &[3f64.ln()]], 0.3);
        let expected = 0.3 / 2.0 * (2.0 * 2f64.ln()) + 0.3 / 1.0 * -0.75f64.ln();
        assert_relative_eq!(value, expected, max_relative = 1e-12);
        assert_relative_eq!(sparsity_regularizer(&[&[-1e4]], 1.0), 1e4);
        assert_eq!(sparsity_regularizer(&[], 1.0), 0.0);
        assert_eq!(sparsity_regularizer(&[&[], &[0.0]], 1.0), 2f64.ln());
    }

    #[test]
    fn operation_normalization_leaves_zero_rows() {
        let q = operation_normalization(&[vec![0.0, 0.0], vec![0.2, 0.6]]);
        assert_close(&q, &[vec![0.0, 0.0], vec![0.25, 0.75]], 1e-15);
    }
}
