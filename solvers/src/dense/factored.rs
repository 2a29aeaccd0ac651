//! The machinery shared by the dense factorisations: the solve and log-determinant blocks.

use std::sync::Arc;

use ad_core::{Block, Real};
use faer::MatMut;
use rayon::prelude::*;

use super::{all_constant, check_finite, values};
use crate::error::Result;

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
pub(crate) fn solve_with<S: Real, F: Factors>(
    f: &Arc<F>,
    a: Option<Vec<S>>,
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
    let wrt_a = a.is_some();
    if !wrt_a && all_constant(b) {
        let mut out = vec![S::zero(); n * k];
        for i in 0..n {
            for c in 0..k {
                out[i * k + c] = S::cst(x[c * n + i]);
            }
        }
        return Ok(out);
    }
    let mut inputs = a.unwrap_or_default();
    inputs.extend_from_slice(b);
    let block = DenseSolve {
        f: Arc::clone(f),
        x,
        k,
        wrt_a,
        transpose,
    };
    let mut out = vec![S::zero(); n * k];
    S::apply_block(block, &inputs, &mut out);
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

/// The block `X = A^{-1} B` (or `A^{-T} B`), built at one point: the factors and the solution
/// are computed before recording and reused by both derivative passes.
///
/// Inputs: `A` (row-major, only if `wrt_a`) then `B` (`n x k` row-major); outputs `X`.
/// Reverse: `Lambda = A^{-T} X_bar`, `B_bar += Lambda`, `A_bar -= Lambda X^T` (transposed
/// solve: `Lambda = A^{-1} X_bar`, `A_bar -= X Lambda^T`; symmetric `A`: the symmetric part
/// of the update). Forward: `X_dot = A^{-1} (B_dot - A_dot X)`.
struct DenseSolve<F: Factors> {
    f: Arc<F>,
    /// The solution, column-major `n x k`.
    x: Vec<f64>,
    k: usize,
    wrt_a: bool,
    transpose: bool,
}

impl<F: Factors> Block for DenseSolve<F> {
    type Residuals = ();

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        let (n, k) = (self.f.n(), self.k);
        for i in 0..n {
            for c in 0..k {
                y[i * k + c] = self.x[c * n + i];
            }
        }
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) {
        let (n, k) = (self.f.n(), self.k);
        let mut lam = vec![0.0; n * k];
        for i in 0..n {
            for c in 0..k {
                lam[c * n + i] = y_bar[i * k + c];
            }
        }
        self.f.solve_in_place(
            MatMut::from_column_major_slice_mut(&mut lam, n, k),
            !self.transpose,
        );
        let (a_bar, b_bar) = x_bar.split_at_mut(if self.wrt_a { n * n } else { 0 });
        for i in 0..n {
            for c in 0..k {
                b_bar[i * k + c] += lam[c * n + i];
            }
        }
        if self.wrt_a {
            if F::SYMMETRIC {
                rank_update(a_bar, n, k, &lam, &self.x, -0.5);
                rank_update(a_bar, n, k, &self.x, &lam, -0.5);
            } else if self.transpose {
                rank_update(a_bar, n, k, &self.x, &lam, -1.0);
            } else {
                rank_update(a_bar, n, k, &lam, &self.x, -1.0);
            }
        }
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) {
        let (n, k) = (self.f.n(), self.k);
        let (a_dot, b_dot) = x_dot.split_at(if self.wrt_a { n * n } else { 0 });
        let mut r = vec![0.0; n * k];
        for i in 0..n {
            for c in 0..k {
                r[c * n + i] = b_dot[i * k + c];
            }
        }
        if self.wrt_a {
            if F::SYMMETRIC {
                matvec_sub(a_dot, n, k, &self.x, &mut r, 0.5, false);
                matvec_sub(a_dot, n, k, &self.x, &mut r, 0.5, true);
            } else {
                matvec_sub(a_dot, n, k, &self.x, &mut r, 1.0, self.transpose);
            }
        }
        self.f.solve_in_place(
            MatMut::from_column_major_slice_mut(&mut r, n, k),
            self.transpose,
        );
        for i in 0..n {
            for c in 0..k {
                y_dot[i * k + c] = r[c * n + i];
            }
        }
    }
}

/// `M[i][j] += scale * sum_c u[c][i] v[c][j]` for row-major `n x n` `M` and column-major
/// `n x k` `u`, `v`; rows in parallel for large `n`.
fn rank_update(m: &mut [f64], n: usize, k: usize, u: &[f64], v: &[f64], scale: f64) {
    let row = |(i, mi): (usize, &mut [f64])| {
        for c in 0..k {
            let s = scale * u[c * n + i];
            let vc = &v[c * n..(c + 1) * n];
            for (mij, &vj) in mi.iter_mut().zip(vc) {
                *mij += s * vj;
            }
        }
    };
    if n * n * k >= 1 << 16 {
        m.par_chunks_mut(n).enumerate().for_each(row);
    } else {
        m.chunks_mut(n).enumerate().for_each(row);
    }
}

/// `r[c] -= scale * M x[c]` (or `M^T x[c]`) for row-major `n x n` `M`, column-major `x`, `r`.
fn matvec_sub(
    m: &[f64],
    n: usize,
    k: usize,
    x: &[f64],
    r: &mut [f64],
    scale: f64,
    transposed: bool,
) {
    for c in 0..k {
        let xc = &x[c * n..(c + 1) * n];
        let rc = &mut r[c * n..(c + 1) * n];
        for (i, mi) in m.chunks(n).enumerate() {
            if transposed {
                let s = scale * xc[i];
                for (rj, &mij) in rc.iter_mut().zip(mi) {
                    *rj -= s * mij;
                }
            } else {
                let dot: f64 = mi.iter().zip(xc).map(|(a, b)| a * b).sum();
                rc[i] -= scale * dot;
            }
        }
    }
}

/// The block `y = ln |det A|` (or `y = det A`). Reverse: `A_bar += y_bar * s * A^{-T}` with
/// `s = 1` (log) or `s = det A`; forward: `y_dot = s * tr(A^{-1} A_dot)`. The residual is
/// `A^{-T}`, computed from the factors by `n` solves.
struct DenseLogDet<F: Factors> {
    f: Arc<F>,
    value: f64,
    det: bool,
}

impl<F: Factors> Block for DenseLogDet<F> {
    /// `A^{-T}`, row-major.
    type Residuals = Vec<f64>;

    fn forward(&self, _: &[f64], y: &mut [f64]) -> Vec<f64> {
        y[0] = self.value;
        let n = self.f.n();
        let mut inv = vec![0.0; n * n];
        for i in 0..n {
            inv[i * n + i] = 1.0;
        }
        // Column-major storage of A^{-1} is the row-major storage of A^{-T}.
        self.f
            .solve_in_place(MatMut::from_column_major_slice_mut(&mut inv, n, n), false);
        inv
    }

    fn vjp(&self, inv_t: &Vec<f64>, y_bar: &[f64], x_bar: &mut [f64]) {
        let s = y_bar[0] * if self.det { self.value } else { 1.0 };
        for (xb, &g) in x_bar.iter_mut().zip(inv_t) {
            *xb += s * g;
        }
    }

    fn jvp(&self, inv_t: &Vec<f64>, x_dot: &[f64], y_dot: &mut [f64]) {
        let s = if self.det { self.value } else { 1.0 };
        y_dot[0] = s * inv_t.iter().zip(x_dot).map(|(a, b)| a * b).sum::<f64>();
    }
}

/// A copy of `A`'s entries with room for `extra` more (the right-hand side, appended as block
/// inputs without a reallocation).
pub(crate) fn with_room<S: Real>(a: &Option<Vec<S>>, extra: usize) -> Option<Vec<S>> {
    a.as_ref().map(|a| {
        let mut v = Vec::with_capacity(a.len() + extra);
        v.extend_from_slice(a);
        v
    })
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
