//! The checkpointed discrete adjoint holds a bounded number of states, reverses every accepted
//! step exactly once, and gives the same gradient whatever the number of checkpoints.

use crate::common::*;
use ode::{vjp, Method, Options, Sensitivity};

fn run(checkpoints: usize, method: Method) -> ode::Gradient {
    let opts = Options {
        method,
        rtol: 1e-10,
        atol: 1e-10,
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints },
        ..Default::default()
    };
    let save_at: Vec<f64> = (0..=50).map(|k| 0.6 * k as f64).collect();
    let y_bar: Vec<Vec<f64>> = (0..save_at.len())
        .map(|k| vec![(k as f64).sin(), (k as f64).cos()])
        .collect();
    vjp(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &save_at, &opts, &y_bar).unwrap()
}

#[test]
fn bounded_states_and_exact_reversal() {
    for method in [Method::Tsit5, Method::Rk4 { dt: 0.005 }] {
        let all = run(1_000_000, method);
        let n_steps = all.solution.stats.steps;
        assert!(n_steps > 1000, "{n_steps}");
        assert_eq!(all.adjoint.taped_steps, n_steps);
        // storing every state: no recomputation beyond one leaf pass
        assert_eq!(all.adjoint.forward_checkpoints, n_steps);
        for c in [2usize, 4, 10, 32] {
            let g = run(c, method);
            let a = g.adjoint;
            // levels of recursion: 1 + ceil(log_c(steps))
            let levels = 1 + (n_steps as f64).log(c as f64).ceil() as usize;
            println!("{method:?} c = {c}: {a:?}, steps {n_steps}, levels {levels}");
            assert!(a.forward_checkpoints <= c);
            assert!(
                a.max_states_held <= c * (levels + 1),
                "{a:?} with {c} checkpoints"
            );
            assert_eq!(a.taped_steps, n_steps);
            // every step recomputed at most once per level
            assert!(a.recomputed_steps <= levels * n_steps, "{a:?}");
            for (x, y) in g.p_bar.iter().zip(&all.p_bar) {
                assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{x} vs {y}");
            }
            for (x, y) in g.y0_bar.iter().zip(&all.y0_bar) {
                assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{x} vs {y}");
            }
        }
    }
}

/// A chain of 24 decaying, coupled states with one rate each (48 inputs: `Auto` takes the
/// discrete adjoint).
struct Chain;

impl ode::OdeSystem for Chain {
    fn dim(&self) -> usize {
        24
    }
    fn n_params(&self) -> usize {
        24
    }
    fn rhs<S: ode::Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        for i in 0..24 {
            let upstream = if i == 0 { S::cst(0.0) } else { y[i - 1] };
            dy[i] = upstream * p[i] * 0.5 - p[i] * y[i] + (y[i] * y[i]).sin() * 0.1;
        }
    }
}

/// `Auto` gives a moderate system enough checkpoints to keep every state and every step's
/// stage arguments: the reverse pass computes each step's stages once, where 64 checkpoints
/// recompute segments, and the gradients agree.
#[test]
fn auto_keeps_moderate_systems_whole() {
    let y0: Vec<f64> = (0..24).map(|i| 1.0 + 0.1 * i as f64).collect();
    let p: Vec<f64> = (0..24).map(|i| 0.5 + 0.05 * (i as f64).cos()).collect();
    let save_at = [1.0, 5.0, 20.0];
    let y_bar: Vec<Vec<f64>> = (0..3)
        .map(|k| (0..24).map(|i| ((i + k) as f64).sin()).collect())
        .collect();
    let run = |sensitivity| {
        let opts = Options {
            method: Method::Rk4 { dt: 0.01 },
            sensitivity,
            ..Default::default()
        };
        vjp(&Chain, &y0, &p, 0.0, &save_at, &opts, &y_bar).unwrap()
    };
    let auto = run(Sensitivity::Auto);
    let c64 = run(Sensitivity::DiscreteAdjoint { checkpoints: 64 });
    let n_steps = auto.solution.stats.steps;
    assert_eq!(n_steps, 2000);
    println!("auto {:?}\n  64 {:?}", auto.adjoint, c64.adjoint);
    assert_eq!(auto.adjoint.forward_checkpoints, n_steps);
    assert_eq!(auto.adjoint.recomputed_steps, n_steps);
    assert!(c64.adjoint.recomputed_steps >= 2 * n_steps - 64);
    for (a, b) in auto
        .p_bar
        .iter()
        .chain(&auto.y0_bar)
        .zip(c64.p_bar.iter().chain(&c64.y0_bar))
    {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
}
