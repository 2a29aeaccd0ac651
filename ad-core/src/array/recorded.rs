//! What an array operation leaves on the tape: [`ArrayOp`], its arguments ([`Input`],
//! [`Partial`]) and the index maps of re-indexings ([`IndexMap`]).

use std::rc::Rc;
use std::sync::Arc;

use super::matrix::Matrix;
use super::{map, Buf};

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
    pub(super) fn run<'a>(&'a self, arena: &'a [f64], n: usize) -> Option<(&'a [f64], f64)> {
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
    MatVec { x: u32, matrix: Arc<Matrix> },
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
    /// `out[0] = sum_i f(inputs)` (see [`VarArray::map_sum`](super::VarArray::map_sum)): input
    /// `k` gets `arena[off + k n + i] * out_bar[0]`.
    MapSum {
        n: usize,
        off: usize,
        slots: map::Slots,
    },
    /// Placeholder for an operation on constants (never recorded).
    Nothing,
}
