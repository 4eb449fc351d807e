//! Datasets for EnTranNAS: readers, the search split, augmentation and batching.
//!
//! Layer 4 of the workspace (see `docs/ARCHITECTURE.md`). Everything tensor-shaped is
//! generic over a burn `Backend`.
//!
//! - Readers: Fashion-MNIST / MNIST IDX files, plain or gzip ([`idx`]); CIFAR-10 and
//!   CIFAR-100 binary files ([`cifar`]); ImageNet-style image folders decoded lazily
//!   ([`FolderImages`]); a Fashion-MNIST subset compiled into the binary
//!   ([`embedded_fashion_mnist`]).
//! - [`open`] reads a dataset named by a [`DatasetKind`] into an [`OpenedDataset`]:
//!   its [`DatasetInfo`], training and test sources, and augmentation.
//! - [`SearchSplit`] divides the training set into seeded, disjoint, class-balanced
//!   parts: `train` for weights, `val` for the architecture (SPEC section 4).
//! - [`ImageDataset`] is the burn `Dataset` of normalized, augmented items; augmentation
//!   draws depend only on `(seed, epoch, item)` ([`AugmentConfig`], [`mix_seed`]).
//! - [`ImageBatcher`] stacks items into an [`ImageBatch`]; [`Prefetch`] prepares the
//!   batches of one epoch, in a seeded order ([`epoch_order`]), on a background thread.
//! - An image file that cannot be decoded is an error naming it
//!   ([`DataError::Decode`]), at open (header check), in `entrannas data` (full decode,
//!   [`OpenedDataset::check_pixels`]) or when a batch is loaded. Only with
//!   [`OpenOptions::skip_undecodable`] are such files left out, and then counted.
//!
//! ```no_run
//! use entrannas_data::{open, epoch_order, DatasetKind, OpenOptions, Prefetch, SearchSplit};
//! # fn run<B: burn::prelude::Backend>(device: &B::Device) -> Result<(), entrannas_data::DataError> {
//! let data = open(DatasetKind::Embedded, None, &OpenOptions::default())?;
//! println!("{}", data.summary());
//! let search = data.search_split(&SearchSplit::default())?;
//! let order = epoch_order(search.train.source_indices().len(), 0, 0, true);
//! let batches = Prefetch::start(&search.train, order, 64, 0);
//! while let Some(batch) = batches.next_batch::<B>(device)? {
//!     let _ = (batch.images.dims(), batch.targets.dims());
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod augment;
mod batch;
pub mod cifar;
mod dataset;
mod embedded;
mod error;
mod folder;
pub mod idx;
mod images;
mod kind;
mod open;
mod prefetch;
mod split;
mod summary;

#[cfg(test)]
mod testutil;

pub use augment::{AugmentConfig, Normalization, mix_seed};
pub use batch::{ImageBatch, ImageBatcher};
pub use dataset::{ImageDataset, ImageItem};
pub use embedded::{EMBEDDED_TEST_PER_CLASS, EMBEDDED_TRAIN_PER_CLASS, embedded_fashion_mnist};
pub use error::DataError;
pub use folder::{FolderImages, FolderOptions, IMAGE_EXTENSIONS, folder_classes, open_folder_tree};
pub use images::{ImageSource, InMemoryImages, RawImage};
pub use kind::{
    CIFAR10_CLASSES, CIFAR100_CLASSES, DatasetInfo, DatasetKind, FASHION_MNIST_CLASSES,
};
pub use open::{DEFAULT_FASHION_MNIST_DIR, OpenOptions, OpenedDataset, SearchData, open};
pub use prefetch::{Prefetch, epoch_order};
pub use split::{SearchSplit, balanced_split, class_counts, first_per_class};
pub use summary::{DataSummary, SplitSummary};
