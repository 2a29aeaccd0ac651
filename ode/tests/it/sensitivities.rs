//! All sensitivity methods agree with each other (to round-off: all are exact derivatives of
//! the same numerical solution) and with finite differences of the f64 solve (the shared
//! gradient checker, `ad_core::testing::check_function`).

use crate::common::*;
use ad_core::testing::check_function;
use ad_core::{Dual, Function, Real, Tape};
use ode::{solve, vjp, Method, Options, Sensitivity};

const SENS: [Sensitivity; 4] = [
    Sensitivity::Auto,
    Sensitivity::Forward,
    Sensitivity::DiscreteAdjoint { checkpoints: 3 },
    Sensitivity::DiscreteAdjoint { checkpoints: 1000 },
];

const METHODS: [Method; 3] = [Method::Rk4 { dt: 0.01 }, Method::Dopri5, Method::Tsit5];

fn opts(method: Method, sensitivity: Sensitivity, tol: f64) -> Options {
    Options {
        method,
        rtol: tol,
        atol: tol,
        sensitivity,
        // the methods are compared with each other and with the f64 solve, exactly: that
        // needs the f64 solve's steps, i.e. the error test on the state alone
        derivative_error_control: false,
        ..Default::default()
    }
}

/// Lotka-Volterra on [0, 3] saved at a few times, as a function of x = (y0, p).
struct LvSolve(Options);

impl Function for LvSolve {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let save_at = [0.0, 0.5, 1.25, 2.0, 3.0];
        let sol = solve(&LotkaVolterra, &x[..2], &x[2..], 0.0, &save_at, &self.0).unwrap();
        sol.y.into_iter().flatten().collect()
    }
}

const X: [f64; 6] = [1.0, 1.0, 1.5, 1.0, 1.0, 3.0];

#[test]
fn sensitivity_methods_agree_with_each_other() {
    let save_at = [0.0, 0.5, 1.25, 2.0, 3.0];
    let mut rng = ad_core::testing::Rng::new(7);
    let y_bar: Vec<Vec<f64>> = (0..save_at.len()).map(|_| rng.vec(2, -1.0, 1.0)).collect();
    for method in METHODS {
        let mut grads = Vec::new();
        for sens in SENS {
            let g = vjp(
                &LotkaVolterra,
                &X[..2],
                &X[2..],
                0.0,
                &save_at,
                &opts(method, sens, 1e-8),
                &y_bar,
            )
            .unwrap();
            let mut v = g.y0_bar.clone();
            v.extend(&g.p_bar);
            grads.push(v);
        }
        // a Dual<6> solve: the tangents of all six inputs at once
        let x: Vec<Dual<6>> = (0..6).map(|i| Dual::variable(X[i], i)).collect();
        let o = opts(method, Sensitivity::Auto, 1e-8);
        let sol = solve(&LotkaVolterra, &x[..2], &x[2..], 0.0, &save_at, &o).unwrap();
        let mut dual = vec![0.0; 6];
        for (yk, yb) in sol.y.iter().zip(&y_bar) {
            for (v, b) in yk.iter().zip(yb) {
                for (d, t) in dual.iter_mut().zip(&v.d) {
                    *d += b * t;
                }
            }
        }
        grads.push(dual);
        for g in &grads[1..] {
            for (a, b) in g.iter().zip(&grads[0]) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{method:?}: {g:?} vs {:?}",
                    grads[0]
                );
            }
        }
    }
}

#[test]
fn gradient_checker_against_finite_differences() {
    for method in METHODS {
        for sens in SENS {
            let f = LvSolve(opts(method, sens, 1e-11));
            for seed in 0..2 {
                let c = check_function(&f, &X, seed);
                let e = c.error(1.0);
                // FD of an adaptive solve sees step-size switches of size ~tol: 1e-11 / 1e-3
                assert!(
                    e < 1e-6,
                    "{method:?} {sens:?} seed {seed}: {c:?} (error {e:.2e})"
                );
            }
        }
    }
}

#[test]
fn var_and_dual_inputs_match_f64_values() {
    let save_at = [0.0, 1.0, 2.5];
    for method in METHODS {
        for sens in SENS {
            let o = opts(method, sens, 1e-9);
            let plain = solve(&LotkaVolterra, &X[..2], &X[2..], 0.0, &save_at, &o).unwrap();
            let tape = Tape::new();
            let x = tape.vars(&X);
            let var = solve(&LotkaVolterra, &x[..2], &x[2..], 0.0, &save_at, &o).unwrap();
            assert_eq!(plain.stats, var.stats);
            for (a, b) in plain.y.iter().flatten().zip(var.y.iter().flatten()) {
                assert!((a - b.value()).abs() <= 1e-14 * a.abs(), "{a} vs {b}");
            }
        }
    }
}

#[test]
fn only_some_inputs_on_the_tape() {
    // y0 constant, p on the tape: the gradient w.r.t. p matches the all-Var one
    let save_at = [1.0, 2.0];
    let o = opts(
        Method::Tsit5,
        Sensitivity::DiscreteAdjoint { checkpoints: 4 },
        1e-9,
    );
    let tape = Tape::new();
    let p = tape.vars(&X[2..]);
    let y0 = [ad_core::Var::constant(1.0), ad_core::Var::constant(1.0)];
    let sol = solve(&LotkaVolterra, &y0, &p, 0.0, &save_at, &o).unwrap();
    let loss = w3_loss(&sol.y);
    let g1 = tape.gradient(loss).wrt_all(&p);
    let y_bar: Vec<Vec<f64>> = sol
        .y
        .iter()
        .map(|y| y.iter().map(|v| 2.0 * v.value()).collect())
        .collect();
    let g2 = vjp(&LotkaVolterra, &X[..2], &X[2..], 0.0, &save_at, &o, &y_bar).unwrap();
    for (a, b) in g1.iter().zip(&g2.p_bar) {
        assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0));
    }
}

#[test]
fn continuous_adjoint_agrees_to_the_tolerance() {
    let save_at = [0.0, 0.5, 1.25, 2.0, 3.0];
    let mut rng = ad_core::testing::Rng::new(11);
    let y_bar: Vec<Vec<f64>> = (0..save_at.len()).map(|_| rng.vec(2, -1.0, 1.0)).collect();
    for method in METHODS {
        let tol = if matches!(method, Method::Rk4 { .. }) {
            1e-8
        } else {
            1e-10
        };
        let run = |sens| {
            let g = vjp(
                &LotkaVolterra,
                &X[..2],
                &X[2..],
                0.0,
                &save_at,
                &opts(method, sens, tol),
                &y_bar,
            )
            .unwrap();
            let mut v = g.y0_bar.clone();
            v.extend(&g.p_bar);
            (v, g.adjoint)
        };
        let (exact, _) = run(Sensitivity::Forward);
        for c in [2, 1000] {
            let (cont, stats) = run(Sensitivity::InterpolatingAdjoint { checkpoints: c });
            println!("{method:?} c = {c}: {stats:?}");
            assert!(stats.forward_checkpoints <= c && stats.adjoint_steps > 0);
            for (a, b) in cont.iter().zip(&exact) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{method:?}: {cont:?} vs {exact:?}"
                );
            }
        }
    }
}
