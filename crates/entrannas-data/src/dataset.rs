//! The burn [`Dataset`] of normalized (and, for training, augmented) image items.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataset::Dataset;
use rand::RngExt;

use crate::augment::{
    AugmentConfig, Normalization, apply_cutout, cutout_region, hflip, item_rng, normalize, pad_crop,
};
use crate::error::DataError;
use crate::images::{ImageSource, RawImage};
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
/// [`Dataset::get`] cannot return an error, and returning `None` would silently end
/// burn's data-loader epoch early. When an image file cannot be decoded, `get` therefore
/// logs a warning naming the file, counts it (see [`ImageDataset::decode_failures`]) and
/// yields an image of the right shape and label whose normalized pixels are all zero
/// (every pixel at the channel mean). Call [`ImageDataset::verify`] up front (opening an
/// image folder does so by default) to turn bad files into errors instead, and
/// [`ImageDataset::try_get`] to fetch with errors.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    source: ImageSource,
    indices: Arc<Vec<usize>>,
    normalization: Normalization,
    augment: Option<AugmentConfig>,
    seed: u64,
    epoch: u64,
    failures: Arc<AtomicUsize>,
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
            failures: Arc::new(AtomicUsize::new(0)),
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

    /// How many fetches so far hit an undecodable file and yielded the fallback image.
    /// Shared by all clones and epochs of this view.
    pub fn decode_failures(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
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
                let image = images.image(src).unwrap_or_else(|| {
                    let [c, h, w] = images.shape();
                    RawImage::filled(c, h, w, 0)
                });
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

impl Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Option<ImageItem> {
        match self.try_get(index) {
            Ok(item) => item,
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{err}; using a blank image instead");
                let shape = self.shape();
                let label = self.source.labels()[self.indices[index]];
                Some(ImageItem {
                    pixels: vec![0.0; shape.iter().product()],
                    shape,
                    label,
                })
            }
        }
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
        let item = ds.get(0).unwrap();
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
        let a: Vec<_> = (0..ds.len()).map(|i| ds.get(i).unwrap()).collect();
        // Fetching in another order, from a clone, gives the same items.
        let clone = ds.clone();
        for i in (0..ds.len()).rev() {
            assert_eq!(clone.get(i).unwrap(), a[i]);
        }
        for item in &a {
            assert_eq!(item.shape, [3, 8, 8]);
            assert_eq!(item.pixels.len(), 3 * 64);
        }
        // Another epoch or seed changes the draws.
        let e1: Vec<_> = (0..ds.len())
            .map(|i| ds.with_epoch(1).get(i).unwrap())
            .collect();
        assert_ne!(a, e1);
        let s: Vec<_> = {
            let other = ds.clone().with_augment(Some(full_augment()), 6);
            (0..ds.len()).map(|i| other.get(i).unwrap()).collect()
        };
        assert_ne!(a, s);
        // The draws follow the source index, not the position in the view.
        let sub = ds.clone().with_indices(vec![3]);
        assert_eq!(sub.get(0).unwrap(), a[3]);
    }

    #[test]
    fn folder_items_and_decode_fallback() {
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
        assert!(ds.try_get(bad).is_err());
        let item = ds.get(bad).unwrap();
        assert_eq!((item.label, item.shape), (1, [3, 5, 5]));
        assert!(item.pixels.iter().all(|&p| p == 0.0));
        assert_eq!(ds.decode_failures(), 1);
        let good = ds.get(0).unwrap();
        assert_eq!(good.shape, [3, 5, 5]);
        assert_eq!(ds.with_epoch(0).get(0).unwrap(), good);
        assert!(ds.with_indices(vec![0, 1, 2]).verify().is_ok());
    }
}
