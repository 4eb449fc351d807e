//! The target-net as burn modules, built from the [`TargetPlan`] that also gives its
//! parameter and FLOP counts, so the module and the counter cannot disagree.
//!
//! Training and evaluation follow burn's split: on an autodiff backend the net trains
//! (batch statistics, drop-path, auxiliary logits); on the inner backend (`.valid()`)
//! it evaluates (running statistics, no drop-path, no auxiliary head).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use entrannas_cell::{Genotype, TargetCellPlan, TargetNetSpec, TargetPlan};
use entrannas_ops::{DepthwiseConv, Op, OpRegistry};

use crate::EvalError;

/// One selected operation of a cell: `op` applied to node `input`.
#[derive(Module, Debug)]
pub struct Edge<B: Backend> {
    /// The source node (0 and 1 are the preprocessed cell inputs).
    pub input: usize,
    /// The operation.
    pub op: Op<B>,
    /// Whether the operation is the identity, which drop-path leaves alone (DARTS).
    pub identity: bool,
}

/// A cell of the target-net: only the genotype's operations exist.
#[derive(Module, Debug)]
pub struct TargetCell<B: Backend> {
    /// Preprocessing of the two inputs; `None` for an input no used node reads.
    pub preprocess: Vec<Option<Op<B>>>,
    /// Per intermediate node, its operations (none for a node the output ignores).
    pub nodes: Vec<Vec<Edge<B>>>,
    /// Nodes concatenated into the output.
    pub concat: Vec<usize>,
}

/// The auxiliary classifier after cell `2L/3` (training only).
#[derive(Module, Debug)]
pub struct AuxiliaryHead<B: Backend> {
    /// The layers before global pooling.
    pub features: Op<B>,
    /// Linear classifier.
    pub classifier: Linear<B>,
}

/// The target-net (see [`entrannas_cell::TargetNetSpec`] for the layout).
#[derive(Module, Debug)]
pub struct TargetNet<B: Backend> {
    /// Stem producing the first cell's inputs (CIFAR layout: both).
    pub stem0: Op<B>,
    /// ImageNet layout: the second stem stage.
    pub stem1: Option<Op<B>>,
    /// The cells.
    pub cells: Vec<TargetCell<B>>,
    /// The auxiliary head, if any.
    pub auxiliary: Option<AuxiliaryHead<B>>,
    /// The cell whose output the auxiliary head reads.
    pub auxiliary_after: usize,
    /// Linear classifier after global average pooling.
    pub classifier: Linear<B>,
    /// Image channels the net takes.
    pub input_channels: usize,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct TargetOutput<B: Backend> {
    /// Class logits `[batch, classes]`.
    pub logits: Tensor<B, 2>,
    /// Auxiliary logits, in training only and when the net has an auxiliary head.
    pub auxiliary: Option<Tensor<B, 2>>,
}

/// Zeroes whole samples with probability `drop_prob` and scales the kept ones by
/// `1 / (1 - drop_prob)` (DARTS's `drop_path`). Draws from the backend's generator.
/// A probability outside `(0, 1)` returns `x` unchanged.
pub fn drop_path<B: Backend>(x: Tensor<B, 4>, drop_prob: f64) -> Tensor<B, 4> {
    if !(drop_prob > 0.0 && drop_prob < 1.0) {
        return x;
    }
    let keep = 1.0 - drop_prob;
    let [n, c, h, w] = x.dims();
    let mask = Tensor::<B, 2>::random([n, 1], Distribution::Bernoulli(keep), &x.device());
    // A 2-D row broadcast: CPU backends are much faster at it than over 4-D shapes.
    (x.reshape([n, c * h * w]) * mask.div_scalar(keep)).reshape([n, c, h, w])
}

fn global_average<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

impl<B: Backend> TargetCell<B> {
    fn new(plan: &TargetCellPlan, device: &B::Device) -> Self {
        Self {
            preprocess: plan
                .preprocess
                .iter()
                .map(|layers| layers.as_ref().map(|l| Op::new(l, device)))
                .collect(),
            nodes: plan
                .nodes
                .iter()
                .map(|connections| {
                    connections
                        .iter()
                        .map(|c| Edge {
                            input: c.input,
                            op: Op::new(&c.layers, device),
                            identity: c.is_identity(),
                        })
                        .collect()
                })
                .collect(),
            concat: plan.concat.clone(),
        }
    }

    /// The cell on the outputs of cells `k-2` and `k-1`; drop-path on every
    /// non-identity operation when `drop_prob` is given.
    pub fn forward(
        &self,
        s0: Tensor<B, 4>,
        s1: Tensor<B, 4>,
        drop_prob: Option<f64>,
    ) -> Tensor<B, 4> {
        let mut states: Vec<Option<Tensor<B, 4>>> = self
            .preprocess
            .iter()
            .zip([s0, s1])
            .map(|(op, x)| op.as_ref().map(|op| op.forward(x)))
            .collect();
        for edges in &self.nodes {
            let mut sum: Option<Tensor<B, 4>> = None;
            for edge in edges {
                let x = states[edge.input]
                    .clone()
                    .expect("the plan only reads nodes it computes");
                let mut out = edge.op.forward(x);
                if let (Some(p), false) = (drop_prob, edge.identity) {
                    out = drop_path(out, p);
                }
                sum = Some(match sum {
                    Some(sum) => sum + out,
                    None => out,
                });
            }
            states.push(sum);
        }
        let outputs = self
            .concat
            .iter()
            .map(|&n| states[n].clone().expect("concat nodes are computed"))
            .collect();
        Tensor::cat(outputs, 1)
    }
}

impl<B: Backend> TargetNet<B> {
    /// Computes every depthwise convolution of the net as `depthwise` says (the
    /// training's [`TrainConfig::depthwise`](crate::TrainConfig::depthwise)).
    pub fn set_depthwise(&mut self, depthwise: DepthwiseConv) {
        let stems = std::iter::once(&mut self.stem0).chain(&mut self.stem1);
        let auxiliary = self.auxiliary.iter_mut().map(|a| &mut a.features);
        let cells = self.cells.iter_mut().flat_map(|cell| {
            let preprocess = cell.preprocess.iter_mut().flatten();
            preprocess.chain(cell.nodes.iter_mut().flatten().map(|edge| &mut edge.op))
        });
        for op in stems.chain(auxiliary).chain(cells) {
            op.set_depthwise(depthwise);
        }
    }

    /// Builds the net laid out by `plan`, with fresh weights drawn at once from the
    /// backend's generator (seed it first for a reproducible net).
    pub fn new(plan: &TargetPlan, device: &B::Device) -> Self {
        let net = Self::lazy(plan, device);
        entrannas_ops::materialize(&net);
        net
    }

    /// The net with burn's lazy parameters, drawn on first use.
    fn lazy(plan: &TargetPlan, device: &B::Device) -> Self {
        let auxiliary = plan.auxiliary.as_ref().map(|aux| AuxiliaryHead {
            features: Op::new(&aux.features, device),
            classifier: LinearConfig::new(aux.channels, plan.classes).init(device),
        });
        Self {
            stem0: Op::new(&plan.stem0, device),
            stem1: plan.stem1.as_ref().map(|l| Op::new(l, device)),
            cells: plan
                .cells
                .iter()
                .map(|c| TargetCell::new(c, device))
                .collect(),
            auxiliary_after: plan.auxiliary.as_ref().map_or(0, |aux| aux.after),
            auxiliary,
            classifier: LinearConfig::new(plan.features, plan.classes).init(device),
            input_channels: plan.input_shape[0],
        }
    }

    /// Lays out and builds the target-net of `genotype`.
    ///
    /// # Errors
    /// As [`TargetNetSpec::plan`].
    pub fn from_genotype(
        genotype: &Genotype,
        spec: &TargetNetSpec,
        registry: &OpRegistry,
        device: &B::Device,
    ) -> Result<Self, EvalError> {
        Ok(Self::new(&spec.plan(genotype, registry)?, device))
    }

    /// The forward pass on images `[batch, channels, height, width]`.
    ///
    /// On an autodiff backend (training): batch-norm batch statistics, drop-path with
    /// probability `drop_prob` on every non-identity operation (none when `drop_prob`
    /// is outside `(0, 1)`), and auxiliary logits. Otherwise (evaluation): running
    /// statistics, `drop_prob` ignored, no auxiliary logits.
    pub fn forward(&self, images: Tensor<B, 4>, drop_prob: f64) -> TargetOutput<B> {
        let training = B::ad_enabled(&images.device());
        let drop = training.then_some(drop_prob);
        let s0 = self.stem0.forward(images);
        let (mut s0, mut s1) = match &self.stem1 {
            Some(stem1) => (s0.clone(), stem1.forward(s0)),
            None => (s0.clone(), s0),
        };
        let mut auxiliary = None;
        for (index, cell) in self.cells.iter().enumerate() {
            let out = cell.forward(s0, s1.clone(), drop);
            s0 = s1;
            s1 = out;
            if let (true, Some(head), true) =
                (training, &self.auxiliary, index == self.auxiliary_after)
            {
                let features = head.features.forward(s1.clone());
                auxiliary = Some(head.classifier.forward(global_average(features)));
            }
        }
        TargetOutput {
            logits: self.classifier.forward(global_average(s1)),
            auxiliary,
        }
    }

    /// Class logits without drop-path (the forward pass's `logits`).
    pub fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward(images, 0.0).logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{B, Inner, dst_genotype, image_batch, seeded, trainable_params};
    use burn::module::AutodiffModule;
    use entrannas_cell::{Genotype, TargetLayout, target_net_cost};

    fn build(genotype: &Genotype, spec: &TargetNetSpec) -> TargetNet<B> {
        TargetNet::from_genotype(genotype, spec, &OpRegistry::default(), &Default::default())
            .unwrap()
    }

    fn values<Bk: Backend>(t: Tensor<Bk, 2>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn output_shapes_for_cifar_imagenet_and_fashion_mnist_layouts() {
        let _turn = seeded();
        let darts = Genotype::builtin("darts_v2").unwrap();
        let cases = [
            (TargetLayout::Cifar, [3, 32, 32], 10),
            (TargetLayout::Imagenet, [3, 224, 224], 7),
            (TargetLayout::Cifar, [1, 28, 28], 10),
        ];
        for (layout, shape, classes) in cases {
            let spec = TargetNetSpec::for_shape(layout, shape, classes)
                .with_channels(4)
                .with_layers(3);
            let net = build(&darts, &spec);
            let out = net.forward(image_batch(2, shape, 0.3), 0.2);
            assert_eq!(out.logits.dims(), [2, classes], "{layout} {shape:?}");
            assert_eq!(
                out.auxiliary.unwrap().dims(),
                [2, classes],
                "{layout} {shape:?}"
            );
            let eval = net.valid().forward(image_batch(2, shape, 0.3), 0.2);
            assert_eq!(eval.logits.dims(), [2, classes]);
            assert!(eval.auxiliary.is_none(), "auxiliary logits in evaluation");
        }
    }

    #[test]
    fn dst_genotypes_with_one_to_five_connections_per_node() {
        let _turn = seeded();
        let spec = TargetNetSpec::for_shape(TargetLayout::Cifar, [3, 8, 8], 5)
            .with_channels(4)
            .with_layers(3);
        for per_node in 1..=5 {
            let net = build(&dst_genotype(per_node), &spec);
            let out = net.forward(image_batch(2, [3, 8, 8], 0.1), 0.0);
            assert_eq!(out.logits.dims(), [2, 5], "{per_node} per node");
            let counted = trainable_params(&net);
            let cost =
                target_net_cost(&dst_genotype(per_node), &spec, &OpRegistry::default()).unwrap();
            assert_eq!(
                counted,
                cost.params + cost.auxiliary_params,
                "{per_node} per node"
            );
        }
    }

    #[test]
    fn trainable_parameters_equal_the_counter() {
        let _turn = seeded();
        let registry = OpRegistry::default();
        for genotype in ["darts_v1", "darts_v2", "pc_darts"] {
            let genotype = Genotype::builtin(genotype).unwrap();
            for layout in [TargetLayout::Cifar, TargetLayout::Imagenet] {
                let spec = TargetNetSpec::for_shape(layout, [3, 16, 16], 10)
                    .with_channels(6)
                    .with_layers(4);
                let cost = target_net_cost(&genotype, &spec, &registry).unwrap();
                let without = spec.clone().with_auxiliary(false);
                assert_eq!(trainable_params(&build(&genotype, &without)), cost.params);
                assert!(cost.auxiliary_params > 0);
                assert_eq!(
                    trainable_params(&build(&genotype, &spec)),
                    cost.params + cost.auxiliary_params
                );
            }
        }
    }

    #[test]
    fn drop_path_is_active_in_training_and_off_in_evaluation() {
        let _turn = seeded();
        let spec = TargetNetSpec::for_shape(TargetLayout::Cifar, [3, 8, 8], 4)
            .with_channels(4)
            .with_layers(3)
            .with_auxiliary(false);
        let net = build(&Genotype::builtin("darts_v2").unwrap(), &spec);
        let x = || image_batch(4, [3, 8, 8], 0.7);
        // Training without drop-path is deterministic; with it, masks differ per call.
        let plain = values(net.forward(x(), 0.0).logits);
        assert_eq!(plain, values(net.forward(x(), 0.0).logits));
        let a = values(net.forward(x(), 0.5).logits);
        let b = values(net.forward(x(), 0.5).logits);
        assert_ne!(a, plain);
        assert_ne!(a, b);
        // Evaluation ignores the probability.
        let inner = net.valid();
        let x = || image_batch::<Inner>(4, [3, 8, 8], 0.7);
        assert_eq!(
            values(inner.forward(x(), 0.0).logits),
            values(inner.forward(x(), 0.9).logits)
        );
    }

    #[test]
    fn drop_path_keeps_the_expectation() {
        let _turn = seeded();
        let x = Tensor::<Inner, 4>::ones([4000, 1, 1, 1], &Default::default());
        let out = drop_path(x, 0.25).into_data().to_vec::<f32>().unwrap();
        let kept = out.iter().filter(|v| **v != 0.0).count() as f64 / 4000.0;
        assert!((kept - 0.75).abs() < 0.03, "{kept}");
        assert!(
            out.iter()
                .all(|v| *v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6)
        );
    }
}
