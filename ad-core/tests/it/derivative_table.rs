//! Every entry of the derivative table and every operator, for `Var` (reverse mode), `Dual`
//! (forward mode, one direction at a time and two directions at once) and a replayed
//! operation trace (`ad_core::trace`), against fourth-order central differences of the same
//! code run on `f64`.
//!
//! Each operation is a [`Function`] generic over [`Real`]; proptest draws points from a domain
//! that keeps the difference stencil away from kinks, jumps and singularities. Operators that
//! cannot be written generically (`f64` on the left, `%=` with an `f64`) are checked on the
//! concrete types. The conventions at kinks and ties are pinned by the unit tests at the end.

// `x - x`, `x / x`: the same variable on both sides of an operator is a case under test.
#![allow(clippy::eq_op)]

use crate::common::{assert_close, dot, fd_jacobian};
use ad_core::testing::{check_function, Rng};
use ad_core::trace::{Trace, TraceError};
use ad_core::{Dual, Function, Real, Tape, Var};
use num_traits::Float;
use proptest::prelude::*;

const CASES: u32 = 64;
/// Agreement of AD with the fourth-order finite difference, relative to `max(1, |fd|)`.
const FD_TOL: f64 = 1e-7;
/// Agreement of reverse mode, forward mode and two-direction forward mode with each other.
const AD_TOL: f64 = 1e-12;

/// The values and Jacobian (row per output) by reverse mode: one recording, one sweep per row.
fn reverse_jacobian<F: Function>(f: &F, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let tape = Tape::new();
    let xs = tape.vars(x);
    let ys = f.eval(&xs);
    let rows = (0..ys.len())
        .map(|i| {
            let mut c = vec![0.0; ys.len()];
            c[i] = 1.0;
            tape.vjp(&ys, &c).wrt_all(&xs)
        })
        .collect();
    (ys.iter().map(|y| y.value()).collect(), rows)
}

/// The values and Jacobian by forward mode, one `Dual<1>` evaluation per column.
fn forward_jacobian<F: Function>(f: &F, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let m = f.eval(x).len();
    let mut jac = vec![vec![0.0; x.len()]; m];
    let mut values = Vec::new();
    for j in 0..x.len() {
        let xs: Vec<Dual<1>> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| Dual::new(v, [if k == j { 1.0 } else { 0.0 }]))
            .collect();
        let ys = f.eval(&xs);
        values = ys.iter().map(|y| y.v).collect();
        for (row, y) in jac.iter_mut().zip(&ys) {
            row[j] = y.d[0];
        }
    }
    (values, jac)
}

/// Same value bit for bit (or both NaN): the AD types must compute the primal exactly as `f64`.
#[track_caller]
fn assert_same_value(what: &str, got: f64, want: f64) {
    assert!(
        got == want || (got.is_nan() && want.is_nan()),
        "{what}: value {got:e} differs from the f64 value {want:e}"
    );
}

/// Checks the values and the whole Jacobian of `f` at `x`: reverse mode and forward mode
/// against finite differences and against each other, `Dual<2>` along two random directions,
/// and the shared checker [`check_function`].
#[track_caller]
fn check<F: Function>(name: &str, f: &F, x: &[f64], seed: u64) {
    let y = f.eval(x);
    let fd = fd_jacobian(|xs| f.eval(xs), x, 1e-3);
    let (y_rev, j_rev) = reverse_jacobian(f, x);
    let (y_fwd, j_fwd) = forward_jacobian(f, x);

    let mut rng = Rng::new(seed);
    let t0 = rng.vec(x.len(), -1.0, 1.0);
    let t1 = rng.vec(x.len(), -1.0, 1.0);
    let xs2: Vec<Dual<2>> = (0..x.len())
        .map(|j| Dual::new(x[j], [t0[j], t1[j]]))
        .collect();
    let ys2 = f.eval(&xs2);
    assert_eq!(ys2.len(), y.len());

    for i in 0..y.len() {
        let at = format!("{name} at x = {x:?}, output {i}");
        assert_same_value(&format!("{at}: Var"), y_rev[i], y[i]);
        assert_same_value(&format!("{at}: Dual<1>"), y_fwd[i], y[i]);
        assert_same_value(&format!("{at}: Dual<2>"), ys2[i].v, y[i]);
        for j in 0..x.len() {
            let w = format!("{at}, d/dx{j}");
            assert_close(&format!("{w}: Var vs FD"), j_rev[i][j], fd[i][j], FD_TOL);
            assert_close(
                &format!("{w}: Dual<1> vs Var"),
                j_fwd[i][j],
                j_rev[i][j],
                AD_TOL,
            );
        }
        for (k, t) in [&t0, &t1].into_iter().enumerate() {
            let w = format!("{at}, Dual<2> direction {k}");
            assert_close(
                &format!("{w} vs Var"),
                ys2[i].d[k],
                dot(&j_rev[i], t),
                AD_TOL,
            );
            assert_close(&format!("{w} vs FD"), ys2[i].d[k], dot(&fd[i], t), FD_TOL);
        }
    }
    let c = check_function(f, x, seed);
    assert!(
        c.error(1.0) <= FD_TOL,
        "{name} at x = {x:?}: check_function failed: {c:?}"
    );
    check_trace(name, f, x, &y, &j_rev);
}

/// Operations whose generic code compares values (so a trace would hold at this point only).
const LOOK_AT_VALUES: &[&str] = &["copysign", "clamp"];

/// The operation recorded once as a trace at a shifted point, then replayed at `x`: values
/// bit for bit those of `f64` (the fused `mul_add` is replayed as a product and a sum: to
/// 1 ulp), each row of the Jacobian by a product with a unit cotangent as `Var`'s.
#[track_caller]
fn check_trace<F: Function>(name: &str, f: &F, x: &[f64], y: &[f64], j_rev: &[Vec<f64>]) {
    let at = x.iter().map(|v| v * (1.0 + 1e-3)).collect::<Vec<_>>();
    let mut trace = match Trace::record(&at, y.len(), |xs, out| out.copy_from_slice(&f.eval(xs))) {
        Ok(t) => t,
        Err(TraceError::LooksAtValues) if LOOK_AT_VALUES.contains(&name) => return,
        Err(e) => panic!("{name}: no trace: {e}"),
    };
    let mut yt = vec![0.0; y.len()];
    trace.eval(x, &mut yt);
    for i in 0..y.len() {
        let at = format!("{name} at x = {x:?}, output {i}: trace");
        if name.starts_with("mul_add") {
            assert_close(&at, yt[i], y[i], 1e-15);
        } else {
            assert_same_value(&at, yt[i], y[i]);
        }
        let mut w = vec![0.0; y.len()];
        w[i] = 1.0;
        let mut row = vec![0.0; x.len()];
        trace.vjp(x, &w, &mut row);
        for j in 0..x.len() {
            assert_close(
                &format!("{at}, d/dx{j} vs Var"),
                row[j],
                j_rev[i][j],
                AD_TOL,
            );
        }
    }
}

// ---------------------------------------------------------------- domains

/// Uniform points in a box, one range per input.
fn boxed(ranges: &[(f64, f64)]) -> BoxedStrategy<Vec<f64>> {
    ranges
        .iter()
        .map(|&(lo, hi)| lo..hi)
        .collect::<Vec<_>>()
        .boxed()
}

/// One input in `[lo, hi)`.
fn within(lo: f64, hi: f64) -> BoxedStrategy<Vec<f64>> {
    boxed(&[(lo, hi)])
}

/// A number with magnitude in `[lo, hi)` and either sign.
fn away(lo: f64, hi: f64) -> BoxedStrategy<f64> {
    (lo..hi, any::<bool>())
        .prop_map(|(m, neg)| if neg { -m } else { m })
        .boxed()
}

/// One input with magnitude in `[lo, hi)` and either sign.
fn away1(lo: f64, hi: f64) -> BoxedStrategy<Vec<f64>> {
    away(lo, hi).prop_map(|v| vec![v]).boxed()
}

/// One input `n + u`, `n` an integer in `lo..hi`, `u` in `[margin, 1 - margin)`: away from the
/// integers, where floor/ceil/trunc/fract jump.
fn off_integers(lo: i32, hi: i32, margin: f64) -> BoxedStrategy<Vec<f64>> {
    (lo..hi, margin..1.0 - margin)
        .prop_map(|(n, u)| vec![n as f64 + u])
        .boxed()
}

/// One input away from the half-integers, where `round` jumps.
fn off_half_integers() -> BoxedStrategy<Vec<f64>> {
    (-4i32..4, 0.05..0.45f64, any::<bool>())
        .prop_map(|(n, u, up)| vec![n as f64 + if up { 0.5 + u } else { u }])
        .boxed()
}

/// `(a, b)` with `a / b` away from the integers, where `a % b` jumps.
fn rem_pair() -> BoxedStrategy<Vec<f64>> {
    (away(0.8, 2.0), -3i32..3, 0.2..0.8f64)
        .prop_map(|(b, q, u)| vec![b * (q as f64 + u), b])
        .boxed()
}

/// `(a, b)` with `|a - b| >= 0.05`: away from the ties of max, min, abs_sub.
fn untied_pair() -> BoxedStrategy<Vec<f64>> {
    (-3.0..3.0f64, away(0.05, 2.0))
        .prop_map(|(a, d)| vec![a, a + d])
        .boxed()
}

/// `(y, x)` at radius `[0.3, 3)`, angle away from the negative x axis (atan2's branch cut).
fn polar_no_cut() -> BoxedStrategy<Vec<f64>> {
    (0.3..3.0f64, -3.0..3.0f64)
        .prop_map(|(r, th)| vec![r * th.sin(), r * th.cos()])
        .boxed()
}

/// `(a, b)` at radius `[0.3, 3)`, any angle.
fn polar() -> BoxedStrategy<Vec<f64>> {
    (0.3..3.0f64, -4.0..4.0f64)
        .prop_map(|(r, th)| vec![r * th.cos(), r * th.sin()])
        .boxed()
}

/// `(x, lo, hi)` with `x` below, inside or above `[lo, hi]`, at least 0.05 from both ends.
fn clamp_triple() -> BoxedStrategy<Vec<f64>> {
    (-2.0..0.0f64, 1.0..3.0f64, 0..3u8, 0.05..0.9f64)
        .prop_map(|(lo, w, region, u)| {
            let x = match region {
                0 => lo - 2.0 * u,
                1 => lo + w * (0.05 + 0.9 * u),
                _ => lo + w + 2.0 * u,
            };
            vec![x, lo, lo + w]
        })
        .boxed()
}

// ---------------------------------------------------------------- generic operations

/// One proptest per operation: `name: |x| body, domain;` where `body: Vec<S>` is written once
/// for every `S: Real` over the inputs `x: &[S]`.
macro_rules! table_tests {
    ($($name:ident: |$x:ident| $body:expr, $domain:expr;)*) => {$(
        mod $name {
            use super::*;

            struct Op;
            impl Function for Op {
                fn eval<S: Real>(&self, $x: &[S]) -> Vec<S> {
                    $body
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(CASES))]
                #[test]
                fn matches_finite_differences(x in $domain, seed in any::<u64>()) {
                    check(stringify!($name), &Op, &x, seed);
                }
            }
        }
    )*};
}

table_tests! {
    // ---- unary Float methods
    neg: |x| vec![-x[0]], within(-3.0, 3.0);
    recip: |x| vec![x[0].recip()], away1(0.2, 4.0);
    sqrt: |x| vec![x[0].sqrt()], within(0.1, 9.0);
    cbrt: |x| vec![x[0].cbrt()], away1(0.1, 8.0);
    exp: |x| vec![x[0].exp()], within(-5.0, 5.0);
    exp2: |x| vec![x[0].exp2()], within(-5.0, 5.0);
    exp_m1: |x| vec![x[0].exp_m1()], within(-3.0, 3.0);
    ln: |x| vec![x[0].ln()], within(0.1, 10.0);
    log2: |x| vec![x[0].log2()], within(0.1, 10.0);
    log10: |x| vec![x[0].log10()], within(0.1, 10.0);
    ln_1p: |x| vec![x[0].ln_1p()], within(-0.8, 5.0);
    sin: |x| vec![x[0].sin()], within(-6.0, 6.0);
    cos: |x| vec![x[0].cos()], within(-6.0, 6.0);
    tan: |x| vec![x[0].tan()], within(-1.3, 1.3);
    asin: |x| vec![x[0].asin()], within(-0.9, 0.9);
    acos: |x| vec![x[0].acos()], within(-0.9, 0.9);
    atan: |x| vec![x[0].atan()], within(-5.0, 5.0);
    sinh: |x| vec![x[0].sinh()], within(-4.0, 4.0);
    cosh: |x| vec![x[0].cosh()], within(-4.0, 4.0);
    tanh: |x| vec![x[0].tanh()], within(-3.0, 3.0);
    asinh: |x| vec![x[0].asinh()], within(-5.0, 5.0);
    acosh: |x| vec![x[0].acosh()], within(1.1, 6.0);
    atanh: |x| vec![x[0].atanh()], within(-0.9, 0.9);
    abs: |x| vec![x[0].abs()], away1(0.01, 5.0);
    to_degrees: |x| vec![x[0].to_degrees()], within(-5.0, 5.0);
    to_radians: |x| vec![x[0].to_radians()], within(-300.0, 300.0);
    powi_m3: |x| vec![x[0].powi(-3)], away1(0.3, 2.5);
    powi_m2: |x| vec![x[0].powi(-2)], away1(0.3, 2.5);
    powi_m1: |x| vec![x[0].powi(-1)], away1(0.3, 2.5);
    powi_0: |x| vec![x[0].powi(0)], away1(0.3, 2.5);
    powi_1: |x| vec![x[0].powi(1)], away1(0.3, 2.5);
    powi_2: |x| vec![x[0].powi(2)], away1(0.3, 2.5);
    powi_3: |x| vec![x[0].powi(3)], away1(0.3, 2.5);
    powi_7: |x| vec![x[0].powi(7)], away1(0.3, 2.5);
    sin_cos: |x| {
        let (s, c) = x[0].sin_cos();
        vec![s, c]
    }, within(-6.0, 6.0);
    // Piecewise constant (derivative 0) and fract (derivative 1); times x so the product
    // rule sees the value too.
    fract: |x| vec![x[0].fract(), x[0].fract() * x[0]], off_integers(-4, 4, 0.05);
    floor: |x| vec![x[0].floor(), x[0].floor() * x[0]], off_integers(-4, 4, 0.05);
    ceil: |x| vec![x[0].ceil(), x[0].ceil() * x[0]], off_integers(-4, 4, 0.05);
    trunc: |x| vec![x[0].trunc(), x[0].trunc() * x[0]], off_integers(-4, 4, 0.05);
    round: |x| vec![x[0].round(), x[0].round() * x[0]], off_half_integers();
    signum: |x| vec![x[0].signum(), x[0].signum() * x[0]], away1(0.05, 5.0);

    // ---- operators with an f64 on the right
    add_f64: |x| vec![x[0] + 1.5], within(-3.0, 3.0);
    sub_f64: |x| vec![x[0] - 1.5], within(-3.0, 3.0);
    mul_f64: |x| vec![x[0] * -2.5], within(-3.0, 3.0);
    div_f64: |x| vec![x[0] / -2.5], within(-3.0, 3.0);
    rem_f64: |x| vec![x[0] % 1.3], rem_pair().prop_map(|ab| vec![ab[0] / ab[1] * 1.3]);

    // ---- binary operators, Var-Var
    add: |x| vec![x[0] + x[1]], boxed(&[(-3.0, 3.0), (-3.0, 3.0)]);
    sub: |x| vec![x[0] - x[1]], boxed(&[(-3.0, 3.0), (-3.0, 3.0)]);
    mul: |x| vec![x[0] * x[1]], boxed(&[(-3.0, 3.0), (-3.0, 3.0)]);
    div: |x| vec![x[0] / x[1]], (-3.0..3.0f64, away(0.3, 3.0)).prop_map(|(a, b)| vec![a, b]);
    rem: |x| vec![x[0] % x[1]], rem_pair();
    // One operand a constant `S` (off the tape), on either side.
    mul_cst: |x| vec![x[0] * S::cst(1.7), S::cst(-0.6) * x[0]], within(-3.0, 3.0);
    div_cst: |x| vec![x[0] / S::cst(1.7), S::cst(-0.6) / x[0]], away1(0.3, 3.0);
    sub_cst: |x| vec![x[0] - S::cst(1.7), S::cst(-0.6) - x[0]], within(-3.0, 3.0);
    rem_cst: |x| vec![S::cst(2.3) % x[0]], within(1.2, 2.2);
    // The same variable in both operands.
    mul_self: |x| vec![x[0] * x[0]], within(-3.0, 3.0);
    sub_self: |x| vec![x[0] - x[0] + x[0] / x[0]], away1(0.3, 3.0);
    add_self: |x| vec![x[0] + x[0]], within(-3.0, 3.0);

    // ---- binary Float methods
    powf: |x| vec![x[0].powf(x[1])], boxed(&[(0.4, 3.0), (-2.5, 2.5)]);
    powf_cst_exponent: |x| vec![x[0].powf(S::cst(3.0)), x[0].powf(S::cst(-2.0))], away1(0.3, 2.0);
    powf_cst_base: |x| vec![S::cst(1.7).powf(x[0]), S::cst(0.4).powf(x[0])], within(-3.0, 3.0);
    powf_self: |x| vec![x[0].powf(x[0])], within(0.2, 3.0);
    atan2: |x| vec![x[0].atan2(x[1])], polar_no_cut();
    atan2_cst: |x| vec![x[0].atan2(S::cst(0.7)), S::cst(-0.4).atan2(x[0])], away1(0.3, 3.0);
    hypot: |x| vec![x[0].hypot(x[1])], polar();
    hypot_self: |x| vec![x[0].hypot(x[0])], away1(0.3, 3.0);
    max: |x| vec![x[0].max(x[1]), x[1].max(x[0])], untied_pair();
    min: |x| vec![x[0].min(x[1]), x[1].min(x[0])], untied_pair();
    abs_sub: |x| vec![x[0].abs_sub(x[1]), x[1].abs_sub(x[0])], untied_pair();
    log: |x| vec![x[0].log(x[1])],
        (0.5..4.0f64, prop_oneof![0.4..0.7f64, 1.5..6.0f64]).prop_map(|(a, b)| vec![a, b]);
    mul_add: |x| vec![x[0].mul_add(x[1], x[2])], boxed(&[(-3.0, 3.0), (-3.0, 3.0), (-3.0, 3.0)]);
    mul_add_cst: |x| vec![
        x[0].mul_add(S::cst(2.0), x[1]),
        S::cst(2.0).mul_add(x[0], S::cst(1.0)),
        x[0].mul_add(x[1], S::cst(-1.0)),
    ], boxed(&[(-3.0, 3.0), (-3.0, 3.0)]);
    mul_add_self: |x| vec![x[0].mul_add(x[0], x[0])], within(-3.0, 3.0);
    copysign: |x| vec![x[0].copysign(x[1])], (away(0.05, 3.0), away(0.05, 3.0)).prop_map(|(a, b)| vec![a, b]);
    clamp: |x| vec![Float::clamp(x[0], x[1], x[2])], clamp_triple();

    // ---- assign operators, with S and with f64
    assign_ops: |x| {
        let mut y = x[0];
        y += x[1];
        y *= x[0];
        y -= x[1];
        y /= x[1];
        y += 1.5;
        y -= 0.25;
        y *= -2.0;
        y /= 3.0;
        vec![y]
    }, (-3.0..3.0f64, away(0.3, 3.0)).prop_map(|(a, b)| vec![a, b]);
    rem_assign: |x| {
        let mut y = x[0];
        y %= x[1];
        vec![y]
    }, rem_pair();

    // ---- Sum and Product
    sum: |x| vec![x.iter().copied().sum::<S>(), x.iter().sum::<S>()], boxed(&[(-3.0, 3.0); 4]);
    sum_repeats_and_constants: |x| vec![
        [x[0], x[1], S::cst(2.0), x[0], x[2]].into_iter().sum::<S>(),
        [x[1], S::cst(3.0)].into_iter().sum::<S>(),
        x.iter().map(|&v| v.sin() * v).sum::<S>(),
    ], boxed(&[(-3.0, 3.0); 3]);
    product: |x| vec![
        x.iter().copied().product::<S>(),
        [x[0], x[1], x[0], S::cst(-1.5)].into_iter().product::<S>(),
    ], boxed(&[(-2.0, 2.0); 4]);
}

// ---------------------------------------------------------------- concrete-type operators

/// Checks a scalar operation given once per concrete type (for what generic code cannot write:
/// `f64` on the left of an operator, `%=` with an `f64`).
#[track_caller]
fn check_scalar(
    name: &str,
    x: f64,
    f: fn(f64) -> f64,
    f_var: for<'t> fn(Var<'t>) -> Var<'t>,
    f_dual: fn(Dual<2>) -> Dual<2>,
) {
    let fd = fd_jacobian(|xs| vec![f(xs[0])], &[x], 1e-3)[0][0];
    let tape = Tape::new();
    let v = tape.var(x);
    let y = f_var(v);
    let g = tape.gradient(y).wrt(v);
    let d = f_dual(Dual::new(x, [1.0, -0.5]));
    let at = format!("{name} at x = {x}");
    assert_same_value(&format!("{at}: Var"), y.value(), f(x));
    assert_same_value(&format!("{at}: Dual<2>"), d.v, f(x));
    assert_close(&format!("{at}: Var vs FD"), g, fd, FD_TOL);
    assert_close(
        &format!("{at}: Dual<2> direction 0 vs Var"),
        d.d[0],
        g,
        AD_TOL,
    );
    assert_close(
        &format!("{at}: Dual<2> direction 1 vs Var"),
        d.d[1],
        -0.5 * g,
        AD_TOL,
    );
}

/// `name: |x| body, domain;` where `body` is written once and compiled for `f64`, `Var` and
/// `Dual<2>`.
macro_rules! scalar_tests {
    ($($name:ident: |$x:ident| $body:expr, $domain:expr;)*) => {$(
        mod $name {
            use super::*;

            fn on_f64($x: f64) -> f64 {
                $body
            }
            fn on_var<'t>($x: Var<'t>) -> Var<'t> {
                $body
            }
            fn on_dual($x: Dual<2>) -> Dual<2> {
                $body
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(CASES))]
                #[test]
                fn matches_finite_differences(x in $domain) {
                    check_scalar(stringify!($name), x, on_f64, on_var, on_dual);
                }
            }
        }
    )*};
}

scalar_tests! {
    f64_add: |x| 2.5 + x, -3.0..3.0f64;
    f64_sub: |x| 2.5 - x, -3.0..3.0f64;
    f64_mul: |x| -2.5 * x, -3.0..3.0f64;
    f64_div: |x| 2.5 / x, away(0.3, 3.0);
    f64_rem: |x| 2.5 % x, 1.3..2.4f64;
    f64_left_nonlinear: |x| (2.5 - x).sin() * (0.5 / (1.0 + x * x)), -3.0..3.0f64;
    rem_assign_f64: |x| {
        let mut y = x;
        y %= 0.7;
        y
    }, rem_pair().prop_map(|ab| ab[0] / ab[1] * 0.7);
}

// ---------------------------------------------------------------- conventions at kinks and ties

/// `d f(x, y) / d(x, y)` by reverse mode and by `Dual<2>` (seeds e_x, e_y); asserts they agree
/// exactly and returns them.
fn partials2(
    x: f64,
    y: f64,
    f_var: for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>,
    f_dual: fn(Dual<2>, Dual<2>) -> Dual<2>,
) -> [f64; 2] {
    let tape = Tape::new();
    let (a, b) = (tape.var(x), tape.var(y));
    let adj = tape.gradient(f_var(a, b));
    let rev = [adj.wrt(a), adj.wrt(b)];
    let fwd = f_dual(Dual::new(x, [1.0, 0.0]), Dual::new(y, [0.0, 1.0])).d;
    assert!(
        rev.iter()
            .zip(&fwd)
            .all(|(r, f)| r == f || (r.is_nan() && f.is_nan())),
        "reverse {rev:?} and forward {fwd:?} disagree at ({x}, {y})"
    );
    rev
}

/// `d f(x) / dx` by reverse mode and by `Dual<1>`, asserted equal.
fn partial1(x: f64, f_var: for<'t> fn(Var<'t>) -> Var<'t>, f_dual: fn(Dual<1>) -> Dual<1>) -> f64 {
    let tape = Tape::new();
    let a = tape.var(x);
    let rev = tape.gradient(f_var(a)).wrt(a);
    let fwd = f_dual(Dual::variable(x, 0)).d[0];
    assert!(
        rev == fwd || (rev.is_nan() && fwd.is_nan()),
        "reverse {rev} and forward {fwd} disagree at {x}"
    );
    rev
}

#[test]
fn abs_at_zero_has_derivative_zero() {
    for x in [0.0, -0.0] {
        assert_eq!(partial1(x, |v| v.abs(), |v| v.abs()), 0.0);
    }
    assert_eq!(partial1(-2.0, |v| v.abs(), |v| v.abs()), -1.0);
}

#[test]
fn max_and_min_on_ties_give_the_derivative_to_the_first_argument() {
    assert_eq!(
        partials2(1.5, 1.5, |a, b| a.max(b), |a, b| a.max(b)),
        [1.0, 0.0]
    );
    assert_eq!(
        partials2(1.5, 1.5, |a, b| b.max(a), |a, b| b.max(a)),
        [0.0, 1.0]
    );
    assert_eq!(
        partials2(1.5, 1.5, |a, b| a.min(b), |a, b| a.min(b)),
        [1.0, 0.0]
    );
    assert_eq!(
        partials2(1.5, 1.5, |a, b| b.min(a), |a, b| b.min(a)),
        [0.0, 1.0]
    );
    assert_eq!(
        partials2(0.0, -0.0, |a, b| a.max(b), |a, b| a.max(b)),
        [1.0, 0.0]
    );
}

#[test]
fn max_and_min_with_a_nan_return_and_differentiate_the_other_argument() {
    let nan = f64::NAN;
    for (x, y, want) in [(nan, 2.0, [0.0, 1.0]), (2.0, nan, [1.0, 0.0])] {
        assert_eq!(partials2(x, y, |a, b| a.max(b), |a, b| a.max(b)), want);
        assert_eq!(partials2(x, y, |a, b| a.min(b), |a, b| a.min(b)), want);
        let tape = Tape::new();
        assert_eq!(tape.var(x).max(tape.var(y)).value(), x.max(y));
        assert_eq!(tape.var(x).min(tape.var(y)).value(), x.min(y));
    }
}

#[test]
fn abs_sub_on_a_tie_has_derivative_zero() {
    let p = partials2(0.7, 0.7, |a, b| a.abs_sub(b), |a, b| a.abs_sub(b));
    assert_eq!(p, [0.0, 0.0]);
    let p = partials2(1.7, 0.7, |a, b| a.abs_sub(b), |a, b| a.abs_sub(b));
    assert_eq!(p, [1.0, -1.0]);
}

#[test]
fn atan2_and_hypot_at_the_origin_have_partials_zero() {
    for (x, y) in [(0.0, 0.0), (-0.0, 0.0), (0.0, -0.0)] {
        assert_eq!(
            partials2(x, y, |a, b| a.atan2(b), |a, b| a.atan2(b)),
            [0.0, 0.0]
        );
        assert_eq!(
            partials2(x, y, |a, b| a.hypot(b), |a, b| a.hypot(b)),
            [0.0, 0.0]
        );
    }
    let tape = Tape::new();
    assert_eq!(
        tape.var(0.0).atan2(tape.var(-0.0)).value(),
        0.0f64.atan2(-0.0)
    );
}

#[test]
fn powf_with_base_zero() {
    let pow = |b: f64| partials2(0.0, b, |a, b| a.powf(b), |a, b| a.powf(b));
    // d/da 0^b = b 0^(b-1): 1 for b = 1, 0 for b > 1, 0 for b = 0 (the constant 1); the
    // partial in b is 0 (0^b is 0 for every b > 0).
    assert_eq!(pow(1.0), [1.0, 0.0]);
    assert_eq!(pow(2.0), [0.0, 0.0]);
    assert_eq!(pow(3.5), [0.0, 0.0]);
    assert_eq!(pow(0.0), [0.0, 0.0]);
    // Infinite slope of sqrt-like powers at 0, as the mathematics says (with a constant
    // exponent: forward mode would multiply the infinite partial by the base's zero tangent).
    let half = partial1(
        0.0,
        |a| a.powf(Var::constant(0.5)),
        |a| a.powf(Dual::constant(0.5)),
    );
    assert_eq!(half, f64::INFINITY);
    let tape = Tape::new();
    assert_eq!(tape.var(0.0).powf(tape.var(0.0)).value(), 1.0);
}

#[test]
fn powf_with_negative_base_and_integer_exponent() {
    // (-2)^3 = -8; d/da = 3 (-2)^2 = 12; the partial in b is 0 (a^b is not real-differentiable
    // in b for a < 0).
    assert_eq!(
        partials2(-2.0, 3.0, |a, b| a.powf(b), |a, b| a.powf(b)),
        [12.0, 0.0]
    );
    assert_eq!(
        partials2(-2.0, 2.0, |a, b| a.powf(b), |a, b| a.powf(b)),
        [-4.0, 0.0]
    );
}

#[test]
fn piecewise_constant_functions_have_derivative_zero_at_their_jumps() {
    for x in [2.0, -2.0, 0.0, 2.5, -2.5] {
        assert_eq!(partial1(x, |v| v.floor(), |v| v.floor()), 0.0);
        assert_eq!(partial1(x, |v| v.ceil(), |v| v.ceil()), 0.0);
        assert_eq!(partial1(x, |v| v.round(), |v| v.round()), 0.0);
        assert_eq!(partial1(x, |v| v.trunc(), |v| v.trunc()), 0.0);
        assert_eq!(partial1(x, |v| v.signum(), |v| v.signum()), 0.0);
        assert_eq!(partial1(x, |v| v.fract(), |v| v.fract()), 1.0);
    }
}

#[test]
fn rem_partials_are_one_and_minus_the_truncated_quotient() {
    assert_eq!(partials2(7.5, 2.0, |a, b| a % b, |a, b| a % b), [1.0, -3.0]);
    assert_eq!(partials2(-7.5, 2.0, |a, b| a % b, |a, b| a % b), [1.0, 3.0]);
    assert_eq!(partials2(7.5, -2.0, |a, b| a % b, |a, b| a % b), [1.0, 3.0]);
}

#[test]
fn sqrt_cbrt_and_ln_at_zero_have_infinite_derivatives() {
    assert_eq!(partial1(0.0, |v| v.sqrt(), |v| v.sqrt()), f64::INFINITY);
    assert_eq!(partial1(0.0, |v| v.cbrt(), |v| v.cbrt()), f64::INFINITY);
    assert_eq!(partial1(0.0, |v| v.ln(), |v| v.ln()), f64::INFINITY);
}

#[test]
fn copysign_takes_the_derivative_of_the_magnitude_only() {
    let cs = |x, y| partials2(x, y, |a, b| a.copysign(b), |a, b| a.copysign(b));
    assert_eq!(cs(2.0, -1.0), [-1.0, 0.0]);
    assert_eq!(cs(-2.0, -1.0), [1.0, 0.0]);
    assert_eq!(cs(2.0, 3.0), [1.0, 0.0]);
}

#[test]
fn operations_on_constants_record_nothing() {
    let tape = Tape::new();
    let x = tape.var(1.0);
    let before = tape.len();
    let c = Var::constant(0.3);
    let r = (c.sin() * c + 2.0).powf(c) + c.atan2(Var::constant(1.0)) - 1.0 / c;
    let s: Var = [c, Var::constant(2.0)].into_iter().sum();
    let p: Var = [c, Var::constant(2.0)].into_iter().product();
    assert!(r.is_constant() && s.is_constant() && p.is_constant());
    assert_eq!(tape.len(), before);
    assert_eq!(tape.gradient(x * r).wrt(x), r.value());
}

// ---------------------------------------------------------------- accuracy near domain edges

/// Relative error of the reverse-mode derivative of `f` at `x` against `want`; forward mode must
/// give the same number.
fn relative_error(
    x: f64,
    f_var: for<'t> fn(Var<'t>) -> Var<'t>,
    f_dual: fn(Dual<1>) -> Dual<1>,
    want: f64,
) -> f64 {
    let d = partial1(x, f_var, f_dual);
    ((d - want) / want).abs()
}

/// Near the ends of their domains the inverse functions' derivatives blow up; they must keep
/// their relative accuracy there. The references are the inverse-function rule
/// `f'(x) = 1 / g'(f(x))`, an independent formula (itself accurate to about 1e-10 there).
#[test]
fn inverse_function_derivatives_keep_their_accuracy_near_domain_edges() {
    for e in [1e-6, 1e-10, 1e-13] {
        for s in [1.0, -1.0] {
            let x: f64 = s * (1.0 - e);
            let at = format!("x = {x:e}");
            let err = relative_error(x, |v| v.asin(), |v| v.asin(), 1.0 / x.asin().cos());
            assert!(err < 1e-9, "asin at {at}: relative error {err:.1e}");
            let err = relative_error(x, |v| v.acos(), |v| v.acos(), -1.0 / x.acos().sin());
            assert!(err < 1e-9, "acos at {at}: relative error {err:.1e}");
            // atanh' is even; std's f64::atanh loses accuracy near -1, so use |x| for the
            // reference.
            let want = x.abs().atanh().cosh().powi(2);
            let err = relative_error(x, |v| v.atanh(), |v| v.atanh(), want);
            assert!(err < 1e-9, "atanh at {at}: relative error {err:.1e}");
        }
        let x: f64 = 1.0 + e;
        let err = relative_error(x, |v| v.acosh(), |v| v.acosh(), 1.0 / x.acosh().sinh());
        assert!(err < 1e-9, "acosh at x = {x:e}: relative error {err:.1e}");
    }
}
