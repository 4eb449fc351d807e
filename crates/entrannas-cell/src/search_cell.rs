//! The search cell of EnTranNAS: one module with two forward passes.
//!
//! - **Engine** ([`SearchCell::forward_engine`]): the whole mixed DAG, every candidate
//!   of every edge weighted by its architecture coefficient, so gradients reach the
//!   architecture parameters. With a [`CellPlan`] (DST), only the terms whose
//!   coefficient is non-zero are computed.
//! - **Transit** ([`SearchCell::forward_transit`]): only the derived sub-graph, an
//!   unweighted sum of the selected `(input, op)` pairs per node. Unselected
//!   candidates are never executed, though the cell owns weights for all of them
//!   because the derivation changes during search.
//!
//! With **feature sharing** (the default) operation `k` on source node `i` has one set
//! of weights, and its output is computed once and reused for every target node, so
//! a cell holds `(nodes - 1) x K` candidates instead of `edges x K`. Without sharing,
//! every edge has its own candidates, as in DARTS. With a **bottleneck** (ratio `r`),
//! each source node is reduced by a 1x1 ReLU-Conv-BN to `C / r` channels before its
//! candidates, and each intermediate node's sum is recovered to `C` channels.
//!
//! **Counting.** Every forward counts the work it does in an [`OpCount`]:
//! [`SearchCell::forward_engine_counted`] and [`SearchCell::forward_transit_counted`]
//! return it with the output; the layers above add the counts of their cells up and
//! return them in turn (a super-net forward, a whole search step). The count is a few
//! integer additions per cell forward; the outputs do not depend on it.

use core::ops::{Add, AddAssign};

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use entrannas_ops::recipes::{bottleneck_recover, bottleneck_reduce, bottleneck_width};
use entrannas_ops::recipes::{factorized_reduce, relu_conv_bn};
use entrannas_ops::{
    DepthwiseConv, LayerSpec, Op, OpRegistry, OpSpec, OpsError, sequence_cost, sequence_retained,
};
use thiserror::Error;

use crate::genotype::CellGenotype;
use crate::topology::CellTopology;

/// What can go wrong building a search cell or resolving a genotype against it.
#[derive(Debug, Error)]
pub enum CellError {
    /// An operation could not be built.
    #[error(transparent)]
    Op(#[from] OpsError),
    /// A genotype names an operation that is not among the cell's candidates.
    #[error("node {node}: operation `{op}` is not a candidate of this cell (candidates: {})", candidates.join(", "))]
    NotACandidate {
        /// The intermediate node (DARTS numbering).
        node: usize,
        /// The operation asked for.
        op: String,
        /// The cell's candidate operations.
        candidates: Vec<String>,
    },
    /// A genotype whose shape does not fit the cell's topology.
    #[error("genotype does not fit the cell: {0}")]
    Shape(String),
}

/// One input of a cell: the channels of the previous cell's output, and whether it
/// has twice the resolution of the cell (it then needs a factorized reduce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellInput {
    /// Channels of the input.
    pub channels: usize,
    /// Whether the input must be halved in resolution by the preprocessing.
    pub halve: bool,
}

/// How to build a [`SearchCell`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchCellConfig {
    /// The DAG (inputs must equal `inputs.len()`).
    pub topology: CellTopology,
    /// The preprocessed inputs, oldest first (`c_{k-2}`, `c_{k-1}`).
    pub inputs: Vec<CellInput>,
    /// The candidate operations, by name, in coefficient-column order.
    pub ops: Vec<String>,
    /// Channels of every node.
    pub channels: usize,
    /// Whether this is a reduction cell (edges from inputs use stride 2).
    pub reduction: bool,
    /// Whether candidates are shared by all edges leaving a source node.
    pub sharing: bool,
    /// Bottleneck ratio, if any (the paper uses 4).
    pub bottleneck: Option<usize>,
    /// Whether batch norms are affine (search cells: false).
    pub affine: bool,
}

/// A derived sub-graph resolved against a cell's candidates: for each intermediate
/// node, the `(source node, candidate index)` pairs it sums; and the nodes concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellPlan {
    /// Per intermediate node, the selected `(source, op index)` pairs.
    pub nodes: Vec<Vec<(usize, usize)>>,
    /// Nodes concatenated into the cell output.
    pub concat: Vec<usize>,
}

impl CellPlan {
    /// Resolves `genotype`'s operation names against the candidate list `ops`.
    pub fn from_genotype(
        genotype: &CellGenotype,
        ops: &[String],
        topology: &CellTopology,
    ) -> Result<Self, CellError> {
        if genotype.inputs != topology.inputs || genotype.nodes.len() != topology.intermediates {
            return Err(CellError::Shape(format!(
                "genotype has {} inputs and {} nodes, the cell {} and {}",
                genotype.inputs,
                genotype.nodes.len(),
                topology.inputs,
                topology.intermediates
            )));
        }
        let mut nodes = Vec::with_capacity(genotype.nodes.len());
        for (offset, connections) in genotype.nodes.iter().enumerate() {
            let node = topology.inputs + offset;
            let mut pairs = Vec::with_capacity(connections.len());
            for c in connections {
                if c.input >= node {
                    return Err(CellError::Shape(format!(
                        "node {node} takes input from node {}, which is not before it",
                        c.input
                    )));
                }
                let k = ops.iter().position(|o| *o == c.op).ok_or_else(|| {
                    CellError::NotACandidate {
                        node,
                        op: c.op.clone(),
                        candidates: ops.to_vec(),
                    }
                })?;
                pairs.push((c.input, k));
            }
            nodes.push(pairs);
        }
        if let Some(bad) = genotype
            .concat
            .iter()
            .find(|&&n| n >= topology.nodes() || n < topology.inputs)
        {
            return Err(CellError::Shape(format!("concat names node {bad}")));
        }
        Ok(Self {
            nodes,
            concat: genotype.concat.clone(),
        })
    }
}

/// Which candidates a cell forward runs, for [`SearchCellConfig::retained_elements`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellWork {
    /// Every non-zero candidate of every edge (an Engine cell; DST's dense start).
    Engine,
    /// This many `(edge, op)` pairs, each costed at the mean over the cell's non-zero
    /// candidates (a Transit cell: its derived connections; a sparse DST Engine cell:
    /// its active pairs).
    Pairs(usize),
}

/// A search cell (see the module documentation).
#[derive(Module, Debug)]
pub struct SearchCell<B: Backend> {
    /// Preprocessing of each input (ReLU-Conv1x1-BN, or factorized reduce).
    pub preprocess: Vec<Op<B>>,
    /// Bottleneck reduce per source node (empty without bottleneck).
    pub reduce: Vec<Op<B>>,
    /// Bottleneck recover per intermediate node (empty without bottleneck).
    pub recover: Vec<Op<B>>,
    /// Candidates per group (source node with sharing, edge without) and operation;
    /// `None` for the zero operation, which is never computed.
    pub candidates: Vec<Vec<Option<Op<B>>>>,
    /// Number of input nodes.
    pub inputs: usize,
    /// Number of intermediate nodes.
    pub intermediates: usize,
    /// Whether candidates are grouped per source node (feature sharing).
    pub sharing: bool,
    /// Whether this is a reduction cell.
    pub reduction: bool,
}

/// Trainable parameters of a layer sequence, from its specs.
fn cost_of(layers: &[LayerSpec], input: [usize; 3]) -> u64 {
    sequence_cost(layers, input).params
}

impl SearchCellConfig {
    /// The layers of each preprocessing op.
    fn preprocess_layers(&self) -> Vec<Vec<LayerSpec>> {
        self.inputs
            .iter()
            .map(|input| {
                if input.halve {
                    factorized_reduce(input.channels, self.channels, self.affine)
                } else {
                    relu_conv_bn(input.channels, self.channels, 1, 1, 0, self.affine)
                }
            })
            .collect()
    }

    /// Channels the candidates work on.
    pub fn op_channels(&self) -> usize {
        match self.bottleneck {
            Some(ratio) => bottleneck_width(self.channels, ratio),
            None => self.channels,
        }
    }

    fn op_spec(&self, source: usize) -> OpSpec {
        let stride = if self.reduction && source < self.topology.inputs {
            2
        } else {
            1
        };
        OpSpec {
            channels: self.op_channels(),
            stride,
            affine: self.affine,
            pool_norm: !self.affine,
        }
    }

    /// Source node of each candidate group.
    fn group_sources(&self) -> Vec<usize> {
        if self.sharing {
            (0..self.topology.nodes() - 1).collect()
        } else {
            self.topology.edges().map(|(_, source, _)| source).collect()
        }
    }

    /// Trainable parameters of the cell (batch-norm running statistics excluded).
    pub fn params(&self, registry: &OpRegistry) -> Result<u64, CellError> {
        let one = [1, 1, 1];
        let mut total: u64 = self
            .preprocess_layers()
            .iter()
            .map(|l| cost_of(l, one))
            .sum();
        if let Some(ratio) = self.bottleneck {
            let sources = self.topology.nodes() - 1;
            let intermediates = self.topology.intermediates as u64;
            total += sources as u64
                * cost_of(&bottleneck_reduce(self.channels, ratio, self.affine), one);
            total += intermediates
                * cost_of(&bottleneck_recover(self.channels, ratio, self.affine), one);
        }
        for source in self.group_sources() {
            for op in &self.ops {
                total += registry.params(op, &self.op_spec(source))?;
            }
        }
        Ok(total)
    }

    /// Activation elements per image that one training forward of this cell keeps for
    /// backward ([`LayerSpec::retained_elements`] summed over what it runs), its
    /// inputs at `[height, width]` (the resolution of the previous cell's output; an
    /// input with `halve` comes at twice that). `work` says which candidates run.
    /// The weighted terms of a node are not counted (an addition keeps nothing for
    /// backward); each node's sum is, through its recover layers or as itself.
    pub fn retained_elements(
        &self,
        registry: &OpRegistry,
        [height, width]: [usize; 2],
        work: CellWork,
    ) -> Result<u64, CellError> {
        let c = self.channels;
        let mut total = 0;
        for (input, layers) in self.inputs.iter().zip(self.preprocess_layers()) {
            let scale = if input.halve { 2 } else { 1 };
            total += sequence_retained(&layers, [input.channels, height * scale, width * scale]).0;
        }
        let out_size = |size: usize| {
            if self.reduction {
                size.div_ceil(2)
            } else {
                size
            }
        };
        let (oh, ow) = (out_size(height), out_size(width));
        let source_shape = |i: usize| {
            if i < self.topology.inputs {
                [c, height, width]
            } else {
                [c, oh, ow]
            }
        };
        let op_input = |i: usize| {
            let [_, h, w] = source_shape(i);
            [self.op_channels(), h, w]
        };
        // The candidates of one source node: each op's retained elements, zero ops left out.
        let mut per_source = Vec::with_capacity(self.topology.nodes() - 1);
        for i in 0..self.topology.nodes() - 1 {
            let mut ops = Vec::with_capacity(self.ops.len());
            for op in &self.ops {
                if !registry.is_zero(op) {
                    let layers = registry.layers(op, &self.op_spec(i))?;
                    ops.push(sequence_retained(&layers, op_input(i)).0);
                }
            }
            per_source.push(ops);
        }
        let sources = self.topology.nodes() - 1;
        if let Some(ratio) = self.bottleneck {
            let reduce = bottleneck_reduce(c, ratio, self.affine);
            total += (0..sources)
                .map(|i| sequence_retained(&reduce, source_shape(i)).0)
                .sum::<u64>();
        }
        let pairs: u64 = self
            .topology
            .edges()
            .map(|(_, i, _)| per_source[i].len() as u64)
            .sum();
        let all_pairs: u64 = self
            .topology
            .edges()
            .map(|(_, i, _)| per_source[i].iter().sum::<u64>())
            .sum();
        let mean_pair = all_pairs.checked_div(pairs).unwrap_or(0);
        total += match work {
            CellWork::Engine if self.sharing => per_source.iter().flatten().sum::<u64>(),
            CellWork::Engine => all_pairs,
            CellWork::Pairs(count) => count as u64 * mean_pair,
        };
        let node = [self.op_channels(), oh, ow];
        let node_cost = match self.bottleneck {
            Some(ratio) => sequence_retained(&bottleneck_recover(c, ratio, self.affine), node).0,
            None => (node[0] * oh * ow) as u64,
        };
        total += self.topology.intermediates as u64 * node_cost;
        // The concatenated output.
        total += (self.topology.intermediates * c * oh * ow) as u64;
        Ok(total)
    }

    /// Builds the cell with fresh weights.
    pub fn init<B: Backend>(
        &self,
        registry: &OpRegistry,
        device: &B::Device,
    ) -> Result<SearchCell<B>, CellError> {
        if self.inputs.len() != self.topology.inputs {
            return Err(CellError::Shape(format!(
                "{} inputs given for a topology with {}",
                self.inputs.len(),
                self.topology.inputs
            )));
        }
        let preprocess = self
            .preprocess_layers()
            .iter()
            .map(|layers| Op::new(layers, device))
            .collect();
        let (reduce, recover) = match self.bottleneck {
            Some(ratio) => (
                (0..self.topology.nodes() - 1)
                    .map(|_| {
                        Op::new(
                            &bottleneck_reduce(self.channels, ratio, self.affine),
                            device,
                        )
                    })
                    .collect(),
                (0..self.topology.intermediates)
                    .map(|_| {
                        Op::new(
                            &bottleneck_recover(self.channels, ratio, self.affine),
                            device,
                        )
                    })
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut candidates = Vec::new();
        for source in self.group_sources() {
            let spec = self.op_spec(source);
            let mut group = Vec::with_capacity(self.ops.len());
            for op in &self.ops {
                group.push(if registry.is_zero(op) {
                    registry.layers(op, &spec)?; // still validates the name and spec
                    None
                } else {
                    Some(registry.build(op, &spec, device)?)
                });
            }
            candidates.push(group);
        }
        Ok(SearchCell {
            preprocess,
            reduce,
            recover,
            candidates,
            inputs: self.topology.inputs,
            intermediates: self.topology.intermediates,
            sharing: self.sharing,
            reduction: self.reduction,
        })
    }
}

/// The work of cell forward passes, counted as it is done (not derived from a plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OpCount {
    /// Candidate-operation forwards executed. The zero operation is never executed and
    /// never counted; with feature sharing a `(source, op)` output computed once and
    /// reused for several target nodes counts once. Preprocessing and bottleneck
    /// convolutions are not candidates and are not counted.
    pub evaluations: usize,
    /// Candidate outputs summed into intermediate nodes (one per `(source, target, op)`
    /// term; zero-operation terms are skipped and not counted). Without sharing this
    /// equals [`OpCount::evaluations`]; with sharing it can be larger.
    pub terms: usize,
    /// Cell forward passes.
    pub cells: usize,
}

impl Add for OpCount {
    type Output = OpCount;

    fn add(self, other: OpCount) -> OpCount {
        OpCount {
            evaluations: self.evaluations + other.evaluations,
            terms: self.terms + other.terms,
            cells: self.cells + other.cells,
        }
    }
}

impl AddAssign for OpCount {
    fn add_assign(&mut self, other: OpCount) {
        *self = *self + other;
    }
}

/// The per-source inputs of a forward pass, reduced through the bottleneck lazily,
/// with the candidate outputs cached when features are shared.
struct Frame<'a, B: Backend> {
    cell: &'a SearchCell<B>,
    states: Vec<Tensor<B, 4>>,
    sources: Vec<Option<Tensor<B, 4>>>,
    shared: Vec<Vec<Option<Tensor<B, 4>>>>,
    count: OpCount,
}

impl<'a, B: Backend> Frame<'a, B> {
    fn new(cell: &'a SearchCell<B>, inputs: Vec<Tensor<B, 4>>) -> Self {
        assert_eq!(
            inputs.len(),
            cell.inputs,
            "a cell with {} inputs was given {}",
            cell.inputs,
            inputs.len()
        );
        let states = cell
            .preprocess
            .iter()
            .zip(inputs)
            .map(|(op, x)| op.forward(x))
            .collect();
        let nodes = cell.inputs + cell.intermediates;
        let ops = cell.candidates.first().map_or(0, Vec::len);
        Self {
            cell,
            states,
            sources: vec![None; nodes],
            shared: vec![vec![None; ops]; nodes],
            count: OpCount {
                cells: 1,
                ..OpCount::default()
            },
        }
    }

    fn topology(&self) -> CellTopology {
        CellTopology::new(self.cell.inputs, self.cell.intermediates)
    }

    /// Node `i` as its candidates see it (after the bottleneck reduce, if any).
    fn source(&mut self, i: usize) -> Tensor<B, 4> {
        if self.sources[i].is_none() {
            let x = self.states[i].clone();
            self.sources[i] = Some(match self.cell.reduce.get(i) {
                Some(reduce) => reduce.forward(x),
                None => x,
            });
        }
        self.sources[i].clone().expect("just computed")
    }

    /// Output of candidate `k` on edge `(i, j)`, counted as one term of node `j`;
    /// `None` for the zero operation.
    fn candidate(&mut self, i: usize, j: usize, k: usize) -> Option<Tensor<B, 4>> {
        let out = if self.cell.sharing {
            if self.shared[i][k].is_none() {
                let op = self.cell.candidates[i][k].as_ref()?;
                let x = self.source(i);
                self.shared[i][k] = Some(op.forward(x));
                self.count.evaluations += 1;
            }
            self.shared[i][k].clone()
        } else {
            let e = self.topology().edge_index(i, j);
            let op = self.cell.candidates[e][k].as_ref()?;
            let x = self.source(i);
            self.count.evaluations += 1;
            Some(op.forward(x))
        };
        self.count.terms += 1;
        out
    }

    /// Closes node `j` from its summed terms (zeros if none) and records it.
    fn push_node(&mut self, j: usize, sum: Option<Tensor<B, 4>>) {
        let sum = sum.unwrap_or_else(|| {
            // Every derivation keeps a connection per node; a hand-written plan may not.
            let reference = self.source(0);
            let [n, c, h, w] = reference.dims();
            let stride = if self.cell.reduction { 2 } else { 1 };
            Tensor::zeros(
                [n, c, h.div_ceil(stride), w.div_ceil(stride)],
                &reference.device(),
            )
        });
        let node = match self.cell.recover.get(j - self.cell.inputs) {
            Some(recover) => recover.forward(sum),
            None => sum,
        };
        self.states.push(node);
    }

    /// The concatenated output and the forward's count.
    fn output(self, concat: &[usize]) -> (Tensor<B, 4>, OpCount) {
        let out = Tensor::cat(concat.iter().map(|&n| self.states[n].clone()).collect(), 1);
        (out, self.count)
    }
}

/// `x * weight` for a `[1, 1]` weight, broadcast over 2-D rows: CPU backends broadcast
/// along rows much faster than over a 4-D shape.
fn scaled<B: Backend>(x: Tensor<B, 4>, weight: Tensor<B, 2>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    (x.reshape([n, c * h * w]) * weight).reshape([n, c, h, w])
}

fn accumulate<B: Backend>(sum: Option<Tensor<B, 4>>, term: Tensor<B, 4>) -> Option<Tensor<B, 4>> {
    Some(match sum {
        Some(sum) => sum + term,
        None => term,
    })
}

impl<B: Backend> SearchCell<B> {
    /// Computes the depthwise convolutions of every operation of the cell as
    /// `depthwise` says ([`Op::set_depthwise`]).
    pub fn set_depthwise(&mut self, depthwise: DepthwiseConv) {
        let candidates = self.candidates.iter_mut().flatten().flatten();
        for op in self
            .preprocess
            .iter_mut()
            .chain(&mut self.reduce)
            .chain(&mut self.recover)
            .chain(candidates)
        {
            op.set_depthwise(depthwise);
        }
    }

    /// The topology of this cell.
    pub fn topology(&self) -> CellTopology {
        CellTopology::new(self.inputs, self.intermediates)
    }

    /// Engine forward: every node is the coefficient-weighted sum over its incoming
    /// edges and candidates. `coefficients` is `[edges, K]` in DARTS edge order.
    /// With `active` (DST), only its pairs are computed (the coefficients of all other
    /// pairs are exactly zero); otherwise every candidate except `none`.
    pub fn forward_engine(
        &self,
        inputs: Vec<Tensor<B, 4>>,
        coefficients: &Tensor<B, 2>,
        active: Option<&CellPlan>,
    ) -> Tensor<B, 4> {
        self.forward_engine_counted(inputs, coefficients, active).0
    }

    /// [`SearchCell::forward_engine`], also returning what it computed.
    pub fn forward_engine_counted(
        &self,
        inputs: Vec<Tensor<B, 4>>,
        coefficients: &Tensor<B, 2>,
        active: Option<&CellPlan>,
    ) -> (Tensor<B, 4>, OpCount) {
        let topology = self.topology();
        let ops = self.candidates.first().map_or(0, Vec::len);
        let mut frame = Frame::new(self, inputs);
        for j in topology.intermediate_nodes() {
            let pairs: Vec<(usize, usize)> = match active {
                Some(plan) => plan.nodes[j - self.inputs].clone(),
                None => (0..j).flat_map(|i| (0..ops).map(move |k| (i, k))).collect(),
            };
            let mut sum = None;
            for (i, k) in pairs {
                let Some(out) = frame.candidate(i, j, k) else {
                    continue;
                };
                let e = topology.edge_index(i, j);
                let weight = coefficients.clone().slice([e..e + 1, k..k + 1]);
                sum = accumulate(sum, scaled(out, weight));
            }
            frame.push_node(j, sum);
        }
        let concat: Vec<usize> = topology.intermediate_nodes().collect();
        frame.output(&concat)
    }

    /// Transit forward: every node is the plain sum of the plan's selected candidates;
    /// nothing else is computed.
    pub fn forward_transit(&self, inputs: Vec<Tensor<B, 4>>, plan: &CellPlan) -> Tensor<B, 4> {
        self.forward_transit_counted(inputs, plan).0
    }

    /// [`SearchCell::forward_transit`], also returning what it computed.
    pub fn forward_transit_counted(
        &self,
        inputs: Vec<Tensor<B, 4>>,
        plan: &CellPlan,
    ) -> (Tensor<B, 4>, OpCount) {
        let topology = self.topology();
        let mut frame = Frame::new(self, inputs);
        for j in topology.intermediate_nodes() {
            let mut sum = None;
            for &(i, k) in &plan.nodes[j - self.inputs] {
                if let Some(out) = frame.candidate(i, j, k) {
                    sum = accumulate(sum, out);
                }
            }
            frame.push_node(j, sum);
        }
        frame.output(&plan.concat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::Connection;
    use approx::assert_relative_eq;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::TensorData;
    use burn::tensor::backend::AutodiffBackend;

    type B = Autodiff<NdArray<f64>>;

    const OPS: [&str; 4] = ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"];

    fn config(reduction: bool, sharing: bool, bottleneck: Option<usize>) -> SearchCellConfig {
        SearchCellConfig {
            topology: CellTopology::DARTS,
            inputs: vec![
                CellInput {
                    channels: 6,
                    halve: false,
                },
                CellInput {
                    channels: 8,
                    halve: false,
                },
            ],
            ops: OPS.iter().map(|s| s.to_string()).collect(),
            channels: 4,
            reduction,
            sharing,
            bottleneck,
            affine: false,
        }
    }

    #[test]
    fn retained_elements_by_hand() {
        let registry = OpRegistry::default();
        let cell = SearchCellConfig {
            topology: CellTopology::new(2, 2),
            ops: vec!["none".into(), "skip_connect".into()],
            ..config(false, true, None)
        };
        // Preprocessing, ReLU-conv-BN at 5x5: 6 -> 4 channels 150 + 100 + 200, 8 -> 4
        // channels 200 + 100 + 200; the identity keeps nothing; two node sums of
        // 4x5x5 and their concatenation, 200 + 200.
        let engine = cell
            .retained_elements(&registry, [5, 5], CellWork::Engine)
            .unwrap();
        assert_eq!(engine, 950 + 200 + 200);
        // A reduction cell: preprocessing at 5x5 as before; the stride-2 skips are
        // factorized reduces (the 4x5x5 input and 4 x 4x3x3 each), on the two input
        // sources (the intermediate one is an identity); nodes and output at 3x3.
        let reduction = SearchCellConfig {
            reduction: true,
            ..cell.clone()
        };
        let fr = 100 + 4 * 36;
        assert_eq!(
            reduction
                .retained_elements(&registry, [5, 5], CellWork::Engine)
                .unwrap(),
            950 + 2 * fr + 2 * 36 + 2 * 36
        );
        // A Transit cell's connections cost the mean over the edges' non-zero
        // candidates: a factorized reduce on the four edges from the inputs, an
        // identity on edge (2, 3), so 4 fr / 5 each.
        let mean = (4 * fr) / 5;
        assert_eq!(
            reduction
                .retained_elements(&registry, [5, 5], CellWork::Pairs(4))
                .unwrap(),
            950 + 4 * mean + 2 * 36 + 2 * 36
        );
    }

    fn input(channels: usize, seed: f64) -> Tensor<B, 4> {
        let values: Vec<f64> = (0..2 * channels * 36)
            .map(|i| (i as f64 * 0.37 + seed).sin())
            .collect();
        Tensor::from_data(
            TensorData::new(values, [2, channels, 6, 6]),
            &Default::default(),
        )
    }

    fn inputs() -> Vec<Tensor<B, 4>> {
        vec![input(6, 0.1), input(8, 0.7)]
    }

    fn values(t: Tensor<B, 4>) -> Vec<f64> {
        t.into_data().to_vec::<f64>().unwrap()
    }

    fn genotype() -> CellGenotype {
        let c = Connection::new;
        CellGenotype {
            inputs: 2,
            nodes: vec![
                vec![c(0, "sep_conv_3x3"), c(1, "skip_connect")],
                vec![c(2, "max_pool_3x3")],
                vec![
                    c(0, "sep_conv_3x3"),
                    c(1, "max_pool_3x3"),
                    c(3, "skip_connect"),
                ],
                vec![c(4, "sep_conv_3x3"), c(2, "sep_conv_3x3")],
            ],
            concat: vec![2, 3, 4, 5],
        }
    }

    /// Coefficients that are 1 exactly on the plan's pairs.
    fn one_hot(plan: &CellPlan) -> Tensor<B, 2> {
        let t = CellTopology::DARTS;
        let mut w = vec![0.0; t.num_edges() * OPS.len()];
        for (offset, pairs) in plan.nodes.iter().enumerate() {
            for &(i, k) in pairs {
                w[t.edge_index(i, offset + 2) * OPS.len() + k] = 1.0;
            }
        }
        Tensor::from_data(
            TensorData::new(w, [t.num_edges(), OPS.len()]),
            &Default::default(),
        )
    }

    struct Trainable(usize);
    impl<Bk: Backend> ModuleVisitor<Bk> for Trainable {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
            if param.val().is_require_grad() {
                self.0 += param.val().shape().num_elements();
            }
        }
    }

    #[test]
    fn output_shapes_for_normal_and_reduction_cells() {
        let registry = OpRegistry::default();
        for (reduction, size) in [(false, 6), (true, 3)] {
            for sharing in [true, false] {
                for bottleneck in [None, Some(2)] {
                    let cell: SearchCell<B> = config(reduction, sharing, bottleneck)
                        .init(&registry, &Default::default())
                        .unwrap();
                    let coefficients = Tensor::ones([14, 4], &Default::default()).div_scalar(4.0);
                    let out = cell.forward_engine(inputs(), &coefficients, None);
                    assert_eq!(out.dims(), [2, 16, size, size]);
                    let plan = CellPlan::from_genotype(
                        &genotype(),
                        &config(reduction, sharing, bottleneck).ops,
                        &CellTopology::DARTS,
                    )
                    .unwrap();
                    assert_eq!(
                        cell.forward_transit(inputs(), &plan).dims(),
                        [2, 16, size, size]
                    );
                }
            }
        }
    }

    #[test]
    fn sharing_holds_one_candidate_set_per_source_node() {
        let registry = OpRegistry::default();
        let shared: SearchCell<B> = config(false, true, None)
            .init(&registry, &Default::default())
            .unwrap();
        let per_edge: SearchCell<B> = config(false, false, None)
            .init(&registry, &Default::default())
            .unwrap();
        assert_eq!(shared.candidates.len(), 5);
        assert_eq!(per_edge.candidates.len(), 14);
        assert!(
            shared
                .candidates
                .iter()
                .all(|g| g[0].is_none() && g[2].is_some())
        );
    }

    #[test]
    fn parameter_count_matches_hand_computation_and_module() {
        let registry = OpRegistry::default();
        // Preprocess 6->4 and 8->4 (1x1): 24 + 32. sep_conv_3x3 on 4 channels: 104.
        // Sharing: 5 source nodes; no sharing: 14 edges.
        for (sharing, expected) in [(true, 56 + 5 * 104), (false, 56 + 14 * 104)] {
            let cfg = config(false, sharing, None);
            assert_eq!(cfg.params(&registry).unwrap(), expected);
            let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
            let mut count = Trainable(0);
            cell.visit(&mut count);
            assert_eq!(count.0 as u64, expected);
        }
        // Bottleneck 2: ops on 2 channels (sep_conv: 2*(18+4) = 44); reduce 4->2 (8) per
        // source node, recover 2->4 (8) per intermediate node.
        let cfg = config(false, true, Some(2));
        assert_eq!(cfg.params(&registry).unwrap(), 56 + 5 * 44 + 5 * 8 + 4 * 8);
    }

    /// Deterministic values of shape `dims`, to weight an output before summing it
    /// (batch-normalised outputs sum to zero whatever the weights).
    fn probe(dims: [usize; 4], seed: f64) -> Tensor<B, 4> {
        let values: Vec<f64> = (0..dims.iter().product::<usize>())
            .map(|i| (i as f64 * 0.53 + seed).cos())
            .collect();
        Tensor::from_data(TensorData::new(values, dims), &Default::default())
    }

    /// The gradient of every float parameter of a module, in visiting order (batch-norm
    /// running statistics are visited too; they never have one).
    struct ParamGrads<'a>(&'a <B as AutodiffBackend>::Gradients, Vec<Option<Vec<f64>>>);
    impl ModuleVisitor<B> for ParamGrads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let grad = param.grad(self.0);
            self.1
                .push(grad.map(|g| g.into_data().to_vec::<f64>().unwrap()));
        }
    }

    /// Output, gradients of the inputs and of every cell parameter after a backward
    /// pass through `forward`.
    type Pass = (Vec<f64>, Vec<Vec<f64>>, Vec<Option<Vec<f64>>>);

    fn pass(cell: &SearchCell<B>, forward: impl FnOnce(Vec<Tensor<B, 4>>) -> Tensor<B, 4>) -> Pass {
        let xs: Vec<Tensor<B, 4>> = inputs().into_iter().map(|x| x.require_grad()).collect();
        let out = forward(xs.clone());
        let weight = probe(out.dims(), 0.4);
        let grads = (out.clone() * weight).sum().backward();
        let input_grads = xs
            .iter()
            .map(|x| x.grad(&grads).unwrap().into_data().to_vec::<f64>().unwrap())
            .collect();
        let mut params = ParamGrads(&grads, Vec::new());
        cell.visit(&mut params);
        (values(out), input_grads, params.1)
    }

    /// Asserts two passes agree; a parameter the one pass never touched (no gradient)
    /// must have an all-zero gradient in the other. Returns how many parameters have a
    /// non-zero gradient in `a`.
    fn assert_same_pass(a: &Pass, b: &Pass) -> usize {
        assert_eq!(a.0.len(), b.0.len());
        for (x, y) in a.0.iter().zip(&b.0) {
            assert_relative_eq!(x, y, epsilon = 1e-9);
        }
        for (ga, gb) in a.1.iter().zip(&b.1) {
            for (x, y) in ga.iter().zip(gb) {
                assert_relative_eq!(x, y, epsilon = 1e-9);
            }
        }
        assert_eq!(a.2.len(), b.2.len());
        let mut moved = 0;
        for (ga, gb) in a.2.iter().zip(&b.2) {
            match (ga, gb) {
                (Some(ga), Some(gb)) => {
                    for (x, y) in ga.iter().zip(gb) {
                        assert_relative_eq!(x, y, epsilon = 1e-9);
                    }
                }
                (Some(g), None) | (None, Some(g)) => assert!(g.iter().all(|v| *v == 0.0)),
                (None, None) => {}
            }
            moved += usize::from(ga.as_ref().is_some_and(|g| g.iter().any(|v| *v != 0.0)));
        }
        moved
    }

    #[test]
    fn engine_with_one_hot_coefficients_equals_transit() {
        let registry = OpRegistry::default();
        for reduction in [false, true] {
            for sharing in [true, false] {
                for bottleneck in [None, Some(2)] {
                    let cfg = config(reduction, sharing, bottleneck);
                    let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
                    let plan = CellPlan::from_genotype(&genotype(), &cfg.ops, &CellTopology::DARTS)
                        .unwrap();
                    let transit = pass(&cell, |x| cell.forward_transit(x, &plan));
                    let engine = pass(&cell, |x| cell.forward_engine(x, &one_hot(&plan), None));
                    let dst = pass(&cell, |x| {
                        cell.forward_engine(x, &one_hot(&plan), Some(&plan))
                    });
                    // Values, input gradients and every weight gradient agree.
                    let moved = assert_same_pass(&transit, &engine);
                    assert_same_pass(&transit, &dst);
                    // Preprocessing and the selected candidates (and the bottleneck)
                    // receive gradients: the comparison is not between empty sets.
                    assert!(moved >= 2 + 4, "{moved} parameters moved");
                    // Sanity: a different plan gives a different output.
                    let mut other = plan.clone();
                    other.nodes[0][0].1 = 3;
                    let changed = values(cell.forward_transit(inputs(), &other));
                    assert!(
                        changed
                            .iter()
                            .zip(&transit.0)
                            .any(|(a, b)| (a - b).abs() > 1e-6)
                    );
                }
            }
        }
    }

    #[test]
    fn transit_executes_exactly_the_selected_ops() {
        let registry = OpRegistry::default();
        // The genotype has 8 connections; with sharing, (0, sep_conv_3x3) feeds nodes 2
        // and 4 from one evaluation, so 7 evaluations.
        for (sharing, evaluations) in [(true, 7), (false, 8)] {
            let cfg = config(false, sharing, Some(2));
            let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
            let plan =
                CellPlan::from_genotype(&genotype(), &cfg.ops, &CellTopology::DARTS).unwrap();
            let (_, count) = cell.forward_transit_counted(inputs(), &plan);
            assert_eq!(
                count,
                OpCount {
                    evaluations,
                    terms: 8,
                    cells: 1
                }
            );
        }
        // A `none` connection is never executed, and is not a term.
        let cfg = config(false, false, None);
        let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
        let mut g = genotype();
        g.nodes[1].push(Connection::new(0, "none"));
        let plan = CellPlan::from_genotype(&g, &cfg.ops, &CellTopology::DARTS).unwrap();
        let (_, count) = cell.forward_transit_counted(inputs(), &plan);
        assert_eq!((count.evaluations, count.terms), (8, 8));
    }

    #[test]
    fn shared_features_run_each_source_op_once_per_cell_not_once_per_edge() {
        let registry = OpRegistry::default();
        let coefficients = Tensor::<B, 2>::ones([14, 4], &Default::default()).div_scalar(4.0);
        // 3 candidates besides `none`, 14 edges leaving 5 source nodes.
        for (sharing, evaluations) in [(true, 5 * 3), (false, 14 * 3)] {
            for reduction in [false, true] {
                let cell: SearchCell<B> = config(reduction, sharing, None)
                    .init(&registry, &Default::default())
                    .unwrap();
                let (_, count) = cell.forward_engine_counted(inputs(), &coefficients, None);
                assert_eq!(
                    count,
                    OpCount {
                        evaluations,
                        terms: 14 * 3,
                        cells: 1
                    }
                );
            }
        }
    }

    #[test]
    fn dst_engine_skips_terms_with_zero_coefficients() {
        let registry = OpRegistry::default();
        let cfg = config(false, true, None);
        let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
        let plan = CellPlan::from_genotype(&genotype(), &cfg.ops, &CellTopology::DARTS).unwrap();
        // Coefficients that are positive and unequal exactly on the plan's pairs.
        let t = CellTopology::DARTS;
        let mut q = vec![0.0; 14 * 4];
        for (offset, pairs) in plan.nodes.iter().enumerate() {
            for (n, &(i, k)) in pairs.iter().enumerate() {
                q[t.edge_index(i, offset + 2) * 4 + k] = 0.3 + 0.2 * n as f64;
            }
        }
        let q = Tensor::<B, 2>::from_data(TensorData::new(q, [14, 4]), &Default::default());
        let (sparse, sparse_count) = cell.forward_engine_counted(inputs(), &q, Some(&plan));
        let (dense, dense_count) = cell.forward_engine_counted(inputs(), &q, None);
        // Only the 8 non-zero terms ran (7 evaluations: one shared output is reused)...
        assert_eq!((sparse_count.terms, sparse_count.evaluations), (8, 7));
        assert_eq!(
            (dense_count.terms, dense_count.evaluations),
            (14 * 3, 5 * 3)
        );
        // ... and the skipped terms contributed nothing.
        for (a, b) in values(sparse).iter().zip(&values(dense)) {
            assert_relative_eq!(a, b, epsilon = 1e-9);
        }
    }

    #[test]
    fn counts_add_up() {
        let registry = OpRegistry::default();
        let cfg = config(false, true, None);
        let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
        let plan = CellPlan::from_genotype(&genotype(), &cfg.ops, &CellTopology::DARTS).unwrap();
        let (_, engine) = cell.forward_engine_counted(inputs(), &one_hot(&plan), None);
        let (_, transit) = cell.forward_transit_counted(inputs(), &plan);
        assert_eq!(
            transit,
            OpCount {
                evaluations: 7,
                terms: 8,
                cells: 1,
            }
        );
        assert_eq!(engine.evaluations, 15);
        let mut total = OpCount::default();
        total += engine;
        total += transit;
        assert_eq!(
            total,
            OpCount {
                evaluations: 22,
                terms: engine.terms + 8,
                cells: 2,
            }
        );
    }

    #[test]
    fn transit_never_touches_unselected_candidates() {
        let registry = OpRegistry::default();
        let cfg = config(false, true, None);
        let cell: SearchCell<B> = cfg.init(&registry, &Default::default()).unwrap();
        let plan = CellPlan::from_genotype(&genotype(), &cfg.ops, &CellTopology::DARTS).unwrap();
        let grads = cell.forward_transit(inputs(), &plan).sum().backward();
        let sep = 2;
        let has_grad = |source: usize| {
            let op = cell.candidates[source][sep].as_ref().unwrap();
            let mut any = false;
            for layer in &op.layers {
                if let entrannas_ops::Layer::Conv(c) = layer {
                    any |= c.weight.grad(&grads).is_some();
                }
            }
            any
        };
        // sep_conv_3x3 is selected from nodes 0, 4 and 2 only.
        assert!(has_grad(0) && has_grad(2) && has_grad(4));
        assert!(!has_grad(1) && !has_grad(3));
    }

    #[test]
    fn engine_gradients_reach_the_coefficients() {
        let registry = OpRegistry::default();
        let cell: SearchCell<B> = config(false, true, None)
            .init(&registry, &Default::default())
            .unwrap();
        let coefficients = Tensor::<B, 2>::ones([14, 4], &Default::default()).require_grad();
        // Not a plain sum: batch-normalised outputs sum to zero whatever the weights.
        let out = cell.forward_engine(inputs(), &coefficients, None);
        let grads = (out * input(16, 0.3)).sum().backward();
        let g = coefficients
            .grad(&grads)
            .unwrap()
            .into_data()
            .to_vec::<f64>()
            .unwrap();
        assert!(g.iter().all(|v| v.is_finite()));
        // Column 0 is `none`: never computed, zero gradient. The others move.
        for e in 0..14 {
            assert_eq!(g[e * 4], 0.0);
            assert!(g[e * 4 + 2] != 0.0);
        }
    }

    #[test]
    fn plans_reject_ops_and_inputs_that_do_not_fit() {
        let ops: Vec<String> = OPS.iter().map(|s| s.to_string()).collect();
        let mut g = genotype();
        g.nodes[1][0].op = "dil_conv_5x5".into();
        let err = CellPlan::from_genotype(&g, &ops, &CellTopology::DARTS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dil_conv_5x5") && err.contains("sep_conv_3x3"),
            "{err}"
        );
        let mut g = genotype();
        g.nodes[0][0].input = 2;
        assert!(CellPlan::from_genotype(&g, &ops, &CellTopology::DARTS).is_err());
        let mut g = genotype();
        g.nodes.pop();
        assert!(CellPlan::from_genotype(&g, &ops, &CellTopology::DARTS).is_err());
    }
}
