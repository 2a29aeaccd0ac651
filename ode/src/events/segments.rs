//! Derivatives through events by composition, for every method and sensitivity: the events of
//! the `f64` solve split the solve into segments, each an ordinary differentiated solve (one block on the tape,
//! with whatever sensitivity the options choose), joined by one block per event whose Jacobian
//! is the jump of `docs/events.md` (from [`state_jump`] / [`time_jump`] on `Dual<1>`, one
//! direction per input). The derivative is that of the segments' numerical solutions (each
//! restarted at the events of the `f64` solve), so it matches the `f64` solve's to the
//! tolerance; second derivatives through an event are an error of the event's block.

use ad_core::{Dual, Real};

use super::jump::{state_jump, time_jump, values};
use super::{Action, Event, EventHit};
use crate::error::Error;
use crate::options::Options;
use crate::solution::{Solution, Stats};
use crate::stiff::blocks::SensitivityBlock;
use crate::system::OdeSystem;

/// The events of the `f64` solve grouped as they fired: state events at one time together,
/// time events at one time together.
fn groups(hits: &[EventHit<f64>]) -> Vec<(f64, bool, Vec<usize>)> {
    let mut out: Vec<(f64, bool, Vec<usize>)> = Vec::new();
    for h in hits {
        let (state, idx) = match h.event {
            Event::State(k) => (true, k),
            Event::Time(j) => (false, j),
        };
        match out.last_mut() {
            Some(g) if g.0 == h.t && g.1 == state => g.2.push(idx),
            _ => out.push((h.t, state, vec![idx])),
        }
    }
    out
}

/// Applies `f` (inputs `(y, p)`, outputs flattened) to `(y, p)` as one block whose Jacobian is
/// found by evaluating `f` on `Dual<1>` along each input.
fn jump_block<S: Real>(
    y: &[S],
    p: &[S],
    n_out: usize,
    f: impl Fn(&[Dual<1>], &[Dual<1>]) -> Result<Vec<Dual<1>>, Error>,
) -> Result<Vec<S>, Error> {
    let (yv, pv) = (values(y), values(p));
    let n_in = yv.len() + pv.len();
    let mut jac = vec![0.0; n_out * n_in];
    let mut vals = Vec::new();
    for j in 0..n_in.max(1) {
        let seed = |x: &[f64], off: usize| -> Vec<Dual<1>> {
            x.iter()
                .enumerate()
                .map(|(i, &v)| Dual::new(v, [if i + off == j { 1.0 } else { 0.0 }]))
                .collect()
        };
        let out = f(&seed(&yv, 0), &seed(&pv, yv.len()))?;
        debug_assert_eq!(out.len(), n_out);
        if j == 0 {
            vals = out.iter().map(|o| o.v).collect();
        }
        if j < n_in {
            for (r, o) in out.iter().enumerate() {
                jac[r * n_in + j] = o.d[0];
            }
        }
    }
    let mut inputs = y.to_vec();
    inputs.extend_from_slice(p);
    let mut outputs = vec![S::zero(); n_out];
    S::apply_block(
        SensitivityBlock {
            n_in,
            values: vals,
            jac,
        },
        &inputs,
        &mut outputs,
    );
    Ok(outputs)
}

/// The differentiated solve of a system with events by segments (see the module docs); `y0`
/// and `p` carry derivatives.
pub(crate) fn solve_by_segments<S: Real, Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<Solution<S>, Error> {
    let plain = crate::solve(sys, &values(y0), &values(p), t0, save_at, opts)?;
    // the stretches between the events: the same system and options with the events off (the
    // same type, so no second instantiation of the solvers)
    let seg = Options {
        handle_events: false,
        ..opts.clone()
    };
    let specs = sys.state_events();
    let n = y0.len();
    let mut y = y0.to_vec();
    let mut t_start = t0;
    let (mut next, mut saved, mut events) = (0, Vec::new(), Vec::new());
    let mut stats = Stats::default();
    for (t, state, idx) in groups(&plain.events) {
        let terminal = state && idx.iter().any(|&k| specs[k].action == Action::Stop);
        // the saves before the event (and at it, for a terminal one), then the event's time
        let mut times: Vec<f64> = Vec::new();
        while next < save_at.len() && (save_at[next] < t || (terminal && save_at[next] == t)) {
            times.push(save_at[next]);
            next += 1;
        }
        times.push(t);
        let sol = crate::solve(sys, &y, p, t_start, &times, &seg)?;
        add(&mut stats, sol.stats);
        let mut rows = sol.y;
        let y_minus = rows.pop().expect("the event time is the last save");
        saved.extend(rows);
        if state {
            let n_out = 1 + n + if terminal { 0 } else { n };
            let out = jump_block(&y_minus, p, n_out, |yd, pd| {
                let j = state_jump(sys, t, &idx, terminal, yd, pd)?;
                let mut o = vec![j.t];
                o.extend(j.y);
                o.extend(j.restart.unwrap_or_default());
                Ok(o)
            })?;
            for &k in &idx {
                events.push(EventHit {
                    event: Event::State(k),
                    t: out[0],
                    y: out[1..1 + n].to_vec(),
                });
            }
            if terminal {
                return Ok(Solution {
                    t: save_at[..saved.len()].to_vec(),
                    y: saved,
                    stats,
                    events,
                });
            }
            y = out[1 + n..].to_vec();
        } else {
            for &j in &idx {
                events.push(EventHit {
                    event: Event::Time(j),
                    t: S::cst(t),
                    y: y_minus.clone(),
                });
            }
            y = jump_block(&y_minus, p, n, |yd, pd| time_jump(sys, t, &idx, yd, pd))?;
        }
        t_start = t;
        while next < save_at.len() && save_at[next] == t {
            saved.push(y.clone());
            next += 1;
        }
    }
    if next < save_at.len() {
        let sol = crate::solve(sys, &y, p, t_start, &save_at[next..], &seg)?;
        add(&mut stats, sol.stats);
        saved.extend(sol.y);
    }
    Ok(Solution {
        t: save_at[..saved.len()].to_vec(),
        y: saved,
        stats,
        events,
    })
}

fn add(a: &mut Stats, b: Stats) {
    a.steps += b.steps;
    a.rejected += b.rejected;
    a.rhs_evals += b.rhs_evals;
}
