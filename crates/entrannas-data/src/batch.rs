//! Batching items into tensors, and burn data loaders over an [`ImageDataset`].
//!
//! burn 0.21's `DataLoaderBuilder::shuffle(seed)` reshuffles on every `iter()` of one
//! loader, and its multi-threaded loader splits a once-shuffled dataset into one chunk
//! per worker. [`data_loader`] instead builds a loader per epoch, seeding the shuffle
//! with `(seed, epoch)` and giving the dataset the epoch, so epoch `e` yields the same
//! batches whatever happened before it. With workers, each batch's content is fixed
//! but the order batches arrive in depends on thread timing.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::mix_seed;
use crate::dataset::{ImageDataset, ImageItem};

/// A batch of images and their class labels.
#[derive(Clone, Debug)]
pub struct ImageBatch<B: Backend> {
    /// Normalized images, `[N, C, H, W]`.
    pub images: Tensor<B, 4>,
    /// Class labels, `[N]`.
    pub targets: Tensor<B, 1, Int>,
}

/// Stacks [`ImageItem`]s into an [`ImageBatch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageBatcher;

impl<B: Backend> Batcher<B, ImageItem, ImageBatch<B>> for ImageBatcher {
    /// # Panics
    /// When the items do not all have the same shape: a dataset yields one shape, so
    /// mixed shapes are a programming error.
    fn batch(&self, items: Vec<ImageItem>, device: &B::Device) -> ImageBatch<B> {
        let n = items.len();
        let [c, h, w] = items.first().map(|i| i.shape).unwrap_or([1, 1, 1]);
        let mut pixels = Vec::with_capacity(n * c * h * w);
        let mut targets = Vec::with_capacity(n);
        for item in items {
            assert_eq!(item.shape, [c, h, w], "items of one batch differ in shape");
            pixels.extend_from_slice(&item.pixels);
            targets.push(item.label as i64);
        }
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
        }
    }
}

/// How a data loader batches and shuffles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoaderConfig {
    /// Items per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Shuffle the items each epoch.
    pub shuffle: bool,
    /// Seed of the shuffles.
    pub seed: u64,
    /// Worker threads loading batches while the model computes (0: load on the
    /// calling thread).
    pub workers: usize,
}

impl Default for LoaderConfig {
    /// Batches of 64, shuffled with seed 0, two workers.
    fn default() -> Self {
        Self {
            batch_size: 64,
            shuffle: true,
            seed: 0,
            workers: 2,
        }
    }
}

/// A burn data loader over `dataset` for one epoch, yielding batches on `device`.
///
/// Build one per epoch: iterating the same loader twice reshuffles (burn advances its
/// generator) but repeats that epoch's augmentation draws.
pub fn data_loader<B: Backend>(
    dataset: &ImageDataset,
    config: &LoaderConfig,
    epoch: u64,
    device: &B::Device,
) -> Arc<dyn DataLoader<B, ImageBatch<B>>> {
    let mut builder = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(config.batch_size.max(1))
        .num_workers(config.workers)
        .set_device(device.clone());
    if config.shuffle {
        builder = builder.shuffle(mix_seed(&[config.seed, epoch]));
    }
    builder.build(dataset.with_epoch(epoch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::{AugmentConfig, Normalization};
    use crate::images::InMemoryImages;
    use burn::backend::NdArray;

    type B = NdArray;

    fn dataset(n: usize) -> ImageDataset {
        let pixels = (0..n * 4).map(|i| (i % 256) as u8).collect();
        let images = InMemoryImages::new(1, 2, 2, pixels, (0..n).map(|i| i % 4).collect()).unwrap();
        let norm = Normalization {
            mean: vec![0.2],
            std: vec![0.5],
        };
        ImageDataset::new(images.into(), norm)
    }

    #[test]
    fn batch_shapes_and_values() {
        let ds = dataset(5);
        let items: Vec<_> = (0..3)
            .map(|i| burn::data::dataset::Dataset::get(&ds, i).unwrap())
            .collect();
        let batch: ImageBatch<B> = ImageBatcher.batch(items, &Default::default());
        assert_eq!(batch.images.dims(), [3, 1, 2, 2]);
        assert_eq!(batch.targets.dims(), [3]);
        let px = batch.images.into_data().to_vec::<f32>().unwrap();
        for (i, v) in px.iter().enumerate() {
            approx::assert_abs_diff_eq!(*v, (i as f32 / 255.0 - 0.2) / 0.5, epsilon = 1e-5);
        }
        let t = batch
            .targets
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .unwrap();
        assert_eq!(t, vec![0, 1, 2]);
    }

    fn epoch_contents(ds: &ImageDataset, cfg: &LoaderConfig, epoch: u64) -> Vec<Vec<i64>> {
        let loader = data_loader::<B>(ds, cfg, epoch, &Default::default());
        let mut batches: Vec<Vec<i64>> = loader
            .iter()
            .map(|b| {
                // Identify items by their first pixel, which differs for each.
                let px = b.images.into_data().to_vec::<f32>().unwrap();
                px.chunks(4).map(|c| (c[0] * 1e4).round() as i64).collect()
            })
            .collect();
        if cfg.workers > 0 {
            batches.sort();
        }
        batches
    }

    #[test]
    fn loader_is_seeded_per_epoch_and_covers_every_item() {
        let ds = dataset(37).with_augment(Some(AugmentConfig::default()), 3);
        for workers in [0, 2] {
            let cfg = LoaderConfig {
                batch_size: 8,
                shuffle: true,
                seed: 11,
                workers,
            };
            let e0 = epoch_contents(&ds, &cfg, 0);
            assert_eq!(e0, epoch_contents(&ds, &cfg, 0));
            assert_ne!(e0, epoch_contents(&ds, &cfg, 1));
            let mut all: Vec<i64> = e0.concat();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 37);
        }
        let plain = LoaderConfig {
            batch_size: 10,
            shuffle: false,
            seed: 0,
            workers: 0,
        };
        let sizes: Vec<usize> = epoch_contents(&ds, &plain, 0)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![10, 10, 10, 7]);
    }
}
