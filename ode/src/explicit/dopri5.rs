//! Dormand-Prince 5(4) (J. R. Dormand & P. J. Prince, "A family of embedded Runge-Kutta
//! formulae", J. Comput. Appl. Math. 6, 1980), the pair of Hairer's DOPRI5.
//!
//! Seven stages, FSAL (the seventh stage `f(t + h, y1)` is the next step's first); the
//! fifth-order solution is propagated (local extrapolation) and the embedded fourth-order one
//! gives the error estimate `err = h sum_i e_i k_i`, `e = b - b_hat`.
//!
//! Dense output: Hairer's continuous extension of order 4 (Hairer, Nørsett & Wanner, Solving
//! ODEs I, II.6, and the routine `CONTD5` of DOPRI5), with `θ = (t - t0)/h`:
//!
//! ```text
//! y(t0 + θh) = y0 + θ (Δ + (1-θ) (B + θ (Δ - h k7 - B + (1-θ) h sum_i d_i k_i)))
//! Δ = y1 - y0,  B = h k1 - Δ
//! ```

#[cfg(test)]
use ad_core::Real;

use super::{Dense, Tableau};

/// The Dormand-Prince tableau; the last row is `b` (FSAL).
pub(crate) static TABLEAU: Tableau = Tableau {
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
        &[
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ],
    e: &[
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ],
    dense: Dense::Dopri5,
};

/// Hairer's dense-output coefficients `d_i` (DOPRI5, `CONTD5`).
const D: [f64; 7] = [
    -12715105075.0 / 11282082432.0,
    0.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
];

/// The continuous extension as stage weights, `y(t0 + θh) = y0 + h sum_j w_j k_j`: with
/// `Δ = h sum_j b_j k_j` the formula above expands to
/// `w_j = (θ - θ(1-θ) + 2θ²(1-θ)) b_j + θ²(1-θ)² d_j`, plus `θ(1-θ) - θ²(1-θ)` on `k1` and
/// `- θ²(1-θ)` on `k7`.
pub(crate) fn weights(theta: f64, w: &mut [f64]) {
    let t1 = 1.0 - theta;
    let c_delta = theta - theta * t1 + 2.0 * theta * theta * t1;
    let c_d = theta * theta * t1 * t1;
    let b = TABLEAU.a[6];
    for j in 0..7 {
        w[j] = c_delta * b.get(j).copied().unwrap_or(0.0) + c_d * D[j];
    }
    w[0] += theta * t1 - theta * theta * t1;
    w[6] -= theta * theta * t1;
}

/// The continuous extension at `t0 + θh` (the formula; the solver uses [`weights`], checked
/// against this).
#[cfg(test)]
pub(crate) fn dense<S: Real>(theta: f64, h: f64, y0: &[S], y1: &[S], k: &[Vec<S>], out: &mut [S]) {
    let t1 = 1.0 - theta;
    for m in 0..out.len() {
        let delta = y1[m] - y0[m];
        let bspl = k[0][m] * h - delta;
        let mut r5 = k[0][m] * (h * D[0]);
        for (i, &d) in D.iter().enumerate().skip(2) {
            r5 += k[i][m] * (h * d);
        }
        let r4 = delta - k[6][m] * h - bspl;
        out[m] = y0[m] + (delta + (bspl + (r4 + r5 * t1) * theta) * t1) * theta;
    }
}
