//! The operators of `Var`: arithmetic with `Var`s and `f64`s, compound assignment, sums and
//! products.

use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use super::{mixed_tapes, Var};
use crate::pool::{self, Use};
use crate::table;
use crate::tape::Tape;

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
