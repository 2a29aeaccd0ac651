//! Nonlinear least squares: minimise `sum_i r_i(theta)^2` by Levenberg-Marquardt (More's
//! trust-region form with scaling, More 1978) or Gauss-Newton with a backtracking line search.
//!
//! The residuals are an [`ad_core::Function`] — written once, generic over [`Real`](crate::Real) —
//! and the Jacobian comes from [`ad_core::jacobian`], which uses forward mode when there are
//! at most as many parameters as residuals (the usual fitting case) and reverse mode
//! otherwise.

mod gauss_newton;
mod lm;
mod qr;

use std::time::{Duration, Instant};

use ad_core::Function;

use crate::bounds::projected_grad_norm;
use crate::objective::{check_bounds, check_start};
use crate::observer::{Observer, Silent};
use crate::options::non_negative;
use crate::{Bounds, Error, Termination};
use qr::Qr;

/// The least-squares method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LeastSquaresMethod {
    /// Levenberg-Marquardt, More's trust-region form with adaptive column scaling (MINPACK's
    /// `lmder`). Robust from poor starts; the default.
    #[default]
    LevenbergMarquardt,
    /// Gauss-Newton steps (`J p = -r` in the least-squares sense, by QR) with an Armijo
    /// backtracking search on `|r|^2`. Fast near a small-residual solution.
    GaussNewton,
}

/// Options of [`least_squares`]; `with_*` setters validate like [`Options`](crate::Options)'s.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquaresOptions {
    pub(crate) method: LeastSquaresMethod,
    pub(crate) grad_tol: f64,
    pub(crate) f_tol: f64,
    pub(crate) x_tol: f64,
    pub(crate) max_iterations: usize,
    pub(crate) max_evaluations: usize,
    pub(crate) bounds: Option<Bounds>,
    pub(crate) initial_trust_factor: f64,
}

impl Default for LeastSquaresOptions {
    /// Levenberg-Marquardt; gradient tolerance 1e-10 (max-norm of the projected gradient of
    /// `sum r^2`), `f_tol` 1e-14 (relative actual and predicted reduction), `x_tol` 1e-14
    /// (trust radius relative to `|D x|`), 200 iterations (Jacobians), 2000 residual
    /// evaluations, initial trust radius 100 `|D x0|` (MINPACK's `factor`).
    fn default() -> Self {
        LeastSquaresOptions {
            method: LeastSquaresMethod::LevenbergMarquardt,
            grad_tol: 1e-10,
            f_tol: 1e-14,
            x_tol: 1e-14,
            max_iterations: 200,
            max_evaluations: 2000,
            bounds: None,
            initial_trust_factor: 100.0,
        }
    }
}

impl LeastSquaresOptions {
    /// The method.
    pub fn with_method(mut self, method: LeastSquaresMethod) -> Self {
        self.method = method;
        self
    }
    /// Stop when the max-norm of the projected gradient `2 J^T r` is `<= tol`.
    pub fn with_grad_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("grad_tol", tol)?;
        self.grad_tol = tol;
        Ok(self)
    }
    /// Stop when both the actual and the predicted relative reduction of `|r|^2` are `<= tol`.
    pub fn with_f_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("f_tol", tol)?;
        self.f_tol = tol;
        Ok(self)
    }
    /// Stop when the trust radius (LM) or the step (GN) is `<= tol` relative to the scaled `x`.
    pub fn with_x_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("x_tol", tol)?;
        self.x_tol = tol;
        Ok(self)
    }
    /// Most iterations (one Jacobian each).
    pub fn with_max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }
    /// Most residual evaluations.
    pub fn with_max_evaluations(mut self, n: usize) -> Self {
        self.max_evaluations = n;
        self
    }
    /// Box bounds (validated as in [`Bounds::new`]); LM and GN steps are projected onto the
    /// box.
    pub fn with_bounds(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Result<Self, Error> {
        self.bounds = Some(Bounds::new(lower, upper)?);
        Ok(self)
    }
    /// The initial trust radius is `factor * |D x0|` (or `factor` if that is zero); > 0.
    pub fn with_initial_trust_factor(mut self, factor: f64) -> Result<Self, Error> {
        if !(factor > 0.0 && factor.is_finite()) {
            return Err(Error::InvalidOption {
                name: "initial_trust_factor",
                value: factor,
                reason: "must be positive and finite",
            });
        }
        self.initial_trust_factor = factor;
        Ok(self)
    }
    /// The method.
    pub fn method(&self) -> LeastSquaresMethod {
        self.method
    }
    /// The bounds, if any.
    pub fn bounds(&self) -> Option<&Bounds> {
        self.bounds.as_ref()
    }
}

/// The result of [`least_squares`].
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquaresReport {
    /// The final parameters.
    pub x: Vec<f64>,
    /// `sum_i r_i(x)^2` (no factor 1/2, the same objective [`minimize`](crate::minimize) would
    /// be given).
    pub value: f64,
    /// Max-norm of the projected gradient `2 J^T r`.
    pub grad_norm: f64,
    /// Iterations (Jacobian evaluations after the first).
    pub iterations: usize,
    /// Residual evaluations (the Jacobian evaluations also give the residuals and are not
    /// counted here).
    pub evaluations: usize,
    /// Jacobian evaluations.
    pub jacobian_evaluations: usize,
    /// Why it stopped.
    pub termination: Termination,
    /// The residuals at `x`.
    pub residuals: Vec<f64>,
    /// The Jacobian at `x`, one row per residual.
    pub jacobian: Vec<Vec<f64>>,
    /// Wall time.
    pub elapsed: Duration,
}

impl LeastSquaresReport {
    /// The Gauss-Newton estimate of the parameters' covariance, `s^2 (J^T J)^{-1}` with
    /// `s^2 = |r|^2 / (m - n)`; see [`covariance`].
    pub fn covariance(&self) -> Result<Vec<Vec<f64>>, Error> {
        covariance(&self.jacobian, &self.residuals)
    }

    /// Standard errors: square roots of the covariance's diagonal.
    pub fn standard_errors(&self) -> Result<Vec<f64>, Error> {
        Ok(standard_errors(&self.covariance()?))
    }
}

/// The Gauss-Newton (asymptotic) covariance of least-squares parameters at an optimum,
/// `s^2 (J^T J)^{-1}` with `s^2 = |r|^2 / (m - n)`: valid for independent residuals of equal
/// variance near the optimum. `jacobian` has one row per residual. Computed through a QR of `J`
/// (`(J^T J)^{-1} = R^{-1} R^{-T}`), so it does not square the condition number.
///
/// Errors if `J^T J` is singular (a parameter is not identifiable) or `m <= n`.
///
/// ```
/// // y = a + b t fitted to 3 points: covariance of (a, b).
/// let jac = vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]];
/// let cov = optim::least_squares::covariance(&jac, &[0.1, -0.2, 0.1]).unwrap();
/// assert!((cov[1][1] - 0.06 / 2.0).abs() < 1e-12); // s^2 = 0.06, (J^T J)^{-1}_bb = 1/2
/// ```
pub fn covariance(jacobian: &[Vec<f64>], residuals: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
    let m = jacobian.len();
    let n = jacobian.first().map_or(0, |r| r.len());
    if residuals.len() != m {
        return Err(Error::DimensionMismatch {
            what: "residuals",
            expected: m,
            got: residuals.len(),
        });
    }
    if m <= n || n == 0 {
        return Err(Error::TooFewResiduals {
            residuals: m,
            parameters: n,
        });
    }
    let s2 = residuals.iter().map(|r| r * r).sum::<f64>() / (m - n) as f64;
    let qr = Qr::new(column_major(jacobian, m, n, None), m, n);
    if let Some(pivot) = qr.rank_deficiency() {
        return Err(Error::SingularJacobian { pivot });
    }
    // Columns of R^{-T}: solve R^T w_j = e_j; then (J^T J)^{-1} = W^T W with W = R^{-T}.
    let mut w = vec![vec![0.0; n]; n];
    let mut e = vec![0.0; n];
    for (j, wj) in w.iter_mut().enumerate() {
        e[j] = 1.0;
        qr.solve_rt(&e, wj);
        e[j] = 0.0;
    }
    let mut cov = vec![vec![0.0; n]; n];
    for a in 0..n {
        for b in 0..n {
            cov[a][b] = s2 * (0..n).map(|k| w[a][k] * w[b][k]).sum::<f64>();
        }
    }
    Ok(cov)
}

/// Square roots of a covariance matrix's diagonal.
pub fn standard_errors(cov: &[Vec<f64>]) -> Vec<f64> {
    cov.iter()
        .enumerate()
        .map(|(i, r)| r[i].max(0.0).sqrt())
        .collect()
}

/// `J` (row-major rows) into a column-major buffer with `extra` zero rows appended (or the
/// rows of `diag(d)` scaled when given).
pub(crate) fn column_major(jac: &[Vec<f64>], m: usize, n: usize, diag: Option<&[f64]>) -> Vec<f64> {
    let rows = if diag.is_some() { m + n } else { m };
    let mut a = vec![0.0; rows * n];
    for (i, row) in jac.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            a[j * rows + i] = *v;
        }
    }
    if let Some(d) = diag {
        for j in 0..n {
            a[j * rows + m + j] = d[j];
        }
    }
    a
}

/// What the least-squares methods need of a model: residuals, and residuals with the Jacobian.
pub(crate) trait Model {
    fn residuals(&mut self, x: &[f64]) -> Vec<f64>;
    fn jacobian(&mut self, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>);
}

struct FunctionModel<'a, F>(&'a F);

impl<F: Function> Model for FunctionModel<'_, F> {
    fn residuals(&mut self, x: &[f64]) -> Vec<f64> {
        self.0.eval(x)
    }
    fn jacobian(&mut self, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
        ad_core::jacobian(self.0, x)
    }
}

/// Minimises `sum_i r_i(x)^2` from `x0`, where `r = residuals.eval(x)`.
///
/// ```
/// use optim::{least_squares, LeastSquaresOptions, Function, Real};
///
/// /// Exponential decay y = a exp(-k t) against data.
/// struct Decay { t: Vec<f64>, y: Vec<f64> }
/// impl Function for Decay {
///     fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
///         self.t.iter().zip(&self.y).map(|(&t, &y)| p[0] * (-p[1] * t).exp() - y).collect()
///     }
/// }
/// let t: Vec<f64> = (0..20).map(|i| 0.25 * i as f64).collect();
/// let y = t.iter().map(|t| 2.0 * (-0.7 * t).exp()).collect();
/// let report = least_squares(&Decay { t, y }, &[1.0, 1.0], &LeastSquaresOptions::default())?;
/// assert!((report.x[0] - 2.0).abs() < 1e-8 && (report.x[1] - 0.7).abs() < 1e-8);
/// # Ok::<(), optim::Error>(())
/// ```
pub fn least_squares<F: Function>(
    residuals: &F,
    x0: &[f64],
    opts: &LeastSquaresOptions,
) -> Result<LeastSquaresReport, Error> {
    least_squares_observed(residuals, x0, opts, &mut Silent)
}

/// [`least_squares`] with an [`Observer`] called after every iteration (and at the start);
/// [`Iteration::step_length`](crate::Iteration::step_length) carries the LM parameter lambda.
pub fn least_squares_observed<F: Function>(
    residuals: &F,
    x0: &[f64],
    opts: &LeastSquaresOptions,
    observer: &mut dyn Observer,
) -> Result<LeastSquaresReport, Error> {
    run_model(&mut FunctionModel(residuals), x0, opts, observer)
}

pub(crate) fn run_model(
    model: &mut dyn Model,
    x0: &[f64],
    opts: &LeastSquaresOptions,
    observer: &mut dyn Observer,
) -> Result<LeastSquaresReport, Error> {
    let start = Instant::now();
    check_start(x0)?;
    check_bounds(opts.bounds.as_ref(), x0.len())?;
    let mut x = x0.to_vec();
    crate::bounds::project(opts.bounds.as_ref(), &mut x);
    let (r, jac) = model.jacobian(&x);
    if let Some(index) = r.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteResidual {
            what: "residual",
            index,
            value: r[index],
        });
    }
    let n = x.len();
    for (i, row) in jac.iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteResidual {
                what: "Jacobian entry",
                index: i * n + j,
                value: row[j],
            });
        }
    }
    let state = State {
        x,
        r,
        jac,
        evaluations: 0,
        jacobian_evaluations: 1,
        iterations: 0,
        start,
    };
    match opts.method {
        LeastSquaresMethod::LevenbergMarquardt => lm::run(model, state, opts, observer),
        LeastSquaresMethod::GaussNewton => gauss_newton::run(model, state, opts, observer),
    }
}

/// The current point of a least-squares run.
pub(crate) struct State {
    pub x: Vec<f64>,
    pub r: Vec<f64>,
    pub jac: Vec<Vec<f64>>,
    pub evaluations: usize,
    pub jacobian_evaluations: usize,
    pub iterations: usize,
    pub start: Instant,
}

impl State {
    pub fn value(&self) -> f64 {
        self.r.iter().map(|v| v * v).sum()
    }

    /// `2 J^T r`, the gradient of `sum r^2`.
    pub fn gradient(&self) -> Vec<f64> {
        let mut g = vec![0.0; self.x.len()];
        for (row, ri) in self.jac.iter().zip(&self.r) {
            for (gj, jij) in g.iter_mut().zip(row) {
                *gj += 2.0 * jij * ri;
            }
        }
        g
    }

    /// The Jacobian with the columns of held components (at a bound, gradient pointing out of
    /// the box) zeroed, so the step leaves them where they are.
    pub fn free_jacobian(&self, b: Option<&Bounds>) -> std::borrow::Cow<'_, [Vec<f64>]> {
        if b.is_none() {
            return std::borrow::Cow::Borrowed(&self.jac);
        }
        let g = self.gradient();
        let held: Vec<bool> = (0..self.x.len())
            .map(|i| crate::bounds::is_held(b, &self.x, &g, i))
            .collect();
        let mut jac = self.jac.clone();
        for row in &mut jac {
            for (v, h) in row.iter_mut().zip(&held) {
                if *h {
                    *v = 0.0;
                }
            }
        }
        std::borrow::Cow::Owned(jac)
    }

    pub fn grad_norm(&self, b: Option<&Bounds>) -> f64 {
        projected_grad_norm(b, &self.x, &self.gradient())
    }

    pub fn iteration(&self, b: Option<&Bounds>, step: f64, lambda: f64) -> crate::Iteration<'_> {
        crate::Iteration {
            iteration: self.iterations,
            value: self.value(),
            grad_norm: self.grad_norm(b),
            step,
            step_length: lambda,
            evaluations: self.evaluations,
            elapsed: self.start.elapsed(),
            x: &self.x,
        }
    }

    pub fn finish(self, b: Option<&Bounds>, termination: Termination) -> LeastSquaresReport {
        LeastSquaresReport {
            value: self.value(),
            grad_norm: self.grad_norm(b),
            iterations: self.iterations,
            evaluations: self.evaluations,
            jacobian_evaluations: self.jacobian_evaluations,
            termination,
            elapsed: self.start.elapsed(),
            x: self.x,
            residuals: self.r,
            jacobian: self.jac,
        }
    }
}
