//! The L-BFGS inverse-Hessian approximation: the two-loop recursion over the last m pairs
//! (Nocedal & Wright, Alg. 7.4) with the initial scaling `H0 = gamma I`,
//! `gamma = s'y / y'y` of the newest pair (N&W eq. 7.20).

use std::collections::VecDeque;

use crate::objective::dot;

/// The last `m` curvature pairs.
pub(crate) struct Memory {
    m: usize,
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    alpha: Vec<f64>,
}

impl Memory {
    pub fn new(m: usize) -> Self {
        Memory {
            m,
            pairs: VecDeque::with_capacity(m),
            alpha: vec![0.0; m],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Adds `(s, y)` if the curvature `s'y` is safely positive (skips it otherwise, which keeps
    /// the approximation positive definite). Returns whether it was stored.
    pub fn push(&mut self, s: &[f64], y: &[f64]) -> bool {
        let sy = dot(s, y);
        let yy = dot(y, y);
        if sy <= f64::EPSILON * yy || !sy.is_finite() || yy.is_nan() {
            return false;
        }
        let (mut sv, mut yv) = if self.pairs.len() == self.m {
            let (a, b, _) = self.pairs.pop_front().unwrap();
            (a, b)
        } else {
            (vec![0.0; s.len()], vec![0.0; s.len()])
        };
        sv.copy_from_slice(s);
        yv.copy_from_slice(y);
        self.pairs.push_back((sv, yv, 1.0 / sy));
        true
    }

    /// `d = -H g`, with components in `fixed` held at zero (input and output).
    pub fn direction(&mut self, g: &[f64], fixed: &[bool], d: &mut [f64]) {
        for i in 0..g.len() {
            d[i] = if fixed[i] { 0.0 } else { -g[i] };
        }
        let k = self.pairs.len();
        for (j, (s, y, rho)) in self.pairs.iter().enumerate().rev() {
            let a = rho * dot(s, d);
            self.alpha[j] = a;
            axpy(-a, y, d, fixed);
        }
        if let Some((s, y, _)) = self.pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            d.iter_mut().for_each(|v| *v *= gamma);
        }
        for (j, (s, y, rho)) in self.pairs.iter().enumerate().take(k) {
            let b = rho * dot(y, d);
            axpy(self.alpha[j] - b, s, d, fixed);
        }
    }
}

fn axpy(a: f64, x: &[f64], y: &mut [f64], fixed: &[bool]) {
    for i in 0..y.len() {
        if !fixed[i] {
            y[i] += a * x[i];
        }
    }
}
