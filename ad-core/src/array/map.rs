//! Fused element-wise maps: a per-element formula written once as generic scalar code, recorded
//! as ONE tape node whatever its number of operations.
//!
//! Forward, every element is evaluated on [`Dual<N>`] seeded with unit tangents: the value goes
//! to the output array and the `N` partials to the tape's arena, one run of `n` doubles per
//! input (structure of arrays). Reverse, for every on-tape input `k`,
//! `in_k_bar[i] += partial_k[i] * out_bar[i]`: one pass over the output adjoints, in blocks
//! that stay in the L1 cache, split over threads above [`PAR_MIN`].

use rayon::prelude::*;

use super::ops::{map_values, values_and_partials};
use super::{axpy_mul, ArrayOp, VarArray, CHUNK, PAR_MIN};
use crate::dual::Dual;
use crate::real::Real;
use crate::tape::Claims;

/// An element-wise function of `N` scalars, written once for every scalar type: the formula
/// of [`RealArray::map`](crate::RealArray::map).
///
/// Rust closures cannot be generic, so the formula is a method of a (usually empty) type.
/// `eval` sees one element of each input and may use anything [`Real`] offers (arithmetic,
/// `f64` constants, `exp`, `powi`, comparisons, branches on values).
///
/// ```
/// use ad_core::{ElementFn, Real, RealArray, Tape, VarArray};
///
/// /// `100 (b - a^2)^2 + (1 - a)^2`: one Rosenbrock term.
/// struct Term;
///
/// impl ElementFn<2> for Term {
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
            let seeded = std::array::from_fn(|k| {
                Dual::<N>::new(
                    x[k],
                    std::array::from_fn(|j| if j == k { 1.0 } else { 0.0 }),
                )
            });
            let y = f.eval(seeded);
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

/// The reverse step of [`ArrayOp::Map`]: for every on-tape input `k`,
/// `below[slot_k + i] += arena[off + k n + i] * out[i]`.
///
/// Inputs may overlap (views of one run): contributions to one element are then added in turn,
/// block by block. A lazy run is written by its first contribution only if no other input of
/// the map overlaps that input's range (else it is zeroed and added to, like the others).
pub(crate) fn reverse(
    off: usize,
    slots: &Slots,
    arena: &[f64],
    out: &[f64],
    below: &mut [f64],
    claims: &mut Claims<'_>,
) {
    let n = out.len();
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
        reverse_group(&lanes[..m], out, below);
    }
}

/// Adds the contributions of the inputs in `lanes` (see [`Lane`]).
fn reverse_group(lanes: &[Lane<'_>], out: &[f64], below: &mut [f64]) {
    let n = out.len();
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
            if lane.write {
                axpy_mul::<true>(dst, 1.0, lane.part, out);
            } else {
                axpy_mul::<false>(dst, 1.0, lane.part, out);
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

/// `below[lane.dst + i] (+)= lane.part[i] * out[i]` for every lane and `i` in `lo..hi`, in
/// blocks of [`BLOCK`] elements: all lanes of one block before the next block.
///
/// # Safety
/// `below` is valid for reads and writes of `lane.dst + hi` elements for every lane, no other
/// thread accesses `below[lane.dst + lo..lane.dst + hi]` during the call, and neither `out`
/// nor any `lane.part` overlaps those ranges.
unsafe fn accumulate_blocks(
    below: *mut f64,
    lanes: &[Lane<'_>],
    out: &[f64],
    lo: usize,
    hi: usize,
) {
    let mut b0 = lo;
    while b0 < hi {
        let b1 = (b0 + BLOCK).min(hi);
        let o = &out[b0..b1];
        for lane in lanes {
            let p = &lane.part[b0..b1];
            // Lanes may overlap: each `d` lives only for its own loop.
            let d = std::slice::from_raw_parts_mut(below.add(lane.dst + b0), b1 - b0);
            if lane.write {
                for ((d, &p), &o) in d.iter_mut().zip(p).zip(o) {
                    *d = p * o;
                }
            } else {
                for ((d, &p), &o) in d.iter_mut().zip(p).zip(o) {
                    *d += p * o;
                }
            }
        }
        b0 = b1;
    }
}
