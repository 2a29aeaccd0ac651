//! Stiff sensitivities through `ode::solve`: W4's loss and gradient against BENCHMARKS.md, and
//! forward (Dual) and reverse (Var) derivatives against finite differences of the f64 solve.

use crate::stiff_zoo::*;
use ad_core::testing::check_function;
use ad_core::{Function, Real, Tape};
use ode::{solve, Method, Options};

fn w4_opts(method: Method) -> Options {
    Options {
        method,
        rtol: 1e-8,
        atol: 1e-12,
        ..Default::default()
    }
}

fn w4_gradient(method: Method) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let p = tape.vars(&ROBER_P);
    let y0 = tape.vars(&ROBER_Y0);
    let sol = solve(&Robertson, &y0, &p, 0.0, &[1e5], &w4_opts(method)).unwrap();
    let loss = w4_loss(&sol.y[0]);
    let g = tape.gradient(loss);
    let grad: Vec<f64> = p.iter().chain(&y0).map(|v| g.wrt(*v)).collect();
    (loss.value(), grad)
}

fn assert_w4(method: Method) {
    let (loss, g) = w4_gradient(method);
    let norm = W4_GRAD.iter().map(|v| v * v).sum::<f64>().sqrt();
    eprintln!("{method:?}: loss {loss:.10} grad {g:?}");
    assert!((loss - W4_LOSS).abs() <= 1e-5 * W4_LOSS, "loss {loss}");
    for (i, (a, b)) in g.iter().zip(&W4_GRAD).enumerate() {
        // the components wrt k2 and k3 are tiny (1e-9, 1e-6): each within 1e-3 of itself
        let tol = if i == 1 || i == 2 {
            1e-3 * b.abs()
        } else {
            1e-4 * norm
        };
        assert!((a - b).abs() <= tol, "component {i}: {a} vs {b}");
    }
}

#[test]
fn w4_loss_and_gradient_bdf() {
    assert_w4(Method::Bdf);
}

#[test]
fn w4_loss_and_gradient_rodas4() {
    assert_w4(Method::Rodas4);
}

/// Robertson on `[0, T]` as a function of `x = (y0 offsets, log-rate offsets)`:
/// `y0 = (x0, 1e-5 (1 + x1), x2)` (a negative `y2` would blow up) and `k_i = K_i e^{x_{3+i}}`, so a
/// finite-difference step of 1e-3 is a relative change of the rates.
struct RobertsonMap {
    method: Method,
    t_end: f64,
}

impl Function for RobertsonMap {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let p: Vec<S> = (0..3).map(|i| x[3 + i].exp() * ROBER_P[i]).collect();
        let opts = Options {
            rtol: 1e-11,
            atol: 1e-14,
            ..w4_opts(self.method)
        };
        let save = [0.1 * self.t_end, self.t_end];
        let y0 = [x[0], (x[1] + 1.0) * 1e-5, x[2]];
        let sol = solve(&Robertson, &y0, &p, 0.0, &save, &opts).unwrap();
        // scale y2 (about 1e-5) up so every component counts
        sol.y
            .iter()
            .flat_map(|y| [y[0], y[1] * 1e4, y[2]])
            .collect()
    }
}

#[test]
fn robertson_sensitivities_match_finite_differences() {
    let x = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    for (seed, method) in [
        (0, Method::Bdf),
        (1, Method::Bdf),
        (2, Method::Rodas4),
        (3, Method::Rodas4),
    ] {
        let f = RobertsonMap {
            method,
            t_end: 40.0,
        };
        let c = check_function(&f, &x, seed);
        eprintln!("{method:?} {c:?}");
        c.assert_close(1e-5);
        // forward (Dual) and reverse (Var) are products with the same Jacobian
        assert!((c.forward - c.reverse).abs() <= 1e-12 * c.forward.abs().max(1.0));
    }
}

struct LinearMap;

impl Function for LinearMap {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let opts = Options {
            rtol: 1e-11,
            atol: 1e-13,
            ..w4_opts(Method::Bdf)
        };
        let p = [S::cst(1e3) * x[2].exp(), S::cst(50.0) * x[3].exp()];
        let sol = solve(&LinearStiff, &x[..2], &p, 0.0, &[0.5, 2.0], &opts).unwrap();
        sol.y.concat()
    }
}

#[test]
fn linear_stiff_sensitivities_match_finite_differences() {
    for seed in 0..3 {
        let c = check_function(&LinearMap, &[0.3, -0.2, 0.0, 0.0], seed);
        eprintln!("{c:?}");
        c.assert_close(1e-6);
    }
}

#[test]
fn vjp_agrees_with_the_tape() {
    let opts = w4_opts(Method::Bdf);
    let g = ode::vjp(
        &Robertson,
        &ROBER_Y0,
        &ROBER_P,
        0.0,
        &[1e5],
        &opts,
        &[vec![1.0, 2e4, 3.0]],
    )
    .unwrap();
    let (_, grad) = w4_gradient(Method::Bdf);
    for i in 0..3 {
        assert!((g.p_bar[i] - grad[i]).abs() <= 1e-12 * grad[i].abs().max(1e-300));
        assert!((g.y0_bar[i] - grad[3 + i]).abs() <= 1e-12 * grad[3 + i].abs());
    }
}

#[test]
fn bdf_and_rodas4_gradients_agree() {
    let opts = |method| Options {
        method,
        rtol: 1e-10,
        atol: 1e-14,
        ..Default::default()
    };
    let w = [vec![1.0, 2e4, 3.0], vec![0.5, -1e4, 1.0]];
    let save = [1.0, 1e3];
    let a = ode::vjp(
        &Robertson,
        &ROBER_Y0,
        &ROBER_P,
        0.0,
        &save,
        &opts(Method::Bdf),
        &w,
    )
    .unwrap();
    let b = ode::vjp(
        &Robertson,
        &ROBER_Y0,
        &ROBER_P,
        0.0,
        &save,
        &opts(Method::Rodas4),
        &w,
    )
    .unwrap();
    for (x, y) in a
        .p_bar
        .iter()
        .chain(&a.y0_bar)
        .zip(b.p_bar.iter().chain(&b.y0_bar))
    {
        assert!((x - y).abs() <= 1e-6 * x.abs().max(1e-12), "{x} vs {y}");
    }
}

#[test]
fn dual_inputs_give_the_forward_sensitivities() {
    use ad_core::Dual;
    // tangent along k1: compare with the Jacobian column from ode::stiff::sensitivities
    let opts = w4_opts(Method::Bdf);
    let (_, jac, _) =
        ode::stiff::sensitivities(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &[10.0], &opts).unwrap();
    let y0: Vec<Dual<1>> = ROBER_Y0.iter().map(|&v| Dual::constant(v)).collect();
    let p: Vec<Dual<1>> = (0..3)
        .map(|i| Dual::new(ROBER_P[i], [if i == 0 { 1.0 } else { 0.0 }]))
        .collect();
    let sol = solve(&Robertson, &y0, &p, 0.0, &[10.0], &opts).unwrap();
    for i in 0..3 {
        let col = jac[i * 6 + 3];
        assert!((sol.y[0][i].d[0] - col).abs() <= 1e-14 * col.abs().max(1e-300));
    }
}

#[test]
fn bdf_continuous_adjoint_agrees_with_forward_sensitivities() {
    use ode::Sensitivity;
    let base = Options {
        method: Method::Bdf,
        rtol: 1e-10,
        atol: 1e-14,
        ..Default::default()
    };
    let adj = Options {
        sensitivity: Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ..base.clone()
    };
    let w = [
        vec![1.0, 2e4, 3.0],
        vec![0.5, -1e4, 1.0],
        vec![1.0, 2e4, 3.0],
    ];
    let save = [1.0, 1e3, 1e5];
    let f = ode::vjp(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &save, &base, &w).unwrap();
    let a = ode::vjp(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &save, &adj, &w).unwrap();
    eprintln!("forward {:?} {:?}", f.p_bar, f.y0_bar);
    eprintln!("adjoint {:?} {:?} {:?}", a.p_bar, a.y0_bar, a.adjoint);
    let norm = f
        .p_bar
        .iter()
        .chain(&f.y0_bar)
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    for (x, y) in f
        .p_bar
        .iter()
        .chain(&f.y0_bar)
        .zip(a.p_bar.iter().chain(&a.y0_bar))
    {
        assert!((x - y).abs() <= 1e-6 * norm, "{x} vs {y}");
    }
}

#[test]
fn w4_with_the_stiff_adjoint_on_the_tape() {
    use ode::Sensitivity;
    let opts = Options {
        sensitivity: Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ..w4_opts(Method::Bdf)
    };
    let tape = Tape::new();
    let p = tape.vars(&ROBER_P);
    let y0 = tape.vars(&ROBER_Y0);
    let sol = solve(&Robertson, &y0, &p, 0.0, &[1e5], &opts).unwrap();
    let loss = w4_loss(&sol.y[0]);
    let g = tape.gradient(loss);
    let grad: Vec<f64> = p.iter().chain(&y0).map(|v| g.wrt(*v)).collect();
    eprintln!("adjoint W4 grad {grad:?}");
    let norm = W4_GRAD.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (a, b) in grad.iter().zip(&W4_GRAD) {
        assert!((a - b).abs() <= 1e-4 * norm, "{a} vs {b}");
    }
}

/// The linear stiff problem as a function of `(y0, log-rates)` for a given method and stiffness.
struct LinearMapOf {
    method: Method,
    lam: f64,
}

impl Function for LinearMapOf {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let opts = Options {
            method: self.method,
            rtol: 1e-10,
            atol: 1e-12,
            ..Default::default()
        };
        let p = [S::cst(self.lam) * x[2].exp(), S::cst(5.0) * x[3].exp()];
        let sol = solve(&LinearStiff, &x[..2], &p, 0.0, &[0.3, 1.0], &opts).unwrap();
        sol.y.concat()
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Random stiffness, initial state, tangent and cotangent: forward (Dual) and reverse
        /// (Var) derivatives of both stiff methods agree with finite differences.
        #[test]
        fn stiff_sensitivities_match_finite_differences(
            lam_exp in 0.0f64..4.0,
            a in -1.0f64..1.0,
            b in -1.0f64..1.0,
            seed in any::<u64>(),
            rodas in any::<bool>(),
        ) {
            let method = if rodas { Method::Rodas4 } else { Method::Bdf };
            let f = LinearMapOf { method, lam: 10f64.powf(lam_exp) };
            let c = check_function(&f, &[a, b, 0.0, 0.0], seed);
            // Forward and reverse mode both give the exact derivative of the numerical solution:
            // they agree to rounding. The finite difference goes through the step-size
            // decisions of an adaptive solve at rtol 1e-10, so it carries noise of about 1e-8
            // absolute (one run found 1.8e-8 with Rodas4): 1e-4 relative to a floor of 1e-3.
            let modes = (c.forward - c.reverse).abs() / c.reverse.abs().max(1e-6);
            prop_assert!(modes < 1e-9, "{:?} forward vs reverse {:?}", method, c);
            prop_assert!(c.error(1e-3) < 1e-4, "{:?} {:?}", method, c);
        }
    }
}

#[test]
fn gradient_ensemble_with_bdf() {
    let params: Vec<Vec<f64>> = (0..4)
        .map(|j| ROBER_P.iter().map(|k| k * (1.0 + 0.1 * j as f64)).collect())
        .collect();
    let opts = w4_opts(Method::Bdf);
    let out = ode::gradient_ensemble(&Robertson, &ROBER_Y0, &params, 0.0, &[1e5], &opts, |s| {
        w4_loss(&s.y[0])
    });
    for (p, g) in params.iter().zip(&out) {
        let g = g.as_ref().unwrap();
        let one = ode::vjp(
            &Robertson,
            &ROBER_Y0,
            p,
            0.0,
            &[1e5],
            &opts,
            &[vec![1.0, 2e4, 3.0]],
        )
        .unwrap();
        for (a, b) in g.p_bar.iter().zip(&one.p_bar) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-300), "{a} vs {b}");
        }
    }
}
