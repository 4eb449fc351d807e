//! The shape of a cell's DAG and DARTS's edge order.

use core::ops::Range;

use serde::{Deserialize, Serialize};

/// The DAG of a cell: `inputs` input nodes followed by `intermediates` intermediate
/// nodes; every intermediate node `j` has one edge from every node `i < j`.
///
/// Edges are numbered in DARTS order: first all edges into node `inputs`, then all
/// edges into node `inputs + 1`, and so on; within a node, by source node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellTopology {
    /// Number of input nodes (2 in DARTS: the outputs of cells `k-2` and `k-1`).
    pub inputs: usize,
    /// Number of intermediate nodes (4 in DARTS).
    pub intermediates: usize,
}

impl Default for CellTopology {
    fn default() -> Self {
        Self::DARTS
    }
}

impl CellTopology {
    /// DARTS's cell: 2 inputs, 4 intermediate nodes, 14 edges.
    pub const DARTS: CellTopology = CellTopology {
        inputs: 2,
        intermediates: 4,
    };

    /// A topology with `inputs` input and `intermediates` intermediate nodes.
    pub fn new(inputs: usize, intermediates: usize) -> Self {
        Self {
            inputs,
            intermediates,
        }
    }

    /// Total number of nodes, inputs included.
    pub fn nodes(&self) -> usize {
        self.inputs + self.intermediates
    }

    /// The node indices of the intermediate nodes.
    pub fn intermediate_nodes(&self) -> Range<usize> {
        self.inputs..self.nodes()
    }

    /// Total number of edges: `sum over intermediate j of j`.
    pub fn num_edges(&self) -> usize {
        self.intermediate_nodes().sum()
    }

    /// The edge indices entering node `node` (an intermediate node), in source order:
    /// edge `incoming(node).start + i` comes from node `i`.
    ///
    /// # Panics
    /// If `node` is not an intermediate node of this topology.
    pub fn incoming(&self, node: usize) -> Range<usize> {
        assert!(
            self.intermediate_nodes().contains(&node),
            "node {node} is not an intermediate node of {self:?}"
        );
        let start: usize = (self.inputs..node).sum();
        start..start + node
    }

    /// The index of edge `(source, target)`.
    ///
    /// # Panics
    /// If `target` is not an intermediate node or `source >= target`.
    pub fn edge_index(&self, source: usize, target: usize) -> usize {
        assert!(source < target, "edge ({source}, {target}) goes backwards");
        self.incoming(target).start + source
    }

    /// Every edge as `(index, source, target)`, in DARTS order.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.intermediate_nodes()
            .flat_map(|target| (0..target).map(move |source| (source, target)))
            .enumerate()
            .map(|(index, (source, target))| (index, source, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn darts_cell_has_fourteen_edges_in_darts_order() {
        let t = CellTopology::DARTS;
        assert_eq!(t.num_edges(), 14);
        assert_eq!(t.incoming(2), 0..2);
        assert_eq!(t.incoming(3), 2..5);
        assert_eq!(t.incoming(4), 5..9);
        assert_eq!(t.incoming(5), 9..14);
        assert_eq!(t.edge_index(1, 5), 10);
    }

    proptest::proptest! {
        #[test]
        fn edges_enumerate_every_index_once(inputs in 1usize..4, intermediates in 1usize..7) {
            let t = CellTopology::new(inputs, intermediates);
            let edges: Vec<_> = t.edges().collect();
            proptest::prop_assert_eq!(edges.len(), t.num_edges());
            for (index, source, target) in edges {
                proptest::prop_assert_eq!(t.edge_index(source, target), index);
                proptest::prop_assert!(t.incoming(target).contains(&index));
            }
        }
    }
}
