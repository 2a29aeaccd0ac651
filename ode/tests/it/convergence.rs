//! Empirical order of convergence from a log-log least-squares fit of the error against the
//! step size (diffrax's `test_ode_order`): RK4 = 4, Dopri5 = Tsit5 = 5, at the final time and
//! at save times between steps (dense output). The adaptive methods are run at a constant step
//! `h` by setting `h0 = h_max = h` with loose tolerances, so every step is accepted.

use crate::common::*;
use ode::{solve, Method, OdeSystem, Options};

/// Least-squares slope of log(err) against log(h).
fn slope(h: &[f64], e: &[f64]) -> f64 {
    let x: Vec<f64> = h.iter().map(|v| v.ln()).collect();
    let y: Vec<f64> = e.iter().map(|v| v.ln()).collect();
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

fn opts_at(method: Method, h: f64) -> Options {
    match method {
        Method::Rk4 { .. } => Options {
            method: Method::Rk4 { dt: h },
            ..Default::default()
        },
        m => Options {
            method: m,
            rtol: 1e3,
            atol: 1e3,
            h0: Some(h),
            h_max: h,
            ..Default::default()
        },
    }
}

/// Errors at `t = 2` (a step end) and at dense save times, for the exact problems.
fn errors<Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    method: Method,
    hs: &[f64],
    exact: impl Fn(f64) -> Vec<f64>,
    y0: &[f64],
    p: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    // save times that fall between steps for every h used
    let save_at = [0.0, 0.3141, 0.4, 0.777, 1.0, 1.2345, 1.6, 2.0];
    let mut end = Vec::new();
    let mut dense = Vec::new();
    for &h in hs {
        let sol = solve(sys, y0, p, 0.0, &save_at, &opts_at(method, h)).unwrap();
        let err_at = |k: usize| {
            let ex = exact(save_at[k]);
            sol.y[k]
                .iter()
                .zip(&ex)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        end.push([2, 4, 6, 7].map(err_at).into_iter().fold(0.0, f64::max));
        dense.push([1, 3, 5].map(err_at).into_iter().fold(0.0, f64::max));
    }
    (end, dense)
}

#[test]
fn orders_of_convergence() {
    let hs = [0.1, 0.05, 0.025, 0.0125];
    for (method, order) in [
        (Method::Rk4 { dt: 0.1 }, 4.0),
        (Method::Dopri5, 5.0),
        (Method::Tsit5, 5.0),
    ] {
        let (p, y0) = (0.8, 1.3);
        let (end, dense) = errors(
            &CosGrowth,
            method,
            &hs,
            |t| vec![cos_growth_exact(y0, p, t)],
            &[y0],
            &[p],
        );
        let (s_end, s_dense) = (slope(&hs, &end), slope(&hs, &dense));
        let w = 1.7;
        let (end2, dense2) = errors(
            &Oscillator,
            method,
            &hs,
            |t| vec![(w * t).cos(), -(w * t).sin()],
            &[1.0, 0.0],
            &[w],
        );
        let (s_end2, s_dense2) = (slope(&hs, &end2), slope(&hs, &dense2));
        println!(
            "{method:?}: order at step ends {s_end:.2} / {s_end2:.2}, dense output {s_dense:.2} / {s_dense2:.2}"
        );
        for s in [s_end, s_end2] {
            assert!(
                (s - order).abs() < 0.35,
                "{method:?}: order {s} expected {order}"
            );
        }
        // dense outputs: the interpolants are of order 4 (RK4: cubic Hermite, order 4 too)
        for s in [s_dense, s_dense2] {
            assert!(s > 3.7, "{method:?}: dense output order {s}");
        }
    }
}

#[test]
fn tolerance_proportionality() {
    // the adaptive error shrinks with the tolerance, and the step count grows like tol^(-1/5)
    let y0 = 1.3;
    let mut steps = Vec::new();
    for tol in [1e-6, 1e-9] {
        for method in [Method::Dopri5, Method::Tsit5] {
            let opts = Options {
                method,
                rtol: tol,
                atol: tol,
                ..Default::default()
            };
            let sol = solve(&CosGrowth, &[y0], &[0.8], 0.0, &[5.0], &opts).unwrap();
            let err = (sol.y[0][0] - cos_growth_exact(y0, 0.8, 5.0)).abs();
            assert!(err < 50.0 * tol, "{method:?} tol {tol}: error {err}");
            steps.push(sol.stats.steps);
        }
    }
    assert!(steps[2] > steps[0] && steps[3] > steps[1], "{steps:?}");
}

#[test]
fn periodic_orbit_returns_to_start() {
    let w = 1.0;
    let period = 2.0 * std::f64::consts::PI / w;
    for method in [Method::Rk4 { dt: 1e-3 }, Method::Dopri5, Method::Tsit5] {
        let opts = Options {
            method,
            rtol: 1e-10,
            atol: 1e-12,
            ..Default::default()
        };
        let sol = solve(
            &Oscillator,
            &[1.0, 0.0],
            &[w],
            0.0,
            &[period, 3.0 * period],
            &opts,
        )
        .unwrap();
        for y in &sol.y {
            assert!(
                (y[0] - 1.0).abs() < 1e-8 && y[1].abs() < 1e-8,
                "{method:?}: {y:?}"
            );
        }
    }
}

#[test]
fn steps_are_not_clipped_to_save_times() {
    // many save times, few steps: the step count does not depend on the save times
    let opts = Options {
        rtol: 1e-6,
        atol: 1e-9,
        ..Default::default()
    };
    let few = solve(&Oscillator, &[1.0, 0.0], &[1.0], 0.0, &[10.0], &opts).unwrap();
    let save_at: Vec<f64> = (0..=1000).map(|k| 0.01 * k as f64).collect();
    let many = solve(&Oscillator, &[1.0, 0.0], &[1.0], 0.0, &save_at, &opts).unwrap();
    assert_eq!(few.stats, many.stats);
    assert_eq!(few.y[0], many.y[1000]);
    assert!(many.stats.steps < 200, "{:?}", many.stats);
    // and the interpolated values are accurate
    for (t, y) in save_at.iter().zip(&many.y) {
        assert!((y[0] - t.cos()).abs() < 1e-5, "t = {t}: {y:?}");
    }
}
