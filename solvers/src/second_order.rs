//! Second-order rules of the solver blocks ([`ad_core::Block::jvp_nested`]): the tangents of
//! the solves written with the solvers' own generic routines on the inner scalar `T`, so that
//! a Hessian-vector product (`Dual<1, Var>`, forward over reverse) differentiates them again.
//!
//! - Linear solves `X = A^{-1} B` (dense LU/Cholesky, sparse LU/Cholesky, Krylov):
//!   `X_dot = A^{-1} (B_dot - A_dot X)` (Giles 2008), the right-hand side formed on `T` and the
//!   solve done by the same factorisation (or Krylov method) applied on `T`: for `T = Var` a
//!   first-order solve block whose reverse step the tape then runs. Symmetric factorisations
//!   use the symmetric part of `A_dot` as their first-order rules do.
//! - Least squares `x = argmin |A x - b|`: `x_dot = G^{-1} (A^T (b_dot - A_dot x) + A_dot^T r)`
//!   with `G = A^T A` and `r = b - A x`, all on `T` (`G` by Cholesky on `T`).
//! - Determinants: `d ln|det A| = tr(A^{-1} A_dot)` (times `det A` for `det`), the `n`
//!   columns of `A^{-1} A_dot` solved with the same factors on `T`.
//! - Newton (implicit function theorem): `x_dot = -F_x^{-1} (F_theta theta_dot)`, with `F_x`
//!   assembled on `T` by `n` evaluations of the residual on `Dual<1, T>` (dense, whatever the
//!   sparsity option: `O(n)` residual evaluations and a dense `n x n` solve per direction) and
//!   `F_theta theta_dot` as the tangent of one evaluation.
//!
//! A dense solve whose matrix and right-hand side both carry derivatives is recorded on the
//! first-order path as two blocks (`X = Y(B) + Z(A)`); their tangents cannot be split that way
//! at second order (`d/dA (A^{-1} B_dot)` belongs to neither), so on nested duals the first
//! block applied marks the pair and the solve is recorded instead as one [`NestedSolve`] block
//! over `(A, B)`.

use std::sync::Arc;

use ad_core::{Block, BlockError, Dual, Real};
use ndarray::{ArrayView1, ArrayView2};

use crate::dense::factored::{
    adjoint_solve, matrix_bar, matrix_jvp, solve_with, to_col_major, to_row_major, Factors,
};
use crate::error::Result;
use crate::newton::Residual;
use crate::sparse::Pattern;

/// `R = B_dot - op(A_dot) X` on `T` for row-major `n x n` `A_dot`, `n x k` `B_dot` and `X`;
/// `op(A_dot)` is `A_dot`, its transpose (`transpose`) or its symmetric part (`symmetric`).
/// A missing `A_dot` or `B_dot` is zero.
pub(crate) fn dense_rhs<T: Real>(
    n: usize,
    k: usize,
    a_dot: Option<&[T]>,
    b_dot: Option<&[T]>,
    x: &[T],
    transpose: bool,
    symmetric: bool,
) -> Vec<T> {
    let mut r = b_dot.map_or_else(|| vec![T::zero(); n * k], <[T]>::to_vec);
    let Some(ad) = a_dot else {
        return r;
    };
    let entry = |i: usize, j: usize| -> T {
        if symmetric {
            (ad[i * n + j] + ad[j * n + i]) * 0.5
        } else if transpose {
            ad[j * n + i]
        } else {
            ad[i * n + j]
        }
    };
    for i in 0..n {
        for j in 0..n {
            let e = entry(i, j);
            if e.is_constant() && e.is_zero() {
                continue;
            }
            for c in 0..k {
                r[i * k + c] -= e * x[j * k + c];
            }
        }
    }
    r
}

/// `r = b_dot - op(A_dot) x` on `T` for a sparse `A_dot` with pattern `p` (values in pattern
/// order); `op` as the sparse solve's rules: `A_dot`, its transpose, or the symmetric matrix
/// built from its upper triangle (`upper_symmetric`).
pub(crate) fn sparse_rhs<T: Real>(
    p: &Pattern,
    a_dot: Option<&[T]>,
    b_dot: Option<&[T]>,
    x: &[T],
    transpose: bool,
    upper_symmetric: bool,
) -> Vec<T> {
    let mut r = b_dot.map_or_else(|| vec![T::zero(); x.len()], <[T]>::to_vec);
    let Some(ad) = a_dot else {
        return r;
    };
    let rows = p.row_of_entries();
    for ((&i, &j), &d) in rows.iter().zip(p.col_idx()).zip(ad) {
        if upper_symmetric {
            if j > i {
                r[i] -= d * x[j];
                r[j] -= d * x[i];
            } else if j == i {
                r[i] -= d * x[i];
            }
        } else if transpose {
            r[j] -= d * x[i];
        } else {
            r[i] -= d * x[j];
        }
    }
    r
}

/// `X_dot = A^{-1} (B_dot - op(A_dot) X)` on `T` with the factors `f` of `A`'s value; `a` are
/// `A`'s entries on `T` (row-major) when they carry derivatives, `x` the solution on `T`
/// (`n x k` row-major).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_tangent<T: Real, F: Factors>(
    f: &Arc<F>,
    a: Option<&[T]>,
    a_dot: Option<&[T]>,
    b_dot: Option<&[T]>,
    x: &[T],
    k: usize,
    transpose: bool,
    y_dot: &mut [T],
) -> Result<()> {
    let r = dense_rhs(f.n(), k, a_dot, b_dot, x, transpose, F::SYMMETRIC);
    let sol = solve_with(f, a, &r, k, transpose)?;
    y_dot.copy_from_slice(&sol);
    Ok(())
}

/// `X = A^{-1} B` (or `A^{-T} B`) as ONE block over the inputs `(A, B)` (row-major, `A` then
/// `B`), for nested duals (see the module docs); built at its point. Reverse: `Lambda =
/// A^{-T} X_bar`, `B_bar += Lambda`, `A_bar -= Lambda X^T`; forward:
/// `X_dot = A^{-1} (B_dot - A_dot X)`, the latter also on `T` (second order).
pub(crate) struct NestedSolve<F: Factors> {
    pub(crate) f: Arc<F>,
    /// The solution, column-major `n x k`.
    pub(crate) x: Vec<f64>,
    pub(crate) k: usize,
    pub(crate) transpose: bool,
}

impl<F: Factors> Block for NestedSolve<F> {
    type Residuals = ();

    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        to_row_major(&self.x, self.f.n(), self.k, y);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (n, k) = (self.f.n(), self.k);
        let (a_bar, b_bar) = x_bar.split_at_mut(n * n);
        matrix_bar::<false, F>(&self.f, &self.x, k, self.transpose, None, y_bar, a_bar)?;
        let lam = adjoint_solve(&*self.f, y_bar, k, self.transpose)?;
        for i in 0..n {
            for c in 0..k {
                b_bar[i * k + c] += lam[c * n + i];
            }
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (n, k) = (self.f.n(), self.k);
        let (a_dot, b_dot) = x_dot.split_at(n * n);
        matrix_jvp(&*self.f, &self.x, k, self.transpose, a_dot, y_dot)?;
        let mut r = to_col_major(b_dot, n, k);
        self.f.solve_in_place(
            faer::MatMut::from_column_major_slice_mut(&mut r, n, k),
            self.transpose,
        );
        for i in 0..n {
            for c in 0..k {
                y_dot[i * k + c] += r[c * n + i];
            }
        }
        Ok(())
    }

    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        y: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let n = self.f.n();
        let (a, _) = x.split_at(n * n);
        let (a_dot, b_dot) = x_dot.split_at(n * n);
        let (k, tr) = (self.k, self.transpose);
        dense_tangent(&self.f, Some(a), Some(a_dot), Some(b_dot), y, k, tr, y_dot)?;
        Ok(())
    }
}

/// `X = A^{-1} B` on nested duals as one [`NestedSolve`] block over `(A, B)`; `x` is the
/// solution, column-major `n x k`.
pub(crate) fn nested_solve<S: Real, F: Factors>(
    f: &Arc<F>,
    x: Vec<f64>,
    a: &[S],
    b: &[S],
    k: usize,
    transpose: bool,
) -> Vec<S> {
    let mut inputs = Vec::with_capacity(a.len() + b.len());
    inputs.extend_from_slice(a);
    inputs.extend_from_slice(b);
    let mut out = vec![S::zero(); b.len()];
    let block = NestedSolve {
        f: Arc::clone(f),
        x,
        k,
        transpose,
    };
    S::apply_block(block, &inputs, &mut out);
    out
}

/// The implicit-function tangent `x_dot = -F_x^{-1} (F_theta theta_dot)` on `T` at the
/// solution `x` (on `T`) of `F(x, theta) = 0`: `F_x` assembled column by column on
/// `Dual<1, T>` and solved by the dense LU on `T`.
pub(crate) fn implicit_tangent<T: Real, R: Residual>(
    f: &R,
    x: &[T],
    theta: &[T],
    theta_dot: &[T],
    x_dot: &mut [T],
) -> Result<()> {
    let n = x.len();
    let cst = |v: &[T]| -> Vec<Dual<1, T>> { v.iter().map(|&t| Dual::constant(t)).collect() };
    let mut out = vec![Dual::<1, T>::constant(T::zero()); n];
    // F_theta theta_dot: the tangent of F along theta_dot at fixed x
    let th: Vec<Dual<1, T>> = theta
        .iter()
        .zip(theta_dot)
        .map(|(&v, &d)| Dual::new(v, [d]))
        .collect();
    f.residual(&cst(x), &th, &mut out);
    let rhs: Vec<T> = out.iter().map(|o| -o.d[0]).collect();
    // F_x, row-major, one column per evaluation
    let th = cst(theta);
    let mut xs = cst(x);
    let mut jac = vec![T::zero(); n * n];
    for j in 0..n {
        xs[j].d[0] = T::one();
        f.residual(&xs, &th, &mut out);
        xs[j].d[0] = T::zero();
        for (i, o) in out.iter().enumerate() {
            jac[i * n + j] = o.d[0];
        }
    }
    let jac = ArrayView2::from_shape((n, n), &jac).map_err(|_| {
        crate::error::Error::DimensionMismatch {
            what: "implicit tangent Jacobian",
            expected: n * n,
            got: jac.len(),
        }
    })?;
    let sol = crate::dense::solve(jac, ArrayView1::from(&rhs))?;
    for (d, v) in x_dot.iter_mut().zip(sol.iter()) {
        *d = *v;
    }
    Ok(())
}

/// The least-squares tangent on `T`: `x_dot = G^{-1} (A^T (b_dot - A_dot x) + A_dot^T r)`,
/// `G = A^T A`, `r = b - A x`; `a` (row-major `m x n`) and `a_dot` on `T`, or `a` constant
/// (`a_values`) and no `a_dot`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstsq_tangent<T: Real>(
    m: usize,
    n: usize,
    a: Option<&[T]>,
    a_values: &[f64],
    a_dot: Option<&[T]>,
    b: &[T],
    b_dot: &[T],
    x: &[T],
    x_dot: &mut [T],
) -> Result<()> {
    let a: Vec<T> = a.map_or_else(
        || a_values.iter().map(|&v| T::cst(v)).collect(),
        <[T]>::to_vec,
    );
    let row = |mat: &[T], i: usize, v: &[T]| -> T {
        mat[i * n..(i + 1) * n]
            .iter()
            .zip(v)
            .map(|(p, q)| *p * *q)
            .sum()
    };
    // s = A^T (b_dot - A_dot x) + A_dot^T (b - A x)
    let mut s = vec![T::zero(); n];
    for i in 0..m {
        let mut t = b_dot[i];
        if let Some(ad) = a_dot {
            t -= row(ad, i, x);
            let r = b[i] - row(&a, i, x);
            for (sj, &d) in s.iter_mut().zip(&ad[i * n..(i + 1) * n]) {
                *sj += d * r;
            }
        }
        for (sj, &aij) in s.iter_mut().zip(&a[i * n..(i + 1) * n]) {
            *sj += aij * t;
        }
    }
    let mut g = ndarray::Array2::from_elem((n, n), T::zero());
    for i in 0..m {
        let ai = &a[i * n..(i + 1) * n];
        for j in 0..n {
            for k in 0..n {
                g[[j, k]] += ai[j] * ai[k];
            }
        }
    }
    let sol = crate::dense::Cholesky::new(g.view())?.solve(ArrayView1::from(&s))?;
    for (d, v) in x_dot.iter_mut().zip(sol.iter()) {
        *d = *v;
    }
    Ok(())
}

/// `tr(A^{-1} A_dot)` on `T` with the factors `f` of `A` (entries `a` on `T`, row-major).
pub(crate) fn trace_inv_times<T: Real, F: Factors>(f: &Arc<F>, a: &[T], a_dot: &[T]) -> Result<T> {
    let n = f.n();
    let z = solve_with(f, Some(a), a_dot, n, false)?;
    Ok((0..n).map(|i| z[i * n + i]).sum())
}
