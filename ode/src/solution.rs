//! What a solve returns.

use crate::events::EventHit;

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
    /// The events that fired, in time order (empty for a system without events). A terminal
    /// event ([`Action::Stop`](crate::events::Action)) is the last one, and then `t` and `y`
    /// stop at the last save time not after it.
    pub events: Vec<EventHit<S>>,
}
