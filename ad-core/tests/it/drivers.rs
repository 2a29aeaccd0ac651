//! The drivers (`gradient`, `jacobian`, `vjp`, `jvp`, `hessian_vector_product`,
//! `par_gradients`) against finite differences and analytic derivatives, and the tape's
//! contract: reuse after `clear`, constants, mixing tapes, bytes per recorded operation.

use std::sync::Mutex;

use crate::common::{assert_all_close, assert_close, dot, fd_directional, fd_jacobian};
use ad_core::testing::Rng;
use ad_core::{
    gradient, hessian_vector_product, jacobian, jvp, par_gradients, vjp, Function, Real, Tape, Var,
};
use num_traits::Float;
use proptest::prelude::*;

/// `m` outputs of `n` inputs, mixing every input into every output; remembers the scalar types
/// it was evaluated with.
struct Mixer {
    n: usize,
    m: usize,
    types: Mutex<Vec<&'static str>>,
}

impl Mixer {
    fn new(n: usize, m: usize) -> Self {
        Mixer {
            n,
            m,
            types: Mutex::new(Vec::new()),
        }
    }

    /// Whether it was evaluated on a type whose name contains `name`.
    fn saw(&self, name: &str) -> bool {
        self.types.lock().unwrap().iter().any(|t| t.contains(name))
    }
}

impl Function for Mixer {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        self.types.lock().unwrap().push(std::any::type_name::<S>());
        assert_eq!(x.len(), self.n);
        (0..self.m)
            .map(|i| {
                let w = |j: usize| ((i * 7 + j * 3) % 5) as f64 * 0.3 - 0.5;
                let lin: S = x.iter().enumerate().map(|(j, &xj)| xj * w(j)).sum();
                (lin + x[i % self.n]).sin() * x[(i + 1) % self.n] + lin * lin * 0.1
            })
            .collect()
    }
}

fn point(n: usize, seed: u64) -> Vec<f64> {
    Rng::new(seed).vec(n, -1.0, 1.0)
}

#[test]
fn jacobian_in_forward_mode_when_inputs_are_fewer() {
    // n <= m: forward mode with Dual<8>; n = 10 needs two chunks of directions.
    for (n, m) in [(3, 5), (4, 4), (10, 12)] {
        let f = Mixer::new(n, m);
        let x = point(n, n as u64);
        let (y, jac) = jacobian(&f, &x);
        assert!(
            f.saw("Dual") && !f.saw("Var"),
            "n = {n}, m = {m}: forward mode expected"
        );
        assert_eq!(y, f.eval(&x));
        let fd = fd_jacobian(|x| f.eval(x), &x, 1e-3);
        for i in 0..m {
            assert_all_close(&format!("({n}, {m}) row {i} vs FD"), &jac[i], &fd[i], 1e-8);
            let mut c = vec![0.0; m];
            c[i] = 1.0;
            let (_, row) = vjp(&f, &x, &c);
            assert_all_close(&format!("({n}, {m}) row {i} vs vjp"), &jac[i], &row, 1e-13);
        }
    }
}

#[test]
fn jacobian_in_reverse_mode_when_outputs_are_fewer() {
    for (n, m) in [(5, 2), (12, 1), (9, 8)] {
        let f = Mixer::new(n, m);
        let x = point(n, 100 + n as u64);
        let (y, jac) = jacobian(&f, &x);
        assert!(
            f.saw("Var") && !f.saw("Dual"),
            "n = {n}, m = {m}: reverse mode expected"
        );
        assert_eq!(y, f.eval(&x));
        let fd = fd_jacobian(|x| f.eval(x), &x, 1e-3);
        for j in 0..n {
            let mut t = vec![0.0; n];
            t[j] = 1.0;
            let (_, col) = jvp(&f, &x, &t);
            for i in 0..m {
                assert_close(
                    &format!("({n}, {m}) J[{i}][{j}] vs FD"),
                    jac[i][j],
                    fd[i][j],
                    1e-8,
                );
                assert_close(
                    &format!("({n}, {m}) J[{i}][{j}] vs jvp"),
                    jac[i][j],
                    col[i],
                    1e-13,
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `<c, J t>` three ways: `jvp`, `vjp` and a finite difference along `t`.
    #[test]
    fn vjp_and_jvp_agree_with_a_directional_difference(
        n in 1usize..6,
        m in 1usize..6,
        seed in any::<u64>(),
    ) {
        let f = Mixer::new(n, m);
        let mut rng = Rng::new(seed);
        let x = rng.vec(n, -1.0, 1.0);
        let t = rng.vec(n, -1.0, 1.0);
        let c = rng.vec(m, -1.0, 1.0);
        let (y1, jt) = jvp(&f, &x, &t);
        let (y2, jtc) = vjp(&f, &x, &c);
        let y = f.eval(&x);
        prop_assert_eq!(&y1, &y);
        prop_assert_eq!(&y2, &y);
        let fd = fd_directional(|x| f.eval(x), &x, &t, 1e-3);
        assert_close("c.Jt (jvp) vs FD", dot(&c, &jt), dot(&c, &fd), 1e-8);
        assert_close("(J^T c).t (vjp) vs jvp", dot(&jtc, &t), dot(&c, &jt), 1e-13);
    }
}

// ---------------------------------------------------------------- Hessian-vector products

/// `x0^2 x1 + sin(x1 x2) + exp(x0) x2^3`, with its Hessian written out.
struct Analytic;

impl Function for Analytic {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        vec![x[0] * x[0] * x[1] + (x[1] * x[2]).sin() + x[0].exp() * x[2].powi(3)]
    }
}

fn analytic_hessian(x: &[f64]) -> [[f64; 3]; 3] {
    let (e, s, c) = (x[0].exp(), (x[1] * x[2]).sin(), (x[1] * x[2]).cos());
    let h01 = 2.0 * x[0];
    let h02 = 3.0 * e * x[2] * x[2];
    let h12 = c - x[1] * x[2] * s;
    [
        [2.0 * x[1] + e * x[2].powi(3), h01, h02],
        [h01, -x[2] * x[2] * s, h12],
        [h02, h12, -x[1] * x[1] * s + 6.0 * e * x[2]],
    ]
}

/// A scalar function touching most of the derivative table, for second derivatives.
struct ManyOps;

impl Function for ManyOps {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let (a, b, c) = (x[0], x[1], x[2]);
        let terms = [
            a.tan() * b.exp2() + c.exp_m1(),
            (a * a + 1.0).ln() * b.log2().max(b.log10()) + c.ln_1p(),
            (a * 0.5).asin() + (b * 0.3).acos() * c.atan(),
            a.sinh() * b.cosh() - c.tanh() + a.asinh() + (b + 2.0).acosh() + (c * 0.5).atanh(),
            a.powf(b) + b.powi(-2) * c.powi(3) + c.sqrt() * a.cbrt() + b.recip(),
            a.atan2(b) * c.hypot(a) + a.log(b + 1.0) + a.mul_add(b, c * c),
            a.sin_cos().0 * b.sin_cos().1 + (a / b) * (c - a) + c.abs() * b.to_degrees(),
            // No ties and no kinks on the domain used below.
            a.min(b) * (c * 0.5).max(a + 0.5) + (a * b + 2.0).abs_sub(c),
        ];
        vec![terms.into_iter().sum()]
    }
}

/// The gradient by reverse mode.
fn grad<F: Function>(f: &F, x: &[f64]) -> Vec<f64> {
    vjp(f, x, &[1.0]).1
}

#[test]
fn hessian_vector_product_matches_the_analytic_hessian() {
    let x = [0.4, -1.2, 0.9];
    let h = analytic_hessian(&x);
    for v in [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.3, -0.7, 1.1],
    ] {
        let hv = hessian_vector_product(&Analytic, &x, &v);
        let want: Vec<f64> = h.iter().map(|row| dot(row, &v)).collect();
        assert_all_close(&format!("H v, v = {v:?}"), &hv, &want, 1e-14);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `H v` against a fourth-order difference of the gradient along `v`.
    #[test]
    fn hessian_vector_product_matches_a_difference_of_the_gradient(
        x in (0.3..1.0f64, 1.2..2.0f64, 0.3..1.5f64),
        seed in any::<u64>(),
    ) {
        let x = [x.0, x.1, x.2];
        let v = Rng::new(seed).vec(3, -1.0, 1.0);
        let hv = hessian_vector_product(&ManyOps, &x, &v);
        let fd = fd_directional(|x| grad(&ManyOps, x), &x, &v, 1e-3);
        for i in 0..3 {
            assert_close(&format!("ManyOps (H v)[{i}] at {x:?}"), hv[i], fd[i], 1e-6);
        }
        let hv = hessian_vector_product(&Analytic, &x, &v);
        let fd = fd_directional(|x| grad(&Analytic, x), &x, &v, 1e-3);
        for i in 0..3 {
            assert_close(&format!("Analytic (H v)[{i}] at {x:?}"), hv[i], fd[i], 1e-7);
        }
    }
}

// ---------------------------------------------------------------- gradient, par_gradients

fn rosenbrock<S: Real>(x: &[S]) -> S {
    x.windows(2)
        .map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + (S::one() - w[0]).powi(2))
        .sum()
}

fn rosenbrock_gradient(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut g = vec![0.0; n];
    for i in 0..n - 1 {
        let r = x[i + 1] - x[i] * x[i];
        g[i] += -400.0 * x[i] * r - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * r;
    }
    g
}

#[test]
fn gradient_matches_the_analytic_gradient() {
    let x: Vec<f64> = (0..50).map(|i| 1.0 + 0.5 * (i as f64).sin()).collect();
    let (v, g) = gradient(|x| rosenbrock(x), &x);
    assert_eq!(v, rosenbrock(&x));
    assert_all_close("rosenbrock gradient", &g, &rosenbrock_gradient(&x), 1e-13);
}

#[test]
fn par_gradients_equals_sequential_gradients() {
    let points: Vec<Vec<f64>> = (0..64).map(|k| point(7, k)).collect();
    let par = par_gradients(|x| rosenbrock(x), &points);
    assert_eq!(par.len(), points.len());
    for (x, got) in points.iter().zip(&par) {
        let want = gradient(|x| rosenbrock(x), x);
        assert_eq!(
            got, &want,
            "results must come back in input order, bit for bit"
        );
    }
}

// ---------------------------------------------------------------- the tape's contract

#[test]
fn a_cleared_tape_records_afresh() {
    let mut tape = Tape::new();
    let first = {
        let x = tape.vars(&[0.3, 0.8]);
        let y = rosenbrock(&x) * x[0].sin();
        tape.gradient(y).wrt_all(&x)
    };
    assert!(!tape.is_empty());
    tape.clear();
    assert!(tape.is_empty());
    assert_eq!((tape.len(), tape.bytes(), tape.operands()), (0, 0, 0));
    for xs in [[-1.1, 0.5], [0.3, 0.8]] {
        let reused = {
            let x = tape.vars(&xs);
            let y = rosenbrock(&x) * x[0].sin();
            tape.gradient(y).wrt_all(&x)
        };
        let fresh = Tape::new();
        let x = fresh.vars(&xs);
        let y = rosenbrock(&x) * x[0].sin();
        assert_eq!(reused, fresh.gradient(y).wrt_all(&x));
        assert_eq!(tape.len(), fresh.len());
        tape.clear();
    }
    let x = tape.vars(&[0.3, 0.8]);
    let y = rosenbrock(&x) * x[0].sin();
    assert_eq!(tape.gradient(y).wrt_all(&x), first);
}

#[test]
fn adjoints_of_constants_are_zero() {
    let tape = Tape::new();
    let x = tape.var(2.0);
    let c = Var::constant(3.0);
    let y = x * c + c.sin() + Var::from(1.5) * x;
    let adj = tape.gradient(y);
    assert_eq!(adj.wrt(c), 0.0);
    assert_eq!(adj.wrt(Var::constant(0.0)), 0.0);
    assert_eq!(adj.wrt(<Var as num_traits::Zero>::zero()), 0.0);
    assert_eq!(adj.wrt(x), 4.5);
    // The gradient of a constant output is zero everywhere.
    assert_eq!(tape.gradient(c * c).wrt(x), 0.0);
}

#[test]
#[should_panic(expected = "two different tapes")]
fn mixing_vars_of_two_tapes_in_an_operation_panics() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.var(1.0) * t2.var(2.0);
}

#[test]
#[should_panic(expected = "two different tapes")]
fn mixing_vars_of_two_tapes_in_a_sum_panics() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _: Var = [t1.var(1.0), t2.var(2.0)].into_iter().sum();
}

#[test]
#[should_panic(expected = "another tape")]
fn mixing_vars_of_two_tapes_in_mul_add_panics() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.var(1.0).mul_add(t2.var(2.0), t1.var(3.0));
}

#[test]
#[should_panic(expected = "another tape")]
fn reading_the_adjoint_of_a_var_of_another_tape_panics() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let x = t1.var(1.0);
    let adj = t1.gradient(x * x);
    let _ = adj.wrt(t2.var(1.0));
}

#[test]
#[should_panic(expected = "another tape")]
fn sweeping_an_output_of_another_tape_panics() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _x = t1.var(1.0);
    let y = t2.var(1.0);
    let _ = t1.gradient(y * y);
}

/// Bytes the tape grows by per operation recorded by `op` (1000 operations).
fn bytes_per_op(op: for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>) -> f64 {
    let tape = Tape::new();
    let x = tape.vars(&[0.5, 0.25]);
    let (mut a, b) = (x[0], x[1]);
    let (bytes0, len0) = (tape.bytes(), tape.len());
    for _ in 0..1000 {
        a = op(a, b);
    }
    assert_eq!(tape.len(), len0 + 1000, "one node per operation");
    (tape.bytes() - bytes0) as f64 / 1000.0
}

#[test]
fn tape_bytes_per_recorded_operation() {
    let binary: [for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>; 4] =
        [|a, b| a * b, |a, b| a + b, |a, b| a / b, |a, b| a.atan2(b)];
    for op in binary {
        let bytes = bytes_per_op(op);
        assert!(bytes <= 24.0, "binary operation: {bytes} bytes");
    }
    let unary: [for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>; 4] =
        [|a, _| a.sin(), |a, _| a * 0.5, |a, _| a.powi(3), |a, _| -a];
    for op in unary {
        let bytes = bytes_per_op(op);
        assert!(bytes <= 12.0, "unary operation: {bytes} bytes");
    }
}

#[test]
fn inputs_created_between_operations() {
    let tape = Tape::new();
    let a = tape.var(1.5);
    let b = a.sin() * a;
    assert!(tape.vars(&[]).is_empty());
    let c = tape.var(-0.5);
    let d = b * c + c.exp();
    let e = tape.vars(&[2.0, 3.0]);
    let y = d * e[0] + e[1] * a;
    let adj = tape.gradient(y);
    let (av, bv, cv) = (1.5f64, 1.5f64.sin() * 1.5, -0.5f64);
    let want = [
        2.0 * cv * (av.cos() * av + av.sin()) + 3.0,
        2.0 * (bv + cv.exp()),
        bv * cv + cv.exp(),
        av,
    ];
    let got = [adj.wrt(a), adj.wrt(c), adj.wrt(e[0]), adj.wrt(e[1])];
    assert_all_close("interleaved inputs", &got, &want, 1e-15);
}

#[test]
fn a_sum_records_one_node() {
    let tape = Tape::new();
    let xs: Vec<f64> = (0..100).map(|i| i as f64 * 0.1).collect();
    let x = tape.vars(&xs);
    let (n0, ops0) = (tape.len(), tape.operands());
    let s: Var = x.iter().sum();
    assert_eq!(tape.len(), n0 + 1);
    assert_eq!(tape.operands(), ops0 + 100);
    let y = s * s;
    let adj = tape.gradient(y);
    let want = vec![2.0 * xs.iter().sum::<f64>(); 100];
    assert_all_close("d (sum x)^2 / dx", &adj.wrt_all(&x), &want, 1e-15);
}

#[test]
fn second_directional_derivative_by_nested_duals() {
    use ad_core::Dual;
    let x = [0.4, -1.2, 0.9];
    let v = [0.3, -0.7, 1.1];
    let xs: Vec<Dual<1, Dual<1>>> = x
        .iter()
        .zip(&v)
        .map(|(&xi, &vi)| Dual::new(Dual::new(xi, [vi]), [Dual::new(vi, [0.0])]))
        .collect();
    let y = Analytic.eval(&xs)[0];
    let h = analytic_hessian(&x);
    let hv: Vec<f64> = h.iter().map(|row| dot(row, &v)).collect();
    let g = grad(&Analytic, &x);
    assert_eq!(y.v.v, Analytic.eval(&x)[0]);
    assert_close("grad . v (inner)", y.v.d[0], dot(&g, &v), 1e-14);
    assert_close("grad . v (outer)", y.d[0].v, dot(&g, &v), 1e-14);
    assert_close("v^T H v", y.d[0].d[0], dot(&v, &hv), 1e-14);
}

#[test]
fn hessian_vector_product_of_a_linear_function_is_zero() {
    struct Linear;
    impl Function for Linear {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            vec![x[0] * 2.0 - x[1] * 0.5 + x[2]]
        }
    }
    let hv = hessian_vector_product(&Linear, &[1.0, 2.0, 3.0], &[0.5, -1.0, 2.0]);
    assert_eq!(hv, vec![0.0; 3]);
}
