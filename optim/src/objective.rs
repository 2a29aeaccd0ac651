//! The objective as the methods see it: counted evaluations and the start-point checks.

use crate::Error;

/// Wraps the user's `f(x, g) -> value` with an evaluation counter.
pub(crate) struct Objective<F> {
    f: F,
    pub evaluations: usize,
}

impl<F: FnMut(&[f64], &mut [f64]) -> f64> Objective<F> {
    pub fn new(f: F) -> Self {
        Objective { f, evaluations: 0 }
    }

    /// Evaluates value and gradient (the gradient buffer is zeroed first).
    pub fn eval(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        g.fill(0.0);
        self.evaluations += 1;
        (self.f)(x, g)
    }

    /// Evaluates at the start and reports a non-finite value or gradient as an error.
    pub fn eval_start(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, Error> {
        let v = self.eval(x, g);
        if !v.is_finite() {
            return Err(Error::NonFiniteValue { value: v });
        }
        if let Some(index) = g.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteGradient {
                index,
                value: g[index],
            });
        }
        Ok(v)
    }
}

/// Checks a starting point: non-empty, finite.
pub(crate) fn check_start(x0: &[f64]) -> Result<(), Error> {
    if x0.is_empty() {
        return Err(Error::EmptyStart);
    }
    if let Some(index) = x0.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteStart {
            index,
            value: x0[index],
        });
    }
    Ok(())
}

/// Checks that the bounds (if any) have `n` components.
pub(crate) fn check_bounds(b: Option<&crate::Bounds>, n: usize) -> Result<(), Error> {
    match b {
        Some(b) if b.len() != n => Err(Error::DimensionMismatch {
            what: "bounds",
            expected: n,
            got: b.len(),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm2(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn norm_inf(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}
