//! The Fashion-MNIST subset compiled into the binary, used when no dataset is given.
//!
//! `data/` holds the first 500 training and the first 100 test images of every class of
//! Fashion-MNIST, in file order, as gzip IDX files (5,000 + 1,000 images). They were cut
//! from the Debian package `dataset-fashion-mnist` with
//!
//! ```text
//! cargo run -p entrannas-data --example make_embedded_subset -- \
//!     /usr/share/datasets/fashion-mnist crates/entrannas-data/data
//! ```
//!
//! (see `data/README.md`).

use std::path::Path;

use crate::error::DataError;
use crate::idx::{decompress_if_gzip, idx_split, parse_idx_images, parse_idx_labels};
use crate::images::InMemoryImages;

/// Training images per class in the embedded subset.
pub const EMBEDDED_TRAIN_PER_CLASS: usize = 500;
/// Test images per class in the embedded subset.
pub const EMBEDDED_TEST_PER_CLASS: usize = 100;

const TRAIN_IMAGES: &[u8] = include_bytes!("../data/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../data/train-labels-idx1-ubyte.gz");
const TEST_IMAGES: &[u8] = include_bytes!("../data/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../data/t10k-labels-idx1-ubyte.gz");

/// Decodes the embedded training and test splits.
pub fn embedded_fashion_mnist() -> Result<(InMemoryImages, InMemoryImages), DataError> {
    let split = |images: &[u8], labels: &[u8], name: &str| {
        let ip = Path::new("<embedded>").join(format!("{name}-images-idx3-ubyte.gz"));
        let lp = Path::new("<embedded>").join(format!("{name}-labels-idx1-ubyte.gz"));
        let images = parse_idx_images(&decompress_if_gzip(images.to_vec(), &ip)?, &ip)?;
        let labels = parse_idx_labels(&decompress_if_gzip(labels.to_vec(), &lp)?, &lp)?;
        idx_split(images, &ip, labels, &lp, 10)
    };
    Ok((
        split(TRAIN_IMAGES, TRAIN_LABELS, "train")?,
        split(TEST_IMAGES, TEST_LABELS, "t10k")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_subset_has_the_expected_counts_per_class() {
        let (train, test) = embedded_fashion_mnist().unwrap();
        assert_eq!(train.shape(), [1, 28, 28]);
        assert_eq!(test.shape(), [1, 28, 28]);
        let count = |s: &InMemoryImages| {
            let mut c = vec![0; 10];
            s.labels().iter().for_each(|&l| c[l] += 1);
            c
        };
        assert_eq!(count(&train), vec![EMBEDDED_TRAIN_PER_CLASS; 10]);
        assert_eq!(count(&test), vec![EMBEDDED_TEST_PER_CLASS; 10]);
        // Real images: not blank, using the whole grey range.
        let img = train.image(0).unwrap();
        assert!(img.data.iter().any(|&p| p > 200) && img.data.contains(&0));
    }
}
