//! # solvers: differentiable linear and nonlinear solvers
//!
//! Every routine is generic over [`Real`]: with `f64` it solves; with `ad_core::Var` the whole
//! solve is ONE block on the tape whose reverse step is a hand-derived adjoint (a transposed
//! solve that reuses the factorisation); with `ad_core::Dual` tangents are propagated with the
//! same factorisation. A user's model that calls a solver needs no change to be differentiated.
//!
//! ```
//! use ad_core::{gradient, Real};
//! use ndarray::{Array1, Array2};
//!
//! // loss(A, b) = sum_i x_i^2 with A x = b, for a 2x2 system given as a flat parameter vector.
//! fn loss<S: Real>(p: &[S]) -> S {
//!     let a = Array2::from_shape_vec((2, 2), p[..4].to_vec()).unwrap();
//!     let b = Array1::from_vec(p[4..].to_vec());
//!     let x = solvers::solve(a.view(), b.view()).unwrap();
//!     x.iter().map(|&xi| xi * xi).sum()
//! }
//! let (v, g) = gradient(|p| loss(p), &[3.0, 1.0, 1.0, 2.0, 1.0, 1.0]);
//! assert!(v > 0.0 && g.len() == 6);
//! ```
//!
//! The pieces:
//! - [`dense`]: [`solve`] (the contract), [`solve_many`], [`Lu`], [`Cholesky`], [`Qr`] /
//!   [`lstsq`];
//! - [`sparse`]: [`sparse::CsrMatrix`] (triplet assembly), [`sparse::SparseLu`],
//!   [`sparse::SparseCholesky`] with reusable symbolic factorisations, O(nnz) adjoints;
//! - [`krylov`]: matrix-free CG, GMRES(m), BiCGStab with Jacobi/ILU(0)/IC(0) preconditioners;
//!   the adjoint is the transposed solve with the same method;
//! - [`newton`]: Newton with line search for `F(x, theta) = 0`, differentiated by the implicit
//!   function theorem (one block, nothing of the iterations on the tape);
//! - [`Error`]: every numerical failure as data (singular pivot, indefinite matrix, shapes,
//!   non-finite input, non-convergence).
#![warn(missing_docs)]

pub mod dense;
mod error;
pub mod krylov;
pub mod newton;
pub mod problems;
mod second_order;
pub mod sparse;

pub use ad_core::Real;
pub use dense::{lstsq, solve, solve_many, Cholesky, Lu, Qr};
pub use error::{Error, Result};
