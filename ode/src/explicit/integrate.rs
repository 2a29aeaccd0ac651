//! The integration of the explicit methods as used by the solves and the sensitivities: the
//! [`save_loop`] over an [`ExplicitStepper`] (adaptive or fixed steps, or a replay of recorded
//! steps), with an observer of the accepted steps.

use crate::error::Error;
use crate::events::{event_loop, EventHit};
use crate::options::Options;
use crate::solution::Stats;
use crate::stepper::{initial_saves, save_loop, Stepper};
use crate::system::OdeSystem;

use super::controller::Tangents;
use super::stepper::ExplicitStepper;

/// What the integration loop reports to its caller besides the saved states.
pub(crate) trait Observer<S> {
    /// An accepted step from `t` with size `h`; `y` is the state at `t`.
    fn accepted(&mut self, _t: f64, _h: f64, _y: &[S]) {}
}

impl<S> Observer<S> for () {}

/// Integrates from `t0` through the sorted `save_at` (all `>= t0`), returning the states at
/// the save times. With `replay = Some(log)` the steps `(t_k, h_k)` of an earlier solve are
/// retaken exactly (no error control); else steps follow `opts`, the error test covering the
/// tangents of `S` as well as the values ([`Tangents`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn integrate<S: Tangents, Sys: OdeSystem, O: Observer<S>>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    replay: Option<&[(f64, f64)]>,
    obs: &mut O,
) -> Result<(Vec<Vec<S>>, Stats), Error> {
    debug_assert!(
        !crate::events::has_events(sys, opts),
        "systems with events go through integrate_events"
    );
    let mut saved = initial_saves(y0, t0, save_at);
    if saved.len() == save_at.len() {
        return Ok((saved, Stats::default()));
    }
    let mut st = ExplicitStepper::start(sys, y0, p, t0, opts, replay)?;
    save_loop(&mut st, save_at, &mut saved, |st, _| {
        let (t, h, y) = st.last_step();
        obs.accepted(t, h, y);
    })?;
    Ok((saved, st.stats()))
}

/// [`integrate`] for a system with events (adaptive or fixed steps, no replay, no observer):
/// the states at the save times (fewer if a terminal event fired) and the events that fired.
/// On `Dual` numbers the tangents jump at each event as `docs/events.md` derives.
#[allow(clippy::type_complexity)]
pub(crate) fn integrate_events<S: Tangents, Sys: OdeSystem>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(Vec<Vec<S>>, Vec<EventHit<S>>, Stats), Error> {
    let mut st = ExplicitStepper::start(sys, y0, p, t0, opts, None)?;
    let (saved, hits) = event_loop(&mut st, sys, p, opts, save_at)?;
    Ok((saved, hits, st.stats()))
}
