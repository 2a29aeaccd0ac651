//! `Var` as a number: the `num_traits` implementations, [`Float`] (one node per call, partials
//! from the derivative table) and [`Real`](crate::Real).

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};

use super::Var;
use crate::table;

impl Zero for Var<'_> {
    fn zero() -> Self {
        Var::constant(0.0)
    }
    fn is_zero(&self) -> bool {
        self.value == 0.0
    }
}

impl One for Var<'_> {
    fn one() -> Self {
        Var::constant(1.0)
    }
}

impl Num for Var<'_> {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Var::constant)
    }
}

impl ToPrimitive for Var<'_> {
    fn to_i64(&self) -> Option<i64> {
        self.value.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.value.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.value)
    }
}

impl NumCast for Var<'_> {
    /// A constant.
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(Var::constant)
    }
}

macro_rules! float_consts {
    ($($name:ident)*) => {
        impl FloatConst for Var<'_> {
            $(fn $name() -> Self { Var::constant(f64::$name()) })*
        }
    };
}
float_consts!(E FRAC_1_PI FRAC_1_SQRT_2 FRAC_2_PI FRAC_2_SQRT_PI FRAC_PI_2 FRAC_PI_3 FRAC_PI_4
    FRAC_PI_6 FRAC_PI_8 LN_10 LN_2 LOG10_E LOG2_E PI SQRT_2 TAU LOG10_2 LOG2_10);

impl<'t> Float for Var<'t> {
    fn nan() -> Self {
        Var::constant(f64::NAN)
    }
    fn infinity() -> Self {
        Var::constant(f64::INFINITY)
    }
    fn neg_infinity() -> Self {
        Var::constant(f64::NEG_INFINITY)
    }
    fn neg_zero() -> Self {
        Var::constant(-0.0)
    }
    fn min_value() -> Self {
        Var::constant(f64::MIN)
    }
    fn min_positive_value() -> Self {
        Var::constant(f64::MIN_POSITIVE)
    }
    fn max_value() -> Self {
        Var::constant(f64::MAX)
    }
    fn epsilon() -> Self {
        Var::constant(f64::EPSILON)
    }
    fn is_nan(self) -> bool {
        self.value.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.value.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.value.is_finite()
    }
    fn is_normal(self) -> bool {
        self.value.is_normal()
    }
    fn classify(self) -> std::num::FpCategory {
        self.value.classify()
    }
    fn floor(self) -> Self {
        self.unary(table::flat(self.value.floor()))
    }
    fn ceil(self) -> Self {
        self.unary(table::flat(self.value.ceil()))
    }
    fn round(self) -> Self {
        self.unary(table::flat(self.value.round()))
    }
    fn trunc(self) -> Self {
        self.unary(table::flat(self.value.trunc()))
    }
    fn fract(self) -> Self {
        self.unary(table::fract(self.value))
    }
    fn abs(self) -> Self {
        self.unary(table::abs(self.value))
    }
    fn signum(self) -> Self {
        self.unary(table::flat(self.value.signum()))
    }
    fn is_sign_positive(self) -> bool {
        self.value.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.value.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        let (v, dx, da, db) = table::mul_add(self.value, a.value, b.value);
        let t = self.tape.or(a.tape).or(b.tape);
        match t {
            None => Var::constant(v),
            Some(t) => {
                let mut parents = [0u32; 3];
                let mut partials = [0.0; 3];
                let mut n = 0;
                for (x, d) in [(self, dx), (a, da), (b, db)] {
                    if let Some(i) = x.index_on(t) {
                        parents[n] = i;
                        partials[n] = d;
                        n += 1;
                    }
                }
                Var::on_tape(v, t.push_n(&parents[..n], &partials[..n]), t)
            }
        }
    }
    fn recip(self) -> Self {
        self.unary(table::recip(self.value))
    }
    fn powi(self, n: i32) -> Self {
        self.unary(table::powi(self.value, n))
    }
    fn powf(self, n: Self) -> Self {
        self.binary(n, table::powf(self.value, n.value))
    }
    fn sqrt(self) -> Self {
        self.unary(table::sqrt(self.value))
    }
    fn exp(self) -> Self {
        self.unary(table::exp(self.value))
    }
    fn exp2(self) -> Self {
        self.unary(table::exp2(self.value))
    }
    fn ln(self) -> Self {
        self.unary(table::ln(self.value))
    }
    fn log(self, base: Self) -> Self {
        self.binary(base, table::log(self.value, base.value))
    }
    fn log2(self) -> Self {
        self.unary(table::log2(self.value))
    }
    fn log10(self) -> Self {
        self.unary(table::log10(self.value))
    }
    fn to_degrees(self) -> Self {
        self.unary(table::to_degrees(self.value))
    }
    fn to_radians(self) -> Self {
        self.unary(table::to_radians(self.value))
    }
    fn max(self, other: Self) -> Self {
        self.binary(other, table::max(self.value, other.value))
    }
    fn min(self, other: Self) -> Self {
        self.binary(other, table::min(self.value, other.value))
    }
    fn abs_sub(self, other: Self) -> Self {
        self.binary(other, table::abs_sub(self.value, other.value))
    }
    fn cbrt(self) -> Self {
        self.unary(table::cbrt(self.value))
    }
    fn hypot(self, other: Self) -> Self {
        self.binary(other, table::hypot(self.value, other.value))
    }
    fn sin(self) -> Self {
        self.unary(table::sin(self.value))
    }
    fn cos(self) -> Self {
        self.unary(table::cos(self.value))
    }
    fn tan(self) -> Self {
        self.unary(table::tan(self.value))
    }
    fn asin(self) -> Self {
        self.unary(table::asin(self.value))
    }
    fn acos(self) -> Self {
        self.unary(table::acos(self.value))
    }
    fn atan(self) -> Self {
        self.unary(table::atan(self.value))
    }
    fn atan2(self, other: Self) -> Self {
        self.binary(other, table::atan2(self.value, other.value))
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn exp_m1(self) -> Self {
        self.unary(table::exp_m1(self.value))
    }
    fn ln_1p(self) -> Self {
        self.unary(table::ln_1p(self.value))
    }
    fn sinh(self) -> Self {
        self.unary(table::sinh(self.value))
    }
    fn cosh(self) -> Self {
        self.unary(table::cosh(self.value))
    }
    fn tanh(self) -> Self {
        self.unary(table::tanh(self.value))
    }
    fn asinh(self) -> Self {
        self.unary(table::asinh(self.value))
    }
    fn acosh(self) -> Self {
        self.unary(table::acosh(self.value))
    }
    fn atanh(self) -> Self {
        self.unary(table::atanh(self.value))
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.value.integer_decode()
    }
}

impl<'t> crate::Real for Var<'t> {
    type Array = crate::VarArray<'t>;

    #[inline(always)]
    fn value(&self) -> f64 {
        self.value
    }
    #[inline(always)]
    fn cst(c: f64) -> Self {
        Var::constant(c)
    }
    #[inline(always)]
    fn is_constant(&self) -> bool {
        self.tape.is_none()
    }
    fn apply_block<B: crate::Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        crate::block::apply_var(block, inputs, outputs);
    }
}
