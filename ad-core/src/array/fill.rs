//! The forward kernels of array operations: values and partials filled in parallel chunks,
//! straight into the output buffer and the tape's arena.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{CHUNK, PAR_MIN};
use crate::pool::{self, Use};
use crate::tape::Tape;

/// Raw output pointers shared by the threads of a parallel fill; each thread writes a
/// disjoint range of elements.
struct Outputs {
    values: *mut f64,
    partials: *mut f64,
    n: usize,
}

// SAFETY: `Outputs` is only used by `fill`, whose threads write disjoint index ranges of
// buffers that outlive the parallel loop (`Outputs::write` checks its range in debug builds).
// A safe `par_chunks_mut` does not fit: each task writes one range of the values and one range
// in each of the `K` partial runs, `n` apart.
unsafe impl Sync for Outputs {}

impl Outputs {
    /// Writes elements `lo..lo + len`: `values[i] = f(x)` and `partials[k n + i]`, where `x`
    /// holds the inputs' elements `i` (`inputs` are already sliced to `lo..lo + len`).
    ///
    /// # Safety
    /// `lo + len <= n`, the buffers hold `n` and `K n` elements, and no other thread writes
    /// `lo..lo + len` concurrently.
    #[inline(always)]
    unsafe fn write<const M: usize, const K: usize>(
        &self,
        lo: usize,
        inputs: [&[f64]; M],
        f: &impl Fn([f64; M]) -> (f64, [f64; K]),
    ) {
        // Copy the pointers to locals and fix every length to `len`: the loop then has no
        // bounds checks and no stores that could alias `self`, so it vectorises.
        let len = inputs.first().map_or(0, |a| a.len());
        assert!(inputs.iter().all(|a| a.len() == len));
        debug_assert!(lo + len <= self.n, "Outputs::write: elements out of range");
        let (values, partials, n) = (self.values.add(lo), self.partials.add(lo), self.n);
        #[allow(clippy::needless_range_loop)] // indexing M inputs at one j vectorises
        for j in 0..len {
            let (v, p) = f(std::array::from_fn(|m| inputs[m][j]));
            values.add(j).write(v);
            for (k, pk) in p.iter().enumerate() {
                partials.add(k * n + j).write(*pk);
            }
        }
    }
}

/// Initialises `values[i]` and `partials[k n + i]` from `f(x_i)`, where `x_i` holds element `i`
/// of each input; in parallel above `PAR_MIN`.
fn fill<const M: usize, const K: usize>(
    inputs: [&[f64]; M],
    values: &mut [MaybeUninit<f64>],
    partials: &mut [MaybeUninit<f64>],
    f: impl Fn([f64; M]) -> (f64, [f64; K]) + Sync,
) {
    let n = values.len();
    assert!(partials.len() == K * n && inputs.iter().all(|a| a.len() == n));
    let out = Outputs {
        values: values.as_mut_ptr().cast(),
        partials: partials.as_mut_ptr().cast(),
        n,
    };
    if n >= PAR_MIN {
        (0..n.div_ceil(CHUNK)).into_par_iter().for_each(|c| {
            let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            // SAFETY: chunks are disjoint and within 0..n.
            unsafe { out.write(lo, inputs.map(|a| &a[lo..hi]), &f) }
        });
    } else {
        // SAFETY: one thread, 0..n.
        unsafe { out.write(0, inputs, &f) }
    }
}

/// A pooled vector with `v[i] = f(x_i)`, `x_i` holding element `i` of each input (all of one
/// length), computed in parallel above `PAR_MIN`.
pub(super) fn map_values<const M: usize>(
    inputs: [&[f64]; M],
    f: impl Fn([f64; M]) -> f64 + Sync,
) -> Vec<f64> {
    let n = inputs.first().map_or(0, |a| a.len());
    assert!(inputs.iter().all(|a| a.len() == n));
    let kernel = |out: &mut [MaybeUninit<f64>], inputs: [&[f64]; M]| {
        assert!(inputs.iter().all(|a| a.len() == out.len()));
        for (j, o) in out.iter_mut().enumerate() {
            o.write(f(std::array::from_fn(|m| inputs[m][j])));
        }
    };
    let mut v = pool::take_f64(Use::Values, n);
    v.reserve(n);
    let spare = &mut v.spare_capacity_mut()[..n];
    if n >= PAR_MIN {
        spare
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, out)| {
                let lo = c * CHUNK;
                kernel(out, inputs.map(|a| &a[lo..lo + out.len()]))
            });
    } else {
        kernel(spare, inputs);
    }
    // SAFETY: every element of `spare` was written above.
    unsafe { v.set_len(n) };
    v
}

/// A pooled vector of length `n` with `v[i] = f(i)` (for re-indexing and products).
pub(super) fn new_values(n: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    let mut v = pool::take_f64(Use::Values, n);
    v.extend((0..n).map(f));
    v
}

/// Initialises `dst` with a copy of `src`.
pub(super) fn init_from(dst: &mut [MaybeUninit<f64>], src: &[f64]) {
    assert_eq!(dst.len(), src.len());
    // one `memcpy` (an element loop over `MaybeUninit` writes was not vectorised: ~8
    // instructions per element in the rolls of W5's right-hand side)
    // SAFETY: the lengths are equal (checked above), `MaybeUninit<f64>` has the layout of
    // `f64`, and a `&mut` slice cannot overlap a `&` slice.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<f64>(), src.len())
    }
}

/// A pooled vector holding the values of an element-wise operation whose partials go to the
/// arena; see `VarArray::elementwise`.
pub(super) fn values_and_partials<const M: usize, const K: usize>(
    tape: &Tape,
    inputs: [&[f64]; M],
    f: impl Fn([f64; M]) -> (f64, [f64; K]) + Sync,
) -> (usize, Vec<f64>) {
    let n = inputs.first().map_or(0, |a| a.len());
    let mut values = pool::take_f64(Use::Values, n);
    values.reserve(n);
    let (off, ()) = tape.arena_extend(K * n, |partials| {
        fill(inputs, &mut values.spare_capacity_mut()[..n], partials, f)
    });
    // SAFETY: `fill` returned normally, so it initialised the first `n` elements.
    unsafe { values.set_len(n) };
    (off, values)
}
