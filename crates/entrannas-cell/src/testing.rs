//! Strategies for property tests of code that takes genotypes: random valid cells and
//! genotypes (feature `testing`; this crate's own tests use them too).

use proptest::prelude::*;

use crate::genotype::{CellGenotype, Connection, Genotype};

/// An op name: mostly DARTS names, sometimes odd strings (quotes, backslashes, spaces,
/// markup) to exercise escaping.
pub fn arb_op() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "none",
            "max_pool_3x3",
            "avg_pool_3x3",
            "skip_connect",
            "sep_conv_3x3",
            "sep_conv_5x5",
            "dil_conv_3x3",
            "dil_conv_5x5",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_0-9'\"\\\\ <>&#()\\[\\],=]{1,12}",
    ]
}

/// A valid cell: 1..=3 inputs, 1..=6 intermediate nodes, 1..=5 connections per node,
/// a non-empty concat of distinct intermediate nodes in random order.
pub fn arb_cell() -> impl Strategy<Value = CellGenotype> {
    (1usize..=3, 1usize..=6)
        .prop_flat_map(|(inputs, intermediates)| {
            let nodes: Vec<_> = (0..intermediates)
                .map(|k| {
                    prop::collection::vec(
                        (0..inputs + k, arb_op()).prop_map(|(i, op)| Connection::new(i, op)),
                        1..=5,
                    )
                })
                .collect();
            let concat = prop::sample::subsequence(
                (inputs..inputs + intermediates).collect::<Vec<_>>(),
                1..=intermediates,
            )
            .prop_shuffle();
            (Just(inputs), nodes, concat)
        })
        .prop_map(|(inputs, nodes, concat)| CellGenotype {
            inputs,
            nodes,
            concat,
        })
}

/// A valid genotype.
pub fn arb_genotype() -> impl Strategy<Value = Genotype> {
    (arb_cell(), arb_cell()).prop_map(|(normal, reduce)| Genotype { normal, reduce })
}
