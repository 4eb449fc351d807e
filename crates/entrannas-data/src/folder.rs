//! ImageNet-style image folders: `<root>/train/<class>/*.{jpeg,jpg,png}` and
//! `<root>/val/<class>/...` (extension case ignored).
//!
//! Classes are the sub-folders of `train`, indexed in sorted name order; `val` may lack a
//! class but may not add one. Files of a class are taken in sorted name order, so item
//! indices do not depend on the order the file system lists them. Only paths are held;
//! a file is decoded when its item is fetched.
//!
//! Training items get a random resized crop (a random area fraction in
//! `[min_crop_scale, 1]` and aspect ratio in `[3/4, 4/3]`, as torchvision's
//! `RandomResizedCrop`) scaled to `image_size`; evaluation items are resized so the
//! shorter side is `resize`, then centre-cropped to `image_size`.

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{ImageReader, RgbImage};
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
        })
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
                image_reader(path)?
                    .into_dimensions()
                    .map_err(|e| decode_error(path, e))?;
            }
        }
        Ok(())
    }

    /// Decodes item `index` to RGB at its stored size.
    pub fn decode(&self, index: usize) -> Result<RgbImage, DataError> {
        let path = self.path(index).ok_or_else(|| {
            DataError::InvalidOption(format!("item {index} of {}", self.dir.display()))
        })?;
        let image = image_reader(path)?
            .decode()
            .map_err(|e| decode_error(path, e))?;
        Ok(image.into_rgb8())
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

fn image_reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, DataError> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))
}

fn decode_error(path: &Path, e: image::ImageError) -> DataError {
    DataError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
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
