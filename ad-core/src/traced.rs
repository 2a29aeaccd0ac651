//! The trait boilerplate shared by the tracing scalars ([`Tracer`](crate::sparsity::Tracer)
//! and [`TraceVar`](crate::trace::TraceVar)): each runs generic code once to learn its
//! structure, carries a `value: f64`, makes constants with `constant(f64)`, and calls
//! `looked_at(&self)` whenever the code inspects a value (a comparison, a conversion, a
//! predicate), because a branch on a value makes what was traced hold at that point only.

/// Formatting, comparisons, sums and products, the `num_traits` scaffolding and `FloatConst`
/// for a tracing scalar `$t` (see the module docs for what `$t` must have).
macro_rules! traced_scalar_impls {
    ($t:ident) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.value, f)
            }
        }
        impl Default for $t {
            fn default() -> Self {
                $t::constant(0.0)
            }
        }
        impl From<f64> for $t {
            fn from(x: f64) -> Self {
                $t::constant(x)
            }
        }
        impl PartialEq for $t {
            /// Compares values (and notes that the traced code looked at them).
            fn eq(&self, other: &Self) -> bool {
                self.looked_at();
                other.looked_at();
                self.value == other.value
            }
        }
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                self.looked_at();
                other.looked_at();
                self.value.partial_cmp(&other.value)
            }
        }
        impl PartialEq<f64> for $t {
            fn eq(&self, other: &f64) -> bool {
                self.looked_at();
                self.value == *other
            }
        }
        impl PartialOrd<f64> for $t {
            fn partial_cmp(&self, other: &f64) -> Option<std::cmp::Ordering> {
                self.looked_at();
                self.value.partial_cmp(other)
            }
        }
        impl std::iter::Sum for $t {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold($t::constant(0.0), |a, b| a + b)
            }
        }
        impl<'a> std::iter::Sum<&'a $t> for $t {
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                iter.fold($t::constant(0.0), |a, &b| a + b)
            }
        }
        impl std::iter::Product for $t {
            fn product<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold($t::constant(1.0), |a, b| a * b)
            }
        }
        impl<'a> std::iter::Product<&'a $t> for $t {
            fn product<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                iter.fold($t::constant(1.0), |a, &b| a * b)
            }
        }
        impl num_traits::Zero for $t {
            fn zero() -> Self {
                $t::constant(0.0)
            }
            fn is_zero(&self) -> bool {
                self.looked_at();
                self.value == 0.0
            }
        }
        impl num_traits::One for $t {
            fn one() -> Self {
                $t::constant(1.0)
            }
        }
        impl num_traits::Num for $t {
            type FromStrRadixErr = <f64 as num_traits::Num>::FromStrRadixErr;
            fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
                <f64 as num_traits::Num>::from_str_radix(s, radix).map($t::constant)
            }
        }
        impl num_traits::ToPrimitive for $t {
            fn to_i64(&self) -> Option<i64> {
                self.looked_at();
                self.value.to_i64()
            }
            fn to_u64(&self) -> Option<u64> {
                self.looked_at();
                self.value.to_u64()
            }
            fn to_f64(&self) -> Option<f64> {
                self.looked_at();
                Some(self.value)
            }
        }
        impl num_traits::NumCast for $t {
            /// A constant.
            fn from<P: num_traits::ToPrimitive>(n: P) -> Option<Self> {
                n.to_f64().map($t::constant)
            }
        }
        traced_scalar_impls!(@consts $t; E FRAC_1_PI FRAC_1_SQRT_2 FRAC_2_PI FRAC_2_SQRT_PI
            FRAC_PI_2 FRAC_PI_3 FRAC_PI_4 FRAC_PI_6 FRAC_PI_8 LN_10 LN_2 LOG10_E LOG2_E PI
            SQRT_2 TAU LOG10_2 LOG2_10);
    };
    (@consts $t:ident; $($name:ident)*) => {
        impl num_traits::FloatConst for $t {
            $(fn $name() -> Self {
                $t::constant(<f64 as num_traits::FloatConst>::$name())
            })*
        }
    };
}

/// Inside `impl Float for $t`: the constants (`nan`, `epsilon`, ...), the predicates
/// (`is_nan`, ...: they look at the value), `classify` and `integer_decode`.
macro_rules! traced_float_basics {
    ($t:ident) => {
        traced_float_basics!(@constant $t; nan infinity neg_infinity neg_zero min_value
            min_positive_value max_value epsilon);
        traced_float_basics!(@predicate is_nan is_infinite is_finite is_normal
            is_sign_positive is_sign_negative);
        fn classify(self) -> std::num::FpCategory {
            self.looked_at();
            self.value.classify()
        }
        fn integer_decode(self) -> (u64, i16, i8) {
            self.looked_at();
            num_traits::Float::integer_decode(self.value)
        }
    };
    (@constant $t:ident; $($f:ident)*) => {$(
        fn $f() -> Self {
            $t::constant(<f64 as num_traits::Float>::$f())
        }
    )*};
    (@predicate $($f:ident)*) => {$(
        fn $f(self) -> bool {
            self.looked_at();
            self.value.$f()
        }
    )*};
}
