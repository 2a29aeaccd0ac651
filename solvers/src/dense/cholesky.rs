//! Cholesky factorisation of symmetric positive definite matrices.

use std::sync::Arc;

use ad_core::Real;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::solve as llt_solve;
use faer::linalg::solvers::{Llt, LltError};
use faer::{Conj, Mat, MatMut, Side};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::factored::{active_entries, log_det_with, solve_with, Factors};
use super::{check_dim, check_finite, par_for_solve, row_major};
use crate::error::{Error, Result};

/// The f64 factors `(A + A^T)/2 = L L^T`.
pub(crate) struct CholFactors {
    n: usize,
    llt: Llt<f64>,
}

impl CholFactors {
    pub(crate) fn new(a: &[f64], n: usize) -> Result<Self> {
        check_finite("matrix", a)?;
        let sym = Mat::from_fn(n, n, |i, j| 0.5 * (a[i * n + j] + a[j * n + i]));
        let llt = Llt::new(sym.as_ref(), Side::Lower).map_err(|e| match e {
            LltError::NonPositivePivot { index } => Error::NotPositiveDefinite { index },
        })?;
        Ok(CholFactors { n, llt })
    }
}

impl Factors for CholFactors {
    const SYMMETRIC: bool = true;

    fn n(&self) -> usize {
        self.n
    }

    fn solve_in_place(&self, rhs: MatMut<'_, f64>, _transpose: bool) {
        let par = par_for_solve(self.n, rhs.ncols());
        let mut mem = MemBuffer::new(llt_solve::solve_in_place_scratch::<f64>(
            self.n,
            rhs.ncols(),
            par,
        ));
        llt_solve::solve_in_place_with_conj(
            self.llt.L(),
            Conj::No,
            rhs,
            par,
            MemStack::new(&mut mem),
        );
    }

    fn det(&self) -> f64 {
        self.log_abs_det().exp()
    }

    fn log_abs_det(&self) -> f64 {
        let l = self.llt.L();
        2.0 * (0..self.n).map(|k| l[(k, k)].ln()).sum::<f64>()
    }
}

/// A reusable Cholesky factorisation `A = L L^T` of a symmetric positive definite matrix.
///
/// The factorised matrix is the symmetric part `(A + A^T)/2`, so derivatives with respect to
/// `A` are symmetric: for `x = A^{-1} b`, `lambda = A^{-1} x_bar` (the same factors: `A` is
/// symmetric), `b_bar = lambda`, `A_bar = -(lambda x^T + x lambda^T)/2`.
///
/// ```
/// use ndarray::array;
/// use solvers::Cholesky;
/// let a = array![[4.0, 2.0], [2.0, 3.0]];
/// let c = Cholesky::new(a.view()).unwrap();
/// assert!((c.log_det() - 8f64.ln()).abs() < 1e-14);
/// ```
pub struct Cholesky<S> {
    f: Arc<CholFactors>,
    a: Option<Vec<S>>,
}

impl<S: Real> Cholesky<S> {
    /// Factorises the symmetric positive definite matrix `a`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] (not square), [`Error::NonFinite`],
    /// [`Error::NotPositiveDefinite`] with the failing pivot.
    pub fn new(a: ArrayView2<S>) -> Result<Self> {
        let (n, m) = a.dim();
        check_dim("matrix columns (square matrix)", n, m)?;
        let vals: Vec<f64> = a.iter().map(|v| v.value()).collect();
        let f = CholFactors::new(&vals, n)?;
        Ok(Cholesky {
            f: Arc::new(f),
            a: active_entries(a, a.nrows()),
        })
    }

    /// The dimension `n`.
    pub fn dim(&self) -> usize {
        self.f.n
    }

    /// `x = A^{-1} b` (see the type docs for the rules).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFinite`].
    pub fn solve(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        check_dim("right-hand side", self.dim(), b.len())?;
        solve_with(&self.f, self.a.as_deref(), &b.to_vec(), 1, false).map(Array1::from_vec)
    }

    /// Overwrites `b` (`n x k`, column-major) with `A^{-1} b` on plain values, without
    /// allocating or recording.
    ///
    /// # Panics
    /// If `b.len()` is not a multiple of `n`.
    #[track_caller]
    pub fn solve_values_in_place(&self, b: &mut [f64]) {
        let n = self.dim();
        assert!(
            n == 0 || b.len() % n == 0,
            "Cholesky::solve_values_in_place: {} values do not form columns of length {n}",
            b.len()
        );
        let k = b.len().checked_div(n).unwrap_or(0);
        self.f
            .solve_in_place(MatMut::from_column_major_slice_mut(b, n, k), false);
    }

    /// `X = A^{-1} B` for `n x k` `B`, one block.
    ///
    /// # Errors
    /// As [`Cholesky::solve`].
    pub fn solve_many(&self, b: ArrayView2<S>) -> Result<Array2<S>> {
        let (n, k) = b.dim();
        check_dim("right-hand side rows", self.dim(), n)?;
        let x = solve_with(&self.f, self.a.as_deref(), &row_major(b), k, false)?;
        Ok(Array2::from_shape_vec((n, k), x).expect("shape"))
    }

    /// `ln det A = 2 sum_k ln L_kk`. Reverse rule: `A_bar = ld_bar * A^{-1}`.
    pub fn log_det(&self) -> S {
        log_det_with(&self.f, self.a.as_deref(), false)
    }

    /// `det A`. Reverse rule: `A_bar = det_bar * det A * A^{-1}`.
    pub fn det(&self) -> S {
        log_det_with(&self.f, self.a.as_deref(), true)
    }
}
