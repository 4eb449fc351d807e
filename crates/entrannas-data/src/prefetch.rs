//! Deterministic, prefetched batches: the order of epoch `e` depends only on
//! `(seed, e)`, and a background thread decodes and augments the next batches while
//! the model computes, so a resumed search sees exactly the batches an uninterrupted
//! one would. A file that cannot be decoded is an error, not a blank image.

use std::cell::Cell;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;

use crate::augment::mix_seed;
use crate::{DataError, ImageBatch, ImageBatcher, ImageDataset, ImageItem};
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

/// What the loading thread sends.
enum Message {
    /// The next batch's items.
    Batch(Vec<ImageItem>),
    /// The fetch that failed; nothing follows.
    Failed(DataError),
    /// Every batch was sent.
    Done,
}

/// Host-side batches of one epoch, prepared on a background thread (up to four
/// batches in advance). The last batch may be smaller.
///
/// An item whose file cannot be decoded is an error naming the file
/// ([`Prefetch::next_batch`]); when the dataset [skips undecodable
/// files](ImageDataset::skips_undecodable), the item is left out of its batch instead
/// and counted in [`ImageDataset::skipped_items`] (a batch whose items are all skipped
/// is left out).
pub struct Prefetch {
    receiver: Receiver<Message>,
    finished: Cell<bool>,
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
                let message = match load_batch(&dataset, chunk) {
                    Ok(items) if items.is_empty() => continue,
                    Ok(items) => Message::Batch(items),
                    Err(err) => Message::Failed(err),
                };
                let failed = matches!(message, Message::Failed(_));
                if sender.send(message).is_err() || failed {
                    return;
                }
            }
            // The receiver may be gone already: then nobody waits for the end.
            let _ = sender.send(Message::Done);
        });
        Self {
            receiver,
            finished: Cell::new(false),
        }
    }

    /// The next batch as tensors on `device`; `Ok(None)` at the end of the epoch (and
    /// after an error). An item that cannot be fetched (an undecodable image file, not
    /// skipped) is the error, and ends the epoch.
    pub fn next_batch<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<Option<ImageBatch<B>>, DataError> {
        if self.finished.get() {
            return Ok(None);
        }
        let message = self
            .receiver
            .recv()
            .unwrap_or(Message::Failed(DataError::LoaderStopped));
        match message {
            Message::Batch(items) => Ok(Some(ImageBatcher.batch(items, device))),
            Message::Failed(err) => {
                self.finished.set(true);
                Err(err)
            }
            Message::Done => {
                self.finished.set(true);
                Ok(None)
            }
        }
    }
}

/// The items at `chunk`, less those the dataset skips as undecodable.
fn load_batch(dataset: &ImageDataset, chunk: &[usize]) -> Result<Vec<ImageItem>, DataError> {
    let mut items = Vec::with_capacity(chunk.len());
    for &index in chunk {
        match dataset.try_get(index) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {
                return Err(DataError::InvalidOption(format!(
                    "loader order names item {index} of a {}-item dataset",
                    dataset.len()
                )));
            }
            Err(err) => dataset.absorb_undecodable(err)?,
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::{AugmentConfig, Normalization};
    use crate::folder::tests::{make_tree, write_truncated_jpeg};
    use crate::folder::{FolderOptions, open_folder_tree};
    use crate::images::InMemoryImages;
    use crate::testutil::TempDir;
    use burn::backend::NdArray;

    type B = NdArray;

    fn norm(channels: usize) -> Normalization {
        Normalization {
            mean: vec![0.2; channels],
            std: vec![0.5; channels],
        }
    }

    /// Every batch's labels, then the end (`Ok(None)`) or the error.
    fn drain(batches: &Prefetch) -> (Vec<Vec<i64>>, Result<(), DataError>) {
        let mut labels = Vec::new();
        loop {
            match batches.next_batch::<B>(&Default::default()) {
                Ok(Some(b)) => {
                    labels.push(b.targets.into_data().convert::<i64>().to_vec().unwrap())
                }
                Ok(None) => return (labels, Ok(())),
                Err(err) => return (labels, Err(err)),
            }
        }
    }

    #[test]
    fn batches_follow_the_order_and_end_once() {
        let n = 37;
        let pixels = (0..n * 4).map(|i| (i % 256) as u8).collect();
        let images = InMemoryImages::new(1, 2, 2, pixels, (0..n).collect()).unwrap();
        let ds = ImageDataset::new(images.into(), norm(1))
            .with_augment(Some(AugmentConfig::default()), 3);
        let order = epoch_order(n, 11, 0, true);
        let batches = Prefetch::start(&ds, order.clone(), 10, 0);
        let (labels, end) = drain(&batches);
        end.unwrap();
        assert_eq!(
            labels.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 10, 7]
        );
        let expected: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        assert_eq!(labels.concat(), expected);
        assert!(
            batches
                .next_batch::<B>(&Default::default())
                .unwrap()
                .is_none()
        );
        // An order naming a missing item is an error, not a shorter epoch.
        let (_, end) = drain(&Prefetch::start(&ds, vec![0, n], 4, 0));
        assert!(matches!(end, Err(DataError::InvalidOption(_))));
    }

    #[test]
    fn undecodable_item_is_an_error_unless_skipped() {
        let dir = TempDir::new("prefetch_bad");
        make_tree(dir.path(), 2);
        let cut = dir.path().join("train/mango/000b.jpg");
        write_truncated_jpeg(&cut);
        let opts = FolderOptions {
            image_size: 4,
            resize: 5,
        };
        let (train, _, _) = open_folder_tree(dir.path(), opts).unwrap();
        assert_eq!(train.labels(), &[0, 0, 1, 1, 1, 2, 2]);
        let order: Vec<usize> = (0..7).collect();
        let strict = ImageDataset::new(train.clone().into(), norm(3));
        let batches = Prefetch::start(&strict, order.clone(), 2, 0);
        let (labels, end) = drain(&batches);
        // The batch holding item 3 (the cut file) fails; nothing after it is served.
        assert_eq!(labels, [vec![0, 0]]);
        let err = end.unwrap_err();
        assert!(err.to_string().contains("000b.jpg"), "{err}");
        assert!(
            batches
                .next_batch::<B>(&Default::default())
                .unwrap()
                .is_none()
        );
        assert_eq!(strict.skipped_items(), 0);

        let lenient = ImageDataset::new(train.with_skip_undecodable(true).into(), norm(3));
        for epoch in 0..2 {
            let (labels, end) = drain(&Prefetch::start(&lenient, order.clone(), 2, epoch));
            end.unwrap();
            assert_eq!(labels, [vec![0, 0], vec![1], vec![1, 2], vec![2]]);
        }
        // Once per epoch; shared with clones.
        assert_eq!(lenient.clone().skipped_items(), 2);
        // A batch with nothing left is left out, not the end of the epoch.
        let (labels, end) = drain(&Prefetch::start(&lenient, vec![3, 3, 0], 2, 0));
        end.unwrap();
        assert_eq!(labels, [vec![0]]);
    }

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
