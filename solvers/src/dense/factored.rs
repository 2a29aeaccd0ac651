//! The machinery shared by the dense factorisations: the solve and log-determinant blocks.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use ad_core::tape::BlockInputs;
use ad_core::{Block, BlockError, Real};
use faer::MatMut;
use rayon::prelude::*;

use super::{all_constant, check_finite, values, ADJOINT, TANGENT};
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

/// The block `Y = A^{-1} B` (or `A^{-T} B`) as a function of `B` alone, built at one point
/// (factors and solution computed before recording). Inputs `B` (`n x k` row-major).
/// Reverse: `B_bar += A^{-T} Y_bar`; forward: `Y_dot = A^{-1} B_dot`.
struct SolveRhs<F: Factors> {
    f: Arc<F>,
    /// The solution, column-major `n x k`.
    x: Vec<f64>,
    k: usize,
    transpose: bool,
    /// `Lambda` left by the matrix block of the same solve, if there is one.
    shared: Option<Rc<SharedLambda>>,
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
struct SolveMatrix<F: Factors> {
    f: Arc<F>,
    /// The solution, column-major `n x k`.
    x: Vec<f64>,
    k: usize,
    transpose: bool,
    /// Where `Lambda` is left for the right-hand side block of the same solve, if there is one.
    shared: Option<Rc<SharedLambda>>,
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
fn nested_matrix_tangent<T: Real, F: Factors>(
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

/// `Lambda = A^{-T} Y_bar` (`A^{-1} Y_bar` for a transposed solve), column-major, for a
/// row-major `n x k` adjoint `y_bar`.
pub(crate) fn adjoint_solve<F: Factors>(
    f: &F,
    y_bar: &[f64],
    k: usize,
    transpose: bool,
) -> Result<Vec<f64>> {
    let n = f.n();
    let mut lam = to_col_major(y_bar, n, k);
    f.solve_in_place(
        MatMut::from_column_major_slice_mut(&mut lam, n, k),
        !transpose,
    );
    check_finite(ADJOINT, &lam)?;
    Ok(lam)
}

/// `Lambda = A^{-T} Y_bar` for the two blocks of one solve: the one kept by the block whose
/// reverse step ran first if it was computed from this `y_bar`, else solved here (then the
/// flag is true and the caller keeps it for the other block).
fn lambda<F: Factors>(
    f: &F,
    shared: Option<&SharedLambda>,
    y_bar: &[f64],
    k: usize,
    transpose: bool,
) -> Result<(Vec<f64>, bool)> {
    Ok(match shared.and_then(|s| s.take(y_bar)) {
        Some(lam) => (lam, false),
        None => (adjoint_solve(f, y_bar, k, transpose)?, true),
    })
}

/// `Lambda` of the reverse step that ran first, with the adjoint it was computed from.
/// The flag: set by a block of the pair applied to nested duals (second order), which then
/// records the solve as one block over both inputs ([`crate::second_order::NestedSolve`]).
#[derive(Default)]
pub(crate) struct SharedLambda(RefCell<Option<(Vec<f64>, Vec<f64>)>>, std::cell::Cell<bool>);

impl SharedLambda {
    /// Marks the pair as applied to nested duals.
    fn mark_nested(&self) {
        self.1.set(true);
    }

    /// True if a block of the pair was applied to nested duals.
    fn is_nested(&self) -> bool {
        self.1.get()
    }

    fn keep(&self, y_bar: &[f64], lam: Vec<f64>) {
        *self.0.borrow_mut() = Some((y_bar.to_vec(), lam));
    }

    /// The kept `Lambda` if it was computed from this same `y_bar` (checked, so a block
    /// reached alone, or in another order, still gets its own solve).
    fn take(&self, y_bar: &[f64]) -> Option<Vec<f64>> {
        match self.0.borrow_mut().take() {
            Some((yb, lam)) if yb == y_bar => Some(lam),
            _ => None,
        }
    }
}

/// `M[i][j] += scale * sum_c u[c][i] v[c][j]` for row-major `n x n` `M` and column-major
/// `n x k` `u`, `v` (`=` if `WRITE`: `M`'s old contents are not read); rows in parallel for
/// large `n`.
fn rank_update<const WRITE: bool>(
    m: &mut [f64],
    n: usize,
    k: usize,
    u: &[f64],
    v: &[f64],
    scale: f64,
) {
    let row = |(i, mi): (usize, &mut [f64])| {
        if WRITE && k == 0 {
            mi.fill(0.0);
        }
        for c in 0..k {
            let s = scale * u[c * n + i];
            let vc = &v[c * n..(c + 1) * n];
            if WRITE && c == 0 {
                for (mij, &vj) in mi.iter_mut().zip(vc) {
                    *mij = s * vj;
                }
            } else {
                for (mij, &vj) in mi.iter_mut().zip(vc) {
                    *mij += s * vj;
                }
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
/// `A^{-T}`, computed from the factors by `n` solves, or the error both rules return if it is
/// not finite (a matrix too ill-conditioned for its inverse).
struct DenseLogDet<F: Factors> {
    f: Arc<F>,
    value: f64,
    det: bool,
}

impl<F: Factors> Block for DenseLogDet<F> {
    /// `A^{-T}`, row-major, or why it is not finite.
    type Residuals = Result<Vec<f64>>;

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) -> Result<Vec<f64>> {
        y[0] = self.value;
        let n = self.f.n();
        let mut inv = vec![0.0; n * n];
        for i in 0..n {
            inv[i * n + i] = 1.0;
        }
        // Column-major storage of A^{-1} is the row-major storage of A^{-T}.
        self.f
            .solve_in_place(MatMut::from_column_major_slice_mut(&mut inv, n, n), false);
        check_finite("inverse (derivative of a determinant)", &inv)?;
        Ok(inv)
    }

    fn vjp(
        &self,
        inv_t: &Result<Vec<f64>>,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = y_bar[0] * if self.det { self.value } else { 1.0 };
        for (xb, &g) in x_bar.iter_mut().zip(inv_t) {
            *xb += s * g;
        }
        Ok(())
    }

    fn vjp_write(
        &self,
        inv_t: &Result<Vec<f64>>,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = y_bar[0] * if self.det { self.value } else { 1.0 };
        for (xb, &g) in x_bar.iter_mut().zip(inv_t) {
            *xb = s * g;
        }
        Ok(())
    }

    fn jvp(
        &self,
        inv_t: &Result<Vec<f64>>,
        x_dot: &[f64],
        y_dot: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = if self.det { self.value } else { 1.0 };
        y_dot[0] = s * inv_t.iter().zip(x_dot).map(|(a, b)| a * b).sum::<f64>();
        Ok(())
    }

    /// `y_dot = s tr(A^{-1} A_dot)` on `T`, `s = 1` or `det A` (the output `y` on `T`).
    fn jvp_nested<T: Real>(
        &self,
        a: &[T],
        y: &[T],
        a_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let tr = crate::second_order::trace_inv_times(&self.f, a, a_dot)?;
        y_dot[0] = if self.det { y[0] * tr } else { tr };
        Ok(())
    }
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
