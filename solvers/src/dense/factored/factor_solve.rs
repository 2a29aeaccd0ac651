//! The matrix block that factorises in its forward pass ([`FactorSolve`]), so that a taped
//! matrix is read once, and [`factor_solve_with`], which records a solve with it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use ad_core::tape::BlockInputs;
use ad_core::{Block, BlockError, Real};
use faer::MatMut;

use super::adjoint::SharedLambda;
use super::solve::{matrix_bar, matrix_jvp, nested_matrix_tangent, SolveRhs};
use super::{to_col_major, Factors};
use crate::dense::{all_constant, check_finite, values};
use crate::error::Result;

/// A factorisation computed from `A`'s values, row-major.
pub(crate) trait Factorise: Factors + Sized {
    /// Factorises the `n x n` matrix with row-major entries `a` (checking finiteness and
    /// pivots), reading each entry once into the factorisation's storage.
    fn factorise(n: usize, a: &BlockInputs<'_>) -> Result<Self>;
}

/// What the forward pass of a [`FactorSolve`] leaves for the caller: the factors and the
/// solution (column-major), or why there are none.
type Solved<F> = Rc<RefCell<Option<Result<(Arc<F>, Vec<f64>)>>>>;

/// The block `Z(A) = A^{-1} B - X` of [`SolveMatrix`] for a matrix whose factorisation is not
/// computed yet: its forward pass reads `A`'s values (gathered by `apply_block` in the same
/// pass that checks the inputs form one run on the tape, so the taped matrix is read once),
/// factorises, solves with the fixed `B` and hands the factors and `X` to the caller through
/// `out` for the right-hand side block. The residuals are the factors and `X` (`None` if the
/// factorisation failed; the caller then returns the error and the block's derivatives are
/// zero). Rules as [`SolveMatrix`].
struct FactorSolve<F: Factorise> {
    n: usize,
    /// `B`, column-major `n x k`.
    b: Vec<f64>,
    k: usize,
    transpose: bool,
    shared: Option<Rc<SharedLambda>>,
    out: Solved<F>,
}

impl<F: Factorise> Block for FactorSolve<F> {
    type Residuals = Option<(Arc<F>, Vec<f64>)>;

    fn forward(&self, a: &[f64], y: &mut [f64]) -> Self::Residuals {
        self.forward_from(&BlockInputs::from_values(a), y)
    }

    /// `A`'s values go straight from the `Var`s into the factorisation's storage.
    fn forward_from(&self, a: &BlockInputs<'_>, y: &mut [f64]) -> Self::Residuals {
        y.fill(0.0);
        let (n, k) = (self.n, self.k);
        // errors in the order of the f64 path: matrix, right-hand side, solution
        let solved = F::factorise(n, a).and_then(|f| {
            check_finite("right-hand side", &self.b)?;
            let mut x = self.b.clone();
            f.solve_in_place(
                MatMut::from_column_major_slice_mut(&mut x, n, k),
                self.transpose,
            );
            check_finite("solution", &x)?;
            Ok((Arc::new(f), x))
        });
        let res = solved
            .as_ref()
            .ok()
            .map(|(f, x)| (Arc::clone(f), x.clone()));
        *self.out.borrow_mut() = Some(solved);
        res
    }

    fn vjp(
        &self,
        res: &Self::Residuals,
        y_bar: &[f64],
        a_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        if let Some((f, x)) = res {
            let shared = self.shared.as_deref();
            matrix_bar::<false, F>(f, x, self.k, self.transpose, shared, y_bar, a_bar)?;
        }
        Ok(())
    }

    fn vjp_write(
        &self,
        res: &Self::Residuals,
        y_bar: &[f64],
        a_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        match res {
            Some((f, x)) => {
                let shared = self.shared.as_deref();
                matrix_bar::<true, F>(f, x, self.k, self.transpose, shared, y_bar, a_bar)?;
            }
            None => a_bar.fill(0.0),
        }
        Ok(())
    }

    fn jvp(
        &self,
        res: &Self::Residuals,
        a_dot: &[f64],
        y_dot: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        match res {
            Some((f, x)) => matrix_jvp(&**f, x, self.k, self.transpose, a_dot, y_dot)?,
            None => y_dot.fill(0.0),
        }
        Ok(())
    }

    /// As [`SolveMatrix`]'s, with the factors the forward pass on `T` left in `out` (none if
    /// the factorisation failed: the caller then returns that error).
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
        let solved = match &*self.out.borrow() {
            Some(Ok((f, x))) => Some((Arc::clone(f), x.clone())),
            _ => None,
        };
        match solved {
            Some((f, x)) => {
                nested_matrix_tangent(&f, &x, self.k, self.transpose, a, z, a_dot, y_dot)
            }
            None => Ok(()),
        }
    }
}

/// Solves `A X = B` (or `A^T X = B`) for `A` whose entries `a` (row-major `n x n`) carry
/// derivatives, factorising inside the recorded block (see [`FactorSolve`]) so that a taped
/// `A` is read once; `b` is `n x k` row-major. Returns `X` (`n x k` row-major) and the
/// factors. Recorded as [`solve_with`] does (`X = Z(A) + Y(B)`, here `Z` first).
pub(crate) fn factor_solve_with<S: Real, F: Factorise>(
    n: usize,
    a: &[S],
    b: &[S],
    k: usize,
    transpose: bool,
) -> Result<(Vec<S>, Arc<F>)> {
    let bv = values(b);
    let b_const = all_constant(b);
    let shared = (!b_const).then(|| Rc::new(SharedLambda::default()));
    let out: Solved<F> = Rc::default();
    let block = FactorSolve {
        n,
        b: to_col_major(&bv, n, k),
        k,
        transpose,
        shared: shared.clone(),
        out: Rc::clone(&out),
    };
    let mut z = vec![S::zero(); n * k];
    S::apply_block(block, a, &mut z);
    let (f, x) = out.take().expect("the block's forward pass ran")?;
    if shared.as_ref().is_some_and(|s| s.is_nested()) {
        let sol = crate::second_order::nested_solve(&f, x, a, b, k, transpose);
        return Ok((sol, f));
    }
    let mut sol = vec![S::zero(); n * k];
    if b_const {
        for i in 0..n {
            for c in 0..k {
                sol[i * k + c] = S::cst(x[c * n + i]);
            }
        }
    } else {
        let block = SolveRhs {
            f: Arc::clone(&f),
            x,
            k,
            transpose,
            shared,
        };
        S::apply_block(block, b, &mut sol);
    }
    for (o, zi) in sol.iter_mut().zip(z) {
        *o += zi;
    }
    Ok((sol, f))
}
