//! Helpers shared by the unit tests.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element, Tensor, TensorData};

// burn 0.21 fixes a device type's default float dtype once per process, so the two
// precisions run on backends with different device types (ARCHITECTURE.md).

/// Float64 autodiff backend for cross-checks against the host math.
pub type B64 = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
/// Float32 backend for the float32 edge cases.
pub type F32 = burn::backend::Flex;
/// Float32 autodiff backend.
pub type A32 = burn::backend::Autodiff<burn::backend::Flex>;

/// Asserts that `tensor` has the float dtype of its backend `B`: a test meant for one
/// precision must not run in another.
pub fn in_precision<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, D> {
    let expected: DType = <B::FloatElem as Element>::dtype();
    assert_eq!(
        tensor.dtype(),
        expected,
        "the device computes in another precision"
    );
    tensor
}

/// A `[rows, K]` tensor from host rows.
pub fn matrix<B: Backend>(rows: &[Vec<f64>]) -> Tensor<B, 2> {
    let k = rows.first().map_or(0, Vec::len);
    let values: Vec<f64> = rows.iter().flatten().copied().collect();
    in_precision(Tensor::from_data(
        TensorData::new(values, [rows.len(), k]),
        &Default::default(),
    ))
}

/// A `[n]` tensor from host values.
pub fn vector<B: Backend>(values: &[f64]) -> Tensor<B, 1> {
    in_precision(Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        &Default::default(),
    ))
}

/// Host rows of a `[rows, K]` tensor.
pub fn rows<B: Backend>(tensor: Tensor<B, 2>) -> Vec<Vec<f64>> {
    let [_, k] = tensor.dims();
    let values: Vec<f64> = tensor.into_data().iter::<f64>().collect();
    values.chunks(k.max(1)).map(<[f64]>::to_vec).collect()
}

/// Host values of a `[n]` tensor.
pub fn values<B: Backend>(tensor: Tensor<B, 1>) -> Vec<f64> {
    tensor.into_data().iter::<f64>().collect()
}

/// Whether every value of `rows` is within `tolerance` of `expected`.
pub fn assert_close(actual: &[Vec<f64>], expected: &[Vec<f64>], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "row counts differ");
    for (r, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.len(), e.len(), "row {r} lengths differ");
        for (c, (x, y)) in a.iter().zip(e).enumerate() {
            assert!(
                (x - y).abs() <= tolerance,
                "[{r}][{c}]: {x} vs {y} (tolerance {tolerance})"
            );
        }
    }
}
