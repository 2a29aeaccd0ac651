//! Recording: input nodes, the pushes of the operand stream (the hot path of `Var`
//! arithmetic), and the items (blocks, array operations) with their output runs.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{Busy, Event, Inner, Item, Op, Tape, FIRST, LEAVES, MAX_NODES};
use crate::var::Var;

impl Tape {
    /// A new input variable with value `x`.
    pub fn var(&self, x: f64) -> Var<'_> {
        let index = self.push_leaves(1);
        Var::on_tape(x, index, self)
    }

    /// New input variables, one per value, in one contiguous run of nodes.
    ///
    /// Long runs (a matrix of inputs: 24 MB of `Var`s for `10^6` values) are written in
    /// parallel chunks.
    pub fn vars(&self, xs: &[f64]) -> Vec<Var<'_>> {
        /// Values per parallel task, and the shortest run written in parallel.
        const TASK: usize = 1 << 16;
        let start = self.push_leaves(xs.len());
        if xs.len() < 4 * TASK || rayon::current_num_threads() < 2 {
            return xs
                .iter()
                .enumerate()
                .map(|(i, &x)| Var::on_tape(x, start + i as u32, self))
                .collect();
        }
        /// Where the tasks write, and the tape the new `Var`s refer to.
        struct Dst<'t>(*mut Var<'t>, *const Tape);
        // SAFETY: the tasks write disjoint elements of the output buffer, and only store the
        // tape's address in the `Var`s they make: no tape is dereferenced on another thread,
        // and the owning thread does not record while it waits in the parallel call below.
        unsafe impl Sync for Dst<'_> {}
        let mut out: Vec<Var<'_>> = Vec::with_capacity(xs.len());
        let dst = Dst(out.as_mut_ptr(), self);
        let dst = &dst;
        xs.par_chunks(TASK).enumerate().for_each(|(t, chunk)| {
            let lo = t * TASK;
            // SAFETY: `dst.1` is `self`, alive for the call; see `Dst` for the writes.
            let tape = unsafe { &*dst.1 };
            for (k, &x) in chunk.iter().enumerate() {
                let i = lo + k;
                // SAFETY: `i < xs.len()`, the capacity of `out`; each index written once.
                unsafe { dst.0.add(i).write(Var::on_tape(x, start + i as u32, tape)) };
            }
        });
        // SAFETY: the tasks initialised all `xs.len()` elements.
        unsafe { out.set_len(xs.len()) };
        out
    }

    #[inline(always)]
    fn new_node(inner: &mut Inner) -> u32 {
        let id = inner.n_nodes;
        if id >= MAX_NODES {
            tape_full();
        }
        inner.n_nodes = id + 1;
        id
    }

    /// Makes room for `k` more operands (cold path of the pushes; the only one a busy tape,
    /// whose stream has no capacity, takes).
    #[cold]
    #[inline(never)]
    fn grow(&self, k: usize) {
        self.check_idle();
        let inner = self.inner();
        let want = (inner.ops.len() + k)
            .max(2 * inner.ops.capacity())
            .max(1024);
        inner.ops.reserve(want - inner.ops.len());
    }

    /// Appends operands to the stream; the first is flagged as the start of a new node.
    #[inline(always)]
    fn push_operands<const K: usize>(&self, parents: [u32; K], partials: [f64; K]) {
        let mut inner = self.inner();
        let len = inner.ops.len();
        if inner.ops.capacity() - len < K {
            self.grow(K);
            inner = self.inner();
        }
        // SAFETY: the stream has room for K more operands (checked above); they are
        // initialised before the length is set.
        unsafe {
            let p = inner.ops.as_mut_ptr().add(len);
            for k in 0..K {
                let parent = if k == 0 {
                    parents[k] | FIRST
                } else {
                    parents[k]
                };
                p.add(k).write(Op::new(partials[k], parent));
            }
            inner.ops.set_len(len + K);
        }
    }

    /// Records a node with one operand.
    #[inline(always)]
    pub(crate) fn push1(&self, a: u32, da: f64) -> u32 {
        self.push_operands([a], [da]);
        Self::new_node(self.inner())
    }

    /// Records a node with two operands (merged into one if they are the same node).
    #[inline(always)]
    pub(crate) fn push2(&self, a: u32, da: f64, b: u32, db: f64) -> u32 {
        if a == b {
            self.push_operands([a], [da + db]);
        } else {
            self.push_operands([a, b], [da, db]);
        }
        Self::new_node(self.inner())
    }

    /// Records a node whose operands are `(parents[i], partials[i])`; `parents` must be
    /// non-empty.
    pub(crate) fn push_n(&self, parents: &[u32], partials: &[f64]) -> u32 {
        debug_assert_eq!(parents.len(), partials.len());
        debug_assert!(!parents.is_empty());
        self.check_idle();
        let inner = self.inner();
        inner.ops.extend(
            parents
                .iter()
                .zip(partials)
                .enumerate()
                .map(|(k, (&p, &w))| Op::new(w, if k == 0 { p | FIRST } else { p })),
        );
        Self::new_node(inner)
    }

    /// Records a node that is a constant: one self-referencing operand with partial 0, so it
    /// takes part in the operand stream (used for constant inputs of blocks).
    pub(crate) fn push_constant_node(&self) -> u32 {
        self.check_idle();
        let inner = self.inner();
        let id = inner.n_nodes;
        inner.ops.push(Op::new(0.0, id | FIRST));
        Self::new_node(inner)
    }

    /// Records `n` nodes without operands (inputs); returns the first index.
    pub(crate) fn push_leaves(&self, n: usize) -> u32 {
        self.check_idle();
        let inner = self.inner();
        let start = inner.n_nodes;
        let end = (start as u64 + n as u64).min(MAX_NODES as u64 + 1) as u32;
        assert!(
            (end - start) as usize == n && end <= MAX_NODES,
            "ad_core::Tape is full ({MAX_NODES} nodes)"
        );
        let op_offset = inner.ops.len();
        match inner.events.last_mut() {
            Some(e) if e.item == LEAVES && e.node_end == start && e.op_offset == op_offset => {
                e.node_end = end
            }
            _ => inner.events.push(Event {
                node_start: start,
                node_end: end,
                op_offset,
                item: LEAVES,
            }),
        }
        inner.n_nodes = end;
        start
    }

    /// Records an item with `n_out` new output nodes; returns the first output index.
    pub(crate) fn push_item(&self, item: Item, n_out: usize) -> u32 {
        self.push_item_lazy(item, n_out, false).0
    }

    /// Records an item with `n_out` new output nodes whose adjoints are initialised lazily if
    /// `lazy` (see the module docs: only array operations' reverse steps may reach them until
    /// [`Tape::mark_escaped`]); returns the first output index and the item's index.
    pub(crate) fn push_item_lazy(&self, item: Item, n_out: usize, lazy: bool) -> (u32, u32) {
        self.check_idle();
        let inner = self.inner();
        let start = inner.n_nodes;
        let end = start as u64 + n_out as u64;
        if end > MAX_NODES as u64 {
            tape_full();
        }
        let index = u32::try_from(inner.items.len()).expect("too many items on one tape");
        inner.items.push(item);
        inner.lazy.push(lazy);
        inner.n_lazy += lazy as usize;
        inner.events.push(Event {
            node_start: start,
            node_end: end as u32,
            op_offset: inner.ops.len(),
            item: index,
        });
        inner.n_nodes = end as u32;
        (start, index)
    }

    /// The outputs of item `item` may be reached by scalar code: their adjoints are zeroed
    /// before every sweep.
    pub(crate) fn mark_escaped(&self, item: u32) {
        let inner = self.inner();
        if let Some(l) = inner.lazy.get_mut(item as usize) {
            if *l {
                *l = false;
                inner.n_lazy -= 1;
            }
        }
    }

    /// Appends `len` elements to the arena for an array operation: `write` must initialise all
    /// of them. It may run user code (an element function): the tape is busy meanwhile, and
    /// recording on it panics (see "Re-entrance" in the module docs). Returns their offset and
    /// `write`'s result.
    pub(crate) fn arena_extend<R>(
        &self,
        len: usize,
        write: impl FnOnce(&mut [MaybeUninit<f64>]) -> R,
    ) -> (usize, R) {
        let mut taken = self.take_parts(Busy::Evaluating);
        let arena = &mut taken.parts.arena;
        let off = arena.len();
        arena.reserve(len);
        let r = write(&mut arena.spare_capacity_mut()[..len]);
        // SAFETY: `write` returned normally, so it initialised the `len` elements.
        unsafe { arena.set_len(off + len) };
        (off, r)
    }
}

#[cold]
#[inline(never)]
fn tape_full() -> ! {
    panic!(
        "ad_core::Tape is full ({MAX_NODES} nodes): split the computation (checkpoint, revolve) \
         or use block operations"
    )
}
