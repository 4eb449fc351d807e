//! Operations by name: the built-ins plus any a user registers.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::backend::Backend;

use crate::OpsError;
use crate::kind::OpKind;
use crate::module::Op;
use crate::recipes::builtin_layers;
use crate::spec::{LayerSpec, OpSpec, sequence_cost};

/// A user operation: given how it is instantiated, the layers it is made of. It must
/// keep the channel count and give the strided spatial size (`ceil(size / stride)`).
pub type OpRecipe = Arc<dyn Fn(&OpSpec) -> Vec<LayerSpec> + Send + Sync>;

/// Resolves operation names to layer sequences: the built-in DARTS operations, plus
/// operations that a user's crate registers without editing this one.
///
/// ```
/// use std::sync::Arc;
/// use entrannas_ops::{OpRegistry, LayerSpec, ConvSpec};
///
/// let mut registry = OpRegistry::default();
/// registry
///     .register("conv_5x5", Arc::new(|spec| {
///         vec![
///             LayerSpec::Relu,
///             LayerSpec::Conv(ConvSpec::square(spec.channels, spec.channels, 5, spec.stride, 2, 1)),
///             LayerSpec::Norm { channels: spec.channels, affine: spec.affine },
///         ]
///     }))
///     .unwrap();
/// assert!(registry.names().contains(&"conv_5x5".to_string()));
/// ```
#[derive(Clone, Default)]
pub struct OpRegistry {
    custom: BTreeMap<String, OpRecipe>,
}

impl core::fmt::Debug for OpRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpRegistry")
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OpRegistry {
    /// Adds an operation under `name`. Built-in names and names already registered
    /// are refused.
    pub fn register(&mut self, name: impl Into<String>, recipe: OpRecipe) -> Result<(), OpsError> {
        let name = name.into();
        if OpKind::from_name(&name).is_some() || self.custom.contains_key(&name) {
            return Err(OpsError::DuplicateOp(name));
        }
        self.custom.insert(name, recipe);
        Ok(())
    }

    /// Every known name: the built-ins in extended-space order, then registered ones.
    pub fn names(&self) -> Vec<String> {
        OpKind::ALL
            .iter()
            .map(|kind| kind.name().to_string())
            .chain(self.custom.keys().cloned())
            .collect()
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        OpKind::from_name(name).is_some() || self.custom.contains_key(name)
    }

    /// Checks that every name is known; the error names the first unknown one and
    /// lists the valid names.
    pub fn check_names<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), OpsError> {
        for name in names {
            if !self.contains(name) {
                return Err(self.unknown(name));
            }
        }
        Ok(())
    }

    /// The layers of operation `name` instantiated with `spec`.
    pub fn layers(&self, name: &str, spec: &OpSpec) -> Result<Vec<LayerSpec>, OpsError> {
        if spec.channels == 0 || spec.stride == 0 {
            return Err(OpsError::InvalidSpec(format!(
                "operation `{name}` needs at least one channel and a stride of at least 1, got {spec:?}"
            )));
        }
        if let Some(kind) = OpKind::from_name(name) {
            if kind == OpKind::SkipConnect && spec.stride == 2 && spec.channels % 2 == 1 {
                return Err(OpsError::InvalidSpec(format!(
                    "skip_connect at stride 2 is a factorized reduce, which needs an even channel count, got {}",
                    spec.channels
                )));
            }
            return Ok(builtin_layers(kind, spec));
        }
        match self.custom.get(name) {
            Some(recipe) => Ok(recipe(spec)),
            None => Err(self.unknown(name)),
        }
    }

    /// Whether `name` is the zero operation, which cells never compute.
    pub fn is_zero(&self, name: &str) -> bool {
        name == OpKind::None.name()
    }

    /// Whether operation `name` has no trainable parameters at `spec` (pools, identity,
    /// zero, and user ops made only of such layers).
    pub fn is_parameter_free(&self, name: &str, spec: &OpSpec) -> Result<bool, OpsError> {
        Ok(self.layers(name, spec)?.iter().all(|l| l.params() == 0))
    }

    /// Parameters of operation `name` at `spec`.
    pub fn params(&self, name: &str, spec: &OpSpec) -> Result<u64, OpsError> {
        Ok(sequence_cost(&self.layers(name, spec)?, [spec.channels, 1, 1]).params)
    }

    /// Builds operation `name` as a burn module.
    pub fn build<B: Backend>(
        &self,
        name: &str,
        spec: &OpSpec,
        device: &B::Device,
    ) -> Result<Op<B>, OpsError> {
        Ok(Op::new(&self.layers(name, spec)?, device))
    }

    fn unknown(&self, name: &str) -> OpsError {
        OpsError::UnknownOp {
            name: name.to_string(),
            valid: self.names(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ConvSpec;
    use burn::backend::Flex;
    use burn::tensor::Tensor;

    fn conv_5x5() -> OpRecipe {
        Arc::new(|spec: &OpSpec| {
            vec![
                LayerSpec::Relu,
                LayerSpec::Conv(ConvSpec::square(
                    spec.channels,
                    spec.channels,
                    5,
                    spec.stride,
                    2,
                    1,
                )),
                LayerSpec::Norm {
                    channels: spec.channels,
                    affine: spec.affine,
                },
            ]
        })
    }

    #[test]
    fn a_registered_op_builds_and_runs_like_a_builtin() {
        let mut registry = OpRegistry::default();
        registry.register("conv_5x5", conv_5x5()).unwrap();
        let spec = OpSpec::search(3, 2);
        assert_eq!(registry.params("conv_5x5", &spec).unwrap(), 3 * 3 * 25);
        assert!(!registry.is_parameter_free("conv_5x5", &spec).unwrap());
        let op: Op<Flex> = registry
            .build("conv_5x5", &spec, &Default::default())
            .unwrap();
        let out = op.forward(Tensor::ones([2, 3, 9, 9], &Default::default()));
        assert_eq!(out.dims(), [2, 3, 5, 5]);
    }

    #[test]
    fn names_are_unique_and_unknown_names_list_the_valid_ones() {
        let mut registry = OpRegistry::default();
        assert_eq!(
            registry.register("sep_conv_3x3", conv_5x5()),
            Err(OpsError::DuplicateOp("sep_conv_3x3".into()))
        );
        registry.register("conv_5x5", conv_5x5()).unwrap();
        assert!(registry.register("conv_5x5", conv_5x5()).is_err());
        let err = registry
            .layers("conv_9x9", &OpSpec::search(4, 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("conv_9x9") && err.contains("conv_5x5") && err.contains("skip_connect"),
            "{err}"
        );
        assert!(registry.check_names(["none", "conv_5x5"]).is_ok());
        assert!(registry.check_names(["none", "nope"]).is_err());
    }

    #[test]
    fn impossible_specs_are_errors_not_panics() {
        let registry = OpRegistry::default();
        assert!(
            registry
                .layers("sep_conv_3x3", &OpSpec::search(0, 1))
                .is_err()
        );
        assert!(
            registry
                .layers("skip_connect", &OpSpec::search(3, 2))
                .is_err()
        );
        assert!(
            registry
                .layers("skip_connect", &OpSpec::search(3, 1))
                .is_ok()
        );
    }
}
