//! Property tests over random topologies (1 to 3 inputs, 1 to 6 intermediate nodes),
//! op counts (2 to 13), `alpha`, `beta` and `tau`: the spec's invariants, the tensor
//! math against the host math, and the derivation rules against brute force.

use std::collections::BTreeSet;

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use entrannas_cell::CellTopology;
use proptest::prelude::*;

use crate::derivation::{NONE_OP, derive_dst, derive_top_k};
use crate::host;
use crate::relax::{
    connection_normalization, dst_coefficients, operation_normalization, prune,
    softmax_with_temperature, sparsity_regularizer, thresholds,
};
use crate::test_util::{A32, B64, assert_close, matrix, rows, values, vector};

/// One random cell type: topology, op names, parameters and temperature.
#[derive(Debug, Clone)]
struct Case {
    topology: CellTopology,
    ops: Vec<String>,
    alpha: Vec<Vec<f64>>,
    beta: Vec<f64>,
    tau: f64,
}

/// Logits: continuous, or small integers so that ties happen.
fn logit() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -4.0f64..4.0,
        1 => (-2i32..=2).prop_map(f64::from),
    ]
}

/// Threshold logits: mostly moderate, sometimes huge (float32 saturates above ~17).
fn beta_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -4.0f64..4.0,
        1 => -1e4f64..1e4,
        1 => prop::sample::select(vec![17.0, 20.0, 50.0, 1e4, -20.0, -1e4]),
    ]
}

/// Op names `op0, op1, ...`, where one may be `none` and one `skip_connect`.
fn op_names(k: usize) -> impl Strategy<Value = Vec<String>> {
    (
        prop::option::of(0..k),
        prop::option::of(0..k),
        any::<bool>(),
    )
        .prop_map(move |(none_at, skip_at, none_first)| {
            let mut names: Vec<String> = (0..k).map(|i| format!("op{i}")).collect();
            if let Some(i) = skip_at {
                names[i] = "skip_connect".to_string();
            }
            if let Some(i) = none_at {
                // Never make the list all `none` (an error tested elsewhere); with K >= 2
                // at most one name is replaced.
                names[if none_first { 0 } else { i }] = NONE_OP.to_string();
            }
            names
        })
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3, 1usize..=6, 2usize..=13).prop_flat_map(|(inputs, nodes, k)| {
        let topology = CellTopology::new(inputs, nodes);
        (
            op_names(k),
            prop::collection::vec(prop::collection::vec(logit(), k), topology.num_edges()),
            prop::collection::vec(beta_value(), nodes),
            0.05f64..10.0,
        )
            .prop_map(move |(ops, alpha, beta, tau)| Case {
                topology,
                ops,
                alpha,
                beta,
                tau,
            })
    })
}

fn node_has_connection(q: &[Vec<f64>], topology: &CellTopology, node: usize) -> bool {
    q[topology.incoming(node)]
        .iter()
        .flatten()
        .any(|&v| v > 0.0)
}

/// The brute-force top-k reference: every subset of `min(k, node)` incoming edges, scored
/// by its strengths sorted in decreasing order (lexicographically larger wins), ties to
/// the subset whose sorted inputs are lexicographically smaller; on each edge the
/// non-`none` op of largest `p`, the lower index on ties.
fn brute_force_top_k(
    p: &[Vec<f64>],
    ops: &[String],
    topology: &CellTopology,
    k: usize,
) -> Vec<Vec<(usize, String)>> {
    topology
        .intermediate_nodes()
        .map(|node| {
            let best_op: Vec<(usize, f64)> = (0..node)
                .map(|input| {
                    let row = &p[topology.edge_index(input, node)];
                    let op = (0..ops.len())
                        .filter(|&o| ops[o] != NONE_OP)
                        .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                        .unwrap();
                    (op, row[op])
                })
                .collect();
            let size = k.min(node);
            let mut best: Option<(Vec<f64>, Vec<usize>)> = None;
            for mask in 0u32..(1 << node) {
                if mask.count_ones() as usize != size {
                    continue;
                }
                let inputs: Vec<usize> = (0..node).filter(|i| mask & (1 << i) != 0).collect();
                let mut strengths: Vec<f64> = inputs.iter().map(|&i| best_op[i].1).collect();
                strengths.sort_by(|a, b| b.total_cmp(a));
                let better = match &best {
                    None => true,
                    Some((s, i)) => match strengths
                        .iter()
                        .zip(s)
                        .map(|(a, b)| a.total_cmp(b))
                        .find(|o| o.is_ne())
                    {
                        Some(order) => order.is_gt(),
                        None => inputs < *i,
                    },
                };
                if better {
                    best = Some((strengths, inputs));
                }
            }
            best.unwrap()
                .1
                .into_iter()
                .map(|i| (i, ops[best_op[i].0].clone()))
                .collect()
        })
        .collect()
}

/// A weighted sum of the DST coefficients plus the regularizer; checks every gradient
/// is finite.
fn gradients_are_finite<B: AutodiffBackend>(case: &Case, lambda: f64) {
    let k = case.ops.len();
    let alpha = matrix::<B>(&case.alpha).require_grad();
    let beta = vector::<B>(&case.beta).require_grad();
    let weights: Vec<Vec<f64>> = (0..case.topology.num_edges())
        .map(|e| (0..k).map(|o| ((e * k + o) as f64 * 0.71).sin()).collect())
        .collect();
    let q = dst_coefficients(alpha.clone(), beta.clone(), case.tau, &case.topology);
    let loss =
        q.mul(matrix(&weights)).sum() + sparsity_regularizer(std::slice::from_ref(&beta), lambda);
    assert!(values(loss.clone())[0].is_finite());
    let grads = loss.backward();
    let alpha_grad = rows(alpha.grad(&grads).expect("alpha gradient"));
    let beta_grad = values(beta.grad(&grads).expect("beta gradient"));
    assert!(
        alpha_grad.iter().flatten().all(|g| g.is_finite()),
        "alpha gradient {alpha_grad:?}"
    );
    assert!(
        beta_grad.iter().all(|g| g.is_finite()),
        "beta gradient {beta_grad:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn tensor_stages_obey_the_spec_and_match_the_host(case in case()) {
        let topology = &case.topology;
        let alpha = matrix::<B64>(&case.alpha);
        let beta = vector::<B64>(&case.beta);

        // Eq. 5: every row is a distribution.
        let p = softmax_with_temperature(alpha.clone(), case.tau);
        let p_rows = rows(p.clone());
        for row in &p_rows {
            prop_assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            prop_assert!(row.iter().all(|&v| v >= 0.0));
        }
        let host_p = host::softmax_with_temperature(&case.alpha, case.tau);
        assert_close(&p_rows, &host_p, 1e-6);

        // Eq. 7: the largest p_hat into every node is exactly 1.
        let p_hat = connection_normalization(p, topology);
        let p_hat_rows = rows(p_hat.clone());
        let host_p_hat = host::connection_normalization(&host_p, topology);
        for node in topology.intermediate_nodes() {
            for matrix in [&p_hat_rows, &host_p_hat] {
                let max = matrix[topology.incoming(node)]
                    .iter()
                    .flatten()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                prop_assert_eq!(max, 1.0);
            }
        }
        assert_close(&p_hat_rows, &host_p_hat, 1e-6);

        // Thresholds in (0, 1).
        let t = thresholds(beta.clone());
        let t_values = values(t.clone());
        prop_assert!(t_values.iter().all(|&t| t > 0.0 && t < 1.0));
        let host_t = host::thresholds(&case.beta);
        prop_assert!(host_t.iter().all(|&t| t > 0.0 && t < 1.0));
        assert_close(&[t_values], std::slice::from_ref(&host_t), 1e-6);

        // Eq. 8: q >= 0 and every node keeps a connection.
        let q = prune(p_hat, t, topology);
        let q_rows = rows(q.clone());
        prop_assert!(q_rows.iter().flatten().all(|&v| v >= 0.0));
        for node in topology.intermediate_nodes() {
            prop_assert!(node_has_connection(&q_rows, topology, node), "node {} cut off", node);
        }
        assert_close(&q_rows, &host::prune(&host_p_hat, &host_t, topology), 1e-6);

        // Eq. 9: rows sum to 1 or are all zero.
        let normalized = rows(operation_normalization(q));
        for row in &normalized {
            let sum: f64 = row.iter().sum();
            prop_assert!(
                row.iter().all(|&v| v == 0.0) || (sum - 1.0).abs() < 1e-9,
                "row {:?} sums to {}", row, sum
            );
        }
        for node in topology.intermediate_nodes() {
            prop_assert!(node_has_connection(&normalized, topology, node));
        }
        let host_q = host::dst_coefficients(&case.alpha, &case.beta, case.tau, topology);
        assert_close(&normalized, &host_q, 1e-6);

        // The composition is the same thing.
        let composed = rows(dst_coefficients(alpha, beta, case.tau, topology));
        prop_assert_eq!(composed, normalized);
    }

    #[test]
    fn float32_never_disconnects_a_node(case in case(), huge in prop::sample::select(vec![17.0, 20.0, 50.0, 1e4, 1e30])) {
        let mut beta = case.beta.clone();
        beta[0] = huge;
        let q = rows(dst_coefficients(
            matrix::<A32>(&case.alpha),
            vector::<A32>(&beta),
            case.tau,
            &case.topology,
        ));
        for node in case.topology.intermediate_nodes() {
            prop_assert!(node_has_connection(&q, &case.topology, node), "node {} cut off", node);
        }
        let t = values(thresholds(vector::<A32>(&beta)));
        prop_assert!(t.iter().all(|&t| t > 0.0 && t < 1.0));
    }

    #[test]
    fn gradients_through_the_whole_dst_chain_are_finite(case in case(), lambda in 0.0f64..1.0) {
        gradients_are_finite::<B64>(&case, lambda);
        gradients_are_finite::<A32>(&case, lambda);
    }

    #[test]
    fn dst_rule_selects_exactly_the_positive_coefficients(case in case()) {
        let topology = &case.topology;
        let q = host::dst_coefficients(&case.alpha, &case.beta, case.tau, topology);
        let genotype = derive_dst(&q, &case.ops, topology).unwrap();
        prop_assert_eq!(genotype.nodes.len(), topology.intermediates);
        prop_assert_eq!(&genotype.concat, &topology.intermediate_nodes().collect::<Vec<_>>());
        for (node, derived) in topology.intermediate_nodes().zip(&genotype.nodes) {
            let positive: BTreeSet<(usize, String)> = (0..node)
                .flat_map(|i| {
                    let row = &q[topology.edge_index(i, node)];
                    (0..row.len())
                        .filter(|&o| row[o] > 0.0)
                        .map(|o| (i, case.ops[o].clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let useful: BTreeSet<(usize, String)> =
                positive.iter().filter(|(_, op)| op != NONE_OP).cloned().collect();
            let expected = if useful.is_empty() { positive } else { useful };
            let got: BTreeSet<(usize, String)> =
                derived.iter().map(|c| (c.input, c.op.clone())).collect();
            prop_assert!(!got.is_empty());
            prop_assert_eq!(got.len(), derived.len());
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn top_k_matches_brute_force(case in case(), k in 1usize..=4) {
        let p = host::softmax_with_temperature(&case.alpha, case.tau);
        let genotype = derive_top_k(&p, &case.ops, &case.topology, k, None).unwrap();
        let expected = brute_force_top_k(&p, &case.ops, &case.topology, k);
        let got: Vec<Vec<(usize, String)>> = genotype
            .nodes
            .iter()
            .map(|n| n.iter().map(|c| (c.input, c.op.clone())).collect())
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn max_skip_caps_skip_connect_when_alternatives_exist(case in case(), k in 1usize..=3, cap in 0usize..3) {
        let p = host::softmax_with_temperature(&case.alpha, case.tau);
        let capped = derive_top_k(&p, &case.ops, &case.topology, k, Some(cap)).unwrap();
        let uncapped = derive_top_k(&p, &case.ops, &case.topology, k, None).unwrap();
        let skips = |g: &entrannas_cell::CellGenotype| {
            g.nodes.iter().flatten().filter(|c| c.op == "skip_connect").count()
        };
        let has_alternative = case.ops.iter().any(|op| op != NONE_OP && op != "skip_connect");
        if has_alternative {
            // Every kept skip_connect can fall back to another op on its edge.
            prop_assert!(skips(&capped) <= cap.min(skips(&uncapped)));
        } else {
            // Nothing can replace skip_connect: the cap is best effort.
            prop_assert_eq!(&capped, &uncapped);
        }
        for (a, b) in capped.nodes.iter().zip(&uncapped.nodes) {
            prop_assert_eq!(a.len(), b.len());
            prop_assert!(a.iter().all(|c| c.op != NONE_OP));
        }
    }

    #[test]
    fn larger_lambda_pushes_beta_up_harder(
        normal in prop::collection::vec(-20.0f64..20.0, 1..6),
        reduce in prop::collection::vec(-20.0f64..20.0, 1..6),
        lambda in 0.01f64..1.0,
        factor in 1.1f64..10.0,
    ) {
        let gradient = |lambda: f64| -> Vec<f64> {
            let n = vector::<B64>(&normal).require_grad();
            let r = vector::<B64>(&reduce).require_grad();
            let grads = sparsity_regularizer(&[n.clone(), r.clone()], lambda).backward();
            let mut g = values(n.grad(&grads).unwrap());
            g.extend(values(r.grad(&grads).unwrap()));
            g
        };
        let small = gradient(lambda);
        let large = gradient(lambda * factor);
        for (s, l) in small.iter().zip(&large) {
            // Gradient descent moves beta against the gradient: up.
            prop_assert!(*s < 0.0 && *l < 0.0);
            prop_assert!(l < s, "lambda x{}: {} is not steeper than {}", factor, l, s);
        }
        let slices = [normal.as_slice(), reduce.as_slice()];
        let value = values(sparsity_regularizer(
            &[vector::<B64>(&normal), vector::<B64>(&reduce)],
            lambda,
        ))[0];
        prop_assert!((value - host::sparsity_regularizer(&slices, lambda)).abs() < 1e-9);
        // Each cell type averaged over its own thresholds (SPEC section 3, item 7).
        let mean = |b: &[f64]| b.iter().map(|&v| -host::sigmoid(v).ln()).sum::<f64>() / b.len() as f64;
        let direct = lambda * (mean(&normal) + mean(&reduce));
        prop_assert!((value - direct).abs() < 1e-9 * (1.0 + value));
    }
}

#[test]
fn tensor_and_host_agree_on_a_darts_cell() {
    let topology = CellTopology::DARTS;
    let alpha: Vec<Vec<f64>> = (0..14)
        .map(|e| (0..8).map(|k| ((e * 8 + k) as f64 * 1.3).sin()).collect())
        .collect();
    let beta = vec![-0.5, 0.0, 0.7, 1.5];
    for tau in [5.0, 1.0, 0.2] {
        let q: Tensor<B64, 2> = dst_coefficients(matrix(&alpha), vector(&beta), tau, &topology);
        assert_close(
            &rows(q),
            &host::dst_coefficients(&alpha, &beta, tau, &topology),
            1e-9,
        );
    }
}
