//! Bad input is an error naming what is wrong; normal stops are terminations.

use optim::{
    least_squares, minimize, Bounds, Error, Function, LeastSquaresOptions, LineSearch, Method,
    Options, Real, Termination,
};

fn quad(x: &[f64], g: &mut [f64]) -> f64 {
    for (gi, xi) in g.iter_mut().zip(x) {
        *gi = 2.0 * xi;
    }
    x.iter().map(|v| v * v).sum()
}

#[test]
fn bad_starts_are_errors() {
    let o = Options::default();
    assert_eq!(minimize(quad, &[], &o).unwrap_err(), Error::EmptyStart);
    let e = minimize(quad, &[1.0, f64::NAN], &o).unwrap_err();
    assert!(matches!(e, Error::NonFiniteStart { index: 1, .. }), "{e}");
    assert!(e.to_string().contains("x0[1]"));
    let e = minimize(quad, &[f64::INFINITY], &o).unwrap_err();
    assert!(matches!(e, Error::NonFiniteStart { index: 0, .. }));
}

#[test]
fn non_finite_objective_at_the_start_is_an_error() {
    let o = Options::default();
    let e = minimize(|_: &[f64], _: &mut [f64]| f64::NAN, &[1.0], &o).unwrap_err();
    assert!(matches!(e, Error::NonFiniteValue { .. }), "{e}");
    let e = minimize(
        |x: &[f64], g: &mut [f64]| {
            g[1] = f64::INFINITY;
            x[0]
        },
        &[1.0, 2.0],
        &o,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::NonFiniteGradient { index: 1, .. }),
        "{e}"
    );
    for m in [Method::GradientDescent, Method::adam(0.1)] {
        let o = Options::default().with_method(m).unwrap();
        let e = minimize(|_: &[f64], _: &mut [f64]| f64::INFINITY, &[1.0], &o).unwrap_err();
        assert!(matches!(e, Error::NonFiniteValue { .. }), "{e}");
    }
}

#[test]
fn invalid_options_are_errors_at_construction() {
    let o = Options::default();
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(o.clone().with_grad_tol(bad).is_err());
        assert!(o.clone().with_f_tol(bad).is_err());
        assert!(o.clone().with_x_tol(bad).is_err());
        assert!(LeastSquaresOptions::default().with_grad_tol(bad).is_err());
        assert!(LeastSquaresOptions::default().with_f_tol(bad).is_err());
        assert!(LeastSquaresOptions::default().with_x_tol(bad).is_err());
    }
    let e = o.clone().with_grad_tol(-1e-6).unwrap_err();
    assert!(e.to_string().contains("grad_tol"), "{e}");
    assert!(o.clone().with_method(Method::Lbfgs { memory: 0 }).is_err());
    assert!(o.clone().with_method(Method::adam(-0.1)).is_err());
    assert!(o
        .clone()
        .with_method(Method::Adam {
            learning_rate: 0.1,
            beta1: 1.0,
            beta2: 0.999,
            epsilon: 1e-8
        })
        .is_err());
    assert!(o
        .clone()
        .with_line_search(LineSearch {
            c1: 0.9,
            c2: 0.1,
            max_evaluations: 20
        })
        .is_err());
    assert!(LeastSquaresOptions::default()
        .with_initial_trust_factor(0.0)
        .is_err());
}

#[test]
fn invalid_bounds_are_errors_at_construction() {
    let e = Bounds::new(vec![0.0, 2.0], vec![1.0, 1.0]).unwrap_err();
    assert_eq!(
        e,
        Error::InvalidBounds {
            index: 1,
            lower: 2.0,
            upper: 1.0
        }
    );
    assert!(e.to_string().contains("component 1"));
    assert!(Bounds::new(vec![f64::NAN], vec![1.0]).is_err());
    assert!(Bounds::new(vec![0.0], vec![1.0, 2.0]).is_err());
    assert!(Options::default()
        .with_bounds(vec![1.0], vec![0.0])
        .is_err());
    assert!(LeastSquaresOptions::default()
        .with_bounds(vec![1.0], vec![0.0])
        .is_err());
    // Equal bounds fix a component; infinite ones mean unbounded.
    assert!(Bounds::new(vec![1.0, f64::NEG_INFINITY], vec![1.0, f64::INFINITY]).is_ok());
    // Bounds of the wrong length for x0.
    let o = Options::default()
        .with_bounds(vec![0.0], vec![1.0])
        .unwrap();
    let e = minimize(quad, &[0.5, 0.5], &o).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e}"
    );
}

struct Bad;
impl Function for Bad {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        vec![x[0].ln(), x[0] * 2.0]
    }
}

#[test]
fn least_squares_bad_input() {
    let o = LeastSquaresOptions::default();
    assert_eq!(least_squares(&Bad, &[], &o).unwrap_err(), Error::EmptyStart);
    let e = least_squares(&Bad, &[-1.0], &o).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFiniteResidual {
                what: "residual",
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = least_squares(&Bad, &[f64::NAN], &o).unwrap_err();
    assert!(matches!(e, Error::NonFiniteStart { .. }));
}

#[test]
fn covariance_of_unidentifiable_parameters_is_an_error() {
    // r depends on p0 + p1 only.
    let jac = vec![vec![1.0, 1.0], vec![2.0, 2.0], vec![3.0, 3.0]];
    let e = optim::least_squares::covariance(&jac, &[0.1, 0.2, 0.3]).unwrap_err();
    assert!(matches!(e, Error::SingularJacobian { pivot: 1 }), "{e}");
    let e = optim::least_squares::covariance(&jac[..2], &[0.1, 0.2]).unwrap_err();
    assert!(matches!(e, Error::TooFewResiduals { .. }));
}

#[test]
fn limits_and_inconsistent_gradients_are_terminations() {
    let rosen = |x: &[f64], g: &mut [f64]| {
        g[0] = -400.0 * x[0] * (x[1] - x[0] * x[0]) - 2.0 * (1.0 - x[0]);
        g[1] = 200.0 * (x[1] - x[0] * x[0]);
        100.0 * (x[1] - x[0] * x[0]).powi(2) + (1.0 - x[0]).powi(2)
    };
    let r = minimize(
        rosen,
        &[-1.2, 1.0],
        &Options::default().with_max_iterations(3),
    )
    .unwrap();
    assert_eq!(r.termination, Termination::MaxIterations);
    assert_eq!(r.iterations, 3);
    let r = minimize(
        rosen,
        &[-1.2, 1.0],
        &Options::default().with_max_evaluations(5),
    )
    .unwrap();
    assert_eq!(r.termination, Termination::MaxEvaluations);
    // A gradient with the wrong sign: no decrease is possible along -g.
    let wrong = |x: &[f64], g: &mut [f64]| {
        g[0] = -2.0 * x[0];
        x[0] * x[0]
    };
    let r = minimize(wrong, &[1.0], &Options::default()).unwrap();
    assert!(
        matches!(r.termination, Termination::LineSearchFailed { .. }),
        "{r:?}"
    );
    assert_eq!(r.x, vec![1.0]);
    assert!(r.termination.to_string().contains("line search failed"));
}

#[test]
fn objective_that_blows_up_far_away_is_handled_by_the_line_search() {
    // f = -2x - ln(1 - x), finite only for x < 1, minimum at x = 0.5. From 0.3 the scaled first
    // trial point (distance 1) is at 1.3, where the value is NaN.
    let mut saw_nan = false;
    let f = |x: &[f64], g: &mut [f64]| {
        if x[0] >= 1.0 {
            saw_nan = true;
            return f64::NAN;
        }
        g[0] = -2.0 + 1.0 / (1.0 - x[0]);
        -2.0 * x[0] - (1.0 - x[0]).ln()
    };
    let r = minimize(f, &[0.3], &Options::default()).unwrap();
    assert!(saw_nan);
    assert_eq!(r.termination, Termination::GradientTolerance, "{r:?}");
    assert!((r.x[0] - 0.5).abs() < 1e-6);
}

/// An objective that turns NaN away from the start (a model that fails to solve there) is not
/// a converged minimum: every method reports a non-converged termination, never a tolerance.
#[test]
fn an_objective_that_turns_nan_is_not_reported_as_converged() {
    // minimum at x = 3, NaN for x > 1: the methods cannot reach it
    let f = |x: &[f64], g: &mut [f64]| {
        if x[0] > 1.0 {
            g[0] = f64::NAN;
            return f64::NAN;
        }
        g[0] = 2.0 * (x[0] - 3.0);
        (x[0] - 3.0) * (x[0] - 3.0)
    };
    for method in [Method::GradientDescent, Method::Lbfgs { memory: 5 }] {
        let o = Options::default().with_method(method).unwrap();
        let r = minimize(f, &[0.0], &o).unwrap();
        assert!(
            !r.termination.converged(),
            "{method:?} reported {:?} at x = {:?} (gradient {})",
            r.termination,
            r.x,
            r.grad_norm
        );
        assert!(r.value.is_finite() && r.x[0] <= 1.0, "{r:?}");
    }
}
