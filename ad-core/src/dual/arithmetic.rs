//! The operators of `Dual`: arithmetic with `Dual`s and `f64`s, compound assignment, sums
//! and products.

use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::{One, Zero};

use super::Dual;
use crate::real::Real;
use crate::table;

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
