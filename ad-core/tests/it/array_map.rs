//! Fused element-wise maps (`RealArray::map`, `VarArray::map`): values and gradients against
//! the same formula written with unfused tape-array operations and with scalar `Var`s, against
//! central finite differences, with aliased and overlapping inputs (the lazily initialised
//! adjoint runs of intermediates included), on the parallel path, and for 1 to 9 inputs.

use ad_core::array::PAR_MIN;
use ad_core::testing::Rng;
use ad_core::{Adjoints, Dual, ElementFn, Real, RealArray, Tape, Var, VarArray};
use ndarray::Array1;

/// A formula as a fused map and as unfused array operations.
trait Case<const N: usize>: ElementFn<N> {
    fn unfused<A: RealArray>(&self, x: [&A; N]) -> A;
}

/// `sin(x) x + exp(x / 2)`.
struct One;

impl ElementFn<1> for One {
    fn eval<S: Real>(&self, [x]: [S; 1]) -> S {
        x.sin() * x + (x * 0.5).exp()
    }
}

impl Case<1> for One {
    fn unfused<A: RealArray>(&self, [x]: [&A; 1]) -> A {
        x.sin().mul(x).add(&x.mul_f64(0.5).exp())
    }
}

/// `a b / (1 + b^2) + tanh(a - b)`.
struct Two;

impl ElementFn<2> for Two {
    fn eval<S: Real>(&self, [a, b]: [S; 2]) -> S {
        a * b / (b * b + 1.0) + (a - b).tanh()
    }
}

impl Case<2> for Two {
    fn unfused<A: RealArray>(&self, [a, b]: [&A; 2]) -> A {
        a.mul(b).div(&b.mul(b).add_f64(1.0)).add(&a.sub(b).tanh())
    }
}

/// `a b c + ln(a^2 + 1) c - cos(b)`.
struct Three;

impl ElementFn<3> for Three {
    fn eval<S: Real>(&self, [a, b, c]: [S; 3]) -> S {
        a * b * c + (a * a + 1.0).ln() * c - b.cos()
    }
}

impl Case<3> for Three {
    fn unfused<A: RealArray>(&self, [a, b, c]: [&A; 3]) -> A {
        let abc = a.mul(b).mul(c);
        abc.add(&a.mul(a).add_f64(1.0).ln().mul(c)).sub(&b.cos())
    }
}

/// `sum_k x_k sin(x_{k+1 mod N})`: more inputs than are stored inline (5) and than one pass
/// of the reverse step handles (9).
struct Ring;

impl<const N: usize> ElementFn<N> for Ring {
    fn eval<S: Real>(&self, x: [S; N]) -> S {
        (0..N).fold(S::zero(), |acc, k| acc + x[k] * x[(k + 1) % N].sin())
    }
}

impl<const N: usize> Case<N> for Ring {
    fn unfused<A: RealArray>(&self, x: [&A; N]) -> A {
        let mut acc = x[0].mul(&x[1 % N].sin());
        for (k, xk) in x.iter().enumerate().skip(1) {
            acc = acc.add(&xk.mul(&x[(k + 1) % N].sin()));
        }
        acc
    }
}

/// How the `N` inputs are made from `x` (length `n + 2`).
#[derive(Clone, Copy, Debug)]
enum Inputs {
    /// Views and intermediates of `x`, overlapping and some repeated: input `k` is
    /// `x[0..n]`, `sin(x)[1..n+1]` (a view of an intermediate) or `x[2..] x[..n]` (an
    /// intermediate), by `k mod 3`.
    Mixed,
    /// Head and tail views of one intermediate `s = sin(x) x`: input `k` is
    /// `s[k mod 3..][..n]`. The first claim of `s`'s lazy run overlaps the other inputs' ranges.
    HeadTail,
    /// As `HeadTail` in the other order: input `k` is `s[2 - k mod 3..][..n]`.
    TailHead,
    /// Disjoint pieces of `x`: input `k` is `x[k (n + 2) / N..][..n']` (n' = (n + 2) / N).
    Disjoint,
    /// The same view of `x` for every input.
    Same,
}

fn make_inputs<A: RealArray, const N: usize>(x: &A, how: Inputs) -> [A; N] {
    let n = x.len() - 2;
    match how {
        Inputs::Mixed => {
            let s = x.sin();
            std::array::from_fn(|k| match k % 3 {
                0 => x.slice(0, 1, n),
                1 => s.slice(1, 1, n),
                _ => x.slice(2, 1, n).mul(&x.slice(0, 1, n)),
            })
        }
        Inputs::HeadTail | Inputs::TailHead => {
            let s = x.sin().mul(x);
            let tail_first = matches!(how, Inputs::TailHead);
            std::array::from_fn(|k| {
                let o = if tail_first { 2 - k % 3 } else { k % 3 };
                s.slice(o, 1, n)
            })
        }
        Inputs::Disjoint => {
            let m = (n + 2) / N;
            std::array::from_fn(|k| x.slice(k * m, 1, m))
        }
        Inputs::Same => std::array::from_fn(|_| x.slice(1, 1, n)),
    }
}

/// `sum sin(out) + 0.3 sum out` with `out` the formula of the inputs (fused or not): the map's
/// output adjoint is not uniform, and its inputs' adjoints get other contributions too.
fn objective<A: RealArray, C: Case<N>, const N: usize>(
    x: &A,
    c: &C,
    how: Inputs,
    fused: bool,
) -> A::Scalar {
    let ins: [A; N] = make_inputs(x, how);
    let refs: [&A; N] = std::array::from_fn(|k| &ins[k]);
    let out = if fused {
        A::map(refs, c)
    } else {
        c.unfused(refs)
    };
    out.sin().sum() + out.sum() * 0.3 + x.mul(x).sum() * 0.01
}

/// [`objective`], or [`sum_objective`] if `sum_only`.
fn obj<A: RealArray, C: Case<N>, const N: usize>(
    x: &A,
    c: &C,
    how: Inputs,
    (fused, sum_only): (bool, bool),
) -> A::Scalar {
    if sum_only {
        sum_objective(x, c, how, fused)
    } else {
        objective(x, c, how, fused)
    }
}

/// `sum out + 0.01 sum x^2`, the sum fused into the map (`map_sum`) or not.
fn sum_objective<A: RealArray, C: Case<N>, const N: usize>(
    x: &A,
    c: &C,
    how: Inputs,
    fused: bool,
) -> A::Scalar {
    let ins: [A; N] = make_inputs(x, how);
    let refs: [&A; N] = std::array::from_fn(|k| &ins[k]);
    let s = if fused {
        A::map_sum(refs, c)
    } else {
        c.unfused(refs).sum()
    };
    s + x.mul(x).sum() * 0.01
}

fn point(n: usize, seed: u64) -> Vec<f64> {
    Rng::new(seed).vec(n, -1.2, 1.2)
}

#[track_caller]
fn agree(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}: differ at {i}: {x} vs {y} (scale {scale})"
        );
    }
}

/// Value and gradient on tape arrays (a first sweep leaves stale values in the pooled adjoint
/// vector; a second sweep of the same tape into the same adjoints must agree).
fn on_tape_arrays<C: Case<N>, const N: usize>(
    x: &[f64],
    c: &C,
    how: Inputs,
    mode: (bool, bool),
) -> (f64, Vec<f64>) {
    {
        let t = Tape::new();
        let xa = t.var_array(&point(x.len() + 5, 99));
        let _ = t.gradient(obj(&xa, c, how, mode) * 1e3);
    }
    let tape = Tape::new();
    let xa = tape.var_array(x);
    let y = obj(&xa, c, how, mode);
    let adj = tape.gradient(y);
    let g = xa.adjoints(&adj);
    let mut again = adj;
    tape.vjp_into(&[y], &[1.0], &mut again);
    assert_eq!(xa.adjoints(&again), g, "a second sweep");
    (y.value(), g)
}

/// Value and gradient on scalar `Var`s (`ndarray::Array1<Var>`).
fn on_scalar_vars<C: Case<N>, const N: usize>(
    x: &[f64],
    c: &C,
    how: Inputs,
    mode: (bool, bool),
) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let xs: Array1<Var> = tape.vars(x).into_iter().collect();
    let y = obj(&xs, c, how, mode);
    (y.value(), tape.gradient(y).wrt_all(&xs.to_vec()))
}

/// The fused map on tape arrays against the unfused formula on tape arrays and on scalar
/// `Var`s (fused and not), and its value against `Array1<f64>`; then the same for `map_sum`.
fn check_against_unfused<C: Case<N>, const N: usize>(c: &C, n: usize, how: Inputs, seed: u64) {
    let x = point(n + 2, seed);
    for sum_only in [false, true] {
        let what = format!("N = {N}, n = {n}, {how:?}, map_sum {sum_only}");
        let (v, g) = on_tape_arrays(&x, c, how, (true, sum_only));
        let (vu, gu) = on_tape_arrays(&x, c, how, (false, sum_only));
        let (vs, gs) = on_scalar_vars(&x, c, how, (false, sum_only));
        let (vsf, gsf) = on_scalar_vars(&x, c, how, (true, sum_only));
        let vf: f64 = obj(&Array1::from(x.clone()), c, how, (true, sum_only));
        for (other, name) in [
            (vu, "unfused"),
            (vs, "scalar"),
            (vsf, "scalar fused"),
            (vf, "f64"),
        ] {
            // the sums of n terms are added in different orders (four lanes, chunks, one by one)
            let tol = 1e-15 * (n as f64).sqrt().max(10.0);
            assert!(
                (v - other).abs() <= tol * v.abs().max(1.0),
                "{what}: value {v} vs {name} {other}"
            );
        }
        agree(&g, &gu, 1e-14, &format!("{what}: vs unfused tape arrays"));
        agree(&g, &gs, 1e-14, &format!("{what}: vs scalar Vars"));
        agree(&g, &gsf, 1e-14, &format!("{what}: vs scalar Vars, fused"));
    }
}

#[test]
fn gradients_match_unfused_array_ops_and_scalar_vars() {
    for (n, seed) in [(1, 1), (7, 2), (600, 3)] {
        for how in [
            Inputs::Mixed,
            Inputs::HeadTail,
            Inputs::TailHead,
            Inputs::Same,
        ] {
            check_against_unfused(&One, n, how, seed);
            check_against_unfused(&Two, n, how, seed);
            check_against_unfused(&Three, n, how, seed);
        }
    }
    for how in [
        Inputs::Mixed,
        Inputs::HeadTail,
        Inputs::TailHead,
        Inputs::Disjoint,
    ] {
        check_against_unfused(&Two, 1200, how, 4);
        check_against_unfused(&Three, 1201, how, 5);
    }
}

#[test]
fn many_inputs_match_unfused_array_ops_and_scalar_vars() {
    for how in [Inputs::Mixed, Inputs::Disjoint, Inputs::Same] {
        check_against_unfused::<Ring, 2>(&Ring, 50, how, 6);
        check_against_unfused::<Ring, 5>(&Ring, 50, how, 7);
        check_against_unfused::<Ring, 9>(&Ring, 1100, how, 8);
    }
}

#[test]
fn aliased_and_overlapping_inputs_on_the_parallel_path() {
    let n = PAR_MIN + 1000;
    check_against_unfused(&Two, n, Inputs::HeadTail, 9);
    check_against_unfused(&Two, n, Inputs::TailHead, 19);
    check_against_unfused(&Three, n, Inputs::Mixed, 10);
    check_against_unfused(&Three, n, Inputs::HeadTail, 11);
    check_against_unfused::<Ring, 3>(&Ring, 3 * PAR_MIN, Inputs::Disjoint, 12);
}

/// The objective with the map split into pieces shorter than `PAR_MIN` (one thread each).
fn in_pieces<'t>(x: &VarArray<'t>, how: Inputs, piece: usize) -> Var<'t> {
    let n = x.len() - 2;
    let ins: [VarArray; 2] = make_inputs(x, how);
    let mut y = x.mul(x).sum() * 0.01;
    let mut lo = 0;
    while lo < n {
        let len = piece.min(n - lo);
        let (a, b) = (ins[0].slice(lo, 1, len), ins[1].slice(lo, 1, len));
        let out = VarArray::map([&a, &b], &Two);
        y = y + out.sin().sum() + out.sum() * 0.3;
        lo += len;
    }
    y
}

#[test]
fn parallel_path_equals_small_pieces() {
    let n = PAR_MIN + 4321;
    let x = point(n + 2, 13);
    for how in [Inputs::HeadTail, Inputs::TailHead, Inputs::Mixed] {
        let (v, g) = on_tape_arrays(&x, &Two, how, (true, false));
        let tape = Tape::new();
        let xa = tape.var_array(&x);
        let y = in_pieces(&xa, how, 10_000);
        let gp = xa.adjoints(&tape.gradient(y));
        assert!((y.value() - v).abs() <= 1e-12 * v.abs(), "{how:?}: value");
        agree(&g, &gp, 1e-14, &format!("{how:?}: parallel vs pieces"));
    }
}

#[test]
fn gradient_matches_central_finite_differences() {
    fn check<C: Case<N>, const N: usize>(c: &C, how: Inputs, seed: u64) {
        let x = point(40, seed);
        let t = Rng::new(seed + 100).vec(x.len(), -1.0, 1.0);
        for sum_only in [false, true] {
            let (_, g) = on_tape_arrays(&x, c, how, (true, sum_only));
            let f = |s: f64| -> f64 {
                let xs: Vec<f64> = x.iter().zip(&t).map(|(a, b)| a + s * b).collect();
                obj(&Array1::from(xs), c, how, (true, sum_only))
            };
            let h = 1e-3;
            let fd = (-f(2.0 * h) + 8.0 * f(h) - 8.0 * f(-h) + f(-2.0 * h)) / (12.0 * h);
            let ad: f64 = g.iter().zip(&t).map(|(a, b)| a * b).sum();
            assert!(
                (ad - fd).abs() <= 1e-9 * fd.abs().max(1.0),
                "N = {N}, {how:?}, map_sum {sum_only}: AD {ad} vs FD {fd}"
            );
        }
    }
    for (k, how) in [Inputs::Mixed, Inputs::TailHead, Inputs::Same]
        .into_iter()
        .enumerate()
    {
        let s = 20 + 10 * k as u64;
        check(&One, how, s);
        check(&Two, how, s + 1);
        check(&Three, how, s + 2);
        check::<Ring, 5>(&Ring, how, s + 3);
    }
}

#[test]
fn ndarray_f64_and_dual_match_tape_arrays() {
    let x = point(300, 14);
    let t = Rng::new(15).vec(x.len(), -1.0, 1.0);
    let how = Inputs::Mixed;
    let (v, g) = on_tape_arrays(&x, &Three, how, (true, false));
    // f64: the same value
    let vf = objective(&Array1::from(x.clone()), &Three, how, true);
    assert!((vf - v).abs() <= 1e-14 * v.abs());
    // Dual<1>: the value and the directional derivative g . t
    let xd: Array1<Dual<1>> = Dual::along(&x, &t).into_iter().collect();
    let yd = objective(&xd, &Three, how, true);
    let gt: f64 = g.iter().zip(&t).map(|(a, b)| a * b).sum();
    assert!((yd.v - v).abs() <= 1e-14 * v.abs());
    assert!((yd.d[0] - gt).abs() <= 1e-13 * gt.abs().max(1.0));
    // the map's output element by element: VarArray values = Array1<f64> = Array1<Dual> values
    let tape = Tape::new();
    let xa = tape.var_array(&x);
    let ins: [VarArray; 3] = make_inputs(&xa, how);
    let out = VarArray::map([&ins[0], &ins[1], &ins[2]], &Three);
    let xf = Array1::from(x.clone());
    let insf: [Array1<f64>; 3] = make_inputs(&xf, how);
    let outf = RealArray::map([&insf[0], &insf[1], &insf[2]], &Three);
    let insd: [Array1<Dual<1>>; 3] = make_inputs(&xd, how);
    let outd = RealArray::map([&insd[0], &insd[1], &insd[2]], &Three);
    assert_eq!(out.len(), outf.len());
    for (i, ((&a, &b), d)) in out.values().iter().zip(&outf).zip(&outd).enumerate() {
        assert_eq!(a, b, "element {i}");
        assert_eq!(d.v, b, "element {i}");
    }
}

#[test]
fn constant_inputs_get_no_adjoint_and_record_nothing_alone() {
    let x = point(30, 16);
    let w = point(30, 17);
    // reference: w as constant scalars
    let reference = {
        let tape = Tape::new();
        let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
        let ws: Array1<Var> = w.iter().map(|&v| Var::constant(v)).collect();
        let y = RealArray::map([&xs, &ws], &Two).sin().sum();
        tape.gradient(y).wrt_all(&xs.to_vec())
    };
    for swap in [false, true] {
        let tape = Tape::new();
        let xa = tape.var_array(&x);
        let wa = VarArray::constant(&w);
        let out = if swap {
            VarArray::map([&wa, &xa], &Swapped(Two))
        } else {
            VarArray::map([&xa, &wa], &Two)
        };
        let g = xa.adjoints(&tape.gradient(out.sin().sum()));
        agree(&g, &reference, 1e-14, "constant second input");
    }
    // only constants: nothing recorded, a constant array with the f64 values
    let tape = Tape::new();
    let _ = tape.var(1.0);
    let (a, b) = (VarArray::constant(&x), VarArray::constant(&w));
    let out = VarArray::map([&a, &b], &Two);
    assert_eq!(tape.len(), 1);
    assert!(out.tape().is_none());
    let plain = RealArray::map([&Array1::from(x.clone()), &Array1::from(w.clone())], &Two);
    assert_eq!(out.values(), plain.as_slice().unwrap());
    let y = VarArray::map_sum([&a, &b], &Two);
    assert_eq!(tape.len(), 1);
    assert!(y.tape().is_none());
    assert!((y.value() - plain.sum()).abs() <= 1e-14 * plain.sum().abs());
    // no inputs: empty
    let none: [&VarArray; 0] = [];
    assert!(VarArray::map(none, &Unit).is_empty());
    assert_eq!(VarArray::map_sum(none, &Unit).value(), 0.0);
    let none: [&Array1<f64>; 0] = [];
    assert!(RealArray::map(none, &Unit).is_empty());
}

/// The constant 1, for any number of inputs.
struct Unit;

impl<const N: usize> ElementFn<N> for Unit {
    fn eval<S: Real>(&self, _: [S; N]) -> S {
        S::one()
    }
}

/// `f(b, a)`: the same formula with its inputs swapped.
struct Swapped<F>(F);

impl<F: ElementFn<2>> ElementFn<2> for Swapped<F> {
    fn eval<S: Real>(&self, [a, b]: [S; 2]) -> S {
        self.0.eval([b, a])
    }
}

#[test]
fn reused_adjoints_and_an_escaped_output() {
    // the map's output also reached by scalar code (escaped: not lazy) and adjoints reused
    let x = point(25, 18);
    let reference = {
        let tape = Tape::new();
        let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
        let out = RealArray::map([&xs, &xs.sin()], &Two);
        let y = out.sum() + out[3] * out[4];
        tape.gradient(y).wrt_all(&xs.to_vec())
    };
    let mut adj = Adjoints::default();
    let mut tape = Tape::new();
    for round in 0..2 {
        tape.clear();
        let xa = tape.var_array(&x);
        let out = VarArray::map([&xa, &xa.sin()], &Two);
        let y = out.sum() + out.get(3) * out.get(4);
        tape.vjp_into(&[y], &[1.0], &mut adj);
        agree(
            &xa.adjoints(&adj),
            &reference,
            1e-14,
            &format!("round {round}"),
        );
    }
}

#[test]
#[should_panic(expected = "map: arrays of lengths 5 and 4")]
fn mismatched_lengths_panic_on_tape_arrays() {
    let tape = Tape::new();
    let a = tape.var_array(&[1.0; 5]);
    let b = tape.var_array(&[1.0; 4]);
    let _ = VarArray::map([&a, &b], &Two);
}

#[test]
#[should_panic(expected = "map_sum: arrays of lengths 5 and 4")]
fn mismatched_lengths_panic_in_map_sum() {
    let tape = Tape::new();
    let a = tape.var_array(&[1.0; 5]);
    let b = VarArray::constant(&[1.0; 4]);
    let _ = VarArray::map_sum([&a, &b], &Two);
}

#[test]
#[should_panic(expected = "map: arrays of lengths 5 and 4")]
fn mismatched_lengths_panic_on_ndarray() {
    let a = Array1::from(vec![1.0; 5]);
    let b = Array1::from(vec![1.0; 4]);
    let _ = RealArray::map([&a, &b], &Two);
}

#[test]
#[should_panic(expected = "two different tapes")]
fn inputs_on_two_tapes_panic() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let a = t1.var_array(&[1.0; 3]);
    let b = t2.var_array(&[1.0; 3]);
    let _ = VarArray::map([&a, &b], &Two);
}
