//! The result of a run and why it stopped.

use std::time::Duration;

/// Why a run stopped. These are normal outcomes, not errors: the [`Report`] holds the best
/// point found whatever the reason.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Termination {
    /// The max-norm of the projected gradient fell to `grad_tol` (first-order optimality).
    GradientTolerance,
    /// An iteration decreased the value by at most `f_tol * max(|f_k|, |f_k+1|, 1)`.
    FunctionTolerance,
    /// A step was at most `x_tol * max(1, |x|_inf)` in max-norm (least squares: the trust
    /// region shrank below that size).
    StepTolerance,
    /// The iteration limit was reached.
    MaxIterations,
    /// The evaluation limit was reached.
    MaxEvaluations,
    /// The line search found no acceptable step even from the steepest-descent direction
    /// (usually: the gradient is inconsistent with the value, or the value is flat to
    /// round-off at this point).
    LineSearchFailed {
        /// What the line search saw.
        details: String,
    },
    /// The objective became non-finite at a trial point a method could not back away from
    /// (Adam has no line search); the report holds the last finite point.
    Diverged {
        /// Where it happened.
        details: String,
    },
    /// The observer asked to stop.
    Observer,
}

impl Termination {
    /// True for the convergence tests (gradient, function or step tolerance).
    pub fn converged(&self) -> bool {
        matches!(
            self,
            Termination::GradientTolerance
                | Termination::FunctionTolerance
                | Termination::StepTolerance
        )
    }
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Termination::GradientTolerance => write!(f, "projected gradient below grad_tol"),
            Termination::FunctionTolerance => write!(f, "relative decrease below f_tol"),
            Termination::StepTolerance => write!(f, "step below x_tol"),
            Termination::MaxIterations => write!(f, "iteration limit reached"),
            Termination::MaxEvaluations => write!(f, "evaluation limit reached"),
            Termination::LineSearchFailed { details } => write!(f, "line search failed: {details}"),
            Termination::Diverged { details } => write!(f, "diverged: {details}"),
            Termination::Observer => write!(f, "stopped by the observer"),
        }
    }
}

/// The result of [`minimize`](crate::minimize).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The final point (the best one evaluated for the line-search methods).
    pub x: Vec<f64>,
    /// The objective value at `x`.
    pub value: f64,
    /// Max-norm of the projected gradient at `x`.
    pub grad_norm: f64,
    /// Iterations taken.
    pub iterations: usize,
    /// Objective evaluations (value and gradient together count as one).
    pub evaluations: usize,
    /// Why it stopped.
    pub termination: Termination,
    /// The gradient at `x`.
    pub gradient: Vec<f64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}
