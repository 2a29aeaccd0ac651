//! The operations of [`VarArray`]: each records one tape item.

use std::mem::MaybeUninit;
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::Arc;

use rayon::prelude::*;

use super::{dot, sum, Arg, ArrayOp, Buf, IndexMap, Input, Partial, VarArray, CHUNK, PAR_MIN};
use crate::pool::{self, Use};
use crate::table;
use crate::tape::Tape;
use crate::var::Var;

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
fn new_values(n: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    let mut v = pool::take_f64(Use::Values, n);
    v.extend((0..n).map(f));
    v
}

/// Initialises `dst` with a copy of `src`.
fn init_from(dst: &mut [MaybeUninit<f64>], src: &[f64]) {
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

impl<'t> VarArray<'t> {
    /// Records on `tape` an element-wise operation over the `M` value arrays `inputs` whose
    /// value and `K` partials (one per argument in `args`) at element `i` are `f(x_i)`;
    /// partials go to the arena. With no tape only the values are computed.
    fn elementwise<const M: usize, const K: usize>(
        &self,
        tape: Option<&'t Tape>,
        args: [Option<Input>; K],
        inputs: [&[f64]; M],
        f: impl Fn([f64; M]) -> (f64, [f64; K]) + Sync,
    ) -> VarArray<'t> {
        let n = self.len();
        let Some(t) = tape else {
            return Self::record(None, ArrayOp::Nothing, map_values(inputs, |x| f(x).0));
        };
        let (off, values) = values_and_partials(t, inputs, f);
        let mut recorded = [None, None, None];
        for (k, input) in args.into_iter().enumerate() {
            recorded[k] = input.map(|input| Arg {
                input,
                partial: Partial::Stored(off + k * n),
            });
        }
        let op = ArrayOp::Elementwise { n, args: recorded };
        Self::record(tape, op, values)
    }

    /// Records an element-wise operation with constant partials (nothing stored).
    fn linear<const M: usize>(
        &self,
        tape: Option<&'t Tape>,
        args: [Option<Arg>; 3],
        inputs: [&[f64]; M],
        f: impl Fn([f64; M]) -> f64 + Sync,
    ) -> VarArray<'t> {
        let n = self.len();
        Self::record(
            tape,
            ArrayOp::Elementwise { n, args },
            map_values(inputs, f),
        )
    }

    /// A constant-partial argument for an on-tape input.
    fn arg(input: Option<Input>, c: f64) -> Option<Arg> {
        input.map(|input| Arg {
            input,
            partial: Partial::Const(c),
        })
    }

    /// A stored-partial argument for an on-tape input.
    fn stored(input: Option<Input>, off: usize) -> Option<Arg> {
        input.map(|input| Arg {
            input,
            partial: Partial::Stored(off),
        })
    }

    /// Element-wise unary function from the derivative table.
    pub(crate) fn map_table(&self, f: impl Fn(f64) -> (f64, f64) + Sync) -> VarArray<'t> {
        self.elementwise(self.tape, [self.input()], [self.values()], |[x]| {
            let (v, d) = f(x);
            (v, [d])
        })
    }

    /// Element-wise binary function from the derivative table.
    fn zip_map(
        &self,
        other: &VarArray<'t>,
        what: &str,
        f: impl Fn(f64, f64) -> (f64, f64, f64) + Sync,
    ) -> VarArray<'t> {
        let tape = self.tape_with(other.tape);
        self.same_len(other.len(), what);
        let (a, b) = (self.values(), other.values());
        self.elementwise(tape, [self.input(), other.input()], [a, b], |[x, y]| {
            let (v, da, db) = f(x, y);
            (v, [da, db])
        })
    }

    /// Element-wise binary function of the array and a broadcast scalar.
    fn scalar_map(
        &self,
        s: Var<'t>,
        f: impl Fn(f64, f64) -> (f64, f64, f64) + Sync,
    ) -> VarArray<'t> {
        let tape = self.tape_with(s.tape());
        let sv = s.value();
        let s_input = s.tape().map(|_| Input::Scalar(s.index()));
        self.elementwise(tape, [self.input(), s_input], [self.values()], |[x]| {
            let (v, da, ds) = f(x, sv);
            (v, [da, ds])
        })
    }

    // ---- arithmetic ----

    /// `self + c other` element-wise, `c = +-1` (constant partials: nothing stored).
    fn add_signed(&self, other: &VarArray<'t>, c: f64, what: &str) -> VarArray<'t> {
        let tape = self.tape_with(other.tape);
        self.same_len(other.len(), what);
        let (a, b) = (self.values(), other.values());
        let args = [
            Self::arg(self.input(), 1.0),
            Self::arg(other.input(), c),
            None,
        ];
        self.linear(tape, args, [a, b], |[x, y]| x + c * y)
    }

    /// `self + other`, element-wise.
    pub fn add(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.add_signed(other, 1.0, "add")
    }

    /// `self - other`, element-wise.
    pub fn sub(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.add_signed(other, -1.0, "sub")
    }

    /// `self * other`, element-wise. The partials are the operands' values, shared with
    /// them (nothing stored).
    pub fn mul(&self, other: &VarArray<'t>) -> VarArray<'t> {
        let tape = self.tape_with(other.tape);
        self.same_len(other.len(), "mul");
        let args = [
            self.input().map(|input| Arg {
                input,
                partial: other.as_partial(1.0),
            }),
            other.input().map(|input| Arg {
                input,
                partial: self.as_partial(1.0),
            }),
            None,
        ];
        let inputs = [self.values(), other.values()];
        self.linear(tape, args, inputs, |[x, y]| table::mul(x, y).0)
    }

    /// `self / other`, element-wise.
    pub fn div(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.zip_map(other, "div", table::div)
    }

    /// `max(self, other)` element-wise (ties: the derivative goes to `self`).
    pub fn max(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.zip_map(other, "max", table::max)
    }

    /// `min(self, other)` element-wise (ties: the derivative goes to `self`).
    pub fn min(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.zip_map(other, "min", table::min)
    }

    /// `self^other` element-wise.
    pub fn powf(&self, other: &VarArray<'t>) -> VarArray<'t> {
        self.zip_map(other, "powf", table::powf)
    }

    /// `self * a + b` element-wise (one node).
    pub fn mul_add(&self, a: &VarArray<'t>, b: &VarArray<'t>) -> VarArray<'t> {
        let tape = self.tape_with(a.tape);
        let tape = VarArray::tape_with(b, tape);
        self.same_len(a.len(), "mul_add");
        self.same_len(b.len(), "mul_add");
        let inputs = [self.values(), a.values(), b.values()];
        let args = [self.input(), a.input(), b.input()];
        self.elementwise(tape, args, inputs, |[x, y, z]| {
            let (v, dx, da, db) = table::mul_add(x, y, z);
            (v, [dx, da, db])
        })
    }

    /// `self + s` with a broadcast scalar.
    pub fn add_scalar(&self, s: Var<'t>) -> VarArray<'t> {
        let tape = self.tape_with(s.tape());
        let sv = s.value();
        let args = [
            Self::arg(self.input(), 1.0),
            Self::arg(s.tape().map(|_| Input::Scalar(s.index())), 1.0),
            None,
        ];
        self.linear(tape, args, [self.values()], |[x]| x + sv)
    }

    /// `self * s` with a broadcast scalar (the scalar's partials are the array's values,
    /// shared).
    pub fn mul_scalar(&self, s: Var<'t>) -> VarArray<'t> {
        let tape = self.tape_with(s.tape());
        let sv = s.value();
        let args = [
            Self::arg(self.input(), sv),
            s.tape().map(|_| Arg {
                input: Input::Scalar(s.index()),
                partial: self.as_partial(1.0),
            }),
            None,
        ];
        self.linear(tape, args, [self.values()], |[x]| table::mul(x, sv).0)
    }

    /// `self / s` with a broadcast scalar.
    pub fn div_scalar(&self, s: Var<'t>) -> VarArray<'t> {
        self.scalar_map(s, table::div)
    }

    /// `self + c`.
    pub fn add_f64(&self, c: f64) -> VarArray<'t> {
        let args = [Self::arg(self.input(), 1.0), None, None];
        self.linear(self.tape, args, [self.values()], |[x]| x + c)
    }

    /// `self * c`.
    pub fn mul_f64(&self, c: f64) -> VarArray<'t> {
        let args = [Self::arg(self.input(), c), None, None];
        self.linear(self.tape, args, [self.values()], |[x]| x * c)
    }

    /// `c - self`.
    pub fn rsub_f64(&self, c: f64) -> VarArray<'t> {
        let args = [Self::arg(self.input(), -1.0), None, None];
        self.linear(self.tape, args, [self.values()], |[x]| c - x)
    }

    /// `self * w` with a constant array `w` (element-wise).
    pub fn mul_f64s(&self, w: &[f64]) -> VarArray<'t> {
        self.same_len(w.len(), "mul_f64s");
        let inputs = [self.values(), w];
        self.elementwise(self.tape, [self.input()], inputs, |[x, w]| (x * w, [w]))
    }

    /// `self + w` with a constant array `w` (element-wise).
    pub fn add_f64s(&self, w: &[f64]) -> VarArray<'t> {
        self.same_len(w.len(), "add_f64s");
        let args = [Self::arg(self.input(), 1.0), None, None];
        self.linear(self.tape, args, [self.values(), w], |[x, w]| x + w)
    }

    /// `-self`.
    pub fn neg(&self) -> VarArray<'t> {
        self.mul_f64(-1.0)
    }

    /// `self^n` element-wise.
    pub fn powi(&self, n: i32) -> VarArray<'t> {
        match n {
            // the common square: partial 2 x from the operand's shared values (`x + x` in the
            // derivative table, the same number)
            2 => {
                let args = [
                    self.input().map(|input| Arg {
                        input,
                        partial: self.as_partial(2.0),
                    }),
                    None,
                    None,
                ];
                self.linear(self.tape, args, [self.values()], |[x]| table::powi(x, 2).0)
            }
            _ => self.map_table(|x| table::powi(x, n)),
        }
    }

    /// `exp` element-wise: the partials are the output values, shared (nothing stored).
    pub fn exp(&self) -> VarArray<'t> {
        let values = Buf::new(map_values([self.values()], |[x]| table::exp(x).0));
        let Some(input) = self.input() else {
            return Self::record_shared(None, ArrayOp::Nothing, values);
        };
        let arg = Arg {
            input,
            partial: Partial::Values {
                buf: values.clone(),
                off: 0,
                scale: 1.0,
            },
        };
        let op = ArrayOp::Elementwise {
            n: self.len(),
            args: [Some(arg), None, None],
        };
        Self::record_shared(self.tape, op, values)
    }

    /// `self^p` element-wise with a constant exponent.
    pub fn powf_f64(&self, p: f64) -> VarArray<'t> {
        self.map_table(|x| {
            let (v, d, _) = table::powf(x, p);
            (v, d)
        })
    }

    // ---- reductions ----

    /// `sum_i self[i]` (one node).
    pub fn sum(&self) -> Var<'t> {
        let n = self.len();
        let args = [Self::arg(self.input(), 1.0), None];
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, sum(self.values()))
    }

    /// `sum_i self[i] / n` (one node).
    pub fn mean(&self) -> Var<'t> {
        let n = self.len();
        let args = [Self::arg(self.input(), 1.0 / n as f64), None];
        let value = sum(self.values()) / n as f64;
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, value)
    }

    /// `sum_i self[i] other[i]` (one node; stores the operands' values).
    pub fn dot(&self, other: &VarArray<'t>) -> Var<'t> {
        let tape = self.tape_with(other.tape);
        self.same_len(other.len(), "dot");
        let value = dot(self.values(), other.values());
        if tape.is_none() {
            return Var::constant(value);
        }
        let n = self.len();
        let args = [
            self.input().map(|input| Arg {
                input,
                partial: other.as_partial(1.0),
            }),
            other.input().map(|input| Arg {
                input,
                partial: self.as_partial(1.0),
            }),
        ];
        Self::record_scalar(tape, ArrayOp::Reduce { n, args }, value)
    }

    /// `sum_i self[i] w[i]` with constant weights `w` (one node).
    pub fn dot_f64s(&self, w: &[f64]) -> Var<'t> {
        self.same_len(w.len(), "dot_f64s");
        let value = dot(self.values(), w);
        let Some(t) = self.tape else {
            return Var::constant(value);
        };
        let n = self.len();
        let (off, ()) = t.arena_extend(n, |store| init_from(store, w));
        let args = [Self::stored(self.input(), off), None];
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, value)
    }

    /// The Euclidean norm `sqrt(sum_i self[i]^2)` (two nodes).
    pub fn norm(&self) -> Var<'t> {
        num_traits::Float::sqrt(self.dot(self))
    }

    // ---- re-indexing (stencils, meshes) ----

    fn gather_map(&self, n_out: usize, map: IndexMap) -> VarArray<'t> {
        let a = self.values();
        if let IndexMap::Strided { offset, step: 1 } = map {
            // A contiguous sub-run is the same tape slots and the same values: nothing to
            // record, nothing to copy.
            let mut view = self.clone();
            view.start += offset as u32;
            view.off += offset;
            view.len = n_out;
            return view;
        }
        let mut values = pool::take_f64(Use::Values, n_out);
        values.reserve(n_out);
        let spare = &mut values.spare_capacity_mut()[..n_out];
        let mut covered = 0;
        map.for_runs(n_out, |o, s, len| {
            init_from(&mut spare[o..o + len], &a[s..s + len]);
            covered += len;
        });
        assert_eq!(covered, n_out, "a re-indexing covers every output once");
        // SAFETY: the runs cover `0..n_out` (each output once), so every element was written.
        unsafe { values.set_len(n_out) };
        let (src, src_len) = (self.start, self.len());
        Self::record(self.tape, ArrayOp::Gather { src, src_len, map }, values)
    }

    /// Periodic shift: `out[i] = self[(i - k) mod n]` (as `numpy.roll`).
    pub fn roll(&self, k: isize) -> VarArray<'t> {
        let n = self.len();
        self.gather_map(n, IndexMap::Roll { n, k })
    }

    /// Periodic 2-D shift of a row-major `rows x cols` array:
    /// `out[r, c] = self[(r - dr) mod rows, (c - dc) mod cols]`.
    ///
    /// # Panics
    /// If `rows * cols` is not the length.
    pub fn roll2(&self, rows: usize, cols: usize, dr: isize, dc: isize) -> VarArray<'t> {
        self.same_len(rows * cols, "roll2 (rows * cols)");
        self.gather_map(rows * cols, IndexMap::Roll2 { rows, cols, dr, dc })
    }

    /// Clamped shift: `out[i] = self[clamp(i - k, 0, n - 1)]` (edge values repeat).
    pub fn shift_clamped(&self, k: isize) -> VarArray<'t> {
        let n = self.len();
        assert!(n > 0, "ad_core: shift_clamped of an empty array");
        self.gather_map(n, IndexMap::Clamp { n, k })
    }

    /// Strided slice: `out[i] = self[offset + i step]` for `i < len`. With `step == 1` it is
    /// a view of the same tape slots and records nothing.
    ///
    /// # Panics
    /// If the last element is out of range.
    pub fn slice(&self, offset: usize, step: usize, len: usize) -> VarArray<'t> {
        if len > 0 {
            assert!(
                offset + (len - 1) * step < self.len(),
                "ad_core: slice(offset {offset}, step {step}, len {len}) out of range for length {}",
                self.len()
            );
        }
        self.gather_map(len, IndexMap::Strided { offset, step })
    }

    /// Gather: `out[i] = self[idx[i]]`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather(&self, idx: &Arc<[u32]>) -> VarArray<'t> {
        let n = self.len();
        if let Some(&bad) = idx.iter().find(|&&k| k as usize >= n) {
            panic!("ad_core: gather index {bad} out of range for length {n}");
        }
        self.gather_map(idx.len(), IndexMap::Gather(idx.clone()))
    }

    /// Scatter-add into `m` slots: `out[idx[i]] += self[i]` (assembly on meshes).
    ///
    /// # Panics
    /// If `idx` and the array differ in length or an index is `>= m`.
    pub fn scatter_add(&self, idx: &Arc<[u32]>, m: usize) -> VarArray<'t> {
        self.same_len(idx.len(), "scatter_add (indices)");
        if let Some(&bad) = idx.iter().find(|&&k| k as usize >= m) {
            panic!("ad_core: scatter_add index {bad} out of range for {m} slots");
        }
        let mut values = new_values(m, |_| 0.0);
        for (&k, &v) in idx.iter().zip(self.values().iter()) {
            values[k as usize] += v;
        }
        let op = ArrayOp::ScatterAdd {
            src: self.start,
            idx: idx.clone(),
        };
        Self::record(self.tape, op, values)
    }

    // ---- matrix-vector products ----

    /// `M self` with a constant matrix (dense or sparse, shared by `Arc` so a product in a loop
    /// stores no copy).
    ///
    /// # Panics
    /// If the matrix has not `len` columns.
    pub fn matvec(&self, m: &Arc<Matrix>) -> VarArray<'t> {
        self.same_len(m.cols(), "matvec (matrix columns)");
        let mut values = new_values(m.rows(), |_| 0.0);
        m.apply(self.values(), &mut values);
        let op = ArrayOp::MatVec {
            x: self.start,
            matrix: m.clone(),
        };
        Self::record(self.tape, op, values)
    }

    /// `A self` where `A` is a tape array holding an `m x n` row-major matrix (`n` = len).
    pub fn var_matvec(&self, a: &VarArray<'t>, m: usize) -> VarArray<'t> {
        let tape = self.tape_with(a.tape);
        let n = self.len();
        assert_eq!(
            a.len(),
            m * n,
            "ad_core: var_matvec: matrix has {} elements, expected {m} x {n}",
            a.len()
        );
        let (av, xv) = (a.values(), self.values());
        let values = new_values(m, |i| dot(&av[i * n..(i + 1) * n], xv));
        let Some(t) = tape else {
            return Self::record(None, ArrayOp::Nothing, values);
        };
        let (off, ()) = t.arena_extend(m * n + n, |store| {
            init_from(&mut store[..m * n], av);
            init_from(&mut store[m * n..], xv);
        });
        let op = ArrayOp::VarMatVec {
            a: a.input(),
            x: self.input(),
            m,
            n,
            off,
        };
        Self::record(tape, op, values)
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $f:path;)*) => {
        impl<'t> VarArray<'t> {
            $($(#[$doc])* pub fn $name(&self) -> VarArray<'t> { self.map_table($f) })*
        }
    };
}
unary_methods! {
    /// `exp2` element-wise.
    exp2 => table::exp2;
    /// `exp(x) - 1` element-wise.
    exp_m1 => table::exp_m1;
    /// `ln` element-wise.
    ln => table::ln;
    /// `log2` element-wise.
    log2 => table::log2;
    /// `log10` element-wise.
    log10 => table::log10;
    /// `ln(1 + x)` element-wise.
    ln_1p => table::ln_1p;
    /// `sqrt` element-wise.
    sqrt => table::sqrt;
    /// `cbrt` element-wise.
    cbrt => table::cbrt;
    /// `1/x` element-wise.
    recip => table::recip;
    /// `sin` element-wise.
    sin => table::sin;
    /// `cos` element-wise.
    cos => table::cos;
    /// `tan` element-wise.
    tan => table::tan;
    /// `asin` element-wise.
    asin => table::asin;
    /// `acos` element-wise.
    acos => table::acos;
    /// `atan` element-wise.
    atan => table::atan;
    /// `sinh` element-wise.
    sinh => table::sinh;
    /// `cosh` element-wise.
    cosh => table::cosh;
    /// `tanh` element-wise.
    tanh => table::tanh;
    /// `asinh` element-wise.
    asinh => table::asinh;
    /// `acosh` element-wise.
    acosh => table::acosh;
    /// `atanh` element-wise.
    atanh => table::atanh;
    /// `abs` element-wise (derivative 0 at 0).
    abs => table::abs;
}

// ---- operators ----
//
// Every operator works on `&VarArray` and on owned `VarArray` (an owned left operand is only
// read), with a `VarArray`, a `Var` or an `f64` on the right.

macro_rules! array_op {
    ($tr:ident $m:ident, $rhs:ty, |$a:ident, $b:ident| $body:expr) => {
        impl<'t> $tr<$rhs> for &VarArray<'t> {
            type Output = VarArray<'t>;
            fn $m(self, $b: $rhs) -> VarArray<'t> {
                let $a = self;
                $body
            }
        }
        impl<'t> $tr<$rhs> for VarArray<'t> {
            type Output = VarArray<'t>;
            fn $m(self, $b: $rhs) -> VarArray<'t> {
                let $a = &self;
                $body
            }
        }
    };
}
array_op!(Add add, &VarArray<'t>, |a, b| VarArray::add(a, b));
array_op!(Add add, VarArray<'t>, |a, b| VarArray::add(a, &b));
array_op!(Add add, Var<'t>, |a, s| a.add_scalar(s));
array_op!(Add add, f64, |a, c| a.add_f64(c));
array_op!(Sub sub, &VarArray<'t>, |a, b| VarArray::sub(a, b));
array_op!(Sub sub, VarArray<'t>, |a, b| VarArray::sub(a, &b));
array_op!(Sub sub, Var<'t>, |a, s| a.add_scalar(-s));
array_op!(Sub sub, f64, |a, c| a.add_f64(-c));
array_op!(Mul mul, &VarArray<'t>, |a, b| VarArray::mul(a, b));
array_op!(Mul mul, VarArray<'t>, |a, b| VarArray::mul(a, &b));
array_op!(Mul mul, Var<'t>, |a, s| a.mul_scalar(s));
array_op!(Mul mul, f64, |a, c| a.mul_f64(c));
array_op!(Div div, &VarArray<'t>, |a, b| VarArray::div(a, b));
array_op!(Div div, VarArray<'t>, |a, b| VarArray::div(a, &b));
array_op!(Div div, Var<'t>, |a, s| a.div_scalar(s));
array_op!(Div div, f64, |a, c| a.mul_f64(1.0 / c));

macro_rules! f64_lhs_op {
    ($tr:ident $m:ident, |$c:ident, $a:ident| $body:expr) => {
        impl<'t> $tr<&VarArray<'t>> for f64 {
            type Output = VarArray<'t>;
            fn $m(self, $a: &VarArray<'t>) -> VarArray<'t> {
                let $c = self;
                $body
            }
        }
        impl<'t> $tr<VarArray<'t>> for f64 {
            type Output = VarArray<'t>;
            fn $m(self, a: VarArray<'t>) -> VarArray<'t> {
                let ($c, $a) = (self, &a);
                $body
            }
        }
    };
}
f64_lhs_op!(Add add, |c, a| a.add_f64(c));
f64_lhs_op!(Sub sub, |c, a| a.rsub_f64(c));
f64_lhs_op!(Mul mul, |c, a| a.mul_f64(c));

impl<'t> Neg for &VarArray<'t> {
    type Output = VarArray<'t>;
    fn neg(self) -> VarArray<'t> {
        VarArray::neg(self)
    }
}
impl<'t> Neg for VarArray<'t> {
    type Output = VarArray<'t>;
    fn neg(self) -> VarArray<'t> {
        VarArray::neg(&self)
    }
}

// ---- constant matrices ----

/// A dense row-major matrix of constants.
#[derive(Clone, Debug)]
pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl DenseMatrix {
    /// A `rows x cols` matrix from row-major data.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "DenseMatrix::new: {} values for a {rows} x {cols} matrix",
            data.len()
        );
        DenseMatrix { rows, cols, data }
    }
}

/// A sparse matrix of constants in compressed sparse row form.
#[derive(Clone, Debug)]
pub struct CsrMatrix {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
}

impl CsrMatrix {
    /// A CSR matrix: row `i` holds `values[indptr[i]..indptr[i+1]]` in columns
    /// `indices[indptr[i]..indptr[i+1]]`.
    ///
    /// # Panics
    /// If the arrays are inconsistent or a column index is out of range.
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f64>,
    ) -> Self {
        assert_eq!(
            indptr.len(),
            rows + 1,
            "CsrMatrix::new: indptr needs rows + 1 entries"
        );
        assert!(
            indptr.windows(2).all(|w| w[0] <= w[1]) && indptr[rows] == indices.len(),
            "CsrMatrix::new: indptr must be non-decreasing and end at nnz"
        );
        assert_eq!(
            indices.len(),
            values.len(),
            "CsrMatrix::new: indices and values differ in length"
        );
        assert!(
            indices.iter().all(|&c| (c as usize) < cols),
            "CsrMatrix::new: a column index is >= cols ({cols})"
        );
        CsrMatrix {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    /// A CSR matrix from `(row, col, value)` triplets; duplicates are summed.
    pub fn from_triplets(rows: usize, cols: usize, triplets: &[(usize, usize, f64)]) -> Self {
        let mut t = triplets.to_vec();
        t.sort_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0; rows + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut values: Vec<f64> = Vec::with_capacity(t.len());
        let mut last = None;
        for &(r, c, v) in &t {
            assert!(
                r < rows && c < cols,
                "CsrMatrix::from_triplets: ({r}, {c}) out of range"
            );
            if last == Some((r, c)) {
                *values.last_mut().expect("a previous entry") += v;
            } else {
                indices.push(c as u32);
                values.push(v);
                indptr[r + 1] += 1;
                last = Some((r, c));
            }
        }
        for i in 0..rows {
            indptr[i + 1] += indptr[i];
        }
        CsrMatrix::new(rows, cols, indptr, indices, values)
    }
}

/// A constant matrix for [`VarArray::matvec`].
#[derive(Clone, Debug)]
pub enum Matrix {
    /// Dense, row-major.
    Dense(DenseMatrix),
    /// Sparse, compressed rows.
    Csr(CsrMatrix),
}

impl From<DenseMatrix> for Matrix {
    fn from(m: DenseMatrix) -> Self {
        Matrix::Dense(m)
    }
}

impl From<CsrMatrix> for Matrix {
    fn from(m: CsrMatrix) -> Self {
        Matrix::Csr(m)
    }
}

impl Matrix {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.rows,
            Matrix::Csr(m) => m.rows,
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.cols,
            Matrix::Csr(m) => m.cols,
        }
    }

    /// `y = M x`.
    pub fn apply(&self, x: &[f64], y: &mut [f64]) {
        match self {
            Matrix::Dense(m) => {
                let row = |(i, yi): (usize, &mut f64)| {
                    *yi = dot(&m.data[i * m.cols..(i + 1) * m.cols], x);
                };
                if m.rows * m.cols >= PAR_MIN {
                    y.par_iter_mut().enumerate().for_each(row);
                } else {
                    y.iter_mut().enumerate().for_each(row);
                }
            }
            Matrix::Csr(m) => {
                let row = |(i, yi): (usize, &mut f64)| {
                    let r = m.indptr[i]..m.indptr[i + 1];
                    *yi = m.indices[r.clone()]
                        .iter()
                        .zip(&m.values[r])
                        .map(|(&c, &v)| v * x[c as usize])
                        .sum();
                };
                if m.values.len() >= PAR_MIN {
                    y.par_iter_mut().enumerate().for_each(row);
                } else {
                    y.iter_mut().enumerate().for_each(row);
                }
            }
        }
    }

    /// `x_bar += M^T y_bar`.
    pub fn apply_transpose_add(&self, y_bar: &[f64], x_bar: &mut [f64]) {
        match self {
            Matrix::Dense(m) => {
                for (i, &w) in y_bar.iter().enumerate() {
                    for (xb, &a) in x_bar.iter_mut().zip(&m.data[i * m.cols..(i + 1) * m.cols]) {
                        *xb += w * a;
                    }
                }
            }
            Matrix::Csr(m) => {
                for (i, &w) in y_bar.iter().enumerate() {
                    for k in m.indptr[i]..m.indptr[i + 1] {
                        x_bar[m.indices[k] as usize] += w * m.values[k];
                    }
                }
            }
        }
    }
}
