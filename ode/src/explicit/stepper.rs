//! The explicit Runge-Kutta methods as a [`Stepper`]: adaptive steps with the PI controller
//! (or fixed RK4 steps, or a replay of recorded steps), FSAL, the dense output of the last step.

use ad_core::Real;

use crate::error::Error;
use crate::options::{Method, Options};
use crate::solution::Stats;
use crate::stepper::{
    check_can_step, check_interpolation, check_reset, check_stop_time, Step, Stepper,
};
use crate::system::OdeSystem;

use super::controller::{error_norm, initial_step, Controller, Tangents};
use super::{dense_at, stages, tableau, Tableau};

/// The index of the first non-finite value, if any.
fn first_non_finite<S: Real>(v: &[S]) -> Option<usize> {
    v.iter().position(|x| !x.value().is_finite())
}

/// An explicit Runge-Kutta method ([`Method::Rk4`], [`Method::Dopri5`], [`Method::Tsit5`], as
/// chosen by `opts.method`) stepping `y' = f(t, y, p)` on the scalar `S` (`f64`, or `Dual` for
/// forward sensitivities, whose tangents the error test then covers).
pub struct ExplicitStepper<'a, S, Sys> {
    sys: &'a Sys,
    opts: &'a Options,
    tab: &'static Tableau,
    p: Vec<S>,
    /// Retake these steps `(t_k, h_k)` exactly (no error control), the last one ending at the
    /// stop time.
    replay: Option<&'a [(f64, f64)]>,
    t: f64,
    t_prev: f64,
    /// The size of the last accepted step.
    h_last: f64,
    /// The size to try next (`None`: chosen at the first step, as a fresh solve does).
    h_next: Option<f64>,
    t_stop: Option<f64>,
    y: Vec<S>,
    y_prev: Vec<S>,
    y_new: Vec<S>,
    tmp: Vec<S>,
    /// The stages of the last step (`k[0] = f(t_prev, y_prev)`), or `k[0] = f(t, y)` before a
    /// step.
    k: Vec<Vec<S>>,
    /// `k[s-1] = f(t, y)` is the next step's first stage but not yet moved to `k[0]`.
    fsal_pending: bool,
    ctrl: Controller,
    stats: Stats,
    /// Attempted steps, accepted and rejected (bounded by `opts.max_steps`).
    attempts: usize,
}

impl<'a, S: Tangents, Sys: OdeSystem> ExplicitStepper<'a, S, Sys> {
    /// Starts at `(t0, y0)` with parameters `p`; evaluates `f(t0, y0)` (the first stage).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] and [`Error::InvalidInput`] for bad inputs or options (or a
    /// stiff `opts.method`), [`Error::NonFinite`] for a non-finite `y0` or `f(t0, y0)`.
    pub fn new(sys: &'a Sys, y0: &[S], p: &[S], t0: f64, opts: &'a Options) -> Result<Self, Error> {
        crate::solve::check_inputs(sys, y0.len(), p.len(), t0, &[], opts)?;
        if crate::stiff::is_stiff(opts.method) {
            return Err(Error::InvalidInput(format!(
                "ExplicitStepper needs an explicit method, got {:?}",
                opts.method
            )));
        }
        Self::start(sys, y0, p, t0, opts, None)
    }

    /// [`ExplicitStepper::new`] without the checks of the inputs (done by the caller), with
    /// an optional replay log.
    pub(crate) fn start(
        sys: &'a Sys,
        y0: &[S],
        p: &[S],
        t0: f64,
        opts: &'a Options,
        replay: Option<&'a [(f64, f64)]>,
    ) -> Result<Self, Error> {
        let tab = tableau(opts.method);
        let mut st = ExplicitStepper {
            sys,
            opts,
            tab,
            p: p.to_vec(),
            replay,
            t: t0,
            t_prev: t0,
            h_last: 0.0,
            h_next: None,
            t_stop: None,
            y: y0.to_vec(),
            y_prev: y0.to_vec(),
            y_new: y0.to_vec(),
            tmp: y0.to_vec(),
            k: vec![y0.to_vec(); tab.stages()],
            fsal_pending: false,
            ctrl: Controller::new(),
            stats: Stats::default(),
            attempts: 0,
        };
        st.restart(t0)?;
        Ok(st)
    }

    /// Starts again at `(t, self.y)`: checks the state, evaluates the first stage, forgets the
    /// step-size history.
    fn restart(&mut self, t: f64) -> Result<(), Error> {
        if let Some(m) = first_non_finite(&self.y) {
            return Err(Error::NonFinite { t, component: m });
        }
        self.t = t;
        self.t_prev = t;
        self.h_last = 0.0;
        self.h_next = None;
        self.y_prev.copy_from_slice(&self.y);
        self.fsal_pending = false;
        self.ctrl = Controller::new();
        self.sys.rhs(S::cst(t), &self.y, &self.p, &mut self.k[0]);
        self.stats.rhs_evals += 1;
        if let Some(m) = first_non_finite(&self.k[0]) {
            return Err(Error::NonFinite { t, component: m });
        }
        Ok(())
    }

    /// The first step size of a (re)start: the replay's, RK4's `dt`, `opts.h0` or Hairer's
    /// estimate (one evaluation of `f`) over the span to the stop time.
    fn first_h(&mut self) -> f64 {
        let span = self.t_stop.map_or(f64::INFINITY, |ts| ts - self.t);
        match (self.replay, self.opts.method) {
            (Some(log), _) => log.first().map_or(span, |e| e.1),
            (None, Method::Rk4 { dt }) => dt,
            (None, _) => match self.opts.h0 {
                Some(h0) => h0.min(self.opts.h_max),
                None => {
                    let yv: Vec<f64> = self.y.iter().map(|v| v.value()).collect();
                    let fv: Vec<f64> = self.k[0].iter().map(|v| v.value()).collect();
                    let pv: Vec<f64> = self.p.iter().map(|v| v.value()).collect();
                    self.stats.rhs_evals += 1;
                    initial_step(self.sys, self.t, &yv, &fv, &pv, 5.0, self.opts, span)
                }
            },
        }
    }

    /// This attempt's `(h, t_new, reaches_stop)` from the proposed `h`: the replayed step, a
    /// fixed RK4 step, or the adaptive one cut to end at the stop time.
    fn choose(&mut self, h: f64) -> Result<(f64, f64, bool), Error> {
        let t_stop = self.t_stop.unwrap_or(f64::INFINITY);
        if let Some(log) = self.replay {
            let k = self.stats.steps;
            let Some(&(tk, hk)) = log.get(k) else {
                return Err(Error::InvalidInput("replay log exhausted".into()));
            };
            self.t = tk;
            let last = k + 1 == log.len();
            return Ok((hk, if last { t_stop } else { log[k + 1].0 }, last));
        }
        let t = self.t;
        if self.attempts >= self.opts.max_steps {
            return Err(Error::MaxStepsReached {
                t,
                steps: self.attempts,
            });
        }
        if let Method::Rk4 { dt } = self.opts.method {
            // fixed steps: t_k = t0 + k dt, the last one shortened to end at the stop time
            return Ok(if t + dt * (1.0 + 1e-9) >= t_stop {
                (t_stop - t, t_stop, true)
            } else {
                (dt, t + dt, false)
            });
        }
        let mut h = h.min(self.opts.h_max);
        if t + 1.01 * h >= t_stop {
            h = t_stop - t;
        }
        // a step below the round-off level of t fails, unless it is the last one to the stop
        // time (a stop time a few ulp past t, as the continuous adjoint's reversed time or a
        // solve restarted at an event time can leave)
        let to_stop = h > 0.0 && t + h >= t_stop;
        if (h <= 10.0 * f64::EPSILON * t.abs() && !to_stop) || h <= 0.0 || !h.is_finite() {
            return Err(Error::StepSizeTooSmall { t, h });
        }
        Ok(if t + h >= t_stop {
            (h, t_stop, true)
        } else {
            (h, t + h, false)
        })
    }

    /// The last accepted step: its start time, size and start state (what the discrete
    /// adjoint's recorder keeps).
    pub(crate) fn last_step(&self) -> (f64, f64, &[S]) {
        (self.t_prev, self.h_last, &self.y_prev)
    }
}

impl<S: Tangents, Sys: OdeSystem> Stepper for ExplicitStepper<'_, S, Sys> {
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
        let s = self.tab.stages();
        if self.fsal_pending {
            // the last step's end is this step's start: its dense output is gone
            self.k.swap(0, s - 1);
            self.fsal_pending = false;
            self.t_prev = self.t;
        }
        let adaptive = self.replay.is_none() && self.opts.is_adaptive();
        let mut h = match self.h_next {
            Some(h) => h,
            None => self.first_h(),
        };
        loop {
            let (hs, t_new, last) = self.choose(h)?;
            h = hs;
            self.attempts += 1;
            let t = self.t;
            stages(
                self.sys,
                self.tab,
                t,
                h,
                &self.y,
                &self.p,
                &mut self.k,
                &mut self.tmp,
                &mut self.y_new,
            );
            self.stats.rhs_evals += s - 1;
            let bad = first_non_finite(&self.y_new).or_else(|| first_non_finite(&self.k[s - 1]));
            if adaptive {
                let mut err = error_norm(self.tab, h, &self.y, &self.y_new, &self.k, self.opts);
                if bad.is_some() {
                    err = f64::INFINITY;
                }
                if err.is_nan() || err > 1.0 {
                    h = self.ctrl.reject(h, err);
                    self.stats.rejected += 1;
                    continue;
                }
                self.h_next = Some(self.ctrl.accept(h, err));
            } else if let Some(m) = bad {
                return Err(Error::NonFinite {
                    t: t_new,
                    component: m,
                });
            }
            self.stats.steps += 1;
            std::mem::swap(&mut self.y_prev, &mut self.y);
            std::mem::swap(&mut self.y, &mut self.y_new);
            self.fsal_pending = true;
            self.t_prev = t;
            self.h_last = h;
            self.t = t_new;
            return Ok(Step {
                t_prev: t,
                t: t_new,
                reached_stop: last,
            });
        }
    }

    fn interpolate(&self, ts: f64, out: &mut [S]) -> Result<(), Error> {
        check_interpolation(self.t_prev, self.t, ts, self.y.len(), out.len())?;
        if !self.fsal_pending {
            out.copy_from_slice(&self.y);
            return Ok(());
        }
        let (t, h) = (self.t_prev, self.h_last);
        dense_at(
            self.tab,
            t,
            h,
            self.t,
            ts,
            &self.y_prev,
            &self.y,
            &self.k,
            out,
        );
        Ok(())
    }

    fn set_stop_time(&mut self, t_stop: f64) -> Result<(), Error> {
        check_stop_time(self.t, t_stop)?;
        self.t_stop = Some(t_stop);
        Ok(())
    }

    fn reset(&mut self, t: f64, y: &[S]) -> Result<(), Error> {
        self.t_stop = check_reset(t, self.y.len(), y.len(), self.t_stop)?;
        self.y.copy_from_slice(y);
        self.restart(t)
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}
