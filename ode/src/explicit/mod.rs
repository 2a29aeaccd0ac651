//! Explicit Runge-Kutta methods: one tableau-driven stepper, the PI step-size controller and
//! the integration loop, generic over the scalar type.
//!
//! Every method is stored in "first same as last" (FSAL) form: the last row of `a` is the
//! propagated weights `b` and `c_last = 1`, so the last stage is `f(t + h, y1)` and becomes the
//! next step's first stage. Step sizes are chosen on the *values* (`Real::value`) and are
//! constants for the derivatives: with `Dual` or `Var` scalars the solver differentiates the
//! numerical solution computed with those steps (the same steps as the `f64` solve).

pub(crate) mod dopri5;
pub(crate) mod rk4;
pub(crate) mod tsit5;

use ad_core::Real;

use crate::error::Error;
use crate::options::{Method, Options};
use crate::solution::Stats;
use crate::system::OdeSystem;

/// Which dense output a tableau has.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dense {
    /// Cubic Hermite from the end values and derivatives.
    Hermite,
    /// Hairer's continuous extension of Dormand-Prince.
    Dopri5,
    /// Tsitouras' interpolant.
    Tsit5,
}

/// An explicit Runge-Kutta method in FSAL form.
#[derive(Debug)]
pub(crate) struct Tableau {
    /// Nodes `c_i`.
    pub c: &'static [f64],
    /// Rows `a_i` (row `i` has `i` entries); the last row is `b`.
    pub a: &'static [&'static [f64]],
    /// Error weights `b - b_hat` (empty: fixed steps).
    pub e: &'static [f64],
    /// Dense output.
    pub dense: Dense,
}

impl Tableau {
    /// Number of stages (the FSAL stage included).
    pub(crate) fn stages(&self) -> usize {
        self.c.len()
    }
}

/// The tableau of a method.
pub(crate) fn tableau(method: Method) -> &'static Tableau {
    match method {
        Method::Rk4 { .. } => &rk4::TABLEAU,
        Method::Dopri5 => &dopri5::TABLEAU,
        Method::Tsit5 => &tsit5::TABLEAU,
    }
}

/// `out = y + h sum_j w_j k_j`, skipping zero weights (no tape nodes for them). The sum of
/// the increments is accumulated first and added to `y` last (as in Hairer's codes), in
/// vectorisable loops over the components.
#[inline]
pub(crate) fn combine<S: Real>(y: &[S], h: f64, w: &[f64], k: &[Vec<S>], out: &mut [S]) {
    let n = out.len();
    let mut first = true;
    for (kj, &wj) in k.iter().zip(w) {
        if wj == 0.0 {
            continue;
        }
        let c = h * wj;
        if first {
            for (o, &kv) in out.iter_mut().zip(&kj[..n]) {
                *o = kv * c;
            }
            first = false;
        } else {
            for (o, &kv) in out.iter_mut().zip(&kj[..n]) {
                *o += kv * c;
            }
        }
    }
    if first {
        out.copy_from_slice(y);
    } else {
        for (o, &yv) in out.iter_mut().zip(&y[..n]) {
            *o = yv + *o;
        }
    }
}

/// The time of stage `i` of a step from `t` with size `h` (the last stage at exactly `t + h`).
#[inline]
pub(crate) fn stage_time(tab: &Tableau, t: f64, h: f64, i: usize) -> f64 {
    if i == tab.stages() - 1 {
        t + h
    } else {
        t + tab.c[i] * h
    }
}

/// Computes stages `1..s` of a step from `t` with size `h`, given `k[0] = f(t, y)`: writes
/// `y1 = y + h sum b_j k_j` (the last stage's argument) and `k[s-1] = f(t + h, y1)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stages<S: Real, Sys: OdeSystem>(
    sys: &Sys,
    tab: &Tableau,
    t: f64,
    h: f64,
    y: &[S],
    p: &[S],
    k: &mut [Vec<S>],
    tmp: &mut [S],
    y1: &mut [S],
) {
    let s = tab.stages();
    for i in 1..s {
        let (done, rest) = k.split_at_mut(i);
        let arg: &mut [S] = if i == s - 1 { &mut *y1 } else { &mut *tmp };
        combine(y, h, tab.a[i], done, arg);
        sys.rhs(S::cst(stage_time(tab, t, h, i)), arg, p, &mut rest[0]);
    }
}

/// As [`stages`] on `f64`, also computing `k[0]` and keeping every stage's argument:
/// `args[i] = y + h sum_j a_ij k_j` (`args[0] = y`, `args[s-1] = y1`). The last stage
/// `f(t + h, y1)` is not evaluated (no argument depends on it): `k[s-1]` is left as it was.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stages_with_args<Sys: OdeSystem>(
    sys: &Sys,
    tab: &Tableau,
    t: f64,
    h: f64,
    y: &[f64],
    p: &[f64],
    k: &mut [Vec<f64>],
    args: &mut [Vec<f64>],
) {
    args[0].copy_from_slice(y);
    sys.rhs(t, y, p, &mut k[0]);
    let s = tab.stages();
    for (i, arg) in args.iter_mut().enumerate().take(s).skip(1) {
        let (done, rest) = k.split_at_mut(i);
        combine(y, h, tab.a[i], done, arg);
        if i < s - 1 {
            sys.rhs(stage_time(tab, t, h, i), arg, p, &mut rest[0]);
        }
    }
}

/// The state at save time `ts` in the step `[t, t_new]` of size `h`: `y1` itself at
/// `ts == t_new`, else the method's dense output.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_at<S: Real>(
    tab: &Tableau,
    t: f64,
    h: f64,
    t_new: f64,
    ts: f64,
    y: &[S],
    y1: &[S],
    k: &[Vec<S>],
    out: &mut [S],
) {
    if ts == t_new {
        out.copy_from_slice(y1);
        return;
    }
    let mut w = [0.0; MAX_STAGES];
    dense_weights(tab, (ts - t) / h, &mut w);
    combine(y, h, &w[..tab.stages()], k, out);
}

/// The most stages of any tableau.
pub(crate) const MAX_STAGES: usize = 8;

/// The dense output as stage weights: `y(t + θh) = y + h sum_j w_j k_j` (every interpolant
/// here is linear in `y` and the stages once `y1 - y = h sum_j b_j k_j` is substituted).
pub(crate) fn dense_weights(tab: &Tableau, theta: f64, w: &mut [f64]) {
    match tab.dense {
        Dense::Hermite => rk4::weights(theta, w),
        Dense::Dopri5 => dopri5::weights(theta, w),
        Dense::Tsit5 => tsit5::weights(theta, w),
    }
}

/// The weighted RMS norm of the error estimate `h sum_j e_j k_j` (on values), with scale
/// `atol_i + rtol max(|y_i|, |y1_i|)` (Hairer, Nørsett & Wanner I, II.4, eq. 4.11).
fn error_norm<S: Real>(tab: &Tableau, h: f64, y: &[S], y1: &[S], k: &[Vec<S>], o: &Options) -> f64 {
    let n = y.len();
    let mut sum = 0.0;
    for m in 0..n {
        let mut e = 0.0;
        for (j, &ej) in tab.e.iter().enumerate() {
            if ej != 0.0 {
                e += ej * k[j][m].value();
            }
        }
        let sc = o.atol_at(m) + o.rtol * y[m].value().abs().max(y1[m].value().abs());
        let r = h * e / sc;
        sum += r * r;
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).sqrt()
    }
}

/// The PI step-size controller of DOPRI5 (Hairer, Nørsett & Wanner, Solving ODEs I, IV.2 and
/// the code DOPRI5; Gustafsson 1991): `h_new = h / fac` with
/// `fac = clamp(err^(1/5 - 0.75 β) / err_old^β / 0.9, 1/10, 5)`, `β = 0.04`.
struct Controller {
    err_old: f64,
    rejected_last: bool,
}

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;
const BETA: f64 = 0.04;
const EXPO1: f64 = 0.2 - 0.75 * BETA;

impl Controller {
    fn accept(&mut self, h: f64, err: f64) -> f64 {
        let fac = err.powf(EXPO1) / self.err_old.powf(BETA) / SAFETY;
        let fac = fac.clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
        let mut h_new = h / fac;
        if self.rejected_last {
            h_new = h_new.min(h);
        }
        self.err_old = err.max(1e-4);
        self.rejected_last = false;
        h_new
    }

    fn reject(&mut self, h: f64, err: f64) -> f64 {
        self.rejected_last = true;
        if !err.is_finite() {
            return h * FAC_MIN;
        }
        h / (err.powf(EXPO1) / SAFETY).min(1.0 / FAC_MIN)
    }
}

/// Hairer's initial step size (Hairer, Nørsett & Wanner I, II.4, "starting step size"; the
/// routine `HINIT` of DOPRI5), with `order` the method's order. One extra evaluation of `f`.
#[allow(clippy::too_many_arguments)]
fn initial_step<Sys: OdeSystem>(
    sys: &Sys,
    t0: f64,
    y0: &[f64],
    f0: &[f64],
    p: &[f64],
    order: f64,
    o: &Options,
    span: f64,
) -> f64 {
    let n = y0.len().max(1) as f64;
    let sc = |m: usize| o.atol_at(m) + o.rtol * y0[m].abs();
    let norm = |v: &dyn Fn(usize) -> f64| {
        ((0..y0.len()).map(|m| (v(m) / sc(m)).powi(2)).sum::<f64>() / n).sqrt()
    };
    let d0 = norm(&|m| y0[m]);
    let d1 = norm(&|m| f0[m]);
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(o.h_max).min(span);
    let y1: Vec<f64> = (0..y0.len()).map(|m| y0[m] + h0 * f0[m]).collect();
    let mut f1 = vec![0.0; y0.len()];
    sys.rhs(t0 + h0, &y1, p, &mut f1);
    let d2 = norm(&|m| f1[m] - f0[m]) / h0;
    let dm = d1.max(d2);
    let h1 = if !dm.is_finite() {
        h0 * 1e-3
    } else if dm <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / dm).powf(1.0 / (order + 1.0))
    };
    (100.0 * h0).min(h1).min(o.h_max).min(span)
}

/// What the integration loop reports to its caller besides the saved states.
pub(crate) trait Observer<S> {
    /// An accepted step from `t` with size `h`; `y` is the state at `t`.
    fn accepted(&mut self, _t: f64, _h: f64, _y: &[S]) {}
}

impl<S> Observer<S> for () {}

/// The index of the first non-finite value, if any.
pub(crate) fn first_non_finite<S: Real>(v: &[S]) -> Option<usize> {
    v.iter().position(|x| !x.value().is_finite())
}

/// Integrates from `t0` through the sorted `save_at` (all `>= t0`), returning the states at
/// the save times. With `replay = Some(log)` the steps `(t_k, h_k)` of an earlier solve are
/// retaken exactly (no error control); else steps follow `opts`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn integrate<S: Real, Sys: OdeSystem, O: Observer<S>>(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The weight form of each dense output equals its textbook formula.
    #[test]
    fn dense_weights_match_the_formulas() {
        let mut rng = ad_core::testing::Rng::new(3);
        for tab in [&rk4::TABLEAU, &dopri5::TABLEAU, &tsit5::TABLEAU] {
            let s = tab.stages();
            let n = 3;
            let h = 0.37;
            let y = rng.vec(n, -1.0, 1.0);
            let k: Vec<Vec<f64>> = (0..s).map(|_| rng.vec(n, -1.0, 1.0)).collect();
            let mut y1 = vec![0.0; n];
            combine(&y, h, tab.a[s - 1], &k, &mut y1);
            for theta in [0.0, 0.2, 0.5, 0.77, 1.0] {
                let mut w = [0.0; MAX_STAGES];
                dense_weights(tab, theta, &mut w);
                let mut a = vec![0.0; n];
                combine(&y, h, &w[..s], &k, &mut a);
                let mut b = vec![0.0; n];
                match tab.dense {
                    Dense::Hermite => rk4::dense(theta, h, &y, &y1, &k, &mut b),
                    Dense::Dopri5 => dopri5::dense(theta, h, &y, &y1, &k, &mut b),
                    Dense::Tsit5 => b.copy_from_slice(&a),
                }
                for m in 0..n {
                    assert!((a[m] - b[m]).abs() < 1e-14, "{:?} θ = {theta}", tab.dense);
                }
                if theta == 1.0 {
                    for m in 0..n {
                        assert!((a[m] - y1[m]).abs() < 1e-14, "{:?} at θ = 1", tab.dense);
                    }
                }
            }
        }
    }
}
