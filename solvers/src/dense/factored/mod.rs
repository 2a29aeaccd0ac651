//! The machinery shared by the dense factorisations: the solve and log-determinant blocks.
//!
//! One file per piece: `solve` (the two blocks of a solve with known factors), `factor_solve`
//! (the matrix block that factorises in its forward pass), `adjoint` (the transposed solves and
//! updates the reverse steps share), `log_det` (the determinant block).

use std::rc::Rc;
use std::sync::Arc;

use ad_core::Real;
use faer::MatMut;

use super::{all_constant, check_finite, values};
use crate::error::Result;

mod adjoint;
mod factor_solve;
mod log_det;
mod solve;

pub(crate) use adjoint::adjoint_solve;
use adjoint::SharedLambda;
pub(crate) use factor_solve::{factor_solve_with, Factorise};
use log_det::DenseLogDet;
pub(crate) use solve::{matrix_bar, matrix_jvp};
use solve::{SolveMatrix, SolveRhs};

/// A factorisation of a square `n x n` matrix `A`, on `f64`.
pub(crate) trait Factors: 'static {
    /// True if the factorised matrix is the symmetric part `(A + A^T)/2` (Cholesky): then
    /// derivatives with respect to `A` are symmetrised.
    const SYMMETRIC: bool;
    /// The dimension `n`.
    fn n(&self) -> usize;
    /// `rhs <- A^{-1} rhs` (or `A^{-T} rhs` if `transpose`); `rhs` is `n x k`, column-major.
    fn solve_in_place(&self, rhs: MatMut<'_, f64>, transpose: bool);
    /// `det A`.
    fn det(&self) -> f64;
    /// `ln |det A|`.
    fn log_abs_det(&self) -> f64;
}

/// Solves `A X = B` (or `A^T X = B`) with the factors `f`; `a` holds `A`'s entries (row-major)
/// when they carry derivatives, `b` is `n x k` row-major. Returns `X`, `n x k` row-major.
///
/// Recorded as two blocks so that neither input is copied into a concatenated run: `Y(B)`
/// (`A` held fixed) and `Z(A)` (`B` held fixed, value 0), with `X = Y + Z`. Each block's reverse
/// step solves `A^T Lambda = X_bar` with the same factors.
pub(crate) fn solve_with<S: Real, F: Factors>(
    f: &Arc<F>,
    a: Option<&[S]>,
    b: &[S],
    k: usize,
    transpose: bool,
) -> Result<Vec<S>> {
    let n = f.n();
    let bv = values(b);
    check_finite("right-hand side", &bv)?;
    let mut x = vec![0.0; n * k];
    for i in 0..n {
        for c in 0..k {
            x[c * n + i] = bv[i * k + c];
        }
    }
    f.solve_in_place(MatMut::from_column_major_slice_mut(&mut x, n, k), transpose);
    check_finite("solution", &x)?;
    let mut out = vec![S::zero(); n * k];
    // Both blocks receive the same adjoint `X_bar` (`X = Y + Z`): the one whose reverse step
    // runs first (`Z`, recorded last) keeps `Lambda` for the other, so the backward pass costs
    // one transposed solve, not two.
    let shared = (a.is_some() && !all_constant(b)).then(|| Rc::new(SharedLambda::default()));
    if all_constant(b) {
        for i in 0..n {
            for c in 0..k {
                out[i * k + c] = S::cst(x[c * n + i]);
            }
        }
    } else {
        let block = SolveRhs {
            f: Arc::clone(f),
            x: x.clone(),
            k,
            transpose,
            shared: shared.clone(),
        };
        S::apply_block(block, b, &mut out);
    }
    if let (Some(a), Some(s)) = (a, &shared) {
        if s.is_nested() {
            return Ok(crate::second_order::nested_solve(f, x, a, b, k, transpose));
        }
    }
    if let Some(a) = a {
        let mut z = vec![S::zero(); n * k];
        let block = SolveMatrix {
            f: Arc::clone(f),
            x,
            k,
            transpose,
            shared,
        };
        S::apply_block(block, a, &mut z);
        for (o, zi) in out.iter_mut().zip(z) {
            *o += zi;
        }
    }
    Ok(out)
}

/// `ln |det A|` (or `det A` if `det`) as a block with inputs `A` (row-major).
pub(crate) fn log_det_with<S: Real, F: Factors>(f: &Arc<F>, a: Option<&[S]>, det: bool) -> S {
    let value = if det { f.det() } else { f.log_abs_det() };
    match a {
        None => S::cst(value),
        Some(a) => {
            let mut out = [S::zero()];
            S::apply_block(
                DenseLogDet {
                    f: Arc::clone(f),
                    value,
                    det,
                },
                a,
                &mut out,
            );
            out[0]
        }
    }
}

/// Row-major `n x k` from column-major.
pub(crate) fn to_row_major(cols: &[f64], n: usize, k: usize, out: &mut [f64]) {
    for i in 0..n {
        for c in 0..k {
            out[i * k + c] = cols[c * n + i];
        }
    }
}

/// Column-major `n x k` from row-major.
pub(crate) fn to_col_major(rows: &[f64], n: usize, k: usize) -> Vec<f64> {
    let mut cols = vec![0.0; n * k];
    for i in 0..n {
        for c in 0..k {
            cols[c * n + i] = rows[i * k + c];
        }
    }
    cols
}

/// `A`'s entries, row-major, when any carries derivatives (with room for `extra` more: the
/// right-hand side appended as block inputs); `None` for constant `A` (e.g. `f64`).
pub(crate) fn active_entries<S: Real>(a: ndarray::ArrayView2<S>, extra: usize) -> Option<Vec<S>> {
    if a.iter().all(|v| v.is_constant()) {
        return None;
    }
    let mut v = Vec::with_capacity(a.len() + extra);
    match a.as_slice() {
        Some(s) => v.extend_from_slice(s),
        None => v.extend(a.iter().copied()),
    }
    Some(v)
}
