//! Training-time augmentation (random crop with padding, horizontal flip, cutout) and
//! per-channel normalization, following DARTS's CIFAR pipeline.
//!
//! Every random choice made for an item comes from [`item_rng`]`(seed, epoch, index)`,
//! where `index` is the item's position in its source. An item therefore gets the same
//! augmentation whichever worker thread fetches it and in whatever order, and a
//! different one each epoch.

use std::ops::Range;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::images::RawImage;

/// Which random transformations a training item goes through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Zero padding added on every side before a random crop back to the original size;
    /// 0 disables the crop. Image folders use a random resized crop instead.
    pub crop_padding: usize,
    /// Mirror left-right with probability one half.
    pub flip: bool,
    /// Side of the square set to zero (after normalization, so to the channel mean) at a
    /// random centre, clipped at the borders as in DARTS; `None` disables cutout.
    pub cutout: Option<usize>,
    /// Smallest fraction of the image area a random resized crop keeps (image folders).
    pub min_crop_scale: f64,
}

impl Default for AugmentConfig {
    /// No augmentation at all.
    fn default() -> Self {
        Self {
            crop_padding: 0,
            flip: false,
            cutout: None,
            min_crop_scale: 0.08,
        }
    }
}

impl AugmentConfig {
    /// The same configuration with cutout off (DARTS searches without cutout).
    pub fn without_cutout(&self) -> Self {
        Self {
            cutout: None,
            ..self.clone()
        }
    }
}

/// Per-channel mean and standard deviation of pixel values scaled to `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel.
    pub std: Vec<f32>,
}

/// A random generator for one item of one epoch, independent of fetch order.
pub(crate) fn item_rng(seed: u64, epoch: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(mix_seed(&[seed, epoch, index as u64]))
}

/// Mixes several numbers into one well-spread seed (SplitMix64 steps).
pub fn mix_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9e37_79b9_7f4a_7c15, |acc, &p| {
        let mut z = (acc ^ p).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// Pads `image` with `padding` zero pixels on every side and crops a random window of the
/// original size from it.
pub(crate) fn pad_crop(image: &RawImage, padding: usize, rng: &mut StdRng) -> RawImage {
    let dy = rng.random_range(0..=2 * padding);
    let dx = rng.random_range(0..=2 * padding);
    shift(
        image,
        dy as isize - padding as isize,
        dx as isize - padding as isize,
    )
}

/// The window of `image` whose top-left corner is at (`dy`, `dx`), zero outside the image.
pub(crate) fn shift(image: &RawImage, dy: isize, dx: isize) -> RawImage {
    let (h, w) = (image.height, image.width);
    let mut out = RawImage::filled(image.channels, h, w, 0);
    for c in 0..image.channels {
        for y in 0..h {
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize + dx;
                if sx >= 0 && sx < w as isize {
                    out.set_pixel(c, y, x, image.pixel(c, sy as usize, sx as usize));
                }
            }
        }
    }
    out
}

/// Mirrors `image` left-right in place.
pub(crate) fn hflip(image: &mut RawImage) {
    let w = image.width;
    for row in image.data.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Scales pixels to `[0, 1]` and normalizes each channel: `(v / 255 - mean) / std`.
///
/// Channels beyond the lengths of `mean` / `std` reuse their last entry.
pub(crate) fn normalize(image: &RawImage, norm: &Normalization) -> Vec<f32> {
    let plane = image.height * image.width;
    let pick = |v: &[f32], c: usize| v.get(c).or(v.last()).copied().unwrap_or(0.0);
    let mut out = Vec::with_capacity(image.data.len());
    for (c, pixels) in image.data.chunks_exact(plane.max(1)).enumerate() {
        let (mean, std) = (pick(&norm.mean, c), pick(&norm.std, c).max(f32::EPSILON));
        out.extend(pixels.iter().map(|&v| (v as f32 / 255.0 - mean) / std));
    }
    out
}

/// Rows and columns of a cutout square of side `length` centred at a random pixel and
/// clipped to the image, as DARTS's `Cutout`.
pub(crate) fn cutout_region(
    height: usize,
    width: usize,
    length: usize,
    rng: &mut StdRng,
) -> (Range<usize>, Range<usize>) {
    let cy = rng.random_range(0..height.max(1));
    let cx = rng.random_range(0..width.max(1));
    let half = length / 2;
    let clip = |c: usize, n: usize| c.saturating_sub(half)..(c + length - half).min(n);
    (clip(cy, height), clip(cx, width))
}

/// Sets `rows x cols` to zero in every channel of a `[channels, height, width]` image.
pub(crate) fn apply_cutout(
    pixels: &mut [f32],
    shape: [usize; 3],
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let [channels, height, width] = shape;
    for c in 0..channels {
        for y in rows.clone() {
            let start = (c * height + y) * width;
            pixels[start + cols.start..start + cols.end].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(channels: usize, h: usize, w: usize) -> RawImage {
        RawImage {
            channels,
            height: h,
            width: w,
            data: (0..channels * h * w).map(|i| (i % 251 + 1) as u8).collect(),
        }
    }

    #[test]
    fn item_rng_depends_on_seed_epoch_and_index_only() {
        let draw = |s, e, i| item_rng(s, e, i).random::<u64>();
        assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
        assert_ne!(draw(1, 2, 3), draw(1, 3, 3));
        assert_ne!(draw(1, 2, 3), draw(1, 2, 4));
        assert_ne!(draw(1, 2, 3), draw(2, 2, 3));
    }

    #[test]
    fn pad_crop_keeps_shape_and_is_a_shift() {
        let img = ramp(3, 8, 8);
        for i in 0..20 {
            let out = pad_crop(&img, 2, &mut item_rng(0, 0, i));
            assert_eq!((out.channels, out.height, out.width), (3, 8, 8));
            // Some shift in [-2, 2]^2 reproduces the output exactly.
            let found = (-2..=2)
                .flat_map(|dy| (-2..=2).map(move |dx| (dy, dx)))
                .any(|(dy, dx)| shift(&img, dy, dx) == out);
            assert!(found);
        }
        assert_eq!(pad_crop(&img, 0, &mut item_rng(0, 0, 0)), img);
    }

    #[test]
    fn shift_fills_with_zero() {
        let img = ramp(1, 4, 4);
        let out = shift(&img, -1, 2);
        assert_eq!(out.pixel(0, 0, 0), 0); // source row -1
        assert_eq!(out.pixel(0, 1, 3), 0); // source col 5
        assert_eq!(out.pixel(0, 1, 1), img.pixel(0, 0, 3));
    }

    #[test]
    fn flip_mirrors_each_row() {
        let img = ramp(3, 4, 5);
        let mut out = img.clone();
        hflip(&mut out);
        for c in 0..3 {
            for y in 0..4 {
                for x in 0..5 {
                    assert_eq!(out.pixel(c, y, x), img.pixel(c, y, 4 - x));
                }
            }
        }
        hflip(&mut out);
        assert_eq!(out, img);
    }

    #[test]
    fn normalize_uses_each_channel_statistics() {
        let img = RawImage {
            channels: 2,
            height: 1,
            width: 2,
            data: vec![0, 255, 51, 102],
        };
        let norm = Normalization {
            mean: vec![0.5, 0.2],
            std: vec![0.5, 0.1],
        };
        let out = normalize(&img, &norm);
        let want = [-1.0, 1.0, 0.0, 2.0];
        for (a, b) in out.iter().zip(want) {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
        }
    }

    #[test]
    fn cutout_zeros_a_clipped_square() {
        let shape = [3, 40, 40];
        for i in 0..50 {
            let mut rng = item_rng(9, 0, i);
            let (rows, cols) = cutout_region(40, 40, 16, &mut rng);
            assert!(rows.len() <= 16 && cols.len() <= 16 && !rows.is_empty());
            // Interior centres give the full 16x16 square.
            if rows.start > 0 && rows.end < 40 {
                assert_eq!(rows.len(), 16);
            }
            let mut px = vec![1.0f32; 3 * 40 * 40];
            apply_cutout(&mut px, shape, rows.clone(), cols.clone());
            for c in 0..3 {
                for y in 0..40 {
                    for x in 0..40 {
                        let inside = rows.contains(&y) && cols.contains(&x);
                        assert_eq!(px[(c * 40 + y) * 40 + x] == 0.0, inside);
                    }
                }
            }
        }
    }
}
