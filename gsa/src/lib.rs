//! # gsa: global sensitivity analysis
//!
//! Which inputs of a model matter, over their whole range? Describe the inputs ([`Problem`]),
//! hand over the model (any [`ad_core::Function`], or an ODE through [`OdeModel`]) and call
//! one function:
//!
//! - [`sobol`]: variance-based first, total (and second) order Sobol' indices from Saltelli's
//!   design on scrambled Sobol' points, with bootstrap confidence intervals;
//! - [`morris`]: Morris elementary effects (`mu`, `mu*`, `sigma`) for screening;
//! - [`dgsm`]: derivative-based measures `nu_i = E[(df/dx_i)^2]` from exact gradients (forward
//!   or reverse mode, adjoints for ODEs), with the Sobol'-Poincaré upper bound on each total
//!   index;
//! - [`efast`]: the extended Fourier amplitude sensitivity test (first and total indices from
//!   `N k` runs).
//!
//! The model runs in parallel (rayon), each sample on its own (an ODE on its own adaptive
//! steps); results are stored by sample index, so a seed gives bit-identical indices on any
//! number of threads. A failed sample is an error with its index and input, or (opt-in)
//! dropped and counted; an index is never NaN. With the `mpi` feature, `sobol_mpi`,
//! `morris_mpi` and `dgsm_mpi` split the model runs across MPI ranks with the same
//! bit-identical indices (`docs/distributed.md`). Every output of a vector-valued model (an ODE
//! at many save times) gets its indices from the same runs.
//!
//! ```
//! use ad_core::{Function, Real};
//! use gsa::{sobol, Problem, SobolOptions};
//!
//! /// The Ishigami function (a = 7, b = 0.1) on [-pi, pi]^3.
//! struct Ishigami;
//! impl Function for Ishigami {
//!     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
//!         vec![x[0].sin() + x[1].sin().powi(2) * 7.0 + x[2].powi(4) * x[0].sin() * 0.1]
//!     }
//! }
//! let pi = std::f64::consts::PI;
//! let problem = Problem::new(&[(-pi, pi); 3])?;
//! let s = sobol(&problem, &Ishigami, &SobolOptions { samples: 4096, seed: 7, ..Default::default() })?;
//! // analytic: S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244)
//! assert!((s.first[0][0] - 0.314).abs() < 0.02 && (s.total[0][2] - 0.244).abs() < 0.02);
//! # Ok::<(), gsa::Error>(())
//! ```
//!
//! The steps can also be taken one at a time, as in SALib: build a design ([`saltelli`]),
//! run the model anywhere, save the runs ([`io`]), and analyse them later ([`analyze_sobol`]).
//! Plots (SVG, [`plot`]): S1/ST bars with confidence whiskers, the Morris `mu*`-`sigma`
//! plane, indices over an ODE's save times. The estimators, their sources and how to choose
//! `N`: `docs/gsa.md`.
#![warn(missing_docs)]

mod dgsm;
mod efast;
mod error;
pub mod io;
mod model;
mod morris;
mod ode_model;
pub mod plot;
mod problem;
mod rng;
mod sampling;
mod sobol;
pub mod testing;

pub use dgsm::{dgsm, dgsm_model, DgsmIndices, DgsmOptions};
#[cfg(feature = "mpi")]
pub use dgsm::{dgsm_model_mpi, dgsm_mpi};
pub use efast::{efast, efast_model, FastIndices, FastOptions};
pub use error::Error;
pub use model::{evaluate, FunctionModel, GradientMode, Model, OnFailure};
pub use morris::{morris, morris_model, MorrisIndices, MorrisOptions};
#[cfg(feature = "mpi")]
pub use morris::{morris_model_mpi, morris_mpi};
pub use ode_model::{OdeModel, OutputMap, States, Varied};
pub use problem::{normal_quantile, Distribution, Input, Problem};
pub use sampling::{
    saltelli, unit_design, SaltelliDesign, Sampling, SOBOL_MAX_DIMENSIONS, SOBOL_MAX_POINTS,
};
pub use sobol::{analyze_sobol, sobol, sobol_model, SobolIndices, SobolOptions};
#[cfg(feature = "mpi")]
pub use sobol::{sobol_model_mpi, sobol_mpi};
