//! Differentiable linear and nonlinear solvers (dense, sparse, Krylov, Newton) whose adjoints are
//! implicit-differentiation rules. Not built yet: this crate is reserved for the solvers issue and
//! currently only re-exports the scalar trait it will be generic over.
#![warn(missing_docs)]

pub use ad_core::Real;
