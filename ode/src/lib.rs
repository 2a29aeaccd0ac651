//! ODE integrators with forward and adjoint sensitivities. Not built yet: this crate is reserved
//! for the ODE issues and currently only re-exports the scalar trait it will be generic over.
#![warn(missing_docs)]

pub use ad_core::Real;
