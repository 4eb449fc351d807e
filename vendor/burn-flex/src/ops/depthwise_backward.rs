//! Backward passes of a depthwise 2D convolution (entrannas patch, see `PATCHES.md`).
//!
//! burn-backend's generic backward of a grouped convolution takes the input gradient
//! through `conv_transpose2d`, which this crate runs as one tiny GEMM and a scatter per
//! (batch, group) on one thread, and the weight gradient through a loop of one
//! convolution per group with a slice and a slice-assign around each. For the depthwise
//! case (one input and one output channel per group) both gradients are small direct
//! loops over one `(batch, channel)` plane: the input gradient runs one task per
//! plane, the weight gradient one task per channel. Every output element is computed by
//! one task in a fixed order, so the result does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::{ConvOptions, ConvTransposeOptions};
use burn_backend::{DType, Element};
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// The depthwise shape of a 2D convolution: `x` is `[N, C, H, W]`, `weight` is
/// `[C, 1, KH, KW]` with `groups == C`. Anything else returns `None`.
fn depthwise_dims(x: &[usize], w: &[usize], options: &ConvOptions<2>) -> Option<[usize; 6]> {
    if x.len() != 4 || w.len() != 4 {
        return None;
    }
    let channels = x[1];
    let depthwise = options.groups > 1 && options.groups == channels && w[0] == channels && w[1] == 1;
    depthwise.then_some([x[0], channels, x[2], x[3], w[2], w[3]])
}

/// Output positions `o` (half-open range) whose input `o * stride + k * dilation - pad`
/// lies in `0..in_size`.
fn valid_range(k: usize, dilation: usize, pad: usize, stride: usize, in_size: usize, out_size: usize) -> (usize, usize) {
    let offset = k * dilation;
    let start = if offset >= pad { 0 } else { (pad - offset).div_ceil(stride) };
    let threshold = in_size + pad;
    let end = if offset >= threshold { 0 } else { (threshold - offset).div_ceil(stride) };
    let end = end.min(out_size);
    (start.min(end), end)
}

/// The geometry shared by both gradients.
struct Geometry {
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kernel_h: usize,
    kernel_w: usize,
    options: ConvOptions<2>,
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

impl Geometry {
    fn new(dims: [usize; 6], out_h: usize, out_w: usize, options: &ConvOptions<2>) -> Self {
        let [_, _, in_h, in_w, kernel_h, kernel_w] = dims;
        let [stride_h, stride_w] = options.stride;
        let [pad_h, pad_w] = options.padding;
        let [dilation_h, dilation_w] = options.dilation;
        let rows = (0..kernel_h)
            .map(|kh| valid_range(kh, dilation_h, pad_h, stride_h, in_h, out_h))
            .collect();
        let cols = (0..kernel_w)
            .map(|kw| valid_range(kw, dilation_w, pad_w, stride_w, in_w, out_w))
            .collect();
        Self {
            in_w,
            out_h,
            out_w,
            kernel_h,
            kernel_w,
            options: options.clone(),
            rows,
            cols,
        }
    }

    /// The input row and column of output `(oh, ow)` under tap `(kh, kw)`, for
    /// positions inside `rows[kh]` and `cols[kw]`.
    #[inline(always)]
    fn input_index(&self, kh: usize, oh: usize, kw: usize, ow: usize) -> (usize, usize) {
        let o = &self.options;
        (
            oh * o.stride[0] + kh * o.dilation[0] - o.padding[0],
            ow * o.stride[1] + kw * o.dilation[1] - o.padding[1],
        )
    }

    /// Adds the input gradient of one plane into `grad_x` (`in_h * in_w`).
    fn x_plane<T: num_traits::Float>(&self, grad_x: &mut [T], grad_out: &[T], taps: &[T]) {
        let stride_w = self.options.stride[1];
        for kh in 0..self.kernel_h {
            let (oh_start, oh_end) = self.rows[kh];
            for kw in 0..self.kernel_w {
                let (ow_start, ow_end) = self.cols[kw];
                if ow_start >= ow_end {
                    continue;
                }
                let w = taps[kh * self.kernel_w + kw];
                for oh in oh_start..oh_end {
                    let (ih, iw0) = self.input_index(kh, oh, kw, ow_start);
                    let dst = &mut grad_x[ih * self.in_w..(ih + 1) * self.in_w];
                    let src = &grad_out[oh * self.out_w + ow_start..oh * self.out_w + ow_end];
                    if stride_w == 1 {
                        for (d, &g) in dst[iw0..iw0 + src.len()].iter_mut().zip(src) {
                            *d = *d + w * g;
                        }
                    } else {
                        for (i, &g) in src.iter().enumerate() {
                            let d = &mut dst[iw0 + i * stride_w];
                            *d = *d + w * g;
                        }
                    }
                }
            }
        }
    }

    /// The weight gradient of tap `(kh, kw)` from one plane: the sum of
    /// `grad_out * x` over the plane's valid output positions, in eight lanes added in
    /// a fixed order.
    fn tap_plane<T: num_traits::Float>(&self, kh: usize, kw: usize, grad_out: &[T], x: &[T]) -> T {
        let stride_w = self.options.stride[1];
        let (oh_start, oh_end) = self.rows[kh];
        let (ow_start, ow_end) = self.cols[kw];
        let mut lanes = [T::zero(); 8];
        if ow_start >= ow_end {
            return T::zero();
        }
        for oh in oh_start..oh_end {
            let (ih, iw0) = self.input_index(kh, oh, kw, ow_start);
            let g = &grad_out[oh * self.out_w + ow_start..oh * self.out_w + ow_end];
            let row = &x[ih * self.in_w..(ih + 1) * self.in_w];
            if stride_w == 1 {
                let xs = &row[iw0..iw0 + g.len()];
                let mut chunks_g = g.chunks_exact(8);
                let mut chunks_x = xs.chunks_exact(8);
                for (cg, cx) in (&mut chunks_g).zip(&mut chunks_x) {
                    for l in 0..8 {
                        lanes[l] = lanes[l] + cg[l] * cx[l];
                    }
                }
                for (l, (&a, &b)) in chunks_g.remainder().iter().zip(chunks_x.remainder()).enumerate() {
                    lanes[l] = lanes[l] + a * b;
                }
            } else {
                for (i, &a) in g.iter().enumerate() {
                    lanes[i % 8] = lanes[i % 8] + a * row[iw0 + i * stride_w];
                }
            }
        }
        let pairs = [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
        (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
    }
}

fn make_tensor<T: Element + bytemuck::Pod>(data: Vec<T>, shape: Vec<usize>, dtype: DType) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::from(shape)), dtype)
}

fn x_backward_typed<T>(dims: [usize; 6], weight: FlexTensor, grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor
where
    T: num_traits::Float + bytemuck::Pod + Element + Send + Sync,
{
    let weight = weight.to_contiguous();
    let grad = grad.to_contiguous();
    let g_shape = grad.layout().shape();
    let geometry = Geometry::new(dims, g_shape[2], g_shape[3], options);
    let [batch, channels, in_h, in_w, kernel_h, kernel_w] = dims;
    let (in_plane, out_plane, k_plane) = (in_h * in_w, geometry.out_h * geometry.out_w, kernel_h * kernel_w);
    let w: &[T] = weight.storage();
    let g: &[T] = grad.storage();
    let mut out = vec![T::zero(); batch * channels * in_plane];
    let plane = |bc: usize, dst: &mut [T]| {
        let c = bc % channels;
        geometry.x_plane(dst, &g[bc * out_plane..(bc + 1) * out_plane], &w[c * k_plane..(c + 1) * k_plane]);
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(in_plane).enumerate().for_each(|(bc, dst)| plane(bc, dst));
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(in_plane).enumerate().for_each(|(bc, dst)| plane(bc, dst));
    make_tensor(out, vec![batch, channels, in_h, in_w], T::dtype())
}

fn weight_backward_typed<T>(dims: [usize; 6], x: FlexTensor, grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor
where
    T: num_traits::Float + bytemuck::Pod + Element + Send + Sync,
{
    let x = x.to_contiguous();
    let grad = grad.to_contiguous();
    let g_shape = grad.layout().shape();
    let geometry = Geometry::new(dims, g_shape[2], g_shape[3], options);
    let [batch, channels, in_h, in_w, kernel_h, kernel_w] = dims;
    let (in_plane, out_plane, k_plane) = (in_h * in_w, geometry.out_h * geometry.out_w, kernel_h * kernel_w);
    let xs: &[T] = x.storage();
    let g: &[T] = grad.storage();
    let mut out = vec![T::zero(); channels * k_plane];
    let channel = |c: usize, dst: &mut [T]| {
        for n in 0..batch {
            let bc = n * channels + c;
            let gp = &g[bc * out_plane..(bc + 1) * out_plane];
            let xp = &xs[bc * in_plane..(bc + 1) * in_plane];
            for kh in 0..kernel_h {
                for kw in 0..kernel_w {
                    let d = &mut dst[kh * kernel_w + kw];
                    *d = *d + geometry.tap_plane(kh, kw, gp, xp);
                }
            }
        }
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(k_plane).enumerate().for_each(|(c, dst)| channel(c, dst));
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(k_plane).enumerate().for_each(|(c, dst)| channel(c, dst));
    make_tensor(out, vec![channels, 1, kernel_h, kernel_w], T::dtype())
}

/// A depthwise `conv_transpose2d` without bias (the input gradient of a depthwise
/// `conv2d`: `x` is that convolution's output gradient `[N, C, OH, OW]`, `weight` its
/// `[C, 1, KH, KW]` weight), or its inputs back if the transposed convolution is not
/// of that kind or not f32/f64 (the caller then takes the general path).
#[allow(clippy::type_complexity)]
pub(crate) fn conv_transpose2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvTransposeOptions<2>,
) -> Result<FlexTensor, (FlexTensor, FlexTensor, Option<FlexTensor>)> {
    let (g_shape, w_shape) = (x.layout().shape(), weight.layout().shape());
    let depthwise = bias.is_none()
        && g_shape.len() == 4
        && w_shape.len() == 4
        && options.groups > 1
        && options.groups == g_shape[1]
        && w_shape[0] == g_shape[1]
        && w_shape[1] == 1;
    if !depthwise || !matches!(x.dtype(), DType::F32 | DType::F64) {
        return Err((x, weight, bias));
    }
    let size = |dim: usize| {
        (g_shape[dim + 2] - 1) * options.stride[dim] + options.dilation[dim] * (w_shape[dim + 2] - 1)
            + options.padding_out[dim]
            + 1
    };
    let (in_h, in_w) = (size(0), size(1));
    let Some(in_h) = in_h.checked_sub(2 * options.padding[0]) else {
        return Err((x, weight, bias));
    };
    let Some(in_w) = in_w.checked_sub(2 * options.padding[1]) else {
        return Err((x, weight, bias));
    };
    let dims = [g_shape[0], g_shape[1], in_h, in_w, w_shape[2], w_shape[3]];
    let conv = ConvOptions::new(options.stride, options.padding, options.dilation, options.groups);
    Ok(match x.dtype() {
        DType::F32 => x_backward_typed::<f32>(dims, weight, x, &conv),
        _ => x_backward_typed::<f64>(dims, weight, x, &conv),
    })
}

/// The weight gradient of a depthwise `conv2d`, or its inputs back if the convolution is
/// not depthwise or not f32/f64 (the caller then takes the generic backward).
pub(crate) fn conv2d_weight_backward(x: FlexTensor, weight: &FlexTensor, grad: FlexTensor, options: &ConvOptions<2>) -> Result<FlexTensor, (FlexTensor, FlexTensor)> {
    let Some(dims) = depthwise_dims(x.layout().shape(), weight.layout().shape(), options) else {
        return Err((x, grad));
    };
    match x.dtype() {
        DType::F32 => Ok(weight_backward_typed::<f32>(dims, x, grad, options)),
        DType::F64 => Ok(weight_backward_typed::<f64>(dims, x, grad, options)),
        _ => Err((x, grad)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_backend::TensorData;
    use burn_backend::ops::ModuleOps;

    use crate::Flex;

    fn tensor(values: Vec<f64>, shape: Vec<usize>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn seeded(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn values(t: FlexTensor) -> Vec<f64> {
        t.to_contiguous().storage::<f64>().to_vec()
    }

    fn weight_values(t: &FlexTensor) -> Vec<f64> {
        values(t.clone())
    }

    /// Every (output position, tap, input position) triple of a depthwise convolution
    /// of one plane, by the definition.
    fn taps(h: usize, w: usize, k: usize, stride: usize, pad: usize, dilation: usize) -> Vec<(usize, usize, usize)> {
        let out = |size: usize| (size + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
        let (oh, ow) = (out(h), out(w));
        let mut triples = Vec::new();
        for y in 0..oh {
            for x in 0..ow {
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (y * stride + ky * dilation) as isize - pad as isize;
                        let ix = (x * stride + kx * dilation) as isize - pad as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            triples.push((y * ow + x, ky * k + kx, iy as usize * w + ix as usize));
                        }
                    }
                }
            }
        }
        triples
    }

    fn naive_x_grad(weight: &[f64], grad: &[f64], [n, c, h, w]: [usize; 4], k: usize, stride: usize, pad: usize, dilation: usize) -> Vec<f64> {
        let triples = taps(h, w, k, stride, pad, dilation);
        let out_plane = grad.len() / (n * c);
        let mut gx = vec![0.0; n * c * h * w];
        for bc in 0..n * c {
            for &(o, t, i) in &triples {
                gx[bc * h * w + i] += weight[(bc % c) * k * k + t] * grad[bc * out_plane + o];
            }
        }
        gx
    }

    fn naive_w_grad(x: &[f64], grad: &[f64], [n, c, h, w]: [usize; 4], k: usize, stride: usize, pad: usize, dilation: usize) -> Vec<f64> {
        let triples = taps(h, w, k, stride, pad, dilation);
        let out_plane = grad.len() / (n * c);
        let mut gw = vec![0.0; c * k * k];
        for bc in 0..n * c {
            for &(o, t, i) in &triples {
                gw[(bc % c) * k * k + t] += x[bc * h * w + i] * grad[bc * out_plane + o];
            }
        }
        gw
    }

    /// The depthwise gradients equal the definition's (every output position times
    /// every tap) in float64, for strides, paddings, dilations and odd sizes.
    #[test]
    fn depthwise_gradients_equal_the_definition() {
        let cases = [
            // (n, c, h, w, k, stride, pad, dilation)
            (2, 3, 7, 6, 3, 1, 1, 1),
            (2, 3, 7, 6, 3, 2, 1, 1),
            (1, 4, 9, 8, 5, 1, 2, 1),
            (2, 2, 9, 9, 5, 2, 2, 1),
            (2, 3, 8, 7, 3, 1, 2, 2),
            (1, 2, 11, 10, 5, 2, 4, 2),
            (3, 2, 5, 5, 3, 1, 0, 1),
        ];
        for (i, &(n, c, h, w, k, stride, pad, dilation)) in cases.iter().enumerate() {
            let options = ConvOptions::new([stride, stride], [pad, pad], [dilation, dilation], c);
            let x = tensor(seeded(n * c * h * w, i as u64), vec![n, c, h, w]);
            let weight = tensor(seeded(c * k * k, 100 + i as u64), vec![c, 1, k, k]);
            let out = Flex::conv2d(x.clone(), weight.clone(), None, options.clone());
            let out_shape = out.layout().shape().to_vec();
            let grad = tensor(seeded(out_shape.iter().product(), 200 + i as u64), out_shape.clone());

            let expected_x = naive_x_grad(&weight_values(&weight), &values(grad.clone()), [n, c, h, w], k, stride, pad, dilation);
            let expected_w = naive_w_grad(&values(x.clone()), &values(grad.clone()), [n, c, h, w], k, stride, pad, dilation);
            let (out_h, out_w) = (out_shape[2], out_shape[3]);
            let padding_out = [
                burn_backend::ops::conv::calculate_padding_out(k, stride, pad, dilation, h, out_h),
                burn_backend::ops::conv::calculate_padding_out(k, stride, pad, dilation, w, out_w),
            ];
            let transposed = ConvTransposeOptions::new([stride, stride], [pad, pad], padding_out, [dilation, dilation], c);
            let got_x = values(conv_transpose2d(grad.clone(), weight.clone(), None, &transposed).ok().unwrap());
            assert_eq!(got_x.len(), n * c * h * w, "case {i}: input gradient shape");
            let got_w = values(conv2d_weight_backward(x, &weight, grad, &options).ok().unwrap());
            for (a, b) in got_x.iter().zip(&expected_x) {
                assert!((a - b).abs() < 1e-12, "case {i}: x gradient {a} vs {b}");
            }
            for (a, b) in got_w.iter().zip(&expected_w) {
                assert!((a - b).abs() < 1e-12, "case {i}: weight gradient {a} vs {b}");
            }
        }
    }
}
