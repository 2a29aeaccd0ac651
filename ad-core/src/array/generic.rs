//! [`RealArray`]: array code written once for `f64`, `Dual` and tape arrays.

use ndarray::{s, Array1, ArrayView1, Zip};

use super::{ElementFn, IndexMap, VarArray};
use crate::real::Real;
use crate::var::Var;

/// A 1-D array of real scalars with the operations array-style numerical code needs.
///
/// Implemented by `ndarray::Array1<S>` for every `S: Real` (plain loops: ndarray speed on
/// `f64`, forward mode on `Dual`, the scalar tape on `Var`) and by [`VarArray`] (one tape node
/// per operation). Write a function against `A: RealArray` and it runs on all of them:
///
/// ```
/// use ad_core::{RealArray, Tape};
/// use ndarray::{s, Array1, ArrayView1, Zip};
///
/// /// Extended Rosenbrock in array style.
/// fn rosenbrock<A: RealArray>(x: &A) -> A::Scalar {
///     let n = x.len();
///     let head = x.slice(0, 1, n - 1);
///     let tail = x.slice(1, 1, n - 1);
///     let a = tail.sub(&head.powi(2));
///     let b = head.rsub_f64(1.0);
///     a.powi(2).mul_f64(100.0).add(&b.powi(2)).sum()
/// }
///
/// let x = [1.2, 0.9, 1.1];
/// let plain = rosenbrock(&Array1::from(x.to_vec()));
/// let tape = Tape::new();
/// let xs = tape.var_array(&x);
/// let y = rosenbrock(&xs);
/// assert!((y.value() - plain).abs() < 1e-12);
/// ```
pub trait RealArray: Sized {
    /// The element type.
    type Scalar: Real;

    /// An array of the given scalars (for `VarArray`: no recording if they form one run on
    /// their tape, as the inputs of a taped step do).
    fn from_slice(x: &[Self::Scalar]) -> Self;
    /// The elements as scalars.
    fn to_vec(&self) -> Vec<Self::Scalar>;
    /// Number of elements.
    fn len(&self) -> usize;
    /// True if there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `self + other`.
    fn add(&self, other: &Self) -> Self;
    /// `self - other`.
    fn sub(&self, other: &Self) -> Self;
    /// `self * other` element-wise.
    fn mul(&self, other: &Self) -> Self;
    /// `self / other` element-wise.
    fn div(&self, other: &Self) -> Self;
    /// `self + s` (broadcast).
    fn add_scalar(&self, s: Self::Scalar) -> Self;
    /// `self * s` (broadcast).
    fn mul_scalar(&self, s: Self::Scalar) -> Self;
    /// `self + c`.
    fn add_f64(&self, c: f64) -> Self;
    /// `self * c`.
    fn mul_f64(&self, c: f64) -> Self;
    /// `c - self`.
    fn rsub_f64(&self, c: f64) -> Self;
    /// `self * w` with constant weights.
    fn mul_f64s(&self, w: &[f64]) -> Self;
    /// `self^n` element-wise.
    fn powi(&self, n: i32) -> Self;
    /// `exp` element-wise.
    fn exp(&self) -> Self;
    /// `ln` element-wise.
    fn ln(&self) -> Self;
    /// `sin` element-wise.
    fn sin(&self) -> Self;
    /// `cos` element-wise.
    fn cos(&self) -> Self;
    /// `tanh` element-wise.
    fn tanh(&self) -> Self;
    /// `sqrt` element-wise.
    fn sqrt(&self) -> Self;
    /// `abs` element-wise.
    fn abs(&self) -> Self;
    /// `sum_i self[i]`.
    fn sum(&self) -> Self::Scalar;
    /// `sum_i self[i] other[i]`.
    fn dot(&self, other: &Self) -> Self::Scalar;
    /// Periodic shift `out[i] = self[(i - k) mod n]`.
    fn roll(&self, k: isize) -> Self;
    /// Periodic 2-D shift of a row-major `rows x cols` array.
    fn roll2(&self, rows: usize, cols: usize, dr: isize, dc: isize) -> Self;
    /// Clamped shift `out[i] = self[clamp(i - k, 0, n - 1)]`.
    fn shift_clamped(&self, k: isize) -> Self;
    /// Strided slice `out[i] = self[offset + i step]`, `i < len`.
    fn slice(&self, offset: usize, step: usize, len: usize) -> Self;
    /// The fused element-wise map `out[i] = f.eval([inputs[0][i], ..., inputs[N-1][i]])`: a
    /// formula written once as generic scalar code ([`ElementFn`]). On `Array1<S>` a plain
    /// loop on `S`; on [`VarArray`] ONE tape node however many operations the formula has
    /// (see [`VarArray::map`]), instead of one node and one pass over memory per operation.
    ///
    /// Call it as `A::map([&x, &y], &f)` in generic code; on a concrete `Array1` write
    /// `RealArray::map(..)`, since ndarray has an inherent `map` method of its own.
    ///
    /// # Panics
    /// If the inputs differ in length.
    fn map<const N: usize, F: ElementFn<N>>(inputs: [&Self; N], f: &F) -> Self;
    /// `sum_i f.eval([inputs[0][i], ..., inputs[N-1][i]])`: [`RealArray::map`] then
    /// [`RealArray::sum`], fused. On [`VarArray`] one node without an output array (see
    /// [`VarArray::map_sum`]): less memory and traffic than a map and a sum.
    ///
    /// # Panics
    /// If the inputs differ in length.
    fn map_sum<const N: usize, F: ElementFn<N>>(inputs: [&Self; N], f: &F) -> Self::Scalar {
        Self::map(inputs, f).sum()
    }
}

/// `out[i] = a[map(i)]` for the periodic shifts, copying whole runs (two per row) instead of
/// computing a source index per element; `None` if `a` is not contiguous.
fn reindex<S: Copy>(a: &Array1<S>, map: &IndexMap) -> Option<Array1<S>> {
    let src = a.as_slice()?;
    let n = src.len();
    let mut out: Vec<S> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    let mut covered = 0;
    map.for_runs(n, |o, s, len| {
        for (d, &v) in spare[o..o + len].iter_mut().zip(&src[s..s + len]) {
            d.write(v);
        }
        covered += len;
    });
    assert_eq!(covered, n, "a periodic shift covers every output once");
    // SAFETY: the runs of a periodic shift cover `0..n` once each, so every element is written.
    unsafe { out.set_len(n) };
    Some(Array1::from(out))
}

impl<S: Real> RealArray for Array1<S> {
    type Scalar = S;

    fn from_slice(x: &[S]) -> Self {
        Array1::from(x.to_vec())
    }
    fn to_vec(&self) -> Vec<S> {
        self.iter().copied().collect()
    }
    fn len(&self) -> usize {
        Array1::len(self)
    }
    fn add(&self, o: &Self) -> Self {
        Zip::from(self).and(o).map_collect(|&a, &b| a + b)
    }
    fn sub(&self, o: &Self) -> Self {
        Zip::from(self).and(o).map_collect(|&a, &b| a - b)
    }
    fn mul(&self, o: &Self) -> Self {
        Zip::from(self).and(o).map_collect(|&a, &b| a * b)
    }
    fn div(&self, o: &Self) -> Self {
        Zip::from(self).and(o).map_collect(|&a, &b| a / b)
    }
    fn add_scalar(&self, s: S) -> Self {
        self.mapv(|a| a + s)
    }
    fn mul_scalar(&self, s: S) -> Self {
        self.mapv(|a| a * s)
    }
    fn add_f64(&self, c: f64) -> Self {
        self.mapv(|a| a + c)
    }
    fn mul_f64(&self, c: f64) -> Self {
        self.mapv(|a| a * c)
    }
    fn rsub_f64(&self, c: f64) -> Self {
        self.mapv(|a| S::cst(c) - a)
    }
    fn mul_f64s(&self, w: &[f64]) -> Self {
        assert_eq!(Array1::len(self), w.len(), "mul_f64s: lengths differ");
        Zip::from(self)
            .and(&ArrayView1::from(w))
            .map_collect(|&a, &b| a * b)
    }
    fn powi(&self, n: i32) -> Self {
        match n {
            2 => self.mapv(|a| a * a),
            _ => self.mapv(|a| a.powi(n)),
        }
    }
    fn exp(&self) -> Self {
        self.mapv(|a| a.exp())
    }
    fn ln(&self) -> Self {
        self.mapv(|a| a.ln())
    }
    fn sin(&self) -> Self {
        self.mapv(|a| a.sin())
    }
    fn cos(&self) -> Self {
        self.mapv(|a| a.cos())
    }
    fn tanh(&self) -> Self {
        self.mapv(|a| a.tanh())
    }
    fn sqrt(&self) -> Self {
        self.mapv(|a| a.sqrt())
    }
    fn abs(&self) -> Self {
        self.mapv(|a| a.abs())
    }
    fn sum(&self) -> S {
        self.iter().copied().sum()
    }
    fn dot(&self, o: &Self) -> S {
        self.iter().zip(o).map(|(&a, &b)| a * b).sum()
    }
    fn roll(&self, k: isize) -> Self {
        let n = Array1::len(self);
        if n == 0 {
            return self.clone();
        }
        let map = IndexMap::Roll { n, k };
        reindex(self, &map).unwrap_or_else(|| (0..n).map(|i| self[map.source(i)]).collect())
    }
    fn roll2(&self, rows: usize, cols: usize, dr: isize, dc: isize) -> Self {
        assert_eq!(
            Array1::len(self),
            rows * cols,
            "roll2: length is not rows * cols"
        );
        if rows * cols == 0 {
            return self.clone();
        }
        let map = IndexMap::Roll2 { rows, cols, dr, dc };
        reindex(self, &map)
            .unwrap_or_else(|| (0..rows * cols).map(|i| self[map.source(i)]).collect())
    }
    fn shift_clamped(&self, k: isize) -> Self {
        let n = Array1::len(self) as isize;
        (0..n)
            .map(|i| self[(i - k).clamp(0, n - 1) as usize])
            .collect()
    }
    fn slice(&self, offset: usize, step: usize, len: usize) -> Self {
        if len == 0 {
            return Array1::from_vec(Vec::new());
        }
        let end = offset + (len - 1) * step + 1;
        self.view().slice_move(s![offset..end; step]).to_owned()
    }
    #[track_caller]
    fn map<const N: usize, F: ElementFn<N>>(inputs: [&Self; N], f: &F) -> Self {
        let Some(first) = inputs.first() else {
            return Array1::from_vec(Vec::new());
        };
        let n = Array1::len(first);
        for a in &inputs[1..] {
            let m = Array1::len(*a);
            assert_eq!(n, m, "ad_core: map: arrays of lengths {n} and {m}");
        }
        let slices = inputs.map(|a| a.as_slice());
        if slices.iter().all(Option::is_some) {
            // contiguous: slices of length `n`, so the loop has no bounds checks
            let x = slices.map(|s| &s.unwrap_or_default()[..n]);
            (0..n)
                .map(|i| f.eval(std::array::from_fn(|k| x[k][i])))
                .collect()
        } else {
            (0..n)
                .map(|i| f.eval(std::array::from_fn(|k| inputs[k][i])))
                .collect()
        }
    }
}

impl<'t> RealArray for VarArray<'t> {
    type Scalar = Var<'t>;

    fn from_slice(x: &[Var<'t>]) -> Self {
        VarArray::from_vars(x)
    }
    fn to_vec(&self) -> Vec<Var<'t>> {
        self.to_vars()
    }
    fn len(&self) -> usize {
        VarArray::len(self)
    }
    fn add(&self, o: &Self) -> Self {
        VarArray::add(self, o)
    }
    fn sub(&self, o: &Self) -> Self {
        VarArray::sub(self, o)
    }
    fn mul(&self, o: &Self) -> Self {
        VarArray::mul(self, o)
    }
    fn div(&self, o: &Self) -> Self {
        VarArray::div(self, o)
    }
    fn add_scalar(&self, s: Var<'t>) -> Self {
        VarArray::add_scalar(self, s)
    }
    fn mul_scalar(&self, s: Var<'t>) -> Self {
        VarArray::mul_scalar(self, s)
    }
    fn add_f64(&self, c: f64) -> Self {
        VarArray::add_f64(self, c)
    }
    fn mul_f64(&self, c: f64) -> Self {
        VarArray::mul_f64(self, c)
    }
    fn rsub_f64(&self, c: f64) -> Self {
        VarArray::rsub_f64(self, c)
    }
    fn mul_f64s(&self, w: &[f64]) -> Self {
        VarArray::mul_f64s(self, w)
    }
    fn powi(&self, n: i32) -> Self {
        VarArray::powi(self, n)
    }
    fn exp(&self) -> Self {
        VarArray::exp(self)
    }
    fn ln(&self) -> Self {
        VarArray::ln(self)
    }
    fn sin(&self) -> Self {
        VarArray::sin(self)
    }
    fn cos(&self) -> Self {
        VarArray::cos(self)
    }
    fn tanh(&self) -> Self {
        VarArray::tanh(self)
    }
    fn sqrt(&self) -> Self {
        VarArray::sqrt(self)
    }
    fn abs(&self) -> Self {
        VarArray::abs(self)
    }
    fn sum(&self) -> Var<'t> {
        VarArray::sum(self)
    }
    fn dot(&self, o: &Self) -> Var<'t> {
        VarArray::dot(self, o)
    }
    fn roll(&self, k: isize) -> Self {
        VarArray::roll(self, k)
    }
    fn roll2(&self, rows: usize, cols: usize, dr: isize, dc: isize) -> Self {
        VarArray::roll2(self, rows, cols, dr, dc)
    }
    fn shift_clamped(&self, k: isize) -> Self {
        VarArray::shift_clamped(self, k)
    }
    fn slice(&self, offset: usize, step: usize, len: usize) -> Self {
        VarArray::slice(self, offset, step, len)
    }
    #[track_caller]
    fn map<const N: usize, F: ElementFn<N>>(inputs: [&Self; N], f: &F) -> Self {
        VarArray::map(inputs, f)
    }
    #[track_caller]
    fn map_sum<const N: usize, F: ElementFn<N>>(inputs: [&Self; N], f: &F) -> Var<'t> {
        VarArray::map_sum(inputs, f)
    }
}
