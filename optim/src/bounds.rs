//! Box bounds `lower <= x <= upper` and the projections used by every method.

use crate::Error;

/// Box bounds `lower[i] <= x[i] <= upper[i]`; infinite entries mean "unbounded".
///
/// ```
/// let b = optim::Bounds::new(vec![0.0, f64::NEG_INFINITY], vec![1.0, 5.0]).unwrap();
/// assert_eq!(b.len(), 2);
/// assert!(optim::Bounds::new(vec![2.0], vec![1.0]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl Bounds {
    /// Bounds from the two vectors. Errors if their lengths differ, if a bound is NaN, or if
    /// `lower[i] > upper[i]`.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self, Error> {
        if lower.len() != upper.len() {
            return Err(Error::DimensionMismatch {
                what: "upper bounds",
                expected: lower.len(),
                got: upper.len(),
            });
        }
        for (index, (&l, &u)) in lower.iter().zip(&upper).enumerate() {
            if l.is_nan() || u.is_nan() || l > u || l == f64::INFINITY || u == f64::NEG_INFINITY {
                return Err(Error::InvalidBounds {
                    index,
                    lower: l,
                    upper: u,
                });
            }
        }
        Ok(Bounds { lower, upper })
    }

    /// The same bounds `[lower, upper]` for each of `n` components.
    pub fn uniform(n: usize, lower: f64, upper: f64) -> Result<Self, Error> {
        Self::new(vec![lower; n], vec![upper; n])
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// True if there are no components.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Lower bounds.
    pub fn lower(&self) -> &[f64] {
        &self.lower
    }

    /// Upper bounds.
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// Clamps `x` into the box in place.
    pub fn project(&self, x: &mut [f64]) {
        for ((xi, &l), &u) in x.iter_mut().zip(&self.lower).zip(&self.upper) {
            *xi = xi.clamp(l, u);
        }
    }
}

/// Optional bounds as used inside the methods (`None`: unconstrained).
pub(crate) fn project(b: Option<&Bounds>, x: &mut [f64]) {
    if let Some(b) = b {
        b.project(x);
    }
}

/// True if component `i` is held at a bound by the gradient: at the lower bound with `g > 0`
/// or at the upper bound with `g < 0` (a descent step would leave the box).
pub(crate) fn is_held(b: Option<&Bounds>, x: &[f64], g: &[f64], i: usize) -> bool {
    match b {
        None => false,
        Some(b) => (x[i] <= b.lower[i] && g[i] > 0.0) || (x[i] >= b.upper[i] && g[i] < 0.0),
    }
}

/// Max-norm of the projected gradient `x - P(x - g)`, the first-order optimality measure of a
/// box-constrained problem (equal to `|g|_inf` without bounds).
pub(crate) fn projected_grad_norm(b: Option<&Bounds>, x: &[f64], g: &[f64]) -> f64 {
    match b {
        None => g.iter().fold(0.0, |m, v| m.max(v.abs())),
        Some(b) => (0..x.len()).fold(0.0, |m, i| {
            let p = (x[i] - g[i]).clamp(b.lower[i], b.upper[i]);
            m.max((x[i] - p).abs())
        }),
    }
}

/// The largest `t` with `x + t d` inside the box (infinite if no bound blocks `d`).
pub(crate) fn max_step(b: Option<&Bounds>, x: &[f64], d: &[f64]) -> f64 {
    let Some(b) = b else {
        return f64::INFINITY;
    };
    let mut t = f64::INFINITY;
    for i in 0..x.len() {
        if d[i] < 0.0 && b.lower[i].is_finite() {
            t = t.min(((b.lower[i] - x[i]) / d[i]).max(0.0));
        } else if d[i] > 0.0 && b.upper[i].is_finite() {
            t = t.min(((b.upper[i] - x[i]) / d[i]).max(0.0));
        }
    }
    t
}

/// `out = P(x + t d)`.
pub(crate) fn step_to(b: Option<&Bounds>, x: &[f64], d: &[f64], t: f64, out: &mut [f64]) {
    for i in 0..x.len() {
        out[i] = x[i] + t * d[i];
    }
    project(b, out);
}
