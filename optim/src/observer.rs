//! Per-iteration callbacks ([`Observer`]) and a ready progress printer ([`Progress`]).

use std::io::Write;
use std::time::Duration;

/// What an observer sees after each iteration (iteration 0 is the starting point).
#[derive(Clone, Copy, Debug)]
pub struct Iteration<'a> {
    /// Iteration number (0: the start).
    pub iteration: usize,
    /// Objective value (least squares: the sum of squared residuals).
    pub value: f64,
    /// Max-norm of the projected gradient.
    pub grad_norm: f64,
    /// Max-norm of the step just taken (0 at iteration 0).
    pub step: f64,
    /// Line-search step length along the direction (Adam: the learning rate; least squares:
    /// the Levenberg-Marquardt parameter lambda).
    pub step_length: f64,
    /// Objective evaluations so far.
    pub evaluations: usize,
    /// Wall time since the start.
    pub elapsed: Duration,
    /// The current point.
    pub x: &'a [f64],
}

/// Whether to go on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now; the report says [`Termination::Observer`](crate::Termination::Observer).
    Stop,
}

/// A per-iteration callback. Closures `FnMut(&Iteration)` are observers that never stop the
/// run; implement the trait to stop it (a time budget, a validation loss, ...).
pub trait Observer {
    /// Called after every iteration.
    fn observe(&mut self, it: &Iteration<'_>) -> Control;
}

impl<F: FnMut(&Iteration<'_>)> Observer for F {
    fn observe(&mut self, it: &Iteration<'_>) -> Control {
        self(it);
        Control::Continue
    }
}

/// An observer that does nothing (e.g. on the ranks of an MPI run other than rank 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn observe(&mut self, _: &Iteration<'_>) -> Control {
        Control::Continue
    }
}

/// Prints one line every `every` iterations (and at iteration 0):
/// `iter value |grad|_inf |step| evals time`.
///
/// ```
/// use optim::{minimize_observed, Options, Progress};
/// let mut out = Vec::new();
/// let mut progress = Progress::to_writer(&mut out, 1);
/// let f = |x: &[f64], g: &mut [f64]| { g[0] = 2.0 * x[0]; x[0] * x[0] };
/// minimize_observed(f, &[3.0], &Options::default(), &mut progress).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains("iter"));
/// ```
pub struct Progress<W: Write = std::io::Stderr> {
    out: W,
    every: usize,
    header: bool,
}

impl Progress<std::io::Stderr> {
    /// Prints every `every` iterations to standard error.
    pub fn every(every: usize) -> Self {
        Self::to_writer(std::io::stderr(), every)
    }
}

impl Default for Progress<std::io::Stderr> {
    /// Prints every iteration to standard error.
    fn default() -> Self {
        Self::every(1)
    }
}

impl<W: Write> Progress<W> {
    /// Prints every `every` iterations (0 is taken as 1) to `out`.
    pub fn to_writer(out: W, every: usize) -> Self {
        Progress {
            out,
            every: every.max(1),
            header: false,
        }
    }
}

impl<W: Write> Observer for Progress<W> {
    fn observe(&mut self, it: &Iteration<'_>) -> Control {
        if !self.header {
            self.header = true;
            let _ = writeln!(
                self.out,
                "{:>6} {:>16} {:>10} {:>10} {:>6} {:>10}",
                "iter", "value", "|grad|", "|step|", "evals", "time"
            );
        }
        if it.iteration % self.every == 0 {
            let _ = writeln!(
                self.out,
                "{:>6} {:>16.9e} {:>10.3e} {:>10.3e} {:>6} {:>8.1}ms",
                it.iteration,
                it.value,
                it.grad_norm,
                it.step,
                it.evaluations,
                it.elapsed.as_secs_f64() * 1e3
            );
        }
        Control::Continue
    }
}
