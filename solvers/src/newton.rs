//! Newton's method for `F(x, theta) = 0` with a backtracking line search, differentiated by the
//! implicit function theorem.
//!
//! At a solution `x*(theta)`, `F(x*(theta), theta) = 0` gives
//! `dx*/dtheta = -(dF/dx)^{-1} dF/dtheta`. Reverse rule: solve `(dF/dx)^T lambda = x_bar` with
//! the LU factors of the Jacobian at `x*`, then `theta_bar = -(dF/dtheta)^T lambda` (one
//! reverse sweep of `F` alone). Forward rule: `x_dot = -(dF/dx)^{-1} (dF/dtheta theta_dot)`.
//! Nothing of the iterations is recorded: the tape holds ONE block whatever the iteration count.

use std::cell::RefCell;
use std::sync::Arc;

use ad_core::sparsity::{CompressedJacobian, Sparsity};
use ad_core::{Block, BlockError, Dual, Real, Tape};
use faer::MatMut;
use ndarray::ArrayView2;

use crate::dense::{all_constant, check_dim, check_finite, values, Factors, LuFactors};
use crate::error::{Error, Result};
use crate::sparse::{CsrMatrix, Pattern, SparseLu, SymbolicLu};

/// A square nonlinear system `F(x, theta) = 0`: `dim()` equations in `dim()` unknowns `x`,
/// with `n_params()` parameters `theta`. Written once, generic over the scalar: the solver
/// evaluates it with `f64` (iterations), `Dual` (Jacobians, forward rule) and `Var` (the
/// reverse rule's `(dF/dtheta)^T lambda`).
pub trait Residual {
    /// Number of unknowns and of equations.
    fn dim(&self) -> usize;
    /// Number of parameters.
    fn n_params(&self) -> usize;
    /// Writes `out = F(x, theta)`.
    fn residual<S: Real>(&self, x: &[S], theta: &[S], out: &mut [S]);
}

/// Options of [`solve`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Stop when `max_i |F_i(x)| <= tol` (default 1e-12).
    pub tol: f64,
    /// Iteration limit (default 50).
    pub max_iter: usize,
    /// Step halvings allowed per iteration before [`Error::LineSearchFailed`] (default 30).
    pub max_backtracks: usize,
    /// The sparsity pattern of `dF/dx`, if sparse (default `None`: dense). With a pattern the
    /// Jacobian is computed by forward mode on a column colouring (columns sharing no row get
    /// one tangent direction; `Dual<8>` evaluations = colours / 8) and factorised by sparse LU
    /// with its symbolic analysis reused across iterations.
    pub sparsity: Option<Arc<Pattern>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tol: 1e-12,
            max_iter: 50,
            max_backtracks: 30,
            sparsity: None,
        }
    }
}

impl Options {
    /// Sets the residual tolerance.
    ///
    /// # Errors
    /// [`Error::NonFinite`] unless `tol > 0` and finite.
    pub fn with_tol(mut self, tol: f64) -> Result<Self> {
        if !(tol > 0.0 && tol.is_finite()) {
            return Err(Error::NonFinite {
                what: "tolerance (must be positive)",
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

    /// Declares the sparsity pattern of `dF/dx` (see [`Options::sparsity`]).
    pub fn with_sparsity(mut self, pattern: Arc<Pattern>) -> Self {
        self.sparsity = Some(pattern);
        self
    }
}

/// How a Newton solve ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Newton iterations (Jacobian factorisations before the final one).
    pub iterations: usize,
    /// `max_i |F_i(x)|` at the returned `x`.
    pub residual: f64,
    /// Residual evaluations (including line-search trials).
    pub evaluations: usize,
}

fn eval<R: Residual>(f: &R, x: &[f64], theta: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; f.dim()];
    f.residual(x, theta, &mut out);
    out
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The dense Jacobian `dF/dx` (row-major) by forward mode, 8 columns per evaluation.
fn jacobian_x<R: Residual>(f: &R, x: &[f64], theta: &[f64]) -> Vec<f64> {
    const W: usize = 8;
    let n = f.dim();
    let th: Vec<Dual<W>> = theta.iter().map(|&t| Dual::constant(t)).collect();
    let mut jac = vec![0.0; n * n];
    let mut out = vec![Dual::<W>::constant(0.0); n];
    for c0 in (0..n).step_by(W) {
        let xs: Vec<Dual<W>> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let mut d = Dual::<W>::constant(v);
                if (c0..c0 + W).contains(&j) {
                    d.d[j - c0] = 1.0;
                }
                d
            })
            .collect();
        f.residual(&xs, &th, &mut out);
        for (i, o) in out.iter().enumerate() {
            for (k, j) in (c0..(c0 + W).min(n)).enumerate() {
                jac[i * n + j] = o.d[k];
            }
        }
    }
    jac
}

/// A factorised Jacobian `J = dF/dx`.
enum Jacobian {
    Dense(LuFactors),
    Sparse(SparseLu<f64>),
}

impl Jacobian {
    /// `v <- J^{-1} v` (or `J^{-T} v`).
    fn solve(&self, v: &mut [f64], transpose: bool) {
        match self {
            Jacobian::Dense(lu) => {
                let n = v.len();
                lu.solve_in_place(MatMut::from_column_major_slice_mut(v, n, 1), transpose);
            }
            Jacobian::Sparse(lu) => {
                let b = ndarray::ArrayView1::from(&*v);
                let x = if transpose {
                    lu.solve_transpose(b)
                } else {
                    lu.solve(b)
                };
                match x {
                    Ok(x) => v.copy_from_slice(x.as_slice().expect("contiguous")),
                    Err(_) => v.fill(f64::NAN),
                }
            }
        }
    }
}

/// The sparse-Jacobian machinery: pattern, reusable symbolic LU, and the column colouring
/// with its `Dual<8>` buffers (`ad_core::sparsity::CompressedJacobian`).
struct SparseJacobian {
    pattern: Arc<Pattern>,
    symbolic: SymbolicLu,
    values: RefCell<CompressedJacobian>,
}

impl SparseJacobian {
    fn new(pattern: &Arc<Pattern>, n: usize) -> Result<Self> {
        check_dim("Jacobian pattern rows", n, pattern.nrows())?;
        check_dim("Jacobian pattern columns", n, pattern.ncols())?;
        let sparsity =
            Sparsity::from_csr(n, n, pattern.row_ptr().to_vec(), pattern.col_idx().to_vec())
                .expect("a Pattern is valid compressed rows");
        Ok(SparseJacobian {
            pattern: Arc::clone(pattern),
            symbolic: SymbolicLu::new(pattern)?,
            values: RefCell::new(CompressedJacobian::new(sparsity)),
        })
    }

    /// The Jacobian values on the pattern, by `Dual<8>` evaluations over the colours.
    fn values<R: Residual>(&self, f: &R, x: &[f64], theta: &[f64]) -> Vec<f64> {
        let th: Vec<Dual<8>> = theta.iter().map(|&t| Dual::constant(t)).collect();
        let mut vals = vec![0.0; self.pattern.nnz()];
        self.values.borrow_mut().values_sequential(
            x,
            |xs, out| f.residual(xs, &th, out),
            &mut vals,
        );
        vals
    }
}

fn factor_jacobian<R: Residual>(
    f: &R,
    x: &[f64],
    theta: &[f64],
    sparse: Option<&SparseJacobian>,
) -> Result<Jacobian> {
    let n = f.dim();
    match sparse {
        None => {
            let jac = jacobian_x(f, x, theta);
            check_finite("Jacobian", &jac)?;
            let view = ArrayView2::from_shape((n, n), &jac).expect("square");
            LuFactors::new(view).map(Jacobian::Dense)
        }
        Some(sj) => {
            let vals = sj.values(f, x, theta);
            check_finite("Jacobian", &vals)?;
            let a = CsrMatrix::new(Arc::clone(&sj.pattern), vals)?;
            SparseLu::with_symbolic(&sj.symbolic, &a).map(Jacobian::Sparse)
        }
    }
}

/// Solves `F(x, theta) = 0` by Newton's method from `x0`, with a backtracking (Armijo) line
/// search on `|F|_2`: the step `x + t dx`, `dx = -J^{-1} F`, is accepted when
/// `|F(x + t dx)|_2 <= (1 - 1e-4 t) |F(x)|_2`, halving `t` otherwise.
///
/// With `theta` of type `Var` the solution is one block on the tape (implicit function theorem,
/// see the [module docs](self)); with `Dual` its tangents follow from the same rule. `f` is
/// cloned into the block for the derivative passes.
///
/// # Errors
/// [`Error::DimensionMismatch`], [`Error::NonFinite`] (in `x0`, `theta` or a residual),
/// [`Error::Singular`] (a singular Jacobian), [`Error::LineSearchFailed`],
/// [`Error::NotConverged`].
pub fn solve<S: Real, R: Residual + Clone + 'static>(
    f: &R,
    x0: &[f64],
    theta: &[S],
    opts: &Options,
) -> Result<(Vec<S>, Report)> {
    let n = f.dim();
    check_dim("initial guess", n, x0.len())?;
    check_dim("parameters", f.n_params(), theta.len())?;
    check_finite("initial guess", x0)?;
    let th = values(theta);
    check_finite("parameters", &th)?;
    let sparse = match &opts.sparsity {
        Some(p) => Some(SparseJacobian::new(p, n)?),
        None => None,
    };
    let mut x = x0.to_vec();
    let mut fx = eval(f, &x, &th);
    let mut evaluations = 1;
    check_finite("residual at the initial guess", &fx)?;
    let mut iterations = 0;
    while inf_norm(&fx) > opts.tol {
        if iterations == opts.max_iter {
            return Err(Error::NotConverged {
                iterations,
                residual: inf_norm(&fx),
            });
        }
        let jac = factor_jacobian(f, &x, &th, sparse.as_ref())?;
        let mut dx: Vec<f64> = fx.iter().map(|v| -v).collect();
        jac.solve(&mut dx, false);
        check_finite("Newton step (singular Jacobian?)", &dx)?;
        let f0 = norm2(&fx);
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..=opts.max_backtracks {
            let xt: Vec<f64> = x.iter().zip(&dx).map(|(a, d)| a + t * d).collect();
            let ft = eval(f, &xt, &th);
            evaluations += 1;
            let nt = norm2(&ft);
            if nt.is_finite() && nt <= (1.0 - 1e-4 * t) * f0 {
                x = xt;
                fx = ft;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        iterations += 1;
        if !accepted {
            return Err(Error::LineSearchFailed {
                iteration: iterations,
                residual: inf_norm(&fx),
            });
        }
    }
    let report = Report {
        iterations,
        residual: inf_norm(&fx),
        evaluations,
    };
    if all_constant(theta) {
        return Ok((x.into_iter().map(S::cst).collect(), report));
    }
    let lu = Arc::new(factor_jacobian(f, &x, &th, sparse.as_ref())?);
    let mut out = vec![S::zero(); n];
    S::apply_block(
        Implicit {
            f: f.clone(),
            x,
            theta: th,
            lu,
        },
        theta,
        &mut out,
    );
    Ok((out, report))
}

/// The implicit-function block `theta -> x*(theta)`, built at the solution. Inputs `theta`,
/// outputs `x*`; the LU factors of `J = dF/dx` at `x*` serve both derivative passes.
struct Implicit<R> {
    f: R,
    x: Vec<f64>,
    theta: Vec<f64>,
    lu: Arc<Jacobian>,
}

impl<R: Residual + 'static> Block for Implicit<R> {
    type Residuals = ();

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.x);
    }

    /// `J^T lambda = x_bar`, `theta_bar -= (dF/dtheta)^T lambda` (a reverse sweep of `F`).
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> std::result::Result<(), BlockError> {
        let n = self.x.len();
        let mut lam = y_bar.to_vec();
        self.lu.solve(&mut lam, true);
        check_finite(crate::dense::ADJOINT, &lam)?;
        let tape = Tape::new();
        let th = tape.vars(&self.theta);
        let xs: Vec<ad_core::Var> = self.x.iter().map(|&v| ad_core::Var::constant(v)).collect();
        let mut out = vec![ad_core::Var::constant(0.0); n];
        self.f.residual(&xs, &th, &mut out);
        // a block inside the residual may fail: its error is this rule's
        let adj = tape.try_vjp(&out, &lam)?;
        for (tb, t) in x_bar.iter_mut().zip(&th) {
            *tb -= adj.wrt(*t);
        }
        Ok(())
    }

    /// `x_dot = -J^{-1} (dF/dtheta theta_dot)`.
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> std::result::Result<(), BlockError> {
        let n = self.x.len();
        let th: Vec<Dual<1>> = self
            .theta
            .iter()
            .zip(x_dot)
            .map(|(&v, &d)| Dual::new(v, [d]))
            .collect();
        let xs: Vec<Dual<1>> = self.x.iter().map(|&v| Dual::constant(v)).collect();
        let mut out = vec![Dual::<1>::constant(0.0); n];
        self.f.residual(&xs, &th, &mut out);
        for (y, o) in y_dot.iter_mut().zip(&out) {
            *y = -o.d[0];
        }
        self.lu.solve(y_dot, false);
        check_finite(crate::dense::TANGENT, y_dot)?;
        Ok(())
    }

    /// `x_dot = -F_x^{-1} (F_theta theta_dot)` on `T` at the solution on `T` (see
    /// `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        theta: &[T],
        x: &[T],
        theta_dot: &[T],
        x_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        crate::second_order::implicit_tangent(&self.f, x, theta, theta_dot, x_dot)?;
        Ok(())
    }
}
