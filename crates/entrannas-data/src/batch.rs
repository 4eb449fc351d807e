//! Batching items into tensors. The loader that feeds batches to training is
//! [`crate::Prefetch`]: burn's data loaders cannot report an undecodable image (an item
//! of `None` ends their epoch early).

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use crate::dataset::ImageItem;

/// A batch of images and their class labels.
#[derive(Clone, Debug)]
pub struct ImageBatch<B: Backend> {
    /// Normalized images, `[N, C, H, W]`.
    pub images: Tensor<B, 4>,
    /// Class labels, `[N]`.
    pub targets: Tensor<B, 1, Int>,
}

/// Stacks [`ImageItem`]s into an [`ImageBatch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageBatcher;

impl<B: Backend> Batcher<B, ImageItem, ImageBatch<B>> for ImageBatcher {
    /// # Panics
    /// When the items do not all have the same shape: a dataset yields one shape, so
    /// mixed shapes are a programming error.
    fn batch(&self, items: Vec<ImageItem>, device: &B::Device) -> ImageBatch<B> {
        let n = items.len();
        let [c, h, w] = items.first().map(|i| i.shape).unwrap_or([1, 1, 1]);
        let mut pixels = Vec::with_capacity(n * c * h * w);
        let mut targets = Vec::with_capacity(n);
        for item in items {
            assert_eq!(item.shape, [c, h, w], "items of one batch differ in shape");
            pixels.extend_from_slice(&item.pixels);
            targets.push(item.label as i64);
        }
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Normalization;
    use crate::dataset::ImageDataset;
    use crate::images::InMemoryImages;
    use burn::backend::NdArray;

    type B = NdArray;

    fn dataset(n: usize) -> ImageDataset {
        let pixels = (0..n * 4).map(|i| (i % 256) as u8).collect();
        let images = InMemoryImages::new(1, 2, 2, pixels, (0..n).map(|i| i % 4).collect()).unwrap();
        let norm = Normalization {
            mean: vec![0.2],
            std: vec![0.5],
        };
        ImageDataset::new(images.into(), norm)
    }

    #[test]
    fn batch_shapes_and_values() {
        let ds = dataset(5);
        let items: Vec<_> = (0..3).map(|i| ds.try_get(i).unwrap().unwrap()).collect();
        let batch: ImageBatch<B> = ImageBatcher.batch(items, &Default::default());
        assert_eq!(batch.images.dims(), [3, 1, 2, 2]);
        assert_eq!(batch.targets.dims(), [3]);
        let px = batch.images.into_data().to_vec::<f32>().unwrap();
        for (i, v) in px.iter().enumerate() {
            approx::assert_abs_diff_eq!(*v, (i as f32 / 255.0 - 0.2) / 0.5, epsilon = 1e-5);
        }
        let t = batch
            .targets
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .unwrap();
        assert_eq!(t, vec![0, 1, 2]);
    }
}
