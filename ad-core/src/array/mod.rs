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

mod generic;
mod map;
mod ops;
#[cfg(test)]
mod tests;

use std::rc::Rc;
use std::sync::Arc;

use rayon::prelude::*;

use crate::pool::{self, Use};
use crate::tape::{Adjoints, Claims, Item, Tape};
use crate::var::Var;

pub use generic::RealArray;
pub use map::ElementFn;
pub use ops::{CsrMatrix, DenseMatrix, Matrix};

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

// ------------------------------------------------------------------ recorded operations

/// Where an argument of an element-wise operation lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input {
    /// An array: slots `start..start + n`.
    Array(u32),
    /// A scalar broadcast over the array: one slot.
    Scalar(u32),
}

/// The partial derivative of an output element with respect to an argument.
#[derive(Clone)]
pub(crate) enum Partial {
    /// The same for every element.
    Const(f64),
    /// Element `i` at `arena[offset + i]`.
    Stored(usize),
    /// Element `i` is `scale * buf[off + i]`: values of an array (an operand of a product, the
    /// output of `exp`), shared rather than copied.
    Values {
        buf: Rc<Buf>,
        off: usize,
        scale: f64,
    },
}

impl Partial {
    /// The partials of `n` elements as `scale * run[i]`, or `None` for a constant.
    #[inline]
    fn run<'a>(&'a self, arena: &'a [f64], n: usize) -> Option<(&'a [f64], f64)> {
        match self {
            Partial::Const(_) => None,
            Partial::Stored(o) => Some((&arena[*o..*o + n], 1.0)),
            Partial::Values { buf, off, scale } => Some((&buf[*off..*off + n], *scale)),
        }
    }
}

/// One argument of an element-wise or reduction operation.
#[derive(Clone)]
pub(crate) struct Arg {
    pub input: Input,
    pub partial: Partial,
}

/// How a re-indexing operation maps output elements to input elements.
#[derive(Clone, Debug)]
pub(crate) enum IndexMap {
    /// `out[i] = in[(i - k) mod n]`.
    Roll { n: usize, k: isize },
    /// `out[r, c] = in[(r - dr) mod rows, (c - dc) mod cols]` (row-major).
    Roll2 {
        rows: usize,
        cols: usize,
        dr: isize,
        dc: isize,
    },
    /// `out[i] = in[clamp(i - k, 0, n - 1)]`.
    Clamp { n: usize, k: isize },
    /// `out[i] = in[offset + i * step]`.
    Strided { offset: usize, step: usize },
    /// `out[i] = in[idx[i]]`.
    Gather(Arc<[u32]>),
}

impl IndexMap {
    #[inline(always)]
    pub(crate) fn source(&self, i: usize) -> usize {
        match self {
            IndexMap::Roll { n, k } => (i as isize - k).rem_euclid(*n as isize) as usize,
            IndexMap::Roll2 { rows, cols, dr, dc } => {
                let (r, c) = (i / cols, i % cols);
                let r = (r as isize - dr).rem_euclid(*rows as isize) as usize;
                let c = (c as isize - dc).rem_euclid(*cols as isize) as usize;
                r * cols + c
            }
            IndexMap::Clamp { n, k } => (i as isize - k).clamp(0, *n as isize - 1) as usize,
            IndexMap::Strided { offset, step } => offset + i * step,
            IndexMap::Gather(idx) => idx[i] as usize,
        }
    }

    /// Calls `f(out_start, src_start, len)` for runs of consecutive elements that map to
    /// consecutive sources, covering all `n_out` outputs: two runs per row for the periodic
    /// shifts, one run for a unit-stride slice, single elements otherwise, and runs that
    /// continue one another are merged (a shift by whole rows is two runs, not one per row; a
    /// clamped shift's interior is one run). Gathers and their reverse steps then copy and add
    /// whole runs instead of indexing element by element.
    pub(crate) fn for_runs(&self, n_out: usize, f: impl FnMut(usize, usize, usize)) {
        let mut merged = Merge { f, run: (0, 0, 0) };
        self.for_runs_unmerged(n_out, |o, s, len| merged.push(o, s, len));
        merged.flush();
    }

    /// [`IndexMap::for_runs`] without merging the runs.
    fn for_runs_unmerged(&self, n_out: usize, mut f: impl FnMut(usize, usize, usize)) {
        /// `out[i] = in[(i - k) mod n]` for one row of length `n`.
        fn roll(
            f: &mut impl FnMut(usize, usize, usize),
            out: usize,
            src: usize,
            n: usize,
            k: isize,
        ) {
            let k = k.rem_euclid(n as isize) as usize;
            if k < n {
                f(out + k, src, n - k);
            }
            if k > 0 {
                f(out, src + n - k, k);
            }
        }
        match self {
            IndexMap::Roll { n, k } => roll(&mut f, 0, 0, *n, *k),
            IndexMap::Roll2 { rows, cols, dr, dc } => {
                for r in 0..*rows {
                    let sr = (r as isize - dr).rem_euclid(*rows as isize) as usize;
                    roll(&mut f, r * cols, sr * cols, *cols, *dc);
                }
            }
            IndexMap::Strided { offset, step: 1 } => f(0, *offset, n_out),
            _ => {
                for i in 0..n_out {
                    f(i, self.source(i), 1);
                }
            }
        }
    }
}

/// Merges the runs `(out_start, src_start, len)` given to [`Merge::push`] that continue the
/// previous one in both output and source, passing the merged runs to `f`.
struct Merge<F: FnMut(usize, usize, usize)> {
    f: F,
    /// The pending run (`len == 0`: none).
    run: (usize, usize, usize),
}

impl<F: FnMut(usize, usize, usize)> Merge<F> {
    #[inline(always)]
    fn push(&mut self, o: usize, s: usize, len: usize) {
        let (po, ps, pl) = self.run;
        if pl > 0 && po + pl == o && ps + pl == s {
            self.run.2 += len;
        } else {
            self.flush();
            self.run = (o, s, len);
        }
    }

    fn flush(&mut self) {
        let (o, s, len) = self.run;
        if len > 0 {
            (self.f)(o, s, len);
        }
        self.run.2 = 0;
    }
}

/// The reverse data of one array operation.
pub(crate) enum ArrayOp {
    /// `out[i] = f(args)` element-wise: each argument gets `partial_i * out_bar[i]`.
    Elementwise { n: usize, args: [Option<Arg>; 3] },
    /// `out[0] = reduction(args)`: each array argument gets `partial_i * out_bar[0]`.
    Reduce { n: usize, args: [Option<Arg>; 2] },
    /// `out[i] = src[map(i)]`; the source has `src_len` elements.
    Gather {
        src: u32,
        src_len: usize,
        map: IndexMap,
    },
    /// `out[idx[i]] += src[i]`.
    ScatterAdd { src: u32, idx: Arc<[u32]> },
    /// `out = M x` with a constant matrix.
    MatVec { x: u32, matrix: Arc<ops::Matrix> },
    /// `out = A x` with `A` (`m x n`, row-major) and `x` (either may be constant); their
    /// values are stored at `arena[off..off + m n]` and `arena[off + m n..off + m n + n]`.
    VarMatVec {
        a: Option<Input>,
        x: Option<Input>,
        m: usize,
        n: usize,
        off: usize,
    },
    /// `out[i] = f(inputs)` element-wise, fused (see [`map`]): input `k` (first slot
    /// `slots[k]`, or a constant) gets `arena[off + k n + i] * out_bar[i]`.
    Map {
        n: usize,
        off: usize,
        slots: map::Slots,
    },
    /// `out[0] = sum_i f(inputs)` (see [`VarArray::map_sum`]): input `k` gets
    /// `arena[off + k n + i] * out_bar[0]`.
    MapSum {
        n: usize,
        off: usize,
        slots: map::Slots,
    },
    /// Placeholder for an operation on constants (never recorded).
    Nothing,
}

/// `dst[i] += (c w[i]) src[i]`, or `=` if `WRITE` (vectorised; parallel above `PAR_MIN`).
fn axpy_mul<const WRITE: bool>(dst: &mut [f64], c: f64, w: &[f64], src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(w.par_chunks(CHUNK))
            .zip(src.par_chunks(CHUNK))
            .for_each(|((d, w), s)| axpy_mul::<WRITE>(d, c, w, s));
    } else {
        let n = dst.len();
        let (w, src) = (&w[..n], &src[..n]);
        for i in 0..n {
            let v = (c * w[i]) * src[i];
            dst[i] = if WRITE { v } else { dst[i] + v };
        }
    }
}

/// `dst[i] += c src[i]`, or `=` if `WRITE`.
fn axpy<const WRITE: bool>(dst: &mut [f64], c: f64, src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| axpy::<WRITE>(d, c, s));
    } else {
        let n = dst.len();
        let src = &src[..n];
        for i in 0..n {
            let v = c * src[i];
            dst[i] = if WRITE { v } else { dst[i] + v };
        }
    }
}

/// `dst[i] += c`, or `=` if `WRITE`.
fn add_const<const WRITE: bool>(dst: &mut [f64], c: f64) {
    for d in dst {
        *d = if WRITE { c } else { *d + c };
    }
}

/// A partial derivative in a fused reverse loop: `at(i)` is the partial of element `i`.
trait Part: Copy + Send + Sync {
    fn at(self, i: usize) -> f64;
    /// Elements `lo..hi`.
    fn range(self, lo: usize, hi: usize) -> Self;
    /// Asserts that `n` elements exist (so the loop has no bounds checks).
    fn check(self, n: usize);
}

/// The same partial for every element.
#[derive(Clone, Copy)]
struct ConstPart(f64);

impl Part for ConstPart {
    #[inline(always)]
    fn at(self, _: usize) -> f64 {
        self.0
    }
    #[inline(always)]
    fn range(self, _: usize, _: usize) -> Self {
        self
    }
    #[inline(always)]
    fn check(self, _: usize) {}
}

/// Partials `scale * run[i]`.
#[derive(Clone, Copy)]
struct RunPart<'a>(&'a [f64], f64);

impl Part for RunPart<'_> {
    #[inline(always)]
    fn at(self, i: usize) -> f64 {
        self.1 * self.0[i]
    }
    #[inline(always)]
    fn range(self, lo: usize, hi: usize) -> Self {
        RunPart(&self.0[lo..hi], self.1)
    }
    #[inline(always)]
    fn check(self, n: usize) {
        assert!(self.0.len() >= n);
    }
}

/// `d0[i] (+)= p0(i) out[i]` and `d1[i] (+)= p1(i) out[i]` in one pass over `out` (`=` where
/// `W0` / `W1`): the reverse step of a binary element-wise operation.
fn reverse2<P0: Part, P1: Part, const W0: bool, const W1: bool>(
    d0: &mut [f64],
    d1: &mut [f64],
    p0: P0,
    p1: P1,
    out: &[f64],
) {
    let n = out.len();
    if n >= PAR_MIN {
        d0.par_chunks_mut(CHUNK)
            .zip(d1.par_chunks_mut(CHUNK))
            .zip(out.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, ((d0, d1), o))| {
                let (lo, hi) = (c * CHUNK, c * CHUNK + o.len());
                reverse2::<P0, P1, W0, W1>(d0, d1, p0.range(lo, hi), p1.range(lo, hi), o)
            });
        return;
    }
    let (d0, d1) = (&mut d0[..n], &mut d1[..n]);
    p0.check(n);
    p1.check(n);
    for i in 0..n {
        let o = out[i];
        let (v0, v1) = (p0.at(i) * o, p1.at(i) * o);
        d0[i] = if W0 { v0 } else { d0[i] + v0 };
        d1[i] = if W1 { v1 } else { d1[i] + v1 };
    }
}

/// [`reverse2`] with the write modes chosen at run time.
fn reverse2_modes<P0: Part, P1: Part>(
    d0: &mut [f64],
    d1: &mut [f64],
    p0: P0,
    p1: P1,
    w: (bool, bool),
    out: &[f64],
) {
    match w {
        (true, true) => reverse2::<P0, P1, true, true>(d0, d1, p0, p1, out),
        (true, false) => reverse2::<P0, P1, true, false>(d0, d1, p0, p1, out),
        (false, true) => reverse2::<P0, P1, false, true>(d0, d1, p0, p1, out),
        (false, false) => reverse2::<P0, P1, false, false>(d0, d1, p0, p1, out),
    }
}

/// The reverse step of a binary element-wise operation whose two array arguments occupy the
/// disjoint ranges `s0..s0 + n` and `s1..s1 + n` of `below`: one pass.
fn reverse_binary(
    claims: &mut Claims<'_>,
    below: &mut [f64],
    (s0, p0): (usize, &Partial),
    (s1, p1): (usize, &Partial),
    arena: &[f64],
    out: &[f64],
) {
    let n = out.len();
    let w = (
        claims.claim(below, s0, s0 + n),
        claims.claim(below, s1, s1 + n),
    );
    let (d0, d1) = if s0 < s1 {
        let (lo, hi) = below.split_at_mut(s1);
        (&mut lo[s0..s0 + n], &mut hi[..n])
    } else {
        let (lo, hi) = below.split_at_mut(s0);
        (&mut hi[..n], &mut lo[s1..s1 + n])
    };
    let c = |p: &Partial| match p {
        Partial::Const(c) => *c,
        _ => 1.0,
    };
    match (p0.run(arena, n), p1.run(arena, n)) {
        (None, None) => reverse2_modes(d0, d1, ConstPart(c(p0)), ConstPart(c(p1)), w, out),
        (Some((r, k)), None) => reverse2_modes(d0, d1, RunPart(r, k), ConstPart(c(p1)), w, out),
        (None, Some((r, k))) => reverse2_modes(d0, d1, ConstPart(c(p0)), RunPart(r, k), w, out),
        (Some((r0, k0)), Some((r1, k1))) => {
            reverse2_modes(d0, d1, RunPart(r0, k0), RunPart(r1, k1), w, out)
        }
    }
}

/// Adds `scale * c * src` (`part = Some((c, scale))`) or `c0 * src` into `adj[lo..lo + n]`,
/// claiming the range first (see [`Claims`]).
fn accumulate(
    claims: &mut Claims<'_>,
    adj: &mut [f64],
    lo: usize,
    part: Option<(&[f64], f64)>,
    c0: f64,
    src: &[f64],
) {
    let n = src.len();
    let write = claims.claim(adj, lo, lo + n);
    let dst = &mut adj[lo..lo + n];
    match (part, write) {
        (Some((w, c)), true) => axpy_mul::<true>(dst, c, w, src),
        (Some((w, c)), false) => axpy_mul::<false>(dst, c, w, src),
        (None, true) => axpy::<true>(dst, c0, src),
        (None, false) => axpy::<false>(dst, c0, src),
    }
}

/// `sum_i a[i] * b[i]`.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        in_order(
            a.par_chunks(CHUNK)
                .zip(b.par_chunks(CHUNK))
                .map(|(a, b)| dot(a, b))
                .collect(),
        )
    } else {
        // Four accumulators so the loop vectorises without reassociation by the compiler.
        let mut acc = [0.0; 4];
        let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for k in 0..4 {
                acc[k] += x[k] * y[k];
            }
        }
        let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    }
}

/// The sum of the chunks' partial sums, added in chunk order: the same bits on any number
/// of threads (rayon's own `sum` combines the parts in an order that follows how the work
/// was split between the threads).
pub(crate) fn in_order(parts: Vec<f64>) -> f64 {
    parts.iter().sum()
}

/// `sum_i a[i]`.
pub(crate) fn sum(a: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        in_order(a.par_chunks(CHUNK).map(sum).collect())
    } else {
        let mut acc = [0.0; 4];
        let c = a.chunks_exact(4);
        let tail: f64 = c.remainder().iter().sum();
        for x in c {
            for k in 0..4 {
                acc[k] += x[k];
            }
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    }
}

impl ArrayOp {
    /// Adds this operation's contribution to the adjoints of its inputs (`below`), given the
    /// adjoints of its outputs (`out`); every input range is claimed first (see [`Claims`]:
    /// the first contribution to a lazy run is written, not added).
    pub(crate) fn reverse(
        &self,
        arena: &[f64],
        out: &[f64],
        below: &mut [f64],
        claims: &mut Claims<'_>,
    ) {
        match self {
            ArrayOp::Elementwise { n, args } => {
                let n = *n;
                if let [Some(a0), Some(a1), None] = args {
                    if let (Input::Array(s0), Input::Array(s1)) = (a0.input, a1.input) {
                        let (s0, s1) = (s0 as usize, s1 as usize);
                        if s0 + n <= s1 || s1 + n <= s0 {
                            let (p0, p1) = ((s0, &a0.partial), (s1, &a1.partial));
                            reverse_binary(claims, below, p0, p1, arena, out);
                            return;
                        }
                    }
                }
                for arg in args.iter().flatten() {
                    let run = arg.partial.run(arena, n);
                    let c = match arg.partial {
                        Partial::Const(c) => c,
                        _ => 1.0,
                    };
                    match arg.input {
                        Input::Array(s) => accumulate(claims, below, s as usize, run, c, out),
                        Input::Scalar(j) => {
                            below[j as usize] += match run {
                                None => c * sum(out),
                                Some((w, 1.0)) => dot(w, out),
                                Some((w, k)) => k * dot(w, out),
                            }
                        }
                    }
                }
            }
            ArrayOp::Reduce { n, args } => {
                let (n, w) = (*n, out[0]);
                for arg in args.iter().flatten() {
                    let run = arg.partial.run(arena, n);
                    match (arg.input, run, &arg.partial) {
                        (Input::Array(s), None, Partial::Const(c)) => {
                            let s = s as usize;
                            if claims.claim(below, s, s + n) {
                                add_const::<true>(&mut below[s..s + n], c * w);
                            } else {
                                add_const::<false>(&mut below[s..s + n], c * w);
                            }
                        }
                        (Input::Array(s), Some((p, k)), _) => {
                            accumulate(claims, below, s as usize, None, w * k, p)
                        }
                        (Input::Scalar(j), None, Partial::Const(c)) => below[j as usize] += c * w,
                        (Input::Scalar(j), Some((p, k)), _) => below[j as usize] += w * k * sum(p),
                        (_, None, _) => unreachable!("a constant partial has no run"),
                    }
                }
            }
            ArrayOp::Gather { src, src_len, map } => {
                let src = *src as usize;
                let bijective = matches!(map, IndexMap::Roll { .. } | IndexMap::Roll2 { .. });
                if bijective && claims.claim(below, src, src + src_len) {
                    // a permutation of the whole source: every element written once
                    map.for_runs(out.len(), |o, s, len| {
                        below[src + s..src + s + len].copy_from_slice(&out[o..o + len]);
                    });
                } else {
                    if !bijective {
                        claims.claim_zeroed(below, src, src + src_len);
                    }
                    map.for_runs(out.len(), |o, s, len| {
                        let dst = &mut below[src + s..src + s + len];
                        for (b, &w) in dst.iter_mut().zip(&out[o..o + len]) {
                            *b += w;
                        }
                    });
                }
            }
            ArrayOp::ScatterAdd { src, idx } => {
                let src = *src as usize;
                // every source element is read once: a write if the range is claimed
                if claims.claim(below, src, src + idx.len()) {
                    for (i, &k) in idx.iter().enumerate() {
                        below[src + i] = out[k as usize];
                    }
                } else {
                    for (i, &k) in idx.iter().enumerate() {
                        below[src + i] += out[k as usize];
                    }
                }
            }
            ArrayOp::MatVec { x, matrix } => {
                let x = *x as usize;
                claims.claim_zeroed(below, x, x + matrix.cols());
                matrix.apply_transpose_add(out, &mut below[x..x + matrix.cols()]);
            }
            ArrayOp::VarMatVec { a, x, m, n, off } => {
                let (m, n, off) = (*m, *n, *off);
                let av = &arena[off..off + m * n];
                let xv = &arena[off + m * n..off + m * n + n];
                if let Some(Input::Array(a)) = *a {
                    // A_bar[i, j] += out[i] x[j]
                    let a = a as usize;
                    claims.claim_zeroed(below, a, a + m * n);
                    for (i, &o) in out.iter().enumerate() {
                        axpy::<false>(&mut below[a + i * n..a + (i + 1) * n], o, xv);
                    }
                }
                if let Some(Input::Array(x)) = *x {
                    // x_bar += A^T out
                    let x = x as usize;
                    claims.claim_zeroed(below, x, x + n);
                    for (i, &o) in out.iter().enumerate() {
                        axpy::<false>(&mut below[x..x + n], o, &av[i * n..(i + 1) * n]);
                    }
                }
            }
            ArrayOp::Map { n, off, slots } => {
                let out = map::OutBar::Run(out);
                map::reverse((*n, *off), slots, arena, out, below, claims);
            }
            ArrayOp::MapSum { n, off, slots } => {
                let out = map::OutBar::Uniform(out[0]);
                map::reverse((*n, *off), slots, arena, out, below, claims);
            }
            ArrayOp::Nothing => {}
        }
    }
}
