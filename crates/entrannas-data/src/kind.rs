//! The datasets this crate knows, their shapes, class names, normalization statistics
//! and default augmentation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::augment::{AugmentConfig, Normalization};
use crate::error::DataError;

/// Which dataset to open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Fashion-MNIST (IDX files; `apt-get install dataset-fashion-mnist` provides them).
    FashionMnist,
    /// MNIST digits (IDX files).
    Mnist,
    /// CIFAR-10 (binary version).
    Cifar10,
    /// CIFAR-100 (binary version, fine labels).
    Cifar100,
    /// An ImageNet-style image folder tree.
    Folder,
    /// The Fashion-MNIST subset compiled into the binary (the default).
    #[default]
    Embedded,
}

impl DatasetKind {
    /// Every kind, in the order names are listed.
    pub const ALL: [DatasetKind; 6] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Folder,
        DatasetKind::Embedded,
    ];

    /// The name parsed by [`FromStr`] and printed by [`fmt::Display`].
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
            DatasetKind::Embedded => "embedded",
        }
    }

    /// All valid names joined by `|`.
    pub fn valid_names() -> String {
        Self::ALL.map(Self::name).join("|")
    }

    /// Per-channel mean and standard deviation of the dataset's training pixels.
    pub fn normalization(self) -> Normalization {
        let (mean, std): (&[f32], &[f32]) = match self {
            DatasetKind::FashionMnist | DatasetKind::Embedded => (&[0.2860], &[0.3530]),
            DatasetKind::Mnist => (&[0.1307], &[0.3081]),
            DatasetKind::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            DatasetKind::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            DatasetKind::Folder => (&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225]),
        };
        Normalization {
            mean: mean.to_vec(),
            std: std.to_vec(),
        }
    }

    /// The default training augmentation: crop padding 2 for 28x28 and 4 for 32x32
    /// images, flips except for MNIST digits, cutout 16 for CIFAR only; image folders
    /// use a random resized crop and flips.
    pub fn default_augment(self) -> AugmentConfig {
        let (crop_padding, flip, cutout) = match self {
            DatasetKind::FashionMnist | DatasetKind::Embedded => (2, true, None),
            DatasetKind::Mnist => (2, false, None),
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => (4, true, Some(16)),
            DatasetKind::Folder => (0, true, None),
        };
        AugmentConfig {
            crop_padding,
            flip,
            cutout,
            ..AugmentConfig::default()
        }
    }

    /// Class names of the fixed-class datasets (`None` for image folders, whose classes
    /// are their folder names).
    pub fn class_names(self) -> Option<Vec<String>> {
        let names: Vec<String> = match self {
            DatasetKind::FashionMnist | DatasetKind::Embedded => FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            DatasetKind::Mnist => (0..10).map(|d| d.to_string()).collect(),
            DatasetKind::Cifar10 => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
            DatasetKind::Cifar100 => CIFAR100_CLASSES.iter().map(|s| s.to_string()).collect(),
            DatasetKind::Folder => return None,
        };
        Some(names)
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    /// Parses a name case-insensitively; `_` may stand for `-` and `cifar-10`,
    /// `fashion_mnist`, `imagenet` / `image-folder` are accepted aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        let kind = match key.as_str() {
            "fashion-mnist" | "fashionmnist" => DatasetKind::FashionMnist,
            "mnist" => DatasetKind::Mnist,
            "cifar10" | "cifar-10" => DatasetKind::Cifar10,
            "cifar100" | "cifar-100" => DatasetKind::Cifar100,
            "folder" | "image-folder" | "imagenet" => DatasetKind::Folder,
            "embedded" => DatasetKind::Embedded,
            _ => {
                return Err(DataError::UnknownDataset {
                    name: s.to_string(),
                    valid: Self::valid_names(),
                });
            }
        };
        Ok(kind)
    }
}

/// What a model needs to know about a dataset's images and classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Dataset name (a [`DatasetKind`] name).
    pub name: String,
    /// Channels of an item (1 or 3).
    pub channels: usize,
    /// Rows of an item.
    pub height: usize,
    /// Columns of an item.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
    /// Name of each class, by label.
    pub class_names: Vec<String>,
    /// Per-channel mean used for normalization.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation used for normalization.
    pub std: Vec<f32>,
}

impl DatasetInfo {
    /// Builds the description of `kind` for items of `shape` and the given classes.
    pub fn new(kind: DatasetKind, shape: [usize; 3], class_names: Vec<String>) -> Self {
        let Normalization { mean, std } = kind.normalization();
        Self {
            name: kind.name().to_string(),
            channels: shape[0],
            height: shape[1],
            width: shape[2],
            classes: class_names.len(),
            class_names,
            mean,
            std,
        }
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The mean and standard deviation as a [`Normalization`].
    pub fn normalization(&self) -> Normalization {
        Normalization {
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }
}

/// Fashion-MNIST class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// CIFAR-10 class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// CIFAR-100 fine class names, by label (as in the archive's `fine_label_names.txt`).
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_lists_valid() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(
            "CIFAR-10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert_eq!(
            "fashion_mnist".parse::<DatasetKind>().unwrap(),
            DatasetKind::FashionMnist
        );
        let err = "svhn".parse::<DatasetKind>().unwrap_err().to_string();
        assert!(err.contains("svhn"));
        assert!(err.contains("fashion-mnist|mnist|cifar10|cifar100|folder|embedded"));
    }

    #[test]
    fn defaults_follow_the_dataset() {
        assert_eq!(DatasetKind::default(), DatasetKind::Embedded);
        assert_eq!(DatasetKind::Cifar10.default_augment().cutout, Some(16));
        assert_eq!(DatasetKind::Cifar10.default_augment().crop_padding, 4);
        assert_eq!(DatasetKind::FashionMnist.default_augment().crop_padding, 2);
        assert!(!DatasetKind::Mnist.default_augment().flip);
        assert!(DatasetKind::FashionMnist.default_augment().flip);
        assert_eq!(DatasetKind::Cifar100.normalization().mean.len(), 3);
        assert_eq!(DatasetKind::Cifar100.class_names().unwrap().len(), 100);
        let distinct: std::collections::HashSet<_> = CIFAR100_CLASSES.iter().collect();
        assert_eq!(distinct.len(), 100);
        let json = serde_json::to_string(&DatasetKind::FashionMnist).unwrap();
        assert_eq!(json, "\"fashion-mnist\"");
    }
}
