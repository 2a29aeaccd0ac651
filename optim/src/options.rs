//! Options of [`minimize`](crate::minimize): the method as a value, tolerances, limits, bounds.

use crate::{Bounds, Error};

/// The minimisation method.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Method {
    /// Limited-memory BFGS with a More-Thuente strong-Wolfe line search (Nocedal & Wright,
    /// Alg. 7.4 and 7.5). `memory` is the number of stored pairs `(s, y)`; 5-20 is typical.
    Lbfgs {
        /// History size m (>= 1).
        memory: usize,
    },
    /// Steepest descent with the same line search; mainly a baseline.
    GradientDescent,
    /// Adam (Kingma & Ba 2015): for noisy or stochastic objectives, fixed number of steps.
    Adam {
        /// Step size alpha (> 0).
        learning_rate: f64,
        /// Decay of the first-moment average, in [0, 1).
        beta1: f64,
        /// Decay of the second-moment average, in [0, 1).
        beta2: f64,
        /// Denominator guard (> 0).
        epsilon: f64,
    },
}

impl Method {
    /// L-BFGS with history 10 (SciPy's default).
    pub const LBFGS: Method = Method::Lbfgs { memory: 10 };

    /// Adam with the paper's defaults (beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8) and the
    /// given learning rate.
    pub fn adam(learning_rate: f64) -> Method {
        Method::Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match *self {
            Method::Lbfgs { memory: 0 } => Err(Error::InvalidOption {
                name: "Lbfgs::memory",
                value: 0.0,
                reason: "the L-BFGS history needs at least one pair",
            }),
            Method::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                positive("Adam::learning_rate", learning_rate)?;
                positive("Adam::epsilon", epsilon)?;
                for (name, b) in [("Adam::beta1", beta1), ("Adam::beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::InvalidOption {
                            name,
                            value: b,
                            reason: "must be in [0, 1)",
                        });
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), Error> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value,
            reason: "must be positive and finite",
        })
    }
}

pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value,
            reason: "must be >= 0 and finite (0 disables the test)",
        })
    }
}

/// Options of [`minimize`](crate::minimize). Build from [`Options::default`] (L-BFGS, m = 10)
/// with the `with_*` setters; those that can be given an invalid value validate it and return
/// `Result`.
///
/// ```
/// use optim::{Method, Options};
/// let opts = Options::default()
///     .with_grad_tol(1e-8)?
///     .with_max_iterations(500)
///     .with_bounds(vec![0.0; 3], vec![10.0; 3])?;
/// assert_eq!(opts.method(), Method::Lbfgs { memory: 10 });
/// assert!(Options::default().with_grad_tol(-1.0).is_err());
/// # Ok::<(), optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub(crate) method: Method,
    pub(crate) grad_tol: f64,
    pub(crate) f_tol: f64,
    pub(crate) x_tol: f64,
    pub(crate) max_iterations: usize,
    pub(crate) max_evaluations: usize,
    pub(crate) bounds: Option<Bounds>,
    pub(crate) line_search: LineSearch,
}

/// Parameters of the More-Thuente line search (Nocedal & Wright's c1, c2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineSearch {
    /// Sufficient decrease (Armijo) constant c1, in (0, c2).
    pub c1: f64,
    /// Curvature constant c2 of the strong Wolfe condition `|phi'(a)| <= c2 |phi'(0)|`, in (c1, 1).
    pub c2: f64,
    /// Most function evaluations per line search.
    pub max_evaluations: usize,
}

impl Default for LineSearch {
    /// L-BFGS-B's values: c1 = 1e-3, c2 = 0.9, 20 evaluations.
    fn default() -> Self {
        LineSearch {
            c1: 1e-3,
            c2: 0.9,
            max_evaluations: 20,
        }
    }
}

impl Default for Options {
    /// L-BFGS (m = 10), projected-gradient tolerance 1e-6, `f_tol` 1e-15, `x_tol` 0, 1000
    /// iterations, 10 000 evaluations, no bounds.
    fn default() -> Self {
        Options {
            method: Method::LBFGS,
            grad_tol: 1e-6,
            f_tol: 1e-15,
            x_tol: 0.0,
            max_iterations: 1000,
            max_evaluations: 10_000,
            bounds: None,
            line_search: LineSearch::default(),
        }
    }
}

impl Options {
    /// Default options with another method (validated: history >= 1, Adam's rates in range).
    pub fn with_method(mut self, method: Method) -> Result<Self, Error> {
        method.validate()?;
        self.method = method;
        Ok(self)
    }

    /// Stop when the max-norm of the projected gradient is `<= tol` (>= 0).
    pub fn with_grad_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("grad_tol", tol)?;
        self.grad_tol = tol;
        Ok(self)
    }

    /// Stop when an iteration decreases the value by at most `tol * max(|f_k|, |f_k+1|, 1)`
    /// (>= 0; SciPy's L-BFGS-B uses 2.2e-9). Not used by Adam, whose values are not monotone.
    pub fn with_f_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("f_tol", tol)?;
        self.f_tol = tol;
        Ok(self)
    }

    /// Stop when a step's max-norm is at most `tol * max(1, |x|_inf)` (>= 0).
    pub fn with_x_tol(mut self, tol: f64) -> Result<Self, Error> {
        non_negative("x_tol", tol)?;
        self.x_tol = tol;
        Ok(self)
    }

    /// Most iterations (for Adam: steps).
    pub fn with_max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }

    /// Most objective evaluations (value and gradient count as one).
    pub fn with_max_evaluations(mut self, n: usize) -> Self {
        self.max_evaluations = n;
        self
    }

    /// Box bounds `lower <= x <= upper` (validated as in [`Bounds::new`]). A start outside the
    /// box is projected into it.
    pub fn with_bounds(self, lower: Vec<f64>, upper: Vec<f64>) -> Result<Self, Error> {
        Ok(self.with_box(Bounds::new(lower, upper)?))
    }

    /// Box bounds from an existing [`Bounds`].
    pub fn with_box(mut self, bounds: Bounds) -> Self {
        self.bounds = Some(bounds);
        self
    }

    /// Line-search parameters (validated: `0 < c1 < c2 < 1`, at least 2 evaluations).
    pub fn with_line_search(mut self, ls: LineSearch) -> Result<Self, Error> {
        if !(ls.c1 > 0.0 && ls.c1 < ls.c2 && ls.c2 < 1.0) {
            return Err(Error::InvalidOption {
                name: "LineSearch::c1/c2",
                value: ls.c1,
                reason: "need 0 < c1 < c2 < 1",
            });
        }
        if ls.max_evaluations < 2 {
            return Err(Error::InvalidOption {
                name: "LineSearch::max_evaluations",
                value: ls.max_evaluations as f64,
                reason: "need at least 2",
            });
        }
        self.line_search = ls;
        Ok(self)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
    /// The projected-gradient tolerance.
    pub fn grad_tol(&self) -> f64 {
        self.grad_tol
    }
    /// The relative function-decrease tolerance.
    pub fn f_tol(&self) -> f64 {
        self.f_tol
    }
    /// The step tolerance.
    pub fn x_tol(&self) -> f64 {
        self.x_tol
    }
    /// The iteration limit.
    pub fn max_iterations(&self) -> usize {
        self.max_iterations
    }
    /// The evaluation limit.
    pub fn max_evaluations(&self) -> usize {
        self.max_evaluations
    }
    /// The bounds, if any.
    pub fn bounds(&self) -> Option<&Bounds> {
        self.bounds.as_ref()
    }
    /// The line-search parameters.
    pub fn line_search(&self) -> LineSearch {
        self.line_search
    }
}
