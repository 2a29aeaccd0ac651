//! The Lotka-Volterra problem shared by W3, W6 and W7 (BENCHMARKS.md).

use ad_core::Real;
use ode::OdeSystem;

/// `x' = a x - b x z`, `z' = d x z - g z`; `p = (a, b, d, g)`.
#[derive(Clone, Copy, Debug)]
pub struct LotkaVolterra;

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

/// The true parameters.
pub const P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
/// The initial state.
pub const Y0: [f64; 2] = [1.0, 1.0];

/// Save times `t_k = 0.1 k`, `k = 0..=100`.
pub fn save_times() -> Vec<f64> {
    (0..=100).map(|k| 0.1 * k as f64).collect()
}

/// `sum_k x(t_k)^2 + z(t_k)^2`.
pub fn loss<S: Real>(y: &[Vec<S>]) -> S {
    y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum()
}

/// Euclidean norm.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}
