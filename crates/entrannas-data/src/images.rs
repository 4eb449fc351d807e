//! Raw images: one decoded image, a whole split held in memory, and the source a
//! dataset reads from.

use std::sync::Arc;

use crate::folder::FolderImages;

/// One image as 8-bit pixels in channel-major (`C, H, W`) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawImage {
    /// Number of channels (1 grey, 3 RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `channels * height * width` bytes, plane after plane, row after row.
    pub data: Vec<u8>,
}

impl RawImage {
    /// An image of the given shape filled with `value`.
    pub fn filled(channels: usize, height: usize, width: usize, value: u8) -> Self {
        Self {
            channels,
            height,
            width,
            data: vec![value; channels * height * width],
        }
    }

    /// The pixel at channel `c`, row `y`, column `x`; panics when out of range.
    pub fn pixel(&self, c: usize, y: usize, x: usize) -> u8 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Sets the pixel at channel `c`, row `y`, column `x`; panics when out of range.
    pub fn set_pixel(&mut self, c: usize, y: usize, x: usize, value: u8) {
        self.data[(c * self.height + y) * self.width + x] = value;
    }
}

/// A whole split of same-sized images held in memory (IDX, CIFAR, the embedded subset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InMemoryImages {
    channels: usize,
    height: usize,
    width: usize,
    pixels: Vec<u8>,
    labels: Vec<usize>,
}

impl InMemoryImages {
    /// Wraps `pixels` (images one after the other, each `C, H, W`) and their labels.
    ///
    /// Returns `None` when `pixels.len()` is not `labels.len() * channels * height * width`.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<u8>,
        labels: Vec<usize>,
    ) -> Option<Self> {
        (pixels.len() == labels.len() * channels * height * width).then_some(Self {
            channels,
            height,
            width,
            pixels,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[channels, height, width]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The label of every image, in order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The pixels of image `index` (`C, H, W` bytes), or `None` past the end.
    pub fn pixels(&self, index: usize) -> Option<&[u8]> {
        let size = self.channels * self.height * self.width;
        self.pixels.get(index * size..(index + 1) * size)
    }

    /// A new split holding the images at `indices`, in that order (indices past the
    /// end are skipped).
    pub fn select(&self, indices: &[usize]) -> InMemoryImages {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for &i in indices {
            if let Some(p) = self.pixels(i) {
                pixels.extend_from_slice(p);
                labels.push(self.labels[i]);
            }
        }
        Self {
            pixels,
            labels,
            ..*self
        }
    }

    /// Image `index` as an owned [`RawImage`], or `None` past the end.
    pub fn image(&self, index: usize) -> Option<RawImage> {
        self.pixels(index).map(|data| RawImage {
            channels: self.channels,
            height: self.height,
            width: self.width,
            data: data.to_vec(),
        })
    }
}

/// Where a dataset's images come from: memory, or files decoded on demand.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// All pixels in memory.
    Memory(Arc<InMemoryImages>),
    /// Paths of image files, decoded when an item is fetched.
    Folder(Arc<FolderImages>),
}

impl ImageSource {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of every image, in source order.
    pub fn labels(&self) -> &[usize] {
        match self {
            ImageSource::Memory(images) => images.labels(),
            ImageSource::Folder(folder) => folder.labels(),
        }
    }

    /// `[channels, height, width]` of the images a dataset built on this source yields.
    pub fn shape(&self) -> [usize; 3] {
        match self {
            ImageSource::Memory(images) => images.shape(),
            ImageSource::Folder(folder) => folder.output_shape(),
        }
    }
}

impl From<InMemoryImages> for ImageSource {
    fn from(images: InMemoryImages) -> Self {
        ImageSource::Memory(Arc::new(images))
    }
}

impl From<FolderImages> for ImageSource {
    fn from(folder: FolderImages) -> Self {
        ImageSource::Folder(Arc::new(folder))
    }
}
