//! The scalar trait every differentiable routine is generic over.

use std::fmt::{Debug, Display};
use std::iter::{Product, Sum};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Rem, RemAssign, Sub, SubAssign};

use num_traits::{Float, FloatConst};

use crate::array::RealArray;
use crate::block::Block;

/// A real scalar: `f64` (plain values), [`Var`](crate::Var) (reverse mode) or
/// [`Dual`](crate::Dual) (forward mode).
///
/// Write code once against `S: Real` — or against `num_traits::Float` alone, a supertrait — and it
/// runs at full speed on `f64` and, unchanged, computes derivatives on `Var` and `Dual`. Loops,
/// branches (comparisons look at values), recursion and `&mut` updates all work: the tape records
/// what ran.
///
/// Mixed arithmetic with `f64` on the right (`x * 2.0`, `x += 1.0`) is part of the trait. With
/// `f64` on the left (`2.0 * x`) it works on the concrete types but Rust cannot express it as a
/// bound on a generic `S`; in generic code write `x * 2.0` or `S::cst(2.0) * x`.
///
/// ```
/// use ad_core::{gradient, Real};
///
/// fn softplus_sum<S: Real>(x: &[S]) -> S {
///     x.iter().map(|&xi| (xi.exp() + 1.0).ln()).sum()
/// }
/// let (v, g) = gradient(|x| softplus_sum(x), &[0.0, 1.0]);
/// assert!((v - (2f64.ln() + (1f64.exp() + 1.0).ln())).abs() < 1e-15);
/// assert!((g[0] - 0.5).abs() < 1e-15);
/// ```
pub trait Real:
    Float
    + FloatConst
    + Debug
    + Display
    + Default
    + Sum
    + Product
    + for<'a> Sum<&'a Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + RemAssign
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
    + Rem<f64, Output = Self>
    + AddAssign<f64>
    + SubAssign<f64>
    + MulAssign<f64>
    + DivAssign<f64>
    + PartialEq<f64>
    + PartialOrd<f64>
{
    /// The array type with the fastest derivative for this scalar: `ndarray::Array1<f64>` for
    /// `f64`, `Array1<Dual>` for `Dual`, and the tape array [`VarArray`](crate::VarArray)
    /// (one node per array operation) for `Var`. Array-style code inside a generic function
    /// (an ODE right-hand side, a time step) converts with [`RealArray::from_slice`] and
    /// [`RealArray::to_vec`] and gets the fast path for every scalar type.
    type Array: RealArray<Scalar = Self>;

    /// The plain value (the primal), dropping derivative information.
    fn value(&self) -> f64;

    /// A constant: carries no derivative.
    fn cst(c: f64) -> Self;

    /// True if this scalar carries no derivative information (an `f64`, a constant `Var`, a
    /// `Dual` whose parts are all constant with zero tangents).
    fn is_constant(&self) -> bool;

    /// Applies a custom [`Block`] to `inputs`, writing `outputs`: `f64` runs
    /// [`Block::forward`]; `Var` records ONE node whose reverse step calls [`Block::vjp`];
    /// `Dual` runs [`Block::jvp`] once per tangent direction.
    ///
    /// With `Dual<N, T>` whose inner scalars carry derivatives themselves (e.g.
    /// `Dual<1, Var>` in a Hessian-vector product) the primal runs on `T` and each tangent
    /// direction by [`Block::jvp_nested`].
    ///
    /// # Panics
    /// If the nested rule fails (or the block has none) outside
    /// [`try_hessian_vector_product`](crate::try_hessian_vector_product).
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]);
}

impl Real for f64 {
    type Array = ndarray::Array1<f64>;

    #[inline(always)]
    fn value(&self) -> f64 {
        *self
    }
    #[inline(always)]
    fn cst(c: f64) -> Self {
        c
    }
    #[inline(always)]
    fn is_constant(&self) -> bool {
        true
    }
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        block.forward(inputs, outputs);
    }
}
