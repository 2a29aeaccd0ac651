//! The bad-input table of docs/errors.md: every public entry point fed NaN, infinities, empty
//! or mismatched inputs, unordered save times, negative tolerances, singular matrices, a
//! blow-up or an objective that turns NaN mid-run. Each row returns the typed error the table
//! names — never a panic, a hang or a silent NaN. One test per row.

use ndarray::{array, Array1, Array2};
use wengert::ad::{try_gradient, GradientError, Real, Tape};
use wengert::ode::{self, problems::LotkaVolterra, Method, OdeSystem};
use wengert::optim::{self, FitProblem, Observations};
use wengert::solvers;

// ---------------------------------------------------------------- solvers::solve (dense)

#[test]
fn dense_solve_nan_is_non_finite() {
    let a = array![[1.0, f64::NAN], [0.0, 1.0]];
    let e = solvers::solve(a.view(), array![1.0, 1.0].view()).unwrap_err();
    assert!(matches!(e, solvers::Error::NonFinite { .. }), "{e}");
}

#[test]
fn dense_solve_inf_is_non_finite() {
    let a = array![[1.0, 0.0], [0.0, 1.0]];
    let e = solvers::solve(a.view(), array![f64::INFINITY, 1.0].view()).unwrap_err();
    assert!(matches!(e, solvers::Error::NonFinite { .. }), "{e}");
}

#[test]
fn dense_solve_mismatched_is_dimension_mismatch() {
    let a = Array2::<f64>::eye(3);
    let e = solvers::solve(a.view(), array![1.0, 1.0].view()).unwrap_err();
    assert!(matches!(e, solvers::Error::DimensionMismatch { .. }), "{e}");
}

#[test]
fn dense_solve_empty_is_an_empty_solution() {
    let a = Array2::<f64>::zeros((0, 0));
    let x = solvers::solve(a.view(), Array1::<f64>::zeros(0).view()).unwrap();
    assert_eq!(x.len(), 0);
}

#[test]
fn dense_solve_singular_is_singular_on_f64_and_var() {
    let a = array![[1.0, 2.0], [2.0, 4.0]];
    let e = solvers::solve(a.view(), array![1.0, 1.0].view()).unwrap_err();
    assert!(matches!(e, solvers::Error::Singular { .. }), "{e}");
    // the differentiated solve fails exactly when the f64 solve fails
    let tape = Tape::new();
    let av = a.mapv(|v| tape.var(v));
    let bv = array![tape.var(1.0), tape.var(1.0)];
    let e = solvers::solve(av.view(), bv.view()).unwrap_err();
    assert!(matches!(e, solvers::Error::Singular { .. }), "{e}");
}

// ---------------------------------------------------------------- ode::solve

fn lv_opts(method: Method) -> ode::Options {
    ode::Options {
        method,
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    }
}

const METHODS: [Method; 5] = [
    Method::Rk4 { dt: 0.01 },
    Method::Dopri5,
    Method::Tsit5,
    Method::Bdf,
    Method::Rodas4,
];

#[test]
fn ode_nan_initial_state_is_an_error_for_every_method() {
    for m in METHODS {
        let r = ode::solve(
            &LotkaVolterra,
            &[f64::NAN, 1.0],
            &[1.5, 1.0, 1.0, 3.0],
            0.0,
            &[1.0],
            &lv_opts(m),
        );
        assert!(r.is_err(), "{m:?} returned {:?}", r.map(|s| s.y));
    }
}

#[test]
fn ode_inf_parameter_is_an_error_for_every_method() {
    for m in METHODS {
        let r = ode::solve(
            &LotkaVolterra,
            &[1.0, 1.0],
            &[f64::INFINITY, 1.0, 1.0, 3.0],
            0.0,
            &[1.0],
            &lv_opts(m),
        );
        assert!(r.is_err(), "{m:?} returned {:?}", r.map(|s| s.y));
    }
}

#[test]
fn ode_mismatched_lengths_are_dimension_mismatch() {
    let e = ode::solve(
        &LotkaVolterra,
        &[1.0],
        &[1.5, 1.0, 1.0, 3.0],
        0.0,
        &[1.0],
        &lv_opts(Method::Tsit5),
    )
    .unwrap_err();
    assert!(
        matches!(e, ode::Error::DimensionMismatch { what: "y0", .. }),
        "{e}"
    );
    let e = ode::solve(
        &LotkaVolterra,
        &[1.0, 1.0],
        &[1.5],
        0.0,
        &[1.0],
        &lv_opts(Method::Tsit5),
    )
    .unwrap_err();
    assert!(
        matches!(e, ode::Error::DimensionMismatch { what: "p", .. }),
        "{e}"
    );
}

#[test]
fn ode_empty_save_times_give_an_empty_solution() {
    let s = ode::solve(
        &LotkaVolterra,
        &[1.0, 1.0],
        &[1.5, 1.0, 1.0, 3.0],
        0.0,
        &[],
        &lv_opts(Method::Tsit5),
    )
    .unwrap();
    assert!(s.y.is_empty());
}

#[test]
fn ode_decreasing_save_times_are_invalid_input() {
    for m in METHODS {
        let e = ode::solve(
            &LotkaVolterra,
            &[1.0, 1.0],
            &[1.5, 1.0, 1.0, 3.0],
            0.0,
            &[2.0, 1.0],
            &lv_opts(m),
        )
        .unwrap_err();
        assert!(matches!(e, ode::Error::InvalidInput(_)), "{m:?}: {e}");
        let e = ode::solve(
            &LotkaVolterra,
            &[1.0, 1.0],
            &[1.5, 1.0, 1.0, 3.0],
            0.0,
            &[f64::NAN],
            &lv_opts(m),
        )
        .unwrap_err();
        assert!(matches!(e, ode::Error::InvalidInput(_)), "{m:?}: {e}");
    }
}

#[test]
fn ode_negative_tolerances_are_invalid_input() {
    for m in METHODS {
        let opts = ode::Options {
            rtol: -1e-6,
            ..lv_opts(m)
        };
        let e = ode::solve(
            &LotkaVolterra,
            &[1.0, 1.0],
            &[1.5, 1.0, 1.0, 3.0],
            0.0,
            &[1.0],
            &opts,
        )
        .unwrap_err();
        assert!(matches!(e, ode::Error::InvalidInput(_)), "{m:?}: {e}");
        let opts = ode::Options {
            atol: f64::NAN,
            ..lv_opts(m)
        };
        let e = ode::solve(
            &LotkaVolterra,
            &[1.0, 1.0],
            &[1.5, 1.0, 1.0, 3.0],
            0.0,
            &[1.0],
            &opts,
        )
        .unwrap_err();
        assert!(matches!(e, ode::Error::InvalidInput(_)), "{m:?}: {e}");
    }
}

/// `y' = p y^2`, `y(0) = 1`: blows up at `t = 1/p`.
#[derive(Clone)]
struct BlowUp;
impl OdeSystem for BlowUp {
    fn dim(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] * y[0];
    }
}

#[test]
fn ode_blow_up_is_a_typed_error_on_f64_and_var() {
    for m in METHODS {
        let e = ode::solve(&BlowUp, &[1.0], &[1.0], 0.0, &[0.5, 2.0], &lv_opts(m)).unwrap_err();
        assert!(
            matches!(
                e,
                ode::Error::StepSizeTooSmall { .. }
                    | ode::Error::MaxStepsReached { .. }
                    | ode::Error::NonFinite { .. }
                    | ode::Error::ErrorTestFailures { .. }
                    | ode::Error::ConvergenceFailure { .. }
            ),
            "{m:?}: {e}"
        );
        // the differentiated solve fails the same way, through try_gradient
        let e = try_gradient(
            |x| {
                let s = ode::solve(&BlowUp, &x[..1], &x[1..], 0.0, &[0.5, 2.0], &lv_opts(m))?;
                Ok::<_, ode::Error>(s.y[1][0])
            },
            &[1.0, 1.0],
        )
        .unwrap_err();
        assert!(matches!(e, GradientError::Function { .. }), "{m:?}: {e}");
        let source = e
            .block_source()
            .and_then(|s| s.downcast_ref::<ode::Error>());
        assert!(
            source.is_some(),
            "{m:?}: the source is not an ode::Error: {e}"
        );
    }
}

// ---------------------------------------------------------------- optim::minimize

fn quad(x: &[f64], g: &mut [f64]) -> f64 {
    for (gi, xi) in g.iter_mut().zip(x) {
        *gi = 2.0 * xi;
    }
    x.iter().map(|v| v * v).sum()
}

#[test]
fn minimize_nan_or_empty_start_is_an_error() {
    let o = optim::Options::default();
    assert_eq!(
        optim::minimize(quad, &[], &o).unwrap_err(),
        optim::Error::EmptyStart
    );
    let e = optim::minimize(quad, &[f64::NAN], &o).unwrap_err();
    assert!(matches!(e, optim::Error::NonFiniteStart { .. }), "{e}");
}

#[test]
fn minimize_negative_tolerance_is_invalid_option() {
    let e = optim::Options::default().with_grad_tol(-1.0).unwrap_err();
    assert!(matches!(e, optim::Error::InvalidOption { .. }), "{e}");
    let e = optim::Options::default().with_f_tol(f64::NAN).unwrap_err();
    assert!(matches!(e, optim::Error::InvalidOption { .. }), "{e}");
}

// ---------------------------------------------------------------- optim::FitProblem

#[test]
fn fit_without_observations_is_an_error() {
    let e = FitProblem::new(
        LotkaVolterra,
        0.0,
        vec![1.0, 1.0],
        Observations::full(vec![], vec![]),
    )
    .unwrap_err();
    assert!(matches!(e, optim::Error::NoObservations { .. }), "{e}");
}
