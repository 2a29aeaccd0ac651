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
mod ops;

use std::sync::Arc;

use rayon::prelude::*;

use crate::pool::{self, Use};
use crate::tape::{Adjoints, Item, Tape};
use crate::var::Var;

pub use generic::RealArray;
pub use ops::{CsrMatrix, DenseMatrix, Matrix};

/// Arrays with at least this many elements are processed by several threads (rayon), in
/// chunks of [`CHUNK`] elements. Below it, one thread's vectorised loop is faster.
pub const PAR_MIN: usize = 1 << 16;
/// Chunk length of the parallel loops.
pub const CHUNK: usize = 1 << 13;

/// A 1-D array of reverse-mode scalars: a contiguous run of slots on a [`Tape`] and their
/// values, or a constant array (on no tape, recording nothing). Operations on it record one
/// node each (see the [module docs](self)).
pub struct VarArray<'t> {
    tape: Option<&'t Tape>,
    start: u32,
    values: Vec<f64>,
}

impl Tape {
    /// New input variables forming one array.
    pub fn var_array(&self, xs: &[f64]) -> VarArray<'_> {
        let start = self.push_leaves(xs.len());
        let mut values = pool::take_f64(Use::Values, xs.len());
        values.extend_from_slice(xs);
        VarArray {
            tape: Some(self),
            start,
            values,
        }
    }
}

impl<'t> VarArray<'t> {
    /// A constant array: on no tape, its adjoints are 0 and operations on it alone record
    /// nothing.
    pub fn constant(xs: &[f64]) -> Self {
        let mut values = pool::take_f64(Use::Values, xs.len());
        values.extend_from_slice(xs);
        VarArray {
            tape: None,
            start: 0,
            values,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values.
    pub fn values(&self) -> &[f64] {
        &self.values
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
        match self.tape {
            Some(t) => Var::on_tape(self.values[i], self.start + i as u32, t),
            None => Var::constant(self.values[i]),
        }
    }

    /// The elements as scalar `Var`s (no recording).
    pub fn to_vars(&self) -> Vec<Var<'t>> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }

    /// An array of the given scalars. If they already form a contiguous run on their tape it
    /// is used as is (nothing recorded); if none is on a tape the array is constant; otherwise
    /// each is copied to a new slot (constants included).
    ///
    /// # Panics
    /// If the `Var`s live on different tapes.
    pub fn from_vars(vars: &[Var<'t>]) -> Self {
        let mut values = pool::take_f64(Use::Values, vars.len());
        values.extend(vars.iter().map(|v| v.value()));
        let Some(tape) = vars.iter().find_map(|v| v.tape()) else {
            return VarArray {
                tape: None,
                start: 0,
                values,
            };
        };
        let first = vars[0].index_on(tape);
        let contiguous = first.is_some()
            && vars
                .iter()
                .enumerate()
                .all(|(i, v)| v.index_on(tape) == first.map(|f| f + i as u32));
        let start = if contiguous {
            first.unwrap_or(0)
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
        VarArray {
            tape: Some(tape),
            start,
            values,
        }
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
        let start = match tape {
            Some(t) => t.push_item(Item::Array(op), values.len()),
            None => 0,
        };
        VarArray {
            tape,
            start,
            values,
        }
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
    /// Another handle to the same tape slots (nothing is recorded).
    fn clone(&self) -> Self {
        let mut values = pool::take_f64(Use::Values, self.len());
        values.extend_from_slice(&self.values);
        VarArray {
            tape: self.tape,
            start: self.start,
            values,
        }
    }
}

impl Drop for VarArray<'_> {
    fn drop(&mut self) {
        pool::give_f64(Use::Values, std::mem::take(&mut self.values));
    }
}

impl std::fmt::Debug for VarArray<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VarArray(@{}, {:?})", self.start, self.values)
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
#[derive(Clone, Copy, Debug)]
pub(crate) enum Partial {
    /// The same for every element.
    Const(f64),
    /// Element `i` at `arena[offset + i]`.
    Stored(usize),
}

/// One argument of an element-wise or reduction operation.
#[derive(Clone, Copy, Debug)]
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
    /// shifts, one run for a unit-stride slice, single elements otherwise. Gathers and their
    /// reverse steps then copy and add whole runs instead of indexing element by element.
    pub(crate) fn for_runs(&self, n_out: usize, mut f: impl FnMut(usize, usize, usize)) {
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

/// The reverse data of one array operation.
pub(crate) enum ArrayOp {
    /// `out[i] = f(args)` element-wise: each argument gets `partial_i * out_bar[i]`.
    Elementwise { n: usize, args: [Option<Arg>; 3] },
    /// `out[0] = reduction(args)`: each array argument gets `partial_i * out_bar[0]`.
    Reduce { n: usize, args: [Option<Arg>; 2] },
    /// `out[i] = src[map(i)]`.
    Gather { src: u32, map: IndexMap },
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
    /// Placeholder for an operation on constants (never recorded).
    Nothing,
}

/// `dst[i] += w[i] * src[i]` (vectorised; parallel above `PAR_MIN`).
fn axpy_mul(dst: &mut [f64], w: &[f64], src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(w.par_chunks(CHUNK))
            .zip(src.par_chunks(CHUNK))
            .for_each(|((d, w), s)| axpy_mul(d, w, s));
    } else {
        for ((d, &w), &s) in dst.iter_mut().zip(w).zip(src) {
            *d += w * s;
        }
    }
}

/// `dst[i] += c * src[i]`.
fn axpy(dst: &mut [f64], c: f64, src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| axpy(d, c, s));
    } else {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += c * s;
        }
    }
}

/// `sum_i a[i] * b[i]`.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        a.par_chunks(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(|(a, b)| dot(a, b))
            .sum()
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

/// `sum_i a[i]`.
pub(crate) fn sum(a: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        a.par_chunks(CHUNK).map(sum).sum()
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
    /// adjoints of its outputs (`out`).
    pub(crate) fn reverse(&self, arena: &[f64], out: &[f64], below: &mut [f64]) {
        match self {
            ArrayOp::Elementwise { n, args } => {
                for arg in args.iter().flatten() {
                    match (arg.input, arg.partial) {
                        (Input::Array(s), Partial::Const(c)) => {
                            axpy(&mut below[s as usize..s as usize + n], c, out)
                        }
                        (Input::Array(s), Partial::Stored(o)) => axpy_mul(
                            &mut below[s as usize..s as usize + n],
                            &arena[o..o + n],
                            out,
                        ),
                        (Input::Scalar(j), Partial::Const(c)) => below[j as usize] += c * sum(out),
                        (Input::Scalar(j), Partial::Stored(o)) => {
                            below[j as usize] += dot(&arena[o..o + n], out)
                        }
                    }
                }
            }
            ArrayOp::Reduce { n, args } => {
                let w = out[0];
                for arg in args.iter().flatten() {
                    match (arg.input, arg.partial) {
                        (Input::Array(s), Partial::Const(c)) => {
                            for b in &mut below[s as usize..s as usize + n] {
                                *b += c * w;
                            }
                        }
                        (Input::Array(s), Partial::Stored(o)) => {
                            axpy(&mut below[s as usize..s as usize + n], w, &arena[o..o + n])
                        }
                        (Input::Scalar(j), Partial::Const(c)) => below[j as usize] += c * w,
                        (Input::Scalar(j), Partial::Stored(o)) => {
                            below[j as usize] += w * sum(&arena[o..o + n])
                        }
                    }
                }
            }
            ArrayOp::Gather { src, map } => {
                let src = *src as usize;
                map.for_runs(out.len(), |o, s, len| {
                    let dst = &mut below[src + s..src + s + len];
                    for (b, &w) in dst.iter_mut().zip(&out[o..o + len]) {
                        *b += w;
                    }
                });
            }
            ArrayOp::ScatterAdd { src, idx } => {
                let src = *src as usize;
                for (i, &k) in idx.iter().enumerate() {
                    below[src + i] += out[k as usize];
                }
            }
            ArrayOp::MatVec { x, matrix } => {
                let x = *x as usize;
                matrix.apply_transpose_add(out, &mut below[x..x + matrix.cols()]);
            }
            ArrayOp::VarMatVec { a, x, m, n, off } => {
                let (m, n, off) = (*m, *n, *off);
                let av = &arena[off..off + m * n];
                let xv = &arena[off + m * n..off + m * n + n];
                if let Some(Input::Array(a)) = *a {
                    // A_bar[i, j] += out[i] x[j]
                    let a = a as usize;
                    for (i, &o) in out.iter().enumerate() {
                        axpy(&mut below[a + i * n..a + (i + 1) * n], o, xv);
                    }
                }
                if let Some(Input::Array(x)) = *x {
                    // x_bar += A^T out
                    let x = x as usize;
                    for (i, &o) in out.iter().enumerate() {
                        axpy(&mut below[x..x + n], o, &av[i * n..(i + 1) * n]);
                    }
                }
            }
            ArrayOp::Nothing => {}
        }
    }
}
