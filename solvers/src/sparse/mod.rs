//! Sparse matrices and direct solvers.
//!
//! [`CsrMatrix`] stores one shared [`Pattern`] and values of any [`Real`](ad_core::Real) type,
//! assembled from triplets with duplicates summed. [`SparseLu`] and [`SparseCholesky`] run on
//! faer's sparse module; their symbolic analyses ([`SymbolicLu`], [`SymbolicCholesky`]) are
//! reusable across matrices with the same pattern.
//!
//! Adjoint of `x = A^{-1} b` on the pattern only: `lambda = A^{-T} x_bar` (same factors),
//! `b_bar = lambda`, `A_bar[i, j] = -lambda_i x_j` for stored `(i, j)` — O(nnz), rows in
//! parallel.

mod factor;
mod matrix;

pub use factor::{solve, SparseCholesky, SparseLu, SymbolicCholesky, SymbolicLu};
pub use matrix::{CsrMatrix, Pattern};
