//! `Dual<N, T>`: forward-mode scalars (a value and N tangents).

use std::cmp::Ordering;
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};

use crate::block::{apply_dual, Block};
use crate::real::Real;
use crate::table;

/// A forward-mode scalar: value `v` and `N` tangents `d` (directional derivatives along `N`
/// seed directions at once).
///
/// `Dual<N>` means `Dual<N, f64>`. The inner scalar can itself be a [`Real`]: `Dual<1, Var>`
/// computes exact Hessian-vector products (forward over reverse, see
/// [`hessian_vector_product`](crate::hessian_vector_product)), `Dual<1, Dual<1>>` second
/// directional derivatives.
///
/// ```
/// use ad_core::Dual;
/// use num_traits::Float;
///
/// // d/dx [x sin x] at x = 2 along the seed direction 1.
/// let x = Dual::<1>::variable(2.0, 0);
/// let y = x * x.sin();
/// assert!((y.d[0] - (2f64.sin() + 2.0 * 2f64.cos())).abs() < 1e-15);
/// ```
#[derive(Clone, Copy)]
pub struct Dual<const N: usize, T = f64> {
    /// The value.
    pub v: T,
    /// The tangents: `d[k]` is the derivative along seed direction `k`.
    pub d: [T; N],
}

impl<const N: usize, T: Real> Dual<N, T> {
    /// A dual with value `v` and tangents `d`.
    #[inline(always)]
    pub fn new(v: T, d: [T; N]) -> Self {
        Dual { v, d }
    }

    /// A constant: zero tangents.
    #[inline(always)]
    pub fn constant(v: T) -> Self {
        Dual {
            v,
            d: [T::zero(); N],
        }
    }

    /// An independent variable: value `v`, tangent 1 in direction `k`, 0 in the others.
    ///
    /// # Panics
    /// If `k >= N`.
    pub fn variable(v: f64, k: usize) -> Self {
        assert!(
            k < N,
            "Dual::variable: direction {k} out of range for Dual<{N}>"
        );
        let mut d = [T::zero(); N];
        d[k] = T::one();
        Dual { v: T::cst(v), d }
    }

    /// The chain rule for one argument: `d_k = dv * self.d_k`. A zero tangent stays zero
    /// through an infinite or NaN partial (`sqrt` at 0 along a direction it does not depend
    /// on): the product is the derivative of a constant, not `0 * inf = NaN`. The check costs
    /// one well-predicted branch per operation, on the partial, not per tangent.
    #[inline(always)]
    fn chain1(self, (v, dv): table::Unary<T>) -> Self {
        if dv.value().is_finite() {
            Dual {
                v,
                d: std::array::from_fn(|k| self.d[k] * dv),
            }
        } else {
            Dual {
                v,
                d: std::array::from_fn(|k| times_partial(self.d[k], dv)),
            }
        }
    }

    /// The chain rule for two arguments: `d_k = da * self.d_k + db * b.d_k`, zero tangents
    /// staying zero through non-finite partials as in [`chain1`](Self::chain1).
    #[inline(always)]
    fn chain2(self, b: Self, (v, da, db): table::Binary<T>) -> Self {
        if da.value().is_finite() && db.value().is_finite() {
            Dual {
                v,
                d: std::array::from_fn(|k| self.d[k] * da + b.d[k] * db),
            }
        } else {
            Dual {
                v,
                d: std::array::from_fn(|k| {
                    times_partial(self.d[k], da) + times_partial(b.d[k], db)
                }),
            }
        }
    }
}

/// `tangent * partial`, except that a constant zero tangent gives zero whatever the partial
/// (a tangent that is a nonzero-derivative `Var` with value 0 is multiplied as usual, so nested
/// derivatives are kept).
#[inline]
fn times_partial<T: Real>(tangent: T, partial: T) -> T {
    if tangent.is_constant() && tangent.value() == 0.0 {
        T::zero()
    } else {
        tangent * partial
    }
}

impl<T: Real> Dual<1, T> {
    /// Independent variables `x` seeded along one direction `t`: `Dual { v: x[i], d: [t[i]] }`.
    ///
    /// # Panics
    /// If `x` and `t` differ in length.
    pub fn along(x: &[T], t: &[T]) -> Vec<Self> {
        assert_eq!(x.len(), t.len(), "Dual::along: x and t differ in length");
        x.iter().zip(t).map(|(&v, &d)| Dual::new(v, [d])).collect()
    }
}

impl<const N: usize> Dual<N> {
    /// One chunk of a forward-mode Jacobian: element `i` of `x` is input number `offset + i`,
    /// and inputs `first..first + N` get unit tangents in directions `0..N` (the others none).
    /// Call it on consecutive pieces of the inputs (`y0` at offset 0, `p` at `y0.len()`, ...)
    /// with the same `first`.
    pub fn seeded(x: &[f64], offset: usize, first: usize) -> Vec<Self> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut d = Dual::constant(v);
                if let Some(k) = (offset + i).checked_sub(first).filter(|&k| k < N) {
                    d.d[k] = 1.0;
                }
                d
            })
            .collect()
    }
}

impl<const N: usize, T: Real> From<f64> for Dual<N, T> {
    /// A constant.
    fn from(x: f64) -> Self {
        Dual::constant(T::cst(x))
    }
}

impl<const N: usize, T: Real> Default for Dual<N, T> {
    fn default() -> Self {
        Dual::constant(T::zero())
    }
}

impl<const N: usize, T: fmt::Debug> fmt::Debug for Dual<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dual({:?}, {:?})", self.v, self.d)
    }
}

impl<const N: usize, T: fmt::Display> fmt::Display for Dual<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.v, f)
    }
}

impl<const N: usize, T: PartialEq> PartialEq for Dual<N, T> {
    /// Compares values.
    fn eq(&self, other: &Self) -> bool {
        self.v == other.v
    }
}

impl<const N: usize, T: PartialOrd> PartialOrd for Dual<N, T> {
    /// Compares values.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<const N: usize, T: Real> PartialEq<f64> for Dual<N, T> {
    fn eq(&self, other: &f64) -> bool {
        self.v == *other
    }
}

impl<const N: usize, T: Real> PartialOrd<f64> for Dual<N, T> {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.v.partial_cmp(other)
    }
}

// ---- operators ----

impl<const N: usize, T: Real> Add for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        Dual {
            v: self.v + b.v,
            d: std::array::from_fn(|k| self.d[k] + b.d[k]),
        }
    }
}
impl<const N: usize, T: Real> Sub for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        Dual {
            v: self.v - b.v,
            d: std::array::from_fn(|k| self.d[k] - b.d[k]),
        }
    }
}
impl<const N: usize, T: Real> Mul for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self.chain2(b, table::mul(self.v, b.v))
    }
}
impl<const N: usize, T: Real> Div for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        self.chain2(b, table::div(self.v, b.v))
    }
}
impl<const N: usize, T: Real> Rem for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn rem(self, b: Self) -> Self {
        self.chain2(b, table::rem(self.v, b.v))
    }
}
impl<const N: usize, T: Real> Neg for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Dual {
            v: -self.v,
            d: self.d.map(|t| -t),
        }
    }
}

impl<const N: usize, T: Real> Add<f64> for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, c: f64) -> Self {
        Dual {
            v: self.v + c,
            d: self.d,
        }
    }
}
impl<const N: usize, T: Real> Sub<f64> for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, c: f64) -> Self {
        Dual {
            v: self.v - c,
            d: self.d,
        }
    }
}
impl<const N: usize, T: Real> Mul<f64> for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, c: f64) -> Self {
        Dual {
            v: self.v * c,
            d: self.d.map(|t| t * c),
        }
    }
}
impl<const N: usize, T: Real> Div<f64> for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, c: f64) -> Self {
        let r = 1.0 / c;
        Dual {
            v: self.v / c,
            d: self.d.map(|t| t * r),
        }
    }
}
impl<const N: usize, T: Real> Rem<f64> for Dual<N, T> {
    type Output = Self;
    #[inline(always)]
    fn rem(self, c: f64) -> Self {
        Dual {
            v: self.v % c,
            d: self.d,
        }
    }
}
impl<const N: usize, T: Real> Add<Dual<N, T>> for f64 {
    type Output = Dual<N, T>;
    #[inline(always)]
    fn add(self, x: Dual<N, T>) -> Dual<N, T> {
        x + self
    }
}
impl<const N: usize, T: Real> Sub<Dual<N, T>> for f64 {
    type Output = Dual<N, T>;
    #[inline(always)]
    fn sub(self, x: Dual<N, T>) -> Dual<N, T> {
        -x + self
    }
}
impl<const N: usize, T: Real> Mul<Dual<N, T>> for f64 {
    type Output = Dual<N, T>;
    #[inline(always)]
    fn mul(self, x: Dual<N, T>) -> Dual<N, T> {
        x * self
    }
}
impl<const N: usize, T: Real> Div<Dual<N, T>> for f64 {
    type Output = Dual<N, T>;
    #[inline(always)]
    fn div(self, x: Dual<N, T>) -> Dual<N, T> {
        Dual::constant(T::cst(self)) / x
    }
}
impl<const N: usize, T: Real> Rem<Dual<N, T>> for f64 {
    type Output = Dual<N, T>;
    #[inline(always)]
    fn rem(self, x: Dual<N, T>) -> Dual<N, T> {
        Dual::constant(T::cst(self)) % x
    }
}

macro_rules! assign_ops {
    ($($tr:ident $m:ident $op:ident;)*) => {$(
        impl<const N: usize, T: Real> $tr for Dual<N, T> {
            #[inline(always)]
            fn $m(&mut self, b: Self) {
                *self = (*self).$op(b);
            }
        }
        impl<const N: usize, T: Real> $tr<f64> for Dual<N, T> {
            #[inline(always)]
            fn $m(&mut self, b: f64) {
                *self = (*self).$op(b);
            }
        }
    )*};
}
assign_ops! {
    AddAssign add_assign add;
    SubAssign sub_assign sub;
    MulAssign mul_assign mul;
    DivAssign div_assign div;
    RemAssign rem_assign rem;
}

impl<const N: usize, T: Real> Sum for Dual<N, T> {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::zero(), |a, b| a + b)
    }
}
impl<'a, const N: usize, T: Real> Sum<&'a Dual<N, T>> for Dual<N, T> {
    fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.fold(Self::zero(), |a, &b| a + b)
    }
}
impl<const N: usize, T: Real> Product for Dual<N, T> {
    fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::one(), |a, b| a * b)
    }
}
impl<'a, const N: usize, T: Real> Product<&'a Dual<N, T>> for Dual<N, T> {
    fn product<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.fold(Self::one(), |a, &b| a * b)
    }
}

// ---- num-traits ----

impl<const N: usize, T: Real> Zero for Dual<N, T> {
    fn zero() -> Self {
        Dual::constant(T::zero())
    }
    fn is_zero(&self) -> bool {
        self.v.is_zero()
    }
}
impl<const N: usize, T: Real> One for Dual<N, T> {
    fn one() -> Self {
        Dual::constant(T::one())
    }
}
impl<const N: usize, T: Real> Num for Dual<N, T> {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(<Self as From<f64>>::from)
    }
}
impl<const N: usize, T: Real> ToPrimitive for Dual<N, T> {
    fn to_i64(&self) -> Option<i64> {
        self.v.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.v.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.v.value())
    }
}
impl<const N: usize, T: Real> NumCast for Dual<N, T> {
    /// A constant.
    fn from<P: ToPrimitive>(n: P) -> Option<Self> {
        n.to_f64().map(<Self as From<f64>>::from)
    }
}

macro_rules! float_consts {
    ($($name:ident)*) => {
        impl<const N: usize, T: Real> FloatConst for Dual<N, T> {
            $(fn $name() -> Self { Dual::constant(T::$name()) })*
        }
    };
}
float_consts!(E FRAC_1_PI FRAC_1_SQRT_2 FRAC_2_PI FRAC_2_SQRT_PI FRAC_PI_2 FRAC_PI_3 FRAC_PI_4
    FRAC_PI_6 FRAC_PI_8 LN_10 LN_2 LOG10_E LOG2_E PI SQRT_2 TAU LOG10_2 LOG2_10);

impl<const N: usize, T: Real> Float for Dual<N, T> {
    fn nan() -> Self {
        Dual::constant(T::nan())
    }
    fn infinity() -> Self {
        Dual::constant(T::infinity())
    }
    fn neg_infinity() -> Self {
        Dual::constant(T::neg_infinity())
    }
    fn neg_zero() -> Self {
        Dual::constant(T::neg_zero())
    }
    fn min_value() -> Self {
        Dual::constant(T::min_value())
    }
    fn min_positive_value() -> Self {
        Dual::constant(T::min_positive_value())
    }
    fn max_value() -> Self {
        Dual::constant(T::max_value())
    }
    fn epsilon() -> Self {
        Dual::constant(T::epsilon())
    }
    fn is_nan(self) -> bool {
        self.v.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.v.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.v.is_finite()
    }
    fn is_normal(self) -> bool {
        self.v.is_normal()
    }
    fn classify(self) -> std::num::FpCategory {
        self.v.classify()
    }
    fn floor(self) -> Self {
        self.chain1(table::flat(self.v.floor()))
    }
    fn ceil(self) -> Self {
        self.chain1(table::flat(self.v.ceil()))
    }
    fn round(self) -> Self {
        self.chain1(table::flat(self.v.round()))
    }
    fn trunc(self) -> Self {
        self.chain1(table::flat(self.v.trunc()))
    }
    fn fract(self) -> Self {
        self.chain1(table::fract(self.v))
    }
    fn abs(self) -> Self {
        self.chain1(table::abs(self.v))
    }
    fn signum(self) -> Self {
        self.chain1(table::flat(self.v.signum()))
    }
    fn is_sign_positive(self) -> bool {
        self.v.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.v.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        let (v, dx, da, db) = table::mul_add(self.v, a.v, b.v);
        Dual {
            v,
            d: std::array::from_fn(|k| self.d[k] * dx + a.d[k] * da + b.d[k] * db),
        }
    }
    fn recip(self) -> Self {
        self.chain1(table::recip(self.v))
    }
    fn powi(self, n: i32) -> Self {
        self.chain1(table::powi(self.v, n))
    }
    fn powf(self, n: Self) -> Self {
        self.chain2(n, table::powf(self.v, n.v))
    }
    fn sqrt(self) -> Self {
        self.chain1(table::sqrt(self.v))
    }
    fn exp(self) -> Self {
        self.chain1(table::exp(self.v))
    }
    fn exp2(self) -> Self {
        self.chain1(table::exp2(self.v))
    }
    fn ln(self) -> Self {
        self.chain1(table::ln(self.v))
    }
    fn log(self, base: Self) -> Self {
        self.chain2(base, table::log(self.v, base.v))
    }
    fn log2(self) -> Self {
        self.chain1(table::log2(self.v))
    }
    fn log10(self) -> Self {
        self.chain1(table::log10(self.v))
    }
    fn to_degrees(self) -> Self {
        self.chain1(table::to_degrees(self.v))
    }
    fn to_radians(self) -> Self {
        self.chain1(table::to_radians(self.v))
    }
    fn max(self, other: Self) -> Self {
        self.chain2(other, table::max(self.v, other.v))
    }
    fn min(self, other: Self) -> Self {
        self.chain2(other, table::min(self.v, other.v))
    }
    fn abs_sub(self, other: Self) -> Self {
        self.chain2(other, table::abs_sub(self.v, other.v))
    }
    fn cbrt(self) -> Self {
        self.chain1(table::cbrt(self.v))
    }
    fn hypot(self, other: Self) -> Self {
        self.chain2(other, table::hypot(self.v, other.v))
    }
    fn sin(self) -> Self {
        self.chain1(table::sin(self.v))
    }
    fn cos(self) -> Self {
        self.chain1(table::cos(self.v))
    }
    fn tan(self) -> Self {
        self.chain1(table::tan(self.v))
    }
    fn asin(self) -> Self {
        self.chain1(table::asin(self.v))
    }
    fn acos(self) -> Self {
        self.chain1(table::acos(self.v))
    }
    fn atan(self) -> Self {
        self.chain1(table::atan(self.v))
    }
    fn atan2(self, other: Self) -> Self {
        self.chain2(other, table::atan2(self.v, other.v))
    }
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.v.sin_cos();
        (self.chain1((s, c)), self.chain1((c, -s)))
    }
    fn exp_m1(self) -> Self {
        self.chain1(table::exp_m1(self.v))
    }
    fn ln_1p(self) -> Self {
        self.chain1(table::ln_1p(self.v))
    }
    fn sinh(self) -> Self {
        self.chain1(table::sinh(self.v))
    }
    fn cosh(self) -> Self {
        self.chain1(table::cosh(self.v))
    }
    fn tanh(self) -> Self {
        self.chain1(table::tanh(self.v))
    }
    fn asinh(self) -> Self {
        self.chain1(table::asinh(self.v))
    }
    fn acosh(self) -> Self {
        self.chain1(table::acosh(self.v))
    }
    fn atanh(self) -> Self {
        self.chain1(table::atanh(self.v))
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.v.integer_decode()
    }
}

impl<const N: usize, T: Real> Real for Dual<N, T> {
    type Array = ndarray::Array1<Self>;

    #[inline(always)]
    fn value(&self) -> f64 {
        self.v.value()
    }
    #[inline(always)]
    fn cst(c: f64) -> Self {
        Dual::constant(T::cst(c))
    }
    fn is_constant(&self) -> bool {
        self.v.is_constant() && self.d.iter().all(|t| t.is_constant() && t.is_zero())
    }
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        apply_dual(block, inputs, outputs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sqrt` at 0 has an infinite partial: a zero tangent stays zero (the Jacobian of
    /// `sqrt(p^2)` with respect to `y` is 0, not NaN), a nonzero one gives infinity.
    #[test]
    fn zero_tangent_stays_zero_through_an_infinite_partial() {
        let x = Dual::<2>::new(0.0, [0.0, 1.0]);
        let s = x.sqrt();
        assert_eq!(s.v, 0.0);
        assert_eq!(s.d[0], 0.0);
        assert_eq!(s.d[1], f64::INFINITY);
        // two arguments: pow(0, 0.5) along a direction that moves only the exponent
        let base = Dual::<1>::new(0.0, [0.0]);
        let e = Dual::<1>::new(0.5, [1.0]);
        let r = base.powf(e);
        assert!(!r.d[0].is_nan(), "{}", r.d[0]);
        // sqrt(p^2) at p = 0 along y (p constant): tangent 0
        let p = Dual::<1>::constant(0.0);
        let y = Dual::<1>::variable(3.0, 0);
        let f = -(y * 2.0) + (p * p).sqrt();
        assert_eq!(f.d[0], -2.0);
    }

    /// A `Var` tangent with value 0 but a derivative of its own is not dropped (nested
    /// derivatives through an infinite partial stay as before).
    #[test]
    fn a_zero_valued_var_tangent_is_not_treated_as_constant() {
        let tape = crate::Tape::new();
        let t = tape.var(0.0);
        assert!(!times_partial(t, crate::Var::cst(2.0)).is_constant());
        assert_eq!(
            times_partial(crate::Var::cst(0.0), crate::Var::cst(f64::INFINITY)).value(),
            0.0
        );
    }
}
