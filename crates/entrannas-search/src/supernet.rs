//! The search super-net: stem, cells (Engine or Transit), global pooling, classifier.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};
use entrannas_cell::{
    CellError, CellInput, CellPlan, CellTopology, CellWork, OpCount, SearchCell, SearchCellConfig,
};
use entrannas_ops::{
    ConvSpec, DepthwiseConv, LayerSpec, Op, OpRegistry, sequence_cost, sequence_retained,
};
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::space::{EnginePlacement, Method};

/// The stem that turns images into the first cells' inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemLayout {
    /// CIFAR-style: one 3x3 convolution to `3C` channels and batch norm, full resolution.
    Cifar,
    /// ImageNet-style: three stride-2 3x3 convolutions (224 -> 28).
    Imagenet,
}

/// The shape of the super-net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuperNetConfig {
    /// Image channels (1 for Fashion-MNIST, 3 for CIFAR).
    pub input_channels: usize,
    /// Number of classes.
    pub classes: usize,
    /// Initial channels `C` (16 in the paper).
    pub channels: usize,
    /// Number of cells `L` (8); reductions at `L/3` and `2L/3`.
    pub layers: usize,
    /// Cell DAG (2 inputs, 4 intermediate nodes).
    pub topology: CellTopology,
    /// Candidate operations of every edge.
    pub ops: Vec<String>,
    /// Feature sharing (off for DARTS).
    pub sharing: bool,
    /// Bottleneck ratio, if any.
    pub bottleneck: Option<usize>,
    /// Which cells are Engine cells.
    pub engine: EnginePlacement,
    /// The stem.
    pub stem: StemLayout,
}

impl SuperNetConfig {
    /// Which cells are reduction cells: `L/3` and `2L/3`.
    pub fn reductions(&self) -> Vec<bool> {
        let l = self.layers;
        (0..l).map(|i| i == l / 3 || i == 2 * l / 3).collect()
    }

    /// Which cells are Engine cells. DARTS's method makes every cell one regardless.
    pub fn engines(&self) -> Vec<bool> {
        self.engine.engines(&self.reductions())
    }

    fn stem_layers(&self) -> (Vec<LayerSpec>, Option<Vec<LayerSpec>>, usize) {
        let c = self.channels;
        let conv =
            |cin, cout, stride| LayerSpec::Conv(ConvSpec::square(cin, cout, 3, stride, 1, 1));
        let norm = |channels| LayerSpec::Norm {
            channels,
            affine: true,
        };
        match self.stem {
            StemLayout::Cifar => (
                vec![conv(self.input_channels, 3 * c, 1), norm(3 * c)],
                None,
                3 * c,
            ),
            StemLayout::Imagenet => {
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
                    c,
                )
            }
        }
    }

    /// The configuration of every cell, in order.
    pub fn cells(&self) -> Result<Vec<SearchCellConfig>, SearchError> {
        if self.layers < 3 {
            return Err(SearchError::Config(format!(
                "a super-net needs at least 3 cells (two reductions and a normal cell), got {}",
                self.layers
            )));
        }
        if self.topology.inputs != 2 {
            return Err(SearchError::Config(format!(
                "the super-net feeds cells the outputs of the two previous cells; a topology with {} inputs is not supported",
                self.topology.inputs
            )));
        }
        let (_, stem1, stem_channels) = self.stem_layers();
        let multiplier = self.topology.intermediates;
        let (mut c_pp, mut c_p) = (stem_channels, stem_channels);
        let mut c = self.channels;
        let mut reduction_prev = stem1.is_some();
        let mut cells = Vec::with_capacity(self.layers);
        for reduction in self.reductions() {
            if reduction {
                c *= 2;
            }
            cells.push(SearchCellConfig {
                topology: self.topology,
                inputs: vec![
                    CellInput {
                        channels: c_pp,
                        halve: reduction_prev,
                    },
                    CellInput {
                        channels: c_p,
                        halve: false,
                    },
                ],
                ops: self.ops.clone(),
                channels: c,
                reduction,
                sharing: self.sharing,
                bottleneck: self.bottleneck,
                affine: false,
            });
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = multiplier * c;
        }
        Ok(cells)
    }

    /// Trainable parameters of the super-net (batch-norm statistics excluded).
    pub fn params(&self, registry: &OpRegistry) -> Result<u64, SearchError> {
        let (stem0, stem1, _) = self.stem_layers();
        let one = [1, 1, 1];
        let mut total = sequence_cost(&stem0, one).params;
        if let Some(stem1) = stem1 {
            total += sequence_cost(&stem1, one).params;
        }
        let cells = self.cells()?;
        for (index, cell) in cells.iter().enumerate() {
            total += cell
                .params(registry)
                .map_err(|e| unbuildable(index, cell, e))?;
        }
        let features = cells
            .last()
            .map_or(0, |c| c.channels * self.topology.intermediates);
        Ok(total + (features * self.classes + self.classes) as u64)
    }

    /// Activation elements per image that one training forward of the super-net keeps
    /// for backward, for images of `[height, width]`
    /// ([`SearchCellConfig::retained_elements`] of every cell, the stem's layers).
    /// `engine` and `transit` say what the Engine and the Transit cells compute,
    /// `(normal, reduction)`: every candidate for an Engine cell at its start, the
    /// derived connections for a Transit cell (8 for top-2 with 4 nodes; DST derives
    /// every pair its Engine cells weight).
    pub fn retained_elements(
        &self,
        registry: &OpRegistry,
        [height, width]: [usize; 2],
        engine: (CellWork, CellWork),
        transit: (CellWork, CellWork),
    ) -> Result<u64, SearchError> {
        let (stem0, stem1, _) = self.stem_layers();
        let (mut total, mut shape) =
            sequence_retained(&stem0, [self.input_channels, height, width]);
        if let Some(stem1) = stem1 {
            let (more, out) = sequence_retained(&stem1, shape);
            total += more;
            shape = out;
        }
        let [_, mut h, mut w] = shape;
        let engines = self.engines();
        for (index, cell) in self.cells()?.iter().enumerate() {
            let (normal, reduce) = if engines[index] { engine } else { transit };
            let work = if cell.reduction { reduce } else { normal };
            total += cell
                .retained_elements(registry, [h, w], work)
                .map_err(|e| unbuildable(index, cell, e))?;
            if cell.reduction {
                h = h.div_ceil(2);
                w = w.div_ceil(2);
            }
        }
        Ok(total)
    }

    /// Builds the super-net with fresh weights.
    pub fn init<B: Backend>(
        &self,
        registry: &OpRegistry,
        device: &B::Device,
    ) -> Result<SuperNet<B>, SearchError> {
        let (stem0, stem1, _) = self.stem_layers();
        let configs = self.cells()?;
        let mut cells = Vec::with_capacity(configs.len());
        for (index, config) in configs.iter().enumerate() {
            cells.push(
                config
                    .init(registry, device)
                    .map_err(|e| unbuildable(index, config, e))?,
            );
        }
        let features = configs
            .last()
            .map_or(0, |c| c.channels * self.topology.intermediates);
        Ok(SuperNet {
            stem0: Op::new(&stem0, device),
            stem1: stem1.map(|layers| Op::new(&layers, device)),
            cells,
            classifier: LinearConfig::new(features, self.classes).init(device),
            engines: self.engines(),
        })
    }
}

/// The configuration error for cell `index` whose operations cannot be built: which
/// cell, and the channel counts the configuration gave it (the usual cause: an odd
/// count where a stride-2 `skip_connect` needs an even one).
fn unbuildable(index: usize, cell: &SearchCellConfig, error: CellError) -> SearchError {
    let kind = if cell.reduction {
        "reduction"
    } else {
        "normal"
    };
    let through = match cell.bottleneck {
        Some(ratio) => format!(
            ", its candidates on {} after the bottleneck ratio {ratio}",
            cell.op_channels()
        ),
        None => String::new(),
    };
    SearchError::Config(format!(
        "cell {index} ({kind}, {} channels{through}) cannot be built: {error}; change the channels or the bottleneck ratio",
        cell.channels
    ))
}

/// What one cell type runs in a forward pass.
#[derive(Debug, Clone)]
pub struct CellArchitecture<B: Backend> {
    /// Engine coefficients, `[edges, K]` (`p`, or `q` for DST).
    pub coefficients: Tensor<B, 2>,
    /// The derived sub-graph, run by Transit cells.
    pub plan: CellPlan,
    /// For DST: Engine cells compute only these pairs (the others have `q = 0`).
    pub active: Option<CellPlan>,
}

/// The architecture a forward pass runs: one entry per cell type.
#[derive(Debug, Clone)]
pub struct Architecture<B: Backend> {
    /// The normal cells'.
    pub normal: CellArchitecture<B>,
    /// The reduction cells'.
    pub reduce: CellArchitecture<B>,
}

/// The super-net module.
#[derive(Module, Debug)]
pub struct SuperNet<B: Backend> {
    /// Stem producing the first cell's inputs (CIFAR: both inputs).
    pub stem0: Op<B>,
    /// ImageNet layout: a second stem stage producing the second input.
    pub stem1: Option<Op<B>>,
    /// The cells.
    pub cells: Vec<SearchCell<B>>,
    /// Linear classifier after global average pooling.
    pub classifier: Linear<B>,
    /// Which cells are Engine cells.
    pub engines: Vec<bool>,
}

impl<B: Backend> SuperNet<B> {
    /// Computes every depthwise convolution of the super-net as `depthwise` says
    /// (the search's [`SearchConfig::depthwise`](crate::SearchConfig::depthwise)).
    pub fn set_depthwise(&mut self, depthwise: DepthwiseConv) {
        for op in std::iter::once(&mut self.stem0).chain(&mut self.stem1) {
            op.set_depthwise(depthwise);
        }
        for cell in &mut self.cells {
            cell.set_depthwise(depthwise);
        }
    }

    fn run(
        &self,
        images: Tensor<B, 4>,
        mut cell: impl FnMut(usize, &SearchCell<B>, Vec<Tensor<B, 4>>) -> (Tensor<B, 4>, OpCount),
    ) -> (Tensor<B, 2>, OpCount) {
        let s0 = self.stem0.forward(images);
        let (mut s0, mut s1) = match &self.stem1 {
            Some(stem1) => (s0.clone(), stem1.forward(s0)),
            None => (s0.clone(), s0),
        };
        let mut count = OpCount::default();
        for (index, c) in self.cells.iter().enumerate() {
            let (out, cell_count) = cell(index, c, vec![s0, s1.clone()]);
            count += cell_count;
            s0 = s1;
            s1 = out;
        }
        let [n, c, _, _] = s1.dims();
        let pooled = s1.mean_dim(3).mean_dim(2).reshape([n, c]);
        (self.classifier.forward(pooled), count)
    }

    /// The super-net forward: Engine cells run the weighted mixed DAG, Transit cells
    /// the derived sub-graph. Returns logits `[batch, classes]`.
    pub fn forward(&self, images: Tensor<B, 4>, arch: &Architecture<B>) -> Tensor<B, 2> {
        self.forward_counted(images, arch).0
    }

    /// [`SuperNet::forward`], also returning what its cells computed.
    pub fn forward_counted(
        &self,
        images: Tensor<B, 4>,
        arch: &Architecture<B>,
    ) -> (Tensor<B, 2>, OpCount) {
        self.run(images, |index, cell, inputs| {
            let a = if cell.reduction {
                &arch.reduce
            } else {
                &arch.normal
            };
            if self.engines[index] {
                cell.forward_engine_counted(inputs, &a.coefficients, a.active.as_ref())
            } else {
                cell.forward_transit_counted(inputs, &a.plan)
            }
        })
    }

    /// The child-net forward (the paper's Table 1): every cell, Engine cells included,
    /// runs only its derived sub-graph with the super-net's weights.
    pub fn forward_child(
        &self,
        images: Tensor<B, 4>,
        normal: &CellPlan,
        reduce: &CellPlan,
    ) -> Tensor<B, 2> {
        self.run(images, |_, cell, inputs| {
            cell.forward_transit_counted(inputs, if cell.reduction { reduce } else { normal })
        })
        .0
    }
}

/// How far the child-net's features are from the super-net's at one cell, on the same
/// images ([`SuperNet::cell_drift`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellDrift {
    /// The cell (0-based).
    pub cell: usize,
    /// Whether it is an Engine cell of the super-net.
    pub engine: bool,
    /// Whether it is a reduction cell.
    pub reduction: bool,
    /// Mean and standard deviation of the super-net's cell output.
    pub supernet: (f64, f64),
    /// Mean and standard deviation of the child-net's cell output.
    pub child: (f64, f64),
    /// `||child - super|| / ||super||` of the two networks' outputs at this cell: the
    /// drift accumulated over this cell and every earlier one.
    pub relative_difference: f64,
    /// The same for this cell alone: the cell run as the child-net runs it (derived
    /// paths only) on the super-net's inputs, against the super-net's output. Zero for
    /// a Transit cell, which runs the derived paths in both networks.
    pub local_difference: f64,
}

/// Mean, standard deviation and squared norm of `x`, on the host.
fn moments<B: Backend>(x: &Tensor<B, 4>) -> (f64, f64, f64) {
    let values: Vec<f64> = x.to_data().iter::<f64>().collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let square: f64 = values.iter().map(|v| v * v).sum();
    let variance = (square / n - mean * mean).max(0.0);
    (mean, variance.sqrt(), square)
}

/// `||a - b||^2` on the host.
fn squared_distance<B: Backend>(a: &Tensor<B, 4>, b: &Tensor<B, 4>) -> f64 {
    let d = a.clone() - b.clone();
    (d.clone() * d).sum().into_scalar().elem::<f64>()
}

impl<B: Backend> SuperNet<B> {
    /// The child-net's drift from the super-net, cell by cell, on `images`: both
    /// networks run side by side (the super-net as [`SuperNet::forward`], the child-net
    /// as [`SuperNet::forward_child`]), and every Engine cell also runs its derived
    /// paths on the super-net's inputs, which separates a cell's own contribution from
    /// what reaches it from earlier cells (the paper's Table 1 question: which cells
    /// make the two networks differ). Use an evaluation net (`.valid()`).
    pub fn cell_drift(
        &self,
        images: Tensor<B, 4>,
        arch: &Architecture<B>,
        normal: &CellPlan,
        reduce: &CellPlan,
    ) -> Vec<CellDrift> {
        let s0 = self.stem0.forward(images);
        let (s0, s1) = match &self.stem1 {
            Some(stem1) => (s0.clone(), stem1.forward(s0)),
            None => (s0.clone(), s0),
        };
        let (mut super_inputs, mut child_inputs) = ([s0.clone(), s1.clone()], [s0, s1]);
        let mut drift = Vec::with_capacity(self.cells.len());
        for (index, cell) in self.cells.iter().enumerate() {
            let (a, plan) = if cell.reduction {
                (&arch.reduce, reduce)
            } else {
                (&arch.normal, normal)
            };
            let engine = self.engines[index];
            let super_out = if engine {
                cell.forward_engine(super_inputs.to_vec(), &a.coefficients, a.active.as_ref())
            } else {
                cell.forward_transit(super_inputs.to_vec(), &a.plan)
            };
            let child_out = cell.forward_transit(child_inputs.to_vec(), plan);
            let local = if engine {
                cell.forward_transit(super_inputs.to_vec(), plan)
            } else {
                super_out.clone()
            };
            let (super_mean, super_std, super_norm) = moments(&super_out);
            let (child_mean, child_std, _) = moments(&child_out);
            let norm = super_norm.max(f64::MIN_POSITIVE);
            drift.push(CellDrift {
                cell: index,
                engine,
                reduction: cell.reduction,
                supernet: (super_mean, super_std),
                child: (child_mean, child_std),
                relative_difference: (squared_distance(&child_out, &super_out) / norm).sqrt(),
                local_difference: (squared_distance(&local, &super_out) / norm).sqrt(),
            });
            super_inputs = [super_inputs[1].clone(), super_out];
            child_inputs = [child_inputs[1].clone(), child_out];
        }
        drift
    }
}

/// The super-net configuration for a method: DARTS turns sharing off and every cell
/// into an Engine cell.
pub fn method_defaults(
    method: Method,
    engine: EnginePlacement,
    sharing: bool,
) -> (EnginePlacement, bool) {
    match method {
        Method::Darts => (EnginePlacement::All, false),
        _ => (engine, sharing),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use burn::backend::{Autodiff, NdArray};
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::nn::conv::Conv2d;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::tensor::backend::{AutodiffBackend, Backend};
    use burn::tensor::{DType, Int, Tensor, TensorData};
    use entrannas_cell::{CellPlan, CellTopology, OpCount};
    use entrannas_data::{DatasetInfo, DatasetKind, ImageBatch};
    use entrannas_ops::{BatchNorm2d, Layer, Op};
    use entrannas_relax::CellType;

    use crate::searcher::{Derivation, Searcher};
    use crate::space::{EnginePlacement, Method, OpSpace};
    use crate::supernet::{Architecture, CellArchitecture, StemLayout};
    use crate::{SearchConfig, SearchError, SuperNet};

    type B = Autodiff<NdArray<f64>>;
    type Grads = <B as AutodiffBackend>::Gradients;

    const CLASSES: usize = 3;

    fn config(method: Method) -> SearchConfig {
        SearchConfig::new()
            .with_method(method)
            .with_channels(4)
            .with_layers(3)
            .with_batch_size(2)
    }

    fn searcher(config: SearchConfig, image: [usize; 3]) -> Searcher<B> {
        let classes = (0..CLASSES).map(|c| format!("class {c}")).collect();
        let info = DatasetInfo::new(DatasetKind::Cifar10, image, classes);
        let _turn = crate::isolated::seeded();
        Searcher::new(config, &info, &Default::default()).unwrap()
    }

    #[test]
    fn a_cell_that_cannot_be_built_is_named_with_its_channels() {
        // C = 3 doubles to 6 in the first reduction cell (cell 1 of 3), and the
        // bottleneck halves that to 3: odd, where a stride-2 skip_connect (a factorized
        // reduce) needs an even count.
        let config = config(Method::Entran)
            .with_channels(3)
            .with_bottleneck(Some(2));
        let info = DatasetInfo::new(
            DatasetKind::Cifar10,
            [3, 8, 8],
            vec!["a".into(), "b".into()],
        );
        let message = match Searcher::<B>::new(config, &info, &Default::default()) {
            Err(SearchError::Config(message)) => message,
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => panic!("an odd factorized reduce was built"),
        };
        assert!(
            message.starts_with(
                "cell 1 (reduction, 6 channels, its candidates on 3 after the bottleneck ratio 2) cannot be built: "
            ),
            "{message}"
        );
        assert!(message.contains("even channel count, got 3"), "{message}");
    }

    #[test]
    fn cell_drift_separates_each_cells_own_difference_from_what_reaches_it() {
        let s = searcher(config(Method::Entran), [3, 8, 8]);
        let tau = 1.0;
        let derivation = s.derive(tau).unwrap();
        let arch = architecture(&s, &derivation, tau, false);
        let images = batch([3, 8, 8], 0.3).images;
        let drift = s.net.cell_drift(
            images.clone(),
            &arch,
            &derivation.normal,
            &derivation.reduce,
        );
        assert_eq!(drift.len(), 3);
        // `first`: cells 0 (normal) and 1 (reduction) are Engine cells, cell 2 (the
        // second reduction of 3 cells) a Transit cell.
        assert_eq!(
            drift
                .iter()
                .map(|d| (d.engine, d.reduction))
                .collect::<Vec<_>>(),
            [(true, false), (true, true), (false, true)]
        );
        // The first cell sees the same inputs in both networks: all its drift is its own.
        assert!(drift[0].relative_difference > 1e-3);
        approx::assert_relative_eq!(
            drift[0].relative_difference,
            drift[0].local_difference,
            max_relative = 1e-12
        );
        // A Transit cell runs the derived paths in both networks: none of its own.
        assert_eq!(drift[2].local_difference, 0.0);
        assert!(drift[2].relative_difference > 0.0);
        // The last cell's outputs, compared by hand through the two forwards' logits:
        // identical networks would give identical logits; these differ.
        let super_logits = s.net.forward(images.clone(), &arch);
        let child_logits = s
            .net
            .forward_child(images, &derivation.normal, &derivation.reduce);
        let gap: f64 = (super_logits - child_logits).abs().max().into_scalar();
        assert!(gap > 0.0);
        for d in &drift {
            assert!(d.supernet.1 > 0.0 && d.child.1 > 0.0, "{d:?}");
        }
    }

    #[test]
    fn the_architecture_gradient_has_one_value_per_edge_and_op_and_changes_nothing() {
        let s = searcher(config(Method::Entran), [3, 8, 8]);
        let derivation = s.derive(1.0).unwrap();
        let before = s.arch.alpha_normal.val().into_data();
        let (normal, reduce) = s
            .architecture_gradient(&batch([3, 8, 8], 0.7), &derivation, 1.0)
            .unwrap();
        let [edges, k] = s.arch.alpha_normal.val().dims();
        assert_eq!((normal.len(), reduce.len()), (edges * k, edges * k));
        assert!(normal.iter().chain(&reduce).all(|g| g.is_finite()));
        assert!(normal.iter().any(|g| *g != 0.0) && reduce.iter().any(|g| *g != 0.0));
        assert_eq!(s.arch.alpha_normal.val().into_data(), before);
    }

    /// A deterministic batch of 2 images and labels.
    fn batch(image: [usize; 3], seed: f64) -> ImageBatch<B> {
        let [c, h, w] = image;
        let pixels: Vec<f64> = (0..2 * c * h * w)
            .map(|i| (i as f64 * 0.37 + seed).sin())
            .collect();
        let images: Tensor<B, 4> =
            Tensor::from_data(TensorData::new(pixels, [2, c, h, w]), &Default::default());
        // The comparisons with tight tolerances need float64 (ARCHITECTURE.md).
        assert_eq!(images.dtype(), DType::F64);
        ImageBatch {
            images,
            targets: Tensor::<B, 1, Int>::from_data(
                TensorData::new(vec![0i64, 2], [2]),
                &Default::default(),
            ),
        }
    }

    /// The architecture as the search step builds it; `active` plans only with
    /// `dst_active` (DST's sparse Engine cells).
    fn architecture(
        s: &Searcher<B>,
        derivation: &Derivation,
        tau: f64,
        dst_active: bool,
    ) -> Architecture<B> {
        let relaxation = s.config.method.relaxation();
        let cell = |cell: CellType, plan: &CellPlan| CellArchitecture {
            coefficients: s.arch.coefficients(cell, relaxation, tau).unwrap(),
            plan: plan.clone(),
            active: dst_active.then(|| plan.clone()),
        };
        Architecture {
            normal: cell(CellType::Normal, &derivation.normal),
            reduce: cell(CellType::Reduce, &derivation.reduce),
        }
    }

    /// The gradient of every float parameter of a module, in visiting order
    /// (batch-norm running statistics are visited too; they never have one).
    struct ParamGrads<'a>(&'a Grads, Vec<Option<Vec<f64>>>);
    impl ModuleVisitor<B> for ParamGrads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let grad = param.grad(self.0);
            self.1
                .push(grad.map(|g| g.into_data().to_vec::<f64>().unwrap()));
        }
    }

    fn param_grads<M: Module<B>>(module: &M, grads: &Grads) -> Vec<Option<Vec<f64>>> {
        let mut visitor = ParamGrads(grads, Vec::new());
        module.visit(&mut visitor);
        visitor.1
    }

    /// The gradients of an operation's trainable weights (convolutions, affine
    /// batch norms), in layer order.
    fn weight_grads(op: &Op<B>, grads: &Grads) -> Vec<Option<Vec<f64>>> {
        let conv = |c: &Conv2d<B>| c.weight.grad(grads).map(host);
        let norm = |n: &BatchNorm2d<B>| {
            [n.gamma.as_ref(), n.beta.as_ref()]
                .into_iter()
                .flatten()
                .map(|p| p.grad(grads).map(host))
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        for layer in &op.layers {
            match layer {
                Layer::Conv(c) => out.push(conv(c)),
                Layer::Norm(n) => out.extend(norm(n)),
                Layer::FactorizedReduce(f) => {
                    out.push(conv(&f.even));
                    out.push(conv(&f.odd));
                    out.extend(norm(&f.norm));
                }
                _ => {}
            }
        }
        out
    }

    fn host<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f64> {
        t.into_data().to_vec::<f64>().unwrap()
    }

    /// The `(candidate group, op)` pairs a plan runs in `net.cells[index]`.
    fn groups(net: &SuperNet<B>, index: usize, plan: &CellPlan) -> BTreeSet<(usize, usize)> {
        let cell = &net.cells[index];
        let topology = cell.topology();
        let mut set = BTreeSet::new();
        for (offset, pairs) in plan.nodes.iter().enumerate() {
            for &(i, k) in pairs {
                let j = cell.inputs + offset;
                set.insert((
                    if cell.sharing {
                        i
                    } else {
                        topology.edge_index(i, j)
                    },
                    k,
                ));
            }
        }
        set
    }

    /// The input shapes: Fashion-MNIST, CIFAR, and the ImageNet stem (three
    /// stride-2 convolutions) at a small size.
    const INPUTS: [([usize; 3], StemLayout); 3] = [
        ([1, 28, 28], StemLayout::Cifar),
        ([3, 32, 32], StemLayout::Cifar),
        ([3, 32, 32], StemLayout::Imagenet),
    ];

    /// EnTranNAS and DST, every Engine placement and op space; the input shapes
    /// take turns, so each method, placement and space meets at least two of them
    /// and each method and space all three (the full product triples the time).
    /// Logits of the right shape, and finite gradients reaching alpha, beta (DST)
    /// and the weights of Engine cells (every computed candidate) and Transit
    /// cells (exactly the selected candidates).
    #[test]
    fn shapes_and_gradients_for_every_method_placement_space_and_input() {
        let mut seen = BTreeSet::new();
        let mut turn = 0;
        for method in [Method::Entran, Method::Dst] {
            for placement in [
                EnginePlacement::First,
                EnginePlacement::Last,
                EnginePlacement::Half,
                EnginePlacement::All,
            ] {
                for space in [OpSpace::Standard, OpSpace::Extended] {
                    let (image, stem) = INPUTS[turn % INPUTS.len()];
                    turn += 1;
                    let cfg = config(method)
                        .with_engine(placement)
                        .with_space(space)
                        .with_stem(stem);
                    let what = format!("{method:?} {placement:?} {space:?} {image:?} {stem:?}");
                    check_shapes_and_gradients(searcher(cfg, image), image, &what);
                    seen.insert(format!("{method:?} {space:?} {image:?} {stem:?}"));
                }
            }
        }
        assert_eq!(seen.len(), 2 * 2 * INPUTS.len(), "{seen:?}");
    }

    /// DARTS (every cell an Engine cell, whatever the placement asks; no sharing,
    /// no bottleneck) in both op spaces. The full-resolution inputs cost DARTS
    /// seconds each in a debug build, and their shapes are checked above with the
    /// same cells, so DARTS runs the small ImageNet layout.
    #[test]
    fn shapes_and_gradients_for_darts_in_both_spaces() {
        let (image, stem) = INPUTS[2];
        for space in [OpSpace::Standard, OpSpace::Extended] {
            let cfg = config(Method::Darts)
                .with_engine(EnginePlacement::First)
                .with_bottleneck(None)
                .with_space(space)
                .with_stem(stem);
            let s = searcher(cfg, image);
            assert!(!s.net.cells[0].sharing);
            check_shapes_and_gradients(s, image, &format!("Darts {space:?}"));
        }
    }

    fn check_shapes_and_gradients(s: Searcher<B>, image: [usize; 3], what: &str) {
        let dst = s.config.method == Method::Dst;
        let tau = s.config.schedule().at_epoch(0);
        let expected_engines: Vec<bool> = match (s.config.method, s.config.engine) {
            (Method::Darts, _) | (_, EnginePlacement::All) => vec![true; 3],
            // Cells: normal, reduce, reduce.
            (_, EnginePlacement::First | EnginePlacement::Half) => vec![true, true, false],
            (_, EnginePlacement::Last) => vec![true, false, true],
        };
        assert_eq!(s.net.engines, expected_engines, "{what}");
        let k = s.ops().len();
        assert_eq!(s.net.cells[0].candidates[0].len(), k, "{what}");

        let derivation = s.derive(tau).unwrap();
        let arch = architecture(&s, &derivation, tau, dst);
        let data = batch(image, 0.2);
        let logits = s.net.forward(data.images, &arch);
        assert_eq!(logits.dims(), [2, CLASSES], "{what}");
        let loss = CrossEntropyLossConfig::new()
            .init(&Default::default())
            .forward(logits, data.targets);
        let grads = loss.backward();
        let finite = |g: &[f64]| g.iter().all(|v| v.is_finite());
        let moves = |g: &[f64]| g.iter().any(|v| *v != 0.0);

        let mut arch_grads = vec![
            s.arch.alpha_normal.grad(&grads),
            s.arch.alpha_reduce.grad(&grads),
        ];
        if dst {
            arch_grads.push(
                s.arch
                    .beta_normal
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .map(|g| g.reshape([1, -1])),
            );
            arch_grads.push(
                s.arch
                    .beta_reduce
                    .as_ref()
                    .unwrap()
                    .grad(&grads)
                    .map(|g| g.reshape([1, -1])),
            );
        } else {
            assert!(s.arch.beta_normal.is_none(), "{what}");
        }
        for g in arch_grads {
            let g = host(g.unwrap_or_else(|| panic!("{what}: no architecture gradient")));
            assert!(finite(&g) && moves(&g), "{what}: {g:?}");
        }

        for (index, cell) in s.net.cells.iter().enumerate() {
            let plan = if cell.reduction {
                &derivation.reduce
            } else {
                &derivation.normal
            };
            // What ran: an Engine cell every candidate (DST: its active pairs), a
            // Transit cell only the plan's.
            let engine = s.net.engines[index];
            let ran = if engine && !dst {
                (0..cell.candidates.len())
                    .flat_map(|g| (0..k).map(move |op| (g, op)))
                    .collect()
            } else {
                groups(&s.net, index, plan)
            };
            for pre in &cell.preprocess {
                for g in weight_grads(pre, &grads) {
                    assert!(
                        g.as_ref().is_some_and(|g| finite(g)),
                        "{what}: cell {index} preprocess {g:?}"
                    );
                }
            }
            let mut with_params = 0;
            for (group, ops) in cell.candidates.iter().enumerate() {
                for (op, candidate) in ops.iter().enumerate() {
                    let Some(candidate) = candidate else { continue };
                    let param_grads = weight_grads(candidate, &grads);
                    if param_grads.is_empty() {
                        continue; // parameter-free (pools, skip)
                    }
                    if ran.contains(&(group, op)) {
                        with_params += 1;
                        for g in param_grads {
                            let g = g.unwrap_or_else(|| {
                                panic!("{what}: cell {index} ({group}, {op}) has no gradient")
                            });
                            assert!(finite(&g), "{what}: cell {index} ({group}, {op})");
                        }
                    } else {
                        assert!(
                            param_grads.iter().all(Option::is_none),
                            "{what}: cell {index} ({group}, {op}) did not run but has a gradient"
                        );
                    }
                }
            }
            if engine {
                assert!(
                    with_params > 0,
                    "{what}: engine cell {index} trained nothing"
                );
            }
        }
        let stem = weight_grads(&s.net.stem0, &grads);
        assert!(
            stem.iter().all(|g| g.as_ref().is_some_and(|g| finite(g))),
            "{what}"
        );
    }

    /// With sharing, an Engine cell computes op `k` on source node `i` once per
    /// forward, so once per cell per step (two forward passes); without sharing,
    /// once per edge, as DARTS.
    #[test]
    fn search_step_runs_shared_ops_once_per_cell_not_once_per_edge() {
        let image = [1, 8, 8];
        for (sharing, evaluations) in [(true, 5 * 7), (false, 14 * 7)] {
            let cfg = config(Method::Entran)
                .with_engine(EnginePlacement::All)
                .with_sharing(sharing)
                .with_bottleneck(None);
            let mut s = searcher(cfg, image);
            let tau = s.config.schedule().at_epoch(0);
            let mut derivation = s.derive(tau).unwrap();
            let (val, train) = (batch(image, 0.1), batch(image, 0.9));
            let count = s
                .step(&mut derivation, &val, &train, tau, 0.1)
                .unwrap()
                .op_count;
            // Two forward passes over 3 Engine cells; 7 ops besides `none`.
            assert_eq!(
                count,
                OpCount {
                    evaluations: 2 * 3 * evaluations,
                    terms: 2 * 3 * 14 * 7,
                    cells: 2 * 3,
                },
                "sharing {sharing}"
            );
        }
    }

    /// The (edge, op) pairs whose coefficient is positive, read from the device's
    /// `q`, and the source nodes of those pairs.
    fn positive(q: Tensor<B, 2>, topology: &CellTopology) -> BTreeSet<(usize, usize, usize)> {
        let [_, k] = q.dims();
        let values = host(q);
        let mut set = BTreeSet::new();
        for (e, i, _) in topology.edges() {
            for op in 0..k {
                if values[e * k + op] > 0.0 {
                    set.insert((e, i, op));
                }
            }
        }
        set
    }

    fn plan_pairs(plan: &CellPlan, topology: &CellTopology) -> BTreeSet<(usize, usize, usize)> {
        let mut set = BTreeSet::new();
        for (offset, pairs) in plan.nodes.iter().enumerate() {
            for &(i, k) in pairs {
                set.insert((topology.edge_index(i, topology.inputs + offset), i, k));
            }
        }
        set
    }

    /// A sparse DST super-net computes only the `q > 0` terms (counted), and its
    /// output equals the dense computation of every term weighted by `q`.
    #[test]
    fn dst_output_equals_the_q_positive_terms_only() {
        let image = [1, 8, 8];
        // Spread-out logits and high thresholds: about one or two inputs per node.
        let cfg = config(Method::Dst)
            .with_alpha_std(1.0)
            .with_beta_init(4.0)
            .with_engine(EnginePlacement::First);
        let s = searcher(cfg, image);
        assert_eq!(s.net.engines, vec![true, true, false]);
        let tau = s.config.schedule().at_epoch(0);
        let derivation = s.derive(tau).unwrap();
        let topology = s.net.cells[0].topology();
        let q_normal = s
            .arch
            .coefficients(CellType::Normal, entrannas_relax::Relaxation::Dst, tau)
            .unwrap();
        let q_reduce = s
            .arch
            .coefficients(CellType::Reduce, entrannas_relax::Relaxation::Dst, tau)
            .unwrap();
        let normal = positive(q_normal, &topology);
        let reduce = positive(q_reduce, &topology);
        // The plans the Engine cells follow are exactly the q > 0 pairs...
        assert_eq!(plan_pairs(&derivation.normal, &topology), normal);
        assert_eq!(plan_pairs(&derivation.reduce, &topology), reduce);
        // ... and they prune: the test is not about a dense net.
        let k = 7;
        assert!(normal.len() < 14 * k / 4 && reduce.len() < 14 * k / 4);
        let sources = |set: &BTreeSet<(usize, usize, usize)>| {
            set.iter()
                .map(|&(_, i, op)| (i, op))
                .collect::<BTreeSet<_>>()
                .len()
        };

        let images = batch(image, 0.5).images;
        let sparse_arch = architecture(&s, &derivation, tau, true);
        let dense_arch = architecture(&s, &derivation, tau, false);
        let (sparse, sparse_count) = s.net.forward_counted(images.clone(), &sparse_arch);
        let (dense, dense_count) = s.net.forward_counted(images, &dense_arch);
        // Cells: normal Engine, reduce Engine, reduce Transit.
        assert_eq!(
            sparse_count,
            OpCount {
                evaluations: sources(&normal) + 2 * sources(&reduce),
                terms: normal.len() + 2 * reduce.len(),
                cells: 3,
            }
        );
        assert_eq!(
            dense_count,
            OpCount {
                evaluations: 2 * 5 * k + sources(&reduce),
                terms: 2 * 14 * k + reduce.len(),
                cells: 3,
            }
        );
        for (a, b) in host(sparse).iter().zip(&host(dense)) {
            approx::assert_relative_eq!(a, b, epsilon = 1e-10, max_relative = 1e-9);
        }
    }

    /// Coefficients that are 1 exactly on the plan's pairs.
    fn one_hot(plan: &CellPlan, topology: &CellTopology, k: usize) -> Tensor<B, 2> {
        let mut w = vec![0.0f64; topology.num_edges() * k];
        for (e, _, op) in plan_pairs(plan, topology) {
            w[e * k + op] = 1.0;
        }
        Tensor::from_data(
            TensorData::new(w, [topology.num_edges(), k]),
            &Default::default(),
        )
    }

    /// Engine cells with one-hot coefficients compute the child-net (every cell a
    /// Transit cell of the same genotype) on the same weights: same logits, same
    /// weight gradients.
    #[test]
    fn one_hot_engines_equal_the_child_net_in_values_and_gradients() {
        let image = [3, 8, 8];
        for sharing in [true, false] {
            let cfg = config(Method::Entran)
                .with_engine(EnginePlacement::All)
                .with_sharing(sharing)
                .with_alpha_std(1.0);
            let s = searcher(cfg, image);
            let derivation = s.derive(1.0).unwrap();
            let topology = s.net.cells[0].topology();
            let k = s.ops().len();
            let cell = |plan: &CellPlan| CellArchitecture {
                coefficients: one_hot(plan, &topology, k),
                plan: plan.clone(),
                active: None,
            };
            let arch = Architecture {
                normal: cell(&derivation.normal),
                reduce: cell(&derivation.reduce),
            };
            let data = batch(image, 0.7);
            let loss = |logits: Tensor<B, 2>| {
                CrossEntropyLossConfig::new()
                    .init(&Default::default())
                    .forward(logits, data.targets.clone())
            };
            let engine = s.net.forward(data.images.clone(), &arch);
            let child =
                s.net
                    .forward_child(data.images.clone(), &derivation.normal, &derivation.reduce);
            for (a, b) in host(engine.clone()).iter().zip(&host(child.clone())) {
                approx::assert_relative_eq!(a, b, epsilon = 1e-10, max_relative = 1e-9);
            }
            let engine_grads = param_grads(&s.net, &loss(engine).backward());
            let child_grads = param_grads(&s.net, &loss(child).backward());
            assert_eq!(engine_grads.len(), child_grads.len());
            let mut compared = 0;
            for (a, b) in engine_grads.iter().zip(&child_grads) {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        compared += 1;
                        for (x, y) in a.iter().zip(b) {
                            approx::assert_relative_eq!(x, y, epsilon = 1e-10, max_relative = 1e-8);
                        }
                    }
                    // Computed by the Engine cells with coefficient 0: no gradient.
                    (Some(g), None) => assert!(g.iter().all(|v| *v == 0.0)),
                    (None, Some(_)) => {
                        panic!("the child-net trained a weight the Engine cells did not")
                    }
                    (None, None) => {}
                }
            }
            assert!(compared > 10, "{compared} parameters compared");
        }
    }
}
