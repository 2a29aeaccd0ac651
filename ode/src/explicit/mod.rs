//! Explicit Runge-Kutta methods: one tableau-driven stepper, the PI step-size controller and
//! the integration loop, generic over the scalar type.
//!
//! Every method is stored in "first same as last" (FSAL) form: the last row of `a` is the
//! propagated weights `b` and `c_last = 1`, so the last stage is `f(t + h, y1)` and becomes the
//! next step's first stage. Step sizes are chosen on the *values* (`Real::value`) and are
//! constants for the derivatives: with `Dual` or `Var` scalars the solver differentiates the
//! numerical solution computed with those steps (the same steps as the `f64` solve).

mod controller;
pub(crate) mod dopri5;
mod integrate;
pub(crate) mod rk4;
mod stepper;
pub(crate) mod tsit5;

pub use controller::Tangents;
pub(crate) use integrate::{integrate, integrate_events, Observer};
pub use stepper::ExplicitStepper;

use ad_core::Real;

use crate::options::Method;
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
        _ => unreachable!("stiff methods are dispatched to crate::stiff"),
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
