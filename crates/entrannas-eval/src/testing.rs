//! Test helpers: backends, a lock for the process-wide generator, tiny data.

use std::sync::{Mutex, MutexGuard};

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use entrannas_cell::{CellGenotype, Connection, Genotype, TargetLayout};
use entrannas_data::{AugmentConfig, DatasetInfo, DatasetKind, InMemoryImages, OpenedDataset};

use crate::config::TrainConfig;

/// The training backend of the tests.
pub(crate) type B = Autodiff<NdArray<f32>>;
/// The evaluation backend of the tests.
pub(crate) type Inner = NdArray<f32>;

/// burn's CPU backends seed one process-wide generator: tests that initialise
/// networks or draw drop-path masks take turns so each sees only its own seeds.
static SEEDED: Mutex<()> = Mutex::new(());

pub(crate) fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A deterministic batch of `n` images of `shape`.
pub(crate) fn image_batch<Bk: Backend>(n: usize, shape: [usize; 3], phase: f32) -> Tensor<Bk, 4> {
    let [c, h, w] = shape;
    let values: Vec<f32> = (0..n * c * h * w)
        .map(|i| (i as f32 * 0.37 + phase).sin())
        .collect();
    Tensor::from_data(TensorData::new(values, [n, c, h, w]), &Default::default())
}

/// A genotype whose nodes each take `per_node` connections (DST-style), cycling
/// through ops and earlier nodes.
pub(crate) fn dst_genotype(per_node: usize) -> Genotype {
    let ops = [
        "sep_conv_3x3",
        "skip_connect",
        "max_pool_3x3",
        "dil_conv_5x5",
        "avg_pool_3x3",
    ];
    let cell = |shift: usize| CellGenotype {
        inputs: 2,
        nodes: (2..6)
            .map(|node| {
                (0..per_node)
                    .map(|k| {
                        Connection::new((k + shift) % node, ops[(k + node + shift) % ops.len()])
                    })
                    .collect()
            })
            .collect(),
        concat: vec![2, 3, 4, 5],
    };
    Genotype {
        normal: cell(0),
        reduce: cell(1),
    }
}

/// Elements of the parameters that require gradients (batch-norm statistics excluded).
pub(crate) fn trainable_params<M: Module<B>>(module: &M) -> u64 {
    struct Count(u64);
    impl ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if param.val().is_require_grad() {
                self.0 += param.val().shape().num_elements() as u64;
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// 48 training and 16 test images of `channels`x8x8 in 2 classes: class 1 is
/// bright in the top half, class 0 in the bottom half (flips keep the classes).
pub(crate) fn toy_data_with_channels(channels: usize) -> OpenedDataset {
    let images = |n: usize, salt: usize| {
        let mut pixels = Vec::with_capacity(n * channels * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let label = i % 2;
            for p in 0..channels * 64 {
                let top = p % 64 < 32;
                let base = if top == (label == 1) { 180 } else { 40 };
                pixels.push((base + (i * 7 + p * 13 + salt) % 50) as u8);
            }
            labels.push(label);
        }
        InMemoryImages::new(channels, 8, 8, pixels, labels).unwrap()
    };
    OpenedDataset {
        kind: DatasetKind::Embedded,
        info: DatasetInfo::new(
            DatasetKind::Embedded,
            [channels, 8, 8],
            vec!["dark".into(), "bright".into()],
        ),
        location: "test".into(),
        train: images(48, 0).into(),
        test: images(16, 3).into(),
        augment: AugmentConfig {
            crop_padding: 1,
            flip: true,
            cutout: None,
            min_crop_scale: 1.0,
        },
    }
}

/// [`toy_data_with_channels`] with one channel.
pub(crate) fn toy_data() -> OpenedDataset {
    toy_data_with_channels(1)
}

/// A tiny CIFAR-layout training: `C = 4`, `L = 3`, batch 8, cutout 2.
pub(crate) fn tiny_config() -> TrainConfig {
    TrainConfig::new()
        .with_layout(TargetLayout::Cifar)
        .with_channels(4)
        .with_layers(3)
        .with_batch_size(8)
        .with_lr(0.05)
        .with_cutout(Some(2))
        .with_seed(1)
        .with_dataset("embedded".into())
}
