//! Element-wise operations of [`VarArray`]: arithmetic, the derivative table's functions and
//! the operators, each recorded as one tape item.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::fill::{map_values, values_and_partials};
use super::{Arg, ArrayOp, Buf, Input, Partial, VarArray};
use crate::table;
use crate::tape::Tape;
use crate::var::Var;

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
    pub(super) fn arg(input: Option<Input>, c: f64) -> Option<Arg> {
        input.map(|input| Arg {
            input,
            partial: Partial::Const(c),
        })
    }

    /// A stored-partial argument for an on-tape input.
    pub(super) fn stored(input: Option<Input>, off: usize) -> Option<Arg> {
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
