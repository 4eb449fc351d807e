//! Plain-data descriptions of operations: what a layer is, its parameter count,
//! its output shape and its multiply-adds, without building any tensor.

use serde::{Deserialize, Serialize};

/// How a candidate operation is instantiated inside a cell.
///
/// Operations in a cell keep the channel count (`channels` in and out) and apply
/// `stride` on their first spatial layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpSpec {
    /// Channels in and out.
    pub channels: usize,
    /// 1, or 2 on the edges leaving a reduction cell's inputs.
    pub stride: usize,
    /// Whether batch norms have a learnable scale and shift (off in search cells).
    pub affine: bool,
    /// Whether pools are followed by a batch norm (DARTS does this in search only).
    pub pool_norm: bool,
}

impl OpSpec {
    /// The spec of an operation in a search cell: affine-free batch norm, pools
    /// followed by batch norm.
    pub fn search(channels: usize, stride: usize) -> Self {
        Self {
            channels,
            stride,
            affine: false,
            pool_norm: true,
        }
    }

    /// The spec of an operation in a target-net cell: affine batch norm, bare pools.
    pub fn eval(channels: usize, stride: usize) -> Self {
        Self {
            channels,
            stride,
            affine: true,
            pool_norm: false,
        }
    }
}

/// A 2-D convolution without bias (DARTS's convolutions have none; batch norm follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvSpec {
    /// Input channels.
    pub channels_in: usize,
    /// Output channels.
    pub channels_out: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Zero padding on each side, along height and width.
    pub padding: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
    /// Groups (`channels_in` for a depthwise convolution).
    pub groups: usize,
}

impl ConvSpec {
    /// A square `kernel x kernel` convolution with the given stride, padding and dilation.
    pub fn square(
        channels_in: usize,
        channels_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> Self {
        Self {
            channels_in,
            channels_out,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [padding, padding],
            dilation: [dilation, dilation],
            groups: 1,
        }
    }

    /// The same convolution, depthwise (one group per input channel).
    pub fn depthwise(mut self) -> Self {
        self.groups = self.channels_in;
        self
    }

    /// Number of weights.
    pub fn params(&self) -> u64 {
        (self.channels_out * (self.channels_in / self.groups) * self.kernel[0] * self.kernel[1])
            as u64
    }

    /// Output height and width for an input of `[height, width]`.
    pub fn output_size(&self, [height, width]: [usize; 2]) -> [usize; 2] {
        let out = |size: usize, axis: usize| {
            let span = self.dilation[axis] * (self.kernel[axis] - 1) + 1;
            (size + 2 * self.padding[axis]).saturating_sub(span) / self.stride[axis] + 1
        };
        [out(height, 0), out(width, 1)]
    }
}

/// One layer of an operation, as data. Every built-in operation, and every operation
/// a user registers, is a sequence of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayerSpec {
    /// The identity.
    Identity,
    /// Zeros of the strided shape (the `none` operation).
    Zero {
        /// Spatial stride.
        stride: usize,
    },
    /// ReLU.
    Relu,
    /// A bias-free convolution.
    Conv(ConvSpec),
    /// Batch norm with running statistics.
    Norm {
        /// Channels normalised.
        channels: usize,
        /// Whether it has a learnable scale and shift.
        affine: bool,
    },
    /// Max pooling, padded with negative infinity.
    MaxPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on each side.
        padding: usize,
    },
    /// Average pooling; padded positions are not counted in the average.
    AvgPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on each side.
        padding: usize,
    },
    /// DARTS's factorized reduce: ReLU, two stride-2 1x1 convolutions on the input and
    /// on the input shifted by one pixel, concatenated, then batch norm. Halves the
    /// resolution (rounding up) without losing every other pixel.
    FactorizedReduce {
        /// Input channels.
        channels_in: usize,
        /// Output channels (split between the two convolutions).
        channels_out: usize,
        /// Whether the batch norm is affine.
        affine: bool,
    },
}

impl LayerSpec {
    /// Number of trainable parameters.
    pub fn params(&self) -> u64 {
        match self {
            LayerSpec::Conv(conv) => conv.params(),
            LayerSpec::Norm {
                channels,
                affine: true,
            } => 2 * *channels as u64,
            LayerSpec::FactorizedReduce {
                channels_in,
                channels_out,
                affine,
            } => {
                let norm = if *affine { 2 * *channels_out as u64 } else { 0 };
                (*channels_in * *channels_out) as u64 + norm
            }
            _ => 0,
        }
    }

    /// The output shape `[channels, height, width]` for an input of that shape.
    pub fn output_shape(&self, [channels, height, width]: [usize; 3]) -> [usize; 3] {
        let strided = |stride: usize| [height.div_ceil(stride), width.div_ceil(stride)];
        match self {
            LayerSpec::Identity | LayerSpec::Relu | LayerSpec::Norm { .. } => {
                [channels, height, width]
            }
            LayerSpec::Zero { stride } => {
                let [h, w] = strided(*stride);
                [channels, h, w]
            }
            LayerSpec::Conv(conv) => {
                let [h, w] = conv.output_size([height, width]);
                [conv.channels_out, h, w]
            }
            LayerSpec::MaxPool {
                kernel,
                stride,
                padding,
            }
            | LayerSpec::AvgPool {
                kernel,
                stride,
                padding,
            } => {
                let out = |size: usize| (size + 2 * padding).saturating_sub(*kernel) / stride + 1;
                [channels, out(height), out(width)]
            }
            LayerSpec::FactorizedReduce { channels_out, .. } => {
                let [h, w] = strided(2);
                [*channels_out, h, w]
            }
        }
    }

    /// Activation elements per image that a training forward of this layer leaves for
    /// its backward pass, for an input of shape `[channels, height, width]`: the unit
    /// of the memory estimates (`entrannas-search`'s `memory` module, calibrated
    /// against measured peaks). A ReLU, convolution or average pool keeps one output;
    /// batch norm its centred and normalized values (two); max pooling its output and
    /// 64-bit indices (three); factorized reduce its ReLU'd input and four outputs'
    /// worth (two half-width convolutions, their concatenation, batch norm); the
    /// identity and the zero operation nothing.
    pub fn retained_elements(&self, input: [usize; 3]) -> u64 {
        let elements = |[c, h, w]: [usize; 3]| (c * h * w) as u64;
        let out = elements(self.output_shape(input));
        match self {
            LayerSpec::Identity | LayerSpec::Zero { .. } => 0,
            LayerSpec::Relu | LayerSpec::Conv(_) | LayerSpec::AvgPool { .. } => out,
            LayerSpec::Norm { .. } => 2 * out,
            LayerSpec::MaxPool { .. } => 3 * out,
            LayerSpec::FactorizedReduce { .. } => elements(input) + 4 * out,
        }
    }

    /// Multiply-adds of the layer for an input of shape `[channels, height, width]`.
    /// Only convolutions are counted (as DARTS-family papers count FLOPs); ReLU, batch
    /// norm, pooling and additions are not.
    pub fn flops(&self, input: [usize; 3]) -> u64 {
        let [_, height, width] = self.output_shape(input);
        let pixels = (height * width) as u64;
        match self {
            LayerSpec::Conv(conv) => conv.params() * pixels,
            LayerSpec::FactorizedReduce {
                channels_in,
                channels_out,
                ..
            } => (*channels_in * *channels_out) as u64 * pixels,
            _ => 0,
        }
    }
}

/// Parameters, output shape and multiply-adds of a sequence of layers applied in order.
pub fn sequence_cost(layers: &[LayerSpec], input: [usize; 3]) -> SequenceCost {
    let mut shape = input;
    let mut cost = SequenceCost {
        params: 0,
        flops: 0,
        output: input,
    };
    for layer in layers {
        cost.params += layer.params();
        cost.flops += layer.flops(shape);
        shape = layer.output_shape(shape);
    }
    cost.output = shape;
    cost
}

/// [`LayerSpec::retained_elements`] of a sequence of layers applied in order to an
/// input of shape `input`, and the output shape.
pub fn sequence_retained(layers: &[LayerSpec], input: [usize; 3]) -> (u64, [usize; 3]) {
    layers.iter().fold((0, input), |(total, shape), layer| {
        (
            total + layer.retained_elements(shape),
            layer.output_shape(shape),
        )
    })
}

/// What [`sequence_cost`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceCost {
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds of the convolutions.
    pub flops: u64,
    /// Output shape `[channels, height, width]`.
    pub output: [usize; 3],
}

#[cfg(test)]
mod retained_tests {
    use super::*;
    use crate::recipes::{factorized_reduce, relu_conv_bn};

    #[test]
    fn retained_elements_by_hand() {
        // ReLU (1 x 4x8x8) + 1x1 conv to 6 channels (6x8x8) + batch norm (2 x 6x8x8).
        let (total, out) = sequence_retained(&relu_conv_bn(4, 6, 1, 1, 0, false), [4, 8, 8]);
        assert_eq!(out, [6, 8, 8]);
        assert_eq!(total, 256 + 384 + 2 * 384);
        // Stride-2 max pooling: output and indices, 3 x 4x4x4.
        let pool = LayerSpec::MaxPool {
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        assert_eq!(pool.retained_elements([4, 8, 8]), 3 * 64);
        // Factorized reduce 4 -> 6 channels: the 4x8x8 input and 4 x 6x4x4.
        assert_eq!(
            sequence_retained(&factorized_reduce(4, 6, false), [4, 8, 8]).0,
            256 + 4 * 96
        );
        assert_eq!(LayerSpec::Identity.retained_elements([4, 8, 8]), 0);
        assert_eq!(
            LayerSpec::Zero { stride: 2 }.retained_elements([4, 8, 8]),
            0
        );
    }
}
