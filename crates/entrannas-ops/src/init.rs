//! Eager parameter initialisation.
//!
//! burn initialises a parameter lazily, on its first use, drawing from the backend's
//! generator at that moment. In a super-net whose Transit cells touch an operation
//! only once the derivation selects it, or in a training loop that reseeds the
//! generator every epoch for drop-path, that moment depends on the run's history
//! (and a clone of a lazy parameter initialises separately from the original), so
//! the same seed could give different weights in an uninterrupted and a resumed run.
//! [`materialize`] draws every parameter at once, in the module's field order, right
//! after the backend is seeded.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

/// Initialises every parameter of `module` now, in visiting order.
pub fn materialize<B: Backend, M: Module<B>>(module: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            param.val();
        }
        fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
            param.val();
        }
        fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
            param.val();
        }
    }
    module.visit(&mut Touch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    type B = Flex;

    fn initialised(linear: &Linear<B>) -> bool {
        linear.weight.is_initialized() && linear.bias.as_ref().is_some_and(Param::is_initialized)
    }

    #[test]
    fn every_parameter_is_drawn_at_once() {
        let device = Default::default();
        let linear: Linear<B> = LinearConfig::new(3, 2).init(&device);
        assert!(!initialised(&linear), "burn 0.21 initialises lazily");
        materialize(&linear);
        assert!(initialised(&linear));
    }

    #[test]
    fn a_clone_shares_the_weights_only_once_they_are_drawn() {
        let device = Default::default();
        // Lazy: the clone carries the initialiser and draws its own weights.
        let lazy: Linear<B> = LinearConfig::new(8, 8).init(&device);
        let copy = lazy.clone();
        assert_ne!(copy.weight.val().into_data(), lazy.weight.val().into_data());
        // Eager: the clone holds the drawn weights.
        let eager: Linear<B> = LinearConfig::new(8, 8).init(&device);
        materialize(&eager);
        let copy = eager.clone();
        assert_eq!(
            copy.weight.val().into_data(),
            eager.weight.val().into_data()
        );
    }
}
