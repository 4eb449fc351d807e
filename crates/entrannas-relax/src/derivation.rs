//! Derivation rules: from host coefficient matrices to a [`CellGenotype`].
//!
//! * [`derive_top_k`]: DARTS's hand-crafted rule (Eq. 4), used by EnTranNAS without DST.
//! * [`derive_dst`]: EnTranNAS-DST's rule (Eq. 10), `S_j = {(i, k) : q_k^(i,j) > 0}`.
//!
//! Both list every intermediate node's connections by ascending input index (and, for
//! DST, then by op index) and concatenate all intermediate nodes.

use std::collections::BTreeSet;

use entrannas_cell::CellTopology;
use entrannas_cell::{CellGenotype, Connection};

use crate::error::RelaxError;

/// The name of the zero operation; never chosen by [`derive_top_k`].
pub(crate) const NONE_OP: &str = "none";

/// The name of the identity operation capped by `max_skip` in [`derive_top_k`].
pub(crate) const SKIP_OP: &str = "skip_connect";

/// Checks a topology has at least one input and one intermediate node.
pub(crate) fn validate_topology(topology: &CellTopology) -> Result<(), RelaxError> {
    if topology.inputs == 0 || topology.intermediates == 0 {
        return Err(RelaxError::InvalidTopology {
            inputs: topology.inputs,
            nodes: topology.intermediates,
        });
    }
    Ok(())
}

/// Checks an op list: not empty, no name twice, and some op other than `none`.
pub(crate) fn validate_ops<S: AsRef<str>>(ops: &[S]) -> Result<(), RelaxError> {
    if ops.is_empty() {
        return Err(RelaxError::EmptyOps);
    }
    let mut seen = BTreeSet::new();
    for op in ops {
        if !seen.insert(op.as_ref()) {
            return Err(RelaxError::DuplicateOp {
                name: op.as_ref().to_string(),
            });
        }
    }
    if ops.iter().all(|op| op.as_ref() == NONE_OP) {
        return Err(RelaxError::OnlyNone);
    }
    Ok(())
}

/// Checks that `matrix` (called `field` in messages, e.g. `normal.alpha`) has one row per
/// edge of `topology`, `num_ops` values per row, and only finite values.
pub fn validate_matrix(
    field: &str,
    matrix: &[Vec<f64>],
    topology: &CellTopology,
    num_ops: usize,
) -> Result<(), RelaxError> {
    validate_topology(topology)?;
    // Closed form with overflow checks, so absurd sizes from a file give an error.
    let expected = edge_count(topology).unwrap_or(usize::MAX);
    if matrix.len() != expected {
        return Err(RelaxError::RowCount {
            field: field.to_string(),
            rows: matrix.len(),
            expected,
            inputs: topology.inputs,
            nodes: topology.intermediates,
        });
    }
    for (row, values) in matrix.iter().enumerate() {
        if values.len() != num_ops {
            return Err(RelaxError::RowLength {
                field: field.to_string(),
                row,
                len: values.len(),
                expected: num_ops,
            });
        }
        if let Some((column, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(RelaxError::NonFinite {
                field: format!("{field}[{row}][{column}]"),
                value,
            });
        }
    }
    Ok(())
}

/// The number of edges, `nodes * inputs + nodes * (nodes - 1) / 2`, or `None` on
/// overflow.
fn edge_count(topology: &CellTopology) -> Option<usize> {
    let (inputs, nodes) = (topology.inputs, topology.intermediates);
    let from_inputs = nodes.checked_mul(inputs)?;
    let between = nodes.checked_mul(nodes.saturating_sub(1))? / 2;
    from_inputs.checked_add(between)
}

/// Checks that `beta` (called `field` in messages) has one finite value per intermediate
/// node of `topology`.
pub(crate) fn validate_beta(
    field: &str,
    beta: &[f64],
    topology: &CellTopology,
) -> Result<(), RelaxError> {
    if beta.len() != topology.intermediates {
        return Err(RelaxError::BetaLength {
            field: field.to_string(),
            len: beta.len(),
            expected: topology.intermediates,
        });
    }
    if let Some((index, &value)) = beta.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(RelaxError::NonFinite {
            field: format!("{field}[{index}]"),
            value,
        });
    }
    Ok(())
}

/// A chosen connection during top-k derivation.
#[derive(Debug, Clone, Copy)]
struct Choice {
    input: usize,
    op: usize,
    strength: f64,
}

/// DARTS's hand-crafted rule (Eq. 4) generalised to `k` edges per node.
///
/// `p` holds the softmax coefficients (Eq. 5), `[edges, ops.len()]`. For every
/// intermediate node, each incoming edge is scored by its strongest op other than
/// `none`; the `k` best-scored edges are kept (all of them when the node has fewer than
/// `k` incoming edges), each with that strongest op. `none` is never chosen.
///
/// Ties: between ops of one edge the lower op index wins; between edges of one node the
/// lower input index wins.
///
/// `max_skip` (optional, in the style of P-DARTS and DARTS+ against the collapse to
/// `skip_connect`) caps the number of `skip_connect` connections of the cell: while the
/// cell has more, the weakest kept `skip_connect` (lowest `p`; on a tie the one with the
/// higher edge index) is replaced by its node's next best choice that is not
/// `skip_connect`: the best non-`none`, non-`skip_connect` op on the same edge or on one
/// of the node's unused edges (largest `p`, then lower input, then lower op index). A
/// `skip_connect` with no such replacement stays, so the cap is best effort when the op
/// list offers no alternative.
///
/// The connections of a node are listed by ascending input index.
///
/// # Errors
/// `k == 0`, an invalid op list or topology, a wrongly shaped matrix, non-finite values.
pub fn derive_top_k<S: AsRef<str>>(
    p: &[Vec<f64>],
    ops: &[S],
    topology: &CellTopology,
    k: usize,
    max_skip: Option<usize>,
) -> Result<CellGenotype, RelaxError> {
    if k == 0 {
        return Err(RelaxError::InvalidK(k));
    }
    validate_ops(ops)?;
    validate_matrix("p", p, topology, ops.len())?;
    let names: Vec<&str> = ops.iter().map(AsRef::as_ref).collect();
    let mut selection: Vec<Vec<Choice>> = topology
        .intermediate_nodes()
        .map(|node| select_top_k(p, &names, topology, node, k))
        .collect();
    if let (Some(cap), Some(skip)) = (max_skip, names.iter().position(|&n| n == SKIP_OP)) {
        cap_skip_connections(p, &names, topology, &mut selection, cap, skip);
    }
    Ok(top_k_genotype(&selection, &names, topology))
}

/// Replaces the weakest `skip_connect` choices until at most `cap` remain or none can be
/// replaced; see [`derive_top_k`].
fn cap_skip_connections(
    p: &[Vec<f64>],
    names: &[&str],
    topology: &CellTopology,
    selection: &mut [Vec<Choice>],
    cap: usize,
    skip: usize,
) {
    let mut irreplaceable: BTreeSet<(usize, usize)> = BTreeSet::new();
    loop {
        let kept: Vec<(usize, Choice)> = topology
            .intermediate_nodes()
            .zip(selection.iter())
            .flat_map(|(node, choices)| {
                choices
                    .iter()
                    .filter(|c| c.op == skip)
                    .map(move |&c| (node, c))
            })
            .collect();
        if kept.len() <= cap {
            return;
        }
        let weakest = kept
            .iter()
            .filter(|(node, c)| !irreplaceable.contains(&(*node, c.input)))
            .min_by(|(node_a, a), (node_b, b)| {
                a.strength.total_cmp(&b.strength).then_with(|| {
                    let edge_a = topology.edge_index(a.input, *node_a);
                    let edge_b = topology.edge_index(b.input, *node_b);
                    edge_b.cmp(&edge_a)
                })
            });
        let Some(&(node, removed)) = weakest else {
            return;
        };
        let choices = &mut selection[node - topology.inputs];
        let replacement = (0..node)
            .filter(|&input| input == removed.input || choices.iter().all(|c| c.input != input))
            .filter_map(|input| {
                let edge = topology.edge_index(input, node);
                strongest_op(p, names, edge, Some(skip)).map(|(op, strength)| Choice {
                    input,
                    op,
                    strength,
                })
            })
            // Inputs ascend: on equal strength `max_by` would keep the last, so compare
            // the reversed input too.
            .max_by(|a, b| {
                a.strength
                    .total_cmp(&b.strength)
                    .then_with(|| b.input.cmp(&a.input))
            });
        match replacement {
            Some(replacement) => {
                choices.retain(|c| c.input != removed.input);
                choices.push(replacement);
                choices.sort_by_key(|c| c.input);
            }
            None => {
                irreplaceable.insert((node, removed.input));
            }
        }
    }
}

/// The strongest op of `edge` other than `none` (and `excluded`), lower index on ties.
fn strongest_op(
    p: &[Vec<f64>],
    names: &[&str],
    edge: usize,
    excluded: Option<usize>,
) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (op, &value) in p[edge].iter().enumerate() {
        if names[op] == NONE_OP || Some(op) == excluded {
            continue;
        }
        if best.is_none_or(|(_, strength)| value > strength) {
            best = Some((op, value));
        }
    }
    best
}

/// The top-`k` edges into `node`, listed by input index.
fn select_top_k(
    p: &[Vec<f64>],
    names: &[&str],
    topology: &CellTopology,
    node: usize,
    k: usize,
) -> Vec<Choice> {
    let mut candidates: Vec<Choice> = (0..node)
        .filter_map(|input| {
            let edge = topology.edge_index(input, node);
            strongest_op(p, names, edge, None).map(|(op, strength)| Choice {
                input,
                op,
                strength,
            })
        })
        .collect();
    // Stable sort: equal strengths keep ascending input order.
    candidates.sort_by(|a, b| b.strength.total_cmp(&a.strength));
    candidates.truncate(k);
    candidates.sort_by_key(|c| c.input);
    candidates
}

fn top_k_genotype(
    selection: &[Vec<Choice>],
    names: &[&str],
    topology: &CellTopology,
) -> CellGenotype {
    CellGenotype {
        inputs: topology.inputs,
        nodes: selection
            .iter()
            .map(|choices| {
                choices
                    .iter()
                    .map(|c| Connection::new(c.input, names[c.op]))
                    .collect()
            })
            .collect(),
        concat: topology.intermediate_nodes().collect(),
    }
}

/// EnTranNAS-DST's rule (Eq. 10): node `j` keeps every `(i, k)` with `q_k^(i,j) > 0`, any
/// number of inputs and ops. `q` holds the DST coefficients, `[edges, ops.len()]` (before
/// or after operation normalization: the positive entries are the same).
///
/// `none` connections are left out, since they add nothing to the node, unless a node's
/// only positive entries are `none`: then those are kept, so the derived node computes
/// exactly what the super-net computes (zero) and the cell keeps a connection into every
/// node. Connections are listed by ascending input index, then op index.
///
/// # Errors
/// An invalid op list or topology, a wrongly shaped matrix, non-finite values.
pub fn derive_dst<S: AsRef<str>>(
    q: &[Vec<f64>],
    ops: &[S],
    topology: &CellTopology,
) -> Result<CellGenotype, RelaxError> {
    validate_ops(ops)?;
    validate_matrix("q", q, topology, ops.len())?;
    let names: Vec<&str> = ops.iter().map(AsRef::as_ref).collect();
    let nodes = topology
        .intermediate_nodes()
        .map(|node| {
            let active: Vec<(usize, usize)> = (0..node)
                .flat_map(|input| {
                    let edge = topology.edge_index(input, node);
                    q[edge]
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(move |(op, _)| (input, op))
                })
                .collect();
            let useful: Vec<(usize, usize)> = active
                .iter()
                .copied()
                .filter(|&(_, op)| names[op] != NONE_OP)
                .collect();
            let kept = if useful.is_empty() { active } else { useful };
            kept.into_iter()
                .map(|(input, op)| Connection::new(input, names[op]))
                .collect()
        })
        .collect();
    Ok(CellGenotype {
        inputs: topology.inputs,
        nodes,
        concat: topology.intermediate_nodes().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [&str; 3] = ["none", "skip_connect", "sep_conv_3x3"];

    /// 2 inputs, 2 nodes; see the comments for each edge's strongest non-`none` op.
    fn hand_p() -> Vec<Vec<f64>> {
        vec![
            vec![0.9, 0.05, 0.05], // 0 -> 2: skip and sep tie at 0.05: skip (lower op)
            vec![0.2, 0.3, 0.5],   // 1 -> 2: sep 0.5
            vec![0.1, 0.6, 0.3],   // 0 -> 3: skip 0.6
            vec![0.1, 0.2, 0.7],   // 1 -> 3: sep 0.7
            vec![0.05, 0.35, 0.6], // 2 -> 3: sep 0.6, ties with 0 -> 3: input 0 wins
        ]
    }

    fn conn(list: &[(usize, &str)]) -> Vec<Connection> {
        list.iter().map(|&(i, op)| Connection::new(i, op)).collect()
    }

    #[test]
    fn top2_picks_strongest_non_none_edges_with_tie_breaks() {
        let g = derive_top_k(&hand_p(), &OPS, &CellTopology::new(2, 2), 2, None).unwrap();
        assert_eq!(g.inputs, 2);
        assert_eq!(g.concat, vec![2, 3]);
        assert_eq!(
            g.nodes,
            vec![
                conn(&[(0, "skip_connect"), (1, "sep_conv_3x3")]),
                conn(&[(0, "skip_connect"), (1, "sep_conv_3x3")]),
            ]
        );
    }

    #[test]
    fn top1_and_top3() {
        let topology = CellTopology::new(2, 2);
        let g = derive_top_k(&hand_p(), &OPS, &topology, 1, None).unwrap();
        assert_eq!(
            g.nodes,
            vec![conn(&[(1, "sep_conv_3x3")]), conn(&[(1, "sep_conv_3x3")])]
        );
        // Node 2 has only 2 incoming edges: it keeps both.
        let g = derive_top_k(&hand_p(), &OPS, &topology, 3, None).unwrap();
        assert_eq!(g.nodes[0].len(), 2);
        assert_eq!(
            g.nodes[1],
            conn(&[
                (0, "skip_connect"),
                (1, "sep_conv_3x3"),
                (2, "sep_conv_3x3")
            ])
        );
    }

    #[test]
    fn max_skip_replaces_the_weakest_skip_connections() {
        let topology = CellTopology::new(2, 2);
        let g = derive_top_k(&hand_p(), &OPS, &topology, 2, Some(1)).unwrap();
        assert_eq!(
            g.nodes,
            vec![
                conn(&[(0, "sep_conv_3x3"), (1, "sep_conv_3x3")]),
                conn(&[(0, "skip_connect"), (1, "sep_conv_3x3")]),
            ]
        );
        let g = derive_top_k(&hand_p(), &OPS, &topology, 2, Some(0)).unwrap();
        assert_eq!(
            g.nodes,
            vec![
                conn(&[(0, "sep_conv_3x3"), (1, "sep_conv_3x3")]),
                conn(&[(1, "sep_conv_3x3"), (2, "sep_conv_3x3")]),
            ]
        );
        let uncapped = derive_top_k(&hand_p(), &OPS, &topology, 2, None).unwrap();
        assert_eq!(
            derive_top_k(&hand_p(), &OPS, &topology, 2, Some(2)).unwrap(),
            uncapped
        );
    }

    #[test]
    fn max_skip_is_best_effort_without_alternatives() {
        let g = derive_top_k(
            &[vec![0.5, 0.5]],
            &["none", "skip_connect"],
            &CellTopology::new(1, 1),
            2,
            Some(0),
        )
        .unwrap();
        assert_eq!(g.nodes, vec![conn(&[(0, "skip_connect")])]);
    }

    #[test]
    fn dst_keeps_every_positive_coefficient_but_none() {
        let q = vec![
            vec![0.0, 0.0, 1.0],
            vec![0.0, 0.0, 0.0],
            vec![0.3, 0.2, 0.5],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 0.0],
        ];
        let g = derive_dst(&q, &OPS, &CellTopology::new(2, 2)).unwrap();
        assert_eq!(
            g.nodes,
            vec![
                conn(&[(0, "sep_conv_3x3")]),
                conn(&[
                    (0, "skip_connect"),
                    (0, "sep_conv_3x3"),
                    (1, "skip_connect")
                ]),
            ]
        );
    }

    #[test]
    fn dst_keeps_none_when_it_is_all_a_node_has() {
        let q = vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]];
        let g = derive_dst(&q, &OPS, &CellTopology::new(2, 1)).unwrap();
        assert_eq!(g.nodes, vec![conn(&[(0, "none")])]);
    }

    #[test]
    fn errors_name_the_problem() {
        let topology = CellTopology::DARTS;
        let p = vec![vec![0.5, 0.5]; 13];
        let e = derive_top_k(&p, &["none", "skip_connect"], &topology, 2, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p has 13 rows, expected 14 for 2 inputs and 4 nodes"
        );
        let mut p = vec![vec![0.5, 0.5]; 14];
        p[3] = vec![0.5];
        let e = derive_top_k(&p, &["none", "skip_connect"], &topology, 2, None).unwrap_err();
        assert!(matches!(
            e,
            RelaxError::RowLength {
                row: 3,
                len: 1,
                expected: 2,
                ..
            }
        ));
        p[3] = vec![f64::NAN, 0.5];
        let e = derive_dst(&p, &["none", "skip_connect"], &topology).unwrap_err();
        assert!(e.to_string().starts_with("q[3][0] is not finite"), "{e}");
        let p = vec![vec![0.5, 0.5]; 14];
        let e = derive_top_k(&p, &["skip_connect", "sep_conv_3x3"], &topology, 0, None);
        assert!(matches!(e, Err(RelaxError::InvalidK(0))));
        let e = derive_top_k(&vec![vec![1.0]; 14], &["none"], &topology, 2, None);
        assert!(matches!(e, Err(RelaxError::OnlyNone)));
        let e = derive_dst(&p, &["none", "none"], &topology);
        assert!(matches!(e, Err(RelaxError::DuplicateOp { .. })));
        let empty: [&str; 0] = [];
        assert!(matches!(validate_ops(&empty), Err(RelaxError::EmptyOps)));
        let e = derive_dst(&[], &["skip_connect"], &CellTopology::new(0, 1));
        assert!(matches!(e, Err(RelaxError::InvalidTopology { .. })));
        let e = validate_beta("normal.beta", &[0.0; 3], &topology).unwrap_err();
        assert_eq!(
            e.to_string(),
            "normal.beta has 3 values, expected 4 (one per intermediate node)"
        );
    }
}
