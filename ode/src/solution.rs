//! What a solve returns.

/// Counters of one solve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected steps (error test failed, or a non-finite trial value).
    pub rejected: usize,
    /// Evaluations of the right-hand side in the forward solve.
    pub rhs_evals: usize,
}

/// The solution at the requested save times: `y[k][i]` is state component `i` at `t[k]`.
#[derive(Clone, Debug)]
pub struct Solution<S> {
    /// The save times, as requested.
    pub t: Vec<f64>,
    /// The states at the save times.
    pub y: Vec<Vec<S>>,
    /// Counters of the forward solve.
    pub stats: Stats,
}
