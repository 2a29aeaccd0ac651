//! The problem zoo shared by the tests: systems with known answers.
#![allow(dead_code)]

#[allow(unused_imports)] // not every test binary uses it
pub use ode::problems::LotkaVolterra;
use ode::{OdeSystem, Real};

pub const W3_P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
pub const W3_Y0: [f64; 2] = [1.0, 1.0];
pub const W3_LOSS: f64 = 1717.358726548;
/// Gradient w.r.t. p then y0.
pub const W3_GRAD: [f64; 6] = [
    69.5537143,
    -1105.1222569,
    -3627.0178625,
    1030.6588998,
    -1039.4285119,
    -257.9941544,
];

pub fn w3_save_at() -> Vec<f64> {
    (0..=100).map(|k| 0.1 * k as f64).collect()
}

pub fn w3_loss<S: Real>(y: &[Vec<S>]) -> S {
    y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum()
}

/// y' = p y cos t, y(0) = y0: y(t) = y0 exp(p sin t) (non-autonomous, exact).
#[derive(Clone, Copy, Debug)]
pub struct CosGrowth;

impl OdeSystem for CosGrowth {
    fn dim(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] * t.cos();
    }
}

pub fn cos_growth_exact(y0: f64, p: f64, t: f64) -> f64 {
    y0 * (p * t.sin()).exp()
}

/// Harmonic oscillator y0' = w y1, y1' = -w y0: a rotation with period 2 pi / w.
#[derive(Clone, Copy, Debug)]
pub struct Oscillator;

impl OdeSystem for Oscillator {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[1];
        dy[1] = -(p[0] * y[0]);
    }
}

/// y' = y^2: blows up at t = 1/y0.
#[derive(Clone, Copy, Debug)]
pub struct BlowUp;

impl OdeSystem for BlowUp {
    fn dim(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        0
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], _p: &[S], dy: &mut [S]) {
        dy[0] = y[0] * y[0];
    }
}

/// y' = sqrt(y - 1): NaN once y < 1 (it starts below).
#[derive(Clone, Copy, Debug)]
pub struct NanRhs;

impl OdeSystem for NanRhs {
    fn dim(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        0
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], _p: &[S], dy: &mut [S]) {
        dy[0] = (y[0] - 1.0).sqrt();
    }
}

pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}
