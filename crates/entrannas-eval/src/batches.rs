//! Deterministic, prefetched batches: epoch `e`'s order depends only on `(seed, e)`
//! and augmentation on `(seed, e, item)`, so a resumed training sees exactly the
//! batches an uninterrupted one would; a background thread prepares the next batches
//! while the model computes.
//!
//! (The search crate has its own copy; evaluation is a sibling layer and does not
//! depend on it.)

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::backend::Backend;
use entrannas_data::augment::mix_seed;
use entrannas_data::{ImageBatch, ImageBatcher, ImageDataset, ImageItem};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The item order of one epoch: a Fisher-Yates shuffle seeded by `(seed, epoch)`.
pub fn shuffled(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = StdRng::seed_from_u64(mix_seed(&[seed, epoch as u64]));
    for i in (1..len).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    order
}

/// Host-side batches of `dataset` in a given order, prepared on a background thread
/// (up to 4 in advance). The last batch may be smaller.
pub struct Prefetch {
    receiver: Receiver<Vec<ImageItem>>,
}

impl Prefetch {
    /// Starts preparing batches of `batch_size` items of `dataset` (already set to its
    /// epoch), taken in `order`.
    pub fn start(dataset: ImageDataset, order: Vec<usize>, batch_size: usize) -> Self {
        let (sender, receiver) = sync_channel(4);
        let batch_size = batch_size.max(1);
        thread::spawn(move || {
            for chunk in order.chunks(batch_size) {
                let items: Vec<ImageItem> = chunk.iter().filter_map(|&i| dataset.get(i)).collect();
                if items.is_empty() || sender.send(items).is_err() {
                    return;
                }
            }
        });
        Self { receiver }
    }

    /// The next batch as tensors on `device`, or `None` at the end.
    pub fn next_batch<B: Backend>(&self, device: &B::Device) -> Option<ImageBatch<B>> {
        let items = self.receiver.recv().ok()?;
        Some(ImageBatcher.batch(items, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_seeded_permutations() {
        let a = shuffled(100, 3, 1);
        assert_eq!(a, shuffled(100, 3, 1));
        assert_ne!(a, shuffled(100, 3, 2));
        assert_ne!(a, shuffled(100, 4, 1));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
