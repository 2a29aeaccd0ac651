//! Standard test problems with known answers, shared by the tests, the examples and the
//! benchmark suite (BENCHMARKS.md's W3-W7), so each is written once.

use ad_core::Real;

use crate::system::OdeSystem;

/// Lotka-Volterra predator-prey: `x' = a x - b x z`, `z' = d x z - g z`, `p = (a, b, d, g)`
/// (W3, W6, W7).
#[derive(Clone, Copy, Debug, Default)]
pub struct LotkaVolterra;

impl LotkaVolterra {
    /// W3's parameters `(a, b, d, g)`.
    pub const P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
    /// W3's initial state `(x, z)`.
    pub const Y0: [f64; 2] = [1.0, 1.0];
}

impl OdeSystem for LotkaVolterra {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        4
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
        dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
    }
}

/// Robertson's stiff chemical kinetics: `y1' = -k1 y1 + k3 y2 y3`,
/// `y2' = k1 y1 - k2 y2^2 - k3 y2 y3`, `y3' = k2 y2^2`, `p = (k1, k2, k3)` (W4).
#[derive(Clone, Copy, Debug, Default)]
pub struct Robertson;

impl Robertson {
    /// The classic rate constants `(0.04, 3e7, 1e4)`.
    pub const K: [f64; 3] = [0.04, 3e7, 1e4];
    /// The initial state `(1, 0, 0)`.
    pub const Y0: [f64; 3] = [1.0, 0.0, 0.0];
}

impl OdeSystem for Robertson {
    fn dim(&self) -> usize {
        3
    }
    fn n_params(&self) -> usize {
        3
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let r1 = p[0] * y[0];
        let r2 = p[1] * y[1] * y[1];
        let r3 = p[2] * y[1] * y[2];
        dy[0] = r3 - r1;
        dy[1] = r1 - r2 - r3;
        dy[2] = r2;
    }
}

/// The 1D Brusselator (Hairer & Wanner II, IV.1, BRUSS) with `n` interior points on [0, 1]:
/// `u_i' = 1 + u_i^2 v_i - (B + 1) u_i + c (u_{i-1} - 2 u_i + u_{i+1})`,
/// `v_i' = B u_i - u_i^2 v_i + c (v_{i-1} - 2 v_i + v_{i+1})`, `c = α (n + 1)^2`, boundary
/// values `u = 1`, `v = 3`, states interleaved `(u_i, v_i)`, `p = (α, B)`. Its Jacobian is
/// banded (`2 n` states, sparse for large `n`): the stiff solvers' sparse-path test problem.
#[derive(Clone, Copy, Debug)]
pub struct Brusselator1d {
    /// Interior grid points (`2 n` states).
    pub n: usize,
}

impl OdeSystem for Brusselator1d {
    fn dim(&self) -> usize {
        2 * self.n
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let n = self.n;
        let c = p[0] * ((n + 1) * (n + 1)) as f64;
        for i in 0..n {
            let (u, v) = (y[2 * i], y[2 * i + 1]);
            let (ul, vl) = if i == 0 {
                (S::cst(1.0), S::cst(3.0))
            } else {
                (y[2 * i - 2], y[2 * i - 1])
            };
            let (ur, vr) = if i + 1 == n {
                (S::cst(1.0), S::cst(3.0))
            } else {
                (y[2 * i + 2], y[2 * i + 3])
            };
            let uuv = u * u * v;
            dy[2 * i] = uuv + 1.0 - u * (p[1] + 1.0) + c * (ul - u * 2.0 + ur);
            dy[2 * i + 1] = u * p[1] - uuv + c * (vl - v * 2.0 + vr);
        }
    }
}
