//! The reverse sweep: seeding, planning which blocks write their inputs' adjoints, the tight
//! loop between events, and the claims that initialise lazy runs of array outputs.

use super::adjoints::Adjoints;
use super::{Busy, Event, Inner, Item, Op, Parts, Tape, FIRST, LEAVES, WRITE_MIN};
use crate::error::GradientError;
use crate::pool::{self, Use};
use crate::var::Var;

impl Tape {
    /// Computes the adjoints of every node for the output `y` (seed 1): the gradient of `y`.
    ///
    /// # Panics
    /// If a custom block's reverse rule fails; [`Tape::try_gradient`] returns that error.
    pub fn gradient(&self, y: Var<'_>) -> Adjoints {
        self.vjp(&[y], &[1.0])
    }

    /// As [`Tape::gradient`], returning the error of a custom block's reverse rule that fails
    /// (a singular adjoint system, a failed adjoint solve) instead of panicking.
    pub fn try_gradient(&self, y: Var<'_>) -> Result<Adjoints, GradientError> {
        self.try_vjp(&[y], &[1.0])
    }

    /// Computes `J^T c`: the adjoints of every node for the cotangent `c` of `outputs`.
    ///
    /// # Panics
    /// If `outputs` and `cotangent` differ in length, or an output lives on another tape (a
    /// contract violation), or a custom block's reverse rule fails ([`Tape::try_vjp`] returns
    /// that error).
    pub fn vjp(&self, outputs: &[Var<'_>], cotangent: &[f64]) -> Adjoints {
        self.try_vjp(outputs, cotangent)
            .unwrap_or_else(|e| panic!("ad_core::Tape::vjp: {e} (use try_vjp to handle it)"))
    }

    /// As [`Tape::vjp`], returning the error of a custom block's reverse rule that fails.
    pub fn try_vjp(
        &self,
        outputs: &[Var<'_>],
        cotangent: &[f64],
    ) -> Result<Adjoints, GradientError> {
        let mut adj = Adjoints {
            adj: pool::take_f64_dirty(Use::Adjoints, self.len()),
            tape_id: self.id,
        };
        self.try_vjp_into(outputs, cotangent, &mut adj)?;
        Ok(adj)
    }

    /// As [`Tape::vjp`], reusing the memory of `adj` (for repeated sweeps of one tape).
    pub fn vjp_into(&self, outputs: &[Var<'_>], cotangent: &[f64], adj: &mut Adjoints) {
        self.try_vjp_into(outputs, cotangent, adj)
            .unwrap_or_else(|e| {
                panic!("ad_core::Tape::vjp_into: {e} (use try_vjp_into to handle it)")
            })
    }

    /// As [`Tape::vjp_into`], returning the error of a custom block's reverse rule that fails;
    /// the contents of `adj` are then unspecified.
    pub fn try_vjp_into(
        &self,
        outputs: &[Var<'_>],
        cotangent: &[f64],
        adj: &mut Adjoints,
    ) -> Result<(), GradientError> {
        self.check_idle();
        assert_eq!(
            outputs.len(),
            cotangent.len(),
            "Tape::vjp: {} outputs but {} cotangent entries",
            outputs.len(),
            cotangent.len()
        );
        let n = self.len();
        adj.tape_id = self.id;
        // The old contents are kept (initialised memory): lazy runs are not zeroed here.
        adj.adj.truncate(n);
        adj.adj.resize(n, 0.0);
        let inner = self.inner();
        inner.pending.clear();
        inner.pending.extend_from_slice(&inner.lazy);
        // zero everything but the lazy runs and the input runs that blocks write
        let mut skip = std::mem::take(&mut inner.skip);
        skip.clear();
        if inner.n_lazy > 0 {
            for ev in &inner.events {
                if ev.item != LEAVES && inner.pending[ev.item as usize] {
                    skip.push((ev.node_start as usize, ev.node_end as usize));
                }
            }
        }
        self.plan_writes(inner, outputs, &mut skip);
        skip.sort_unstable();
        let mut z = 0;
        for &(s, e) in &skip {
            adj.adj[z..s].fill(0.0);
            z = e;
        }
        adj.adj[z..].fill(0.0);
        inner.skip = skip;
        let mut claims = Claims {
            events: &inner.events,
            pending: &mut inner.pending,
        };
        // outputs taken from array runs escaped them (not lazy); a claim settles anyway
        let mut settled = 0..0;
        for (y, &c) in outputs.iter().zip(cotangent) {
            if let Some(i) = y.index_on(self) {
                let i = i as usize;
                if inner.n_lazy > 0 && !settled.contains(&i) {
                    if claims.claim(&mut adj.adj, i, i + 1) {
                        adj.adj[i] = c;
                        continue;
                    }
                    settled = claims.run_at(i);
                }
                adj.adj[i] += c;
            }
        }
        self.sweep(&mut adj.adj)
    }

    /// Marks in `writes` the blocks that write the adjoints of their inputs in the coming sweep
    /// for the seeds `outputs`, and appends their input runs to `skip` (see "Written input
    /// runs" in the module docs).
    fn plan_writes(&self, inner: &mut Inner, outputs: &[Var<'_>], skip: &mut Vec<(usize, usize)>) {
        inner.writes.clear();
        inner.writes.resize(inner.items.len(), false);
        if (inner.n_nodes as usize) < WRITE_MIN {
            return;
        }
        // Whether an array operation was recorded after the current event, and the input
        // runs of the blocks recorded after it.
        let mut array_after = false;
        let mut after: Vec<std::ops::Range<usize>> = Vec::new();
        for ev in inner.events.iter().rev() {
            if ev.item == LEAVES {
                continue;
            }
            let r = match &inner.items[ev.item as usize] {
                Item::Array(_) => {
                    array_after = true;
                    continue;
                }
                Item::Block(b) => b.inputs(),
            };
            let writes = !array_after
                && r.len() >= WRITE_MIN
                && inner.ops.len() - ev.op_offset <= r.len()
                && in_one_leaf_run(&inner.events, &r)
                && !after.iter().any(|a| a.start < r.end && r.start < a.end)
                && !outputs
                    .iter()
                    .any(|y| same_tape(y, self) && r.contains(&(y.index() as usize)))
                && !references(&inner.ops[ev.op_offset..], &r);
            if writes {
                inner.writes[ev.item as usize] = true;
                skip.push((r.start, r.end));
            }
            after.push(r);
        }
    }

    /// The reverse sweep over all nodes; `adj` has one entry per node, seeded, and zero except
    /// in the pending lazy runs.
    ///
    /// Blocks' rules run user code: the recorded vectors are taken out of the tape for the
    /// sweep (see "Re-entrance" in the module docs), so nothing that code does can change
    /// what the sweep is reading.
    fn sweep(&self, adj: &mut [f64]) -> Result<(), GradientError> {
        let (n_nodes, n_lazy) = {
            let inner = self.inner();
            (inner.n_nodes, inner.n_lazy)
        };
        assert_eq!(adj.len(), n_nodes as usize);
        let mut taken = self.take_parts(Busy::Sweeping);
        let Parts {
            ops,
            events,
            items,
            arena,
            pending,
            writes,
        } = &mut taken.parts;
        let mut node_hi = n_nodes;
        let mut op_hi = ops.len();
        let mut claims = Claims {
            events,
            pending: pending.as_mut_slice(),
        };
        for ev in events.iter().rev() {
            debug_assert!(ev.node_start <= ev.node_end && ev.node_end <= node_hi);
            debug_assert!(ev.op_offset <= op_hi);
            sweep_segment(adj, &ops[ev.op_offset..op_hi], node_hi, ev.node_end);
            // a pending lazy run was reached by nothing: its adjoints are zero
            if ev.item != LEAVES && !claims.pending[ev.item as usize] {
                let (below, hi) = adj.split_at_mut(ev.node_start as usize);
                let y_bar = &hi[..(ev.node_end - ev.node_start) as usize];
                match &items[ev.item as usize] {
                    Item::Block(b) if writes[ev.item as usize] => b.vjp_write(y_bar, below)?,
                    Item::Block(b) => b.vjp(y_bar, below)?,
                    Item::Array(op) => op.reverse(arena, y_bar, below, &mut claims),
                }
            }
            node_hi = ev.node_start;
            op_hi = ev.op_offset;
        }
        debug_assert_eq!(op_hi, 0);
        debug_assert_eq!(node_hi, 0);
        if n_lazy > 0 {
            for ev in events.iter() {
                if ev.item != LEAVES && pending[ev.item as usize] {
                    adj[ev.node_start as usize..ev.node_end as usize].fill(0.0);
                }
            }
        }
        Ok(())
    }
}

/// The lazy runs of a sweep that are not claimed yet (see the module docs).
pub(crate) struct Claims<'a> {
    events: &'a [Event],
    pending: &'a mut [bool],
}

impl Claims<'_> {
    /// Prepares `adj[lo..hi]` to receive a reverse step's contribution. Returns true if the
    /// step must WRITE every element of the range once (it lies in one lazy run reached for the
    /// first time: the rest of that run is zeroed here, the range still holds stale values),
    /// false if it must ADD (the range is initialised).
    pub(crate) fn claim(&mut self, adj: &mut [f64], lo: usize, hi: usize) -> bool {
        if lo >= hi {
            return false;
        }
        let mut k = self.events.partition_point(|e| (e.node_end as usize) <= lo);
        let Some(e) = self.events.get(k) else {
            return false;
        };
        let (s, t) = (e.node_start as usize, e.node_end as usize);
        if s <= lo && hi <= t {
            if e.item == LEAVES || !self.pending[e.item as usize] {
                return false;
            }
            self.pending[e.item as usize] = false;
            adj[s..lo].fill(0.0);
            adj[hi..t].fill(0.0);
            return true;
        }
        // several runs (or nodes between runs): zero the pending runs
        while let Some(e) = self.events.get(k) {
            if e.node_start as usize >= hi {
                break;
            }
            if e.item != LEAVES && self.pending[e.item as usize] {
                self.pending[e.item as usize] = false;
                adj[e.node_start as usize..e.node_end as usize].fill(0.0);
            }
            k += 1;
        }
        false
    }

    /// The run (event) holding node `i`, or `i..i + 1` if none.
    fn run_at(&self, i: usize) -> std::ops::Range<usize> {
        let k = self.events.partition_point(|e| (e.node_end as usize) <= i);
        match self.events.get(k) {
            Some(e) if e.node_start as usize <= i => e.node_start as usize..e.node_end as usize,
            _ => i..i + 1,
        }
    }

    /// As [`Claims::claim`], but the range is always initialised (zeroed if it was stale): for
    /// reverse steps that add into their input more than once per element, or not into all of
    /// it.
    pub(crate) fn claim_zeroed(&mut self, adj: &mut [f64], lo: usize, hi: usize) {
        if self.claim(adj, lo, hi) {
            adj[lo..hi].fill(0.0);
        }
    }
}

/// True if the nodes `r` lie in one run of input nodes (one event without an item).
fn in_one_leaf_run(events: &[Event], r: &std::ops::Range<usize>) -> bool {
    let k = events.partition_point(|e| (e.node_end as usize) <= r.start);
    events.get(k).is_some_and(|e| {
        e.item == LEAVES && e.node_start as usize <= r.start && r.end <= e.node_end as usize
    })
}

/// True if `y` lives on `tape`.
fn same_tape(y: &Var<'_>, tape: &Tape) -> bool {
    y.tape().is_some_and(|t| std::ptr::eq(t, tape))
}

/// True if an operand of `ops` has its parent in the nodes `r` (branch-free within chunks).
fn references(ops: &[Op], r: &std::ops::Range<usize>) -> bool {
    let (lo, len) = (r.start as u32, (r.end - r.start) as u32);
    ops.chunks(256).any(|c| {
        c.iter().fold(false, |hit, op| {
            let (_, p) = op.get();
            hit | ((p & !FIRST).wrapping_sub(lo) < len)
        })
    })
}

/// The tight reverse loop over the nodes `node_lo..node_hi`, whose operands are `ops` (every
/// node has at least one operand; the first is flagged).
#[inline(never)]
fn sweep_segment(adj: &mut [f64], ops: &[Op], node_hi: u32, node_lo: u32) {
    if ops.is_empty() {
        return;
    }
    assert!(node_hi as usize <= adj.len() && node_lo < node_hi);
    let mut node = node_hi as usize - 1;
    let adj_ptr = adj.as_mut_ptr();
    for op in ops.iter().rev() {
        let (w, p) = op.get();
        // the invariants the unchecked accesses rely on: a parent is recorded before its child
        // (a constant node references itself), and `node` is in the segment
        debug_assert!(node_lo as usize <= node && node < node_hi as usize);
        debug_assert!(((p & !FIRST) as usize) <= node);
        // SAFETY: every parent index is a node recorded before its child, so it is below
        // `n_nodes == adj.len()`; `node` stays in `node_lo..node_hi` because the segment holds
        // exactly `node_hi - node_lo` flagged first operands, the last one first in `ops`. The
        // sweep owns `ops` while it runs (taken out of the tape), so no block rule can change
        // the segment under it.
        unsafe {
            let a = *adj_ptr.add(node);
            *adj_ptr.add((p & !FIRST) as usize) += w * a;
        }
        node = node.wrapping_sub((p >> 31) as usize);
    }
    debug_assert_eq!(node.wrapping_add(1), node_lo as usize);
}
