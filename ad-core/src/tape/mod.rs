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
//! hot pushes ([`Var`](crate::Var) arithmetic) nothing: the operand stream left in the busy
//! tape has no capacity, so a push takes the cold growth path, which checks the mark.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::array::ArrayOp;
use crate::error::GradientError;
use crate::pool::{self, Use};

// The stages, one file each: `record` (the pushes that grow the tape), `sweep` (the reverse
// sweep and the lazy-run claims), `adjoints` (the adjoint vector a sweep returns, and the view
// of a block's inputs).
mod adjoints;
mod record;
mod sweep;

pub use adjoints::{Adjoints, BlockInputs};
pub(crate) use sweep::Claims;

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

/// A reverse-mode tape: records the operations on [`Var`](crate::Var)s and computes adjoints.
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
