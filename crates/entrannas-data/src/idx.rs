//! The IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//!
//! An IDX file is a big-endian header followed by unsigned bytes: images files have
//! magic 2051 and the dimensions `(n, rows, cols)`, labels files magic 2049 and `(n)`.
//! A file is gzip-compressed when it starts with the bytes `1f 8b`, whatever its name.

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::error::DataError;
use crate::images::InMemoryImages;

/// Magic number of an IDX file of unsigned-byte images (`0x00000803`).
pub const IDX_IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (`0x00000801`).
pub const IDX_LABELS_MAGIC: u32 = 2049;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The images of one IDX images file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `count * rows * cols` bytes, image after image, row-major.
    pub pixels: Vec<u8>,
}

/// Reads a file, decompressing it when it starts with the gzip magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decompress_if_gzip(bytes, path)
}

/// Decompresses `bytes` if they start with the gzip magic bytes, else returns them as
/// they are. `path` only names the source in errors.
pub fn decompress_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 2);
    GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError::bad_format(path, format!("corrupt or truncated gzip stream: {e}"))
        })?;
    Ok(out)
}

/// Parses the (decompressed) bytes of an IDX images file. `path` only names it in errors.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let dims = parse_header(bytes, path, IDX_IMAGES_MAGIC, 3, "IDX images")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::bad_format(
            path,
            format!("wrong image dimensions {rows}x{cols}"),
        ));
    }
    let body = body(bytes, path, 16, &[count, rows, cols])?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: body.to_vec(),
    })
}

/// Parses the (decompressed) bytes of an IDX labels file. `path` only names it in errors.
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let dims = parse_header(bytes, path, IDX_LABELS_MAGIC, 1, "IDX labels")?;
    Ok(body(bytes, path, 8, &dims)?.to_vec())
}

/// Reads an IDX images file, plain or gzip.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_idx_images(&read_maybe_gzip(path)?, path)
}

/// Reads an IDX labels file, plain or gzip.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_idx_labels(&read_maybe_gzip(path)?, path)
}

/// Joins an images file and a labels file into one grey-scale split, checking that
/// they hold the same number of items and that every label is below `classes`.
pub fn idx_split(
    images: IdxImages,
    images_path: &Path,
    labels: Vec<u8>,
    labels_path: &Path,
    classes: usize,
) -> Result<InMemoryImages, DataError> {
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            image_count: images.count,
            labels: labels_path.to_path_buf(),
            label_count: labels.len(),
        });
    }
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            index,
            label: label.into(),
            classes,
        });
    }
    let labels = labels.into_iter().map(usize::from).collect();
    InMemoryImages::new(1, images.rows, images.cols, images.pixels, labels)
        .ok_or_else(|| DataError::bad_format(images_path, "pixel count does not match header"))
}

/// Reads an images file and its labels file into one grey-scale split.
pub fn read_idx_split(
    images_path: &Path,
    labels_path: &Path,
    classes: usize,
) -> Result<InMemoryImages, DataError> {
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    idx_split(images, images_path, labels, labels_path, classes)
}

/// Encodes images as an (uncompressed) IDX images file.
pub fn encode_idx_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let count = pixels.len() / (rows * cols).max(1);
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IDX_IMAGES_MAGIC as usize, count, rows, cols] {
        out.extend_from_slice(&(word as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an (uncompressed) IDX labels file.
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Gzip-compresses `bytes` at the best compression level.
pub fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).expect("write to memory");
    encoder.finish().expect("write to memory")
}

/// Writes a grey-scale split as an IDX images file and an IDX labels file, gzip-compressed
/// when a path ends in `.gz`.
pub fn write_idx_split(
    images: &InMemoryImages,
    images_path: &Path,
    labels_path: &Path,
) -> Result<(), DataError> {
    let [channels, rows, cols] = images.shape();
    if channels != 1 {
        return Err(DataError::InvalidOption(format!(
            "IDX files hold grey-scale images, not {channels} channels"
        )));
    }
    let mut labels = Vec::with_capacity(images.len());
    for &label in images.labels() {
        labels.push(u8::try_from(label).map_err(|_| {
            DataError::InvalidOption(format!("label {label} does not fit an IDX byte"))
        })?);
    }
    let pixels: Vec<u8> = (0..images.len())
        .flat_map(|i| images.pixels(i).unwrap_or_default().iter().copied())
        .collect();
    write_maybe_gzip(images_path, &encode_idx_images(rows, cols, &pixels))?;
    write_maybe_gzip(labels_path, &encode_idx_labels(&labels))
}

fn write_maybe_gzip(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let gz = path.extension().is_some_and(|e| e == "gz");
    let data = if gz {
        gzip_bytes(bytes)
    } else {
        bytes.to_vec()
    };
    std::fs::write(path, data).map_err(|e| DataError::io(path, e))
}

fn parse_header(
    bytes: &[u8],
    path: &Path,
    magic: u32,
    ndims: usize,
    what: &'static str,
) -> Result<Vec<usize>, DataError> {
    let header_len = 4 + 4 * ndims;
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() >= 4 && word(0) != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: word(0),
            expected: magic,
            what,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header_len as u64,
            actual: bytes.len() as u64,
        });
    }
    Ok((0..ndims).map(|d| word(4 + 4 * d) as usize).collect())
}

fn body<'a>(
    bytes: &'a [u8],
    path: &Path,
    header_len: usize,
    dims: &[usize],
) -> Result<&'a [u8], DataError> {
    let len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| DataError::bad_format(path, format!("absurd dimensions {dims:?}")))?;
    let expected = len + header_len as u64;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::bad_format(
            path,
            format!(
                "{} trailing bytes after {expected} bytes of data",
                actual - expected
            ),
        ));
    }
    Ok(&bytes[header_len..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 7) as u8).collect();
        (pixels, vec![2, 0, 1])
    }

    #[test]
    fn round_trip_plain_and_gzip() {
        let dir = TempDir::new("idx_round_trip");
        let (pixels, labels) = sample();
        for gz in [false, true] {
            let ext = if gz { ".gz" } else { "" };
            let ip = dir.path().join(format!("images{ext}"));
            let lp = dir.path().join(format!("labels{ext}"));
            let split = InMemoryImages::new(
                1,
                2,
                4,
                pixels.clone(),
                labels.iter().map(|&l| l.into()).collect(),
            )
            .unwrap();
            write_idx_split(&split, &ip, &lp).unwrap();
            let raw = std::fs::read(&ip).unwrap();
            assert_eq!(raw.starts_with(&GZIP_MAGIC), gz);
            let images = read_idx_images(&ip).unwrap();
            assert_eq!((images.count, images.rows, images.cols), (3, 2, 4));
            assert_eq!(images.pixels, pixels);
            assert_eq!(read_idx_labels(&lp).unwrap(), labels);
            let back = read_idx_split(&ip, &lp, 3).unwrap();
            assert_eq!(back, split);
            assert_eq!(back.image(1).unwrap().pixel(0, 1, 2), pixels[8 + 4 + 2]);
        }
    }

    #[test]
    fn gzip_detected_by_magic_not_name() {
        let dir = TempDir::new("idx_magic_name");
        let (pixels, _) = sample();
        let path = dir.path().join("images-no-extension");
        std::fs::write(&path, gzip_bytes(&encode_idx_images(2, 4, &pixels))).unwrap();
        assert_eq!(read_idx_images(&path).unwrap().pixels, pixels);
    }

    #[test]
    fn truncated_files_name_the_file_and_sizes() {
        let dir = TempDir::new("idx_truncated");
        let (pixels, _) = sample();
        let full = encode_idx_images(2, 4, &pixels);
        for gz in [false, true] {
            let path = dir.path().join(format!("cut{gz}"));
            let cut = &full[..full.len() - 5];
            let bytes = if gz { gzip_bytes(cut) } else { cut.to_vec() };
            std::fs::write(&path, bytes).unwrap();
            let err = read_idx_images(&path).unwrap_err();
            match &err {
                DataError::Truncated {
                    path: p,
                    expected,
                    actual,
                } => {
                    assert_eq!(p, &path);
                    assert_eq!((*expected, *actual), (40, 35));
                }
                other => panic!("expected Truncated, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()) && msg.contains("40"));
        }
        // A header cut short.
        let path = dir.path().join("short-header");
        std::fs::write(&path, &full[..10]).unwrap();
        assert!(matches!(
            read_idx_images(&path),
            Err(DataError::Truncated {
                expected: 16,
                actual: 10,
                ..
            })
        ));
        // A gzip stream cut short.
        let path = dir.path().join("cut-gzip");
        let gz = gzip_bytes(&full);
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        assert!(matches!(
            read_idx_images(&path),
            Err(DataError::BadFormat { .. })
        ));
    }

    #[test]
    fn bad_magic_is_reported() {
        let dir = TempDir::new("idx_magic");
        let path = dir.path().join("labels-as-images");
        std::fs::write(&path, encode_idx_labels(&[1, 2, 3])).unwrap();
        match read_idx_images(&path) {
            Err(DataError::BadMagic {
                found, expected, ..
            }) => assert_eq!((found, expected), (IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC)),
            other => panic!("expected BadMagic, got {other:?}"),
        }
    }

    #[test]
    fn wrong_dims_and_trailing_bytes_are_errors() {
        let path = Path::new("mem");
        let zero_rows = encode_idx_images(0, 4, &[]);
        assert!(matches!(
            parse_idx_images(&zero_rows, path),
            Err(DataError::BadFormat { .. })
        ));
        let mut long = encode_idx_labels(&[1, 2]);
        long.push(9);
        assert!(matches!(
            parse_idx_labels(&long, path),
            Err(DataError::BadFormat { .. })
        ));
    }

    #[test]
    fn count_mismatch_and_label_range() {
        let dir = TempDir::new("idx_mismatch");
        let (pixels, _) = sample();
        let ip = dir.path().join("i");
        let lp = dir.path().join("l");
        std::fs::write(&ip, encode_idx_images(2, 4, &pixels)).unwrap();
        std::fs::write(&lp, encode_idx_labels(&[0, 1])).unwrap();
        match read_idx_split(&ip, &lp, 10) {
            Err(DataError::CountMismatch {
                image_count,
                label_count,
                ..
            }) => assert_eq!((image_count, label_count), (3, 2)),
            other => panic!("expected CountMismatch, got {other:?}"),
        }
        std::fs::write(&lp, encode_idx_labels(&[0, 1, 10])).unwrap();
        assert!(matches!(
            read_idx_split(&ip, &lp, 10),
            Err(DataError::LabelOutOfRange {
                index: 2,
                label: 10,
                ..
            })
        ));
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = Path::new("/nonexistent/entrannas/train-images-idx3-ubyte.gz");
        let err = read_idx_images(path).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }));
        assert!(err.to_string().contains("train-images-idx3-ubyte.gz"));
    }
}
