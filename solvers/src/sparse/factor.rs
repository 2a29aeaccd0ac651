//! Sparse LU and Cholesky on faer's sparse module, with reusable symbolic factorisations and
//! O(nnz) adjoints.

use std::sync::Arc;

use ad_core::{Block, BlockError, Real};
use faer::linalg::solvers::Solve;
use faer::sparse::linalg::solvers::{
    Llt as FaerLlt, Lu as FaerLu, SymbolicLlt as FaerSymbolicLlt, SymbolicLu as FaerSymbolicLu,
};
use faer::sparse::linalg::{LltError, LuError};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{MatMut, Side};
use ndarray::{Array1, ArrayView1};

use super::matrix::{CsrMatrix, Pattern};
use crate::dense::{all_constant, check_dim, check_finite, values, ADJOINT, TANGENT};
use crate::error::{Error, Result};

/// The CSR arrays of `A` read as CSC: the symbolic structure of `M = A^T`.
fn transpose_structure(p: &Pattern) -> SymbolicSparseColMatRef<'_, usize> {
    SymbolicSparseColMatRef::new_checked(p.ncols(), p.nrows(), p.row_ptr(), None, p.col_idx())
}

fn square(p: &Pattern) -> Result<()> {
    check_dim("matrix columns (square matrix)", p.nrows(), p.ncols())
}

fn faer_failure(_: impl std::fmt::Debug) -> Error {
    Error::InvalidPattern {
        what: "faer could not factorise the pattern (out of memory or index overflow)",
    }
}

/// A reusable symbolic LU factorisation (fill-reducing ordering and elimination structure) of
/// a pattern: compute once, then factorise many matrices with that pattern.
#[derive(Clone, Debug)]
pub struct SymbolicLu {
    pattern: Arc<Pattern>,
    inner: FaerSymbolicLu<usize>,
}

impl SymbolicLu {
    /// The symbolic analysis of a square pattern.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if not square.
    pub fn new(pattern: &Arc<Pattern>) -> Result<Self> {
        square(pattern)?;
        let inner = FaerSymbolicLu::try_new(transpose_structure(pattern)).map_err(faer_failure)?;
        Ok(SymbolicLu {
            pattern: Arc::clone(pattern),
            inner,
        })
    }
}

/// A reusable symbolic Cholesky factorisation (AMD ordering, elimination tree) of a pattern.
#[derive(Clone, Debug)]
pub struct SymbolicCholesky {
    pattern: Arc<Pattern>,
    inner: FaerSymbolicLlt<usize>,
}

impl SymbolicCholesky {
    /// The symbolic analysis of a square pattern (its upper triangle is what is read).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if not square.
    pub fn new(pattern: &Arc<Pattern>) -> Result<Self> {
        square(pattern)?;
        let inner = FaerSymbolicLlt::try_new(transpose_structure(pattern), Side::Lower)
            .map_err(faer_failure)?;
        Ok(SymbolicCholesky {
            pattern: Arc::clone(pattern),
            inner,
        })
    }
}

fn same_pattern(a: &Arc<Pattern>, b: &Arc<Pattern>) -> Result<()> {
    if Arc::ptr_eq(a, b) || a == b {
        Ok(())
    } else {
        Err(Error::InvalidPattern {
            what: "the matrix's pattern differs from the symbolic factorisation's",
        })
    }
}

/// Numeric sparse factors on f64.
pub(crate) trait SpFactors: 'static {
    /// True if the factorised matrix is the symmetric matrix built from `A`'s upper triangle
    /// (Cholesky).
    const UPPER_SYMMETRIC: bool;
    fn pattern(&self) -> &Arc<Pattern>;
    /// `rhs <- A^{-1} rhs` (or `A^{-T} rhs`).
    fn solve_in_place(&self, rhs: &mut [f64], transpose: bool);
}

struct SpLuFactors {
    pattern: Arc<Pattern>,
    lu: FaerLu<usize, f64>,
}

impl SpFactors for SpLuFactors {
    const UPPER_SYMMETRIC: bool = false;
    fn pattern(&self) -> &Arc<Pattern> {
        &self.pattern
    }
    fn solve_in_place(&self, rhs: &mut [f64], transpose: bool) {
        let n = rhs.len();
        let rhs = MatMut::from_column_major_slice_mut(rhs, n, 1);
        // The factors are of M = A^T.
        if transpose {
            self.lu.solve_in_place(rhs);
        } else {
            self.lu.solve_transpose_in_place(rhs);
        }
    }
}

struct SpCholFactors {
    pattern: Arc<Pattern>,
    llt: FaerLlt<usize, f64>,
}

impl SpFactors for SpCholFactors {
    const UPPER_SYMMETRIC: bool = true;
    fn pattern(&self) -> &Arc<Pattern> {
        &self.pattern
    }
    fn solve_in_place(&self, rhs: &mut [f64], _transpose: bool) {
        let n = rhs.len();
        self.llt
            .solve_in_place(MatMut::from_column_major_slice_mut(rhs, n, 1));
    }
}

/// The values of `a` (checked finite) and its values kept for recording if they carry
/// derivatives.
fn numeric_values<S: Real>(a: &CsrMatrix<S>) -> Result<(Vec<f64>, Option<Vec<S>>)> {
    let v = values(a.values());
    check_finite("matrix", &v)?;
    let active = if all_constant(a.values()) {
        None
    } else {
        Some(a.values().to_vec())
    };
    Ok((v, active))
}

/// A sparse LU factorisation of a square [`CsrMatrix`] (faer: fill-reducing column ordering,
/// partial pivoting).
///
/// Solves with `S = Var` are one block each whose reverse step reuses these factors:
/// for `x = A^{-1} b`, `lambda = A^{-T} x_bar`, `b_bar = lambda` and, for stored entries only,
/// `A_bar[i, j] = -lambda_i x_j` — O(nnz), never dense.
pub struct SparseLu<S> {
    f: Arc<SpLuFactors>,
    a: Option<Vec<S>>,
}

impl<S: Real> SparseLu<S> {
    /// Factorises `a` (symbolic analysis included).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] (not square), [`Error::NonFinite`], [`Error::Singular`]
    /// (structurally singular).
    pub fn new(a: &CsrMatrix<S>) -> Result<Self> {
        Self::with_symbolic(&SymbolicLu::new(a.pattern())?, a)
    }

    /// Factorises `a` reusing a symbolic factorisation of its pattern.
    ///
    /// # Errors
    /// As [`SparseLu::new`], and [`Error::InvalidPattern`] if the patterns differ.
    pub fn with_symbolic(symbolic: &SymbolicLu, a: &CsrMatrix<S>) -> Result<Self> {
        same_pattern(&symbolic.pattern, a.pattern())?;
        let (v, keep) = numeric_values(a)?;
        let m = SparseColMatRef::new(transpose_structure(a.pattern()), &v);
        let lu = FaerLu::try_new_with_symbolic(symbolic.inner.clone(), m).map_err(|e| match e {
            LuError::SymbolicSingular { index } => Error::Singular { pivot: index },
            e => faer_failure(e),
        })?;
        Ok(SparseLu {
            f: Arc::new(SpLuFactors {
                pattern: Arc::clone(a.pattern()),
                lu,
            }),
            a: keep,
        })
    }

    /// `x = A^{-1} b` (see the type docs for the reverse rule).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFinite`] (in `b`, or in the solution when `A`
    /// is numerically singular).
    pub fn solve(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        solve_with(&self.f, self.a.as_deref(), b, false)
    }

    /// Overwrites `b` with `A^{-1} b` (or `A^{-T} b`) on plain values, without recording.
    ///
    /// # Panics
    /// If `b.len()` differs from the dimension.
    #[track_caller]
    pub fn solve_values_in_place(&self, b: &mut [f64], transpose: bool) {
        assert_eq!(b.len(), self.f.pattern.nrows(), "SparseLu: wrong length");
        self.f.solve_in_place(b, transpose);
    }

    /// `x = A^{-T} b`; reverse: `b_bar = A^{-1} x_bar`, `A_bar[i, j] = -x_i b_bar_j` on the
    /// pattern.
    ///
    /// # Errors
    /// As [`SparseLu::solve`].
    pub fn solve_transpose(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        solve_with(&self.f, self.a.as_deref(), b, true)
    }
}

/// A sparse Cholesky factorisation `A = L L^T` of a symmetric positive definite
/// [`CsrMatrix`] (faer: AMD ordering, supernodal or simplicial).
///
/// Only the upper triangle of `A` (stored entries with column >= row) is read; the factorised
/// matrix is its symmetric completion. Reverse rule for `x = A^{-1} b`: `lambda = A^{-1} x_bar`
/// (the same factors), `b_bar = lambda`, and on stored entries `A_bar[i, j] =
/// -(lambda_i x_j + lambda_j x_i)` for `j > i`, `-lambda_i x_i` on the diagonal, 0 below it.
pub struct SparseCholesky<S> {
    f: Arc<SpCholFactors>,
    a: Option<Vec<S>>,
}

impl<S: Real> SparseCholesky<S> {
    /// Factorises `a` (symbolic analysis included).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFinite`], [`Error::NotPositiveDefinite`].
    pub fn new(a: &CsrMatrix<S>) -> Result<Self> {
        Self::with_symbolic(&SymbolicCholesky::new(a.pattern())?, a)
    }

    /// Factorises `a` reusing a symbolic factorisation of its pattern.
    ///
    /// # Errors
    /// As [`SparseCholesky::new`], and [`Error::InvalidPattern`] if the patterns differ.
    pub fn with_symbolic(symbolic: &SymbolicCholesky, a: &CsrMatrix<S>) -> Result<Self> {
        same_pattern(&symbolic.pattern, a.pattern())?;
        let (v, keep) = numeric_values(a)?;
        let m = SparseColMatRef::new(transpose_structure(a.pattern()), &v);
        let llt = FaerLlt::try_new_with_symbolic(symbolic.inner.clone(), m, Side::Lower).map_err(
            |e| match e {
                LltError::Numeric(faer::linalg::solvers::LltError::NonPositivePivot { index }) => {
                    Error::NotPositiveDefinite { index }
                }
                e => faer_failure(e),
            },
        )?;
        Ok(SparseCholesky {
            f: Arc::new(SpCholFactors {
                pattern: Arc::clone(a.pattern()),
                llt,
            }),
            a: keep,
        })
    }

    /// `x = A^{-1} b` (see the type docs for the reverse rule).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFinite`].
    pub fn solve(&self, b: ArrayView1<S>) -> Result<Array1<S>> {
        solve_with(&self.f, self.a.as_deref(), b, false)
    }

    /// Overwrites `b` with `A^{-1} b` on plain values, without recording.
    ///
    /// # Panics
    /// If `b.len()` differs from the dimension.
    #[track_caller]
    pub fn solve_values_in_place(&self, b: &mut [f64]) {
        assert_eq!(
            b.len(),
            self.f.pattern.nrows(),
            "SparseCholesky: wrong length"
        );
        self.f.solve_in_place(b, false);
    }
}

/// Solves `A x = b` by sparse LU (one block on the tape; see [`SparseLu`]).
///
/// # Errors
/// As [`SparseLu::new`] and [`SparseLu::solve`].
pub fn solve<S: Real>(a: &CsrMatrix<S>, b: ArrayView1<S>) -> Result<Array1<S>> {
    SparseLu::new(a)?.solve(b)
}

fn solve_with<S: Real, F: SpFactors>(
    f: &Arc<F>,
    a: Option<&[S]>,
    b: ArrayView1<S>,
    transpose: bool,
) -> Result<Array1<S>> {
    let n = f.pattern().nrows();
    check_dim("right-hand side", n, b.len())?;
    let b = b.to_vec();
    let mut x = values(&b);
    check_finite("right-hand side", &x)?;
    f.solve_in_place(&mut x, transpose);
    check_finite("solution (the matrix is numerically singular?)", &x)?;
    if a.is_none() && all_constant(&b) {
        return Ok(x.into_iter().map(S::cst).collect());
    }
    let (wrt_a, wrt_b) = (a.is_some(), !all_constant(&b));
    let block = SparseSolve {
        f: Arc::clone(f),
        x,
        wrt_a,
        wrt_b,
        transpose,
    };
    let mut out = vec![S::zero(); n];
    // Inputs: the values and/or b, whichever carry derivatives (a constant b is left out so
    // that values recorded contiguously need no copy on the tape).
    match (a, wrt_b) {
        (Some(a), false) => S::apply_block(block, a, &mut out),
        (None, _) => S::apply_block(block, &b, &mut out),
        (Some(a), true) => {
            let mut inputs = Vec::with_capacity(a.len() + b.len());
            inputs.extend_from_slice(a);
            inputs.extend_from_slice(&b);
            S::apply_block(block, &inputs, &mut out)
        }
    }
    Ok(Array1::from_vec(out))
}

/// The sparse solve block, built at one point. Inputs: `A`'s stored values (if `wrt_a`), then
/// `b` (if `wrt_b`); outputs `x`. Reverse: `lambda = A^{-T} x_bar`, `b_bar += lambda`,
/// `A_bar[k] -= lambda_{row k} x_{col k}` over the stored entries (transposed/symmetric
/// variants in the factorisation types' docs). Forward: `x_dot = A^{-1} (b_dot - A_dot x)`.
struct SparseSolve<F: SpFactors> {
    f: Arc<F>,
    x: Vec<f64>,
    wrt_a: bool,
    wrt_b: bool,
    transpose: bool,
}

impl<F: SpFactors> Block for SparseSolve<F> {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.x);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let p = self.f.pattern();
        let mut lam = y_bar.to_vec();
        self.f.solve_in_place(&mut lam, !self.transpose);
        check_finite(ADJOINT, &lam)?;
        let (a_bar, b_bar) = x_bar.split_at_mut(if self.wrt_a { p.nnz() } else { 0 });
        if self.wrt_b {
            for (bb, l) in b_bar.iter_mut().zip(&lam) {
                *bb += l;
            }
        }
        if !self.wrt_a {
            return Ok(());
        }
        let x = &self.x;
        let lam = &lam;
        if F::UPPER_SYMMETRIC {
            p.for_rows_mut(a_bar, |i, cols, out| {
                for (o, &j) in out.iter_mut().zip(cols) {
                    if j > i {
                        *o -= lam[i] * x[j] + lam[j] * x[i];
                    } else if j == i {
                        *o -= lam[i] * x[i];
                    }
                }
            });
        } else if self.transpose {
            p.for_rows_mut(a_bar, |i, cols, out| {
                for (o, &j) in out.iter_mut().zip(cols) {
                    *o -= x[i] * lam[j];
                }
            });
        } else {
            p.for_rows_mut(a_bar, |i, cols, out| {
                let li = lam[i];
                for (o, &j) in out.iter_mut().zip(cols) {
                    *o -= li * x[j];
                }
            });
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let p = self.f.pattern();
        let (a_dot, b_dot) = x_dot.split_at(if self.wrt_a { p.nnz() } else { 0 });
        let mut r = if self.wrt_b {
            b_dot.to_vec()
        } else {
            vec![0.0; self.x.len()]
        };
        if self.wrt_a {
            let x = &self.x;
            let rows = p.row_of_entries();
            for ((&i, &j), &d) in rows.iter().zip(p.col_idx()).zip(a_dot) {
                if F::UPPER_SYMMETRIC {
                    if j > i {
                        r[i] -= d * x[j];
                        r[j] -= d * x[i];
                    } else if j == i {
                        r[i] -= d * x[i];
                    }
                } else if self.transpose {
                    r[j] -= d * x[i];
                } else {
                    r[i] -= d * x[j];
                }
            }
        }
        self.f.solve_in_place(&mut r, self.transpose);
        check_finite(TANGENT, &r)?;
        y_dot.copy_from_slice(&r);
        Ok(())
    }

    /// `x_dot = A^{-1} (b_dot - A_dot x)` on `T`, solved with the same factors applied on `T`
    /// (see `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        inputs: &[T],
        x: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let p = self.f.pattern();
        let nnz = if self.wrt_a { p.nnz() } else { 0 };
        let a = self.wrt_a.then(|| &inputs[..nnz]);
        let (a_dot, b_dot) = x_dot.split_at(nnz);
        let (a_dot, b_dot) = (self.wrt_a.then_some(a_dot), self.wrt_b.then_some(b_dot));
        let r =
            crate::second_order::sparse_rhs(p, a_dot, b_dot, x, self.transpose, F::UPPER_SYMMETRIC);
        let sol = solve_with(&self.f, a, ArrayView1::from(&r), self.transpose)?;
        for (d, v) in y_dot.iter_mut().zip(sol.iter()) {
            *d = *v;
        }
        Ok(())
    }
}
