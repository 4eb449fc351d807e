//! Direct 2D pooling (entrannas patch, see `PATCHES.md`).
//!
//! The released crate runs every 2D pool through its 3D loops, which test the bounds of
//! every kernel tap of every output element in signed arithmetic, and runs the max-pool
//! backward on one thread. Here the valid taps of each output row and column are
//! computed once per call, the loops are 2D, and every pass runs one task per
//! `(batch, channel)` plane. Each output element (in the backward passes, each plane of
//! the input gradient) is computed by one task visiting the taps in the same order as
//! the 3D loops, so the values are the same bit for bit, on any number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::{DType, Element};
use burn_std::{Bytes, Shape};

use super::pool::pool_output_size;
use crate::{FlexTensor, Layout};

/// Kernel taps `k` (half-open range within `0..kernel`) whose input position
/// `o * stride + k * dilation - pad` lies in `0..in_size`.
fn taps(o: usize, kernel: usize, stride: usize, pad: usize, dilation: usize, in_size: usize) -> (usize, usize) {
    let base = o * stride;
    let start = if base >= pad { 0 } else { (pad - base).div_ceil(dilation) };
    let limit = in_size + pad;
    let end = if base >= limit { 0 } else { (limit - base).div_ceil(dilation) };
    let end = end.min(kernel);
    (start.min(end), end)
}

/// The geometry of one 2D pool: input and output plane sizes and, per output row and
/// column, the valid taps.
struct Geometry {
    batch: usize,
    channels: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

impl Geometry {
    fn new(
        input: &[usize],
        output: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Self {
        let [batch, channels, in_h, in_w] = [input[0], input[1], input[2], input[3]];
        let [out_h, out_w] = output;
        let rows = (0..out_h)
            .map(|o| taps(o, kernel[0], stride[0], padding[0], dilation[0], in_h))
            .collect();
        let cols = (0..out_w)
            .map(|o| taps(o, kernel[1], stride[1], padding[1], dilation[1], in_w))
            .collect();
        Self { batch, channels, in_h, in_w, out_h, out_w, stride, padding, dilation, rows, cols }
    }

    /// Output size of a forward pass over `input` (`[N, C, H, W]`).
    fn forward(
        input: &[usize],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> Self {
        let out_h = pool_output_size(input[2], kernel[0], padding[0], stride[0], dilation[0], ceil_mode);
        let out_w = pool_output_size(input[3], kernel[1], padding[1], stride[1], dilation[1], ceil_mode);
        Self::new(input, [out_h, out_w], kernel, stride, padding, dilation)
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }

    fn plane_in(&self) -> usize {
        self.in_h * self.in_w
    }

    fn plane_out(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Input row of output row `oh` at tap `kh` (a valid tap).
    fn in_row(&self, oh: usize, kh: usize) -> usize {
        oh * self.stride[0] + kh * self.dilation[0] - self.padding[0]
    }

    /// Input column of output column `ow` at tap `kw` (a valid tap).
    fn in_col(&self, ow: usize, kw: usize) -> usize {
        ow * self.stride[1] + kw * self.dilation[1] - self.padding[1]
    }

    fn output_shape(&self) -> Shape {
        Shape::from(vec![self.batch, self.channels, self.out_h, self.out_w])
    }

    fn input_shape(&self) -> Shape {
        Shape::from(vec![self.batch, self.channels, self.in_h, self.in_w])
    }
}

/// Runs `work(plane index, chunk)` over the consecutive `chunk`-sized planes of `data`,
/// in parallel where rayon is enabled.
fn for_each_plane<T: Send>(data: &mut [T], chunk: usize, work: impl Fn(usize, &mut [T]) + Sync + Send) {
    if data.is_empty() || chunk == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk).enumerate().for_each(|(p, plane)| work(p, plane));
    }
    #[cfg(not(feature = "rayon"))]
    data.chunks_mut(chunk).enumerate().for_each(|(p, plane)| work(p, plane));
}

/// 2D max pooling of a contiguous `[N, C, H, W]` tensor, with the index of each
/// maximum within its input plane (`-1` where a window covers no input).
#[allow(clippy::too_many_arguments)]
pub(crate) fn max_pool2d_with_indices<T>(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
    dtype: DType,
    neg_inf: T,
) -> (FlexTensor, FlexTensor)
where
    T: bytemuck::Pod + Copy + PartialOrd + Send + Sync + Element,
{
    let x = x.to_contiguous();
    let g = Geometry::forward(x.layout().shape(), kernel, stride, padding, dilation, ceil_mode);
    let x_data: &[T] = x.storage();
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    // Values and indices side by side per output element, one task per plane.
    let mut pairs = vec![(neg_inf, -1i64); g.planes() * plane_out];
    for_each_plane(&mut pairs, plane_out, |p, out| {
        let plane = &x_data[p * plane_in..(p + 1) * plane_in];
        for oh in 0..g.out_h {
            let (kh0, kh1) = g.rows[oh];
            for ow in 0..g.out_w {
                let (kw0, kw1) = g.cols[ow];
                let mut best = neg_inf;
                let mut best_index = -1i64;
                for kh in kh0..kh1 {
                    let row = g.in_row(oh, kh) * g.in_w;
                    for kw in kw0..kw1 {
                        let index = row + g.in_col(ow, kw);
                        let value = plane[index];
                        if best_index < 0 || value > best {
                            best = value;
                            best_index = index as i64;
                        }
                    }
                }
                out[oh * g.out_w + ow] = (best, best_index);
            }
        }
    });
    let (values, indices): (Vec<T>, Vec<i64>) = pairs.into_iter().unzip();
    (
        FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(g.output_shape()), dtype),
        FlexTensor::new(Bytes::from_elems(indices), Layout::contiguous(g.output_shape()), DType::I64),
    )
}

/// The gradient of 2D max pooling: each output gradient added at its maximum's index.
pub(crate) fn max_pool2d_backward<T>(
    x: FlexTensor,
    grad: FlexTensor,
    indices: FlexTensor,
    dtype: DType,
    zero: T,
    add: fn(T, T) -> T,
) -> FlexTensor
where
    T: bytemuck::Pod + Copy + Send + Sync + Element,
{
    let grad = grad.to_contiguous();
    let indices = indices.to_contiguous();
    let input = x.layout().shape();
    let out = grad.layout().shape();
    let g = Geometry::new(input, [out[2], out[3]], [1, 1], [1, 1], [0, 0], [1, 1]);
    let grad_data: &[T] = grad.storage();
    let index_data: &[i64] = indices.storage();
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    let mut output = vec![zero; g.planes() * plane_in];
    for_each_plane(&mut output, plane_in, |p, plane| {
        let range = p * plane_out..(p + 1) * plane_out;
        for (&index, &value) in index_data[range.clone()].iter().zip(&grad_data[range]) {
            if index >= 0 {
                let i = index as usize;
                plane[i] = add(plane[i], value);
            }
        }
    });
    FlexTensor::new(Bytes::from_elems(output), Layout::contiguous(g.input_shape()), dtype)
}

/// 2D average pooling of a `[N, C, H, W]` tensor (no dilation).
#[allow(clippy::too_many_arguments)]
pub(crate) fn avg_pool2d<T>(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
    ceil_mode: bool,
    dtype: DType,
    zero: T,
    add: fn(T, T) -> T,
    div: fn(T, usize) -> T,
) -> FlexTensor
where
    T: bytemuck::Pod + Copy + Send + Sync + Element,
{
    let x = x.to_contiguous();
    let g = Geometry::forward(x.layout().shape(), kernel, stride, padding, [1, 1], ceil_mode);
    // Taps inside the padded input (what `count_include_pad` divides by; a `ceil_mode`
    // window can reach past it).
    let padded = |o: usize, axis: usize, in_size: usize| {
        kernel[axis].min((in_size + 2 * padding[axis]).saturating_sub(o * stride[axis]))
    };
    let padded_rows: Vec<usize> = (0..g.out_h).map(|o| padded(o, 0, g.in_h)).collect();
    let padded_cols: Vec<usize> = (0..g.out_w).map(|o| padded(o, 1, g.in_w)).collect();
    let x_data: &[T] = x.storage();
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    let mut output = vec![zero; g.planes() * plane_out];
    for_each_plane(&mut output, plane_out, |p, out| {
        let plane = &x_data[p * plane_in..(p + 1) * plane_in];
        for oh in 0..g.out_h {
            let (kh0, kh1) = g.rows[oh];
            for ow in 0..g.out_w {
                let (kw0, kw1) = g.cols[ow];
                let mut sum = zero;
                for kh in kh0..kh1 {
                    let row = g.in_row(oh, kh) * g.in_w;
                    for kw in kw0..kw1 {
                        sum = add(sum, plane[row + g.in_col(ow, kw)]);
                    }
                }
                let divisor = if count_include_pad {
                    (padded_rows[oh] * padded_cols[ow]).max(1)
                } else {
                    ((kh1 - kh0) * (kw1 - kw0)).max(1)
                };
                out[oh * g.out_w + ow] = div(sum, divisor);
            }
        }
    });
    FlexTensor::new(Bytes::from_elems(output), Layout::contiguous(g.output_shape()), dtype)
}

/// The gradient of 2D average pooling: each output gradient, divided as the 3D
/// backward divides it (the kernel size with `count_include_pad`, else the valid
/// taps), added to every input of its window.
#[allow(clippy::too_many_arguments)]
pub(crate) fn avg_pool2d_backward<T>(
    x: FlexTensor,
    grad: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
    dtype: DType,
    zero: T,
    add: fn(T, T) -> T,
    div: fn(T, usize) -> T,
) -> FlexTensor
where
    T: bytemuck::Pod + Copy + Send + Sync + Element,
{
    let grad = grad.to_contiguous();
    let out = grad.layout().shape();
    let g = Geometry::new(x.layout().shape(), [out[2], out[3]], kernel, stride, padding, [1, 1]);
    let grad_data: &[T] = grad.storage();
    let (plane_in, plane_out) = (g.plane_in(), g.plane_out());
    let mut output = vec![zero; g.planes() * plane_in];
    for_each_plane(&mut output, plane_in, |p, plane| {
        let grads = &grad_data[p * plane_out..(p + 1) * plane_out];
        for oh in 0..g.out_h {
            let (kh0, kh1) = g.rows[oh];
            for ow in 0..g.out_w {
                let (kw0, kw1) = g.cols[ow];
                let divisor = if count_include_pad {
                    kernel[0] * kernel[1]
                } else {
                    ((kh1 - kh0) * (kw1 - kw0)).max(1)
                };
                let share = div(grads[oh * g.out_w + ow], divisor);
                for kh in kh0..kh1 {
                    let row = g.in_row(oh, kh) * g.in_w;
                    for kw in kw0..kw1 {
                        let i = row + g.in_col(ow, kw);
                        plane[i] = add(plane[i], share);
                    }
                }
            }
        }
    });
    FlexTensor::new(Bytes::from_elems(output), Layout::contiguous(g.input_shape()), dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::pool;
    use burn_backend::TensorData;

    fn seeded(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Few distinct values, so windows hold ties.
                ((s >> 40) % 7) as f32 * 0.25 - 0.75
            })
            .collect()
    }

    fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    /// The bits of an f32 tensor's values (NaN and signed zeros compared exactly).
    fn bits(t: &FlexTensor) -> Vec<u32> {
        t.to_contiguous().storage::<f32>().iter().map(|v| v.to_bits()).collect()
    }

    fn index_values(t: &FlexTensor) -> Vec<i64> {
        t.to_contiguous().storage::<i64>().to_vec()
    }

    /// The 3D implementation the released crate runs for a 2D pool, as reference.
    fn through_3d(f: impl FnOnce(FlexTensor) -> FlexTensor, x: &FlexTensor) -> FlexTensor {
        let s = x.layout().shape().clone();
        let x5 = x.reshape(Shape::from(vec![s[0], s[1], 1, s[2], s[3]]));
        let y = f(x5);
        let t = y.layout().shape().clone();
        y.reshape(Shape::from(vec![t[0], t[1], t[3], t[4]]))
    }

    /// Every geometry of the search's pools and more: odd and even sizes, strides 1 to
    /// 3, paddings 0 to 2, dilations 1 and 2, ceil mode on and off, both divisors.
    #[test]
    fn direct_pools_equal_the_3d_loops_bit_for_bit() {
        let mut cases = 0;
        for (h, w) in [(5, 5), (6, 7), (8, 8), (3, 4)] {
            for kernel in [1, 2, 3] {
                for stride in [1, 2, 3] {
                    for padding in 0..=kernel / 2 {
                        for dilation in [1, 2] {
                            for ceil_mode in [false, true] {
                                let shape = vec![2, 3, h, w];
                                let n = shape.iter().product();
                                let x = tensor(seeded(n, cases as u64), shape);
                                let (k, s, p, d) = ([kernel; 2], [stride; 2], [padding; 2], [dilation; 2]);
                                if pool_output_size(h, kernel, padding, stride, dilation, ceil_mode) == 0
                                    || pool_output_size(w, kernel, padding, stride, dilation, ceil_mode) == 0
                                {
                                    continue;
                                }
                                cases += 1;
                                let (values, indices) = max_pool2d_with_indices(
                                    x.clone(), k, s, p, d, ceil_mode, DType::F32, f32::NEG_INFINITY,
                                );
                                let reference = |x5| {
                                    pool::max_pool3d_with_indices_f32(
                                        x5, [1, kernel, kernel], [1, stride, stride], [0, padding, padding],
                                        [1, dilation, dilation], ceil_mode,
                                    )
                                };
                                let expected_values = through_3d(|x5| reference(x5).0, &x);
                                let expected_indices = through_3d(|x5| reference(x5).1, &x);
                                assert_eq!(values.layout().shape(), expected_values.layout().shape());
                                assert_eq!(bits(&values), bits(&expected_values));
                                assert_eq!(index_values(&indices), index_values(&expected_indices));

                                let grad = tensor(seeded(values.layout().num_elements(), 99), values.layout().shape().to_vec());
                                let got = max_pool2d_backward(x.clone(), grad.clone(), indices.clone(), DType::F32, 0.0f32, |a, b| a + b);
                                let expected = pool::max_pool2d_backward_f32_3d(x.clone(), grad, indices);
                                assert_eq!(bits(&got), bits(&expected));

                                if dilation != 1 {
                                    continue;
                                }
                                for include in [false, true] {
                                    let got = avg_pool2d(x.clone(), k, s, p, include, ceil_mode, DType::F32, 0.0f32, |a, b| a + b, |a, n| a / n as f32);
                                    let expected = through_3d(
                                        |x5| pool::avg_pool3d_f32(x5, [1, kernel, kernel], [1, stride, stride], [0, padding, padding], include, ceil_mode),
                                        &x,
                                    );
                                    assert_eq!(got.layout().shape(), expected.layout().shape());
                                    assert_eq!(bits(&got), bits(&expected));
                                    let grad = tensor(seeded(got.layout().num_elements(), 7), got.layout().shape().to_vec());
                                    let got = avg_pool2d_backward(x.clone(), grad.clone(), k, s, p, include, DType::F32, 0.0f32, |a, b| a + b, |a, n| a / n as f32);
                                    let expected = pool::avg_pool2d_backward_f32_3d(x.clone(), grad, k, s, p, include);
                                    assert_eq!(bits(&got), bits(&expected));
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 200, "{cases} geometries");
    }
}
