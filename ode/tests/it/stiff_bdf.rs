//! BDF on standard stiff problems: Robertson to 1e11 against the published reference, W4 loss
//! and gradient, the linear stiff problem, van der Pol, and pinned counters.

use crate::stiff_zoo::*;
use ode::{Method, Options};

fn bdf(rtol: f64, atol: f64) -> Options {
    Options {
        method: Method::Bdf,
        rtol,
        atol,
        ..Default::default()
    }
}

/// Reference at t = 1e11 (Test Set for IVP Solvers, problem ROBER, Mazzia & Magherini).
#[allow(clippy::excessive_precision)] // the published digits
const ROBER_1E11: [f64; 3] = [
    0.2083340149701255e-7,
    0.8333360770334713e-13,
    0.9999999791665050,
];

fn digits(a: f64, b: f64) -> f64 {
    -((a - b).abs() / b.abs()).log10()
}

#[test]
/// Significant digits at t = 1e11 with `atol_i = (1e-10, 1e-14, 1e-10) rtol` (scaled to the
/// final sizes of the components). At rtol 1e-12 round-off in the difference array limits
/// BDF to about 8.5 digits (and many rejected steps).
fn robertson_to_1e11() {
    let cases = [
        (Method::Bdf, 1e-6, 4.0),
        (Method::Bdf, 1e-8, 6.0),
        (Method::Bdf, 1e-10, 8.0),
        (Method::Bdf, 1e-12, 8.0),
        (Method::Rodas4, 1e-6, 4.0),
        (Method::Rodas4, 1e-8, 6.0),
        (Method::Rodas4, 1e-10, 8.0),
    ];
    for (method, rtol, min_digits) in cases {
        let opts = Options {
            method,
            atol: 1e-4 * rtol,
            atol_components: Some(vec![1e-10 * rtol, 1e-14 * rtol, 1e-10 * rtol]),
            max_steps: 1_000_000,
            ..bdf(rtol, 0.0)
        };
        let (sol, st) =
            ode::stiff::solve_with_stats(&Robertson, &ROBER_Y0, &ROBER_P, 0.0, &[1e11], &opts)
                .unwrap();
        let y = &sol.y[0];
        let d: Vec<f64> = (0..3).map(|i| digits(y[i], ROBER_1E11[i])).collect();
        eprintln!(
            "{method:?} rtol {rtol:e}: digits y1 {:.1} y2 {:.1} y3 {:.1}; steps {} rejected {} jac {} lu {}",
            d[0], d[1], d[2], sol.stats.steps, sol.stats.rejected, st.jac_evals, st.factorisations
        );
        assert!(d[0] >= min_digits && d[2] >= min_digits, "{d:?}");
    }
}
