//! What the discrete adjoint keeps of the forward BDF solve: every accepted step's time, size,
//! order and rescalings (a few numbers per step), the converged states of the first
//! `checkpoints` steps, and snapshots of the stepper after that, from which the backward pass
//! computes the later states again ([`super::states`]).
//!
//! The snapshots are taken every `stride` steps from step `C = checkpoints` on; when they hold
//! more than `C` states, the stride doubles and every other one is dropped (the thinning of the
//! explicit methods' checkpoints). With snapshots of `s` states each (about
//! `2 (MAX_ORDER + 4) + 1 = 19` with the probe column), a log holds at most `C` converged
//! states and `max(C, 2 s)` states of snapshots, between which the segments are at least
//! `max(2, C / s) / 2` times shorter than the solve. A solve of at most `C` steps keeps every
//! state and takes no snapshot. A segment computed again is logged the same way, one level
//! down.

use std::sync::Arc;

use crate::options::{Options, Sensitivity};
use crate::stiff::bdf::Snapshot;
use crate::stiff::sparse::SparseJacobian;

/// One accepted step of the forward solve.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoggedStep {
    /// End of the step.
    pub(crate) t: f64,
    /// Its size.
    pub(crate) h: f64,
    /// Its order.
    pub(crate) order: usize,
    /// The rescalings `rescales[previous step's end..rescales_end]` precede this step.
    rescales_end: usize,
    /// The saves `saved[previous step's end..saves_end]` are interpolated on this step.
    saves_end: usize,
}

impl LoggedStep {
    /// The same end, size and order (a repeated step).
    pub(crate) fn same_as(&self, other: &LoggedStep) -> bool {
        self.t == other.t && self.h == other.h && self.order == other.order
    }
}

/// What the discrete adjoint needs from a forward BDF solve ([`crate::stiff::bdf::Keep::Log`]).
pub(crate) struct StepLog {
    pub(crate) n: usize,
    /// The step size `D[1] = h_init f(t0, y0, p)` was initialised with.
    pub(crate) h_init: f64,
    /// Saves at or before `t0` (copies of `y0`).
    pub(crate) initial_saves: usize,
    pub(crate) steps: Vec<LoggedStep>,
    /// Every rescaling of the differences, `(order, factor)`, in order.
    pub(crate) rescales: Vec<(usize, f64)>,
    /// The converged states of the first `budget` accepted steps, `n` each.
    y: Vec<f64>,
    /// The budget in states (`checkpoints`).
    budget: usize,
    /// `(steps before it, snapshot)`: the stepper after step `budget` and every `stride`-th
    /// step after it.
    pub(crate) snapshots: Vec<(usize, Snapshot)>,
    /// Steps between two snapshots (0: no snapshots).
    stride: usize,
    /// States one snapshot holds (known after the first).
    snapshot_states: usize,
    /// The sparse Jacobian of the forward solve, if it used one (the reverse solves with the
    /// same pattern and sparse LU).
    pub(crate) sparse: Option<Arc<SparseJacobian>>,
}

impl StepLog {
    /// An empty log for `n` states after `initial_saves` saves at or before `t0`, keeping at
    /// most `checkpoints` states' worth of converged states and snapshots.
    pub(crate) fn new(n: usize, initial_saves: usize, checkpoints: usize) -> Self {
        StepLog {
            n,
            h_init: 0.0,
            initial_saves,
            steps: Vec::new(),
            rescales: Vec::new(),
            y: Vec::new(),
            budget: checkpoints.max(2),
            snapshots: Vec::new(),
            stride: 1,
            snapshot_states: 0,
            sparse: None,
        }
    }

    /// An empty log for `n` states after `initial_saves` saves at or before `t0`, with the
    /// budget of these options ([`Sensitivity::DiscreteAdjoint`]'s `checkpoints`, or what `Auto`
    /// gives it for `n` states and `n_params` parameters).
    pub(crate) fn for_options(
        n: usize,
        initial_saves: usize,
        opts: &Options,
        n_params: usize,
    ) -> Self {
        let checkpoints = match crate::sensitivity::resolve(opts.sensitivity, n, n_params) {
            Sensitivity::DiscreteAdjoint { checkpoints } => checkpoints,
            _ => usize::MAX,
        };
        StepLog::new(n, initial_saves, checkpoints)
    }

    /// An empty log with the same states and budget (a stepper restored from a snapshot logs
    /// the steps it repeats from there).
    pub(crate) fn emptied(&self) -> Self {
        StepLog::new(self.n, 0, self.budget)
    }

    /// Records an accepted step (after the rescalings logged so far).
    pub(crate) fn push_step(&mut self, t: f64, h: f64, order: usize, y: &[f64]) {
        let saves_end = self.saves_before(self.steps.len());
        self.steps.push(LoggedStep {
            t,
            h,
            order,
            rescales_end: self.rescales.len(),
            saves_end,
        });
        if self.steps.len() <= self.budget {
            self.y.extend_from_slice(y);
        }
    }

    /// The number of saves made so far, after the last step's interpolation.
    pub(crate) fn end_saves(&mut self, saved: usize) {
        if let Some(s) = self.steps.last_mut() {
            s.saves_end = saved;
        }
    }

    /// Whether the stepper after the last step should be kept.
    pub(crate) fn wants_snapshot(&self) -> bool {
        let s = self.steps.len();
        self.stride > 0 && s >= self.budget && (s - self.budget) % self.stride == 0
    }

    /// Keeps the stepper after the last step; thins the snapshots to the budget.
    pub(crate) fn add_snapshot(&mut self, snap: Snapshot) {
        if self.snapshot_states == 0 {
            self.snapshot_states = snap.len().div_ceil(self.n.max(1)).max(1);
        }
        self.snapshots.push((self.steps.len(), snap));
        let cap = (self.budget / self.snapshot_states).max(2);
        if self.snapshots.len() > cap {
            self.stride *= 2;
            let (stride, first) = (self.stride, self.budget);
            self.snapshots.retain(|(i, _)| (i - first) % stride == 0);
        }
    }

    /// Accepted steps logged.
    pub(crate) fn steps(&self) -> usize {
        self.steps.len()
    }

    /// The steps whose converged states are kept (the first ones).
    pub(crate) fn kept_steps(&self) -> usize {
        self.y.len() / self.n.max(1)
    }

    /// States held: the kept converged states and the snapshots.
    pub(crate) fn states_held(&self) -> usize {
        self.y.len() / self.n.max(1) + self.snapshots.len() * self.snapshot_states
    }

    /// The saves made before step `s`.
    pub(crate) fn saves_before(&self, s: usize) -> usize {
        if s == 0 {
            self.initial_saves
        } else {
            self.steps[s - 1].saves_end
        }
    }

    /// The saves interpolated on step `s`.
    pub(crate) fn saves_of(&self, s: usize) -> std::ops::Range<usize> {
        self.saves_before(s)..self.steps[s].saves_end
    }

    /// The rescalings made before step `s` and after step `s - 1`.
    pub(crate) fn rescales_of(&self, s: usize) -> std::ops::Range<usize> {
        let start = if s == 0 {
            0
        } else {
            self.steps[s - 1].rescales_end
        };
        start..self.steps[s].rescales_end
    }

    /// The converged states of the steps kept (the first ones, or those of a replay).
    pub(crate) fn kept_states(&self) -> &[f64] {
        &self.y
    }
}
