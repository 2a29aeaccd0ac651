//! Both stiff methods on problems with known answers: Robertson at 1e11, the linear stiff
//! problem (exact solution, empirical order), van der Pol mu = 1000 against a tight solve,
//! dense output between steps, pinned counters and the errors.

use crate::stiff_zoo::*;
use ode::stiff::solve_with_stats;
use ode::{solve, Error, Method, Options};

fn opts(method: Method, rtol: f64, atol: f64) -> Options {
    Options {
        method,
        rtol,
        atol,
        max_steps: 1_000_000,
        ..Default::default()
    }
}

#[allow(clippy::excessive_precision)] // the published digits
const ROBER_1E11: [f64; 3] = [
    0.2083340149701255e-7,
    0.8333360770334713e-13,
    0.9999999791665050,
];

#[test]
fn rodas4_robertson_to_1e11() {
    let o = Options {
        atol_components: Some(vec![1e-14, 1e-18, 1e-14]),
        ..opts(Method::Rodas4, 1e-8, 0.0)
    };
    let (sol, st) = solve_with_stats(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &[1e11], &o).unwrap();
    let y = &sol.y[0];
    for i in 0..3 {
        let rel = (y[i] - ROBER_1E11[i]).abs() / ROBER_1E11[i];
        eprintln!("y{} rel err {rel:.2e}", i + 1);
        assert!(rel < 1e-5, "component {i}: {}", y[i]);
    }
    eprintln!("rodas4 robertson: {:?} {st:?}", sol.stats);
}

#[test]
fn linear_stiff_exact_solution_and_order() {
    // Rodas4 (like every Rosenbrock method without the extra conditions of Rodas4P) loses
    // order on stiff non-autonomous problems: its order is checked in the non-stiff regime,
    // its accuracy in both.
    let ts: Vec<f64> = (1..=10).map(|k| 0.3 * k as f64).collect();
    for (method, lam, min_order) in [
        (Method::Bdf, 1e4, 1.5),
        (Method::Rodas4, 1e4, 1.5),
        (Method::Rodas4, 1.0, 3.0),
    ] {
        let p = [lam, 10.0];
        let mut pts = Vec::new();
        for rtol in [1e-4, 1e-6, 1e-8, 1e-10] {
            let (sol, st) = solve_with_stats(
                &LinearStiff,
                &[2.0, 0.0],
                &p,
                0.0,
                &ts,
                &opts(method, rtol, rtol),
            )
            .unwrap();
            let err = ts
                .iter()
                .zip(&sol.y)
                .map(|(&t, y)| (y[0] - linear_stiff_y0(2.0, lam, t)).abs())
                .fold(0.0, f64::max);
            let evals = sol.stats.rhs_evals + st.jac_rhs_evals;
            eprintln!(
                "{method:?} rtol {rtol:e}: max err {err:.2e}, steps {}, evals {evals}",
                sol.stats.steps
            );
            assert!(err < 50.0 * rtol, "{method:?} rtol {rtol}: {err}");
            pts.push(((sol.stats.steps as f64).ln(), err.ln()));
        }
        // error ~ steps^-q: the slope of the log-log fit over the tolerance range
        let (x0, y0) = pts[0];
        let (x1, y1) = pts[pts.len() - 1];
        let q = -(y1 - y0) / (x1 - x0);
        eprintln!("{method:?} lambda {lam}: empirical order {q:.2}");
        assert!(q > min_order, "{method:?}: empirical order {q}");
    }
}

#[test]
fn van_der_pol_mu_1000_against_a_tight_solve() {
    let ts = [
        100.0, 300.0, 500.0, 700.0, 900.0, 1100.0, 1300.0, 1500.0, 2000.0,
    ];
    let y0 = [2.0, 0.0];
    let reference = solve(
        &VanDerPol,
        &y0,
        &[1000.0],
        0.0,
        &ts,
        &opts(Method::Bdf, 1e-12, 1e-12),
    )
    .unwrap();
    for method in [Method::Bdf, Method::Rodas4] {
        let (sol, st) = solve_with_stats(
            &VanDerPol,
            &y0,
            &[1000.0],
            0.0,
            &ts,
            &opts(method, 1e-7, 1e-7),
        )
        .unwrap();
        let err = sol
            .y
            .iter()
            .zip(&reference.y)
            .map(|(a, b)| (a[0] - b[0]).abs())
            .fold(0.0, f64::max);
        // the save times avoid the fast jumps (period about 1614)
        eprintln!("{method:?} vdp: err {err:.2e} {:?} {st:?}", sol.stats);
        assert!(err < 1e-4, "{method:?}: {err}");
        // stiff methods take a few thousand steps here (an explicit method needs millions)
        assert!(sol.stats.steps < 5_000, "{method:?}: {}", sol.stats.steps);
    }
}

#[test]
fn counters_are_pinned_loosely() {
    let (sol, st) = solve_with_stats(
        &Robertson,
        &ROBER_Y0,
        &ROBER_P,
        0.0,
        &[1e5],
        &opts(Method::Bdf, 1e-8, 1e-12),
    )
    .unwrap();
    eprintln!("bdf w4: {:?} {st:?}", sol.stats);
    assert!((500..=800).contains(&sol.stats.steps), "{:?}", sol.stats);
    assert!(st.jac_evals <= 40, "{st:?}");
    assert!(st.factorisations <= 200, "{st:?}");
    assert!(sol.stats.rejected <= 20, "{:?}", sol.stats);
}

#[test]
fn errors_are_typed() {
    // y' = y^2 blows up at t = 1
    #[derive(Clone)]
    struct BlowUp;
    impl ode::OdeSystem for BlowUp {
        fn dim(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            0
        }
        fn rhs<S: ode::Real>(&self, _t: S, y: &[S], _p: &[S], dy: &mut [S]) {
            dy[0] = y[0] * y[0];
        }
    }
    for method in [Method::Bdf, Method::Rodas4] {
        let e = solve(&BlowUp, &[1.0], &[], 0.0, &[2.0], &opts(method, 1e-6, 1e-9)).unwrap_err();
        eprintln!("{method:?}: {e}");
        assert!(matches!(
            e,
            Error::StepSizeTooSmall { .. }
                | Error::ConvergenceFailure { .. }
                | Error::ErrorTestFailures { .. }
                | Error::MaxStepsReached { .. }
        ));
        let e = solve(
            &BlowUp,
            &[f64::NAN],
            &[],
            0.0,
            &[2.0],
            &opts(method, 1e-6, 1e-9),
        )
        .unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }));
        let small = Options {
            max_steps: 5,
            ..opts(method, 1e-6, 1e-9)
        };
        let e = solve(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &[1e5], &small).unwrap_err();
        assert!(matches!(e, Error::MaxStepsReached { .. }));
    }
}
