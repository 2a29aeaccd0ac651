//! The solve loop with events: steps a [`Stepper`] to the last save time, stopping at the time
//! events, locating the state events inside each step on the dense output, saving at the
//! requested times, and applying each event with the jump of the forward sensitivities (the
//! tangents of a `Dual` state; see `docs/events.md`).

use ad_core::Real;

use super::jump::{self, state_jump, time_jump, values};
use super::locate::{crosses, illinois, Root};
use super::{Action, Event, EventHit, EventSpec};
use crate::error::Error;
use crate::options::Options;
use crate::stepper::Stepper;
use crate::system::OdeSystem;

/// Whether `sys` declares state or time events and `opts` handles them.
pub(crate) fn has_events<Sys: OdeSystem>(sys: &Sys, opts: &Options) -> bool {
    opts.handle_events && (!sys.state_events().is_empty() || !sys.time_events().is_empty())
}

/// The error of the tape-free `ode::vjp` for a system with events.
pub(crate) fn no_adjoint(opts: &Options) -> Error {
    Error::IncompatibleOptions {
        method: opts.method,
        sensitivity: opts.sensitivity,
        why: "the tape-free ode::vjp does not take a system with events: differentiate \
              ode::solve on Var inputs (it composes the solves between the events, with any \
              method and sensitivity)",
    }
}

/// Whether the stiff method of `opts` can take the events of `sys`: BDF and Rodas4 solve on
/// `f64` with events; their derivatives go by segments (`solve_by_segments`), never through
/// the stiff sensitivities (the tape-free `ode::vjp` reaches here: an error).
pub(crate) fn check_stiff(
    sys: &impl OdeSystem,
    opts: &Options,
    differentiated: bool,
) -> Result<(), Error> {
    if !has_events(sys, opts) {
        return Ok(());
    }
    if differentiated {
        return Err(Error::IncompatibleOptions {
            method: opts.method,
            sensitivity: opts.sensitivity,
            why: "the tape-free ode::vjp does not take a system with events: differentiate \
                  ode::solve on Var inputs (it composes the solves between the events)",
        });
    }
    Ok(())
}

/// The event state of one solve.
struct Events<'a, Sys, S> {
    sys: &'a Sys,
    opts: &'a Options,
    p: &'a [S],
    pv: Vec<f64>,
    n: usize,
    specs: Vec<EventSpec>,
    /// The time events in `[t0, t_end]`, sorted by time then index: `(t, j)`.
    times: Vec<(f64, usize)>,
    /// The next time event to apply.
    next_time: usize,
    /// The event functions at the start of the next step (0 for a function whose sign is not
    /// known: on zero at `t0`). Right after its own event a function left on (numerical) zero
    /// holds `±1`, the sign it takes as the solution moves on, and is `restarted`.
    g_prev: Vec<f64>,
    /// The functions that start the next step on zero after their own event.
    restarted: Vec<bool>,
    /// `dg_k/dt` along the solution at the start of the next step, when known.
    rate_prev: Option<Vec<f64>>,
    fired: usize,
}

/// The states at the save times and the events that fired.
pub(crate) type Saved<S> = (Vec<Vec<S>>, Vec<EventHit<S>>);

/// Runs `st` (started at `(t0, y0)`, its state of width `sys.dim()`) through the events of `sys`
/// to the last save time. Returns the states at the save times (fewer than `save_at` if a
/// terminal event stopped the solve) and the events that fired, in time order. A save time
/// equal to an event time gets the state after the event (the state at the event itself is
/// in the [`EventHit`]).
pub(crate) fn event_loop<St: Stepper, Sys: OdeSystem>(
    st: &mut St,
    sys: &Sys,
    p: &[St::Scalar],
    opts: &Options,
    save_at: &[f64],
) -> Result<Saved<St::Scalar>, Error> {
    let mut saved = Vec::new();
    let mut hits = Vec::new();
    let Some(&t_end) = save_at.last() else {
        return Ok((saved, hits));
    };
    let t0 = st.t();
    let mut ev = Events::new(sys, opts, p, t0, t_end)?;
    if st.state().len() != ev.n {
        return Err(Error::InvalidInput(
            "events: the stepper's state must be the system's state".into(),
        ));
    }
    let mut next = 0;
    ev.g_prev = ev.g(t0, st.state(), None)?;
    ev.time_events_at(st, t0, &mut hits)?;
    while next < save_at.len() && save_at[next] <= t0 {
        saved.push(st.state().to_vec());
        next += 1;
    }
    while next < save_at.len() {
        let stop = ev.next_stop(t_end);
        if st.t() < stop {
            st.set_stop_time(stop)?;
            let step = st.step()?;
            let g_new = ev.g(step.t, st.state(), None)?;
            if let Some((root, ks)) = ev.earliest_crossing(st, step.t_prev, step.t, &g_new)? {
                let terminal = ks.iter().any(|&k| ev.specs[k].action == Action::Stop);
                while next < save_at.len()
                    && (save_at[next] < root.t || (terminal && save_at[next] == root.t))
                {
                    saved.push(interpolated(st, save_at[next])?);
                    next += 1;
                }
                if ev.fire(st, root, &ks, &mut hits)? {
                    return Ok((saved, hits));
                }
                while next < save_at.len() && save_at[next] == root.t {
                    saved.push(st.state().to_vec());
                    next += 1;
                }
                continue;
            }
            while next < save_at.len()
                && (save_at[next] < step.t || (save_at[next] == step.t && step.t < stop))
            {
                saved.push(interpolated(st, save_at[next])?);
                next += 1;
            }
            ev.g_prev = g_new;
            ev.restarted.clear();
            if step.t < stop {
                continue;
            }
        }
        // at the stop time: its time events, then the saves there
        ev.time_events_at(st, stop, &mut hits)?;
        while next < save_at.len() && save_at[next] <= stop {
            saved.push(st.state().to_vec());
            next += 1;
        }
    }
    Ok((saved, hits))
}

/// The state at `t` inside the last step.
fn interpolated<St: Stepper>(st: &St, t: f64) -> Result<Vec<St::Scalar>, Error> {
    let mut out = st.state().to_vec();
    st.interpolate(t, &mut out)?;
    Ok(out)
}

impl<'a, Sys: OdeSystem, S: Real> Events<'a, Sys, S> {
    fn new(
        sys: &'a Sys,
        opts: &'a Options,
        p: &'a [S],
        t0: f64,
        t_end: f64,
    ) -> Result<Self, Error> {
        let given = sys.time_events();
        if let Some(j) = given.iter().position(|t| !t.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "time event {j} at t = {}: event times must be finite",
                given[j]
            )));
        }
        let mut times: Vec<(f64, usize)> = given
            .into_iter()
            .enumerate()
            .filter(|&(_, t)| t0 <= t && t <= t_end)
            .map(|(j, t)| (t, j))
            .collect();
        times.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(Events {
            sys,
            opts,
            p,
            pv: values(p),
            n: sys.dim(),
            specs: sys.state_events(),
            times,
            next_time: 0,
            g_prev: Vec::new(),
            restarted: Vec::new(),
            rate_prev: None,
            fired: 0,
        })
    }

    /// The next time the stepper must stop at: the next time event or the end.
    fn next_stop(&self, t_end: f64) -> f64 {
        self.times
            .get(self.next_time)
            .map_or(t_end, |&(t, _)| t.min(t_end))
    }

    /// The event functions at `(t, y)` on the values; a non-finite one is an error naming it
    /// (and the event being applied, if any).
    fn g(&self, t: f64, y: &[S], during: Option<Event>) -> Result<Vec<f64>, Error> {
        let mut g = vec![0.0; self.specs.len()];
        if g.is_empty() {
            return Ok(g);
        }
        self.sys.event_functions(t, &values(y), &self.pv, &mut g);
        if let Some(k) = g.iter().position(|v| !v.is_finite()) {
            return Err(Error::Event {
                t,
                event: during.unwrap_or(Event::State(k)),
                component: None,
                why: if during.is_some() {
                    "an event function is not finite after this event's state change"
                } else {
                    "the event function is not finite"
                },
            });
        }
        Ok(g)
    }

    /// The earliest crossing in the step `[ta, tb]` of a state event, located on the dense
    /// output, with every event whose root is at the same time (within 4 ulp), in index order.
    fn earliest_crossing<St: Stepper<Scalar = S>>(
        &mut self,
        st: &St,
        ta: f64,
        tb: f64,
        g_new: &[f64],
    ) -> Result<Option<(Root, Vec<usize>)>, Error> {
        if self.specs.is_empty() {
            return Ok(None);
        }
        let mut roots = Vec::new();
        let mut y = st.state().to_vec();
        let mut g = vec![0.0; self.specs.len()];
        let n_g = self.specs.len();
        let rate_at = |t: f64| -> Result<Vec<f64>, Error> {
            let mut y = st.state().to_vec();
            st.interpolate(t, &mut y)?;
            Ok(jump::rates(self.sys, t, &values(&y), &self.pv, n_g))
        };
        let rate_a = match self.rate_prev.take() {
            Some(r) => r,
            None => rate_at(ta)?,
        };
        let rate_b = jump::rates(self.sys, tb, &values(st.state()), &self.pv, n_g);
        for (k, spec) in self.specs.iter().enumerate() {
            let mut g_at = |t: f64| {
                st.interpolate(t, &mut y)?;
                self.sys.event_functions(t, &values(&y), &self.pv, &mut g);
                if g[k].is_finite() {
                    Ok(g[k])
                } else {
                    Err(Error::Event {
                        t,
                        event: Event::State(k),
                        component: None,
                        why: "the event function is not finite",
                    })
                }
            };
            let restarted = self.restarted.get(k) == Some(&true);
            if !crosses(self.g_prev[k], g_new[k], spec.direction) {
                // no sign change over the step, but maybe an extremum inside that crosses
                // zero and comes back (a near-grazing crossing): g moving towards zero at ta
                // and away at tb, and beyond zero at the extremum (the root of dg/dt)
                let (ga, gb, ra, rb) = (self.g_prev[k], g_new[k], rate_a[k], rate_b[k]);
                let towards_then_away = (ga > 0.0 && gb > 0.0 && ra < 0.0 && rb > 0.0)
                    || (ga < 0.0 && gb < 0.0 && ra > 0.0 && rb < 0.0);
                if restarted || !towards_then_away {
                    continue;
                }
                let ext = illinois(ta, ra, tb, rb, |t| rate_at(t).map(|r| r[k]))?.t;
                let g_ext = g_at(ext)?;
                if g_ext == 0.0 || (g_ext > 0.0) == (ga > 0.0) {
                    continue;
                }
                let root = if crosses(ga, g_ext, spec.direction) {
                    illinois(ta, ga, ext, g_ext, g_at)?
                } else if crosses(g_ext, gb, spec.direction) {
                    illinois(ext, g_ext, tb, gb, g_at)?
                } else {
                    continue;
                };
                roots.push((root, k));
                continue;
            }
            let (mut a, mut ga) = (ta, self.g_prev[k]);
            if restarted {
                // the function left its own root with the sign of g_prev (say up, a ball's
                // bounce) and is back on the other side: the left end of the bracket is the
                // first point after ta where it has that sign, searched from ta outwards
                // (2^-52 .. 1/2 of the step); none means it came straight back, the motion
                // away from zero below rounding (events accumulating at a point)
                let mut left = None;
                for j in (1..=52).rev() {
                    let c = ta + (tb - ta) * 0.5f64.powi(j);
                    if c > ta {
                        let gc = g_at(c)?;
                        if gc != 0.0 && (gc > 0.0) == (ga > 0.0) {
                            left = Some((c, gc));
                            break;
                        }
                    }
                }
                let Some(l) = left else {
                    return Err(Error::Event {
                        t: ta,
                        event: Event::State(k),
                        component: None,
                        why: "the event function comes back to zero within rounding after its \
                              own event: events accumulate here (a Zeno point, as a bouncing \
                              ball coming to rest); end the solve there with a terminal event",
                    });
                };
                (a, ga) = l;
            }
            roots.push((illinois(a, ga, tb, g_new[k], g_at)?, k));
        }
        let Some(first) = roots.iter().map(|r| r.0).min_by(|a, b| a.t.total_cmp(&b.t)) else {
            self.rate_prev = Some(rate_b);
            return Ok(None);
        };
        let tol = 4.0 * f64::EPSILON * first.t.abs();
        let ks = roots
            .iter()
            .filter(|r| r.0.t <= first.t + tol)
            .map(|r| r.1)
            .collect();
        Ok(Some((first, ks)))
    }

    /// Fires the state events `ks` located at `root`: records them, and stops (returns true)
    /// or applies their state changes in index order and restarts `st` from the new state.
    fn fire<St: Stepper<Scalar = S>>(
        &mut self,
        st: &mut St,
        root: Root,
        ks: &[usize],
        hits: &mut Vec<EventHit<S>>,
    ) -> Result<bool, Error> {
        let t = root.t;
        let y_minus = interpolated(st, t)?;
        let stop = ks.iter().any(|&k| self.specs[k].action == Action::Stop);
        let jump = state_jump(self.sys, t, ks, stop, &y_minus, self.p)?;
        for &k in ks {
            hits.push(EventHit {
                event: Event::State(k),
                t: jump.t,
                y: jump.y.clone(),
            });
        }
        self.count(ks.len(), t)?;
        let Some(y) = jump.restart else {
            return Ok(true);
        };
        let g_minus = self.g(t, &y_minus, None)?;
        st.reset(t, &y)?;
        let mut g = self.g(t, &y, Some(Event::State(ks[0])))?;
        self.restarted = vec![false; g.len()];
        let mut rates = None;
        for &k in ks {
            // a function the change left on (numerical) zero takes the sign it is moving to
            // (no second crossing from the rounding error of its own root)
            if g[k] == g_minus[k] || g[k].abs() <= 4.0 * root.g_resolution {
                let r = rates.get_or_insert_with(|| {
                    jump::rates(self.sys, t, &values(&y), &self.pv, self.specs.len())
                });
                g[k] = if r[k] > 0.0 {
                    1.0
                } else if r[k] < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                self.restarted[k] = g[k] != 0.0;
            }
        }
        self.g_prev = g;
        self.rate_prev = None;
        Ok(false)
    }

    /// Applies the time events at `t` (the stepper is there), in index order, and restarts
    /// `st` from the new state.
    fn time_events_at<St: Stepper<Scalar = S>>(
        &mut self,
        st: &mut St,
        t: f64,
        hits: &mut Vec<EventHit<S>>,
    ) -> Result<(), Error> {
        let first = self.next_time;
        while self.next_time < self.times.len() && self.times[self.next_time].0 <= t {
            self.next_time += 1;
        }
        if first == self.next_time {
            return Ok(());
        }
        let y = st.state().to_vec();
        let js: Vec<usize> = self.times[first..self.next_time]
            .iter()
            .map(|e| e.1)
            .collect();
        for &j in &js {
            hits.push(EventHit {
                event: Event::Time(j),
                t: S::cst(t),
                y: y.clone(),
            });
        }
        let y = time_jump(self.sys, t, &js, &y, self.p)?;
        self.count(self.next_time - first, t)?;
        st.reset(t, &y)?;
        self.g_prev = self.g(t, &y, Some(Event::Time(self.times[first].1)))?;
        self.restarted.clear();
        self.rate_prev = None;
        Ok(())
    }

    /// Counts `k` more events; more than `opts.max_events` is an error.
    fn count(&mut self, k: usize, t: f64) -> Result<(), Error> {
        self.fired += k;
        if self.fired > self.opts.max_events {
            return Err(Error::TooManyEvents {
                t,
                count: self.fired,
            });
        }
        Ok(())
    }
}
