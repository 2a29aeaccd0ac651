//! The reverse-mode tape: an arena of recorded operations in contiguous memory.
//!
//! # Layout
//!
//! Every recorded value is a *node*, numbered in recording order; its adjoint lives at the same
//! index of the adjoint vector. A node computed by an elementary operation stores one *operand*
//! per on-tape argument: the argument's node index (`u32`) and the local partial derivative
//! (`f64`) computed in the forward pass, packed in 12 bytes. Operands go to one flat
//! stream in recording order, so a binary operation costs 24 bytes and a unary one 12.
//! The first operand of each node carries a flag bit in its index; the reverse sweep walks the
//! stream backwards and moves to the previous node when it passes a flag:
//!
//! ```text
//! for k in (0..n_operands).rev() {
//!     adj[parent[k]] += partial[k] * adj[node];
//!     node -= first_flag(k);
//! }
//! ```
//!
//! one loop of multiply-adds, no branches and no bounds checks.
//!
//! Nodes without operands — inputs created by [`Tape::var`], the outputs of custom
//! [blocks](crate::Block) and of array operations ([`VarArray`](crate::VarArray)) — occupy
//! adjoint slots but nothing in the operand stream. They are listed as *events* (runs of nodes);
//! the sweep runs the tight loop between events and, at a block or array event, calls its
//! reverse step on slices of the adjoint vector (array partials live in a separate arena of
//! plain `f64` runs).
//!
//! # Lazily initialised adjoints of array outputs
//!
//! The output run of an array operation is only ever reached by the reverse steps of other array
//! operations, unless a scalar `Var` was taken from it ([`VarArray::get`](crate::VarArray::get),
//! which marks the run as *escaped*). Such a run is *lazy*: the sweep does not zero it up front.
//! The first reverse step that reaches it *claims* it: if that step covers its part of the run
//! once per element (the common case: an element-wise consumer) it writes its contribution
//! instead of adding it and the rest of the run is zeroed, else the run is zeroed first. A lazy
//! run that no reverse step reached has adjoint zero: its own reverse step is skipped, and the
//! run is zeroed at the end, so the adjoint vector a sweep returns is the same as with eager
//! zeroing.
//!
//! # Written input runs
//!
//! A custom block's inputs are one contiguous run of nodes, often a long run of inputs made by
//! [`Tape::vars`] (a matrix). Before a sweep, [`Tape::vjp_into`] looks for blocks whose inputs
//! lie in one run of input nodes, are at least [`WRITE_MIN`] long, and are reached by nothing
//! the sweep visits before the block: no operand recorded after the block has its parent in
//! the run, no item recorded after it reads the run (another block's inputs overlap, or any
//! array operation: their inputs are not inspected), and no output seed lies in it. Such a
//! run is not zeroed up front; the block's reverse step WRITES its contribution
//! ([`Block::vjp_write`](crate::Block::vjp_write)), and whatever was recorded before the block
//! adds to it afterwards as usual. This saves a zeroing pass and turns the block's
//! read-modify-write of the run into a write (16 MB of memory traffic for a 1000 x 1000
//! matrix). The operands recorded after a candidate are scanned only if there are fewer of
//! them than the run has nodes, so the check never costs more than it saves.
//!
//! # Re-entrance: recording during the tape's own sweep is a contract violation
//!
//! User code runs inside some of the tape's own operations: a block's reverse rule
//! ([`Block::vjp`](crate::Block::vjp)) and a checkpointed re-run during the reverse sweep, an
//! [`ElementFn`](crate::ElementFn) while an array operation evaluates. Such code must record
//! on a tape of its own (as [`checkpoint`](crate::checkpoint) does), never on the tape that
//! is running it. While user code runs, the tape's recorded vectors are moved out of it into
//! the running operation (so nothing user code does can move or free memory the operation is
//! reading), and the tape is marked busy. Recording on it then panics with a message that
//! says so, before anything is changed; so does a nested sweep of it. A panic that unwinds
//! out of user code puts the vectors back, so the tape stays consistent. The check costs the
//! hot pushes ([`Var`] arithmetic) nothing: the operand stream left in the busy tape has no
//! capacity, so a push takes the cold growth path, which checks the mark.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::array::ArrayOp;
use crate::error::GradientError;
use crate::pool::{self, Use};
use crate::var::Var;

/// Flag bit marking the first operand of a node.
const FIRST: u32 = 1 << 31;
/// Largest number of nodes a tape can hold.
pub(crate) const MAX_NODES: u32 = FIRST - 1;

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(1);

/// The reverse step of a recorded block, with its types erased.
pub(crate) trait RecordedBlock {
    /// Adds `J^T y_bar` into the adjoints of the block's inputs; `below` holds the adjoints of
    /// every node recorded before the block's outputs.
    fn vjp(&self, y_bar: &[f64], below: &mut [f64]) -> Result<(), GradientError>;
    /// As [`RecordedBlock::vjp`], but WRITES `J^T y_bar` into the inputs' adjoints, which hold
    /// stale values (see "Written input runs" in the module docs).
    fn vjp_write(&self, y_bar: &[f64], below: &mut [f64]) -> Result<(), GradientError>;
    /// The block's input nodes (one contiguous run).
    fn inputs(&self) -> std::ops::Range<usize>;
}

/// A recorded operation with several output nodes and its own reverse step.
pub(crate) enum Item {
    /// A custom [`Block`](crate::Block).
    Block(Box<dyn RecordedBlock>),
    /// An array operation (see [`crate::array`]).
    Array(ArrayOp),
}

/// No item: a run of input nodes.
const LEAVES: u32 = u32::MAX;

/// Shortest input run of a block whose adjoints the block may write (see "Written input runs"
/// in the module docs): below it, the planning costs more than the zeroing it saves.
pub(crate) const WRITE_MIN: usize = 1 << 12;

/// A run of nodes without operands: inputs, or the outputs of one item.
#[derive(Clone, Copy, Debug)]
struct Event {
    node_start: u32,
    node_end: u32,
    /// Length of the operand streams when the run was recorded.
    op_offset: usize,
    /// The item's index in `items`, or `LEAVES`.
    item: u32,
}

struct Inner {
    /// The operand stream.
    ops: Vec<Op>,
    n_nodes: u32,
    events: Vec<Event>,
    items: Vec<Item>,
    /// Storage for the partials of array operations.
    arena: Vec<f64>,
    /// Per item: its output run is lazy (see the module docs).
    lazy: Vec<bool>,
    /// Number of `true` entries of `lazy`.
    n_lazy: usize,
    /// Per item, during a sweep: lazy and not yet claimed.
    pending: Vec<bool>,
    /// Per item, during a sweep: a block that writes its inputs' adjoints.
    writes: Vec<bool>,
    /// Scratch for a sweep: node ranges not zeroed before it.
    skip: Vec<(usize, usize)>,
}

/// What a tape is doing while user code runs inside one of its operations (see
/// "Re-entrance" in the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Busy {
    Idle,
    /// A reverse sweep: block rules and checkpointed re-runs run.
    Sweeping,
    /// An array operation's evaluation: element functions run.
    Evaluating,
}

/// The recorded vectors of a tape, moved out of it while user code runs inside one of its
/// operations; [`Taken`] puts them back.
struct Parts {
    ops: Vec<Op>,
    events: Vec<Event>,
    items: Vec<Item>,
    arena: Vec<f64>,
    pending: Vec<bool>,
    writes: Vec<bool>,
}

/// The parts of `tape` taken out of it while it is busy; dropping this (also when a panic
/// unwinds out of user code) puts them back and marks the tape idle.
struct Taken<'a> {
    tape: &'a Tape,
    parts: Parts,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let inner = self.tape.inner();
        // every recording path checks the mark before it changes anything
        debug_assert!(inner.ops.is_empty() && inner.events.is_empty() && inner.items.is_empty());
        let p = &mut self.parts;
        inner.ops = std::mem::take(&mut p.ops);
        inner.events = std::mem::take(&mut p.events);
        inner.items = std::mem::take(&mut p.items);
        inner.arena = std::mem::take(&mut p.arena);
        inner.pending = std::mem::take(&mut p.pending);
        inner.writes = std::mem::take(&mut p.writes);
        self.tape.busy.set(Busy::Idle);
    }
}

/// A reverse-mode tape: records the operations on [`Var`]s and computes adjoints.
///
/// Create one with [`Tape::new`], make input variables with [`Tape::var`] / [`Tape::vars`], run
/// ordinary code generic over [`Real`](crate::Real) on them, then call [`Tape::gradient`] (one
/// output) or [`Tape::vjp`] (a cotangent for several outputs).
///
/// ```
/// use ad_core::Tape;
/// use num_traits::Float;
///
/// let tape = Tape::new();
/// let x = tape.var(0.5);
/// let y = tape.var(2.0);
/// let f = x.sin() * y + y.powi(3);
/// let adj = tape.gradient(f);
/// assert!((adj.wrt(x) - 0.5f64.cos() * 2.0).abs() < 1e-15);
/// assert!((adj.wrt(y) - (0.5f64.sin() + 12.0)).abs() < 1e-15);
/// ```
///
/// # Threads
///
/// A tape is neither `Send` nor `Sync` (it may hold custom blocks that are not `Send`), and
/// `Var<'t>`, which borrows it, is neither either: a tape records on the thread that made it. For parallel work give each task its own
/// tape (see [`par_gradients`](crate::par_gradients)). Tapes take their buffers from a
/// per-thread pool and give them back on drop, so a new tape on a thread that already ran one
/// does not allocate (see [`release_pooled_memory`](crate::release_pooled_memory)).
pub struct Tape {
    inner: UnsafeCell<Inner>,
    busy: Cell<Busy>,
    id: u64,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            inner: UnsafeCell::new(Inner {
                ops: pool::take_ops(),
                n_nodes: 0,
                events: Vec::new(),
                items: Vec::new(),
                arena: pool::take_f64(Use::Arena, 0),
                lazy: Vec::new(),
                n_lazy: 0,
                pending: Vec::new(),
                writes: Vec::new(),
                skip: Vec::new(),
            }),
            busy: Cell::new(Busy::Idle),
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn inner(&self) -> &mut Inner {
        // SAFETY: `Tape` is not `Sync`, so only one thread reaches `inner` at a time, and no
        // method keeps this reference (or a borrow of a field) across a call to user code,
        // which could reach `inner` again: the sweep and the array operations move the vectors
        // they read out of the tape first (`Tape::take_parts`), and user code that records on
        // the busy tape panics (`Tape::reentered`) without touching them.
        unsafe { &mut *self.inner.get() }
    }

    /// Moves the recorded vectors out of the tape and marks it `busy` until the result drops
    /// (see "Re-entrance" in the module docs).
    fn take_parts(&self, busy: Busy) -> Taken<'_> {
        self.check_idle();
        let inner = self.inner();
        let parts = Parts {
            ops: std::mem::take(&mut inner.ops),
            events: std::mem::take(&mut inner.events),
            items: std::mem::take(&mut inner.items),
            arena: std::mem::take(&mut inner.arena),
            pending: std::mem::take(&mut inner.pending),
            writes: std::mem::take(&mut inner.writes),
        };
        // the pushes of `Var` arithmetic take the checked growth path while the tape is busy
        debug_assert_eq!(inner.ops.capacity(), 0);
        self.busy.set(busy);
        Taken { tape: self, parts }
    }

    /// Panics if user code running inside one of this tape's operations tries to use it.
    #[inline(always)]
    fn check_idle(&self) {
        if self.busy.get() != Busy::Idle {
            self.reentered();
        }
    }

    #[cold]
    #[inline(never)]
    fn reentered(&self) -> ! {
        let during = match self.busy.get() {
            Busy::Sweeping => {
                "its own reverse sweep (from a Block's rule, or a function re-run by checkpoint \
                 or revolve)"
            }
            _ => "the evaluation of one of its array operations (from an ElementFn)",
        };
        panic!(
            "ad_core::Tape re-entered: the tape was used during {during}; this is a contract \
             violation: code that runs inside a tape's operation must record on a tape of its \
             own"
        )
    }

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

    /// Number of recorded nodes (values with an adjoint slot).
    pub fn len(&self) -> usize {
        self.inner().n_nodes as usize
    }

    /// True if nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the recorded operations (operand streams, event lists and the arena of
    /// array partials; not included: block residuals, and the value buffers that array
    /// operations share with their operands and use as partials, e.g. a product's). Divide by
    /// [`Tape::len`] for bytes per node.
    pub fn bytes(&self) -> usize {
        let i = self.inner();
        i.ops.len() * std::mem::size_of::<Op>()
            + i.arena.len() * 8
            + i.events.len() * std::mem::size_of::<Event>()
            + i.items.len() * std::mem::size_of::<Item>()
    }

    /// Number of recorded operands (parent references) over all nodes.
    pub fn operands(&self) -> usize {
        self.inner().ops.len()
    }

    /// Forgets everything recorded, keeping the memory for the next recording.
    ///
    /// Takes `&mut self`, so no `Var` of the old recording can be alive.
    pub fn clear(&mut self) {
        let i = self.inner.get_mut();
        i.ops.clear();
        i.n_nodes = 0;
        i.events.clear();
        i.items.clear();
        i.arena.clear();
        i.lazy.clear();
        i.n_lazy = 0;
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
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

#[cold]
#[inline(never)]
fn tape_full() -> ! {
    panic!(
        "ad_core::Tape is full ({MAX_NODES} nodes): split the computation (checkpoint, revolve) \
         or use block operations"
    )
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

/// One operand of a recorded node: the local partial derivative and the parent's node index
/// (bit 31 flags the first operand of a node), packed in 12 bytes.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
pub(crate) struct Op {
    partial: f64,
    parent: u32,
}

impl Op {
    #[inline(always)]
    fn new(partial: f64, parent: u32) -> Self {
        Op { partial, parent }
    }

    #[inline(always)]
    fn get(self) -> (f64, u32) {
        (self.partial, self.parent)
    }
}

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
    adj: Vec<f64>,
    tape_id: u64,
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

impl Drop for Tape {
    fn drop(&mut self) {
        let i = self.inner.get_mut();
        pool::give_ops(std::mem::take(&mut i.ops));
        pool::give_f64(Use::Arena, std::mem::take(&mut i.arena));
    }
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.inner();
        f.debug_struct("Tape")
            .field("nodes", &i.n_nodes)
            .field("operands", &i.ops.len())
            .field("items", &i.items.len())
            .finish()
    }
}
