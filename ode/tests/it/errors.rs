//! Failures are typed errors, never NaN or a hang; the differentiated solve fails exactly when
//! the f64 solve fails.

use crate::common::*;
use ad_core::Tape;
use ode::{solve, vjp, Error, Method, Options, Sensitivity};

#[test]
fn finite_time_blow_up_is_an_error() {
    // y' = y^2, y(0) = 1 blows up at t = 1
    for method in [Method::Dopri5, Method::Tsit5, Method::Rk4 { dt: 1e-3 }] {
        let opts = Options {
            method,
            ..Default::default()
        };
        let r = solve(&BlowUp, &[1.0], &[], 0.0, &[0.5, 2.0], &opts);
        match r {
            Err(Error::StepSizeTooSmall { t, .. }) | Err(Error::NonFinite { t, .. }) => {
                assert!(t > 0.9 && t <= 1.01, "{method:?}: stopped at {t}")
            }
            Err(Error::MaxStepsReached { t, .. }) => assert!(t > 0.9 && t <= 1.01),
            other => panic!("{method:?}: {other:?}"),
        }
        // the same on Vars
        let tape = Tape::new();
        let y0 = tape.vars(&[1.0]);
        // (its error test covers the tangent too, so it may stop at a slightly different t)
        let rv = solve(&BlowUp, &y0, &[], 0.0, &[0.5, 2.0], &opts);
        match rv.err() {
            Some(Error::StepSizeTooSmall { t, .. })
            | Some(Error::NonFinite { t, .. })
            | Some(Error::MaxStepsReached { t, .. }) => {
                assert!(t > 0.9 && t <= 1.01, "{method:?} on Vars: stopped at {t}")
            }
            other => panic!("{method:?} on Vars: {other:?}"),
        }
    }
}

#[test]
fn max_steps_is_reported() {
    let opts = Options {
        rtol: 1e-10,
        atol: 1e-10,
        max_steps: 50,
        ..Default::default()
    };
    let r = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[10.0], &opts);
    match r {
        Err(Error::MaxStepsReached { steps, t }) => assert!(steps == 50 && t > 0.0 && t < 10.0),
        other => panic!("{other:?}"),
    }
    let e = r.unwrap_err().to_string();
    assert!(e.contains("max_steps"), "{e}");
    let opts_rk4 = Options {
        method: Method::Rk4 { dt: 0.01 },
        max_steps: 10,
        ..Default::default()
    };
    assert!(matches!(
        solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &opts_rk4),
        Err(Error::MaxStepsReached { steps: 10, .. })
    ));
}

#[test]
fn nan_from_the_right_hand_side_is_an_error() {
    let r = solve(&NanRhs, &[0.5], &[], 0.0, &[1.0], &Options::default());
    assert!(
        matches!(r, Err(Error::NonFinite { t, component: 0 }) if t == 0.0),
        "{r:?}"
    );
    let r = solve(&BlowUp, &[f64::NAN], &[], 0.0, &[1.0], &Options::default());
    assert!(matches!(r, Err(Error::NonFinite { .. })), "{r:?}");
}

#[test]
fn bad_inputs() {
    let o = Options::default();
    let r = solve(&LotkaVolterra, &[1.0], &W3_P, 0.0, &[1.0], &o);
    assert_eq!(
        r.unwrap_err(),
        Error::DimensionMismatch {
            what: "y0",
            expected: 2,
            got: 1
        }
    );
    let r = solve(&LotkaVolterra, &W3_Y0, &W3_P[..3], 0.0, &[1.0], &o);
    assert!(matches!(r, Err(Error::DimensionMismatch { what: "p", .. })));
    for bad in [vec![2.0, 1.0], vec![-1.0], vec![f64::NAN]] {
        let r = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &bad, &o);
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{bad:?}: {r:?}");
    }
    for opts in [
        Options {
            rtol: -1.0,
            ..Default::default()
        },
        Options {
            method: Method::Rk4 { dt: 0.0 },
            ..Default::default()
        },
        Options {
            sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 1 },
            ..Default::default()
        },
        Options {
            atol_components: Some(vec![1e-6]),
            ..Default::default()
        },
    ] {
        let r = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &opts);
        assert!(r.is_err(), "{opts:?}");
    }
    let r = vjp(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &o, &[]);
    assert!(matches!(r, Err(Error::DimensionMismatch { .. })));
}

#[test]
fn degenerate_save_times() {
    let o = Options::default();
    // nothing to integrate
    let s = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[], &o).unwrap();
    assert!(s.y.is_empty());
    let s = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[0.0, 0.0], &o).unwrap();
    assert_eq!(s.y, vec![W3_Y0.to_vec(), W3_Y0.to_vec()]);
    assert_eq!(s.stats.steps, 0);
    // repeated save times
    let s = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0, 1.0, 2.0], &o).unwrap();
    assert_eq!(s.y[0], s.y[1]);
    // per-component tolerances
    let o2 = Options {
        atol_components: Some(vec![1e-9, 1e-9]),
        ..Default::default()
    };
    let s2 = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0, 1.0, 2.0], &o2).unwrap();
    assert_eq!(s.y, s2.y);
}

/// Options are validated as a whole: an incompatible method and sensitivity is a typed error
/// naming the pair (never a silent substitution), from every entry point.
#[test]
fn incompatible_options_are_an_error_that_names_the_pair() {
    for sensitivity in [
        Sensitivity::DiscreteAdjoint { checkpoints: 8 },
        Sensitivity::InterpolatingAdjoint { checkpoints: 8 },
    ] {
        let opts = Options {
            method: Method::Rodas4,
            sensitivity,
            ..Default::default()
        };
        let e = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &opts).unwrap_err();
        assert!(
            matches!(e, Error::IncompatibleOptions { method: Method::Rodas4, sensitivity: s, .. } if s == sensitivity),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("Rodas4") && msg.contains("Adjoint"), "{msg}");
        let g = vjp(
            &LotkaVolterra,
            &W3_Y0,
            &W3_P,
            0.0,
            &[1.0],
            &opts,
            &[vec![1.0, 0.0]],
        );
        assert_eq!(g.unwrap_err(), e);
        let tape = Tape::new();
        let p = tape.vars(&W3_P);
        let y0 = [W3_Y0[0].into(), W3_Y0[1].into()];
        assert_eq!(
            solve(&LotkaVolterra, &y0, &p, 0.0, &[1.0], &opts).unwrap_err(),
            e
        );
    }
    // Auto and Forward are fine with Rodas4
    for sensitivity in [Sensitivity::Auto, Sensitivity::Forward] {
        let opts = Options {
            method: Method::Rodas4,
            sensitivity,
            ..Default::default()
        };
        assert!(solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &opts).is_ok());
    }
}

#[test]
fn out_of_range_options_are_rejected() {
    let bad = [
        Options {
            sensitivity: Sensitivity::InterpolatingAdjoint { checkpoints: 1 },
            ..Default::default()
        },
        Options {
            sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 0 },
            ..Default::default()
        },
        Options {
            max_steps: 0,
            ..Default::default()
        },
        Options {
            h_max: 0.0,
            ..Default::default()
        },
        Options {
            rtol: f64::NAN,
            ..Default::default()
        },
    ];
    for opts in bad {
        let r = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &[1.0], &opts);
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{opts:?}: {r:?}");
    }
}

/// `y' = -p0 y + sqrt(p1^2)` at `p1 = 0`: the Jacobian's `sqrt` partial is infinite but
/// multiplies a zero tangent; every method solves it as the `f64` explicit methods do
/// (the stiff ones used to fail with a NaN Jacobian), and on `Var`s too.
#[test]
fn an_infinite_partial_times_a_zero_tangent_does_not_fail_a_solve() {
    #[derive(Clone)]
    struct SqrtForcing;
    impl ode::OdeSystem for SqrtForcing {
        fn dim(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            2
        }
        fn rhs<S: ode::Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
            dy[0] = -p[0] * y[0] + (p[1] * p[1]).sqrt();
        }
    }
    for method in [Method::Tsit5, Method::Bdf, Method::Rodas4] {
        let opts = Options {
            method,
            ..Default::default()
        };
        let sol = solve(&SqrtForcing, &[1.0], &[0.5, 0.0], 0.0, &[2.0], &opts)
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert!(
            (sol.y[0][0] - (-1f64).exp()).abs() < 1e-5,
            "{method:?}: {sol:?}"
        );
        let g = vjp(
            &SqrtForcing,
            &[1.0],
            &[0.5, 0.0],
            0.0,
            &[2.0],
            &opts,
            &[vec![1.0]],
        )
        .unwrap_or_else(|e| panic!("{method:?} vjp: {e}"));
        // d y(2) / d y0 = exp(-2 p0), d / d p0 = -2 exp(-1)
        assert!(
            (g.y0_bar[0] - (-1f64).exp()).abs() < 1e-4,
            "{method:?}: {g:?}"
        );
        assert!(
            (g.p_bar[0] + 2.0 * (-1f64).exp()).abs() < 1e-4,
            "{method:?}: {g:?}"
        );
    }
}
