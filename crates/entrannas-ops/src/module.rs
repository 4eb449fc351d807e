//! burn modules for the layers of [`LayerSpec`] and for whole operations.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::PadMode;

use crate::norm::BatchNorm2d;
use crate::spec::{ConvSpec, LayerSpec};

/// Zeros of the strided input shape.
#[derive(Module, Debug, Clone)]
pub struct Zero {
    /// Spatial stride.
    pub stride: usize,
}

/// The identity.
#[derive(Module, Debug, Clone)]
pub struct Identity {}

/// ReLU.
#[derive(Module, Debug, Clone)]
pub struct Relu {}

/// Max or average pooling with a square window.
#[derive(Module, Debug, Clone)]
pub struct Pool {
    /// Window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side.
    pub padding: usize,
    /// Max pooling when true, average (padding not counted) otherwise.
    pub max: bool,
}

/// DARTS's factorized reduce (see [`LayerSpec::FactorizedReduce`]).
#[derive(Module, Debug)]
pub struct FactorizedReduce<B: Backend> {
    /// 1x1 stride-2 convolution on the input.
    pub even: Conv2d<B>,
    /// 1x1 stride-2 convolution on the input shifted by one pixel.
    pub odd: Conv2d<B>,
    /// Batch norm over the concatenation.
    pub norm: BatchNorm2d<B>,
}

/// One layer of an operation.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Layer<B: Backend> {
    /// See [`LayerSpec::Identity`].
    Identity(Identity),
    /// See [`LayerSpec::Zero`].
    Zero(Zero),
    /// See [`LayerSpec::Relu`].
    Relu(Relu),
    /// See [`LayerSpec::Conv`].
    Conv(Conv2d<B>),
    /// See [`LayerSpec::Norm`].
    Norm(BatchNorm2d<B>),
    /// See [`LayerSpec::MaxPool`] and [`LayerSpec::AvgPool`].
    Pool(Pool),
    /// See [`LayerSpec::FactorizedReduce`].
    FactorizedReduce(FactorizedReduce<B>),
}

/// A candidate operation: its layers applied in order.
#[derive(Module, Debug)]
pub struct Op<B: Backend> {
    /// The layers.
    pub layers: Vec<Layer<B>>,
}

fn conv<B: Backend>(spec: &ConvSpec, device: &B::Device) -> Conv2d<B> {
    let [ph, pw] = spec.padding;
    Conv2dConfig::new([spec.channels_in, spec.channels_out], spec.kernel)
        .with_stride(spec.stride)
        .with_dilation(spec.dilation)
        .with_groups(spec.groups)
        .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
        .with_bias(false)
        .init(device)
}

impl<B: Backend> Layer<B> {
    /// Builds the module described by `spec`, with fresh weights.
    pub fn new(spec: &LayerSpec, device: &B::Device) -> Self {
        match *spec {
            LayerSpec::Identity => Layer::Identity(Identity {}),
            LayerSpec::Zero { stride } => Layer::Zero(Zero { stride }),
            LayerSpec::Relu => Layer::Relu(Relu {}),
            LayerSpec::Conv(ref c) => Layer::Conv(conv(c, device)),
            LayerSpec::Norm { channels, affine } => {
                Layer::Norm(BatchNorm2d::new(channels, affine, device))
            }
            LayerSpec::MaxPool {
                kernel,
                stride,
                padding,
            } => Layer::Pool(Pool {
                kernel,
                stride,
                padding,
                max: true,
            }),
            LayerSpec::AvgPool {
                kernel,
                stride,
                padding,
            } => Layer::Pool(Pool {
                kernel,
                stride,
                padding,
                max: false,
            }),
            LayerSpec::FactorizedReduce {
                channels_in,
                channels_out,
                affine,
            } => {
                let half = channels_out / 2;
                let one = |out| conv(&ConvSpec::square(channels_in, out, 1, 2, 0, 1), device);
                Layer::FactorizedReduce(FactorizedReduce {
                    even: one(half),
                    odd: one(channels_out - half),
                    norm: BatchNorm2d::new(channels_out, affine, device),
                })
            }
        }
    }

    /// Applies the layer to `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Layer::Identity(_) => x,
            Layer::Zero(zero) => {
                let [n, c, h, w] = x.dims();
                let s = zero.stride;
                Tensor::zeros([n, c, h.div_ceil(s), w.div_ceil(s)], &x.device())
            }
            Layer::Relu(_) => burn::tensor::activation::relu(x),
            Layer::Conv(conv) => conv.forward(x),
            Layer::Norm(norm) => norm.forward(x),
            Layer::Pool(pool) => {
                let k = [pool.kernel, pool.kernel];
                let s = [pool.stride, pool.stride];
                let p = [pool.padding, pool.padding];
                if pool.max {
                    max_pool2d(x, k, s, p, [1, 1], false)
                } else {
                    avg_pool2d(x, k, s, p, false, false)
                }
            }
            Layer::FactorizedReduce(fr) => {
                let x = burn::tensor::activation::relu(x);
                let [n, c, h, w] = x.dims();
                // Shift by one pixel; pad the far edge so odd sizes round up like the
                // other stride-2 operations.
                let shifted = x
                    .clone()
                    .slice([0..n, 0..c, 1..h, 1..w])
                    .pad([(0, 1), (0, 1)], PadMode::Constant(0.0));
                let out = Tensor::cat(vec![fr.even.forward(x), fr.odd.forward(shifted)], 1);
                fr.norm.forward(out)
            }
        }
    }
}

impl<B: Backend> Op<B> {
    /// Builds the operation made of `layers`, with fresh weights.
    pub fn new(layers: &[LayerSpec], device: &B::Device) -> Self {
        Self {
            layers: layers.iter().map(|l| Layer::new(l, device)).collect(),
        }
    }

    /// Applies the layers in order.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}
