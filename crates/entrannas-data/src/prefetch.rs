//! Deterministic, prefetched batches: the order of epoch `e` depends only on
//! `(seed, e)`, and a background thread decodes and augments the next batches while
//! the model computes, so a resumed search sees exactly the batches an uninterrupted
//! one would.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;

use crate::augment::mix_seed;
use crate::{ImageBatch, ImageBatcher, ImageDataset, ImageItem};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::backend::Backend;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The item order of one epoch: a seeded Fisher-Yates shuffle, or `0..len`.
pub fn epoch_order(len: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut rng = StdRng::seed_from_u64(mix_seed(&[seed, epoch as u64]));
        for i in (1..len).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
    }
    order
}

/// Host-side batches of one epoch, prepared on a background thread (up to `ahead`
/// batches in advance). The last batch may be smaller.
pub struct Prefetch {
    receiver: Receiver<Vec<ImageItem>>,
}

impl Prefetch {
    /// Starts preparing the batches of `dataset` for `epoch`, in `order`.
    pub fn start(
        dataset: &ImageDataset,
        order: Vec<usize>,
        batch_size: usize,
        epoch: usize,
    ) -> Self {
        let dataset = dataset.with_epoch(epoch as u64);
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

    /// The next batch as tensors on `device`, or `None` at the end of the epoch.
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
        let a = epoch_order(100, 3, 1, true);
        assert_eq!(a, epoch_order(100, 3, 1, true));
        assert_ne!(a, epoch_order(100, 3, 2, true));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 3, 1, false), vec![0, 1, 2, 3, 4]);
    }
}
