//! entrannas patch: elementwise maps split across rayon threads.
//!
//! The released kernels run every elementwise map on one thread below 4 Mi elements
//! (`simd/portable.rs`) or always (`unary_op`, the allocating path of `binary_op`),
//! which left the second core idle through most of a NAS search step, whose tensors
//! hold 16 Ki to 2 Mi elements. Each element is computed by itself, so the result is
//! the same for any number of threads.

use alloc::vec::Vec;
#[cfg(feature = "rayon")]
use rayon::prelude::*;

/// Elements above which an elementwise map is split across threads: 64 Ki, measured
/// on a 2-core machine against 16 Ki, 256 Ki and never (docs/PERFORMANCE.md).
///
/// Parallel work pays for rayon's hand-off when the caller runs on a rayon worker
/// (inside `ThreadPool::install` or `rayon::scope`); from outside the pool, each split
/// waits on a cross-thread wake-up.
#[cfg(feature = "rayon")]
pub(crate) const fn parallel_threshold() -> usize {
    64 * 1024
}

/// Elements of one parallel task: large enough that a task is tens of microseconds.
pub(crate) const CHUNK: usize = 16 * 1024;

/// `dst[i] = op(dst[i])` for every element.
pub(crate) fn map_in_place<E, Op>(dst: &mut [E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Fn(E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if dst.len() >= parallel_threshold() {
        dst.par_chunks_mut(CHUNK).for_each(|chunk| {
            for x in chunk.iter_mut() {
                *x = op(*x);
            }
        });
        return;
    }
    for x in dst.iter_mut() {
        *x = op(*x);
    }
}

/// `dst[i] = op(dst[i], src[i])` for every element (`dst` and `src` of one length).
pub(crate) fn zip_in_place<E, Op>(dst: &mut [E], src: &[E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Fn(E, E) -> E + Sync,
{
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(feature = "rayon")]
    if dst.len() >= parallel_threshold() {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| {
                for (x, &y) in d.iter_mut().zip(s) {
                    *x = op(*x, y);
                }
            });
        return;
    }
    for (x, &y) in dst.iter_mut().zip(src) {
        *x = op(*x, y);
    }
}

/// `op(src[i])` for every element, in a new vector.
pub(crate) fn map<E, Op>(src: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Fn(E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if src.len() >= parallel_threshold() {
        let mut out = Vec::with_capacity(src.len());
        src.par_iter()
            .with_min_len(CHUNK)
            .map(|&x| op(x))
            .collect_into_vec(&mut out);
        return out;
    }
    src.iter().map(|&x| op(x)).collect()
}

/// `op(a[i], b[i])` for every element, in a new vector (`a` and `b` of one length).
pub(crate) fn zip_map<E, Op>(a: &[E], b: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Fn(E, E) -> E + Sync,
{
    debug_assert_eq!(a.len(), b.len());
    #[cfg(feature = "rayon")]
    if a.len() >= parallel_threshold() {
        let mut out = Vec::with_capacity(a.len());
        a.par_iter()
            .zip(b.par_iter())
            .with_min_len(CHUNK)
            .map(|(&x, &y)| op(x, y))
            .collect_into_vec(&mut out);
        return out;
    }
    a.iter().zip(b).map(|(&x, &y)| op(x, y)).collect()
}

/// Runs `body(first_row, block)` over `dst` cut into blocks of whole rows of
/// `row_len` elements (about [`CHUNK`] elements each), blocks in parallel above the
/// threshold; `first_row` is the index of the block's first row.
pub(crate) fn for_row_blocks<E, Body>(dst: &mut [E], row_len: usize, body: Body)
where
    E: Send,
    Body: Fn(usize, &mut [E]) + Sync,
{
    if row_len == 0 || dst.is_empty() {
        return;
    }
    debug_assert_eq!(dst.len() % row_len, 0);
    #[cfg(feature = "rayon")]
    if dst.len() >= parallel_threshold() {
        let rows_per_block = (CHUNK / row_len).max(1);
        dst.par_chunks_mut(rows_per_block * row_len)
            .enumerate()
            .for_each(|(i, block)| body(i * rows_per_block, block));
        return;
    }
    body(0, dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths either side of the threshold and of a chunk boundary.
    fn lengths() -> Vec<usize> {
        #[cfg(feature = "rayon")]
        let t = parallel_threshold();
        #[cfg(not(feature = "rayon"))]
        let t = 1024;
        vec![0, 1, 7, t - 1, t, t + 1, 3 * t + 5]
    }

    #[test]
    fn maps_equal_the_serial_loops() {
        for n in lengths() {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let op = |x: f32| x.mul_add(1.5, -0.25).max(0.0);
            let expected: Vec<f32> = a.iter().map(|&x| op(x)).collect();
            assert_eq!(map(&a, op), expected, "map, n = {n}");
            let mut in_place = a.clone();
            map_in_place(&mut in_place, op);
            assert_eq!(in_place, expected, "map_in_place, n = {n}");
            let zipped: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| x * y - x).collect();
            assert_eq!(zip_map(&a, &b, |x, y| x * y - x), zipped, "zip_map, n = {n}");
            let mut zipped_in_place = a.clone();
            zip_in_place(&mut zipped_in_place, &b, |x, y| x * y - x);
            assert_eq!(zipped_in_place, zipped, "zip_in_place, n = {n}");
            for row_len in [1, 3, 1000, CHUNK + 1] {
                let rows = n / row_len;
                let mut blocks = a[..rows * row_len].to_vec();
                for_row_blocks(&mut blocks, row_len, |first_row, block| {
                    for (k, x) in block.iter_mut().enumerate() {
                        *x += (first_row + k / row_len) as f32;
                    }
                });
                let by_row: Vec<f32> = a[..rows * row_len]
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| x + (i / row_len) as f32)
                    .collect();
                assert_eq!(blocks, by_row, "for_row_blocks, n = {n}, row_len = {row_len}");
            }
        }
    }
}
