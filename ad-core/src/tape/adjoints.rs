//! Adjoint storage: the [`Adjoints`] a sweep returns, and [`BlockInputs`], the values of a
//! custom block's inputs read on demand.

use std::cell::Cell;
use std::mem::MaybeUninit;

use super::Tape;
use crate::pool::{self, Use};
use crate::var::Var;

/// The values of a custom block's inputs, read on demand by
/// [`Block::forward_from`](crate::Block::forward_from) into memory the block chooses.
///
/// Applied to `Var`s, a block's inputs are `Var`s (24 bytes each) whose values would otherwise
/// be gathered into a fresh buffer before `forward` runs: for a `1000 x 1000` matrix, 8 MB
/// written and read again by a block that copies them into its own storage (a factorisation).
/// [`BlockInputs::write_to`] gathers straight into the block's buffer instead, in the same pass
/// (parallel chunks for long ranges) that checks whether the inputs are one contiguous run of
/// tape nodes; when the block writes all inputs in order, that pass is the only one over the
/// `Var`s.
pub struct BlockInputs<'a> {
    src: Src<'a>,
    /// Inputs `0..next` were written in order (the run check covers them).
    next: Cell<usize>,
    /// Whether the inputs checked so far are the nodes `first..` of the tape, in order.
    run: Cell<bool>,
}

enum Src<'a> {
    Values(&'a [f64]),
    Vars(&'a [Var<'a>], *const Tape),
}

impl<'a> BlockInputs<'a> {
    /// Inputs given by their values (how `Dual` and constant inputs reach a block, and a way to
    /// call [`Block::forward_from`](crate::Block::forward_from) on plain values).
    pub fn from_values(values: &'a [f64]) -> Self {
        BlockInputs {
            src: Src::Values(values),
            next: Cell::new(0),
            run: Cell::new(false),
        }
    }

    /// The inputs `x`, taped on `tape`.
    pub(crate) fn from_vars(x: &'a [Var<'a>], tape: &Tape) -> Self {
        BlockInputs {
            src: Src::Vars(x, tape),
            next: Cell::new(0),
            run: Cell::new(true),
        }
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        match self.src {
            Src::Values(v) => v.len(),
            Src::Vars(x, _) => x.len(),
        }
    }

    /// True if there are no inputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the values of inputs `start..start + dst.len()` to `dst`, initialising all of it.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn write_to(&self, start: usize, dst: &mut [MaybeUninit<f64>]) {
        let end = start + dst.len();
        match self.src {
            Src::Values(v) => {
                for (d, &x) in dst.iter_mut().zip(&v[start..end]) {
                    d.write(x);
                }
            }
            Src::Vars(x, tape) => {
                let x = &x[start..end];
                let first = self.first_index().wrapping_add(start as u32);
                let ok = crate::block::gather_into(x, tape, first, dst);
                self.run.set(self.run.get() & ok);
                if start == self.next.get() {
                    self.next.set(end);
                }
            }
        }
    }

    /// As [`BlockInputs::write_to`], into initialised memory.
    pub fn copy_to(&self, start: usize, dst: &mut [f64]) {
        // SAFETY: `MaybeUninit<f64>` has the layout of `f64`, and `write_to` writes only
        // initialised values.
        let dst = unsafe { &mut *(dst as *mut [f64] as *mut [MaybeUninit<f64>]) };
        self.write_to(start, dst);
    }

    /// All the values, in a new vector.
    pub fn to_vec(&self) -> Vec<f64> {
        let n = self.len();
        let mut v = Vec::with_capacity(n);
        self.write_to(0, &mut v.spare_capacity_mut()[..n]);
        // SAFETY: `write_to` initialised the `n` elements.
        unsafe { v.set_len(n) };
        v
    }

    fn first_index(&self) -> u32 {
        match self.src {
            Src::Vars(x, _) => x.first().map_or(0, |v| v.index()),
            Src::Values(_) => 0,
        }
    }

    /// For taped inputs all written in order: whether they are one contiguous run of nodes of
    /// the tape; `None` if not all were written in order.
    pub(crate) fn run_checked(&self) -> Option<bool> {
        (self.next.get() == self.len()).then(|| self.run.get() && !self.is_empty())
    }
}

/// The adjoints of all nodes of a tape after a reverse sweep: `adj[i] = c^T dy/dv_i`.
///
/// Read them with [`Adjoints::wrt`]. The memory returns to a per-thread pool on drop.
pub struct Adjoints {
    pub(super) adj: Vec<f64>,
    pub(super) tape_id: u64,
}

impl Default for Adjoints {
    /// An empty adjoint vector, to be filled by [`Tape::vjp_into`].
    fn default() -> Self {
        Adjoints {
            adj: Vec::new(),
            tape_id: 0,
        }
    }
}

impl Adjoints {
    /// The adjoint of `v` (0 for a constant).
    ///
    /// # Panics
    /// If `v` lives on a different tape from the one that computed these adjoints.
    #[inline]
    pub fn wrt(&self, v: Var<'_>) -> f64 {
        match v.tape() {
            None => 0.0,
            Some(t) => {
                assert!(
                    t.id() == self.tape_id,
                    "Adjoints::wrt: the variable lives on another tape than these adjoints"
                );
                self.adj[v.index() as usize]
            }
        }
    }

    /// The adjoints of several variables.
    pub fn wrt_all(&self, vs: &[Var<'_>]) -> Vec<f64> {
        vs.iter().map(|&v| self.wrt(v)).collect()
    }

    /// The raw adjoint vector, indexed by node.
    pub fn as_slice(&self) -> &[f64] {
        &self.adj
    }
}

impl std::fmt::Debug for Adjoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adjoints")
            .field("nodes", &self.adj.len())
            .finish()
    }
}

impl Drop for Adjoints {
    fn drop(&mut self) {
        pool::give_f64(Use::Adjoints, std::mem::take(&mut self.adj));
    }
}
