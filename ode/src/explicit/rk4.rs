//! Classic fourth-order Runge-Kutta (Kutta 1901) with fixed steps.
//!
//! ```text
//! k1 = f(t, y)            k2 = f(t + h/2, y + h/2 k1)
//! k3 = f(t + h/2, y + h/2 k2)   k4 = f(t + h, y + h k3)
//! y1 = y + h (k1 + 2 k2 + 2 k3 + k4) / 6
//! ```
//!
//! Written as a five-stage "first same as last" tableau whose fifth stage `f(t + h, y1)` is the
//! next step's `k1`: the step costs four evaluations, and the end derivative it provides feeds
//! the cubic Hermite interpolant used for save times between steps (Hairer, Nørsett & Wanner,
//! Solving ODEs I, II.6):
//!
//! ```text
//! y(t + θh) = (1-θ) y0 + θ y1 + θ(θ-1) [ (1-2θ)(y1-y0) + (θ-1) h f0 + θ h f1 ]
//! ```

#[cfg(test)]
use ad_core::Real;

use super::{Dense, Tableau};

/// The RK4 tableau; the last row is `b` (FSAL form).
pub(crate) static TABLEAU: Tableau = Tableau {
    c: &[0.0, 0.5, 0.5, 1.0, 1.0],
    a: &[
        &[],
        &[0.5],
        &[0.0, 0.5],
        &[0.0, 0.0, 1.0],
        &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    ],
    e: &[],
    dense: Dense::Hermite,
};

/// The Hermite interpolant as stage weights: `y(t + θh) = y0 + h sum_j w_j k_j`, from
/// `y1 - y0 = h sum_j b_j k_j`, `f0 = k_0`, `f1 = k_4`.
pub(crate) fn weights(theta: f64, w: &mut [f64]) {
    let b = TABLEAU.a[4];
    let q = theta * (theta - 1.0);
    let c_d = theta + (1.0 - 2.0 * theta) * q;
    for j in 0..4 {
        w[j] = c_d * b[j];
    }
    w[0] += (theta - 1.0) * q;
    w[4] = theta * q;
}

/// Cubic Hermite interpolation on `[t, t + h]` from `y0`, `y1`, `f0 = k[0]`, `f1 = k[last]`
/// (the formula; the solver uses [`weights`], checked against this).
#[cfg(test)]
pub(crate) fn dense<S: Real>(theta: f64, h: f64, y0: &[S], y1: &[S], k: &[Vec<S>], out: &mut [S]) {
    let f0 = &k[0];
    let f1 = &k[k.len() - 1];
    let w = theta * (theta - 1.0);
    let (c_d, c_f0, c_f1) = (
        (1.0 - 2.0 * theta) * w,
        (theta - 1.0) * h * w,
        theta * h * w,
    );
    for m in 0..out.len() {
        let d = y1[m] - y0[m];
        out[m] = y0[m] + d * (theta + c_d) + f0[m] * c_f0 + f1[m] * c_f1;
    }
}
