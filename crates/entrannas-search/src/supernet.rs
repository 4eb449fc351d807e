//! The search super-net: stem, cells (Engine or Transit), global pooling, classifier.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use entrannas_cell::{CellInput, CellPlan, CellTopology, SearchCell, SearchCellConfig};
use entrannas_ops::{ConvSpec, LayerSpec, Op, OpRegistry, sequence_cost};
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
        for cell in &cells {
            total += cell.params(registry)?;
        }
        let features = cells
            .last()
            .map_or(0, |c| c.channels * self.topology.intermediates);
        Ok(total + (features * self.classes + self.classes) as u64)
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
        for config in &configs {
            cells.push(config.init(registry, device)?);
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
    fn run(
        &self,
        images: Tensor<B, 4>,
        mut cell: impl FnMut(usize, &SearchCell<B>, Vec<Tensor<B, 4>>) -> Tensor<B, 4>,
    ) -> Tensor<B, 2> {
        let s0 = self.stem0.forward(images);
        let (mut s0, mut s1) = match &self.stem1 {
            Some(stem1) => (s0.clone(), stem1.forward(s0)),
            None => (s0.clone(), s0),
        };
        for (index, c) in self.cells.iter().enumerate() {
            let out = cell(index, c, vec![s0, s1.clone()]);
            s0 = s1;
            s1 = out;
        }
        let [n, c, _, _] = s1.dims();
        let pooled = s1.mean_dim(3).mean_dim(2).reshape([n, c]);
        self.classifier.forward(pooled)
    }

    /// The super-net forward: Engine cells run the weighted mixed DAG, Transit cells
    /// the derived sub-graph. Returns logits `[batch, classes]`.
    pub fn forward(&self, images: Tensor<B, 4>, arch: &Architecture<B>) -> Tensor<B, 2> {
        self.run(images, |index, cell, inputs| {
            let a = if cell.reduction {
                &arch.reduce
            } else {
                &arch.normal
            };
            if self.engines[index] {
                cell.forward_engine(inputs, &a.coefficients, a.active.as_ref())
            } else {
                cell.forward_transit(inputs, &a.plan)
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
            cell.forward_transit(inputs, if cell.reduction { reduce } else { normal })
        })
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
