//! The Lotka-Volterra problem shared by W3, W6 and W7 (BENCHMARKS.md).

use ad_core::Real;
pub use ode::problems::LotkaVolterra;

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
