//! Array operations on the tape: one node per array operation.
//!
//! A [`VarArray`] is a contiguous run of tape slots holding a 1-D array (2-D arrays are
//! row-major runs, with 2-D shifts for stencils). Each operation on it — element-wise arithmetic
//! and math, reductions, shifts, gathers, matrix-vector products — records ONE tape item: its
//! outputs occupy a run of adjoint slots, and its partials go to the tape's arena as plain `f64`
//! runs (no per-element indices). The reverse step is an element-wise loop over those runs,
//! written to vectorise and split over threads (rayon) above [`PAR_MIN`] elements.
//!
//! Scalar code and array code mix on one tape: [`VarArray::get`] and [`VarArray::to_vars`]
//! give `Var`s, [`VarArray::from_vars`] makes an array of `Var`s, reductions return `Var`s.
//!
//! ```
//! use ad_core::{Tape, VarArray};
//!
//! let tape = Tape::new();
//! let x = tape.var_array(&[1.0, 2.0, 3.0]);
//! let y = (&x * &x).sin().sum();          // sum_i sin(x_i^2): three array nodes
//! let adj = tape.gradient(y);
//! let g = x.adjoints(&adj);
//! assert!((g[1] - 4.0 * 4f64.cos()).abs() < 1e-14);
//! ```
//!
//! To write array code once for `f64`, `Var` and `Dual`, use the [`RealArray`] trait,
//! implemented by `ndarray::Array1<S>` for every scalar `S: Real` and by `VarArray`.

// What each file holds: `elementwise` (arithmetic, math and operators), `reduce` (sums, dot
// products), `reindex` (shifts, slices, gathers), `matrix` (matrix-vector products and the
// constant matrices), `map` (fused element-wise maps), `fill` (the parallel forward kernels),
// `recorded` (what an operation leaves on the tape), `reverse` (its reverse step), `sums`
// (order-fixed sums), `generic` (the `RealArray` trait).
mod elementwise;
mod fill;
mod generic;
mod map;
mod matrix;
mod recorded;
mod reduce;
mod reindex;
mod reverse;
mod sums;
#[cfg(test)]
mod tests;

use std::rc::Rc;

use crate::pool::{self, Use};
use crate::tape::{Adjoints, Item, Tape};
use crate::var::Var;

pub use generic::RealArray;
pub use map::ElementFn;
pub use matrix::{CsrMatrix, DenseMatrix, Matrix};
pub(crate) use recorded::ArrayOp;
use recorded::{Arg, IndexMap, Input, Partial};
use reverse::{axpy, axpy_mul};
pub(crate) use sums::{dot, in_order, sum};

/// Arrays with at least this many elements are processed by several threads (rayon), in
/// chunks of [`CHUNK`] elements. Below it, one thread's vectorised loop is faster: W1's array
/// gradient (n = 10^5, about 20 loops) took 0.43 ms on one thread and 0.68 ms split over two
/// cores (best of 500 runs each), the fork-join of every loop costing more than it saves.
pub const PAR_MIN: usize = 1 << 18;
/// Chunk length of the parallel loops.
pub const CHUNK: usize = 1 << 13;
// A chunk must take the one-thread path: `dot` and the other reductions recurse on chunks.
const _: () = assert!(CHUNK < PAR_MIN, "CHUNK must be below PAR_MIN");

/// A 1-D array of reverse-mode scalars: a contiguous run of slots on a [`Tape`] and their
/// values, or a constant array (on no tape, recording nothing). Operations on it record one
/// node each (see the [module docs](self)).
pub struct VarArray<'t> {
    tape: Option<&'t Tape>,
    start: u32,
    /// The tape item whose output run holds these slots, or [`NO_ITEM`].
    item: u32,
    /// The values are `buf[off..off + len]` (a buffer shared with views and with recorded
    /// operations that need the values in their reverse step).
    buf: Rc<Buf>,
    off: usize,
    len: usize,
}

/// No tape item: input slots, slots of scalar nodes, or a constant array.
const NO_ITEM: u32 = u32::MAX;

/// A pooled buffer of array values, shared by `Rc` between arrays, views of them and the
/// recorded operations whose reverse step reads them (a product's partials are its operands'
/// values: nothing is copied). Goes back to the pool when the last user drops it.
pub(crate) struct Buf(Vec<f64>);

impl Buf {
    /// Shares `v`.
    pub(crate) fn new(v: Vec<f64>) -> Rc<Buf> {
        Rc::new(Buf(v))
    }

    /// A shared copy of `xs` in a pooled buffer.
    pub(crate) fn copy(xs: &[f64]) -> Rc<Buf> {
        let mut v = pool::take_f64(Use::Values, xs.len());
        v.extend_from_slice(xs);
        Buf::new(v)
    }
}

impl std::ops::Deref for Buf {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.0
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        pool::give_f64(Use::Values, std::mem::take(&mut self.0));
    }
}

/// The values of `vars` (in a pooled buffer), and whether the `Var`s are the slots
/// `first, first + 1, ...` of `tape` (`first` the index of `vars[0]`), in one branch-free pass.
fn gather_run(vars: &[Var<'_>], tape: &Tape) -> (Rc<Buf>, bool) {
    let n = vars.len();
    let first = vars.first().map_or(0, |v| v.index());
    let tape_addr = tape as *const Tape as usize;
    let mut values = pool::take_f64(Use::Values, n);
    values.reserve(n);
    let spare = &mut values.spare_capacity_mut()[..n];
    // any difference from the expected tape address or index sets bits of `off`
    let mut off = 0usize;
    for (i, (o, v)) in spare.iter_mut().zip(vars).enumerate() {
        o.write(v.value());
        let addr = v.tape().map_or(0, |t| t as *const Tape as usize);
        off |= (addr ^ tape_addr) | (v.index() ^ first.wrapping_add(i as u32)) as usize;
    }
    // SAFETY: the loop wrote all `n` elements.
    unsafe { values.set_len(n) };
    (Buf::new(values), off == 0)
}

impl Tape {
    /// New input variables forming one array.
    pub fn var_array(&self, xs: &[f64]) -> VarArray<'_> {
        let start = self.push_leaves(xs.len());
        VarArray::from_buf(Some(self), start, NO_ITEM, Buf::copy(xs))
    }
}

impl<'t> VarArray<'t> {
    /// An array over all of `buf`.
    fn from_buf(tape: Option<&'t Tape>, start: u32, item: u32, buf: Rc<Buf>) -> Self {
        let len = buf.len();
        VarArray {
            tape,
            start,
            item,
            buf,
            off: 0,
            len,
        }
    }

    /// A constant array: on no tape, its adjoints are 0 and operations on it alone record
    /// nothing.
    pub fn constant(xs: &[f64]) -> Self {
        VarArray::from_buf(None, 0, NO_ITEM, Buf::copy(xs))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values.
    pub fn values(&self) -> &[f64] {
        &self.buf[self.off..self.off + self.len]
    }

    /// The values as a partial derivative `scale * values[i]` (shared, not copied).
    fn as_partial(&self, scale: f64) -> Partial {
        Partial::Values {
            buf: self.buf.clone(),
            off: self.off,
            scale,
        }
    }

    /// The tape the array lives on (`None` for a constant array).
    pub fn tape(&self) -> Option<&'t Tape> {
        self.tape
    }

    /// Element `i` as a scalar `Var` (no recording: it is the array's own slot).
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn get(&self, i: usize) -> Var<'t> {
        let v = self.values()[i];
        match self.tape {
            Some(t) => {
                self.escape(t);
                Var::on_tape(v, self.start + i as u32, t)
            }
            None => Var::constant(v),
        }
    }

    /// The elements as scalar `Var`s (no recording).
    pub fn to_vars(&self) -> Vec<Var<'t>> {
        let values = self.values();
        let n = values.len();
        let mut out: Vec<Var<'t>> = Vec::with_capacity(n);
        let spare = &mut out.spare_capacity_mut()[..n];
        match self.tape {
            Some(t) => {
                self.escape(t);
                let start = self.start;
                for (i, (o, &v)) in spare.iter_mut().zip(values).enumerate() {
                    o.write(Var::on_tape(v, start.wrapping_add(i as u32), t));
                }
            }
            None => {
                for (o, &v) in spare.iter_mut().zip(values) {
                    o.write(Var::constant(v));
                }
            }
        }
        // SAFETY: the loops above wrote all `n` elements.
        unsafe { out.set_len(n) };
        out
    }

    /// Scalar code may now reach the slots: the tape must zero their adjoints before a sweep.
    fn escape(&self, t: &Tape) {
        if self.item != NO_ITEM {
            t.mark_escaped(self.item);
        }
    }

    /// An array of the given scalars. If they already form a contiguous run on their tape it
    /// is used as is (nothing recorded); if none is on a tape the array is constant; otherwise
    /// each is copied to a new slot (constants included).
    ///
    /// # Panics
    /// If the `Var`s live on different tapes.
    pub fn from_vars(vars: &[Var<'t>]) -> Self {
        let Some(tape) = vars.iter().find_map(|v| v.tape()) else {
            let mut values = pool::take_f64(Use::Values, vars.len());
            values.extend(vars.iter().map(|v| v.value()));
            return VarArray::from_buf(None, 0, NO_ITEM, Buf::new(values));
        };
        // one pass: the values, and whether the Vars are one run of slots on `tape` (the inputs
        // of a taped step are)
        let (values, contiguous) = gather_run(vars, tape);
        let start = if contiguous {
            vars[0].index()
        } else {
            let mut start = tape.len() as u32;
            for (i, v) in vars.iter().enumerate() {
                let idx = match v.index_on(tape) {
                    Some(p) => tape.push1(p, 1.0),
                    None => tape.push_constant_node(),
                };
                if i == 0 {
                    start = idx;
                }
            }
            start
        };
        VarArray::from_buf(Some(tape), start, NO_ITEM, values)
    }

    /// The array over `vars` if they are one contiguous run of slots on one tape, in order
    /// (e.g. the `Var`s of [`VarArray::to_vars`] or [`Tape::vars`]); else `None`. Records
    /// nothing either way. A run is recognised in one pass over the `Var`s that also gathers
    /// their values; a slice whose ends cannot bound a run is rejected without that pass.
    pub fn from_run(vars: &[Var<'t>]) -> Option<Self> {
        let (first, last) = (vars.first()?, vars.last()?);
        let tape = first.tape()?;
        let span = last.index().wrapping_sub(first.index()) as usize;
        if !last.tape().is_some_and(|t| std::ptr::eq(t, tape)) || span != vars.len() - 1 {
            return None;
        }
        let (values, contiguous) = gather_run(vars, tape);
        contiguous.then(|| VarArray::from_buf(Some(tape), first.index(), NO_ITEM, values))
    }

    /// The adjoints of the elements (zeros for a constant array).
    pub fn adjoints(&self, adj: &Adjoints) -> Vec<f64> {
        match self.tape {
            Some(_) => {
                let a = adj.as_slice();
                a[self.start as usize..self.start as usize + self.len()].to_vec()
            }
            None => vec![0.0; self.len()],
        }
    }

    /// Copies the adjoints of the elements into `out` (zeros for a constant array), without
    /// allocating.
    ///
    /// # Panics
    /// If `out` and the array differ in length.
    pub fn adjoints_into(&self, adj: &Adjoints, out: &mut [f64]) {
        self.same_len(out.len(), "adjoints_into");
        match self.tape {
            Some(_) => {
                let s = self.start as usize;
                out.copy_from_slice(&adj.as_slice()[s..s + self.len()]);
            }
            None => out.fill(0.0),
        }
    }

    /// The argument slot of this array in a recorded operation (`None` if constant).
    fn input(&self) -> Option<Input> {
        self.tape.map(|_| Input::Array(self.start))
    }

    /// The tape an operation on `self` and `other` records on.
    #[track_caller]
    fn tape_with(&self, other: Option<&'t Tape>) -> Option<&'t Tape> {
        match (self.tape, other) {
            (Some(a), Some(b)) => {
                assert!(
                    std::ptr::eq(a, b),
                    "ad_core: array operation on values from two different tapes"
                );
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }

    /// Records `op` on `tape` with `values` as its outputs (a constant array if no tape).
    fn record(tape: Option<&'t Tape>, op: ArrayOp, values: Vec<f64>) -> VarArray<'t> {
        Self::record_shared(tape, op, Buf::new(values))
    }

    /// As [`VarArray::record`] with the output values already shared.
    fn record_shared(tape: Option<&'t Tape>, op: ArrayOp, values: Rc<Buf>) -> VarArray<'t> {
        let (start, item) = match tape {
            Some(t) => t.push_item_lazy(Item::Array(op), values.len(), true),
            None => (0, NO_ITEM),
        };
        VarArray::from_buf(tape, start, item, values)
    }

    /// Records `op` on `tape` with one scalar output (a constant if no tape).
    fn record_scalar(tape: Option<&'t Tape>, op: ArrayOp, value: f64) -> Var<'t> {
        match tape {
            Some(t) => Var::on_tape(value, t.push_item(Item::Array(op), 1), t),
            None => Var::constant(value),
        }
    }

    #[track_caller]
    fn same_len(&self, other_len: usize, what: &str) {
        assert_eq!(
            self.len(),
            other_len,
            "ad_core: {what}: arrays of lengths {} and {other_len}",
            self.len()
        );
    }
}

impl Clone for VarArray<'_> {
    /// Another handle to the same tape slots (nothing is recorded, the values are shared).
    fn clone(&self) -> Self {
        VarArray {
            tape: self.tape,
            start: self.start,
            item: self.item,
            buf: self.buf.clone(),
            off: self.off,
            len: self.len,
        }
    }
}

impl std::fmt::Debug for VarArray<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VarArray(@{}, {:?})", self.start, self.values())
    }
}
