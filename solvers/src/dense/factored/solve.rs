//! The two blocks of a solve `X = A^{-1} B` with known factors: [`SolveRhs`] (`B` varies) and
//! [`SolveMatrix`] (`A` varies), and the rules with respect to `A` that
//! [`FactorSolve`](super::factor_solve::FactorSolve) shares.

use std::rc::Rc;
use std::sync::Arc;

use ad_core::{Block, BlockError, Real};
use faer::MatMut;

use super::adjoint::{lambda, matvec_sub, rank_update, SharedLambda};
use super::{solve_with, to_col_major, to_row_major, Factors};
use crate::dense::{check_finite, TANGENT};
use crate::error::Result;

/// The block `Y = A^{-1} B` (or `A^{-T} B`) as a function of `B` alone, built at one point
/// (factors and solution computed before recording). Inputs `B` (`n x k` row-major).
/// Reverse: `B_bar += A^{-T} Y_bar`; forward: `Y_dot = A^{-1} B_dot`.
pub(super) struct SolveRhs<F: Factors> {
    pub(super) f: Arc<F>,
    /// The solution, column-major `n x k`.
    pub(super) x: Vec<f64>,
    pub(super) k: usize,
    pub(super) transpose: bool,
    /// `Lambda` left by the matrix block of the same solve, if there is one.
    pub(super) shared: Option<Rc<SharedLambda>>,
}

impl<F: Factors> SolveRhs<F> {
    /// `B_bar += Lambda` (`=` if `WRITE`).
    fn rhs_bar<const WRITE: bool>(&self, y_bar: &[f64], x_bar: &mut [f64]) -> Result<()> {
        let (n, k) = (self.f.n(), self.k);
        let shared = self.shared.as_deref();
        let (lam, solved) = lambda(&*self.f, shared, y_bar, k, self.transpose)?;
        for i in 0..n {
            for c in 0..k {
                let (xb, l) = (&mut x_bar[i * k + c], lam[c * n + i]);
                *xb = if WRITE { l } else { *xb + l };
            }
        }
        if let (true, Some(s)) = (solved, shared) {
            s.keep(y_bar, lam);
        }
        Ok(())
    }
}

impl<F: Factors> Block for SolveRhs<F> {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        to_row_major(&self.x, self.f.n(), self.k, y);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        Ok(self.rhs_bar::<false>(y_bar, x_bar)?)
    }

    fn vjp_write(
        &self,
        _: &(),
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        Ok(self.rhs_bar::<true>(y_bar, x_bar)?)
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (n, k) = (self.f.n(), self.k);
        let mut r = to_col_major(x_dot, n, k);
        self.f.solve_in_place(
            MatMut::from_column_major_slice_mut(&mut r, n, k),
            self.transpose,
        );
        check_finite(TANGENT, &r)?;
        to_row_major(&r, n, k, y_dot);
        Ok(())
    }

    /// `Y_dot = A^{-1} B_dot` on `T` (`A` is held fixed here; with a matrix block in the same
    /// solve, the pair is recorded as one block instead: see `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        _: &[T],
        _: &[T],
        b_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        if let Some(s) = &self.shared {
            s.mark_nested();
        }
        let sol = solve_with(&self.f, None, b_dot, self.k, self.transpose)?;
        y_dot.copy_from_slice(&sol);
        Ok(())
    }
}

/// The block `Z(A) = A^{-1} B - X` (or with `A^T`) for `B` held fixed at the point `X` was
/// computed: its value is 0, its derivatives are those of the solve with respect to `A`.
/// Inputs `A` (row-major). Reverse: `Lambda = A^{-T} Z_bar`, `A_bar -= Lambda X^T` (transposed
/// solve: `Lambda = A^{-1} Z_bar`, `A_bar -= X Lambda^T`; symmetric `A`: the symmetric part).
/// Forward: `Z_dot = -A^{-1} A_dot X`.
pub(super) struct SolveMatrix<F: Factors> {
    pub(super) f: Arc<F>,
    /// The solution, column-major `n x k`.
    pub(super) x: Vec<f64>,
    pub(super) k: usize,
    pub(super) transpose: bool,
    /// Where `Lambda` is left for the right-hand side block of the same solve, if there is one.
    pub(super) shared: Option<Rc<SharedLambda>>,
}

/// The reverse step of a solve with respect to `A`, shared by [`SolveMatrix`] and
/// [`FactorSolve`]: `Lambda = A^{-T} Z_bar`, `A_bar -= Lambda X^T` (or its transposed or
/// symmetric form; `=` if `WRITE`). `x` is the solution, column-major `n x k`.
pub(crate) fn matrix_bar<const WRITE: bool, F: Factors>(
    f: &F,
    x: &[f64],
    k: usize,
    transpose: bool,
    shared: Option<&SharedLambda>,
    y_bar: &[f64],
    a_bar: &mut [f64],
) -> Result<()> {
    let n = f.n();
    let (lam, solved) = lambda(f, shared, y_bar, k, transpose)?;
    if F::SYMMETRIC {
        rank_update::<WRITE>(a_bar, n, k, &lam, x, -0.5);
        rank_update::<false>(a_bar, n, k, x, &lam, -0.5);
    } else if transpose {
        rank_update::<WRITE>(a_bar, n, k, x, &lam, -1.0);
    } else {
        rank_update::<WRITE>(a_bar, n, k, &lam, x, -1.0);
    }
    if let (true, Some(s)) = (solved, shared) {
        s.keep(y_bar, lam);
    }
    Ok(())
}

/// The forward rule of a solve with respect to `A`: `Z_dot = -A^{-1} A_dot X` (or with `A^T`).
pub(crate) fn matrix_jvp<F: Factors>(
    f: &F,
    x: &[f64],
    k: usize,
    transpose: bool,
    a_dot: &[f64],
    y_dot: &mut [f64],
) -> Result<()> {
    let n = f.n();
    let mut r = vec![0.0; n * k];
    if F::SYMMETRIC {
        matvec_sub(a_dot, n, k, x, &mut r, 0.5, false);
        matvec_sub(a_dot, n, k, x, &mut r, 0.5, true);
    } else {
        matvec_sub(a_dot, n, k, x, &mut r, 1.0, transpose);
    }
    f.solve_in_place(MatMut::from_column_major_slice_mut(&mut r, n, k), transpose);
    check_finite(TANGENT, &r)?;
    to_row_major(&r, n, k, y_dot);
    Ok(())
}

impl<F: Factors> Block for SolveMatrix<F> {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.fill(0.0);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], a_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let shared = self.shared.as_deref();
        matrix_bar::<false, F>(
            &self.f,
            &self.x,
            self.k,
            self.transpose,
            shared,
            y_bar,
            a_bar,
        )?;
        Ok(())
    }

    fn vjp_write(
        &self,
        _: &(),
        y_bar: &[f64],
        a_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let shared = self.shared.as_deref();
        matrix_bar::<true, F>(
            &self.f,
            &self.x,
            self.k,
            self.transpose,
            shared,
            y_bar,
            a_bar,
        )?;
        Ok(())
    }

    fn jvp(&self, _: &(), a_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        Ok(matrix_jvp(
            &*self.f,
            &self.x,
            self.k,
            self.transpose,
            a_dot,
            y_dot,
        )?)
    }

    /// `Z_dot = -A^{-1} A_dot X` on `T`, with `X = X(value) + Z` on `T`.
    fn jvp_nested<T: Real>(
        &self,
        a: &[T],
        z: &[T],
        a_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        if let Some(s) = &self.shared {
            s.mark_nested();
        }
        nested_matrix_tangent(&self.f, &self.x, self.k, self.transpose, a, z, a_dot, y_dot)
    }
}

/// The second-order rule of the matrix blocks ([`SolveMatrix`], [`FactorSolve`]):
/// `Z_dot = -A^{-1} A_dot X` on `T`, with `X = x + Z` on `T` (`x` column-major).
#[allow(clippy::too_many_arguments)]
pub(super) fn nested_matrix_tangent<T: Real, F: Factors>(
    f: &Arc<F>,
    x: &[f64],
    k: usize,
    transpose: bool,
    a: &[T],
    z: &[T],
    a_dot: &[T],
    y_dot: &mut [T],
) -> std::result::Result<(), BlockError> {
    let n = f.n();
    let mut xt = vec![T::zero(); n * k];
    for i in 0..n {
        for c in 0..k {
            xt[i * k + c] = z[i * k + c] + x[c * n + i];
        }
    }
    crate::second_order::dense_tangent(f, Some(a), Some(a_dot), None, &xt, k, transpose, y_dot)?;
    Ok(())
}
