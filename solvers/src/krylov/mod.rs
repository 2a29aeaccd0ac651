//! Matrix-free Krylov solvers: CG, restarted GMRES, BiCGStab, with Jacobi, ILU(0) and IC(0)
//! preconditioners, and their adjoints.
//!
//! The adjoint of `x = A^{-1} b` computed iteratively is another iterative solve, with the
//! transposed operator, the transposed preconditioner, the same method and tolerance:
//! `A^T lambda = x_bar`, `b_bar = lambda`, `A_bar[i, j] = -lambda_i x_j` on the stored entries.
//! The forward rule solves `A x_dot = b_dot - A_dot x` the same way. Both derivatives are
//! exact up to the solver tolerance.

mod methods;
mod operator;

use std::sync::Arc;

use ad_core::{Block, BlockError, Real};
use ndarray::{Array1, ArrayView1};

use operator::Transposed;
pub use operator::{Ic0, Identity, Ilu0, Jacobi, LinearOperator, Preconditioner};

use crate::dense::{all_constant, check_dim, check_finite, values};
use crate::error::{Error, Result};
use crate::sparse::{CsrMatrix, Pattern};

/// The Krylov method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Conjugate gradients: symmetric positive definite `A` (and preconditioner).
    Cg,
    /// GMRES restarted every `restart` steps: any nonsingular `A`.
    Gmres {
        /// Krylov subspace dimension between restarts.
        restart: usize,
    },
    /// BiCGStab: any nonsingular `A`, short recurrences (constant memory).
    BiCgStab,
}

/// Which preconditioner [`solve`] builds from a sparse matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precond {
    /// None.
    Identity,
    /// `diag(A)`.
    Jacobi,
    /// Incomplete LU with zero fill.
    Ilu0,
    /// Incomplete Cholesky with zero fill (symmetric positive definite `A`).
    Ic0,
}

/// Options of the Krylov solves.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// The method (default: GMRES(30)).
    pub method: Method,
    /// The preconditioner built by [`solve`] (default: Jacobi).
    pub precond: Precond,
    /// Relative residual tolerance: stop when `|b - A x| <= tol |b|` (default 1e-10).
    pub tol: f64,
    /// Iteration limit (default 10_000).
    pub max_iter: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Gmres { restart: 30 },
            precond: Precond::Jacobi,
            tol: 1e-10,
            max_iter: 10_000,
        }
    }
}

impl Options {
    /// Options with the given method and the other defaults.
    pub fn new(method: Method, precond: Precond) -> Self {
        Options {
            method,
            precond,
            ..Options::default()
        }
    }

    /// Sets the relative tolerance.
    ///
    /// # Errors
    /// [`Error::NonFinite`] unless `0 < tol < 1` and finite.
    pub fn with_tol(mut self, tol: f64) -> Result<Self> {
        if !(tol > 0.0 && tol < 1.0) {
            return Err(Error::NonFinite {
                what: "tolerance (must be in (0, 1))",
            });
        }
        self.tol = tol;
        Ok(self)
    }

    /// Sets the iteration limit.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
}

/// How an iterative solve ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Iterations (operator products, for GMRES inner steps).
    pub iterations: usize,
    /// Final true relative residual `|b - A x| / |b|`.
    pub residual: f64,
    /// True if `residual <= tol`.
    pub converged: bool,
}

fn run(
    op: &dyn LinearOperator,
    pre: &dyn Preconditioner,
    b: &[f64],
    opts: &Options,
) -> (Vec<f64>, Report) {
    match opts.method {
        Method::Cg => methods::cg(op, pre, b, opts.tol, opts.max_iter),
        Method::Gmres { restart } => methods::gmres(op, pre, b, opts.tol, opts.max_iter, restart),
        Method::BiCgStab => methods::bicgstab(op, pre, b, opts.tol, opts.max_iter),
    }
}

/// Solves `A x = b` on `f64` with a matrix-free operator and a preconditioner.
///
/// # Errors
/// [`Error::DimensionMismatch`], [`Error::NonFinite`] (in `b` or the iterate),
/// [`Error::NotConverged`] with the iteration count and residual.
pub fn solve_f64(
    op: &dyn LinearOperator,
    pre: &dyn Preconditioner,
    b: &[f64],
    opts: &Options,
) -> Result<(Vec<f64>, Report)> {
    check_dim("right-hand side", op.dim(), b.len())?;
    check_finite("right-hand side", b)?;
    let (x, rep) = run(op, pre, b, opts);
    check_finite("Krylov iterate", &x)?;
    if !rep.converged {
        return Err(Error::NotConverged {
            iterations: rep.iterations,
            residual: rep.residual,
        });
    }
    Ok((x, rep))
}

/// Builds the preconditioner `kind` for `a`.
///
/// # Errors
/// Those of [`Jacobi::new`], [`Ilu0::new`], [`Ic0::new`].
pub fn preconditioner(a: &CsrMatrix<f64>, kind: Precond) -> Result<Arc<dyn Preconditioner>> {
    Ok(match kind {
        Precond::Identity => Arc::new(Identity),
        Precond::Jacobi => Arc::new(Jacobi::new(a)?),
        Precond::Ilu0 => Arc::new(Ilu0::new(a)?),
        Precond::Ic0 => Arc::new(Ic0::new(a)?),
    })
}

/// Solves `A x = b` iteratively for a sparse `A` whose values and `b` may carry derivatives
/// (one block on the tape; see the [module docs](self) for the rules). The preconditioner is
/// built from `A`'s values by `opts.precond`.
///
/// # Errors
/// As [`solve_f64`], and the preconditioner's construction errors.
pub fn solve<S: Real>(
    a: &CsrMatrix<S>,
    b: ArrayView1<S>,
    opts: &Options,
) -> Result<(Array1<S>, Report)> {
    check_dim("matrix columns (square matrix)", a.nrows(), a.ncols())?;
    let av = values(a.values());
    check_finite("matrix", &av)?;
    let a64 = Arc::new(CsrMatrix::new(a.pattern().clone(), av)?);
    let pre = preconditioner(&a64, opts.precond)?;
    let active = (!all_constant(a.values())).then(|| a.values());
    let pattern = a.pattern().clone();
    solve_block(a64, pre, Some(pattern), active, b, opts)
}

/// Solves `A x = b` iteratively with a matrix-free operator; differentiable with respect to
/// `b` only (`b_bar = A^{-T} x_bar` by the same method on the transposed operator).
///
/// # Errors
/// As [`solve_f64`].
pub fn solve_operator<S: Real, Op: LinearOperator + 'static>(
    op: Arc<Op>,
    pre: Arc<dyn Preconditioner>,
    b: ArrayView1<S>,
    opts: &Options,
) -> Result<(Array1<S>, Report)> {
    solve_block::<S>(op, pre, None, None, b, opts)
}

fn solve_block<S: Real>(
    op: Arc<dyn LinearOperator>,
    pre: Arc<dyn Preconditioner>,
    pattern: Option<Arc<Pattern>>,
    a: Option<&[S]>,
    b: ArrayView1<S>,
    opts: &Options,
) -> Result<(Array1<S>, Report)> {
    let b = b.to_vec();
    let (x, rep) = solve_f64(op.as_ref(), pre.as_ref(), &values(&b), opts)?;
    if a.is_none() && all_constant(&b) {
        return Ok((x.into_iter().map(S::cst).collect(), rep));
    }
    let wrt_b = !all_constant(&b);
    let block = KrylovSolve {
        op,
        pre,
        pattern: if a.is_some() { pattern } else { None },
        wrt_b,
        opts: opts.clone(),
        x,
    };
    let mut out = vec![S::zero(); b.len()];
    // Inputs: the values and/or b, whichever carry derivatives.
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
    Ok((Array1::from_vec(out), rep))
}

/// The iterative solve block. Inputs: `A`'s stored values (if a pattern is given), then `b`
/// (if `wrt_b`).
/// Reverse: `A^T lambda = x_bar` by the same method with `M^T`; `b_bar += lambda`;
/// `A_bar[k] -= lambda_{row k} x_{col k}`. Forward: `A x_dot = b_dot - A_dot x`. A derivative
/// solve that does not reach the tolerance within the iteration limit (or breaks down) is an
/// error, [`Error::NotConverged`] or [`Error::NonFinite`], as the primal solve's: never a
/// silently inexact derivative.
struct KrylovSolve {
    op: Arc<dyn LinearOperator>,
    pre: Arc<dyn Preconditioner>,
    pattern: Option<Arc<Pattern>>,
    wrt_b: bool,
    opts: Options,
    x: Vec<f64>,
}

impl Block for KrylovSolve {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.x);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let (lam, _) = solve_f64(
            &Transposed(self.op.as_ref()),
            &Transposed(self.pre.as_ref()),
            y_bar,
            &self.opts,
        )?;
        let nnz = self.pattern.as_ref().map_or(0, |p| p.nnz());
        let (a_bar, b_bar) = x_bar.split_at_mut(nnz);
        if self.wrt_b {
            for (bb, l) in b_bar.iter_mut().zip(&lam) {
                *bb += l;
            }
        }
        if let Some(p) = &self.pattern {
            let (x, lam) = (&self.x, &lam);
            p.for_rows_mut(a_bar, |i, cols, out| {
                for (o, &j) in out.iter_mut().zip(cols) {
                    *o -= lam[i] * x[j];
                }
            });
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let nnz = self.pattern.as_ref().map_or(0, |p| p.nnz());
        let (a_dot, b_dot) = x_dot.split_at(nnz);
        let mut r = if self.wrt_b {
            b_dot.to_vec()
        } else {
            vec![0.0; self.x.len()]
        };
        if let Some(p) = &self.pattern {
            let rows = p.row_of_entries();
            for ((&i, &j), &d) in rows.iter().zip(p.col_idx()).zip(a_dot) {
                r[i] -= d * self.x[j];
            }
        }
        let (xd, _) = solve_f64(self.op.as_ref(), self.pre.as_ref(), &r, &self.opts)?;
        y_dot.copy_from_slice(&xd);
        Ok(())
    }

    /// `A x_dot = b_dot - A_dot x` on `T`, by the same method and preconditioner applied on
    /// `T` (a first-order Krylov block for `T = Var`); an unconverged solve is an error.
    fn jvp_nested<T: Real>(
        &self,
        inputs: &[T],
        x: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let nnz = self.pattern.as_ref().map_or(0, |p| p.nnz());
        let (a_dot, b_dot) = x_dot.split_at(nnz);
        let b_dot = self.wrt_b.then_some(b_dot);
        let r = match &self.pattern {
            Some(p) => crate::second_order::sparse_rhs(p, Some(a_dot), b_dot, x, false, false),
            None => b_dot.map_or_else(|| vec![T::zero(); x.len()], <[T]>::to_vec),
        };
        let a = self.pattern.is_some().then(|| &inputs[..nnz]);
        let (op, pre) = (Arc::clone(&self.op), Arc::clone(&self.pre));
        let pattern = self.pattern.clone();
        let (sol, _) = solve_block(op, pre, pattern, a, ArrayView1::from(&r), &self.opts)?;
        for (d, v) in y_dot.iter_mut().zip(sol.iter()) {
            *d = *v;
        }
        Ok(())
    }
}
