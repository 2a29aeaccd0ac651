//! QR least squares.

use std::sync::Arc;

use ad_core::{Block, BlockError, Real};
use faer::linalg::solvers::{Qr as FaerQr, SolveLstsq};
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Mat, MatMut};
use ndarray::{Array1, ArrayView1, ArrayView2};

use super::factored::active_entries;
use super::{all_constant, check_dim, check_finite, par_for_solve, values, ADJOINT, TANGENT};
use crate::error::{Error, Result};

/// The f64 factors `A = Q R` of an `m x n` matrix (`m >= n`), and a copy of `A` for the
/// derivative passes.
struct QrFactors {
    m: usize,
    n: usize,
    qr: FaerQr<f64>,
    /// `A`, row-major.
    a: Vec<f64>,
}

impl QrFactors {
    fn new(a: Vec<f64>, m: usize, n: usize) -> Result<Self> {
        check_finite("matrix", &a)?;
        if m < n {
            return Err(Error::DimensionMismatch {
                what: "matrix rows (least squares needs rows >= columns)",
                expected: n,
                got: m,
            });
        }
        let mat = Mat::from_fn(m, n, |i, j| a[i * n + j]);
        let qr = FaerQr::new(mat.as_ref());
        let r = qr.thin_R();
        let scale = (0..n).fold(0.0f64, |s, k| s.max(r[(k, k)].abs()));
        let tol = m.max(n) as f64 * f64::EPSILON * scale;
        if let Some(column) = (0..n).find(|&k| r[(k, k)].abs() <= tol || r[(k, k)].is_nan()) {
            return Err(Error::RankDeficient { column, ncols: n });
        }
        Ok(QrFactors { m, n, qr, a })
    }

    /// `v <- (A^T A)^{-1} v = R^{-1} R^{-T} v`.
    fn gram_solve(&self, v: &mut [f64]) {
        let r = self.qr.thin_R();
        let par = par_for_solve(self.n, 1);
        let mut v = MatMut::from_column_major_slice_mut(v, self.n, 1);
        solve_lower_triangular_in_place(r.transpose(), v.as_mut(), par);
        solve_upper_triangular_in_place(r, v.as_mut(), par);
    }

    /// `A v` (length `m`).
    fn apply(&self, v: &[f64]) -> Vec<f64> {
        self.a
            .chunks(self.n)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    }
}

/// A reusable QR factorisation `A = Q R` of an `m x n` matrix (`m >= n`, full column rank)
/// for least squares: `x = argmin |A x - b|_2 = (A^T A)^{-1} A^T b`.
///
/// Rules, with `r = b - A x` and `lambda = (A^T A)^{-1} x_bar = R^{-1} R^{-T} x_bar` (two
/// triangular solves with the same `R`): reverse `b_bar = A lambda`,
/// `A_bar = r lambda^T - (A lambda) x^T`; forward
/// `x_dot = (A^T A)^{-1} (A^T (b_dot - A_dot x) + A_dot^T r)`.
///
/// The rank check (no column pivoting) flags a column whose `|R_kk|` falls below
/// `max(m, n) * eps * max_j |R_jj|`.
pub struct Qr<S> {
    f: Arc<QrFactors>,
    a: Option<Vec<S>>,
}

impl<S: Real> Qr<S> {
    /// Factorises `a` (`m x n`, `m >= n`).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `m < n`, [`Error::NonFinite`], [`Error::RankDeficient`].
    pub fn new(a: ArrayView2<S>) -> Result<Self> {
        let (m, n) = a.dim();
        let vals: Vec<f64> = a.iter().map(|v| v.value()).collect();
        let f = QrFactors::new(vals, m, n)?;
        Ok(Qr {
            f: Arc::new(f),
            a: active_entries(a, a.nrows()),
        })
    }

    /// The least-squares solution of `A x ~ b` (see the type docs for the rules).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] (`b` must have `m` entries), [`Error::NonFinite`].
    pub fn solve(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        let (m, n) = (self.f.m, self.f.n);
        check_dim("right-hand side", m, b.len())?;
        let b: Vec<S> = b.to_vec();
        let bv = values(&b);
        check_finite("right-hand side", &bv)?;
        let mut x = bv.clone();
        self.f
            .qr
            .solve_lstsq_in_place(MatMut::from_column_major_slice_mut(&mut x, m, 1));
        x.truncate(n);
        check_finite("solution", &x)?;
        if self.a.is_none() && all_constant(&b) {
            return Ok(x.into_iter().map(S::cst).collect());
        }
        let ax = self.f.apply(&x);
        let r = bv.iter().zip(&ax).map(|(b, ax)| b - ax).collect();
        let wrt_a = self.a.is_some();
        let a = self.a.as_deref().unwrap_or_default();
        let mut inputs = Vec::with_capacity(a.len() + b.len());
        inputs.extend_from_slice(a);
        inputs.extend_from_slice(&b);
        let mut out = vec![S::zero(); n];
        S::apply_block(
            LeastSquares {
                f: Arc::clone(&self.f),
                x,
                r,
                wrt_a,
            },
            &inputs,
            &mut out,
        );
        Ok(Array1::from_vec(out))
    }
}

/// Least squares `x = argmin |A x - b|_2` by QR (see [`Qr`]); one block on the tape.
///
/// # Errors
/// As [`Qr::new`] and [`Qr::solve`].
pub fn lstsq<S: Real>(a: ArrayView2<S>, b: ArrayView1<S>) -> Result<Array1<S>> {
    Qr::new(a)?.solve(b)
}

/// The least-squares block, built at one point. Inputs: `A` (row-major, if `wrt_a`) then `b`.
struct LeastSquares {
    f: Arc<QrFactors>,
    x: Vec<f64>,
    /// The residual `b - A x`.
    r: Vec<f64>,
    wrt_a: bool,
}

impl Block for LeastSquares {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.x);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (m, n) = (self.f.m, self.f.n);
        let mut lam = y_bar.to_vec();
        self.f.gram_solve(&mut lam);
        check_finite(ADJOINT, &lam)?;
        let a_lam = self.f.apply(&lam);
        let (a_bar, b_bar) = x_bar.split_at_mut(if self.wrt_a { m * n } else { 0 });
        for (bb, v) in b_bar.iter_mut().zip(&a_lam) {
            *bb += v;
        }
        if self.wrt_a {
            for (i, row) in a_bar.chunks_mut(n).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += self.r[i] * lam[j] - a_lam[i] * self.x[j];
                }
            }
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (m, n) = (self.f.m, self.f.n);
        let (a_dot, b_dot) = x_dot.split_at(if self.wrt_a { m * n } else { 0 });
        // t = b_dot - A_dot x; s = A^T t + A_dot^T r.
        let mut t = b_dot.to_vec();
        let mut s = vec![0.0; n];
        if self.wrt_a {
            for (i, row) in a_dot.chunks(n).enumerate() {
                t[i] -= row.iter().zip(&self.x).map(|(a, b)| a * b).sum::<f64>();
                for (sj, &v) in s.iter_mut().zip(row) {
                    *sj += v * self.r[i];
                }
            }
        }
        for (i, row) in self.f.a.chunks(n).enumerate() {
            for (sj, &v) in s.iter_mut().zip(row) {
                *sj += v * t[i];
            }
        }
        self.f.gram_solve(&mut s);
        check_finite(TANGENT, &s)?;
        y_dot.copy_from_slice(&s);
        Ok(())
    }

    /// The same tangent on `T` (see `crate::second_order::lstsq_tangent`).
    fn jvp_nested<T: Real>(
        &self,
        inputs: &[T],
        x: &[T],
        inputs_dot: &[T],
        x_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let (m, n) = (self.f.m, self.f.n);
        let na = if self.wrt_a { m * n } else { 0 };
        let (a, b) = inputs.split_at(na);
        let (a_dot, b_dot) = inputs_dot.split_at(na);
        let (a, a_dot) = (self.wrt_a.then_some(a), self.wrt_a.then_some(a_dot));
        crate::second_order::lstsq_tangent(m, n, a, &self.f.a, a_dot, b, b_dot, x, x_dot)?;
        Ok(())
    }
}
