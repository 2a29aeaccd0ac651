//! Gradient-based optimizers and parameter fitting. Not built yet: this crate is reserved for the
//! optim issue and currently only re-exports the scalar trait it will be generic over.
#![warn(missing_docs)]

pub use ad_core::Real;
