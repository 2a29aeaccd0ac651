//! Fitting an ODE model's parameters (and optionally its initial state) to observations.
//!
//! A [`FitProblem`] holds an [`ode::OdeSystem`], the observation times and values, the ODE
//! solver options, and how the parameters are represented to the optimizer
//! ([`Transform::Log`] for positive parameters). It is an [`ad_core::Function`] (the residuals
//! `y_i(t_k; p) - data_k[i]`, generic over `Real`), so it goes straight into
//! [`least_squares`](fn@crate::least_squares) — with the Jacobian from forward sensitivities
//! (`Dual` through `ode::solve`) — and [`FitProblem::objective`] gives `minimize`'s objective
//! with the gradient from the ODE adjoint (`Var` through `ode::solve`, one block on the tape).
//! [`FitProblem::fit`] does either and adds the parameters' standard errors from the
//! Gauss-Newton covariance at the optimum. See docs/fitting.md.

use std::time::{Duration, Instant};

use ad_core::{Function, Real};
use ode::OdeSystem;

use crate::least_squares::{covariance, standard_errors};
use crate::{
    minimize_observed, Bounds, Error, LeastSquaresOptions, Observer, Options, Termination,
};

/// How a parameter is represented to the optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transform {
    /// The parameter itself.
    #[default]
    Identity,
    /// `p = exp(q)`: the optimizer works on `q = ln p`, which keeps `p > 0` and makes steps
    /// relative (useful for rate constants spanning orders of magnitude).
    Log,
}

impl Transform {
    fn to_model<S: Real>(self, q: S) -> S {
        match self {
            Transform::Identity => q,
            Transform::Log => q.exp(),
        }
    }
    fn to_optimizer(self, p: f64) -> f64 {
        match self {
            Transform::Identity => p,
            Transform::Log => p.ln(),
        }
    }
}

/// Observations `data[k][i]` of the state components `observed[i]` at `times[k]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Observations {
    /// Observation times (strictly increasing, after `t0`).
    pub times: Vec<f64>,
    /// `data[k][i]`: component `observed[i]` at `times[k]`.
    pub data: Vec<Vec<f64>>,
    /// Which state components are observed (all of them by default).
    pub observed: Vec<usize>,
}

impl Observations {
    /// Every state component observed at every time: `data[k]` is the full state at `times[k]`.
    pub fn full(times: Vec<f64>, data: Vec<Vec<f64>>) -> Self {
        let dim = data.first().map_or(0, |r| r.len());
        Observations {
            times,
            data,
            observed: (0..dim).collect(),
        }
    }
}

/// A parameter-fitting problem: minimise `sum_k sum_i (y_{observed[i]}(t_k; p, y0) - data[k][i])^2`.
#[derive(Clone, Debug)]
pub struct FitProblem<Sys> {
    sys: Sys,
    t0: f64,
    y0: Vec<f64>,
    obs: Observations,
    ode_options: ode::Options,
    transforms: Vec<Transform>,
    fit_initial_state: bool,
    bounds: Option<(Vec<f64>, Vec<f64>)>,
}

impl<Sys: OdeSystem + Clone + 'static> FitProblem<Sys> {
    /// A problem with the initial state `y0` at `t0` fixed, identity transforms, no bounds and
    /// `ode::Options::default()`. Checks the dimensions of `y0` and of the observations.
    ///
    /// Starting at an equilibrium (W6's start p = (1, 1, 1, 1), y0 = (1, 1) is one) needs no
    /// step-size cap: a differentiated `ode` solve's error test covers the sensitivities (or,
    /// for the adjoints, a probe tangent), so the gradient is that of an accurate solution.
    pub fn new(sys: Sys, t0: f64, y0: Vec<f64>, obs: Observations) -> Result<Self, Error> {
        let dim = sys.dim();
        if y0.len() != dim {
            return Err(Error::DimensionMismatch {
                what: "y0",
                expected: dim,
                got: y0.len(),
            });
        }
        if obs.times.is_empty() || obs.observed.is_empty() {
            return Err(Error::NoObservations {
                times: obs.times.len(),
                components: obs.observed.len(),
            });
        }
        for (index, &time) in obs.times.iter().enumerate() {
            let after = match index {
                0 => time >= t0,
                _ => time > obs.times[index - 1],
            };
            if !(time.is_finite() && after) {
                return Err(Error::InvalidTimes { index, time, t0 });
            }
        }
        if obs.data.len() != obs.times.len() {
            return Err(Error::DimensionMismatch {
                what: "observations (one row per time)",
                expected: obs.times.len(),
                got: obs.data.len(),
            });
        }
        if let Some(row) = obs.data.iter().find(|r| r.len() != obs.observed.len()) {
            return Err(Error::DimensionMismatch {
                what: "an observation row (one entry per observed component)",
                expected: obs.observed.len(),
                got: row.len(),
            });
        }
        if let Some(&i) = obs.observed.iter().find(|&&i| i >= dim) {
            return Err(Error::DimensionMismatch {
                what: "observed component index (must be < dim)",
                expected: dim,
                got: i,
            });
        }
        let n_params = sys.n_params();
        let ode_options = ode::Options::default();
        Ok(FitProblem {
            sys,
            t0,
            y0,
            obs,
            ode_options,
            transforms: vec![Transform::Identity; n_params],
            fit_initial_state: false,
            bounds: None,
        })
    }

    /// ODE solver options used by every solve of the fit.
    pub fn with_ode_options(mut self, opts: ode::Options) -> Self {
        self.ode_options = opts;
        self
    }

    /// The ODE options in use.
    pub fn ode_options(&self) -> &ode::Options {
        &self.ode_options
    }

    /// One transform per parameter (the initial state, if fitted, is untransformed).
    pub fn with_transforms(mut self, transforms: Vec<Transform>) -> Result<Self, Error> {
        if transforms.len() != self.sys.n_params() {
            return Err(Error::DimensionMismatch {
                what: "transforms",
                expected: self.sys.n_params(),
                got: transforms.len(),
            });
        }
        self.transforms = transforms;
        Ok(self)
    }

    /// The same transform for every parameter.
    pub fn with_transform(mut self, t: Transform) -> Self {
        self.transforms = vec![t; self.sys.n_params()];
        self
    }

    /// Also fit the initial state (the unknowns become `(p, y0)`; the `y0` given to
    /// [`FitProblem::new`] is then the starting guess).
    pub fn fit_initial_state(mut self, yes: bool) -> Self {
        self.fit_initial_state = yes;
        self
    }

    /// Bounds on the unknowns in the model's own units (`(p, y0)` if the initial state is
    /// fitted). With [`Transform::Log`] the lower bound must be positive (it is mapped to
    /// `ln lower`); a non-positive one means "no lower bound" there.
    pub fn with_bounds(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Result<Self, Error> {
        Bounds::new(lower.clone(), upper.clone())?;
        self.bounds = Some((lower, upper));
        Ok(self)
    }

    /// Number of unknowns: parameters, plus the state dimension if the initial state is fitted.
    pub fn n_unknowns(&self) -> usize {
        self.sys.n_params()
            + if self.fit_initial_state {
                self.sys.dim()
            } else {
                0
            }
    }

    /// Number of residuals.
    pub fn n_residuals(&self) -> usize {
        self.obs.times.len() * self.obs.observed.len()
    }

    /// Optimizer coordinates of model-unit unknowns `(p[, y0])`.
    pub fn to_optimizer(&self, unknowns: &[f64]) -> Vec<f64> {
        unknowns
            .iter()
            .enumerate()
            .map(|(j, &v)| self.transform(j).to_optimizer(v))
            .collect()
    }

    /// Model-unit unknowns `(p[, y0])` of optimizer coordinates.
    pub fn to_model(&self, theta: &[f64]) -> Vec<f64> {
        theta
            .iter()
            .enumerate()
            .map(|(j, &v)| self.transform(j).to_model(v))
            .collect()
    }

    fn transform(&self, j: usize) -> Transform {
        self.transforms.get(j).copied().unwrap_or_default()
    }

    /// The residuals at optimizer coordinates `theta`, or the solver's error.
    pub fn try_residuals<S: Real>(&self, theta: &[S]) -> Result<Vec<S>, ode::Error> {
        let model: Vec<S> = theta
            .iter()
            .enumerate()
            .map(|(j, &v)| self.transform(j).to_model(v))
            .collect();
        self.residuals_in_model_units(&model)
    }

    fn residuals_in_model_units<S: Real>(&self, u: &[S]) -> Result<Vec<S>, ode::Error> {
        let np = self.sys.n_params();
        let (p, y0): (&[S], Vec<S>) = if self.fit_initial_state {
            (&u[..np], u[np..].to_vec())
        } else {
            (u, self.y0.iter().map(|&v| S::cst(v)).collect())
        };
        let sol = ode::solve(
            &self.sys,
            &y0,
            p,
            self.t0,
            &self.obs.times,
            &self.ode_options,
        )?;
        if sol.y.len() < self.obs.times.len() {
            // a terminal event ended the solve before the last observation
            return Err(ode::Error::InvalidInput(format!(
                "a terminal event at t = {} ended the solve before the observation at t = {}",
                sol.events.last().map_or(f64::NAN, |h| h.t.value()),
                self.obs.times[sol.y.len()]
            )));
        }
        let mut r = Vec::with_capacity(self.n_residuals());
        for (yk, dk) in sol.y.iter().zip(&self.obs.data) {
            for (&i, &d) in self.obs.observed.iter().zip(dk) {
                r.push(yk[i] - d);
            }
        }
        Ok(r)
    }

    /// `minimize`'s objective over optimizer coordinates: `sum r^2` and its gradient by the ODE
    /// adjoint (reverse mode, the solve is one block on the tape). A failed solve gives NaN,
    /// which makes the line search shorten the step.
    pub fn objective(&self) -> impl FnMut(&[f64], &mut [f64]) -> f64 + '_ {
        move |theta, g| match self.loss_and_gradient(theta) {
            Ok((loss, grad)) => {
                g.copy_from_slice(&grad);
                loss
            }
            Err(_) => f64::NAN,
        }
    }

    /// `sum r^2` at optimizer coordinates `theta` and its gradient (ODE adjoint, one block on
    /// a fresh tape), or the solver's error: what [`FitProblem::objective`] returns, and one
    /// experiment's share of a [`MultiFit`](crate::MultiFit).
    pub fn loss_and_gradient(&self, theta: &[f64]) -> Result<(f64, Vec<f64>), ode::Error> {
        let tape = ad_core::Tape::new();
        let th = tape.vars(theta);
        let r = self.try_residuals(&th)?;
        let loss: ad_core::Var = r.iter().map(|v| *v * *v).sum();
        let adj = tape.gradient(loss);
        Ok((loss.value(), th.iter().map(|v| adj.wrt(*v)).collect()))
    }

    /// Adds everything that defines this problem's loss but the system (start time, initial
    /// state, observations, transforms, options, bounds) to `h`: what the ranks of a
    /// distributed fit compare.
    pub(crate) fn fingerprint(&self, h: &mut ode::distributed::Fingerprint) {
        h.f64(self.t0).f64s(&self.y0).f64s(&self.obs.times);
        for row in &self.obs.data {
            h.f64s(row);
        }
        h.str(&format!(
            "{:?} {:?} {:?} {:?} {:?}",
            self.obs.observed,
            self.transforms,
            self.fit_initial_state,
            self.bounds,
            self.ode_options
        ));
    }

    /// Fits from the model-unit starting guess `start` (`p`, or `(p, y0)` if the initial state
    /// is fitted) with the chosen method; the problem's bounds (if any) replace the method's.
    /// Errors if the start is invalid or the ODE solve fails there.
    pub fn fit(&self, start: &[f64], method: &FitMethod) -> Result<FitReport, Error> {
        self.fit_observed(start, method, &mut crate::observer::Silent)
    }

    /// [`FitProblem::fit`] with an [`Observer`] (e.g. [`Progress`](crate::Progress)).
    pub fn fit_observed(
        &self,
        start: &[f64],
        method: &FitMethod,
        observer: &mut dyn Observer,
    ) -> Result<FitReport, Error> {
        let t_start = Instant::now();
        let n = self.n_unknowns();
        if start.len() != n {
            return Err(Error::DimensionMismatch {
                what: "starting guess (parameters, then y0 if fitted)",
                expected: n,
                got: start.len(),
            });
        }
        crate::objective::check_start(start)?;
        let theta0 = self.to_optimizer(start);
        crate::objective::check_start(&theta0)?;
        self.try_residuals(&theta0)?;
        let bounds = self.optimizer_bounds()?;
        let (theta, termination, iterations, evaluations) = match method {
            FitMethod::Lbfgs(opts) => {
                let opts = match bounds {
                    Some(b) => opts.clone().with_box(b),
                    None => opts.clone(),
                };
                let r = minimize_observed(self.objective(), &theta0, &opts, observer)?;
                (r.x, r.termination, r.iterations, r.evaluations)
            }
            FitMethod::LevenbergMarquardt(opts) => {
                let mut opts = opts.clone();
                if let Some(b) = bounds {
                    opts.bounds = Some(b);
                }
                let r = crate::least_squares_observed(self, &theta0, &opts, observer)?;
                (
                    r.x,
                    r.termination,
                    r.iterations,
                    r.evaluations + r.jacobian_evaluations,
                )
            }
        };
        let unknowns = self.to_model(&theta);
        let residuals = self.try_residuals(&theta)?;
        let loss = residuals.iter().map(|v| v * v).sum();
        let (jac_residuals, jacobian) = ad_core::jacobian(&ModelUnits(self), &unknowns);
        let cov = covariance(&jacobian, &jac_residuals);
        let np = self.sys.n_params();
        Ok(FitReport {
            params: unknowns[..np].to_vec(),
            y0: if self.fit_initial_state {
                unknowns[np..].to_vec()
            } else {
                self.y0.clone()
            },
            loss,
            standard_errors: cov.as_ref().ok().map(|c| standard_errors(c)),
            covariance: cov,
            termination,
            iterations,
            evaluations,
            elapsed: t_start.elapsed(),
            unknowns,
        })
    }

    pub(crate) fn optimizer_bounds(&self) -> Result<Option<Bounds>, Error> {
        let Some((lo, hi)) = &self.bounds else {
            return Ok(None);
        };
        let n = self.n_unknowns();
        if lo.len() != n {
            return Err(Error::DimensionMismatch {
                what: "fit bounds",
                expected: n,
                got: lo.len(),
            });
        }
        let map = |j: usize, v: f64| match self.transform(j) {
            Transform::Log if v <= 0.0 => f64::NEG_INFINITY,
            t => t.to_optimizer(v),
        };
        let lo = lo.iter().enumerate().map(|(j, &v)| map(j, v)).collect();
        let hi = hi.iter().enumerate().map(|(j, &v)| map(j, v)).collect();
        Bounds::new(lo, hi).map(Some)
    }
}

/// Residuals over optimizer coordinates; a failed ODE solve gives NaN residuals.
impl<Sys: OdeSystem + Clone + 'static> Function for FitProblem<Sys> {
    fn eval<S: Real>(&self, theta: &[S]) -> Vec<S> {
        self.try_residuals(theta)
            .unwrap_or_else(|_| vec![S::cst(f64::NAN); self.n_residuals()])
    }
}

/// The residuals over model units, for the covariance.
struct ModelUnits<'a, Sys>(&'a FitProblem<Sys>);

impl<Sys: OdeSystem + Clone + 'static> Function for ModelUnits<'_, Sys> {
    fn eval<S: Real>(&self, u: &[S]) -> Vec<S> {
        self.0
            .residuals_in_model_units(u)
            .unwrap_or_else(|_| vec![S::cst(f64::NAN); self.0.n_residuals()])
    }
}

/// The optimizer used by [`FitProblem::fit`].
#[derive(Clone, Debug, PartialEq)]
pub enum FitMethod {
    /// [`minimize`](crate::minimize) on `sum r^2` (any of its methods), gradient by the ODE
    /// adjoint.
    Lbfgs(Options),
    /// [`least_squares`](fn@crate::least_squares) (Levenberg-Marquardt or Gauss-Newton), Jacobian by forward
    /// sensitivities.
    LevenbergMarquardt(LeastSquaresOptions),
}

impl Default for FitMethod {
    /// L-BFGS with gradient tolerance 1e-6 and 500 iterations (the W6 settings).
    fn default() -> Self {
        FitMethod::Lbfgs(Options::default().with_max_iterations(500))
    }
}

/// The result of [`FitProblem::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// The fitted parameters (model units).
    pub params: Vec<f64>,
    /// The initial state (fitted, or the fixed one).
    pub y0: Vec<f64>,
    /// All unknowns in model units: `params`, then `y0` if it was fitted.
    pub unknowns: Vec<f64>,
    /// `sum r^2` at the optimum.
    pub loss: f64,
    /// Standard errors of `unknowns` from the Gauss-Newton covariance (None if it is singular).
    pub standard_errors: Option<Vec<f64>>,
    /// `s^2 (J^T J)^{-1}` over `unknowns` in model units, or why it is undefined.
    pub covariance: Result<Vec<Vec<f64>>, Error>,
    /// Why the optimizer stopped.
    pub termination: Termination,
    /// Optimizer iterations.
    pub iterations: usize,
    /// Objective (L-BFGS: value + gradient) or residual + Jacobian (LM) evaluations.
    pub evaluations: usize,
    /// Wall time, including the final covariance.
    pub elapsed: Duration,
}
