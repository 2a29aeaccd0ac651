//! The derivative table: for each elementary function, its value and its local partial
//! derivatives, as plain functions over any `Float`.
//!
//! This is the only place where derivatives of elementary functions are written down. The
//! reverse-mode [`Var`](crate::Var) evaluates the table on `f64` and records the partials on the
//! tape; the forward-mode [`Dual`](crate::Dual) evaluates it on its inner scalar and applies the
//! chain rule to its tangents. Adding a function here makes it available to both.
//!
//! Conventions at kinks and ties (where the derivative does not exist):
//! - `abs` at 0: derivative 0 (the minimal-norm subgradient); `signum`, `floor`, `ceil`, `round`,
//!   `trunc`: derivative 0 everywhere (also at the jumps); `fract`: 1.
//! - `max`/`min` on ties: the whole derivative goes to the first argument (`self`); if one
//!   argument is NaN the other is the result (as `f64::max`) and carries the derivative.
//! - `abs_sub(a, b) = max(a - b, 0)`: at `a == b` derivative 0.
//! - `powf(a, b)`: the partial in `b` is `a^b ln a` for `a > 0` and 0 otherwise (where `a^b`
//!   is 0 or not real-differentiable in `b`).
//! - `atan2` and `hypot` at the origin: partials 0.
//! - `sqrt`, `cbrt` at 0 and `ln` at 0: infinite derivatives, as the mathematics says.
//! - `rem(a, b) = a - b trunc(a/b)`: partials `1` and `-trunc(a/b)`.

use num_traits::Float;

/// Value and derivative of a unary function.
pub type Unary<T> = (T, T);
/// Value and the two partial derivatives of a binary function.
pub type Binary<T> = (T, T, T);

#[inline(always)]
fn c<T: Float>(x: f64) -> T {
    T::from(x).unwrap()
}

// ---- unary ----

#[inline(always)]
pub fn neg<T: Float>(x: T) -> Unary<T> {
    (-x, -T::one())
}
#[inline(always)]
pub fn recip<T: Float>(x: T) -> Unary<T> {
    let r = x.recip();
    (r, -r * r)
}
#[inline(always)]
pub fn sqrt<T: Float>(x: T) -> Unary<T> {
    let s = x.sqrt();
    (s, c::<T>(0.5) / s)
}
#[inline(always)]
pub fn cbrt<T: Float>(x: T) -> Unary<T> {
    let r = x.cbrt();
    (r, (c::<T>(3.0) * r * r).recip())
}
#[inline(always)]
pub fn exp<T: Float>(x: T) -> Unary<T> {
    let e = x.exp();
    (e, e)
}
#[inline(always)]
pub fn exp2<T: Float>(x: T) -> Unary<T> {
    let e = x.exp2();
    (e, e * c::<T>(std::f64::consts::LN_2))
}
#[inline(always)]
pub fn exp_m1<T: Float>(x: T) -> Unary<T> {
    (x.exp_m1(), x.exp())
}
#[inline(always)]
pub fn ln<T: Float>(x: T) -> Unary<T> {
    (x.ln(), x.recip())
}
#[inline(always)]
pub fn log2<T: Float>(x: T) -> Unary<T> {
    (x.log2(), (x * c::<T>(std::f64::consts::LN_2)).recip())
}
#[inline(always)]
pub fn log10<T: Float>(x: T) -> Unary<T> {
    (x.log10(), (x * c::<T>(std::f64::consts::LN_10)).recip())
}
#[inline(always)]
pub fn ln_1p<T: Float>(x: T) -> Unary<T> {
    (x.ln_1p(), (T::one() + x).recip())
}
#[inline(always)]
pub fn sin<T: Float>(x: T) -> Unary<T> {
    x.sin_cos()
}
#[inline(always)]
pub fn cos<T: Float>(x: T) -> Unary<T> {
    let (s, co) = x.sin_cos();
    (co, -s)
}
#[inline(always)]
pub fn tan<T: Float>(x: T) -> Unary<T> {
    let t = x.tan();
    (t, T::one() + t * t)
}
#[inline(always)]
pub fn asin<T: Float>(x: T) -> Unary<T> {
    (x.asin(), (T::one() - x * x).sqrt().recip())
}
#[inline(always)]
pub fn acos<T: Float>(x: T) -> Unary<T> {
    (x.acos(), -(T::one() - x * x).sqrt().recip())
}
#[inline(always)]
pub fn atan<T: Float>(x: T) -> Unary<T> {
    (x.atan(), (T::one() + x * x).recip())
}
#[inline(always)]
pub fn sinh<T: Float>(x: T) -> Unary<T> {
    (x.sinh(), x.cosh())
}
#[inline(always)]
pub fn cosh<T: Float>(x: T) -> Unary<T> {
    (x.cosh(), x.sinh())
}
#[inline(always)]
pub fn tanh<T: Float>(x: T) -> Unary<T> {
    let t = x.tanh();
    (t, T::one() - t * t)
}
#[inline(always)]
pub fn asinh<T: Float>(x: T) -> Unary<T> {
    (x.asinh(), (x * x + T::one()).sqrt().recip())
}
#[inline(always)]
pub fn acosh<T: Float>(x: T) -> Unary<T> {
    (x.acosh(), (x * x - T::one()).sqrt().recip())
}
#[inline(always)]
pub fn atanh<T: Float>(x: T) -> Unary<T> {
    (x.atanh(), (T::one() - x * x).recip())
}
#[inline(always)]
pub fn abs<T: Float>(x: T) -> Unary<T> {
    let d = if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    };
    (x.abs(), d)
}
/// `floor`, `ceil`, `round`, `trunc`, `signum`: piecewise constant, derivative 0.
#[inline(always)]
pub fn flat<T: Float>(v: T) -> Unary<T> {
    (v, T::zero())
}
#[inline(always)]
pub fn fract<T: Float>(x: T) -> Unary<T> {
    (x.fract(), T::one())
}
#[inline(always)]
pub fn to_degrees<T: Float>(x: T) -> Unary<T> {
    let k = c::<T>(180.0 / std::f64::consts::PI);
    (x * k, k)
}
#[inline(always)]
pub fn to_radians<T: Float>(x: T) -> Unary<T> {
    let k = c::<T>(std::f64::consts::PI / 180.0);
    (x * k, k)
}
#[inline(always)]
pub fn powi<T: Float>(x: T, n: i32) -> Unary<T> {
    match n {
        0 => (T::one(), T::zero()),
        1 => (x, T::one()),
        2 => (x * x, x + x),
        // The value is `x.powi(n)` itself, bit for bit what f64 code computes (`x^(n-1) x`
        // differs from it in the last bits).
        _ => (x.powi(n), c::<T>(n as f64) * x.powi(n - 1)),
    }
}

// ---- binary ----

#[inline(always)]
pub fn mul<T: Float>(a: T, b: T) -> Binary<T> {
    (a * b, b, a)
}
#[inline(always)]
pub fn div<T: Float>(a: T, b: T) -> Binary<T> {
    // `a / b`, not `a * (1 / b)`: the value must be bit for bit what f64 code computes, or
    // branches in user code can go another way on the tape than on f64.
    let r = b.recip();
    let v = a / b;
    (v, r, -v * r)
}
#[inline(always)]
pub fn rem<T: Float>(a: T, b: T) -> Binary<T> {
    (a % b, T::one(), -(a / b).trunc())
}
#[inline(always)]
pub fn powf<T: Float>(a: T, b: T) -> Binary<T> {
    let v = a.powf(b);
    let da = if b == T::zero() {
        T::zero()
    } else {
        b * a.powf(b - T::one())
    };
    let db = if a > T::zero() { v * a.ln() } else { T::zero() };
    (v, da, db)
}
#[inline(always)]
pub fn atan2<T: Float>(y: T, x: T) -> Binary<T> {
    let r2 = x * x + y * y;
    if r2 == T::zero() {
        return (y.atan2(x), T::zero(), T::zero());
    }
    (y.atan2(x), x / r2, -y / r2)
}
#[inline(always)]
pub fn hypot<T: Float>(a: T, b: T) -> Binary<T> {
    let h = a.hypot(b);
    if h == T::zero() {
        return (h, T::zero(), T::zero());
    }
    (h, a / h, b / h)
}
#[inline(always)]
pub fn max<T: Float>(a: T, b: T) -> Binary<T> {
    if a >= b || b.is_nan() {
        (a, T::one(), T::zero())
    } else {
        (b, T::zero(), T::one())
    }
}
#[inline(always)]
pub fn min<T: Float>(a: T, b: T) -> Binary<T> {
    if a <= b || b.is_nan() {
        (a, T::one(), T::zero())
    } else {
        (b, T::zero(), T::one())
    }
}
#[inline(always)]
pub fn abs_sub<T: Float>(a: T, b: T) -> Binary<T> {
    if a > b {
        (a - b, T::one(), -T::one())
    } else {
        (T::zero(), T::zero(), T::zero())
    }
}
/// `log_b(a) = ln a / ln b`.
#[inline(always)]
pub fn log<T: Float>(a: T, b: T) -> Binary<T> {
    let lb = b.ln();
    let la = a.ln();
    let v = la / lb;
    (v, (a * lb).recip(), -v / (b * lb))
}
/// `a * b + c`: partials `(b, a, 1)`.
#[inline(always)]
pub fn mul_add<T: Float>(a: T, b: T, cc: T) -> (T, T, T, T) {
    (a.mul_add(b, cc), b, a, T::one())
}
