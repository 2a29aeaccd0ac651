//! Failures are typed errors, never NaN or a hang; the differentiated solve fails exactly when
//! the f64 solve fails.

mod common;

use ad_core::Tape;
use common::*;
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
        let rv = solve(&BlowUp, &y0, &[], 0.0, &[0.5, 2.0], &opts);
        assert_eq!(rv.err(), r.err());
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
