//! Problems shared by the stiff tests (not a test target of its own: included with `mod`).
#![allow(dead_code)]

pub use ode::problems::Robertson;
use ode::{OdeSystem, Real};

pub const ROBER_P: [f64; 3] = [0.04, 3e7, 1e4];
pub const ROBER_Y0: [f64; 3] = [1.0, 0.0, 0.0];

/// W4: loss and gradient (k then y0) from BENCHMARKS.md.
pub const W4_LOSS: f64 = 2.965722883;
pub const W4_GRAD: [f64; 6] = [1.55672, 1.0126e-9, -6.2209e-6, 2.93389, 2.93390, 2.93390];

pub fn w4_loss<S: Real>(y: &[S]) -> S {
    y[0] + y[1] * 2e4 + y[2] * 3.0
}

/// Van der Pol with stiffness `mu = p[0]` (period about `(3 - 2 ln 2) mu`):
/// y0' = y1, y1' = mu (1 - y0^2) y1 - y0.
#[derive(Clone, Copy, Debug)]
pub struct VanDerPol;

impl OdeSystem for VanDerPol {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = y[1];
        dy[1] = p[0] * (S::one() - y[0] * y[0]) * y[1] - y[0];
    }
}

/// A linear stiff problem with eigenvalues -p0 and -p1 and a forcing:
/// y0' = -p0 (y0 - cos t), y1' = -p1 y1 + y0 (exact solution below for y0).
#[derive(Clone, Copy, Debug)]
pub struct LinearStiff;

impl OdeSystem for LinearStiff {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = -(p[0] * (y[0] - t.cos()));
        dy[1] = -(p[1] * y[1]) + y[0];
    }
}

/// `y0(t)` of [`LinearStiff`] with `y0(0) = a`: `y0 = c e^{-λt} + λ (λ cos t + sin t)/(λ^2+1)`.
pub fn linear_stiff_y0(a: f64, lam: f64, t: f64) -> f64 {
    let part = |t: f64| lam * (lam * t.cos() + t.sin()) / (lam * lam + 1.0);
    (a - part(0.0)) * (-lam * t).exp() + part(t)
}
