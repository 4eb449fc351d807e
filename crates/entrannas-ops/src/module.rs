//! burn modules for the layers of [`LayerSpec`] and for whole operations.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::PadMode;
use burn::tensor::{Slice, Tensor};

use crate::depthwise::DepthwiseConv;
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
    /// How its depthwise convolutions are computed: not a parameter, not recorded
    /// (checkpoints written before it existed load unchanged).
    depthwise: DepthwiseConv,
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

/// Applies `conv` to `[batch, channels, height, width]`.
///
/// A 1x1 convolution without padding in one group (the pointwise half of every
/// separable and dilated convolution, the preprocessing, the bottleneck and the
/// factorized reduce) is computed as a matrix product on the strided input, which
/// equals the convolution. Its gradients are matrix products too: burn 0.21's generic
/// convolution backward first transposes batch and channels, which the CPU backends
/// copy element by element (2 to 8 times slower forward and backward on the search's
/// shapes; docs/PERFORMANCE.md). A depthwise convolution is computed as
/// `depthwise` says. Every other convolution goes to burn's.
pub fn apply_conv<B: Backend>(
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
    depthwise: DepthwiseConv,
) -> Tensor<B, 4> {
    let x = match crate::depthwise::apply(conv, x, depthwise) {
        Ok(y) => return y,
        Err(x) => x,
    };
    let unpadded = matches!(
        conv.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    if conv.kernel_size != [1, 1] || conv.groups != 1 || !unpadded {
        return conv.forward(x);
    }
    pointwise(conv, strided(x, 0, conv.stride))
}

/// Rows `start, start + sh, ...` and columns `start, start + sw, ...` of `x`.
fn strided<B: Backend>(x: Tensor<B, 4>, start: usize, [sh, sw]: [usize; 2]) -> Tensor<B, 4> {
    if start == 0 && sh == 1 && sw == 1 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    x.slice([
        Slice::from(..),
        Slice::from(..),
        Slice::new(start as isize, Some(h as isize), sh as isize),
        Slice::new(start as isize, Some(w as isize), sw as isize),
    ])
}

/// The 1x1 weights (and bias) of `conv` applied at every pixel of `x`, as one matrix
/// product, whatever the stride `conv` was built with ([`apply_conv`] strides first).
fn pointwise<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let out = conv.weight.dims()[0];
    let weight = conv.weight.val().reshape([1, out, c]);
    let y = weight
        .matmul(x.reshape([n, c, h * w]))
        .reshape([n, out, h, w]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, out, 1, 1]),
        None => y,
    }
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

    /// Applies the layer to `[batch, channels, height, width]`, a depthwise
    /// convolution computed as `depthwise` says.
    pub fn forward(&self, x: Tensor<B, 4>, depthwise: DepthwiseConv) -> Tensor<B, 4> {
        match self {
            Layer::Identity(_) => x,
            Layer::Zero(zero) => {
                let [n, c, h, w] = x.dims();
                let s = zero.stride;
                Tensor::zeros([n, c, h.div_ceil(s), w.div_ceil(s)], &x.device())
            }
            Layer::Relu(_) => burn::tensor::activation::relu(x),
            Layer::Conv(conv) => apply_conv(conv, x, depthwise),
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
                let [_, _, h, w] = x.dims();
                // The odd half sees the input shifted by one pixel: rows and columns
                // 1, 3, 5, ...; at an odd size a zero row and column at the far edge
                // round it up like the other stride-2 operations. (The same values as
                // shifting the whole input, padding it and striding the convolution,
                // without the two full-size copies.)
                let odd = match (h % 2, w % 2) {
                    // A single row or column has no shifted pixels: all padding.
                    _ if h < 2 || w < 2 => {
                        let [n, c, _, _] = x.dims();
                        Tensor::zeros([n, c, h.div_ceil(2), w.div_ceil(2)], &x.device())
                    }
                    (0, 0) => strided(x.clone(), 1, [2, 2]),
                    (bottom, right) => strided(x.clone(), 1, [2, 2])
                        .pad([(0, bottom), (0, right)], PadMode::Constant(0.0)),
                };
                let out = Tensor::cat(
                    vec![apply_conv(&fr.even, x, depthwise), pointwise(&fr.odd, odd)],
                    1,
                );
                fr.norm.forward(out)
            }
        }
    }
}

impl<B: Backend> Op<B> {
    /// Builds the operation made of `layers`, with fresh weights; its depthwise
    /// convolutions are burn's grouped ones until [`Op::set_depthwise`].
    pub fn new(layers: &[LayerSpec], device: &B::Device) -> Self {
        Self {
            layers: layers.iter().map(|l| Layer::new(l, device)).collect(),
            depthwise: DepthwiseConv::default(),
        }
    }

    /// Computes this operation's depthwise convolutions as `depthwise` says (the same
    /// values, another speed).
    pub fn set_depthwise(&mut self, depthwise: DepthwiseConv) {
        self.depthwise = depthwise;
    }

    /// How this operation computes its depthwise convolutions.
    pub fn depthwise(&self) -> DepthwiseConv {
        self.depthwise
    }

    /// Applies the layers in order.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.layers
            .iter()
            .fold(x, |x, layer| layer.forward(x, self.depthwise))
    }
}
