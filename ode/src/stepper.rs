//! The stepper layer: one method as a small state machine, and the one loop that saves at the
//! requested times over any of them.
//!
//! A [`Stepper`] starts at `(t0, y0, p)` with the [`Options`](crate::Options), takes one
//! accepted step per [`Stepper::step`] (rejections happen inside, as in a full solve), answers
//! [`Stepper::interpolate`] inside its last step from the method's dense output, never steps
//! past its stop time ([`Stepper::set_stop_time`]) and restarts from a new state with
//! [`Stepper::reset`] (the explicit methods evaluate `f` again for their first stage, BDF
//! restarts at order 1). [`solve`](crate::solve) is one save loop over a stepper; events and
//! other drivers are written the same way (SciML's `init` / `step!` / `reinit!`, diffsol's
//! `OdeSolverMethod`).
//!
//! ```
//! use ode::stepper::{ExplicitStepper, Stepper};
//! use ode::{Options, OdeSystem, Real};
//!
//! struct Decay;
//! impl OdeSystem for Decay {
//!     fn dim(&self) -> usize { 1 }
//!     fn n_params(&self) -> usize { 1 }
//!     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) { dy[0] = -p[0] * y[0]; }
//! }
//! let opts = Options { rtol: 1e-10, atol: 1e-12, ..Default::default() };
//! let mut st = ExplicitStepper::new(&Decay, &[1.0], &[0.5], 0.0, &opts)?;
//! st.set_stop_time(2.0)?;
//! let mut y = [0.0];
//! loop {
//!     let step = st.step()?;
//!     if step.t_prev < 1.0 && 1.0 <= step.t {
//!         st.interpolate(1.0, &mut y)?; // the dense output inside the step
//!     }
//!     if step.reached_stop { break; }
//! }
//! assert_eq!(st.t(), 2.0);
//! assert!((y[0] - (-0.5f64).exp()).abs() < 1e-9);
//! st.reset(2.0, &[1.0])?; // a new state (an event's jump), the method restarts
//! st.set_stop_time(3.0)?;
//! while !st.step()?.reached_stop {}
//! assert!((st.state()[0] - (-0.5f64).exp()).abs() < 1e-9);
//! # Ok::<(), ode::Error>(())
//! ```

use ad_core::Real;

use crate::error::Error;
use crate::solution::Stats;

pub use crate::explicit::{ExplicitStepper, Tangents};
pub use crate::stiff::bdf::BdfStepper;
pub use crate::stiff::rodas::RodasStepper;

/// What one accepted step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The time at the start of the step.
    pub t_prev: f64,
    /// The time reached (the stepper's [`Stepper::t`]).
    pub t: f64,
    /// True when the step ended at the stop time (the stepper then needs a later stop time or
    /// a [`Stepper::reset`] before it steps again).
    pub reached_stop: bool,
}

/// One integration method as a state machine: start (each method's `new`), step, interpolate
/// inside the last step, stop time, reset.
pub trait Stepper {
    /// The scalar of the state (`f64`, or `Dual` for forward sensitivities).
    type Scalar: Real;

    /// The current time.
    fn t(&self) -> f64;

    /// The size of the last accepted step (0 before the first step and after a reset).
    fn h(&self) -> f64;

    /// The state at [`Stepper::t`].
    fn state(&self) -> &[Self::Scalar];

    /// Takes one accepted step (rejected attempts are retried inside with a smaller step),
    /// never past the stop time.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the stepper is already at its stop time; the errors of a
    /// failing integration ([`Error::StepSizeTooSmall`], [`Error::MaxStepsReached`],
    /// [`Error::NonFinite`], and the stiff methods' Newton and error-test failures).
    fn step(&mut self) -> Result<Step, Error>;

    /// Writes the state at `t` (inside the last step, `t_prev <= t <= t()`) from the method's
    /// dense output to `out` (length `dim`); at `t == t()` the state itself.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a `t` outside the last step; [`Error::DimensionMismatch`]
    /// for an `out` of the wrong length.
    fn interpolate(&self, t: f64, out: &mut [Self::Scalar]) -> Result<(), Error>;

    /// Steps end exactly at `t_stop` and never go past it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `t_stop` is not finite or lies before [`Stepper::t`].
    fn set_stop_time(&mut self, t_stop: f64) -> Result<(), Error>;

    /// Restarts from the state `y` at time `t` (an event's state change): the method starts
    /// again as a fresh solve from `(t, y)` would (the stop time is kept if it lies after
    /// `t`; the counters accumulate).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidInput`] for a non-finite `t`,
    /// [`Error::NonFinite`] for a non-finite `y` or `f(t, y)`.
    fn reset(&mut self, t: f64, y: &[Self::Scalar]) -> Result<(), Error>;

    /// The counters so far.
    fn stats(&self) -> Stats;
}

/// Checks `t_stop` against the current time `t`.
pub(crate) fn check_stop_time(t: f64, t_stop: f64) -> Result<(), Error> {
    if !t_stop.is_finite() || t_stop < t {
        return Err(Error::InvalidInput(format!(
            "stop time {t_stop} must be finite and >= the current time {t}"
        )));
    }
    Ok(())
}

/// The check every [`Stepper::step`] starts with: a stepper at its stop time cannot step.
pub(crate) fn check_can_step(t: f64, t_stop: Option<f64>) -> Result<(), Error> {
    if t_stop.is_some_and(|ts| t >= ts) {
        return Err(Error::InvalidInput(format!(
            "the stepper is at its stop time t = {t}: set a later stop time first"
        )));
    }
    Ok(())
}

/// Checks a reset to time `t` with a state of length `got` (`expected` wanted) and returns the
/// stop time to keep: `t_stop` if it lies at or after `t`. The checks of every
/// [`Stepper::reset`].
pub(crate) fn check_reset(
    t: f64,
    expected: usize,
    got: usize,
    t_stop: Option<f64>,
) -> Result<Option<f64>, Error> {
    if got != expected {
        return Err(Error::DimensionMismatch {
            what: "reset: y",
            expected,
            got,
        });
    }
    if !t.is_finite() {
        return Err(Error::InvalidInput(format!(
            "reset at t = {t}: must be finite"
        )));
    }
    Ok(t_stop.filter(|&ts| ts >= t))
}

/// Checks that `ts` lies in the last step `[t_prev, t]` and `out` has length `n`.
pub(crate) fn check_interpolation(
    t_prev: f64,
    t: f64,
    ts: f64,
    n: usize,
    out: usize,
) -> Result<(), Error> {
    if out != n {
        return Err(Error::DimensionMismatch {
            what: "interpolate: out",
            expected: n,
            got: out,
        });
    }
    if !(t_prev <= ts && ts <= t) {
        return Err(Error::InvalidInput(format!(
            "interpolate at t = {ts}: outside the last step [{t_prev}, {t}]"
        )));
    }
    Ok(())
}

/// The states at the save times `<= t0` (copies of `y0`).
pub(crate) fn initial_saves<S: Clone>(y0: &[S], t0: f64, save_at: &[f64]) -> Vec<Vec<S>> {
    let k = save_at.iter().take_while(|&&s| s <= t0).count();
    vec![y0.to_vec(); k]
}

/// The save loop of every solve: steps `st` to the last save time, appending to `saved` the
/// state (the rows of [`Stepper::state`]'s width) at each save time not yet saved (in
/// `(t_prev, t]` of each step; all remaining ones on the step that reaches the stop time).
/// `after_step(st, saved.len())` runs after each step's saves.
pub(crate) fn save_loop<St: Stepper>(
    st: &mut St,
    save_at: &[f64],
    saved: &mut Vec<Vec<St::Scalar>>,
    mut after_step: impl FnMut(&mut St, usize),
) -> Result<(), Error> {
    let Some(&t_end) = save_at.last() else {
        return Ok(());
    };
    let mut next = saved.len();
    if next == save_at.len() {
        return Ok(());
    }
    st.set_stop_time(t_end)?;
    loop {
        let step = st.step()?;
        while next < save_at.len() && (step.reached_stop || save_at[next] <= step.t) {
            let mut out = st.state().to_vec();
            st.interpolate(save_at[next].min(step.t), &mut out)?;
            saved.push(out);
            next += 1;
        }
        after_step(st, saved.len());
        if step.reached_stop {
            return Ok(());
        }
    }
}
