//! LU factorisation with partial pivoting.

use std::mem::MaybeUninit;
use std::sync::Arc;

use ad_core::tape::BlockInputs;
use ad_core::Real;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu::partial_pivoting::{factor, solve as lu_solve};
use faer::perm::Perm;
use faer::{Conj, Mat, MatMut};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::factored::{
    active_entries, factor_solve_with, log_det_with, solve_with, Factorise, Factors,
};
use super::{check_dim, par_for, par_for_solve, row_major};
use crate::error::{Error, Result};

/// The f64 factors. faer is column-major and our matrices arrive row-major, so the stored
/// factorisation is that of `M = A^T` (a plain copy of the row-major data):
/// `P M = L U`. Then `A x = b` is a transposed solve with `M`'s factors and `A^T y = c` a plain
/// one — both cost two triangular solves.
pub(crate) struct LuFactors {
    n: usize,
    lu: Mat<f64>,
    perm: Perm<usize>,
    transpositions: usize,
}

impl Factorise for LuFactors {
    fn factorise(n: usize, a: &BlockInputs<'_>) -> Result<Self> {
        assert_eq!(a.len(), n * n, "LuFactors::factorise: n x n entries");
        // Row j of A is column j of M = A^T: gathered straight into faer's storage, in one
        // piece when the columns are not padded.
        let mut m = Mat::<f64>::with_capacity(n, n);
        let stride = m.col_stride() as usize;
        let ptr = m.as_ptr_mut().cast::<MaybeUninit<f64>>();
        if n > 0 {
            if stride == n {
                // SAFETY: the allocation holds `stride * n` elements.
                a.write_to(0, unsafe { std::slice::from_raw_parts_mut(ptr, n * n) });
            } else {
                for j in 0..n {
                    // SAFETY: column `j` starts at `j * stride`, with room for `stride >= n`
                    // elements.
                    let col = unsafe { std::slice::from_raw_parts_mut(ptr.add(j * stride), n) };
                    a.write_to(j * n, col);
                }
            }
        }
        // SAFETY: the capacity is `n x n` and every element in bounds was written above.
        unsafe { m.set_dims(n, n) };
        LuFactors::from_mat(m)
    }
}

impl LuFactors {
    /// Factorises `A`, checking finiteness and pivots. `A` is read once, row by row, straight
    /// into the columns of `M = A^T`.
    pub(crate) fn new<S: Real>(a: ArrayView2<S>) -> Result<Self> {
        let n = a.nrows();
        let lu = match a.as_slice() {
            // Row-major: row j of A is column j of M; faer fills column by column.
            Some(entries) => Mat::from_fn(n, n, |i, j| entries[j * n + i].value()),
            None => Mat::from_fn(n, n, |i, j| a[[j, i]].value()),
        };
        Self::from_mat(lu)
    }

    /// Factorises `M = A^T`, given as `lu`, in place.
    fn from_mat(lu: Mat<f64>) -> Result<Self> {
        let n = lu.nrows();
        let (finite, scale) = finite_and_scale((0..n).map(|j| {
            lu.col(j)
                .try_as_col_major()
                .expect("contiguous column")
                .as_slice()
        }));
        if !finite {
            return Err(Error::NonFinite { what: "matrix" });
        }
        let par = par_for(n);
        let mut fwd = vec![0usize; n];
        let mut bwd = vec![0usize; n];
        let mut mem = MemBuffer::new(factor::lu_in_place_scratch::<usize, f64>(
            n,
            n,
            par,
            Default::default(),
        ));
        let mut lu = lu;
        let (info, _) = factor::lu_in_place(
            lu.as_mut(),
            &mut fwd,
            &mut bwd,
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        let tol = n as f64 * f64::EPSILON * scale;
        if let Some(pivot) = (0..n).find(|&k| lu[(k, k)].abs() <= tol || lu[(k, k)].is_nan()) {
            return Err(Error::Singular { pivot });
        }
        let perm = Perm::new_checked(fwd.into_boxed_slice(), bwd.into_boxed_slice(), n);
        Ok(LuFactors {
            n,
            lu,
            perm,
            transpositions: info.transposition_count,
        })
    }
}

/// Whether every value is finite, and the largest magnitude, over a run of slices. Eight
/// independent lanes so that the loop vectorises (a single running `max` is a dependency chain
/// of several cycles per entry: 4 ms for a 1000 x 1000 matrix).
pub(crate) fn finite_and_scale<'a>(cols: impl Iterator<Item = &'a [f64]>) -> (bool, f64) {
    const L: usize = 8;
    let (mut big, mut nan) = ([0.0f64; L], [0.0f64; L]);
    let mut lane = |l: usize, v: f64| {
        let m = v.abs();
        big[l] = if m > big[l] { m } else { big[l] };
        // 0 for a finite entry, NaN for an infinite or NaN one.
        nan[l] += v * 0.0;
    };
    for col in cols {
        let mut chunks = col.chunks_exact(L);
        for c in &mut chunks {
            for (l, &v) in c.iter().enumerate() {
                lane(l, v);
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            lane(l, v);
        }
    }
    let finite = nan.iter().all(|&x| x == 0.0);
    (
        finite,
        big.iter().fold(0.0, |a, &b| if b > a { b } else { a }),
    )
}

impl Factors for LuFactors {
    const SYMMETRIC: bool = false;

    fn n(&self) -> usize {
        self.n
    }

    fn solve_in_place(&self, rhs: MatMut<'_, f64>, transpose: bool) {
        let par = par_for_solve(self.n, rhs.ncols());
        let mut mem = MemBuffer::new(lu_solve::solve_in_place_scratch::<usize, f64>(
            self.n,
            rhs.ncols(),
            par,
        ));
        let stack = MemStack::new(&mut mem);
        let lu = self.lu.as_ref();
        // Factors are of A^T: A^{-1} is the transposed solve.
        if transpose {
            lu_solve::solve_in_place_with_conj(
                lu,
                lu,
                self.perm.as_ref(),
                Conj::No,
                rhs,
                par,
                stack,
            );
        } else {
            lu_solve::solve_transpose_in_place_with_conj(
                lu,
                lu,
                self.perm.as_ref(),
                Conj::No,
                rhs,
                par,
                stack,
            );
        }
    }

    fn det(&self) -> f64 {
        let d: f64 = (0..self.n).map(|k| self.lu[(k, k)]).product();
        if self.transpositions % 2 == 1 {
            -d
        } else {
            d
        }
    }

    fn log_abs_det(&self) -> f64 {
        (0..self.n).map(|k| self.lu[(k, k)].abs().ln()).sum()
    }
}

/// A reusable LU factorisation with partial pivoting, `P A^T = L U` (faer's kernels; the
/// transposition is free because ndarray's default layout is row-major).
///
/// Factorise once, then solve with many right-hand sides, with `A` or `A^T`, and take
/// determinants. Each solve with `S = Var` is one block on the tape whose reverse step reuses
/// these factors: for `x = A^{-1} b`, `b_bar = A^{-T} x_bar`, `A_bar = -b_bar x^T`.
///
/// ```
/// use ndarray::array;
/// use solvers::Lu;
/// let a = array![[2.0, 1.0], [1.0, 3.0]];
/// let lu = Lu::new(a.view()).unwrap();
/// assert!((lu.det() - 5.0).abs() < 1e-14);
/// let x = lu.solve(array![3.0, 4.0].view()).unwrap();
/// assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] - 1.0).abs() < 1e-14);
/// ```
pub struct Lu<S> {
    f: Arc<LuFactors>,
    /// `A`'s entries (row-major) when they carry derivatives.
    a: Option<Vec<S>>,
}

impl<S: Real> Lu<S> {
    /// Factorises the square matrix `a`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `a` is not square, [`Error::NonFinite`],
    /// [`Error::Singular`] (a pivot below `n * eps * max|A|`).
    pub fn new(a: ArrayView2<S>) -> Result<Self> {
        let (n, m) = a.dim();
        check_dim("matrix columns (square matrix)", n, m)?;
        let f = LuFactors::new(a)?;
        Ok(Lu {
            f: Arc::new(f),
            a: active_entries(a, 0),
        })
    }

    /// The dimension `n`.
    pub fn dim(&self) -> usize {
        self.f.n
    }

    /// `x = A^{-1} b`. Reverse rule: `b_bar = A^{-T} x_bar`, `A_bar = -b_bar x^T`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFinite`] (in `b` or the solution).
    pub fn solve(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        check_dim("right-hand side", self.dim(), b.len())?;
        let b = b.to_vec();
        solve_with(&self.f, self.a.as_deref(), &b, 1, false).map(Array1::from_vec)
    }

    /// Overwrites `b` (`n x k`, column-major) with `A^{-1} b` (or `A^{-T} b`) on plain values,
    /// without allocating or recording: the hot loop of implicit time steppers, where the
    /// matrix is refactorised rarely and solved often.
    ///
    /// # Panics
    /// If `b.len()` is not a multiple of `n`.
    #[track_caller]
    pub fn solve_values_in_place(&self, b: &mut [f64], transpose: bool) {
        let n = self.dim();
        assert!(
            n == 0 || b.len() % n == 0,
            "Lu::solve_values_in_place: {} values do not form columns of length {n}",
            b.len()
        );
        let k = b.len().checked_div(n).unwrap_or(0);
        self.f
            .solve_in_place(MatMut::from_column_major_slice_mut(b, n, k), transpose);
    }

    /// `x = A^{-T} b`. Reverse rule: `b_bar = A^{-1} x_bar`, `A_bar = -x b_bar^T`.
    ///
    /// # Errors
    /// As [`Lu::solve`].
    pub fn solve_transpose(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        check_dim("right-hand side", self.dim(), b.len())?;
        let b = b.to_vec();
        solve_with(&self.f, self.a.as_deref(), &b, 1, true).map(Array1::from_vec)
    }

    /// `X = A^{-1} B` for `n x k` `B`, one block. Reverse: `B_bar = A^{-T} X_bar`,
    /// `A_bar = -B_bar X^T`.
    ///
    /// # Errors
    /// As [`Lu::solve`].
    pub fn solve_many(&self, b: ArrayView2<S>) -> Result<Array2<S>> {
        self.many(b, false)
    }

    /// `X = A^{-T} B` for `n x k` `B`, one block.
    ///
    /// # Errors
    /// As [`Lu::solve`].
    pub fn solve_transpose_many(&self, b: ArrayView2<S>) -> Result<Array2<S>> {
        self.many(b, true)
    }

    fn many(&self, b: ArrayView2<S>, transpose: bool) -> Result<Array2<S>> {
        let (n, k) = b.dim();
        check_dim("right-hand side rows", self.dim(), n)?;
        let x = solve_with(&self.f, self.a.as_deref(), &row_major(b), k, transpose)?;
        Ok(Array2::from_shape_vec((n, k), x).expect("shape"))
    }

    /// `det A = (-1)^{swaps} prod_k U_kk`. Reverse rule: `A_bar = det_bar * det A * A^{-T}`
    /// (the inverse is formed from the factors, `O(n^3)`, only when recording).
    pub fn det(&self) -> S {
        log_det_with(&self.f, self.a.as_deref(), true)
    }

    /// `ln |det A| = sum_k ln |U_kk|`. Reverse rule: `A_bar = ld_bar * A^{-T}`.
    pub fn log_abs_det(&self) -> S {
        log_det_with(&self.f, self.a.as_deref(), false)
    }

    /// The sign of `det A` (+1 or -1; the matrix is nonsingular).
    pub fn det_sign(&self) -> f64 {
        self.f.det().signum()
    }
}

/// `x = A^{-1} b` without keeping a copy of `A`: a standard-layout `A` is passed to the
/// recorded block as it is.
pub(crate) fn solve_view<S: Real>(a: ArrayView2<S>, b: ArrayView1<S>) -> Result<Array1<S>> {
    let (n, m) = a.dim();
    check_dim("matrix columns (square matrix)", n, m)?;
    check_dim("right-hand side", n, b.len())?;
    let b = b.to_vec();
    let x = match a.as_slice() {
        // A taped matrix: factorised inside its block, from the values gathered there.
        Some(s) if s.iter().any(|v| !v.is_constant()) => {
            factor_solve_with::<S, LuFactors>(n, s, &b, 1, false)?.0
        }
        Some(_) => solve_with(&Arc::new(LuFactors::new(a)?), None, &b, 1, false)?,
        None => {
            let f = Arc::new(LuFactors::new(a)?);
            solve_with(&f, active_entries(a, 0).as_deref(), &b, 1, false)?
        }
    };
    Ok(Array1::from_vec(x))
}
