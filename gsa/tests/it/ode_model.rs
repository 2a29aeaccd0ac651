//! The ODE adapter: outputs, Jacobians by both modes against finite differences, failed
//! solves as typed errors, thread-count independence.
#![allow(clippy::needless_range_loop)] // indices name inputs and outputs here

use gsa::{
    dgsm_model, sobol_model, DgsmOptions, Error, GradientMode, Model, OdeModel, OnFailure, Problem,
    SobolOptions, States, Varied,
};
use ode::problems::LotkaVolterra;
use ode::{OdeSystem, Real};

fn lv() -> OdeModel<LotkaVolterra> {
    OdeModel::new(
        LotkaVolterra,
        LotkaVolterra::Y0.to_vec(),
        LotkaVolterra::P.to_vec(),
        vec![Varied::Param(0), Varied::Param(3), Varied::Initial(1)],
        vec![1.0, 2.5, 4.0],
        ode::Options {
            rtol: 1e-10,
            atol: 1e-10,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn jacobians_agree_with_finite_differences_in_both_modes() {
    let m = lv();
    assert_eq!(m.n_outputs(), 6);
    let x = [1.4, 3.1, 0.9];
    let (y, jf) = m.jacobian(&x, GradientMode::Forward).unwrap();
    let (y2, jr) = m.jacobian(&x, GradientMode::Reverse).unwrap();
    // a differentiated solve's error test covers its derivatives too (ode's
    // derivative_error_control), so its steps, and values, differ from the plain solve's within
    // the tolerance (1e-10)
    for (a, b) in y.iter().zip(&m.evaluate(&x).unwrap()) {
        assert!((a - b).abs() <= 1e-8 * b.abs().max(1.0), "{y:?}");
    }
    for o in 0..6 {
        assert!((y[o] - y2[o]).abs() < 1e-12);
        for i in 0..3 {
            let h = 1e-6;
            let mut xp = x;
            let mut xm = x;
            xp[i] += h;
            xm[i] -= h;
            let fd = (m.evaluate(&xp).unwrap()[o] - m.evaluate(&xm).unwrap()[o]) / (2.0 * h);
            let scale = fd.abs().max(1.0);
            assert!(
                (jf[o][i] - fd).abs() < 1e-5 * scale,
                "fwd {o} {i}: {} vs {fd}",
                jf[o][i]
            );
            assert!(
                (jr[o][i] - fd).abs() < 1e-5 * scale,
                "rev {o} {i}: {} vs {fd}",
                jr[o][i]
            );
        }
    }
    let single = m.clone().with_output(States(vec![1]));
    let plain = m.evaluate(&x).unwrap();
    assert_eq!(
        single.evaluate(&x).unwrap(),
        vec![plain[1], plain[3], plain[5]]
    );
}

/// `y' = p y^2`: blows up at t = 1 / (p y0), so large p fails before t = 1.
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
fn a_failed_solve_is_a_typed_error_or_a_counted_drop() {
    let m = OdeModel::new(
        BlowUp,
        vec![1.0],
        vec![0.5],
        vec![Varied::Param(0)],
        vec![1.0],
        ode::Options::default(),
    )
    .unwrap();
    let problem = Problem::new(&[(0.1, 1.5)]).unwrap();
    let opts = SobolOptions {
        samples: 64,
        progress: false,
        ..Default::default()
    };
    match sobol_model(&problem, &m, &opts) {
        Err(Error::SampleFailed { input, reason, .. }) => {
            assert!(input[0] >= 1.0, "{input:?}");
            assert!(reason.contains("t ="), "{reason}");
        }
        other => panic!("expected SampleFailed, got {other:?}"),
    }
    let s = sobol_model(
        &problem,
        &m,
        &SobolOptions {
            on_failure: OnFailure::Drop,
            ..opts
        },
    )
    .unwrap();
    assert!(s.dropped > 0 && s.first[0].iter().all(|v| v.is_finite()));
    let d = dgsm_model(
        &problem,
        &m,
        &DgsmOptions {
            samples: 64,
            on_failure: OnFailure::Drop,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d.dropped > 0 && d.samples + d.dropped == 64);
    // As an ad_core::Function the failure is NaN, which sobol() reports too.
    assert!(matches!(
        gsa::sobol(&problem, &m, &opts),
        Err(Error::SampleFailed { .. })
    ));
}

#[test]
fn bad_adapter_inputs_are_typed_errors() {
    let o = ode::Options::default();
    let p = LotkaVolterra::P.to_vec();
    let y0 = LotkaVolterra::Y0.to_vec();
    assert!(matches!(
        OdeModel::new(
            LotkaVolterra,
            vec![1.0],
            p.clone(),
            vec![],
            vec![1.0],
            o.clone()
        ),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        OdeModel::new(
            LotkaVolterra,
            y0.clone(),
            p.clone(),
            vec![Varied::Param(4)],
            vec![1.0],
            o.clone()
        ),
        Err(Error::InvalidOption(_))
    ));
    assert!(matches!(
        OdeModel::new(
            LotkaVolterra,
            y0,
            p,
            vec![Varied::Param(0)],
            vec![2.0, 1.0],
            o
        ),
        Err(Error::InvalidOption(_))
    ));
}

#[test]
fn ode_indices_are_bit_identical_for_1_and_2_threads() {
    let m = lv();
    let problem = Problem::new(&[(1.2, 1.8), (2.4, 3.6), (0.8, 1.2)]).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            sobol_model(
                &problem,
                &m,
                &SobolOptions {
                    samples: 64,
                    seed: 5,
                    progress: false,
                    ..Default::default()
                },
            )
            .unwrap()
        })
    };
    assert_eq!(run(1), run(2));
}
