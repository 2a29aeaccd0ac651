//! `Var<'t>`: a reverse-mode scalar recorded on a [`Tape`].

use std::cmp::Ordering;
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};

use crate::pool::{self, Use};
use crate::table;
use crate::tape::Tape;

/// A reverse-mode scalar: a value and, unless it is a constant, its node on a [`Tape`].
///
/// `Var` is `Copy` (24 bytes). Arithmetic and every [`Float`] method on `Var`s records one node
/// holding the local partial derivatives; a constant (`Var::constant`, `Var::from(2.0)`,
/// `Var::zero()`) lives on no tape and records nothing. Comparisons compare values, so
/// branches in user code follow the primal computation.
///
/// # Panics
/// Combining two `Var`s of different tapes panics: adjoints of one tape cannot flow into another.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    value: f64,
    index: u32,
    tape: Option<&'t Tape>,
}

impl<'t> Var<'t> {
    /// A constant: it lives on no tape and its adjoint is always 0.
    #[inline(always)]
    pub const fn constant(value: f64) -> Self {
        Var {
            value,
            index: 0,
            tape: None,
        }
    }

    #[inline(always)]
    pub(crate) fn on_tape(value: f64, index: u32, tape: &'t Tape) -> Self {
        Var {
            value,
            index,
            tape: Some(tape),
        }
    }

    /// The value.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The tape this variable is recorded on (`None` for a constant).
    #[inline(always)]
    pub fn tape(&self) -> Option<&'t Tape> {
        self.tape
    }

    /// True if this is a constant (on no tape).
    #[inline(always)]
    pub fn is_constant(&self) -> bool {
        self.tape.is_none()
    }

    /// The node index on its tape (meaningless for a constant).
    #[inline(always)]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The node index if this variable lives on `tape`; panics if it lives on another tape.
    #[inline]
    pub(crate) fn index_on(&self, tape: &Tape) -> Option<u32> {
        match self.tape {
            None => None,
            Some(t) => {
                assert!(
                    std::ptr::eq(t, tape),
                    "ad_core: a Var of one tape was used with another tape"
                );
                Some(self.index)
            }
        }
    }

    /// Records `value` with local derivative `d` with respect to `self`.
    #[inline(always)]
    fn unary(self, (value, d): table::Unary<f64>) -> Self {
        match self.tape {
            None => Var::constant(value),
            Some(t) => Var::on_tape(value, t.push1(self.index, d), t),
        }
    }

    /// Records `value` with partials `da`, `db` with respect to `self` and `b`.
    #[inline(always)]
    fn binary(self, b: Self, (value, da, db): table::Binary<f64>) -> Self {
        match (self.tape, b.tape) {
            (Some(t), Some(tb)) => {
                if !std::ptr::eq(t, tb) {
                    mixed_tapes();
                }
                Var::on_tape(value, t.push2(self.index, da, b.index, db), t)
            }
            (Some(t), None) => Var::on_tape(value, t.push1(self.index, da), t),
            (None, Some(t)) => Var::on_tape(value, t.push1(b.index, db), t),
            (None, None) => Var::constant(value),
        }
    }
}

#[cold]
#[inline(never)]
fn mixed_tapes() -> ! {
    panic!(
        "ad_core: an operation combined Vars from two different tapes; every Var of one \
         computation must come from the same Tape (use one tape per task)"
    )
}

impl From<f64> for Var<'_> {
    /// A constant.
    fn from(x: f64) -> Self {
        Var::constant(x)
    }
}

impl Default for Var<'_> {
    /// The constant 0.
    fn default() -> Self {
        Var::constant(0.0)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tape {
            Some(_) => write!(f, "Var({:?} @{})", self.value, self.index),
            None => write!(f, "Var({:?} const)", self.value),
        }
    }
}

impl fmt::Display for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl PartialEq for Var<'_> {
    /// Compares values.
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl PartialOrd for Var<'_> {
    /// Compares values.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl PartialEq<f64> for Var<'_> {
    fn eq(&self, other: &f64) -> bool {
        self.value == *other
    }
}

impl PartialOrd<f64> for Var<'_> {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.value.partial_cmp(other)
    }
}

// ---- operators ----

impl<'t> Add for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self.binary(b, (self.value + b.value, 1.0, 1.0))
    }
}
impl<'t> Sub for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        self.binary(b, (self.value - b.value, 1.0, -1.0))
    }
}
impl<'t> Mul for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self.binary(b, table::mul(self.value, b.value))
    }
}
impl<'t> Div for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        self.binary(b, table::div(self.value, b.value))
    }
}
impl<'t> Rem for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn rem(self, b: Self) -> Self {
        self.binary(b, table::rem(self.value, b.value))
    }
}
impl<'t> Neg for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.unary(table::neg(self.value))
    }
}

impl<'t> Add<f64> for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn add(self, c: f64) -> Self {
        self.unary((self.value + c, 1.0))
    }
}
impl<'t> Sub<f64> for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, c: f64) -> Self {
        self.unary((self.value - c, 1.0))
    }
}
impl<'t> Mul<f64> for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, c: f64) -> Self {
        self.unary((self.value * c, c))
    }
}
impl<'t> Div<f64> for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn div(self, c: f64) -> Self {
        let r = 1.0 / c;
        self.unary((self.value / c, r))
    }
}
impl<'t> Rem<f64> for Var<'t> {
    type Output = Self;
    #[inline(always)]
    fn rem(self, c: f64) -> Self {
        self.unary((self.value % c, 1.0))
    }
}
impl<'t> Add<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline(always)]
    fn add(self, v: Var<'t>) -> Var<'t> {
        v.unary((self + v.value, 1.0))
    }
}
impl<'t> Sub<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline(always)]
    fn sub(self, v: Var<'t>) -> Var<'t> {
        v.unary((self - v.value, -1.0))
    }
}
impl<'t> Mul<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline(always)]
    fn mul(self, v: Var<'t>) -> Var<'t> {
        v.unary((self * v.value, self))
    }
}
impl<'t> Div<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline(always)]
    fn div(self, v: Var<'t>) -> Var<'t> {
        let (_, dr) = table::recip(v.value);
        v.unary((self / v.value, self * dr))
    }
}
impl<'t> Rem<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline(always)]
    fn rem(self, v: Var<'t>) -> Var<'t> {
        v.unary((self % v.value, -(self / v.value).trunc()))
    }
}

macro_rules! assign_ops {
    ($($tr:ident $m:ident $op:ident;)*) => {$(
        impl<'t> $tr for Var<'t> {
            #[inline(always)]
            fn $m(&mut self, b: Self) {
                *self = (*self).$op(b);
            }
        }
        impl<'t> $tr<f64> for Var<'t> {
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

impl<'t> Sum for Var<'t> {
    /// Records ONE node with an operand per on-tape term (partials 1), however many terms.
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        let mut value = 0.0;
        let mut tape: Option<&'t Tape> = None;
        let mut parents = pool::take_u32();
        for v in iter {
            value += v.value;
            if let Some(t) = v.tape {
                match tape {
                    None => tape = Some(t),
                    Some(t0) if !std::ptr::eq(t0, t) => mixed_tapes(),
                    _ => {}
                }
                parents.push(v.index);
            }
        }
        let out = match tape {
            None => Var::constant(value),
            Some(t) => {
                let index = if parents.len() == 1 {
                    t.push1(parents[0], 1.0)
                } else {
                    let mut ones = pool::take_f64(Use::Values, parents.len());
                    ones.resize(parents.len(), 1.0);
                    let index = t.push_n(&parents, &ones);
                    pool::give_f64(Use::Values, ones);
                    index
                };
                Var::on_tape(value, index, t)
            }
        };
        pool::give_u32(parents);
        out
    }
}

impl<'a, 't> Sum<&'a Var<'t>> for Var<'t> {
    fn sum<I: Iterator<Item = &'a Var<'t>>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

impl<'t> Product for Var<'t> {
    fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Var::constant(1.0), |a, b| a * b)
    }
}

impl<'a, 't> Product<&'a Var<'t>> for Var<'t> {
    fn product<I: Iterator<Item = &'a Var<'t>>>(iter: I) -> Self {
        iter.copied().product()
    }
}

// ---- num-traits ----

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
