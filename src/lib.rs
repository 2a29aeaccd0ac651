//! # Wengert
//!
//! Differentiable scientific computing in Rust. This facade re-exports the member crates:
//!
//! - [`ad`] (`ad-core`): the scalar trait [`Real`], the reverse-mode [`Tape`]/[`Var`],
//!   forward-mode [`Dual`], custom derivative rules and checkpointing;
//! - [`solvers`]: differentiable linear and nonlinear solvers;
//! - [`ode`]: ODE integrators with sensitivities;
//! - [`optim`]: gradient-based optimizers;
//! - [`gsa`]: global sensitivity analysis (Sobol', Morris, DGSM from exact gradients).
//!
//! ```
//! use wengert::{gradient, Real};
//!
//! // Ordinary Rust, generic over the scalar type.
//! fn energy<S: Real>(x: &[S]) -> S {
//!     x.iter().map(|&xi| xi * xi).sum::<S>() * 0.5
//! }
//!
//! let (value, grad) = gradient(|x| energy(x), &[1.0, 2.0]);
//! assert_eq!(value, 2.5);
//! assert_eq!(grad, vec![1.0, 2.0]);
//! ```
#![warn(missing_docs)]

pub use ad_core as ad;
pub use ad_core::{gradient, Dual, Real, RealArray, Tape, Var, VarArray};
pub use gsa;
pub use num_traits::Float;
pub use ode;
pub use optim;
pub use solvers;

/// The README's code blocks, compiled and run as doctests so the tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// docs/ad-model.md's code blocks, compiled and run as doctests so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../docs/ad-model.md")]
pub struct AdModelDoctests;

/// docs/gsa.md's code blocks, compiled and run as doctests so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../docs/gsa.md")]
pub struct GsaDoctests;

/// docs/errors.md's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/errors.md")]
pub struct ErrorsDoctests;
