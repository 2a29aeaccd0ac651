//! Variable-order (1-5), variable-step BDF in the NDF form of Shampine & Reichelt (1997, the
//! method of MATLAB's `ode15s` and SciPy's `BDF`), with modified divided differences.
//!
//! The state is the array `D` of modified backward differences of the solution on the
//! current step size (`D[0] = y_n`, `D[j] = ∇^j y_n`); a step-size change by a factor `r`
//! rescales it exactly with `D <- (R(r) U)^T D` (the interpolating polynomial through the
//! past values re-sampled on the new grid). One step of order `k` solves
//! `(1 - κ_k) γ_k (y - y_pred) - h f(y) + Σ_{j=1..k} γ_j ∇^j y_n = 0` with the predictor
//! `y_pred = Σ_{j=0..k} D[j]` by modified Newton ([`super::newton`]). The local error is
//! `(κ_k γ_k + 1/(k+1)) d` with `d = y - y_pred`; the order changes by at most one after
//! `k + 1` steps of the same size, to the order whose error estimate allows the largest step.
//! The solution between steps is the interpolating polynomial `D` (dense output), so steps are
//! never shortened to hit save times. The Jacobian is reused across steps and refreshed only
//! after a Newton failure (or when older than [`JAC_MAX_AGE`] steps); the iteration matrix is
//! refactorised when `c = h / α_k` changes (large systems: by more than 30%, CVODE's rule).
//!
//! With sensitivities, the `n x m` matrix `S = ∂y/∂(y0, p)` is carried in the same difference
//! array (columns `n..` of each row), follows the same steps and orders, and its corrector is
//! solved once per accepted step with the Jacobian at the converged state
//! ([`super::newton::sens_direct`]). With [`Keep::Log`] the solve logs what the discrete
//! adjoint ([`super::discrete`]) needs to transpose that linear map: per accepted step its
//! time, size, order and converged state, and every rescaling of `D`.
//!
//! The error test covers the sensitivities as well as the state (CVODES' `errconS`): their
//! corrector is solved before the test, and the test takes the largest of the state's and each
//! column's weighted norms. The forward solves of the adjoints ([`Keep::Log`], [`Keep::Polys`])
//! carry one probe column along the fixed direction of
//! [`probe_direction`](crate::sensitivity::probe_direction) for the same purpose (a solve that
//! starts at an equilibrium would otherwise take steps whose exact derivative is far from the
//! ODE's); plain solves carry none and take the same steps as before.
//!
//! The method is a [`BdfStepper`] ([`Stepper`]): the struct below holds the state machine
//! (differences, order, step size, Jacobian and factorisation ages, failure counters), and
//! [`attempt`] the stages of one step attempt (predictor, Newton corrector, error test,
//! acceptance, order and step-size selection). [`integrate`] is the save loop over it.

mod attempt;
mod parts;
mod snapshot;

pub(crate) use snapshot::Snapshot;

use parts::{Linear, Scratch};

use std::sync::Arc;

use crate::error::Error;
use crate::options::{Method, Options};
use crate::sensitivity::probe_direction;
use crate::solution::Stats;
use crate::stepper::{
    check_can_step, check_interpolation, check_reset, check_stop_time, initial_saves, save_loop,
    Step, Stepper,
};
use crate::system::OdeSystem;

use super::differences::{change_d, coefs, interpolate, Coefs, StepPoly, MAX_ORDER};
use super::discrete::StepLog;
use super::jacobian::{dense_jacobian, sens_rhs};
use super::newton::directional_rhs;
use super::sparse::SparseJacobian;
use super::{initial_step, StiffOutput, StiffStats};

/// The Jacobian is re-evaluated at the next factorisation once it is this many steps old.
pub(crate) const JAC_MAX_AGE: usize = 50;
/// The iteration matrix of a large system is refactorised when `c = h / α_k` moved more than
/// this fraction.
const MAX_C_CHANGE: f64 = 0.3;

/// The Jacobian at `(t, y)`: on the sparse pattern if there is one, else dense; returns the
/// number of evaluations.
fn eval_jac<Sys: OdeSystem>(
    sys: &Sys,
    sparse: Option<&SparseJacobian>,
    t: f64,
    y: &[f64],
    p: &[f64],
    jac: &mut [f64],
) -> usize {
    match sparse {
        Some(sj) => sj.values(sys, t, y, p, jac),
        None => dense_jacobian(sys, t, y, p, jac),
    }
}

/// What a forward solve keeps for a derivative pass besides the saved states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Nothing (plain solves, forward sensitivities).
    Nothing,
    /// The polynomial of every accepted step ([`StepPoly`], for the continuous adjoint).
    Polys,
    /// The step log of the discrete adjoint ([`StepLog`]: per accepted step its time, size,
    /// order and converged state; every rescaling of the differences).
    Log,
}

/// [`change_d`], recorded in the step log if there is one (the discrete adjoint replays the
/// rescalings transposed).
fn rescale(
    d: &mut [f64],
    w: usize,
    order: usize,
    factor: f64,
    tmp: &mut [f64],
    log: &mut Option<StepLog>,
) {
    change_d(d, w, order, factor, tmp);
    if let Some(l) = log {
        l.rescales.push((order, factor));
    }
}

/// Why the last attempt failed (for the error reported when the step size underflows).
#[derive(Clone, Copy, PartialEq)]
enum Failure {
    None,
    Convergence,
    Singular,
    ErrorTest,
}

/// Variable-order BDF/NDF ([`Method::Bdf`]) stepping `y' = f(t, y, p)` on `f64`, with its
/// modified-Newton corrector, reused Jacobian and the interpolating polynomial of the last
/// step as dense output.
pub struct BdfStepper<'a, Sys> {
    sys: &'a Sys,
    opts: &'a Options,
    p: Vec<f64>,
    /// States.
    n: usize,
    /// Sensitivity columns (0 without sensitivities).
    m: usize,
    /// Tangent columns carried (the sensitivities, or one probe column).
    cols: usize,
    /// Tangent columns the error test covers.
    err_cols: usize,
    /// Row width `n (1 + cols)`.
    w: usize,
    /// The probe's parameter direction (probe solves only).
    v_p: Vec<f64>,
    keep: Keep,
    co: Coefs,
    atol: Vec<f64>,
    newton_tol: f64,
    t: f64,
    /// The start of the last accepted step.
    t_prev: f64,
    /// The step size of the differences (the last step's until the next step chooses).
    h: f64,
    /// The size of the last accepted step (0 before the first).
    h_last: f64,
    order: usize,
    /// Steps taken with the current size and order.
    n_equal: usize,
    t_stop: Option<f64>,
    /// The modified differences, rows `0..MAX_ORDER + 3` of width `w`; row 0 is the state.
    d: Vec<f64>,
    tmp: Vec<f64>,
    /// `f(t, y)` at a (re)start, until the first step sets up the differences.
    f0: Vec<f64>,
    /// The differences hold only the state: the next step sets up row 1 (a (re)start).
    fresh: bool,
    /// After an accepted step: its step-size safety factor and error norm; the order and step-size choice
    /// waits for the next step so that the dense output of this one stays available.
    pending: Option<(f64, f64)>,
    lin: Linear,
    /// Attempts, accepted and rejected (bounded by `opts.max_steps`).
    attempts: usize,
    conv_fails: usize,
    err_fails: usize,
    last_failure: Failure,
    sc: Scratch,
    stats: Stats,
    stiff: StiffStats,
    log: Option<StepLog>,
    trace: Vec<StepPoly>,
}

impl<'a, Sys: OdeSystem> BdfStepper<'a, Sys> {
    /// Starts at `(t0, y0)` with parameters `p` (`opts.method` must be [`Method::Bdf`]);
    /// evaluates `f(t0, y0)` and, for a large sparse system, detects the Jacobian's pattern.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] and [`Error::InvalidInput`] for bad inputs or options,
    /// [`Error::NonFinite`] for a non-finite `y0` or `f(t0, y0)`.
    pub fn new(
        sys: &'a Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        opts: &'a Options,
    ) -> Result<Self, Error> {
        crate::solve::check_inputs(sys, y0.len(), p.len(), t0, &[], opts)?;
        if opts.method != Method::Bdf {
            return Err(Error::InvalidInput(format!(
                "BdfStepper needs Method::Bdf, got {:?}",
                opts.method
            )));
        }
        Self::start(sys, y0, p, t0, opts, 0, Keep::Nothing, None)
    }

    /// The first row `(y0, S0)` of a solve with `m` sensitivity columns (`S0 = [I | 0]`) or,
    /// for the adjoints' forward solves (`probe`), one probe column; and the probe's parameter
    /// direction.
    pub(crate) fn first_row(y0: &[f64], p: &[f64], m: usize, probe: bool) -> (Vec<f64>, Vec<f64>) {
        let n = y0.len();
        let cols = if probe { 1 } else { m };
        let mut row = vec![0.0; n * (1 + cols)];
        row[..n].copy_from_slice(y0);
        for i in 0..m.min(n) {
            row[n + i * m + i] = 1.0;
        }
        let mut v_p = Vec::new();
        if probe {
            let x: Vec<f64> = y0.iter().chain(p).copied().collect();
            let v = probe_direction(&x);
            row[n..].copy_from_slice(&v[..n]);
            v_p = v[n..].to_vec();
        }
        (row, v_p)
    }

    /// Starts from the row `(y0, S0)` of [`BdfStepper::first_row`] (inputs checked by the
    /// caller): `m` sensitivity columns, or a probe column when `keep` asks for a derivative
    /// pass; `log` is the discrete adjoint's log (with [`Keep::Log`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        sys: &'a Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        opts: &'a Options,
        m: usize,
        keep: Keep,
        log: Option<StepLog>,
    ) -> Result<Self, Error> {
        let n = sys.dim();
        let mut st = Self::build(sys, y0, p, t0, opts, m, keep, log)?;
        // large sparse systems (no sensitivities): detected pattern, colouring, sparse LU
        let sparse = if m == 0 {
            SparseJacobian::detect(sys, t0, &st.d[..n], p).map(Arc::new)
        } else {
            None
        };
        if let Some(sj) = &sparse {
            st.stiff.jac_rhs_evals += sj.detect_evals;
        }
        st.use_pattern(sparse);
        Ok(st)
    }

    /// A stepper that repeats the steps of the forward solve that wrote `log` (started by
    /// [`BdfStepper::start`] with the same inputs and [`Keep::Log`]), from its start or from a
    /// [`Snapshot`]: the same first row and the same sparsity pattern, without detecting it
    /// again; its own log (with the same budget) records the repeated steps.
    pub(crate) fn replayer(
        sys: &'a Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        opts: &'a Options,
        log: &StepLog,
    ) -> Result<Self, Error> {
        let mut st = Self::build(sys, y0, p, t0, opts, 0, Keep::Log, Some(log.emptied()))?;
        st.use_pattern(log.sparse.clone());
        Ok(st)
    }

    /// The stepper at `(t0, row)` without a sparsity pattern.
    #[allow(clippy::too_many_arguments)]
    fn build(
        sys: &'a Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        opts: &'a Options,
        m: usize,
        keep: Keep,
        log: Option<StepLog>,
    ) -> Result<Self, Error> {
        let n = sys.dim();
        let probe = m == 0 && keep != Keep::Nothing;
        let (row, v_p) = if y0.len() == n {
            Self::first_row(y0, p, m, probe)
        } else {
            (y0.to_vec(), Self::first_row(&y0[..n], p, m, probe).1)
        };
        let cols = if probe { 1 } else { m };
        let w = n * (1 + cols);
        let mut d = vec![0.0; (MAX_ORDER + 3) * w];
        d[..w].copy_from_slice(&row);
        let rtol = opts.rtol;
        let mut st = BdfStepper {
            sys,
            opts,
            p: p.to_vec(),
            n,
            m,
            cols,
            err_cols: if opts.derivative_error_control {
                cols
            } else {
                0
            },
            w,
            v_p,
            keep,
            co: coefs(),
            atol: (0..n).map(|i| opts.atol_at(i)).collect(),
            newton_tol: (10.0 * f64::EPSILON / rtol.max(1e-300)).max(0.03f64.min(rtol.sqrt())),
            t: t0,
            t_prev: t0,
            h: 0.0,
            h_last: 0.0,
            order: 1,
            n_equal: 0,
            t_stop: None,
            tmp: vec![0.0; d.len()],
            d,
            f0: vec![0.0; n],
            fresh: true,
            pending: None,
            lin: Linear::new(n, m),
            attempts: 0,
            conv_fails: 0,
            err_fails: 0,
            last_failure: Failure::None,
            sc: Scratch::new(n, w),
            stats: Stats::default(),
            stiff: StiffStats::default(),
            log,
            trace: Vec::new(),
        };
        st.restart(t0)?;
        Ok(st)
    }

    /// Uses the sparsity pattern `sparse` (sparse LU of the iteration matrix) or the dense
    /// Jacobian (`None`), and chooses when to refactorise.
    fn use_pattern(&mut self, sparse: Option<Arc<SparseJacobian>>) {
        if let Some(sj) = &sparse {
            self.stiff.jacobian_nnz = sj.nnz();
            self.stiff.jacobian_colours = sj.n_colours();
            self.lin.jac = vec![0.0; sj.nnz()];
        }
        // small dense systems refactorise on every change of c (an LU is cheaper than the
        // extra Newton iterations of a stale one)
        self.lin.max_c_change = if sparse.is_some() || self.n > 24 {
            MAX_C_CHANGE
        } else {
            0.0
        };
        self.lin.sparse = sparse;
    }

    /// Starts again at `t` from the state in row 0 of the differences: order 1, no Jacobian,
    /// `f(t, y)` evaluated; the first step chooses its size and sets up the differences.
    fn restart(&mut self, t: f64) -> Result<(), Error> {
        let n = self.n;
        if let Some(c) = self.d[..n].iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { t, component: c });
        }
        self.sys.rhs(t, &self.d[..n], &self.p, &mut self.f0);
        self.stats.rhs_evals += 1;
        if let Some(c) = self.f0.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { t, component: c });
        }
        self.d[self.w..].iter_mut().for_each(|v| *v = 0.0);
        self.t = t;
        self.t_prev = t;
        self.h_last = 0.0;
        self.order = 1;
        self.n_equal = 0;
        self.fresh = true;
        self.pending = None;
        self.lin.age = usize::MAX;
        self.lin.current = false;
        self.lin.lu = None;
        self.lin.lu_c = f64::NAN;
        self.conv_fails = 0;
        self.err_fails = 0;
        self.last_failure = Failure::None;
        Ok(())
    }

    /// The first step of a (re)start: its size (`opts.h0` or the estimate over the span to
    /// the stop time) and the differences `D[1] = h f(t, y)` (and the tangents' rows).
    fn init_differences(&mut self) {
        let (n, w, t) = (self.n, self.w, self.t);
        let span = self.t_stop.map_or(f64::INFINITY, |ts| ts - t);
        let h = match self.opts.h0 {
            Some(h0) => h0,
            None => {
                self.stats.rhs_evals += 1;
                initial_step(
                    self.sys,
                    t,
                    &self.d[..n],
                    &self.f0,
                    &self.p,
                    1.0,
                    self.opts,
                    span,
                )
            }
        }
        .min(self.opts.h_max);
        if let Some(l) = &mut self.log {
            l.h_init = h;
        }
        for i in 0..n {
            self.d[w + i] = h * self.f0[i];
        }
        let row: Vec<f64> = self.d[..w].to_vec();
        if self.m > 0 {
            let mut g = vec![0.0; n * self.m];
            self.stiff.sens_rhs_evals +=
                sens_rhs(self.sys, t, &row[..n], &self.p, &row[n..], &mut g);
            for (dst, v) in self.d[w + n..2 * w].iter_mut().zip(&g) {
                *dst = h * v;
            }
        } else if self.cols == 1 {
            let mut g = vec![0.0; n];
            directional_rhs(
                self.sys,
                t,
                &row[..n],
                &row[n..],
                &self.p,
                &self.v_p,
                &mut g,
            );
            self.stiff.sens_rhs_evals += 1;
            for (dst, v) in self.d[w + n..2 * w].iter_mut().zip(&g) {
                *dst = h * v;
            }
        }
        self.h = h;
        self.fresh = false;
    }

    /// The stiff counters so far (Jacobians, factorisations, Newton iterations).
    pub fn stiff_stats(&self) -> StiffStats {
        self.stiff
    }

    /// Moves the counters and what was kept for a derivative pass into `out`.
    pub(crate) fn finish(self, out: &mut StiffOutput) {
        out.stats = self.stats;
        out.stiff = self.stiff;
        out.trace = self.trace;
        out.log = self.log.map(|mut l| {
            l.sparse = self.lin.sparse;
            l
        });
    }
}

impl<Sys: OdeSystem> Stepper for BdfStepper<'_, Sys> {
    type Scalar = f64;

    fn t(&self) -> f64 {
        self.t
    }

    // the last accepted step's size, not the field `h` (the next step's size)
    #[allow(clippy::misnamed_getters)]
    fn h(&self) -> f64 {
        self.h_last
    }

    /// The state (with the sensitivity or probe columns after it in a derivative solve).
    fn state(&self) -> &[f64] {
        &self.d[..self.w]
    }

    fn step(&mut self) -> Result<Step, Error> {
        check_can_step(self.t, self.t_stop)?;
        if let Some((safety, error_norm)) = self.pending.take() {
            self.t_prev = self.t;
            self.select_order_and_size(safety, error_norm);
        }
        if self.fresh {
            self.init_differences();
        }
        loop {
            let (t_new, last) = self.next_attempt()?;
            let c = self.predict();
            let (converged, iters) = self.newton(t_new, c);
            if !converged {
                self.convergence_failure()?;
                continue;
            }
            let safety = 0.9 * (2 * super::newton::NEWTON_MAXITER + 1) as f64
                / (2 * super::newton::NEWTON_MAXITER + iters) as f64;
            let error_norm = self.error_norm(t_new, c)?;
            if error_norm.is_nan() || error_norm > 1.0 {
                self.error_test_failure(error_norm, safety)?;
                continue;
            }
            let t_prev = self.t;
            self.accept(t_new);
            self.pending = Some((safety, error_norm));
            return Ok(Step {
                t_prev,
                t: t_new,
                reached_stop: last,
            });
        }
    }

    /// `out` has the state's length, or the row's with the tangent columns.
    fn interpolate(&self, ts: f64, out: &mut [f64]) -> Result<(), Error> {
        let n = if out.len() == self.w { self.w } else { self.n };
        check_interpolation(self.t_prev, self.t, ts, n, out.len())?;
        if self.pending.is_none() {
            out.copy_from_slice(&self.d[..n]);
        } else if n == self.w {
            interpolate(&self.d, self.w, self.order, self.t, self.h, ts, out);
        } else {
            let mut row = vec![0.0; self.w];
            interpolate(&self.d, self.w, self.order, self.t, self.h, ts, &mut row);
            out.copy_from_slice(&row[..n]);
        }
        Ok(())
    }

    fn set_stop_time(&mut self, t_stop: f64) -> Result<(), Error> {
        check_stop_time(self.t, t_stop)?;
        self.t_stop = Some(t_stop);
        Ok(())
    }

    /// `y` is the state, or the row with the tangent columns in a derivative solve.
    fn reset(&mut self, t: f64, y: &[f64]) -> Result<(), Error> {
        // the state alone, or the row with its sensitivities
        let expected = if y.len() == self.w { self.w } else { self.n };
        self.t_stop = check_reset(t, expected, y.len(), self.t_stop)?;
        self.d[..y.len()].copy_from_slice(y);
        self.restart(t)
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

/// Integrates with BDF/NDF from `t0` through the sorted `save_at`; with `sens` the forward
/// sensitivities with respect to `(y0, p)` are carried along; `keep` says what else is kept
/// for a derivative pass (the polynomials of the accepted steps for the continuous adjoint,
/// the step log for the discrete adjoint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn integrate<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    sens: bool,
    keep: Keep,
) -> Result<StiffOutput, Error> {
    let n = y0.len();
    let m = if sens { n + p.len() } else { 0 };
    let probe = !sens && keep != Keep::Nothing;
    let (row0, _) = BdfStepper::<Sys>::first_row(y0, p, m, probe);
    let mut out = StiffOutput::new(n, m);
    if crate::events::has_events(sys, opts) {
        // checked by the caller: f64 only (m = 0), no log, no kept polynomials
        let mut st = BdfStepper::start(sys, &row0, p, t0, opts, m, keep, None)?;
        let (saved, hits) = crate::events::event_loop(&mut st, sys, p, opts, save_at)?;
        saved.iter().for_each(|r| out.push(r));
        out.events = hits;
        st.finish(&mut out);
        return Ok(out);
    }
    let mut rows = initial_saves(&row0, t0, save_at);
    let mut log = (keep == Keep::Log).then(|| StepLog::for_options(n, rows.len(), opts, p.len()));
    if rows.len() == save_at.len() {
        rows.iter().for_each(|r| out.push(r));
        out.log = log;
        return Ok(out);
    }
    let mut st = BdfStepper::start(sys, &row0, p, t0, opts, m, keep, log.take())?;
    save_loop(&mut st, save_at, &mut rows, |st, saved| st.log_saves(saved))?;
    rows.iter().for_each(|r| out.push(r));
    st.finish(&mut out);
    Ok(out)
}
