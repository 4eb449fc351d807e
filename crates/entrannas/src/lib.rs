//! EnTranNAS and EnTranNAS-DST (ICLR 2021) differentiable architecture search on
//! [burn](https://burn.dev): the crate to depend on. It re-exports every layer of the
//! workspace as a module, the types most programs need in [`prelude`], burn itself,
//! and, per backend feature, the backend types in [`backend`].
//!
//! ```no_run
//! use entrannas::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = open(DatasetKind::Embedded, None, &OpenOptions::default())?;
//! let config = SearchConfig::quick().with_epochs(2);
//! let run = RunDir::create("runs/quick", false)?;
//! let registry = OpRegistry::default();
//! let outcome = run_search::<Cpu>(&config, &registry, &data, &run, &mut (), &[Default::default()])?;
//! let genotype = outcome.history[outcome.selection.epoch].genotype.clone();
//! println!("{}", genotype.to_darts_text());
//! # Ok(())
//! # }
//! ```
//!
//! The layers, each usable alone: [`ops`] (the operation zoo and its registry),
//! [`cell`] (cells, genotypes, the target-net's plan), [`diagram`] (cell diagrams as SVG
//! or Graphviz DOT), [`relax`] (the relaxation and
//! derivation math), [`data`] (datasets, augmentation), [`search`] (the super-net and
//! its bi-level search), [`eval`] (training a genotype's target-net), [`report`] (the
//! HTML reports), and [`run`] beneath search and training (run directories,
//! checkpoints, histories, multi-run plans).

#![warn(missing_docs)]

pub use burn;
pub use entrannas_cell as cell;
pub use entrannas_data as data;
pub use entrannas_diagram as diagram;
pub use entrannas_eval as eval;
pub use entrannas_ops as ops;
pub use entrannas_relax as relax;
pub use entrannas_report as report;
pub use entrannas_run as run;
pub use entrannas_search as search;

/// Backend types for the compiled backend features, autodiff included where a search
/// or a training needs it.
pub mod backend {
    /// The CPU backend of the `flex` feature, with autodiff: what searches and
    /// trainings run on by default.
    #[cfg(feature = "flex")]
    pub type Cpu = burn::backend::Autodiff<burn::backend::Flex>;
    /// The `flex` CPU backend without autodiff: for evaluating a trained net.
    #[cfg(feature = "flex")]
    pub type CpuInference = burn::backend::Flex;
    /// The `ndarray` CPU backend, with autodiff.
    #[cfg(feature = "ndarray")]
    pub type NdArray = burn::backend::Autodiff<burn::backend::NdArray>;
    /// The wgpu backend (Vulkan, Metal or DirectX, chosen by wgpu), with autodiff.
    #[cfg(feature = "wgpu")]
    pub type Wgpu = burn::backend::Autodiff<burn::backend::Wgpu>;
    /// CubeCL's CUDA backend, with autodiff.
    #[cfg(feature = "cuda")]
    pub type Cuda = burn::backend::Autodiff<burn::backend::Cuda>;
    /// libtorch's backend (CPU or CUDA by device), with autodiff.
    #[cfg(feature = "tch")]
    pub type LibTorch = burn::backend::Autodiff<burn::backend::LibTorch>;
}

/// What most programs use: configure and run a search, read its genotype, train and
/// evaluate the genotype's target-net, register operations.
pub mod prelude {
    #[cfg(feature = "flex")]
    pub use crate::backend::{Cpu, CpuInference};
    pub use entrannas_cell::{Genotype, TargetLayout};
    pub use entrannas_data::{DatasetKind, OpenOptions, OpenedDataset, open};
    pub use entrannas_eval::{
        TrainConfig, TrainJob, evaluate, load_for_inference, load_for_inference_with,
    };
    pub use entrannas_ops::{OpRecipe, OpRegistry};
    pub use entrannas_run::{RunDir, on_worker_pool};
    pub use entrannas_search::{
        EnginePlacement, Method, OpSpace, SearchConfig, SearchOutcome, Searcher, resume_search,
        resume_searches, run_search, run_searches,
    };
}
