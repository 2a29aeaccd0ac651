//! Recording: [`TraceVar`], the scalar that records each operation run on it, and
//! [`Trace::record`], which runs the user's code on it and hands the operations to the compiler.

use std::cell::RefCell;
use std::fmt;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::Float;

use super::compile::compile;
use super::{value_of, Arg, Code, Op, Trace, TraceError, CONST, MAX_OPS};
use crate::block::Block;
use crate::real::Real;

/// The operations recorded so far on this thread.
struct Recorder {
    n_inputs: u32,
    max_ops: usize,
    ops: Vec<Op>,
    flaw: Option<TraceError>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

fn with_recorder<R>(f: impl FnOnce(&mut Recorder) -> R) -> R {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        let rec = r
            .as_mut()
            .expect("ad_core::trace::TraceVar used outside Trace::record (or on another thread)");
        f(rec)
    })
}

/// A scalar that records every operation on it: the scalar type [`Trace::record`] runs
/// generic code with. Only meaningful inside that call.
#[derive(Clone, Copy)]
pub struct TraceVar {
    value: f64,
    id: u32,
}

impl TraceVar {
    /// A constant (not an operation of the trace).
    pub const fn constant(value: f64) -> Self {
        TraceVar { value, id: CONST }
    }

    fn arg(self) -> Arg {
        if self.id == CONST {
            Arg::Const(self.value)
        } else {
            Arg::Id(self.id)
        }
    }

    /// Records `code(self, b)`; constants fold.
    #[inline]
    fn op(self, code: Code, b: Self) -> Self {
        let value = value_of(code, self.value, b.value);
        if self.id == CONST && b.id == CONST {
            return TraceVar::constant(value);
        }
        let (a, b) = (self.arg(), b.arg());
        let id = with_recorder(|r| {
            if r.flaw.is_some() {
                // the recording is void: stop growing it
                return None;
            }
            if r.ops.len() >= r.max_ops {
                r.flaw = Some(TraceError::TooLarge { limit: r.max_ops });
                return None;
            }
            r.ops.push(Op { code, a, b });
            Some(r.n_inputs + r.ops.len() as u32 - 1)
        });
        id.map_or(TraceVar::constant(value), |id| TraceVar { value, id })
    }

    #[inline]
    fn unary(self, code: Code) -> Self {
        self.op(code, TraceVar::constant(0.0))
    }

    /// Notes that the traced code looked at this value.
    fn looked_at(&self) {
        if self.id != CONST {
            with_recorder(|r| {
                r.flaw.get_or_insert(TraceError::LooksAtValues);
            });
        }
    }
}

impl fmt::Debug for TraceVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceVar({:?} #{})", self.value, self.id)
    }
}

traced_scalar_impls!(TraceVar);

macro_rules! binary_ops {
    ($($tr:ident $m:ident $atr:ident $am:ident $code:ident;)*) => {$(
        impl $tr for TraceVar {
            type Output = Self;
            #[inline]
            fn $m(self, b: Self) -> Self {
                self.op(Code::$code, b)
            }
        }
        impl $tr<f64> for TraceVar {
            type Output = Self;
            #[inline]
            fn $m(self, b: f64) -> Self {
                self.op(Code::$code, TraceVar::constant(b))
            }
        }
        impl $tr<TraceVar> for f64 {
            type Output = TraceVar;
            #[inline]
            fn $m(self, b: TraceVar) -> TraceVar {
                TraceVar::constant(self).op(Code::$code, b)
            }
        }
        impl $atr for TraceVar {
            #[inline]
            fn $am(&mut self, b: Self) {
                *self = (*self).$m(b);
            }
        }
        impl $atr<f64> for TraceVar {
            #[inline]
            fn $am(&mut self, b: f64) {
                *self = (*self).$m(b);
            }
        }
    )*};
}
binary_ops! {
    Add add AddAssign add_assign Add;
    Sub sub SubAssign sub_assign Sub;
    Mul mul MulAssign mul_assign Mul;
    Div div DivAssign div_assign Div;
    Rem rem RemAssign rem_assign Rem;
}

impl Neg for TraceVar {
    type Output = Self;
    fn neg(self) -> Self {
        self.unary(Code::Neg)
    }
}

macro_rules! unary_fns {
    ($($f:ident $code:ident)*) => {$(
        fn $f(self) -> Self {
            self.unary(Code::$code)
        }
    )*};
}
macro_rules! binary_fns {
    ($($f:ident $code:ident)*) => {$(
        fn $f(self, b: Self) -> Self {
            self.op(Code::$code, b)
        }
    )*};
}

impl Float for TraceVar {
    traced_float_basics!(TraceVar);
    unary_fns!(fract Fract abs Abs recip Recip sqrt Sqrt exp Exp exp2 Exp2 ln Ln log2 Log2
        log10 Log10 to_degrees ToDegrees to_radians ToRadians cbrt Cbrt sin Sin cos Cos tan Tan
        asin Asin acos Acos atan Atan exp_m1 ExpM1 ln_1p Ln1p sinh Sinh cosh Cosh tanh Tanh
        asinh Asinh acosh Acosh atanh Atanh floor Floor ceil Ceil round Round trunc Trunc
        signum Signum);
    binary_fns!(powf Powf log Log max Max min Min hypot Hypot atan2 Atan2 abs_sub AbsSub);

    /// Recorded as a product and a sum: the replayed value is `a * b + c` rounded twice,
    /// which may differ from the fused `f64::mul_add` in the last bit.
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    fn powi(self, n: i32) -> Self {
        self.unary(Code::Powi(n))
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
}

impl Real for TraceVar {
    type Array = ndarray::Array1<TraceVar>;

    /// The value; makes the recording fail if this depends on the inputs.
    fn value(&self) -> f64 {
        self.looked_at();
        self.value
    }
    fn cst(c: f64) -> Self {
        TraceVar::constant(c)
    }
    fn is_constant(&self) -> bool {
        self.id == CONST
    }
    /// Not replayable: makes the recording fail (the outputs carry the block's values).
    fn apply_block<B: Block>(block: B, inputs: &[Self], outputs: &mut [Self]) {
        let x: Vec<f64> = inputs.iter().map(|t| t.value).collect();
        let mut y = vec![0.0; outputs.len()];
        block.forward(&x, &mut y);
        if inputs.iter().any(|t| t.id != CONST) {
            with_recorder(|r| {
                r.flaw.get_or_insert(TraceError::Unsupported {
                    what: "a custom Block",
                });
            });
        }
        for (o, v) in outputs.iter_mut().zip(y) {
            *o = TraceVar::constant(v);
        }
    }
}

impl Trace {
    /// Runs `f` once on [`TraceVar`]s holding the values `x` (`f` writes `n_out` outputs) and
    /// compiles what it did into runs of repeated operations.
    ///
    /// # Errors
    /// [`TraceError::LooksAtValues`] if `f` looked at a value that depends on `x`,
    /// [`TraceError::Unsupported`] if it applied a custom [`Block`], [`TraceError::Nested`]
    /// if called while recording, [`TraceError::TooLarge`] past [`MAX_OPS`] operations.
    pub fn record<F>(x: &[f64], n_out: usize, f: F) -> Result<Trace, TraceError>
    where
        F: FnOnce(&[TraceVar], &mut [TraceVar]),
    {
        Trace::record_with_limit(x, n_out, MAX_OPS, f)
    }

    /// As [`Trace::record`], with at most `max_ops` operations (memory while recording and
    /// compiling: ~40 bytes per operation).
    ///
    /// # Errors
    /// As [`Trace::record`]; [`TraceError::TooLarge`] past `max_ops` operations.
    pub fn record_with_limit<F>(
        x: &[f64],
        n_out: usize,
        max_ops: usize,
        f: F,
    ) -> Result<Trace, TraceError>
    where
        F: FnOnce(&[TraceVar], &mut [TraceVar]),
    {
        // operand ids are u32, constants take u32::MAX
        let max_ops = max_ops.min((u32::MAX as usize - 1).saturating_sub(x.len()));
        if max_ops == 0 {
            return Err(TraceError::TooLarge { limit: 0 });
        }
        let nested = RECORDER.with(|r| {
            let mut r = r.borrow_mut();
            if r.is_some() {
                return true;
            }
            *r = Some(Recorder {
                n_inputs: x.len() as u32,
                max_ops,
                ops: Vec::new(),
                flaw: None,
            });
            false
        });
        if nested {
            return Err(TraceError::Nested);
        }
        // take the recorder back however `f` ends (a panic in user code propagates)
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                RECORDER.with(|r| r.borrow_mut().take());
            }
        }
        let reset = Reset;
        let inputs: Vec<TraceVar> = x
            .iter()
            .enumerate()
            .map(|(j, &value)| TraceVar {
                value,
                id: j as u32,
            })
            .collect();
        let mut out = vec![TraceVar::constant(0.0); n_out];
        f(&inputs, &mut out);
        let rec = RECORDER
            .with(|r| r.borrow_mut().take())
            .expect("the recorder is set");
        drop(reset);
        if let Some(flaw) = rec.flaw {
            return Err(flaw);
        }
        let outputs: Vec<Arg> = out.iter().map(|o| o.arg()).collect();
        Ok(compile(x.len(), &rec.ops, &outputs))
    }
}
