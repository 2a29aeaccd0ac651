//! `Dual` as a number: the `num_traits` implementations, [`Float`] (the derivative table
//! applied to the tangents) and [`Real`].

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};

use super::Dual;
use crate::block::{apply_dual, Block};
use crate::real::Real;
use crate::table;

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
