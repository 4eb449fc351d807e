//! The layer sequences of the built-in operations, following DARTS's `operations.py`.

use crate::kind::OpKind;
use crate::spec::{ConvSpec, LayerSpec, OpSpec};

/// The layers of a built-in operation instantiated with `spec`.
pub fn builtin_layers(kind: OpKind, spec: &OpSpec) -> Vec<LayerSpec> {
    let OpSpec {
        channels: c,
        stride: s,
        affine,
        pool_norm,
    } = *spec;
    let norm = LayerSpec::Norm {
        channels: c,
        affine,
    };
    let pooled = |pool: LayerSpec| {
        if pool_norm {
            vec![pool, norm]
        } else {
            vec![pool]
        }
    };
    match kind {
        OpKind::None => vec![LayerSpec::Zero { stride: s }],
        OpKind::MaxPool3x3 => pooled(LayerSpec::MaxPool {
            kernel: 3,
            stride: s,
            padding: 1,
        }),
        OpKind::AvgPool3x3 => pooled(LayerSpec::AvgPool {
            kernel: 3,
            stride: s,
            padding: 1,
        }),
        OpKind::SkipConnect if s == 1 => vec![LayerSpec::Identity],
        OpKind::SkipConnect => factorized_reduce(c, c, affine),
        OpKind::SepConv3x3 => sep_conv(c, 3, s, affine),
        OpKind::SepConv5x5 => sep_conv(c, 5, s, affine),
        OpKind::DilConv3x3 => dil_conv(c, 3, s, affine),
        OpKind::DilConv5x5 => dil_conv(c, 5, s, affine),
        OpKind::Conv1x1 => relu_conv_bn(c, c, 1, s, 0, affine),
        OpKind::Conv3x3 => relu_conv_bn(c, c, 3, s, 1, affine),
        OpKind::Conv1x3And3x1 => factorized_conv(c, 3, s, affine),
        OpKind::Conv1x5And5x1 => factorized_conv(c, 5, s, affine),
        OpKind::Conv1x7And7x1 => factorized_conv(c, 7, s, affine),
    }
}

/// ReLU, a `kernel x kernel` convolution from `channels_in` to `channels_out`, batch norm.
/// Used for cell preprocessing (1x1) and the plain convolution ops.
pub fn relu_conv_bn(
    channels_in: usize,
    channels_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    affine: bool,
) -> Vec<LayerSpec> {
    vec![
        LayerSpec::Relu,
        LayerSpec::Conv(ConvSpec::square(
            channels_in,
            channels_out,
            kernel,
            stride,
            padding,
            1,
        )),
        LayerSpec::Norm {
            channels: channels_out,
            affine,
        },
    ]
}

/// DARTS's factorized reduce from `channels_in` to `channels_out` (even) channels.
pub fn factorized_reduce(channels_in: usize, channels_out: usize, affine: bool) -> Vec<LayerSpec> {
    vec![LayerSpec::FactorizedReduce {
        channels_in,
        channels_out,
        affine,
    }]
}

/// The bottleneck reduce (Appendix B.4): ReLU-Conv1x1-BN from `channels` to
/// `channels / ratio` (at least 1), applied to a source node before its candidate ops.
pub fn bottleneck_reduce(channels: usize, ratio: usize, affine: bool) -> Vec<LayerSpec> {
    relu_conv_bn(channels, bottleneck_width(channels, ratio), 1, 1, 0, affine)
}

/// The bottleneck recover: ReLU-Conv1x1-BN from `channels / ratio` back to `channels`,
/// applied to an intermediate node's sum.
pub fn bottleneck_recover(channels: usize, ratio: usize, affine: bool) -> Vec<LayerSpec> {
    relu_conv_bn(bottleneck_width(channels, ratio), channels, 1, 1, 0, affine)
}

/// The channel count inside a bottleneck: `channels / ratio`, at least 1.
pub fn bottleneck_width(channels: usize, ratio: usize) -> usize {
    (channels / ratio.max(1)).max(1)
}

fn sep_conv(c: usize, kernel: usize, stride: usize, affine: bool) -> Vec<LayerSpec> {
    let padding = kernel / 2;
    let norm = LayerSpec::Norm {
        channels: c,
        affine,
    };
    vec![
        LayerSpec::Relu,
        LayerSpec::Conv(ConvSpec::square(c, c, kernel, stride, padding, 1).depthwise()),
        LayerSpec::Conv(ConvSpec::square(c, c, 1, 1, 0, 1)),
        norm,
        LayerSpec::Relu,
        LayerSpec::Conv(ConvSpec::square(c, c, kernel, 1, padding, 1).depthwise()),
        LayerSpec::Conv(ConvSpec::square(c, c, 1, 1, 0, 1)),
        norm,
    ]
}

fn dil_conv(c: usize, kernel: usize, stride: usize, affine: bool) -> Vec<LayerSpec> {
    // Dilation 2 doubles the reach: padding (kernel - 1) keeps the size.
    vec![
        LayerSpec::Relu,
        LayerSpec::Conv(ConvSpec::square(c, c, kernel, stride, kernel - 1, 2).depthwise()),
        LayerSpec::Conv(ConvSpec::square(c, c, 1, 1, 0, 1)),
        LayerSpec::Norm {
            channels: c,
            affine,
        },
    ]
}

fn factorized_conv(c: usize, length: usize, stride: usize, affine: bool) -> Vec<LayerSpec> {
    let half = length / 2;
    let row = ConvSpec {
        channels_in: c,
        channels_out: c,
        kernel: [1, length],
        stride: [1, stride],
        padding: [0, half],
        dilation: [1, 1],
        groups: 1,
    };
    let column = ConvSpec {
        kernel: [length, 1],
        stride: [stride, 1],
        padding: [half, 0],
        ..row
    };
    vec![
        LayerSpec::Relu,
        LayerSpec::Conv(row),
        LayerSpec::Conv(column),
        LayerSpec::Norm {
            channels: c,
            affine,
        },
    ]
}
