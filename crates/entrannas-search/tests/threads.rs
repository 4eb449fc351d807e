//! A seeded CPU search step gives the same weights, bit for bit, on any number of
//! threads (issue 33: the default CPU backend's parallel kernels compute every output
//! element in one task, in a fixed order).

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use entrannas_data::{DatasetInfo, DatasetKind, ImageBatch};
use entrannas_search::{Method, SearchConfig, Searcher};

type B = Autodiff<Flex>;

/// Every float parameter of `module`, flattened, as bit patterns.
fn bits<M: Module<B>>(module: &M) -> Vec<u32> {
    struct Bits(Vec<u32>);
    impl ModuleVisitor<B> for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0.extend(
                values
                    .as_slice::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
        }
    }
    let mut visitor = Bits(Vec::new());
    module.visit(&mut visitor);
    visitor.0
}

/// A batch of `n` deterministic 3x16x16 images in 3 classes.
fn batch(n: usize, phase: f64) -> ImageBatch<B> {
    let device = Default::default();
    let pixels: Vec<f32> = (0..n * 3 * 256)
        .map(|i| (i as f64 * 0.37 + phase).sin() as f32)
        .collect();
    ImageBatch {
        images: Tensor::from_data(TensorData::new(pixels, [n, 3, 16, 16]), &device),
        targets: Tensor::<B, 1, Int>::from_data(
            TensorData::new((0..n as i64).map(|i| i % 3).collect::<Vec<_>>(), [n]),
            &device,
        ),
    }
}

/// Two search steps of `method` in a rayon pool of `threads` threads: the super-net's
/// weights and the architecture parameters afterwards, as bit patterns.
fn two_steps(method: Method, threads: usize) -> (Vec<u32>, Vec<u32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let classes = vec!["a".into(), "b".into(), "c".into()];
        let info = DatasetInfo::new(DatasetKind::Cifar10, [3, 16, 16], classes);
        // Channels 16 with the bottleneck: depthwise convolutions on 4 channels and
        // activations large enough for the kernels' parallel paths.
        let config = SearchConfig::new()
            .with_method(method)
            .with_channels(16)
            .with_layers(3)
            .with_batch_size(32)
            .with_seed(7);
        let device = Default::default();
        let mut searcher = Searcher::<B>::new(config, &info, &device).unwrap();
        let mut derivation = searcher.derive(1.0).unwrap();
        for step in 0..2 {
            let (val, train) = (batch(32, step as f64), batch(32, 10.0 + step as f64));
            searcher
                .step(&mut derivation, &val, &train, 1.0, 0.05)
                .unwrap();
        }
        B::sync(&device).unwrap();
        (bits(searcher.net()), bits(searcher.arch()))
    })
}

#[test]
fn a_seeded_step_is_the_same_on_one_two_and_three_threads() {
    for method in [Method::Entran, Method::Dst] {
        let one = two_steps(method, 1);
        assert!(!one.0.is_empty() && !one.1.is_empty());
        assert_eq!(
            two_steps(method, 2),
            one,
            "{method}: 2 threads differ from 1"
        );
        assert_eq!(
            two_steps(method, 3),
            one,
            "{method}: 3 threads differ from 1"
        );
    }
}
