//! The burn [`Dataset`] of normalized (and, for training, augmented) image items.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataset::Dataset;
use rand::RngExt;

use crate::augment::{
    AugmentConfig, Normalization, apply_cutout, cutout_region, hflip, item_rng, normalize, pad_crop,
};
use crate::error::DataError;
use crate::images::ImageSource;
use crate::split::class_counts;

/// One image ready for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageItem {
    /// Normalized pixels, `C, H, W` order.
    pub pixels: Vec<f32>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Class label.
    pub label: usize,
}

/// A view of some items of an [`ImageSource`], with their normalization and (for
/// training) augmentation.
///
/// Item `i` of the view is item `indices[i]` of the source. Cloning is cheap: the
/// source and the indices are shared.
///
/// # Undecodable files
/// Fetching an item whose image file cannot be decoded is an error naming the file:
/// [`ImageDataset::try_get`] returns it, and burn's [`Dataset::get`] yields it as the
/// item (`Some(Err(..))`), so no consumer can mistake a bad file for the end of the
/// data or for an image. When the image folder skips undecodable files
/// ([`crate::FolderImages::with_skip_undecodable`]), the loader ([`crate::Prefetch`])
/// leaves such items out of their batch and counts them
/// ([`ImageDataset::skipped_items`]).
#[derive(Clone, Debug)]
pub struct ImageDataset {
    source: ImageSource,
    indices: Arc<Vec<usize>>,
    normalization: Normalization,
    augment: Option<AugmentConfig>,
    seed: u64,
    epoch: u64,
    skipped: Arc<AtomicUsize>,
}

impl ImageDataset {
    /// All items of `source`, normalized, not augmented.
    pub fn new(source: ImageSource, normalization: Normalization) -> Self {
        let indices = Arc::new((0..source.len()).collect());
        Self {
            source,
            indices,
            normalization,
            augment: None,
            seed: 0,
            epoch: 0,
            skipped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Keeps only the source items at `indices` (positions in the source, not in this
    /// view); indices past the end of the source are dropped.
    pub fn with_indices(mut self, indices: Vec<usize>) -> Self {
        let len = self.source.len();
        self.indices = Arc::new(indices.into_iter().filter(|&i| i < len).collect());
        self
    }

    /// Turns augmentation on (`Some`) or off (`None`); `seed` seeds every random choice.
    pub fn with_augment(mut self, augment: Option<AugmentConfig>, seed: u64) -> Self {
        self.augment = augment;
        self.seed = seed;
        self
    }

    /// The same view for another epoch: augmentation draws depend on the epoch.
    pub fn with_epoch(&self, epoch: u64) -> Self {
        Self {
            epoch,
            ..self.clone()
        }
    }

    /// The source this view reads.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// Positions in the source of this view's items, in order.
    pub fn source_indices(&self) -> &[usize] {
        &self.indices
    }

    /// The augmentation in use, if any.
    pub fn augment(&self) -> Option<&AugmentConfig> {
        self.augment.as_ref()
    }

    /// The normalization in use.
    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }

    /// The epoch augmentation draws are made for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The seed of the augmentation draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `[channels, height, width]` of every item.
    pub fn shape(&self) -> [usize; 3] {
        self.source.shape()
    }

    /// The label of every item of the view, in order.
    pub fn labels(&self) -> Vec<usize> {
        let labels = self.source.labels();
        self.indices.iter().map(|&i| labels[i]).collect()
    }

    /// Items per class, for labels below `classes`.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        class_counts(self.source.labels(), &self.indices, classes)
    }

    /// Whether loaders leave out items whose file cannot be decoded (an image folder
    /// told to skip undecodable files) instead of failing.
    pub fn skips_undecodable(&self) -> bool {
        match &self.source {
            ImageSource::Memory(_) => false,
            ImageSource::Folder(folder) => folder.skips_undecodable(),
        }
    }

    /// How many fetches loaders left out so far because the file could not be decoded
    /// (a bad file counts once per epoch it is met in). Shared by all clones and epochs
    /// of this view.
    pub fn skipped_items(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// What a loader does with the error of a fetch: a [`DataError::Decode`] is counted,
    /// logged and absorbed when this view [skips undecodable
    /// files](ImageDataset::skips_undecodable); anything else is returned.
    pub(crate) fn absorb_undecodable(&self, err: DataError) -> Result<(), DataError> {
        match err {
            DataError::Decode { .. } if self.skips_undecodable() => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{err}; skipped");
                Ok(())
            }
            err => Err(err),
        }
    }

    /// Checks that every item's image can be read (image folders: each file's header is
    /// decodable; in-memory sources always pass).
    pub fn verify(&self) -> Result<(), DataError> {
        match &self.source {
            ImageSource::Memory(_) => Ok(()),
            ImageSource::Folder(folder) => folder.verify(self.indices.iter().copied()),
        }
    }

    /// Fetches item `index` of the view, reporting an undecodable file as an error.
    /// `Ok(None)` past the end.
    pub fn try_get(&self, index: usize) -> Result<Option<ImageItem>, DataError> {
        let Some(&src) = self.indices.get(index) else {
            return Ok(None);
        };
        let label = self.source.labels()[src];
        let mut rng = item_rng(self.seed, self.epoch, src);
        let aug = self.augment.as_ref();
        let mut raw = match &self.source {
            ImageSource::Memory(images) => {
                let image = images.image(src).ok_or_else(|| {
                    DataError::InvalidOption(format!(
                        "item {src} is past the end of a {}-image source",
                        images.len()
                    ))
                })?;
                match aug {
                    Some(a) if a.crop_padding > 0 => pad_crop(&image, a.crop_padding, &mut rng),
                    _ => image,
                }
            }
            ImageSource::Folder(folder) => {
                folder.load(src, aug.map(|a| (a.min_crop_scale, &mut rng)))?
            }
        };
        if aug.is_some_and(|a| a.flip) && rng.random_bool(0.5) {
            hflip(&mut raw);
        }
        let shape = [raw.channels, raw.height, raw.width];
        let mut pixels = normalize(&raw, &self.normalization);
        if let Some(length) = aug.and_then(|a| a.cutout) {
            let (rows, cols) = cutout_region(raw.height, raw.width, length, &mut rng);
            apply_cutout(&mut pixels, shape, rows, cols);
        }
        Ok(Some(ImageItem {
            pixels,
            shape,
            label,
        }))
    }
}

impl Dataset<Result<ImageItem, DataError>> for ImageDataset {
    /// [`ImageDataset::try_get`], with the error as the item.
    fn get(&self, index: usize) -> Option<Result<ImageItem, DataError>> {
        self.try_get(index).transpose()
    }

    fn len(&self) -> usize {
        self.indices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::{FolderOptions, open_folder_tree, tests::make_tree};
    use crate::images::InMemoryImages;
    use crate::testutil::TempDir;

    fn source() -> ImageSource {
        let n = 6;
        let pixels = (0..n * 3 * 8 * 8).map(|i| (i * 31 % 256) as u8).collect();
        InMemoryImages::new(3, 8, 8, pixels, (0..n).map(|i| i % 3).collect())
            .unwrap()
            .into()
    }

    fn norm() -> Normalization {
        Normalization {
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        }
    }

    fn full_augment() -> AugmentConfig {
        AugmentConfig {
            crop_padding: 2,
            flip: true,
            cutout: Some(4),
            ..Default::default()
        }
    }

    #[test]
    fn eval_items_are_the_normalized_source() {
        let src = source();
        let ds = ImageDataset::new(src.clone(), norm()).with_indices(vec![4, 1, 99]);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.labels(), vec![1, 1]);
        let item = ds.get(0).unwrap().unwrap();
        let ImageSource::Memory(m) = &src else {
            unreachable!()
        };
        let raw = m.image(4).unwrap();
        assert_eq!(item.shape, [3, 8, 8]);
        assert_eq!(item.pixels, normalize(&raw, &norm()));
        assert!(ds.get(2).is_none());
    }

    #[test]
    fn augmentation_is_deterministic_per_seed_epoch_and_item() {
        let ds = ImageDataset::new(source(), norm()).with_augment(Some(full_augment()), 5);
        let a: Vec<_> = (0..ds.len()).map(|i| ds.get(i).unwrap().unwrap()).collect();
        // Fetching in another order, from a clone, gives the same items.
        let clone = ds.clone();
        for i in (0..ds.len()).rev() {
            assert_eq!(clone.get(i).unwrap().unwrap(), a[i]);
        }
        for item in &a {
            assert_eq!(item.shape, [3, 8, 8]);
            assert_eq!(item.pixels.len(), 3 * 64);
        }
        // Another epoch or seed changes the draws.
        let e1: Vec<_> = (0..ds.len())
            .map(|i| ds.with_epoch(1).get(i).unwrap().unwrap())
            .collect();
        assert_ne!(a, e1);
        let s: Vec<_> = {
            let other = ds.clone().with_augment(Some(full_augment()), 6);
            (0..ds.len())
                .map(|i| other.get(i).unwrap().unwrap())
                .collect()
        };
        assert_ne!(a, s);
        // The draws follow the source index, not the position in the view.
        let sub = ds.clone().with_indices(vec![3]);
        assert_eq!(sub.get(0).unwrap().unwrap(), a[3]);
    }

    #[test]
    fn undecodable_folder_item_is_an_error_naming_the_file() {
        let dir = TempDir::new("dataset_folder");
        make_tree(dir.path(), 2);
        std::fs::write(dir.path().join("train/mango/zz.png"), b"broken").unwrap();
        let opts = FolderOptions {
            image_size: 5,
            resize: 6,
        };
        let (train, _, _) = open_folder_tree(dir.path(), opts).unwrap();
        let labels = train.labels().to_vec();
        let ds = ImageDataset::new(train.into(), norm()).with_augment(
            Some(AugmentConfig {
                flip: true,
                ..Default::default()
            }),
            1,
        );
        assert!(matches!(ds.verify(), Err(DataError::Decode { .. })));
        let bad = 4; // apple 000, 001, mango 000, 001, zz
        assert_eq!(labels[bad], 1);
        let err = ds.try_get(bad).unwrap_err();
        assert!(err.to_string().contains("zz.png"), "{err}");
        // burn's interface yields the error as the item, not a blank image or `None`.
        assert!(matches!(ds.get(bad), Some(Err(DataError::Decode { .. }))));
        assert!(!ds.skips_undecodable());
        assert!(ds.absorb_undecodable(err).is_err());
        assert_eq!(ds.skipped_items(), 0);
        let good = ds.get(0).unwrap().unwrap();
        assert_eq!(good.shape, [3, 5, 5]);
        assert_eq!(ds.with_epoch(0).get(0).unwrap().unwrap(), good);
        assert!(ds.get(ds.len()).is_none());
        assert!(ds.with_indices(vec![0, 1, 2]).verify().is_ok());
    }
}
