//! Depthwise convolutions (one group per channel: the first half of every separable
//! and dilated convolution) computed three ways.
//!
//! burn 0.21 computes the weight gradient of a grouped convolution as one convolution
//! per group, with a slice and a slice-assign around each: a depthwise convolution of
//! `C` channels costs `3 C` kernel launches in the backward pass, and on a GPU the
//! autotuner benchmarks each new shape of them (docs/GPU.md, section 4, saw this on an
//! H200). The other two ways avoid that loop, with the same values:
//!
//! * [`DepthwiseConv::Taps`]: the sum over the kernel's taps of strided slices of the
//!   padded input, each times its channel's weight; the backward pass is products,
//!   sums and slice-assigns, a few per tap.
//! * [`DepthwiseConv::TapWeightGrad`]: burn's grouped convolution gives the output and
//!   the input gradient (one kernel each), the taps only the weight gradient (one
//!   product and reduction per tap): `conv(x, w.detach()) + (t - t.detach())` with
//!   `t = taps(x.detach(), w)`, where `t - t.detach()` is exactly zero.
//!
//! The choice belongs to each operation ([`crate::Op::set_depthwise`]); the networks
//! above set it on all of theirs from their configuration (a search's or a training's
//! `depthwise`, the CLI's `--depthwise`), so two networks in one process can compute
//! differently. It changes how, not what, an operation computes.

use core::fmt;
use core::str::FromStr;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Slice, Tensor};
use serde::{Deserialize, Serialize};

/// How [`crate::apply_conv`] computes a depthwise convolution. Serialized by its
/// command-line name (`"grouped"`, `"taps"`, `"tap-weight-grad"`), as run configurations
/// record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DepthwiseConv {
    /// burn's grouped convolution for everything (the default: fastest on the CPU).
    #[default]
    Grouped,
    /// Strided slices of the padded input times per-channel weights, summed over taps.
    Taps,
    /// burn's grouped convolution, with the weight gradient from the taps.
    TapWeightGrad,
}

impl DepthwiseConv {
    /// Every strategy.
    pub const ALL: [DepthwiseConv; 3] = [
        DepthwiseConv::Grouped,
        DepthwiseConv::Taps,
        DepthwiseConv::TapWeightGrad,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DepthwiseConv::Grouped => "grouped",
            DepthwiseConv::Taps => "taps",
            DepthwiseConv::TapWeightGrad => "tap-weight-grad",
        }
    }
}

impl fmt::Display for DepthwiseConv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DepthwiseConv {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!("unknown depthwise convolution `{s}` (grouped, taps, tap-weight-grad)")
            })
    }
}

/// The symmetric padding `[top/bottom, left/right]` of a depthwise `conv` (one group
/// per channel, channel multiplier 1) that fits its input of `[h, w]`; `None` for any
/// other convolution, which goes to burn's.
fn depthwise_padding<B: Backend>(conv: &Conv2d<B>, [h, w]: [usize; 2]) -> Option<[usize; 2]> {
    let [out, per_group, kh, kw] = conv.weight.dims();
    if conv.groups < 2 || per_group != 1 || out != conv.groups {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    let [dh, dw] = conv.dilation;
    let fits = h + 2 * padding[0] > dh * (kh - 1) && w + 2 * padding[1] > dw * (kw - 1);
    fits.then_some(padding)
}

/// `conv` applied to `x` with `strategy`, when `conv` is depthwise; `Err(x)` otherwise.
pub(crate) fn apply<B: Backend>(
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
    strategy: DepthwiseConv,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    let [_, _, h, w] = x.dims();
    let Some(padding) = depthwise_padding(conv, [h, w]) else {
        return Err(x);
    };
    let bias = conv.bias.as_ref().map(|b| b.val());
    Ok(match strategy {
        DepthwiseConv::Grouped => conv.forward(x),
        DepthwiseConv::Taps => {
            let y = taps(conv, x, conv.weight.val(), padding);
            match bias {
                Some(b) => y + b.reshape([1, conv.groups, 1, 1]),
                None => y,
            }
        }
        // Without a weight gradient to take (evaluation, inference) the taps would be
        // computed only to cancel: burn's convolution alone gives the output.
        DepthwiseConv::TapWeightGrad if !conv.weight.val().is_require_grad() => conv.forward(x),
        DepthwiseConv::TapWeightGrad => {
            let weight = conv.weight.val();
            let t = taps(conv, x.clone().detach(), weight.clone(), padding);
            let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
            let y = conv2d(x, weight.detach(), bias, options);
            y + (t.clone() - t.detach())
        }
    })
}

/// The depthwise convolution of `x` with `weight` (`[C, 1, kh, kw]`, `conv`'s stride
/// and dilation, symmetric `padding`), without bias, as a sum over the taps.
fn taps<B: Backend>(
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    [ph, pw]: [usize; 2],
) -> Tensor<B, 4> {
    let [_, c, h, w] = x.dims();
    let [_, _, kh, kw] = weight.dims();
    let [sh, sw] = conv.stride;
    let [dh, dw] = conv.dilation;
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let (ho, wo) = (
        (hp - dh * (kh - 1) - 1) / sh + 1,
        (wp - dw * (kw - 1) - 1) / sw + 1,
    );
    let x = if ph > 0 || pw > 0 {
        x.pad([(ph, ph), (pw, pw)], PadMode::Constant(0.0))
    } else {
        x
    };
    let weight = weight.reshape([1, c, kh * kw]);
    let mut sum: Option<Tensor<B, 4>> = None;
    for i in 0..kh {
        for j in 0..kw {
            let rows = (i * dh) as isize;
            let cols = (j * dw) as isize;
            let tap = x.clone().slice([
                Slice::from(..),
                Slice::from(..),
                Slice::new(rows, Some(rows + ((ho - 1) * sh + 1) as isize), sh as isize),
                Slice::new(cols, Some(cols + ((wo - 1) * sw + 1) as isize), sw as isize),
            ]);
            let k = i * kw + j;
            let w_ij = weight
                .clone()
                .slice([0..1, 0..c, k..k + 1])
                .reshape([1, c, 1, 1]);
            let term = tap * w_ij;
            sum = Some(match sum {
                Some(s) => s + term,
                None => term,
            });
        }
    }
    sum.expect("a kernel has at least one tap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_record_a_strategy_by_its_command_line_name() {
        for strategy in DepthwiseConv::ALL {
            let json = serde_json::to_string(&strategy).unwrap();
            assert_eq!(json, format!("\"{}\"", strategy.name()));
            assert_eq!(
                serde_json::from_str::<DepthwiseConv>(&json).unwrap(),
                strategy
            );
            assert_eq!(strategy.name().parse::<DepthwiseConv>(), Ok(strategy));
        }
        assert!(serde_json::from_str::<DepthwiseConv>("\"tap_weight_grad\"").is_err());
        assert!(
            "im2col"
                .parse::<DepthwiseConv>()
                .unwrap_err()
                .contains("im2col")
        );
    }
}
