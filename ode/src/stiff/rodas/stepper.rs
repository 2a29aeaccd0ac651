//! Rodas4 as a [`Stepper`]: one LU of `I - hγ J` per attempt, six stages, the embedded error
//! estimate with the tangents in the test, and the third-order dense output of the last step.

use crate::error::Error;
use crate::explicit::Tangents;
use crate::options::{Method, Options};
use crate::solution::Stats;
use crate::stepper::{
    check_can_step, check_interpolation, check_reset, check_stop_time, Step, Stepper,
};
use crate::stiff::generic::{jacobian_and_ft, Lu};
use crate::stiff::newton::rms;
use crate::stiff::{initial_step, StiffStats};
use crate::system::OdeSystem;

use super::{A, C, CC, D, GAMMA, H};

/// The Rodas4 method ([`Method::Rodas4`]) stepping `y' = f(t, y, p)` on the scalar `S` (`f64`,
/// or `Dual` for forward sensitivities, whose tangents the error test then covers).
pub struct RodasStepper<'a, S, Sys> {
    sys: &'a Sys,
    opts: &'a Options,
    p: Vec<S>,
    n: usize,
    t: f64,
    t_prev: f64,
    /// The size of the last accepted step (0 before the first step and after a reset).
    h_last: f64,
    /// The size to try next (`None`: chosen at the first step).
    h_next: Option<f64>,
    t_stop: Option<f64>,
    y: Vec<S>,
    y_prev: Vec<S>,
    /// `f(t, y)`: the first stage's right-hand side.
    f0: Vec<S>,
    /// The dense output coefficients `q = H k` of the last step.
    q: [Vec<S>; 2],
    k: Vec<Vec<S>>,
    jac: Vec<S>,
    ft: Vec<S>,
    jac_fresh: bool,
    rejected_last: bool,
    stats: Stats,
    /// The stiff counters (Jacobians, factorisations, error-test failures).
    pub(crate) stiff: StiffStats,
    /// Attempted steps, accepted and rejected (bounded by `opts.max_steps`).
    attempts: usize,
}

impl<'a, S: Tangents, Sys: OdeSystem> RodasStepper<'a, S, Sys> {
    /// Starts at `(t0, y0)` with parameters `p`; evaluates `f(t0, y0)`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] and [`Error::InvalidInput`] for bad inputs or options (or a
    /// method other than [`Method::Rodas4`]), [`Error::NonFinite`] for a non-finite `y0` or
    /// `f(t0, y0)`.
    pub fn new(sys: &'a Sys, y0: &[S], p: &[S], t0: f64, opts: &'a Options) -> Result<Self, Error> {
        crate::solve::check_inputs(sys, y0.len(), p.len(), t0, &[], opts)?;
        if opts.method != Method::Rodas4 {
            return Err(Error::InvalidInput(format!(
                "RodasStepper needs Method::Rodas4, got {:?}",
                opts.method
            )));
        }
        Self::start(sys, y0, p, t0, opts)
    }

    /// [`RodasStepper::new`] without the checks of the inputs (done by the caller).
    pub(crate) fn start(
        sys: &'a Sys,
        y0: &[S],
        p: &[S],
        t0: f64,
        opts: &'a Options,
    ) -> Result<Self, Error> {
        let n = y0.len();
        let zero = S::zero();
        let mut st = RodasStepper {
            sys,
            opts,
            p: p.to_vec(),
            n,
            t: t0,
            t_prev: t0,
            h_last: 0.0,
            h_next: None,
            t_stop: None,
            y: y0.to_vec(),
            y_prev: y0.to_vec(),
            f0: vec![zero; n],
            q: [vec![zero; n], vec![zero; n]],
            k: vec![vec![zero; n]; 6],
            jac: vec![zero; n * n],
            ft: vec![zero; n],
            jac_fresh: false,
            rejected_last: false,
            stats: Stats::default(),
            stiff: StiffStats::default(),
            attempts: 0,
        };
        st.restart(t0)?;
        Ok(st)
    }

    /// Starts again at `(t, self.y)`: checks the state, evaluates `f`, forgets the step size.
    fn restart(&mut self, t: f64) -> Result<(), Error> {
        if let Some(c) = self.y.iter().position(|v| !v.value().is_finite()) {
            return Err(Error::NonFinite { t, component: c });
        }
        self.t = t;
        self.t_prev = t;
        self.h_last = 0.0;
        self.h_next = None;
        self.jac_fresh = false;
        self.rejected_last = false;
        self.y_prev.copy_from_slice(&self.y);
        self.sys.rhs(S::cst(t), &self.y, &self.p, &mut self.f0);
        self.stats.rhs_evals += 1;
        if let Some(c) = self.f0.iter().position(|v| !v.value().is_finite()) {
            return Err(Error::NonFinite { t, component: c });
        }
        Ok(())
    }

    /// The first step size of a (re)start: `opts.h0` or Hairer's estimate over the span to the
    /// stop time.
    fn first_h(&mut self) -> f64 {
        match self.opts.h0 {
            Some(h0) => h0,
            None => {
                self.stats.rhs_evals += 1;
                let yv: Vec<f64> = self.y.iter().map(|v| v.value()).collect();
                let fv: Vec<f64> = self.f0.iter().map(|v| v.value()).collect();
                let pv: Vec<f64> = self.p.iter().map(|v| v.value()).collect();
                let span = self.t_stop.map_or(f64::INFINITY, |ts| ts - self.t);
                initial_step(self.sys, self.t, &yv, &fv, &pv, 3.0, self.opts, span)
            }
        }
    }

    /// The six stages of an attempt of size `h` from `(t, y)` with the factored `I - hγ J`;
    /// leaves the new state in `out` (`y + Σ a_5j k_j + k_5 + k_6`).
    fn stages(&mut self, h: f64, lu: &Lu<S>, out: &mut [S]) {
        let (n, t, hg) = (self.n, self.t, h * GAMMA);
        let mut u = self.y.clone();
        let mut fu = self.f0.clone();
        for s in 0..6 {
            let ts = if s >= 4 { t + h } else { t + C[s] * h };
            if s > 0 {
                let row = s.min(4) - 1;
                for i in 0..n {
                    let mut v = self.y[i];
                    for j in 0..s.min(4) {
                        v += self.k[j][i] * A[row][j];
                    }
                    if s == 5 {
                        v += self.k[4][i];
                    }
                    u[i] = v;
                }
                self.sys.rhs(S::cst(ts), &u, &self.p, &mut fu);
                self.stats.rhs_evals += 1;
            }
            for i in 0..n {
                let mut v = fu[i];
                if s < 4 {
                    v += self.ft[i] * (h * D[s]);
                }
                for j in 0..s {
                    v += self.k[j][i] * (CC[s - 1][j] / h);
                }
                self.k[s][i] = v * hg;
            }
            lu.solve(&mut self.k[s]);
        }
        for i in 0..n {
            out[i] = u[i] + self.k[5][i];
        }
    }

    /// The error norm of an attempt ending in `y1`: the embedded estimate `k_6` in the RMS norm
    /// with scale `atol + rtol max(|y|, |y1|)`, on the values and on each tangent direction.
    fn error(&self, y1: &[S]) -> f64 {
        let n = self.n;
        let (mut scale, mut errv) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let (a, b) = (self.y[i].value(), y1[i].value());
            scale[i] = self.opts.atol_at(i) + self.opts.rtol * a.abs().max(b.abs());
            errv[i] = self.k[5][i].value();
        }
        let mut err = rms(&errv, &scale);
        // forward sensitivities (`S = Dual<W>`): the error test covers the tangents too
        let tangents = match self.opts.derivative_error_control {
            true => self.y.first().map_or(0, |v| v.tangents().len()),
            false => 0,
        };
        for j in 0..tangents {
            for i in 0..n {
                let (a, b) = (self.y[i].tangents()[j], y1[i].tangents()[j]);
                scale[i] = self.opts.atol_at(i) + self.opts.rtol * a.abs().max(b.abs());
                errv[i] = self.k[5][i].tangents()[j];
            }
            let ej = rms(&errv, &scale);
            if ej.is_finite() {
                err = err.max(ej);
            }
        }
        err
    }
}

impl<S: Tangents, Sys: OdeSystem> Stepper for RodasStepper<'_, S, Sys> {
    type Scalar = S;

    fn t(&self) -> f64 {
        self.t
    }

    fn h(&self) -> f64 {
        self.h_last
    }

    fn state(&self) -> &[S] {
        &self.y
    }

    fn step(&mut self) -> Result<Step, Error> {
        check_can_step(self.t, self.t_stop)?;
        let t_stop = self.t_stop.unwrap_or(f64::INFINITY);
        let (n, t) = (self.n, self.t);
        let mut h = match self.h_next {
            Some(h) => h,
            None => self.first_h(),
        };
        let mut y1 = vec![S::zero(); n];
        let mut singular_fails = 0usize;
        loop {
            if self.attempts >= self.opts.max_steps {
                return Err(Error::MaxStepsReached {
                    t,
                    steps: self.attempts,
                });
            }
            h = h.min(self.opts.h_max);
            if t + 1.01 * h >= t_stop {
                h = t_stop - t;
            }
            let to_stop = h > 0.0 && t + h >= t_stop;
            if (h < 10.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE) && !to_stop)
                || !h.is_finite()
                || h <= 0.0
            {
                return Err(Error::StepSizeTooSmall { t, h });
            }
            self.attempts += 1;
            if !self.jac_fresh {
                self.stiff.jac_rhs_evals +=
                    jacobian_and_ft(self.sys, t, &self.y, &self.p, &mut self.jac, &mut self.ft);
                self.stiff.jac_evals += 1;
                self.jac_fresh = true;
            }
            self.stiff.factorisations += 1;
            let Some(lu) = Lu::new(n, h * GAMMA, &self.jac) else {
                singular_fails += 1;
                if singular_fails >= 10 {
                    return Err(Error::SingularIterationMatrix { t, h });
                }
                h *= 0.25;
                self.stats.rejected += 1;
                continue;
            };
            self.stages(h, &lu, &mut y1);
            let err = self.error(&y1);
            if err.is_nan() || err > 1.0 || y1.iter().any(|v| !v.value().is_finite()) {
                self.stats.rejected += 1;
                self.stiff.error_test_failures += 1;
                let fac = if err.is_finite() {
                    (0.9 * err.powf(-0.25)).clamp(0.2, 1.0)
                } else {
                    0.2
                };
                h *= fac;
                self.rejected_last = true;
                continue;
            }
            // accepted: the dense output's coefficients, then the new state and f there
            for (r, qr) in self.q.iter_mut().enumerate() {
                for i in 0..n {
                    let mut v = S::zero();
                    for j in 0..5 {
                        v += self.k[j][i] * H[r][j];
                    }
                    qr[i] = v;
                }
            }
            let t_new = if to_stop { t_stop } else { t + h };
            self.stats.steps += 1;
            std::mem::swap(&mut self.y_prev, &mut self.y);
            std::mem::swap(&mut self.y, &mut y1);
            self.t_prev = t;
            self.t = t_new;
            self.h_last = h;
            self.sys.rhs(S::cst(t_new), &self.y, &self.p, &mut self.f0);
            self.stats.rhs_evals += 1;
            self.jac_fresh = false;
            let mut fac = (0.9 * err.max(1e-10).powf(-0.25)).clamp(0.2, 6.0);
            if self.rejected_last {
                fac = fac.min(1.0);
            }
            self.rejected_last = false;
            self.h_next = Some(h * fac);
            return Ok(Step {
                t_prev: t,
                t: t_new,
                reached_stop: to_stop,
            });
        }
    }

    fn interpolate(&self, ts: f64, out: &mut [S]) -> Result<(), Error> {
        check_interpolation(self.t_prev, self.t, ts, self.n, out.len())?;
        if self.h_last == 0.0 || ts == self.t {
            out.copy_from_slice(&self.y);
            return Ok(());
        }
        // y(θ) = (1-θ) y0 + θ (y1 + (1-θ)(q1 + θ q2))
        let th = (ts - self.t_prev) / self.h_last;
        let th1 = 1.0 - th;
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.y_prev[i] * th1 + (self.y[i] + (self.q[0][i] + self.q[1][i] * th) * th1) * th;
        }
        Ok(())
    }

    fn set_stop_time(&mut self, t_stop: f64) -> Result<(), Error> {
        check_stop_time(self.t, t_stop)?;
        self.t_stop = Some(t_stop);
        Ok(())
    }

    fn reset(&mut self, t: f64, y: &[S]) -> Result<(), Error> {
        self.t_stop = check_reset(t, self.n, y.len(), self.t_stop)?;
        self.y.copy_from_slice(y);
        self.restart(t)
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}
