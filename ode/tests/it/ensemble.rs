//! Ensembles: results in input order, equal to the one-by-one solves.

use crate::common::*;
use ode::{gradient_ensemble, solve, solve_ensemble, vjp, Options};

fn params(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|j| {
            (0..4)
                .map(|m| W3_P[m] * (1.0 + 0.2 * ((j + m) as f64).sin()))
                .collect()
        })
        .collect()
}

#[test]
fn ensemble_matches_single_solves_in_order() {
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let ps = params(40);
    let save_at = w3_save_at();
    let sols = solve_ensemble(&LotkaVolterra, &W3_Y0, &ps, 0.0, &save_at, &opts);
    let grads = gradient_ensemble(&LotkaVolterra, &W3_Y0, &ps, 0.0, &save_at, &opts, |s| {
        w3_loss(&s.y)
    });
    assert_eq!(sols.len(), ps.len());
    for ((p, s), g) in ps.iter().zip(&sols).zip(&grads) {
        let one = solve(&LotkaVolterra, &W3_Y0, p, 0.0, &save_at, &opts).unwrap();
        assert_eq!(s.as_ref().unwrap().y, one.y);
        let g = g.as_ref().unwrap();
        // the differentiated solve's error test covers the sensitivities, so its steps (and
        // values, to the tolerance) are those of `vjp`'s forward pass, not the f64 solve's
        let zero = vec![vec![0.0; 2]; save_at.len()];
        let diff = vjp(&LotkaVolterra, &W3_Y0, p, 0.0, &save_at, &opts, &zero).unwrap();
        assert_eq!(g.value, w3_loss(&diff.solution.y));
        let y_bar: Vec<Vec<f64>> = diff
            .solution
            .y
            .iter()
            .map(|y| vec![2.0 * y[0], 2.0 * y[1]])
            .collect();
        let r = vjp(&LotkaVolterra, &W3_Y0, p, 0.0, &save_at, &opts, &y_bar).unwrap();
        for (a, b) in g.p_bar.iter().zip(&r.p_bar) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0));
        }
        for (a, b) in g.y0_bar.iter().zip(&r.y0_bar) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0));
        }
    }
}

#[test]
fn ensemble_reports_errors_per_task() {
    let mut ps = params(3);
    ps[1] = vec![1.5, 1.0]; // wrong length
    let r = solve_ensemble(
        &LotkaVolterra,
        &W3_Y0,
        &ps,
        0.0,
        &[1.0],
        &Options::default(),
    );
    assert!(r[0].is_ok() && r[1].is_err() && r[2].is_ok());
}
