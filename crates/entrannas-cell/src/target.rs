//! The target-net of a genotype as data: DARTS's `NetworkCIFAR` / `NetworkImageNet`
//! layout, every layer of every cell, and the parameter and multiply-add counts,
//! computed without building a tensor (the search reports them every epoch; the
//! evaluation crate builds its modules from the same [`TargetPlan`]).
//!
//! Layout (DARTS `cnn/model.py`):
//! - CIFAR stem: conv3x3 (image channels -> `3C`), BN. ImageNet stems: conv3x3 s2
//!   (-> `C/2`), BN, ReLU, conv3x3 s2 (-> `C`), BN; then ReLU, conv3x3 s2, BN; the
//!   first cell treats its older input as coming from a reduction.
//! - `L` cells; cells `L/3` and `2L/3` are reduction cells and double `C`.
//!   Preprocessing: a factorized reduce of the older input when the previous cell
//!   reduced, ReLU-Conv1x1-BN otherwise; ReLU-Conv1x1-BN of the newer input. An
//!   operation on a cell input of a reduction cell has stride 2. A node is the plain
//!   sum of its operations; the output concatenates the `concat` nodes.
//! - Global average pooling and a linear classifier; the auxiliary head (training
//!   only) reads the output of cell `2L/3`.
//!
//! Only what the output depends on exists **(ours)**: nodes that neither `concat` nor
//! a later used node reads, and the preprocessing of a cell input no used node reads,
//! are left out, as are `none` connections (they add zeros). DARTS genotypes use
//! every node and both inputs, so their counts are DARTS's.
//!
//! Counts: parameters are trainable weights (batch-norm running statistics and the
//! auxiliary head excluded, as DARTS reports them); FLOPs are the multiply-adds of the
//! convolutions and the classifier at the spec's input size.

use core::fmt;
use core::str::FromStr;

use entrannas_ops::recipes::{factorized_reduce, relu_conv_bn};
use entrannas_ops::{
    ConvSpec, LayerSpec, OpRegistry, OpSpec, OpsError, sequence_cost, sequence_retained,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::GenotypeError;
use crate::genotype::{CellGenotype, CellKind, Genotype};

/// Channels of the auxiliary head's last convolution (DARTS: 768).
pub const AUXILIARY_CHANNELS: usize = 768;

/// What can go wrong laying out a target-net.
#[derive(Debug, Error)]
pub enum TargetError {
    /// A spec that describes no network (zero classes, channels, cells, pixels).
    #[error("invalid target-net spec: {0}")]
    Spec(String),
    /// A layout name that is neither `cifar` nor `imagenet`.
    #[error("unknown target-net layout `{0}`; valid layouts: cifar, imagenet")]
    UnknownLayout(String),
    /// The genotype's structure is invalid.
    #[error(transparent)]
    Genotype(#[from] GenotypeError),
    /// A cell whose number of inputs the target-net cannot feed.
    #[error(
        "{cell} cell has {inputs} inputs; a target-net feeds every cell the outputs of the two previous cells, so it needs 2"
    )]
    Inputs {
        /// The cell.
        cell: CellKind,
        /// Its number of inputs.
        inputs: usize,
    },
    /// An operation could not be instantiated.
    #[error("{cell} cell, node {node}: {source}")]
    Op {
        /// The cell.
        cell: CellKind,
        /// The node the connection enters (DARTS numbering).
        node: usize,
        /// The operation layer's error.
        source: OpsError,
    },
    /// A node that cannot be computed (only `none` connections, shapes that differ).
    #[error("{cell} cell, node {node}: {message}")]
    Node {
        /// The cell.
        cell: CellKind,
        /// The node (DARTS numbering).
        node: usize,
        /// What is wrong.
        message: String,
    },
}

/// The stem and cell layout of a target-net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLayout {
    /// DARTS's `NetworkCIFAR`: one 3x3 convolution to `3C`, full resolution.
    Cifar,
    /// DARTS's `NetworkImageNet`: three stride-2 3x3 convolutions (224 -> 28).
    Imagenet,
}

impl TargetLayout {
    /// Every layout, in the order the CLI lists them.
    pub const ALL: [TargetLayout; 2] = [TargetLayout::Cifar, TargetLayout::Imagenet];

    /// `cifar` or `imagenet`.
    pub fn name(self) -> &'static str {
        match self {
            TargetLayout::Cifar => "cifar",
            TargetLayout::Imagenet => "imagenet",
        }
    }

    /// The paper's initial channels `C`: 36 (CIFAR), 48 (ImageNet).
    pub fn default_channels(self) -> usize {
        match self {
            TargetLayout::Cifar => 36,
            TargetLayout::Imagenet => 48,
        }
    }

    /// The paper's number of cells `L`: 20 (CIFAR), 14 (ImageNet).
    pub fn default_layers(self) -> usize {
        match self {
            TargetLayout::Cifar => 20,
            TargetLayout::Imagenet => 14,
        }
    }
}

impl fmt::Display for TargetLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TargetLayout {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cifar" => Ok(TargetLayout::Cifar),
            "imagenet" => Ok(TargetLayout::Imagenet),
            _ => Err(TargetError::UnknownLayout(s.to_string())),
        }
    }
}

/// The shape of a target-net: what, with a genotype, determines every layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetNetSpec {
    /// Stem and cell layout.
    pub layout: TargetLayout,
    /// Image channels (1 for Fashion-MNIST, 3 for CIFAR and ImageNet).
    pub input_channels: usize,
    /// Image height and width.
    pub image_size: [usize; 2],
    /// Number of classes.
    pub classes: usize,
    /// Initial channels `C`.
    pub channels: usize,
    /// Number of cells `L`.
    pub layers: usize,
    /// Whether the net has an auxiliary head after cell `2L/3` (training only).
    pub auxiliary: bool,
}

impl TargetNetSpec {
    /// The paper's CIFAR target-net: 3x32x32 images, `C = 36`, `L = 20`, auxiliary head.
    pub fn cifar(classes: usize) -> Self {
        Self::for_shape(TargetLayout::Cifar, [3, 32, 32], classes)
    }

    /// The paper's ImageNet target-net: 3x224x224 images, `C = 48`, `L = 14`,
    /// auxiliary head.
    pub fn imagenet(classes: usize) -> Self {
        Self::for_shape(TargetLayout::Imagenet, [3, 224, 224], classes)
    }

    /// The layout's paper defaults (`C`, `L`, auxiliary head) for images of
    /// `[channels, height, width]` and `classes` classes (a dataset's shape).
    pub fn for_shape(
        layout: TargetLayout,
        [channels, height, width]: [usize; 3],
        classes: usize,
    ) -> Self {
        Self {
            layout,
            input_channels: channels,
            image_size: [height, width],
            classes,
            channels: layout.default_channels(),
            layers: layout.default_layers(),
            auxiliary: true,
        }
    }

    /// The same spec with initial channels `C`.
    pub fn with_channels(mut self, channels: usize) -> Self {
        self.channels = channels;
        self
    }

    /// The same spec with `L` cells.
    pub fn with_layers(mut self, layers: usize) -> Self {
        self.layers = layers;
        self
    }

    /// The same spec with or without the auxiliary head.
    pub fn with_auxiliary(mut self, auxiliary: bool) -> Self {
        self.auxiliary = auxiliary;
        self
    }

    /// `[channels, height, width]` of an input image.
    pub fn input_shape(&self) -> [usize; 3] {
        [self.input_channels, self.image_size[0], self.image_size[1]]
    }

    /// Which cells are reduction cells: `L/3` and `2L/3`.
    pub fn reductions(&self) -> Vec<bool> {
        let l = self.layers;
        (0..l).map(|i| i == l / 3 || i == 2 * l / 3).collect()
    }

    /// The cell whose output the auxiliary head reads: `2L/3`.
    pub fn auxiliary_after(&self) -> usize {
        2 * self.layers / 3
    }

    /// Checks that the spec describes a network.
    pub fn validate(&self) -> Result<(), TargetError> {
        let fields = [
            ("image channels", self.input_channels),
            ("image height", self.image_size[0]),
            ("image width", self.image_size[1]),
            ("classes", self.classes),
            ("channels C", self.channels),
            ("cells L", self.layers),
        ];
        match fields.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(TargetError::Spec(format!("{name} must be at least 1"))),
            None => Ok(()),
        }
    }

    fn stems(&self) -> (Vec<LayerSpec>, Option<Vec<LayerSpec>>) {
        let c = self.channels;
        let conv =
            |cin, cout, stride| LayerSpec::Conv(ConvSpec::square(cin, cout, 3, stride, 1, 1));
        let norm = |channels| LayerSpec::Norm {
            channels,
            affine: true,
        };
        match self.layout {
            TargetLayout::Cifar => (vec![conv(self.input_channels, 3 * c, 1), norm(3 * c)], None),
            TargetLayout::Imagenet => {
                let half = (c / 2).max(1);
                (
                    vec![
                        conv(self.input_channels, half, 2),
                        norm(half),
                        LayerSpec::Relu,
                        conv(half, c, 2),
                        norm(c),
                    ],
                    Some(vec![LayerSpec::Relu, conv(c, c, 2), norm(c)]),
                )
            }
        }
    }

    /// Lays out every layer of the target-net of `genotype`.
    ///
    /// # Errors
    /// An invalid spec or genotype structure, a cell without exactly 2 inputs, an
    /// operation the registry does not know or cannot build, a node with only `none`
    /// connections or whose operations give different shapes.
    pub fn plan(
        &self,
        genotype: &Genotype,
        registry: &OpRegistry,
    ) -> Result<TargetPlan, TargetError> {
        self.validate()?;
        genotype.validate_structure()?;
        for (cell, g) in genotype.cells() {
            if g.inputs != 2 {
                return Err(TargetError::Inputs {
                    cell,
                    inputs: g.inputs,
                });
            }
        }
        let (stem0, stem1) = self.stems();
        let stem0_out = sequence_cost(&stem0, self.input_shape()).output;
        let (mut s0, mut s1) = match &stem1 {
            Some(stem1) => (stem0_out, sequence_cost(stem1, stem0_out).output),
            None => (stem0_out, stem0_out),
        };
        let mut reduction_prev = self.layout == TargetLayout::Imagenet;
        let mut channels = self.channels;
        let mut cells = Vec::with_capacity(self.layers);
        let mut auxiliary = None;
        for (index, reduction) in self.reductions().into_iter().enumerate() {
            if reduction {
                channels *= 2;
            }
            let kind = if reduction {
                CellKind::Reduce
            } else {
                CellKind::Normal
            };
            let cell = CellLayout {
                kind,
                inputs: [s0, s1],
                channels,
                reduction_prev,
            }
            .plan(genotype.cell(kind), registry)?;
            s0 = s1;
            s1 = cell.output;
            reduction_prev = reduction;
            cells.push(cell);
            if self.auxiliary && index == self.auxiliary_after() {
                auxiliary = Some(AuxiliaryPlan::new(self.layout, s1, index));
            }
        }
        Ok(TargetPlan {
            input_shape: self.input_shape(),
            stem0,
            stem1,
            cells,
            auxiliary,
            features: s1[0],
            classes: self.classes,
        })
    }
}

/// One connection of a target cell: operation `op` on node `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConnection {
    /// The source node (0 and 1 are the preprocessed cell inputs).
    pub input: usize,
    /// The operation's name.
    pub op: String,
    /// Its layers (affine batch norm, stride 2 on a reduction cell's inputs).
    pub layers: Vec<LayerSpec>,
    /// Shape `[channels, height, width]` of the source node.
    pub input_shape: [usize; 3],
}

impl TargetConnection {
    /// Whether the operation is the identity (DARTS applies no drop-path to it).
    pub fn is_identity(&self) -> bool {
        self.layers.iter().all(|l| *l == LayerSpec::Identity)
    }
}

/// One cell of a target-net, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCellPlan {
    /// Normal or reduction cell.
    pub kind: CellKind,
    /// Shapes of the two inputs (outputs of cells `k-2` and `k-1`).
    pub inputs: [[usize; 3]; 2],
    /// Preprocessing of each input; `None` when no used node reads that input.
    pub preprocess: [Option<Vec<LayerSpec>>; 2],
    /// Per intermediate node, its connections; empty for a node the output does not
    /// depend on, which is never computed.
    pub nodes: Vec<Vec<TargetConnection>>,
    /// Nodes concatenated into the output.
    pub concat: Vec<usize>,
    /// Output shape.
    pub output: [usize; 3],
}

/// The auxiliary head, as data: DARTS's `AuxiliaryHeadCIFAR` / `AuxiliaryHeadImageNet`
/// (ReLU, 5x5 average pool with stride 3 / 2, conv1x1 to 128, BN, ReLU, conv2x2 to
/// 768, BN (CIFAR only, as DARTS's ImageNet experiments), ReLU), then global average
/// pooling and a linear classifier. On inputs smaller than DARTS's (8x8 CIFAR, 7x7
/// ImageNet) the pool and the last convolution shrink to fit **(ours)**; on larger
/// ones the global pooling averages what is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuxiliaryPlan {
    /// The cell whose output the head reads.
    pub after: usize,
    /// Shape of that output.
    pub input: [usize; 3],
    /// The layers before global pooling.
    pub features: Vec<LayerSpec>,
    /// Channels after them (the classifier's input).
    pub channels: usize,
}

impl AuxiliaryPlan {
    fn new(layout: TargetLayout, input: [usize; 3], after: usize) -> Self {
        let [c, h, w] = input;
        let kernel = 5.min(h.min(w)).max(1);
        let stride = match layout {
            TargetLayout::Cifar => 3,
            TargetLayout::Imagenet => 2,
        };
        let mut features = vec![
            LayerSpec::Relu,
            LayerSpec::AvgPool {
                kernel,
                stride,
                padding: 0,
            },
            LayerSpec::Conv(ConvSpec::square(c, 128, 1, 1, 0, 1)),
            LayerSpec::Norm {
                channels: 128,
                affine: true,
            },
            LayerSpec::Relu,
        ];
        let [_, ph, pw] = sequence_cost(&features, input).output;
        let kernel = 2.min(ph.min(pw)).max(1);
        features.push(LayerSpec::Conv(ConvSpec::square(
            128,
            AUXILIARY_CHANNELS,
            kernel,
            1,
            0,
            1,
        )));
        if layout == TargetLayout::Cifar {
            features.push(LayerSpec::Norm {
                channels: AUXILIARY_CHANNELS,
                affine: true,
            });
        }
        features.push(LayerSpec::Relu);
        Self {
            after,
            input,
            features,
            channels: AUXILIARY_CHANNELS,
        }
    }
}

/// Every layer of a target-net, as data ([`TargetNetSpec::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPlan {
    /// Image shape `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// The stem producing the first cell's inputs (CIFAR: both).
    pub stem0: Vec<LayerSpec>,
    /// ImageNet: the second stem stage, producing the first cell's newer input.
    pub stem1: Option<Vec<LayerSpec>>,
    /// The cells, in order.
    pub cells: Vec<TargetCellPlan>,
    /// The auxiliary head, if the spec asks for one.
    pub auxiliary: Option<AuxiliaryPlan>,
    /// Channels of the last cell's output (the classifier's input).
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
}

/// Size of a target-net ([`target_net_cost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TargetCost {
    /// Trainable parameters, auxiliary head and batch-norm running statistics excluded.
    pub params: u64,
    /// Multiply-adds of one image through stem, cells and classifier.
    pub flops: u64,
    /// Trainable parameters of the auxiliary head (0 without one).
    pub auxiliary_params: u64,
}

impl TargetPlan {
    /// Parameters and multiply-adds.
    pub fn cost(&self) -> TargetCost {
        let mut params = 0;
        let mut flops = 0;
        let mut add = |layers: &[LayerSpec], input: [usize; 3]| {
            let cost = sequence_cost(layers, input);
            params += cost.params;
            flops += cost.flops;
            cost.output
        };
        let stem0_out = add(&self.stem0, self.input_shape);
        if let Some(stem1) = &self.stem1 {
            add(stem1, stem0_out);
        }
        for cell in &self.cells {
            for (layers, &input) in cell.preprocess.iter().zip(&cell.inputs) {
                if let Some(layers) = layers {
                    add(layers, input);
                }
            }
            for connection in cell.nodes.iter().flatten() {
                add(&connection.layers, connection.input_shape);
            }
        }
        let classifier = (self.features * self.classes) as u64;
        let auxiliary_params = self.auxiliary.as_ref().map_or(0, |aux| {
            sequence_cost(&aux.features, aux.input).params
                + (aux.channels * self.classes + self.classes) as u64
        });
        TargetCost {
            params: params + classifier + self.classes as u64,
            flops: flops + classifier,
            auxiliary_params,
        }
    }
}

impl TargetPlan {
    /// Activation elements per image that one training forward keeps for backward
    /// ([`LayerSpec::retained_elements`] of the stems, of every cell's preprocessing and
    /// connections, and of the auxiliary head), plus each computed node's sum once (it
    /// stays alive for the concatenation and the later cells that read it). Drop-path
    /// masks (one value per image) and the classifier's pooled features are too small
    /// to count. The unit of `entrannas-eval`'s training memory estimate.
    pub fn retained_elements(&self) -> u64 {
        let (mut total, stem0_out) = sequence_retained(&self.stem0, self.input_shape);
        if let Some(stem1) = &self.stem1 {
            total += sequence_retained(stem1, stem0_out).0;
        }
        for cell in &self.cells {
            for (layers, &input) in cell.preprocess.iter().zip(&cell.inputs) {
                if let Some(layers) = layers {
                    total += sequence_retained(layers, input).0;
                }
            }
            let [channels, height, width] = cell.output;
            let node = (channels / cell.concat.len().max(1) * height * width) as u64;
            for connections in &cell.nodes {
                if !connections.is_empty() {
                    total += node;
                }
                for connection in connections {
                    total += sequence_retained(&connection.layers, connection.input_shape).0;
                }
            }
        }
        if let Some(aux) = &self.auxiliary {
            total += sequence_retained(&aux.features, aux.input).0;
        }
        total
    }
}

/// Parameters and multiply-adds of the target-net of `genotype` (see the module
/// documentation for what is counted), without building it.
///
/// # Errors
/// As [`TargetNetSpec::plan`].
pub fn target_net_cost(
    genotype: &Genotype,
    spec: &TargetNetSpec,
    registry: &OpRegistry,
) -> Result<TargetCost, TargetError> {
    Ok(spec.plan(genotype, registry)?.cost())
}

/// Where a cell sits: what it needs to lay out its layers.
struct CellLayout {
    kind: CellKind,
    inputs: [[usize; 3]; 2],
    channels: usize,
    reduction_prev: bool,
}

impl CellLayout {
    fn plan(
        &self,
        cell: &CellGenotype,
        registry: &OpRegistry,
    ) -> Result<TargetCellPlan, TargetError> {
        let c = self.channels;
        let reduction = self.kind == CellKind::Reduce;
        let used = used_nodes(cell, registry);
        let preprocess_layers = [
            if self.reduction_prev {
                factorized_reduce(self.inputs[0][0], c, true)
            } else {
                relu_conv_bn(self.inputs[0][0], c, 1, 1, 0, true)
            },
            relu_conv_bn(self.inputs[1][0], c, 1, 1, 0, true),
        ];
        // Shapes of every node, preprocessed inputs first.
        let mut shapes: Vec<[usize; 3]> = preprocess_layers
            .iter()
            .zip(&self.inputs)
            .map(|(layers, &input)| sequence_cost(layers, input).output)
            .collect();
        let [_, h, w] = shapes[1];
        let stride = if reduction { 2 } else { 1 };
        let node_shape = [c, h.div_ceil(stride), w.div_ceil(stride)];
        let mut nodes = Vec::with_capacity(cell.nodes.len());
        for (offset, connections) in cell.nodes.iter().enumerate() {
            let node = cell.inputs + offset;
            let mut planned = Vec::new();
            if used[node] {
                for conn in connections.iter().filter(|c| !registry.is_zero(&c.op)) {
                    let stride = if reduction && conn.input < cell.inputs {
                        2
                    } else {
                        1
                    };
                    let layers = registry
                        .layers(&conn.op, &OpSpec::eval(c, stride))
                        .map_err(|source| TargetError::Op {
                            cell: self.kind,
                            node,
                            source,
                        })?;
                    let input_shape = shapes[conn.input];
                    let out = sequence_cost(&layers, input_shape).output;
                    if out != node_shape {
                        return Err(TargetError::Node {
                            cell: self.kind,
                            node,
                            message: format!(
                                "operation `{}` on node {} gives shape {out:?}, the node needs {node_shape:?}",
                                conn.op, conn.input
                            ),
                        });
                    }
                    planned.push(TargetConnection {
                        input: conn.input,
                        op: conn.op.clone(),
                        layers,
                        input_shape,
                    });
                }
                if planned.is_empty() {
                    return Err(TargetError::Node {
                        cell: self.kind,
                        node,
                        message: "only `none` connections: the node is always zero".into(),
                    });
                }
            }
            shapes.push(node_shape);
            nodes.push(planned);
        }
        let [first, second] = preprocess_layers;
        Ok(TargetCellPlan {
            kind: self.kind,
            inputs: self.inputs,
            preprocess: [used[0].then_some(first), used[1].then_some(second)],
            nodes,
            concat: cell.concat.clone(),
            output: [cell.concat.len() * c, node_shape[1], node_shape[2]],
        })
    }
}

/// Which nodes the cell output depends on: the `concat` nodes and, backwards, every
/// node a used node reads through a non-`none` connection.
fn used_nodes(cell: &CellGenotype, registry: &OpRegistry) -> Vec<bool> {
    let mut used = vec![false; cell.num_nodes()];
    for &n in &cell.concat {
        used[n] = true;
    }
    for (offset, connections) in cell.nodes.iter().enumerate().rev() {
        if used[cell.inputs + offset] {
            for c in connections.iter().filter(|c| !registry.is_zero(&c.op)) {
                used[c.input] = true;
            }
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::darts_v2;
    use crate::genotype::Connection;

    fn cost(genotype: &Genotype, spec: &TargetNetSpec) -> TargetCost {
        target_net_cost(genotype, spec, &OpRegistry::default()).unwrap()
    }

    /// A genotype whose nodes each take `per_node` connections (DST-style), cycling
    /// through ops and earlier nodes.
    fn dst(per_node: usize) -> Genotype {
        let ops = [
            "sep_conv_3x3",
            "skip_connect",
            "max_pool_3x3",
            "dil_conv_5x5",
            "avg_pool_3x3",
        ];
        let cell = |shift: usize| CellGenotype {
            inputs: 2,
            nodes: (2..6)
                .map(|node| {
                    (0..per_node)
                        .map(|k| {
                            Connection::new((k + shift) % node, ops[(k + node + shift) % ops.len()])
                        })
                        .collect()
                })
                .collect(),
            concat: vec![2, 3, 4, 5],
        };
        Genotype {
            normal: cell(0),
            reduce: cell(1),
        }
    }

    #[test]
    fn darts_v2_on_cifar10_has_darts_parameter_count() {
        // DARTS's own code counts 3,349,342 (auxiliary head excluded): stem 3,132,
        // preprocessing 1,361,232, normal-cell ops 1,979,208 (reduction cells are
        // pools and identities), classifier 5,770.
        let spec = TargetNetSpec::cifar(10);
        assert_eq!((spec.channels, spec.layers), (36, 20));
        let c = cost(&darts_v2(), &spec);
        assert_eq!(c.params, 3_349_342);
        // Auxiliary head on 576 channels: 576*128 + 256 + 128*768*4 + 1536 + 7690.
        assert_eq!(c.auxiliary_params, 73_728 + 256 + 393_216 + 1_536 + 7_690);
        // Convolutions and classifier counted by hand, layer by layer: the 528 M
        // multiply-adds usually quoted for DARTS on CIFAR-10.
        assert_eq!(c.flops, 528_359_040);
        let without = cost(&darts_v2(), &spec.clone().with_auxiliary(false));
        assert_eq!((without.params, without.flops), (c.params, c.flops));
        assert_eq!(without.auxiliary_params, 0);
    }

    #[test]
    fn darts_v2_on_imagenet_matches_a_hand_count() {
        // DARTS (Table 3) reports 4.7 M parameters and 574 M multiply-adds; its FLOP
        // counter is unpublished, and others measure 523-545 M for the same net
        // (quark0/darts issue 46). Convolutions and classifier counted by hand:
        let c = cost(&darts_v2(), &TargetNetSpec::imagenet(1000));
        assert_eq!(c.params, 4_718_752);
        assert_eq!(c.flops, 529_911_552);
    }

    #[test]
    fn a_tiny_net_matches_a_hand_count() {
        // 1x4x4 image, C = 2, L = 1: the only cell is a reduction cell (C doubles to 4).
        // Stem: conv 1->6 3x3 (54 weights, 54*16 MACs), BN 12.
        // Cell: preprocess1 only (input 0 unused): conv 6->4 (24, 24*16 MACs), BN 8.
        // Node 2 = max_pool(1) at stride 2 (2x2), node 3 = sep_conv_3x3(2) at stride 1
        // on 2x2: (dw 36 + pw 16 + BN 8) twice = 120 weights, (36 + 16) * 4 * 2 MACs.
        // Output concat [3]: 4 channels; classifier 4*3 + 3.
        let cell = CellGenotype {
            inputs: 2,
            nodes: vec![
                vec![Connection::new(1, "max_pool_3x3")],
                vec![
                    Connection::new(2, "sep_conv_3x3"),
                    Connection::new(2, "none"),
                ],
            ],
            concat: vec![3],
        };
        let genotype = Genotype {
            normal: cell.clone(),
            reduce: cell,
        };
        let spec = TargetNetSpec::for_shape(TargetLayout::Cifar, [1, 4, 4], 3)
            .with_channels(2)
            .with_layers(1)
            .with_auxiliary(false);
        let plan = spec.plan(&genotype, &OpRegistry::default()).unwrap();
        assert!(plan.cells[0].preprocess[0].is_none());
        assert_eq!(plan.cells[0].output, [4, 2, 2]);
        let c = plan.cost();
        assert_eq!(c.params, 54 + 12 + 24 + 8 + 120 + 15);
        assert_eq!(c.flops, 54 * 16 + 24 * 16 + 52 * 4 * 2 + 12);
        // Kept for backward, per image: stem conv output 96 and BN 2 x 96; preprocess
        // ReLU 96, conv 64, BN 2 x 64; max pool 3 x 16 (output and indices); the
        // separable convolution twice ReLU 16, depthwise 16, pointwise 16, BN 2 x 16;
        // the zero op nothing; each of the two nodes' sums 16.
        assert_eq!(
            plan.retained_elements(),
            (96 + 192) + (96 + 64 + 128) + 48 + 2 * 80 + 2 * 16
        );
        let with_head = spec
            .with_auxiliary(true)
            .plan(&genotype, &OpRegistry::default());
        let with_head = with_head.unwrap();
        assert!(with_head.retained_elements() > plan.retained_elements());
    }

    #[test]
    fn dst_cells_with_any_number_of_connections_per_node() {
        let spec = TargetNetSpec::cifar(10).with_channels(8).with_layers(5);
        let mut last = 0;
        for per_node in 1..=5 {
            let c = cost(&dst(per_node), &spec);
            assert!(c.params > last, "{per_node}: {} <= {last}", c.params);
            last = c.params;
        }
    }

    #[test]
    fn unused_nodes_and_inputs_are_not_counted() {
        let spec = TargetNetSpec::cifar(10).with_channels(8).with_layers(3);
        let mut g = darts_v2();
        let full = cost(&g, &spec);
        // Node 5 (dil_conv_3x3 from node 2, skip from 0) leaves the normal output.
        g.normal.concat = vec![2, 3, 4];
        let plan = spec.plan(&g, &OpRegistry::default()).unwrap();
        assert!(plan.cells[0].nodes[3].is_empty());
        let fewer = plan.cost();
        assert!(fewer.params < full.params);
        assert_eq!(plan.cells[0].output[0], 3 * 8);
    }

    #[test]
    fn imagenet_layout_takes_224_to_28_before_the_cells() {
        let spec = TargetNetSpec::imagenet(5).with_channels(4).with_layers(3);
        let plan = spec.plan(&darts_v2(), &OpRegistry::default()).unwrap();
        assert_eq!(plan.cells[0].inputs, [[4, 56, 56], [4, 28, 28]]);
        // The first cell halves its older input.
        assert!(matches!(
            plan.cells[0].preprocess[0].as_deref(),
            Some([LayerSpec::FactorizedReduce { .. }])
        ));
        assert_eq!(plan.cells[2].output, [4 * 16, 7, 7]);
        let aux = plan.auxiliary.unwrap();
        assert_eq!((aux.after, aux.input), (2, [64, 7, 7]));
    }

    #[test]
    fn bad_specs_and_genotypes_are_errors() {
        let registry = OpRegistry::default();
        let spec = TargetNetSpec::cifar(10);
        let err = spec
            .clone()
            .with_layers(0)
            .plan(&darts_v2(), &registry)
            .unwrap_err();
        assert!(err.to_string().contains("cells L"), "{err}");
        let mut g = darts_v2();
        g.reduce = CellGenotype {
            inputs: 1,
            nodes: vec![vec![Connection::new(0, "sep_conv_3x3")]],
            concat: vec![1],
        };
        let err = spec.plan(&g, &registry).unwrap_err();
        assert!(matches!(
            err,
            TargetError::Inputs {
                cell: CellKind::Reduce,
                inputs: 1
            }
        ));
        let mut g = darts_v2();
        g.normal.nodes[1][0].op = "conv_9x9".into();
        let err = spec.plan(&g, &registry).unwrap_err().to_string();
        assert!(
            err.starts_with("normal cell, node 3: unknown operation `conv_9x9`"),
            "{err}"
        );
        let mut g = darts_v2();
        g.normal.nodes[0] = vec![Connection::new(0, "none")];
        let err = spec.plan(&g, &registry).unwrap_err().to_string();
        assert!(err.contains("node 2: only `none`"), "{err}");
        let mut g = darts_v2();
        g.normal.concat.clear();
        assert!(matches!(
            spec.plan(&g, &registry),
            Err(TargetError::Genotype(_))
        ));
        assert!("resnet".parse::<TargetLayout>().is_err());
        assert_eq!(
            "ImageNet".parse::<TargetLayout>().unwrap(),
            TargetLayout::Imagenet
        );
    }
}
