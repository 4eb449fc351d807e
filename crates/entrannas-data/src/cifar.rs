//! The binary versions of CIFAR-10 and CIFAR-100.
//!
//! A file is a sequence of records: the label byte(s), then 3,072 pixel bytes, the red
//! plane, the green plane and the blue plane of a 32x32 image, each row-major. CIFAR-10
//! records have one label byte; CIFAR-100 records have two, the coarse label (20
//! super-classes) then the fine label (100 classes), of which the fine one is used.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::images::InMemoryImages;

/// Side of a CIFAR image.
pub const CIFAR_SIDE: usize = 32;
/// Pixel bytes of one CIFAR image (3 planes of 32x32).
pub const CIFAR_IMAGE_BYTES: usize = 3 * CIFAR_SIDE * CIFAR_SIDE;

/// Which of the two CIFAR binary layouts a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarVariant {
    /// One label byte per record, 10 classes.
    Cifar10,
    /// Two label bytes per record (coarse, fine), 100 fine classes.
    Cifar100,
}

impl CifarVariant {
    /// Bytes of label before the pixels of each record.
    pub fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100 => 2,
        }
    }

    /// Bytes of one record.
    pub fn record_bytes(self) -> usize {
        self.label_bytes() + CIFAR_IMAGE_BYTES
    }

    /// Number of (fine) classes.
    pub fn classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 => 100,
        }
    }

    /// The sub-folder the official archive unpacks to.
    pub fn folder_name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar-10-batches-bin",
            CifarVariant::Cifar100 => "cifar-100-binary",
        }
    }

    /// The training files, in the order they are concatenated.
    pub fn train_files(self) -> &'static [&'static str] {
        match self {
            CifarVariant::Cifar10 => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            CifarVariant::Cifar100 => &["train.bin"],
        }
    }

    /// The test file.
    pub fn test_file(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "test_batch.bin",
            CifarVariant::Cifar100 => "test.bin",
        }
    }
}

/// Parses the records of one CIFAR binary file. `path` only names it in errors.
pub fn parse_cifar(
    bytes: &[u8],
    path: &Path,
    variant: CifarVariant,
) -> Result<InMemoryImages, DataError> {
    let record = variant.record_bytes();
    if bytes.is_empty() {
        return Err(DataError::bad_format(path, "empty file"));
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            record,
        });
    }
    let count = bytes.len() / record;
    let mut pixels = Vec::with_capacity(count * CIFAR_IMAGE_BYTES);
    let mut labels = Vec::with_capacity(count);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        // The fine label is the last label byte in both layouts.
        let label = usize::from(rec[variant.label_bytes() - 1]);
        if label >= variant.classes() {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label,
                classes: variant.classes(),
            });
        }
        labels.push(label);
        // The planes are already channel-major, the layout every raw image here uses.
        pixels.extend_from_slice(&rec[variant.label_bytes()..]);
    }
    InMemoryImages::new(3, CIFAR_SIDE, CIFAR_SIDE, pixels, labels)
        .ok_or_else(|| DataError::bad_format(path, "record layout"))
}

/// Reads and concatenates CIFAR binary files.
pub fn read_cifar_files(
    paths: &[PathBuf],
    variant: CifarVariant,
) -> Result<InMemoryImages, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let part = parse_cifar(&bytes, path, variant)?;
        for i in 0..part.len() {
            pixels.extend_from_slice(part.pixels(i).unwrap_or_default());
        }
        labels.extend_from_slice(part.labels());
    }
    InMemoryImages::new(3, CIFAR_SIDE, CIFAR_SIDE, pixels, labels)
        .ok_or_else(|| DataError::InvalidOption("no CIFAR files given".into()))
}

/// Finds the folder holding the binary files: `dir` itself, or `dir/<archive folder>`.
pub fn find_cifar_dir(dir: &Path, variant: CifarVariant) -> Result<PathBuf, DataError> {
    let probe = variant.test_file();
    let nested = dir.join(variant.folder_name());
    if dir.join(probe).is_file() {
        Ok(dir.to_path_buf())
    } else if nested.join(probe).is_file() {
        Ok(nested)
    } else {
        Err(DataError::Missing {
            path: dir.join(probe),
            hint: format!(
                "; also looked for {}; download the binary version from \
                 https://www.cs.toronto.edu/~kriz/cifar.html and unpack it",
                nested.join(probe).display()
            ),
        })
    }
}

/// Reads the training and test splits of CIFAR-10 or CIFAR-100 from `dir` (the folder
/// with the `.bin` files, or its parent).
pub fn read_cifar(
    dir: &Path,
    variant: CifarVariant,
) -> Result<(InMemoryImages, InMemoryImages), DataError> {
    let dir = find_cifar_dir(dir, variant)?;
    let train: Vec<PathBuf> = variant.train_files().iter().map(|f| dir.join(f)).collect();
    let test = [dir.join(variant.test_file())];
    Ok((
        read_cifar_files(&train, variant)?,
        read_cifar_files(&test, variant)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    /// A record whose pixels are zero except one byte per plane at (row 5, col 7):
    /// 10 in red, 20 in green, 30 in blue.
    fn record(variant: CifarVariant, coarse: u8, fine: u8) -> Vec<u8> {
        let mut rec = match variant {
            CifarVariant::Cifar10 => vec![fine],
            CifarVariant::Cifar100 => vec![coarse, fine],
        };
        let mut planes = vec![0u8; CIFAR_IMAGE_BYTES];
        for (c, v) in [10u8, 20, 30].into_iter().enumerate() {
            planes[c * 1024 + 5 * 32 + 7] = v;
        }
        rec.extend(planes);
        rec
    }

    #[test]
    fn cifar10_plane_layout_and_files() {
        let dir = TempDir::new("cifar10");
        let root = dir.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&root).unwrap();
        for (i, name) in CifarVariant::Cifar10.train_files().iter().enumerate() {
            let mut bytes = record(CifarVariant::Cifar10, 0, i as u8);
            bytes.extend(record(CifarVariant::Cifar10, 0, 9));
            std::fs::write(root.join(name), bytes).unwrap();
        }
        std::fs::write(
            root.join("test_batch.bin"),
            record(CifarVariant::Cifar10, 0, 3),
        )
        .unwrap();
        // The parent folder and the folder itself both work.
        for d in [dir.path(), root.as_path()] {
            let (train, test) = read_cifar(d, CifarVariant::Cifar10).unwrap();
            assert_eq!(train.len(), 10);
            assert_eq!(train.labels(), &[0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
            assert_eq!(test.labels(), &[3]);
            let img = test.image(0).unwrap();
            assert_eq!(train.shape(), [3, 32, 32]);
            assert_eq!(
                (img.pixel(0, 5, 7), img.pixel(1, 5, 7), img.pixel(2, 5, 7)),
                (10, 20, 30)
            );
            assert_eq!(img.pixel(0, 7, 5), 0);
            assert_eq!(img.data.iter().map(|&v| v as u32).sum::<u32>(), 60);
        }
    }

    #[test]
    fn cifar100_uses_fine_label() {
        let dir = TempDir::new("cifar100");
        let mut bytes = record(CifarVariant::Cifar100, 4, 77);
        bytes.extend(record(CifarVariant::Cifar100, 19, 99));
        std::fs::write(dir.path().join("train.bin"), &bytes).unwrap();
        std::fs::write(
            dir.path().join("test.bin"),
            record(CifarVariant::Cifar100, 1, 5),
        )
        .unwrap();
        let (train, test) = read_cifar(dir.path(), CifarVariant::Cifar100).unwrap();
        assert_eq!(train.labels(), &[77, 99]);
        assert_eq!(test.labels(), &[5]);
        assert_eq!(train.image(1).unwrap().pixel(2, 5, 7), 30);
    }

    #[test]
    fn bad_length_and_label_are_errors() {
        let path = Path::new("data_batch_1.bin");
        let mut bytes = record(CifarVariant::Cifar10, 0, 1);
        bytes.pop();
        let err = parse_cifar(&bytes, path, CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(err, DataError::RecordSize { record: 3073, .. }));
        assert!(err.to_string().contains("data_batch_1.bin"));
        let bytes = [
            record(CifarVariant::Cifar10, 0, 1),
            record(CifarVariant::Cifar10, 0, 10),
        ]
        .concat();
        assert!(matches!(
            parse_cifar(&bytes, path, CifarVariant::Cifar10),
            Err(DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            })
        ));
        let bytes = record(CifarVariant::Cifar100, 0, 100);
        assert!(matches!(
            parse_cifar(&bytes, path, CifarVariant::Cifar100),
            Err(DataError::LabelOutOfRange { label: 100, .. })
        ));
        // A CIFAR-100 file read as CIFAR-10 is not a whole number of records.
        let bytes = [
            record(CifarVariant::Cifar100, 0, 1),
            record(CifarVariant::Cifar100, 0, 2),
        ]
        .concat();
        assert!(matches!(
            parse_cifar(&bytes, path, CifarVariant::Cifar10),
            Err(DataError::RecordSize { .. })
        ));
    }

    #[test]
    fn missing_dir_names_both_places() {
        let dir = TempDir::new("cifar_missing");
        let err = read_cifar(dir.path(), CifarVariant::Cifar10).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test_batch.bin") && msg.contains("cifar-10-batches-bin"));
        // A missing training batch is named too.
        std::fs::write(
            dir.path().join("test_batch.bin"),
            record(CifarVariant::Cifar10, 0, 1),
        )
        .unwrap();
        let err = read_cifar(dir.path(), CifarVariant::Cifar10).unwrap_err();
        assert!(err.to_string().contains("data_batch_1.bin"));
    }
}
