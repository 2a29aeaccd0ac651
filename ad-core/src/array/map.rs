//! Fused element-wise maps: a per-element formula written once as generic scalar code, recorded
//! as ONE tape node whatever its number of operations.
//!
//! Forward, every element is evaluated on [`Dual<N>`] seeded with unit tangents: the value goes
//! to the output array and the `N` partials to the tape's arena, one run of `n` doubles per
//! input (structure of arrays). Reverse, for every on-tape input `k`,
//! `in_k_bar[i] += partial_k[i] * out_bar[i]`: one pass over the output adjoints, in blocks
//! that stay in the L1 cache, split over threads above [`PAR_MIN`].
//!
//! [`VarArray::map_sum`] fuses the sum of the map too: a scalar node that keeps only the
//! partials, whose reverse step is the same with one output adjoint for all elements.

use rayon::prelude::*;

use super::fill::{map_values, values_and_partials};
use super::{axpy, axpy_mul, in_order, sum, ArrayOp, VarArray, CHUNK, PAR_MIN};
use crate::dual::Dual;
use crate::real::Real;
use crate::tape::Claims;
use crate::var::Var;

/// An element-wise function of `N` scalars, written once for every scalar type: the formula
/// of [`RealArray::map`](crate::RealArray::map).
///
/// Rust closures cannot be generic, so the formula is a method of a (usually empty) type.
/// `eval` sees one element of each input and may use anything [`Real`] offers (arithmetic,
/// `f64` constants, `exp`, `powi`, comparisons, branches on values). Mark it `#[inline]`:
/// maps call it once per element, and without the attribute a generic method may be compiled
/// in another codegen unit than the loop, each element then paying a call (W1's forward pass
/// measured 3x slower so).
///
/// ```
/// use ad_core::{ElementFn, Real, RealArray, Tape, VarArray};
///
/// /// `100 (b - a^2)^2 + (1 - a)^2`: one Rosenbrock term.
/// struct Term;
///
/// impl ElementFn<2> for Term {
///     #[inline]
///     fn eval<S: Real>(&self, [a, b]: [S; 2]) -> S {
///         let r = b - a * a;
///         let s = S::one() - a;
///         r * r * 100.0 + s * s
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.var_array(&[1.2, 0.9, 1.1]);
/// let (head, tail) = (x.slice(0, 1, 2), x.slice(1, 1, 2));
/// let y = VarArray::map([&head, &tail], &Term).sum(); // two nodes: the map and the sum
/// let g = x.adjoints(&tape.gradient(y));
/// // d/dx[1]: the term at i = 0 through b, the term at i = 1 through a
/// let (a0, a1, b1) = (1.2, 0.9, 1.1);
/// let expect = 200.0 * (a1 - a0 * a0) - 400.0 * a1 * (b1 - a1 * a1) - 2.0 * (1.0 - a1);
/// assert!((g[1] - expect).abs() < 1e-12);
/// ```
pub trait ElementFn<const N: usize>: Sync {
    /// The value at one element, from the same element of each of the `N` inputs.
    fn eval<S: Real>(&self, x: [S; N]) -> S;
}

/// Marks a constant input (on no tape) in [`Slots`].
const CONSTANT: u32 = u32::MAX;

/// The first tape slot of each input of a map ([`CONSTANT`] for a constant input), stored
/// inline for up to four inputs so recording allocates nothing.
#[derive(Clone, Debug)]
pub(crate) enum Slots {
    Inline { slots: [u32; 4], len: u8 },
    Heap(Box<[u32]>),
}

impl Slots {
    fn new(slots: &[u32]) -> Self {
        match slots.len() {
            len @ 0..=4 => {
                let mut inline = [CONSTANT; 4];
                inline[..len].copy_from_slice(slots);
                Slots::Inline {
                    slots: inline,
                    len: len as u8,
                }
            }
            _ => Slots::Heap(slots.into()),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Slots::Inline { slots, len } => &slots[..*len as usize],
            Slots::Heap(s) => s,
        }
    }
}

impl<'t> VarArray<'t> {
    /// The fused element-wise map `out[i] = f(inputs[0][i], ..., inputs[N-1][i])`, recorded as
    /// ONE node (see [`RealArray::map`](crate::RealArray::map) and [`ElementFn`]).
    ///
    /// The node stores `N + 1` doubles per element (the value and one partial per input, from
    /// `f` evaluated on `Dual<N>`); its reverse step is `in_k_bar[i] += partial_k[i] *
    /// out_bar[i]` for every on-tape input `k`. Inputs may be the same array, or overlapping
    /// views of one array. With no input on a tape the result is a constant array. With
    /// `N = 0` it is empty.
    ///
    /// # Panics
    /// If the inputs differ in length, or live on two different tapes.
    #[track_caller]
    pub fn map<const N: usize, F: ElementFn<N>>(inputs: [&VarArray<'t>; N], f: &F) -> Self {
        let Some(first) = inputs.first() else {
            return VarArray::constant(&[]);
        };
        let mut tape = first.tape;
        for a in &inputs[1..] {
            first.same_len(a.len(), "map");
            tape = a.tape_with(tape);
        }
        let values = inputs.map(|a| a.values());
        let Some(t) = tape else {
            let v = map_values(values, |x| f.eval::<f64>(x));
            return Self::record(None, ArrayOp::Nothing, v);
        };
        let (off, v) = values_and_partials(t, values, |x| {
            let y = eval_dual(f, x);
            (y.v, y.d)
        });
        let slots = inputs.map(|a| a.tape.map_or(CONSTANT, |_| a.start));
        let op = ArrayOp::Map {
            n: first.len(),
            off,
            slots: Slots::new(&slots),
        };
        Self::record(tape, op, v)
    }

    /// `sum_i f(inputs[0][i], ..., inputs[N-1][i])`: [`VarArray::map`] followed by
    /// [`VarArray::sum`], fused into ONE node that stores `N` doubles per element (the
    /// partials; no output array and no output adjoints). Its reverse step is
    /// `in_k_bar[i] += partial_k[i] * y_bar`.
    ///
    /// # Panics
    /// As [`VarArray::map`].
    #[track_caller]
    pub fn map_sum<const N: usize, F: ElementFn<N>>(inputs: [&VarArray<'t>; N], f: &F) -> Var<'t> {
        let Some(first) = inputs.first() else {
            return Var::constant(0.0);
        };
        let mut tape = first.tape;
        for a in &inputs[1..] {
            first.same_len(a.len(), "map_sum");
            tape = a.tape_with(tape);
        }
        let values = inputs.map(|a| a.values());
        let Some(t) = tape else {
            return Var::constant(sum(&map_values(values, |x| f.eval::<f64>(x))));
        };
        let n = first.len();
        let (off, value) = t.arena_extend(N * n, |partials| {
            let out = Partials(partials.as_mut_ptr().cast());
            if n >= PAR_MIN {
                in_order(
                    (0..n.div_ceil(CHUNK))
                        .into_par_iter()
                        .map(|c| {
                            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                            // SAFETY: the buffer holds `N n` elements; chunks are disjoint.
                            unsafe { eval_sum(values, out, n, lo, hi, f) }
                        })
                        .collect(),
                )
            } else {
                // SAFETY: the buffer holds `N n` elements; one thread.
                unsafe { eval_sum(values, out, n, 0, n, f) }
            }
        });
        let slots = inputs.map(|a| a.tape.map_or(CONSTANT, |_| a.start));
        let op = ArrayOp::MapSum {
            n,
            off,
            slots: Slots::new(&slots),
        };
        Self::record_scalar(tape, op, value)
    }
}

/// The partial runs of a map being written, shared by the threads of a parallel loop that
/// write disjoint elements.
#[derive(Clone, Copy)]
struct Partials(*mut f64);

// SAFETY: only used by `VarArray::map_sum`, whose threads write disjoint elements of a buffer
// that outlives the parallel loop (`eval_sum` checks its range in debug builds; the buffer is
// the arena's spare capacity, taken out of the tape while element functions run, so no
// re-entrant recording can move it). As in `ops::Outputs`, each task writes `N` ranges `n`
// apart, which `par_chunks_mut` cannot express.
unsafe impl Send for Partials {}
unsafe impl Sync for Partials {}

/// `f` at `x = [x_0[i], ..., x_{N-1}[i]]` on `Dual<N>` seeded with unit tangents.
#[inline(always)]
fn eval_dual<const N: usize, F: ElementFn<N>>(f: &F, x: [f64; N]) -> Dual<N> {
    f.eval(std::array::from_fn(|k| {
        Dual::<N>::new(
            x[k],
            std::array::from_fn(|j| if j == k { 1.0 } else { 0.0 }),
        )
    }))
}

/// Writes the partials `out[k n + i] = df/dx_k` at element `i` for `i` in `lo..hi` and returns
/// the sum of the values there. The values of a block of [`BLOCK`] elements go to a buffer on
/// the stack, summed by [`sum`] (four lanes): the evaluation loop then vectorises as `map`'s.
///
/// # Safety
/// `out` is valid for writes of `N n` elements and no other thread writes elements `lo..hi` of
/// its runs; `lo <= hi <= n`, and every input has `n` elements.
#[inline(always)]
unsafe fn eval_sum<const N: usize, F: ElementFn<N>>(
    x: [&[f64]; N],
    out: Partials,
    n: usize,
    lo: usize,
    hi: usize,
    f: &F,
) -> f64 {
    debug_assert!(lo <= hi && hi <= n && x.iter().all(|a| a.len() == n));
    let mut buf = [0.0; BLOCK];
    let mut total = 0.0;
    let mut b0 = lo;
    while b0 < hi {
        let b1 = (b0 + BLOCK).min(hi);
        let len = b1 - b0;
        let xb = x.map(|a| &a[b0..b1]);
        // raw pointers in locals, as in `ops::fill`: the loop has no stores that could alias
        // the inputs' slices, and it vectorises
        let (v, p) = (buf.as_mut_ptr(), out.0.add(b0));
        #[allow(clippy::needless_range_loop)] // indexing N inputs at one j vectorises
        for j in 0..len {
            let y = eval_dual(f, std::array::from_fn(|k| xb[k][j]));
            v.add(j).write(y.v);
            for (k, &d) in y.d.iter().enumerate() {
                p.add(k * n + j).write(d);
            }
        }
        let values = &buf[..len];
        total += sum(values);
        b0 = b1;
    }
    total
}

/// Inputs handled by one pass over the output adjoints.
const GROUP: usize = 8;
/// Elements per block of [`accumulate_blocks`]: the output adjoints, partials and destination
/// of a block stay in the L1 cache while every input's contribution is added.
const BLOCK: usize = 512;

/// One input of a map in its reverse step: `below[dst + i] (+)= part[i] * out[i]`.
#[derive(Clone, Copy)]
struct Lane<'a> {
    dst: usize,
    part: &'a [f64],
    /// Write instead of add (the first contribution to a lazy run, see [`Claims`]).
    write: bool,
}

/// The adjoint of a map's output: one per element ([`ArrayOp::Map`]) or the same for all
/// ([`ArrayOp::MapSum`]: the adjoint of the sum).
#[derive(Clone, Copy)]
pub(crate) enum OutBar<'a> {
    Run(&'a [f64]),
    Uniform(f64),
}

/// The reverse step of [`ArrayOp::Map`] and [`ArrayOp::MapSum`] over `n` elements: for every
/// on-tape input `k`, `below[slot_k + i] += arena[off + k n + i] * out_bar[i]`.
///
/// Inputs may overlap (views of one run): contributions to one element are then added in turn,
/// block by block. A lazy run is written by its first contribution only if no other input of
/// the map overlaps that input's range (else it is zeroed and added to, like the others).
pub(crate) fn reverse(
    (n, off): (usize, usize),
    slots: &Slots,
    arena: &[f64],
    out: OutBar<'_>,
    below: &mut [f64],
    claims: &mut Claims<'_>,
) {
    if let OutBar::Run(o) = out {
        assert_eq!(o.len(), n);
    }
    let slots = slots.as_slice();
    let overlaps_another = |k: usize| {
        let s = slots[k] as usize;
        slots
            .iter()
            .enumerate()
            .any(|(j, &t)| j != k && t != CONSTANT && (t as usize).abs_diff(s) < n)
    };
    let mut k = 0;
    while k < slots.len() {
        let mut lanes = [Lane {
            dst: 0,
            part: &[],
            write: false,
        }; GROUP];
        let mut m = 0;
        while k < slots.len() && m < GROUP {
            if slots[k] != CONSTANT {
                let dst = slots[k] as usize;
                let mut write = claims.claim(below, dst, dst + n);
                if write && overlaps_another(k) {
                    below[dst..dst + n].fill(0.0);
                    write = false;
                }
                let part = &arena[off + k * n..off + (k + 1) * n];
                lanes[m] = Lane { dst, part, write };
                m += 1;
            }
            k += 1;
        }
        reverse_group(n, &lanes[..m], out, below);
    }
}

/// Adds the contributions of the inputs in `lanes` (see [`Lane`]).
fn reverse_group(n: usize, lanes: &[Lane<'_>], out: OutBar<'_>, below: &mut [f64]) {
    for lane in lanes {
        assert!(lane.dst + n <= below.len() && lane.part.len() == n);
    }
    if n < PAR_MIN {
        // SAFETY: every lane's range is within `below` (checked above), one thread.
        unsafe { accumulate_blocks(below.as_mut_ptr(), lanes, out, 0, n) };
        return;
    }
    let disjoint = lanes
        .iter()
        .enumerate()
        .all(|(j, a)| lanes[j + 1..].iter().all(|b| a.dst.abs_diff(b.dst) >= n));
    if disjoint {
        let below = SharedMut(below.as_mut_ptr());
        (0..n.div_ceil(CHUNK)).into_par_iter().for_each(|c| {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            // SAFETY: the lanes' ranges are disjoint and within `below`, the chunks `lo..hi`
            // are disjoint: no two threads touch one element.
            unsafe { accumulate_blocks(below.get(), lanes, out, lo, hi) }
        });
    } else {
        // overlapping inputs: one parallel pass per input
        for lane in lanes {
            let dst = &mut below[lane.dst..lane.dst + n];
            match (out, lane.write) {
                (OutBar::Run(o), true) => axpy_mul::<true>(dst, 1.0, lane.part, o),
                (OutBar::Run(o), false) => axpy_mul::<false>(dst, 1.0, lane.part, o),
                (OutBar::Uniform(w), true) => axpy::<true>(dst, w, lane.part),
                (OutBar::Uniform(w), false) => axpy::<false>(dst, w, lane.part),
            }
        }
    }
}

/// A raw pointer shared by the threads of a parallel loop that write disjoint elements.
#[derive(Clone, Copy)]
struct SharedMut(*mut f64);

// SAFETY: only used by `reverse_group`, whose threads write disjoint elements of a slice that
// outlives the parallel loop.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn get(self) -> *mut f64 {
        self.0
    }
}

/// `below[lane.dst + i] (+)= lane.part[i] * out_bar[i]` for every lane and `i` in `lo..hi`, in
/// blocks of [`BLOCK`] elements: all lanes of one block before the next block.
///
/// # Safety
/// `below` is valid for reads and writes of `lane.dst + hi` elements for every lane, no other
/// thread accesses `below[lane.dst + lo..lane.dst + hi]` during the call, and neither `out`
/// nor any `lane.part` overlaps those ranges.
unsafe fn accumulate_blocks(
    below: *mut f64,
    lanes: &[Lane<'_>],
    out: OutBar<'_>,
    lo: usize,
    hi: usize,
) {
    debug_assert!(lo <= hi);
    let mut b0 = lo;
    while b0 < hi {
        let b1 = (b0 + BLOCK).min(hi);
        for lane in lanes {
            let p = &lane.part[b0..b1];
            // Lanes may overlap: each `d` lives only for its own loop.
            let d = std::slice::from_raw_parts_mut(below.add(lane.dst + b0), b1 - b0);
            match (out, lane.write) {
                (OutBar::Run(o), true) => {
                    for ((d, &p), &o) in d.iter_mut().zip(p).zip(&o[b0..b1]) {
                        *d = p * o;
                    }
                }
                (OutBar::Run(o), false) => {
                    for ((d, &p), &o) in d.iter_mut().zip(p).zip(&o[b0..b1]) {
                        *d += p * o;
                    }
                }
                (OutBar::Uniform(w), true) => {
                    for (d, &p) in d.iter_mut().zip(p) {
                        *d = p * w;
                    }
                }
                (OutBar::Uniform(w), false) => {
                    for (d, &p) in d.iter_mut().zip(p) {
                        *d += p * w;
                    }
                }
            }
        }
        b0 = b1;
    }
}
