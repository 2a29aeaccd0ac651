//! The integration loop: adaptive or fixed steps (or a replay of recorded steps), FSAL, and
//! the states at the save times from the dense output.

use ad_core::Real;

use crate::error::Error;
use crate::options::{Method, Options};
use crate::solution::Stats;
use crate::system::OdeSystem;

use super::controller::{error_norm, initial_step, Controller, Tangents};
use super::{dense_at, stages, tableau, Tableau};

/// What the integration loop reports to its caller besides the saved states.
pub(crate) trait Observer<S> {
    /// An accepted step from `t` with size `h`; `y` is the state at `t`.
    fn accepted(&mut self, _t: f64, _h: f64, _y: &[S]) {}
}

impl<S> Observer<S> for () {}

/// The index of the first non-finite value, if any.
fn first_non_finite<S: Real>(v: &[S]) -> Option<usize> {
    v.iter().position(|x| !x.value().is_finite())
}

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
    let tab = tableau(opts.method);
    let s = tab.stages();
    let mut stats = Stats::default();
    let mut saved: Vec<Vec<S>> = Vec::with_capacity(save_at.len());
    let mut next = 0;
    while next < save_at.len() && save_at[next] <= t0 {
        saved.push(y0.to_vec());
        next += 1;
    }
    if next == save_at.len() {
        return Ok((saved, stats));
    }
    let t_end = save_at[save_at.len() - 1];
    if let Some(m) = first_non_finite(y0) {
        return Err(Error::NonFinite {
            t: t0,
            component: m,
        });
    }

    let mut y = y0.to_vec();
    let mut y1 = y0.to_vec();
    let mut tmp = y0.to_vec();
    let mut k: Vec<Vec<S>> = vec![y0.to_vec(); s];
    sys.rhs(S::cst(t0), &y, p, &mut k[0]);
    stats.rhs_evals += 1;
    if let Some(m) = first_non_finite(&k[0]) {
        return Err(Error::NonFinite {
            t: t0,
            component: m,
        });
    }

    let adaptive = replay.is_none() && opts.is_adaptive();
    let mut h = match (replay, opts.method) {
        (Some(log), _) => log.first().map_or(t_end - t0, |e| e.1),
        (None, Method::Rk4 { dt }) => dt,
        (None, _) => match opts.h0 {
            Some(h0) => h0.min(opts.h_max),
            None => {
                let yv: Vec<f64> = y.iter().map(|v| v.value()).collect();
                let fv: Vec<f64> = k[0].iter().map(|v| v.value()).collect();
                let pv: Vec<f64> = p.iter().map(|v| v.value()).collect();
                stats.rhs_evals += 1;
                initial_step(sys, t0, &yv, &fv, &pv, 5.0, opts, t_end - t0)
            }
        },
    };
    let mut ctrl = Controller {
        err_old: 1e-4,
        rejected_last: false,
    };
    let mut t = t0;
    let mut attempts = 0usize;
    loop {
        // Choose this step's size and end.
        let (t_new, last) = match replay {
            Some(log) => {
                let (tk, hk) = log[stats.steps];
                t = tk;
                h = hk;
                let last = stats.steps + 1 == log.len();
                (if last { t_end } else { log[stats.steps + 1].0 }, last)
            }
            None => {
                if attempts >= opts.max_steps {
                    return Err(Error::MaxStepsReached { t, steps: attempts });
                }
                if adaptive {
                    h = h.min(opts.h_max);
                    if t + 1.01 * h >= t_end {
                        h = t_end - t;
                    }
                    if h <= 10.0 * f64::EPSILON * t.abs() || h <= 0.0 || !h.is_finite() {
                        return Err(Error::StepSizeTooSmall { t, h });
                    }
                    if t + h >= t_end {
                        (t_end, true)
                    } else {
                        (t + h, false)
                    }
                } else {
                    // fixed steps: t_k = t0 + k dt, the last one shortened to end at t_end
                    let Method::Rk4 { dt } = opts.method else {
                        unreachable!()
                    };
                    if t + dt * (1.0 + 1e-9) >= t_end {
                        h = t_end - t;
                        (t_end, true)
                    } else {
                        h = dt;
                        (t + dt, false)
                    }
                }
            }
        };
        attempts += 1;
        stages(sys, tab, t, h, &y, p, &mut k, &mut tmp, &mut y1);
        stats.rhs_evals += s - 1;
        if adaptive {
            let mut err = error_norm(tab, h, &y, &y1, &k, opts);
            if first_non_finite(&y1).is_some() || first_non_finite(&k[s - 1]).is_some() {
                err = f64::INFINITY;
            }
            if err.is_nan() || err > 1.0 {
                h = ctrl.reject(h, err);
                stats.rejected += 1;
                continue;
            }
            let h_next = ctrl.accept(h, err);
            obs.accepted(t, h, &y);
            save_in_step(
                tab, t, h, t_new, last, &y, &y1, &k, save_at, &mut next, &mut saved,
            );
            h = h_next;
        } else {
            if let Some(m) = first_non_finite(&y1).or_else(|| first_non_finite(&k[s - 1])) {
                return Err(Error::NonFinite {
                    t: t_new,
                    component: m,
                });
            }
            obs.accepted(t, h, &y);
            save_in_step(
                tab, t, h, t_new, last, &y, &y1, &k, save_at, &mut next, &mut saved,
            );
        }
        stats.steps += 1;
        std::mem::swap(&mut y, &mut y1);
        k.swap(0, s - 1);
        t = t_new;
        if last {
            return Ok((saved, stats));
        }
    }
}

/// Appends the states at the save times in `(t, t_new]` (all remaining ones on the last step).
#[allow(clippy::too_many_arguments)]
fn save_in_step<S: Real>(
    tab: &Tableau,
    t: f64,
    h: f64,
    t_new: f64,
    last: bool,
    y: &[S],
    y1: &[S],
    k: &[Vec<S>],
    save_at: &[f64],
    next: &mut usize,
    saved: &mut Vec<Vec<S>>,
) {
    while *next < save_at.len() && (last || save_at[*next] <= t_new) {
        let mut out = y1.to_vec();
        dense_at(tab, t, h, t_new, save_at[*next], y, y1, k, &mut out);
        saved.push(out);
        *next += 1;
    }
}
