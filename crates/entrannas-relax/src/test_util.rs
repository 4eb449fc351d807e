//! Helpers shared by the unit tests.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element, Tensor, TensorData};

/// Float64 autodiff backend for cross-checks against the host math.
pub type B64 = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
/// Float32 backend for the float32 edge cases.
pub type F32 = burn::backend::NdArray<f32>;
/// Float32 autodiff backend.
pub type A32 = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

/// The float dtype of backend `B`.
///
/// Tensors are created with it explicitly: burn 0.21 keys a device's default dtype by
/// the device type, which `NdArray<f32>` and `NdArray<f64>` share, so whichever backend
/// a test binary touches first would otherwise decide the precision of the other.
pub fn float_dtype<B: Backend>() -> DType {
    <B::FloatElem as Element>::dtype()
}

/// A `[rows, K]` tensor from host rows.
pub fn matrix<B: Backend>(rows: &[Vec<f64>]) -> Tensor<B, 2> {
    let k = rows.first().map_or(0, Vec::len);
    let values: Vec<f64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(values, [rows.len(), k]),
        (&Default::default(), float_dtype::<B>()),
    )
}

/// A `[n]` tensor from host values.
pub fn vector<B: Backend>(values: &[f64]) -> Tensor<B, 1> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        (&Default::default(), float_dtype::<B>()),
    )
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
