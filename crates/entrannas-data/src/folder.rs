//! ImageNet-style image folders: `<root>/train/<class>/*.{jpeg,jpg,png}` and
//! `<root>/val/<class>/...` (extension case ignored).
//!
//! Classes are the sub-folders of `train`, indexed in sorted name order; `val` may lack a
//! class but may not add one. Files of a class are taken in sorted name order, so item
//! indices do not depend on the order the file system lists them. Only paths are held;
//! a file is decoded when its item is fetched.
//!
//! A file that cannot be decoded is a [`DataError::Decode`] naming it. Only a split told
//! to ([`FolderImages::with_skip_undecodable`]) drops such files, and it lists what it
//! dropped ([`FolderImages::skipped`]). A JPEG without an end-of-image marker after its
//! last scan is truncated and counts as undecodable, although the decoder would return
//! it with its missing part filled in grey.
//!
//! Training items get a random resized crop (a random area fraction in
//! `[min_crop_scale, 1]` and aspect ratio in `[3/4, 4/3]`, as torchvision's
//! `RandomResizedCrop`) scaled to `image_size`; evaluation items are resized so the
//! shorter side is `resize`, then centre-cropped to `image_size`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::imageops::{self, FilterType};
use image::{ImageFormat, ImageReader, RgbImage};
use rand::RngExt;
use rand::rngs::StdRng;

use crate::error::DataError;
use crate::images::RawImage;

/// File name extensions (lower case) of the images a folder reader picks up.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpeg", "jpg", "png"];

/// How image-folder items are sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolderOptions {
    /// Side of the square images items have.
    pub image_size: usize,
    /// Shorter side images are resized to before the evaluation centre crop
    /// (at least `image_size`).
    pub resize: usize,
}

impl Default for FolderOptions {
    /// 224-pixel items, evaluation resize to 256 (the ImageNet convention).
    fn default() -> Self {
        Self {
            image_size: 224,
            resize: 256,
        }
    }
}

/// The image files of one split of an image folder, with their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderImages {
    dir: PathBuf,
    files: Vec<PathBuf>,
    labels: Vec<usize>,
    options: FolderOptions,
    skip_undecodable: bool,
    skipped: Vec<PathBuf>,
}

impl FolderImages {
    /// Lists `dir/<class>/*` for the given classes (`classes[i]` gets label `i`). A
    /// sub-folder of `dir` that is not a known class is an error.
    pub fn scan(dir: &Path, classes: &[String], options: FolderOptions) -> Result<Self, DataError> {
        if options.image_size == 0 || options.resize < options.image_size {
            return Err(DataError::InvalidOption(format!(
                "image folder sizes: image size {} must be positive and at most the resize {}",
                options.image_size, options.resize
            )));
        }
        let mut files = Vec::new();
        let mut labels = Vec::new();
        for name in class_folders(dir)? {
            let label = classes.iter().position(|c| *c == name).ok_or_else(|| {
                DataError::bad_format(
                    dir.join(&name),
                    "class folder not present in the training split",
                )
            })?;
            let class_files = image_files(&dir.join(&name))?;
            labels.extend(std::iter::repeat_n(label, class_files.len()));
            files.extend(class_files);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            labels,
            options,
            skip_undecodable: false,
            skipped: Vec::new(),
        })
    }

    /// Sets whether undecodable files are dropped from the split (by
    /// [`FolderImages::check_headers`] and [`FolderImages::check_pixels`]) and skipped by
    /// the loader ([`crate::Prefetch`]) instead of being errors. Off after
    /// [`FolderImages::scan`].
    pub fn with_skip_undecodable(mut self, skip: bool) -> Self {
        self.skip_undecodable = skip;
        self
    }

    /// Whether undecodable files are skipped rather than errors.
    pub fn skips_undecodable(&self) -> bool {
        self.skip_undecodable
    }

    /// The files dropped from the split because they could not be decoded, in the order
    /// the checks found them.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// Reads the header (format and dimensions, not the pixels) of every file. The first
    /// bad file, in item order, is the error; when the split skips undecodable files,
    /// they are dropped and listed in [`FolderImages::skipped`] instead. Files are read
    /// on all available cores.
    pub fn check_headers(&mut self) -> Result<(), DataError> {
        self.check_each(|path| read_dimensions(path).map(drop))
    }

    /// Decodes every file completely (slow: the whole split is read), with the rules
    /// of [`FolderImages::check_headers`]. This finds what the cheap header check
    /// cannot, such as a JPEG whose body is cut off.
    pub fn check_pixels(&mut self) -> Result<(), DataError> {
        self.check_each(|path| decode_file(path).map(drop))
    }

    /// Checks that every class in `classes` (label order) still has an item; for a
    /// training split after undecodable files were dropped.
    pub fn require_every_class(&self, classes: &[String]) -> Result<(), DataError> {
        let mut counts = vec![0usize; classes.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        match counts.iter().position(|&n| n == 0) {
            Some(empty) => Err(DataError::bad_format(
                self.dir.join(&classes[empty]),
                format!(
                    "no decodable image left in the class folder ({} undecodable files skipped in {})",
                    self.skipped.len(),
                    self.dir.display()
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_each(
        &mut self,
        check: impl Fn(&Path) -> Result<(), DataError> + Sync,
    ) -> Result<(), DataError> {
        let failures = find_failures(&self.files, !self.skip_undecodable, &check);
        let mut bad = Vec::with_capacity(failures.len());
        for (index, err) in failures {
            match err {
                DataError::Decode { .. } if self.skip_undecodable => bad.push(index),
                err => return Err(err),
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        let mut next_bad = bad.into_iter().peekable();
        let files = std::mem::take(&mut self.files);
        let labels = std::mem::take(&mut self.labels);
        for (i, (file, label)) in files.into_iter().zip(labels).enumerate() {
            if next_bad.next_if_eq(&i).is_some() {
                self.skipped.push(file);
            } else {
                self.files.push(file);
                self.labels.push(label);
            }
        }
        Ok(())
    }

    /// The folder this split was listed from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The label of every file, in item order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The file of item `index`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(PathBuf::as_path)
    }

    /// The sizing options.
    pub fn options(&self) -> FolderOptions {
        self.options
    }

    /// `[3, image_size, image_size]`: items are always RGB.
    pub fn output_shape(&self) -> [usize; 3] {
        [3, self.options.image_size, self.options.image_size]
    }

    /// Checks that each listed item's file is a decodable PNG or JPEG header (cheap: the
    /// pixels are not decoded). The first bad file is the error.
    pub fn verify(&self, indices: impl IntoIterator<Item = usize>) -> Result<(), DataError> {
        for i in indices {
            if let Some(path) = self.path(i) {
                read_dimensions(path)?;
            }
        }
        Ok(())
    }

    /// Decodes item `index` to RGB at its stored size. A file that cannot be decoded,
    /// a truncated JPEG included, is a [`DataError::Decode`] naming it.
    pub fn decode(&self, index: usize) -> Result<RgbImage, DataError> {
        let path = self.path(index).ok_or_else(|| {
            DataError::InvalidOption(format!("item {index} of {}", self.dir.display()))
        })?;
        decode_file(path)
    }

    /// Decodes item `index` and crops it to `image_size`: a random resized crop when
    /// `train` holds the minimum area fraction and a generator, else the evaluation
    /// resize and centre crop.
    pub fn load(
        &self,
        index: usize,
        train: Option<(f64, &mut StdRng)>,
    ) -> Result<RawImage, DataError> {
        let image = self.decode(index)?;
        let (w, h) = (image.width() as f64, image.height() as f64);
        let (x, y, cw, ch) = match train {
            Some((min_scale, rng)) => random_resized_window(w, h, min_scale, rng),
            None => {
                // Cropping the original and resizing the crop equals resizing then
                // cropping, without scaling pixels that are thrown away.
                let side = self.options.image_size as f64 * w.min(h) / self.options.resize as f64;
                ((w - side) / 2.0, (h - side) / 2.0, side, side)
            }
        };
        let size = self.options.image_size as u32;
        let window = imageops::crop_imm(
            &image,
            x.round() as u32,
            y.round() as u32,
            (cw.round() as u32).max(1),
            (ch.round() as u32).max(1),
        );
        let resized = imageops::resize(&*window, size, size, FilterType::Triangle);
        Ok(to_chw(&resized))
    }
}

/// Reads the sorted class names of an image-folder tree: the sub-folders of `root/train`.
pub fn folder_classes(train_dir: &Path) -> Result<Vec<String>, DataError> {
    let classes = class_folders(train_dir)?;
    if classes.is_empty() {
        return Err(DataError::bad_format(train_dir, "no class sub-folders"));
    }
    for class in &classes {
        if image_files(&train_dir.join(class))?.is_empty() {
            return Err(DataError::bad_format(
                train_dir.join(class),
                format!("class folder holds no {} files", IMAGE_EXTENSIONS.join("/")),
            ));
        }
    }
    Ok(classes)
}

/// Lists an image-folder tree: the training split, the validation split (`val`, or
/// `test` when there is no `val`) and the class names.
pub fn open_folder_tree(
    root: &Path,
    options: FolderOptions,
) -> Result<(FolderImages, FolderImages, Vec<String>), DataError> {
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::Missing {
            path: train_dir,
            hint: " (an image folder needs <root>/train/<class>/*.jpg and <root>/val/<class>/...)"
                .into(),
        });
    }
    let val_dir = ["val", "test"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .ok_or_else(|| DataError::Missing {
            path: root.join("val"),
            hint: format!("; also looked for {}", root.join("test").display()),
        })?;
    let classes = folder_classes(&train_dir)?;
    let train = FolderImages::scan(&train_dir, &classes, options)?;
    let val = FolderImages::scan(&val_dir, &classes, options)?;
    Ok((train, val, classes))
}

fn class_folders(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let is_image = path.extension().is_some_and(|e| {
            IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        });
        if is_image && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Files per unit of work of [`find_failures`].
const CHECK_BLOCK: usize = 16;

/// The files `check` fails on, with their errors, in index order; checked on all
/// available cores. With `stop_at_first`, files after a failing one may be left
/// unchecked, but the first failure is always found: a file is passed over only when a
/// failure at a smaller index is already known.
fn find_failures(
    files: &[PathBuf],
    stop_at_first: bool,
    check: &(dyn Fn(&Path) -> Result<(), DataError> + Sync),
) -> Vec<(usize, DataError)> {
    let next = AtomicUsize::new(0);
    let first_bad = AtomicUsize::new(usize::MAX);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(CHECK_BLOCK))
        .max(1);
    let worker = || {
        let mut found = Vec::new();
        loop {
            let start = next.fetch_add(CHECK_BLOCK, Ordering::Relaxed);
            if start >= files.len() {
                return found;
            }
            for (i, path) in files.iter().enumerate().skip(start).take(CHECK_BLOCK) {
                // Blocks are handed out in increasing order: nothing later is needed.
                if stop_at_first && i > first_bad.load(Ordering::Relaxed) {
                    return found;
                }
                if let Err(err) = check(path) {
                    first_bad.fetch_min(i, Ordering::Relaxed);
                    found.push((i, err));
                }
            }
        }
    };
    let mut failures: Vec<(usize, DataError)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(worker)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    failures.sort_by_key(|(i, _)| *i);
    failures
}

/// Width and height from the file's header, without decoding the pixels.
fn read_dimensions(path: &Path) -> Result<(u32, u32), DataError> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))?
        .into_dimensions()
        .map_err(|e| decode_error(path, e.to_string()))
}

/// Decodes a whole file to RGB. A truncated JPEG, or a decoder panic, is an error too.
fn decode_file(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let reader = ImageReader::new(Cursor::new(bytes.as_slice()))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format() == Some(ImageFormat::Jpeg)
        && let Some(problem) = jpeg_truncation(&bytes)
    {
        return Err(decode_error(path, problem.into()));
    }
    catch_unwind(AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| decode_error(path, "the image decoder panicked".into()))?
        .map(|image| image.into_rgb8())
        .map_err(|e| decode_error(path, e.to_string()))
}

/// Why a JPEG file is truncated, or `None` when an end-of-image marker (`FF D9`)
/// follows its last start-of-scan marker (`FF DA`). Inside a scan's entropy-coded data
/// every `FF` byte is followed by `00` or a restart marker, so neither marker can occur
/// there; a thumbnail embedded in a header segment comes before the image's own scans.
/// The decoder itself fills a missing part with grey and reports success.
fn jpeg_truncation(bytes: &[u8]) -> Option<&'static str> {
    const SOS: [u8; 2] = [0xFF, 0xDA];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == SOS) else {
        return Some("truncated JPEG: the file ends before its image data");
    };
    if bytes[last_scan..].windows(2).any(|w| w == EOI) {
        None
    } else {
        Some("truncated JPEG: no end-of-image marker after the last scan")
    }
}

fn decode_error(path: &Path, reason: String) -> DataError {
    DataError::Decode {
        path: path.to_path_buf(),
        reason,
    }
}

/// `(x, y, width, height)` of a random window with area fraction in `[min_scale, 1]` and
/// aspect ratio in `[3/4, 4/3]`; after 10 misses, the largest centred window whose ratio
/// is clamped to that range (torchvision's `RandomResizedCrop` rule).
fn random_resized_window(w: f64, h: f64, min_scale: f64, rng: &mut StdRng) -> (f64, f64, f64, f64) {
    let min_scale = min_scale.clamp(1e-3, 1.0);
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let area = w * h * rng.random_range(min_scale..=1.0);
        let ratio = rng.random_range(lo..=hi).exp();
        let (cw, ch) = ((area * ratio).sqrt().round(), (area / ratio).sqrt().round());
        if cw >= 1.0 && ch >= 1.0 && cw <= w && ch <= h {
            let x = rng.random_range(0.0..=w - cw).floor();
            let y = rng.random_range(0.0..=h - ch).floor();
            return (x, y, cw, ch);
        }
    }
    let ratio = w / h;
    let (cw, ch) = if ratio < 3.0 / 4.0 {
        (w, (w * 4.0 / 3.0).round())
    } else if ratio > 4.0 / 3.0 {
        ((h * 4.0 / 3.0).round(), h)
    } else {
        (w, h)
    };
    ((w - cw) / 2.0, (h - ch) / 2.0, cw, ch)
}

fn to_chw(image: &RgbImage) -> RawImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut out = RawImage::filled(3, h, w, 0);
    for (x, y, pixel) in image.enumerate_pixels() {
        for c in 0..3 {
            out.set_pixel(c, y as usize, x as usize, pixel[c]);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::augment::item_rng;
    use crate::testutil::TempDir;
    use image::{ImageFormat, Rgb};

    /// Writes `root/<split>/<class>/<name>` as a `w x h` image of one colour.
    pub(crate) fn write_image(path: &Path, w: u32, h: u32, colour: [u8; 3]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = RgbImage::from_pixel(w, h, Rgb(colour));
        let ext = path
            .extension()
            .unwrap()
            .to_string_lossy()
            .to_ascii_lowercase();
        let format = if ext == "png" {
            ImageFormat::Png
        } else {
            ImageFormat::Jpeg
        };
        img.save_with_format(path, format).unwrap();
    }

    /// Writes a 64 x 48 patterned JPEG cut in the middle of its scan data: the header
    /// (and so the dimensions) is intact, the body is not.
    pub(crate) fn write_truncated_jpeg(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let img = RgbImage::from_fn(64, 48, |x, y| {
            Rgb([(x * 4) as u8, (y * 5) as u8, (x * y) as u8])
        });
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert!(bytes.len() - scan > 400, "scan data too short to cut");
        std::fs::write(path, &bytes[..(scan + bytes.len()) / 2]).unwrap();
    }

    /// A tree with classes `zebra`, `apple`, `mango` (sorted: apple, mango, zebra) and
    /// `per_class` training files each, mixing extensions and their case.
    pub(crate) fn make_tree(root: &Path, per_class: usize) {
        let exts = ["png", "JPEG", "jpg", "PNG"];
        for (k, class) in ["zebra", "apple", "mango"].iter().enumerate() {
            for i in 0..per_class {
                let ext = exts[i % exts.len()];
                let colour = [k as u8 * 100, i as u8, 7];
                write_image(
                    &root.join(format!("train/{class}/{i:03}.{ext}")),
                    12,
                    9,
                    colour,
                );
            }
            write_image(
                &root.join(format!("val/{class}/v.png")),
                9,
                12,
                [k as u8 * 100, 0, 7],
            );
        }
        // Not images: skipped.
        std::fs::write(root.join("train/apple/readme.txt"), "x").unwrap();
    }

    #[test]
    fn classes_sorted_and_extensions_case_insensitive() {
        let dir = TempDir::new("folder_tree");
        make_tree(dir.path(), 4);
        let opts = FolderOptions {
            image_size: 6,
            resize: 8,
        };
        let (train, val, classes) = open_folder_tree(dir.path(), opts).unwrap();
        assert_eq!(classes, ["apple", "mango", "zebra"]);
        assert_eq!(train.labels(), &[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(val.labels(), &[0, 1, 2]);
        assert!(train.path(1).unwrap().ends_with("apple/001.JPEG"));
        train.verify(0..train.labels().len()).unwrap();
        // Red was 100 * creation order (zebra 0, apple 100, mango 200): labels follow
        // sorted names, not creation order.
        for (index, red) in [(0, 100), (4, 200), (8, 0)] {
            let img = train.load(index, None).unwrap();
            assert_eq!((img.channels, img.height, img.width), (3, 6, 6));
            assert_eq!(img.pixel(0, 3, 3), red);
        }
        let mut rng = item_rng(0, 0, 0);
        let img = val.load(2, Some((0.08, &mut rng))).unwrap();
        assert_eq!((img.height, img.width), (6, 6));
    }

    #[test]
    fn undecodable_and_unknown_class_are_errors() {
        let dir = TempDir::new("folder_bad");
        make_tree(dir.path(), 2);
        let bad = dir.path().join("train/mango/zz-broken.jpg");
        std::fs::write(&bad, b"this is not a jpeg").unwrap();
        let (train, _, _) = open_folder_tree(dir.path(), FolderOptions::default()).unwrap();
        let last = train.labels().iter().rposition(|&l| l == 1).unwrap();
        let err = train.verify(0..train.labels().len()).unwrap_err();
        assert!(err.to_string().contains("zz-broken.jpg"), "{err}");
        assert!(matches!(
            train.load(last, None),
            Err(DataError::Decode { .. })
        ));
        write_image(&dir.path().join("val/kiwi/a.png"), 4, 4, [0, 0, 0]);
        let err = open_folder_tree(dir.path(), FolderOptions::default()).unwrap_err();
        assert!(err.to_string().contains("kiwi"));
    }

    #[test]
    fn skipping_drops_undecodable_headers_and_lists_them() {
        let dir = TempDir::new("folder_skip");
        make_tree(dir.path(), 3);
        // Mixed-case extension, and a zero-byte file.
        std::fs::write(dir.path().join("train/mango/001b.JpG"), b"garbage").unwrap();
        std::fs::write(dir.path().join("train/zebra/zz.png"), b"").unwrap();
        let (train, _, classes) = open_folder_tree(dir.path(), FolderOptions::default()).unwrap();
        assert_eq!(train.labels().len(), 11);
        let mut strict = train.clone();
        let err = strict.check_headers().unwrap_err();
        // The first bad file in item order, whichever thread found it.
        assert!(err.to_string().contains("001b.JpG"), "{err}");
        assert!(matches!(err, DataError::Decode { .. }));
        let mut lenient = train.with_skip_undecodable(true);
        lenient.check_headers().unwrap();
        assert_eq!(lenient.labels(), &[0, 0, 0, 1, 1, 1, 2, 2, 2]);
        let names: Vec<_> = lenient
            .skipped()
            .iter()
            .map(|p| p.file_name().unwrap())
            .collect();
        assert_eq!(names, ["001b.JpG", "zz.png"]);
        assert!(lenient.path(4).unwrap().ends_with("mango/001.JPEG"));
        assert!(lenient.path(5).unwrap().ends_with("mango/002.jpg"));
        lenient.require_every_class(&classes).unwrap();
        // Every remaining file decodes: nothing more is skipped.
        lenient.check_pixels().unwrap();
        assert_eq!(lenient.skipped().len(), 2);
    }

    #[test]
    fn truncated_jpeg_passes_the_header_check_but_not_decoding() {
        let dir = TempDir::new("folder_truncated");
        make_tree(dir.path(), 2);
        let cut = dir.path().join("train/apple/cut.jpeg");
        write_truncated_jpeg(&cut);
        let (mut train, _, classes) =
            open_folder_tree(dir.path(), FolderOptions::default()).unwrap();
        let index = 2; // apple 000, 001, cut
        assert_eq!(train.path(index).unwrap(), cut);
        train.check_headers().unwrap();
        let err = train.load(index, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cut.jpeg") && msg.contains("truncated JPEG"),
            "{msg}"
        );
        assert!(matches!(err, DataError::Decode { .. }));
        assert!(
            train
                .check_pixels()
                .unwrap_err()
                .to_string()
                .contains("cut.jpeg")
        );
        let mut lenient = train.with_skip_undecodable(true);
        lenient.check_pixels().unwrap();
        assert_eq!(lenient.skipped(), [cut]);
        assert_eq!(lenient.labels(), &[0, 0, 1, 1, 2, 2]);
        lenient.require_every_class(&classes).unwrap();
    }

    #[test]
    fn class_emptied_by_skipping_is_an_error() {
        let dir = TempDir::new("folder_empty_class");
        make_tree(dir.path(), 1);
        // mango's only image becomes garbage.
        std::fs::write(dir.path().join("train/mango/000.png"), b"not a png").unwrap();
        let (train, _, classes) = open_folder_tree(dir.path(), FolderOptions::default()).unwrap();
        let mut train = train.with_skip_undecodable(true);
        train.check_headers().unwrap();
        let err = train.require_every_class(&classes).unwrap_err();
        assert!(err.to_string().contains("mango"), "{err}");
    }

    #[test]
    fn jpeg_end_marker_rule() {
        let mut bytes = Vec::new();
        RgbImage::from_pixel(16, 16, Rgb([1, 2, 3]))
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        assert_eq!(jpeg_truncation(&bytes), None);
        // Bytes after the end marker are tolerated (some cameras append data).
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"trailer");
        assert_eq!(jpeg_truncation(&trailing), None);
        let no_end = &bytes[..bytes.len() - 2];
        assert!(jpeg_truncation(no_end).unwrap().contains("end-of-image"));
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert!(
            jpeg_truncation(&bytes[..scan])
                .unwrap()
                .contains("before its image data")
        );
    }

    #[test]
    fn parallel_check_finds_the_first_failure() {
        let files: Vec<PathBuf> = (0..500).map(|i| PathBuf::from(format!("{i}"))).collect();
        let check = |p: &Path| -> Result<(), DataError> {
            let i: usize = p.to_str().unwrap().parse().unwrap();
            if i % 97 == 41 {
                Err(DataError::bad_format(p, "bad"))
            } else {
                Ok(())
            }
        };
        let all: Vec<usize> = find_failures(&files, false, &check)
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(all, [41, 138, 235, 332, 429]);
        for _ in 0..20 {
            let first = find_failures(&files, true, &check);
            assert_eq!(first[0].0, 41);
        }
        assert!(find_failures(&[], true, &check).is_empty());
    }

    #[test]
    fn missing_train_folder() {
        let dir = TempDir::new("folder_missing");
        let err = open_folder_tree(dir.path(), FolderOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }));
        assert!(err.to_string().contains("train"));
    }

    #[test]
    fn random_window_stays_inside() {
        for i in 0..200 {
            let mut rng = item_rng(3, 0, i);
            let (x, y, cw, ch) = random_resized_window(50.0, 30.0, 0.08, &mut rng);
            assert!(x >= 0.0 && y >= 0.0 && cw >= 1.0 && ch >= 1.0);
            assert!(x + cw <= 50.0 && y + ch <= 30.0);
        }
    }
}
