//! Opening a dataset by kind and directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::augment::{AugmentConfig, mix_seed};
use crate::cifar::{CifarVariant, read_cifar};
use crate::dataset::ImageDataset;
use crate::embedded::embedded_fashion_mnist;
use crate::error::DataError;
use crate::folder::{FolderOptions, open_folder_tree};
use crate::idx::{idx_split, read_idx_images, read_idx_labels};
use crate::images::{ImageSource, InMemoryImages};
use crate::kind::{DatasetInfo, DatasetKind};
use crate::split::SearchSplit;
use crate::summary::{DataSummary, SKIPPED_EXAMPLES, SplitSummary};

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST; the default
/// directory of [`DatasetKind::FashionMnist`].
pub const DEFAULT_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Options for [`open`].
#[derive(Clone, Debug, PartialEq)]
pub struct OpenOptions {
    /// Item sizes of image folders.
    pub folder: FolderOptions,
    /// Check the header of every image-folder file on open, so a file that is not an
    /// image is found before training starts. Turned off, it is found when its batch is
    /// loaded (or by [`ImageDataset::verify`] on the subsets actually used).
    pub verify_images: bool,
    /// Leave image-folder files that cannot be decoded out of the dataset, listing them
    /// in [`OpenedDataset::skipped_images`], instead of failing on the first one: at
    /// open (header check), in [`OpenedDataset::check_pixels`], and when a batch is
    /// loaded (the item is left out of its batch and counted in
    /// [`ImageDataset::skipped_items`]). Off by default.
    pub skip_undecodable: bool,
    /// Training augmentation; `None` takes the dataset's default
    /// ([`DatasetKind::default_augment`]).
    pub augment: Option<AugmentConfig>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            folder: FolderOptions::default(),
            verify_images: true,
            skip_undecodable: false,
            augment: None,
        }
    }
}

/// An opened dataset: its description, its training and test sources and the
/// augmentation its training items get.
#[derive(Clone, Debug)]
pub struct OpenedDataset {
    /// Which dataset.
    pub kind: DatasetKind,
    /// Shapes, classes and normalization.
    pub info: DatasetInfo,
    /// The directory read, or `embedded`.
    pub location: String,
    /// The training split.
    pub train: ImageSource,
    /// The test split (`val` for image folders), never used during search.
    pub test: ImageSource,
    /// The training augmentation.
    pub augment: AugmentConfig,
}

/// The two parts of the training set a search uses.
#[derive(Clone, Debug)]
pub struct SearchData {
    /// Items that train the weights.
    pub train: ImageDataset,
    /// Items that train the architecture.
    pub val: ImageDataset,
}

impl OpenedDataset {
    /// The whole training split, augmented with seed `seed` (for training a target-net).
    pub fn train_dataset(&self, seed: u64) -> ImageDataset {
        ImageDataset::new(self.train.clone(), self.info.normalization())
            .with_augment(Some(self.augment.clone()), seed)
    }

    /// The test split, normalized and not augmented.
    pub fn test_dataset(&self) -> ImageDataset {
        ImageDataset::new(self.test.clone(), self.info.normalization())
    }

    /// Splits the training split into the search's `train` and `val` parts, both
    /// augmented as in DARTS's search: the training augmentation without cutout.
    pub fn search_split(&self, split: &SearchSplit) -> Result<SearchData, DataError> {
        let (train_idx, val_idx) = split.apply(self.train.labels(), self.info.classes)?;
        let augment = Some(self.augment.without_cutout());
        let part = |indices, salt| {
            ImageDataset::new(self.train.clone(), self.info.normalization())
                .with_indices(indices)
                .with_augment(augment.clone(), mix_seed(&[split.seed, salt]))
        };
        Ok(SearchData {
            train: part(train_idx, 1),
            val: part(val_idx, 2),
        })
    }

    /// Counts per split and class, image shape, normalization and augmentation.
    pub fn summary(&self) -> DataSummary {
        let all = |s: &ImageSource| (0..s.len()).collect::<Vec<_>>();
        let splits = vec![
            SplitSummary::new(
                "train",
                self.train.labels(),
                &all(&self.train),
                self.info.classes,
            ),
            SplitSummary::new(
                "test",
                self.test.labels(),
                &all(&self.test),
                self.info.classes,
            ),
        ];
        let skipped = self.skipped_images();
        DataSummary {
            info: self.info.clone(),
            location: self.location.clone(),
            augment: self.augment.clone(),
            splits,
            skipped_images: skipped.len(),
            skipped_examples: skipped
                .iter()
                .take(SKIPPED_EXAMPLES)
                .map(|p| p.display().to_string())
                .collect(),
        }
    }

    /// The image-folder files left out because they could not be decoded (with
    /// [`OpenOptions::skip_undecodable`]): training split first, then test.
    pub fn skipped_images(&self) -> Vec<&Path> {
        [&self.train, &self.test]
            .into_iter()
            .filter_map(|source| match source {
                ImageSource::Memory(_) => None,
                ImageSource::Folder(folder) => Some(folder.skipped()),
            })
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    /// Decodes every image of an image-folder dataset completely, both splits (slow:
    /// every file is read; in-memory datasets pass at once). The first file that cannot
    /// be decoded is the error, unless the dataset was opened with
    /// [`OpenOptions::skip_undecodable`]: then such files are left out and listed in
    /// [`OpenedDataset::skipped_images`]. A class left without training images is an
    /// error either way.
    pub fn check_pixels(&mut self) -> Result<(), DataError> {
        for source in [&mut self.train, &mut self.test] {
            if let ImageSource::Folder(folder) = source {
                Arc::make_mut(folder).check_pixels()?;
            }
        }
        if let ImageSource::Folder(train) = &self.train {
            train.require_every_class(&self.info.class_names)?;
        }
        Ok(())
    }

    /// [`OpenedDataset::summary`] with the search's two parts of the training split
    /// added as `search-train` and `search-val`.
    pub fn search_summary(&self, split: &SearchSplit) -> Result<DataSummary, DataError> {
        let data = self.search_split(split)?;
        let mut summary = self.summary();
        let labels = self.train.labels();
        for (name, part) in [("search-train", &data.train), ("search-val", &data.val)] {
            let s = SplitSummary::new(name, labels, part.source_indices(), self.info.classes);
            summary.splits.push(s);
        }
        Ok(summary)
    }
}

/// Opens a dataset.
///
/// `data_dir` is the folder holding the files: the IDX files for (Fashion-)MNIST
/// (default for Fashion-MNIST: [`DEFAULT_FASHION_MNIST_DIR`]), the `.bin` files or their
/// parent for CIFAR, the root with `train/` and `val/` for image folders. The embedded
/// subset ignores it.
pub fn open(
    kind: DatasetKind,
    data_dir: Option<&Path>,
    opts: &OpenOptions,
) -> Result<OpenedDataset, DataError> {
    let needs_dir = |what: &str| DataError::NeedsDataDir {
        kind: kind.name().into(),
        what: what.into(),
    };
    let fixed_classes = || kind.class_names().unwrap_or_default();
    let (train, test, location, class_names): (ImageSource, ImageSource, String, Vec<String>) =
        match kind {
            DatasetKind::Embedded => {
                let (train, test) = embedded_fashion_mnist()?;
                (
                    train.into(),
                    test.into(),
                    "embedded".into(),
                    fixed_classes(),
                )
            }
            DatasetKind::FashionMnist | DatasetKind::Mnist => {
                let dir = match (data_dir, kind) {
                    (Some(d), _) => d.to_path_buf(),
                    (None, DatasetKind::FashionMnist) => PathBuf::from(DEFAULT_FASHION_MNIST_DIR),
                    _ => return Err(needs_dir("the MNIST IDX files, plain or .gz")),
                };
                let (train, test) = read_idx_dir(&dir, kind)?;
                (
                    train.into(),
                    test.into(),
                    dir.display().to_string(),
                    fixed_classes(),
                )
            }
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
                let dir = data_dir.ok_or_else(|| needs_dir("the binary-version .bin files"))?;
                let variant = if kind == DatasetKind::Cifar10 {
                    CifarVariant::Cifar10
                } else {
                    CifarVariant::Cifar100
                };
                let (train, test) = read_cifar(dir, variant)?;
                (
                    train.into(),
                    test.into(),
                    dir.display().to_string(),
                    fixed_classes(),
                )
            }
            DatasetKind::Folder => {
                let dir = data_dir
                    .ok_or_else(|| needs_dir("train/<class>/*.jpg and val/<class>/*.jpg"))?;
                let (train, val, classes) = open_folder_tree(dir, opts.folder)?;
                let mut train = train.with_skip_undecodable(opts.skip_undecodable);
                let mut val = val.with_skip_undecodable(opts.skip_undecodable);
                if opts.verify_images {
                    train.check_headers()?;
                    val.check_headers()?;
                    train.require_every_class(&classes)?;
                }
                (train.into(), val.into(), dir.display().to_string(), classes)
            }
        };
    Ok(OpenedDataset {
        kind,
        info: DatasetInfo::new(kind, train.shape(), class_names),
        location,
        train,
        test,
        augment: opts
            .augment
            .clone()
            .unwrap_or_else(|| kind.default_augment()),
    })
}

/// Reads the four IDX files of (Fashion-)MNIST from `dir` (or `dir/<name>`), each `.gz`
/// or plain, and checks the images are 28x28.
fn read_idx_dir(
    dir: &Path,
    kind: DatasetKind,
) -> Result<(InMemoryImages, InMemoryImages), DataError> {
    let read = |split: &str| -> Result<InMemoryImages, DataError> {
        let ip = find_idx_file(dir, kind, &format!("{split}-images-idx3-ubyte"))?;
        let lp = find_idx_file(dir, kind, &format!("{split}-labels-idx1-ubyte"))?;
        let images = read_idx_images(&ip)?;
        if (images.rows, images.cols) != (28, 28) {
            return Err(DataError::bad_format(
                &ip,
                format!(
                    "expected 28x28 images, found {}x{}",
                    images.rows, images.cols
                ),
            ));
        }
        idx_split(images, &ip, read_idx_labels(&lp)?, &lp, 10)
    };
    Ok((read("train")?, read("t10k")?))
}

fn find_idx_file(dir: &Path, kind: DatasetKind, stem: &str) -> Result<PathBuf, DataError> {
    let dirs = [dir.to_path_buf(), dir.join(kind.name())];
    let candidates: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| [d.join(format!("{stem}.gz")), d.join(stem)])
        .collect();
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let others: Vec<String> = candidates[1..]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut hint = format!("; also looked for {}", others.join(", "));
    if kind == DatasetKind::FashionMnist {
        hint.push_str(&format!(
            "; `apt-get install dataset-fashion-mnist` provides the files in {DEFAULT_FASHION_MNIST_DIR}"
        ));
    }
    Err(DataError::Missing {
        path: candidates[0].clone(),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::tests::{make_tree, write_truncated_jpeg};
    use crate::idx::{encode_idx_images, encode_idx_labels, gzip_bytes};
    use crate::testutil::TempDir;
    use burn::data::dataset::Dataset;
    use std::collections::HashSet;

    #[test]
    fn embedded_opens_with_defaults_and_splits_in_halves() {
        let data = open(DatasetKind::Embedded, None, &OpenOptions::default()).unwrap();
        assert_eq!(data.info.shape(), [1, 28, 28]);
        assert_eq!(data.info.classes, 10);
        assert_eq!(data.info.mean, vec![0.2860]);
        assert_eq!(data.augment.crop_padding, 2);
        let split = SearchSplit::default();
        let s = data.search_split(&split).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (2500, 2500));
        assert_eq!(s.train.class_counts(10), vec![250; 10]);
        let a: HashSet<_> = s.train.source_indices().iter().collect();
        assert!(s.val.source_indices().iter().all(|i| !a.contains(i)));
        assert!(s.train.augment().unwrap().cutout.is_none());
        assert_eq!(data.test_dataset().len(), 1000);
        assert!(data.test_dataset().augment().is_none());
        let summary = data.search_summary(&split).unwrap();
        let names: Vec<_> = summary.splits.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["train", "test", "search-train", "search-val"]);
        assert_eq!(summary.splits[0].per_class, vec![500; 10]);
        let text = summary.to_string();
        assert!(
            text.contains("Ankle boot") && text.contains("5000"),
            "{text}"
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert!(json.contains("\"search-val\""));
    }

    #[test]
    fn idx_dir_plain_and_gzip_and_wrong_dims() {
        let dir = TempDir::new("open_idx");
        let px = vec![7u8; 3 * 28 * 28];
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte.gz"),
            gzip_bytes(&encode_idx_images(28, 28, &px)),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            encode_idx_labels(&[0, 1, 9]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            encode_idx_images(28, 28, &px[..784]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte.gz"),
            gzip_bytes(&encode_idx_labels(&[4])),
        )
        .unwrap();
        let data = open(
            DatasetKind::Mnist,
            Some(dir.path()),
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!((data.train.len(), data.test.len()), (3, 1));
        assert!(!data.augment.flip);
        assert_eq!(data.info.mean, vec![0.1307]);
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            encode_idx_images(14, 56, &px[..784]),
        )
        .unwrap();
        let err = open(
            DatasetKind::Mnist,
            Some(dir.path()),
            &OpenOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("28x28"), "{err}");
    }

    #[test]
    fn missing_files_and_dirs_explain_themselves() {
        let dir = TempDir::new("open_missing");
        let err = open(
            DatasetKind::FashionMnist,
            Some(dir.path()),
            &OpenOptions::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Missing { .. }));
        assert!(msg.contains("train-images-idx3-ubyte.gz"), "{msg}");
        assert!(
            msg.contains("apt-get install dataset-fashion-mnist"),
            "{msg}"
        );
        for kind in [
            DatasetKind::Mnist,
            DatasetKind::Cifar10,
            DatasetKind::Folder,
        ] {
            let err = open(kind, None, &OpenOptions::default()).unwrap_err();
            assert!(matches!(err, DataError::NeedsDataDir { .. }));
        }
    }

    #[test]
    fn folder_opens_lazily_and_verifies() {
        let dir = TempDir::new("open_folder");
        make_tree(dir.path(), 4);
        let opts = OpenOptions {
            folder: FolderOptions {
                image_size: 8,
                resize: 9,
            },
            ..Default::default()
        };
        let data = open(DatasetKind::Folder, Some(dir.path()), &opts).unwrap();
        assert_eq!(data.info.class_names, ["apple", "mango", "zebra"]);
        assert_eq!(data.info.shape(), [3, 8, 8]);
        assert_eq!(data.info.std, vec![0.229, 0.224, 0.225]);
        let parts = data
            .search_split(&SearchSplit {
                train_portion: 0.25,
                val_portion: Some(0.25),
                seed: 4,
            })
            .unwrap();
        assert_eq!(parts.train.class_counts(3), vec![1, 1, 1]);
        assert_eq!(parts.val.class_counts(3), vec![1, 1, 1]);
        let a: HashSet<_> = parts.train.source_indices().iter().collect();
        assert!(parts.val.source_indices().iter().all(|i| !a.contains(i)));
        assert_eq!(parts.train.get(0).unwrap().unwrap().shape, [3, 8, 8]);
        std::fs::write(dir.path().join("val/apple/bad.jpg"), b"no").unwrap();
        let err = open(DatasetKind::Folder, Some(dir.path()), &opts).unwrap_err();
        assert!(err.to_string().contains("bad.jpg"));
        let lazy = OpenOptions {
            verify_images: false,
            ..opts
        };
        assert!(open(DatasetKind::Folder, Some(dir.path()), &lazy).is_ok());
    }

    #[test]
    fn folder_skip_option_drops_bad_files_and_reports_them() {
        let dir = TempDir::new("open_folder_skip");
        make_tree(dir.path(), 2);
        std::fs::write(dir.path().join("train/zebra/bad.JPG"), b"not an image").unwrap();
        let opts = OpenOptions {
            folder: FolderOptions {
                image_size: 8,
                resize: 9,
            },
            ..Default::default()
        };
        let err = open(DatasetKind::Folder, Some(dir.path()), &opts).unwrap_err();
        assert!(matches!(err, DataError::Decode { .. }));
        assert!(err.to_string().contains("bad.JPG"), "{err}");
        let skip = OpenOptions {
            skip_undecodable: true,
            ..opts.clone()
        };
        let data = open(DatasetKind::Folder, Some(dir.path()), &skip).unwrap();
        assert_eq!(data.train.len(), 6);
        assert_eq!(
            data.skipped_images(),
            [dir.path().join("train/zebra/bad.JPG")]
        );
        assert!(data.train_dataset(0).skips_undecodable());
        let summary = data.summary();
        assert_eq!(summary.skipped_images, 1);
        assert_eq!(summary.splits[0].total, 6);
        let text = summary.to_string();
        assert!(
            text.contains("skipped      1 undecodable image (first: "),
            "{text}"
        );
        assert!(text.contains("bad.JPG"), "{text}");
        // A clean dataset prints no skipped line.
        std::fs::remove_file(dir.path().join("train/zebra/bad.JPG")).unwrap();
        let clean = open(DatasetKind::Folder, Some(dir.path()), &skip).unwrap();
        assert_eq!(clean.summary().skipped_images, 0);
        assert!(!clean.summary().to_string().contains("skipped"));
        assert!(
            !open(DatasetKind::Folder, Some(dir.path()), &opts)
                .unwrap()
                .train_dataset(0)
                .skips_undecodable()
        );
    }

    #[test]
    fn check_pixels_finds_truncated_jpegs() {
        let dir = TempDir::new("open_folder_pixels");
        make_tree(dir.path(), 2);
        let cut = dir.path().join("val/mango/cut.jpg");
        write_truncated_jpeg(&cut);
        let opts = OpenOptions {
            folder: FolderOptions {
                image_size: 8,
                resize: 9,
            },
            ..Default::default()
        };
        // The header is fine: opening succeeds, the full decode does not.
        let mut data = open(DatasetKind::Folder, Some(dir.path()), &opts).unwrap();
        assert_eq!(data.test.len(), 4);
        let err = data.check_pixels().unwrap_err();
        assert!(err.to_string().contains("cut.jpg"), "{err}");
        let skip = OpenOptions {
            skip_undecodable: true,
            ..opts
        };
        let mut data = open(DatasetKind::Folder, Some(dir.path()), &skip).unwrap();
        data.check_pixels().unwrap();
        assert_eq!((data.train.len(), data.test.len()), (6, 3));
        assert_eq!(data.skipped_images(), [cut.as_path()]);
        assert_eq!(data.summary().skipped_images, 1);
        let mut embedded = open(DatasetKind::Embedded, None, &OpenOptions::default()).unwrap();
        embedded.check_pixels().unwrap();
    }

    #[test]
    fn installed_fashion_mnist_when_present() {
        // The Debian package may be absent on a build machine; the reader is covered by
        // the other tests, this one checks the real files when they are there.
        if !Path::new(DEFAULT_FASHION_MNIST_DIR)
            .join("t10k-labels-idx1-ubyte.gz")
            .is_file()
        {
            return;
        }
        let data = open(DatasetKind::FashionMnist, None, &OpenOptions::default()).unwrap();
        assert_eq!((data.train.len(), data.test.len()), (60000, 10000));
        assert_eq!(data.summary().splits[1].per_class, vec![1000; 10]);
    }
}
