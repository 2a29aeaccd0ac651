//! BDF's discrete adjoint with a `checkpoints` budget smaller than the solve's steps: the
//! forward pass keeps snapshots of the stepper instead of every converged state, the backward
//! pass computes each segment again from its snapshot, and the gradient is the same bits as
//! with every state kept (dense and sparse Jacobians, `vjp`, the tape and `Dual` inputs),
//! holding fewer states. A right-hand side that is not deterministic is a typed error.

use std::sync::atomic::{AtomicUsize, Ordering};

use ad_core::{Dual, Real, Tape};
use ode::problems::{Brusselator1d, Robertson};
use ode::{solve, vjp, Error, Gradient, Method, OdeSystem, Options, Sensitivity};
use proptest::prelude::*;

/// Every state kept (more than any of these solves' steps).
const ALL: usize = 1 << 20;

fn opts(checkpoints: usize, rtol: f64, atol: f64) -> Options {
    Options {
        method: Method::Bdf,
        rtol,
        atol,
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints },
        ..Default::default()
    }
}

fn bits(g: &Gradient) -> Vec<u64> {
    g.y0_bar
        .iter()
        .chain(&g.p_bar)
        .map(|v| v.to_bits())
        .collect()
}

/// Robertson's cotangent at each save time.
fn robertson_y_bar(saves: usize) -> Vec<Vec<f64>> {
    (0..saves)
        .map(|k| vec![1.0 + k as f64, 1e4, -2.0 + 0.5 * k as f64])
        .collect()
}

/// The levels of recomputation for a budget of `c` states, snapshots of `s` states and
/// `steps` steps: each level keeps its first `c` steps and at most `max(2, c / s)` snapshots
/// after thinning, so a level's segments are at least `max(2, c / s) / 2` times shorter
/// than its parent's.
fn levels_bound(c: usize, steps: usize, s: usize) -> usize {
    let shrink = ((c / s).max(2) as f64 / 2.0).max(2.0);
    2 + ((steps as f64).ln() / shrink.ln()).ceil() as usize
}

#[test]
fn robertson_budgets_give_the_same_bits_and_hold_fewer_states() {
    let save_at = [1.0, 100.0, 1e4, 1e5];
    let y_bar = robertson_y_bar(save_at.len());
    let grad = |c: usize| {
        vjp(
            &Robertson,
            &Robertson::Y0,
            &Robertson::K,
            0.0,
            &save_at,
            &opts(c, 1e-8, 1e-12),
            &y_bar,
        )
        .unwrap()
    };
    let all = grad(ALL);
    let steps = all.solution.stats.steps;
    assert!(steps > 200, "a solve of many steps: {steps}");
    assert_eq!(all.adjoint.recomputed_steps, 0, "{:?}", all.adjoint);
    assert_eq!(all.adjoint.max_states_held, steps, "{:?}", all.adjoint);
    for c in [2, 3, 8, 20, 57, 200, steps - 1] {
        let g = grad(c);
        assert_eq!(g.solution.y, all.solution.y, "budget {c}: the same solve");
        assert_eq!(bits(&g), bits(&all), "budget {c}: the same gradient bits");
        let a = g.adjoint;
        // every step after the first c is computed again, once per level; each level holds
        // at most c states and max(c, 2 s) of snapshots
        let levels = levels_bound(c, steps, 19);
        assert!(a.recomputed_steps >= steps - c, "budget {c}: {a:?}");
        assert!(a.recomputed_steps <= levels * steps, "budget {c}: {a:?}");
        assert!(
            a.max_states_held <= levels * (c + c.max(2 * 19)),
            "budget {c}, {steps} steps: {a:?}"
        );
        if (8..=200).contains(&c) {
            assert!(a.max_states_held < steps / 2, "budget {c}: {a:?}");
        }
    }
}

#[test]
fn through_the_tape_the_same_bits() {
    let save_at = [1.0, 100.0, 1e4];
    let y_bar = robertson_y_bar(save_at.len());
    let taped = |c: usize| -> Vec<u64> {
        let tape = Tape::new();
        let y0 = tape.vars(&Robertson::Y0);
        let p = tape.vars(&Robertson::K);
        let sol = solve(&Robertson, &y0, &p, 0.0, &save_at, &opts(c, 1e-7, 1e-11)).unwrap();
        let mut l = y0[0] * 0.0;
        for (y, w) in sol.y.iter().zip(&y_bar) {
            for (a, b) in y.iter().zip(w) {
                l += *a * *b;
            }
        }
        let adj = tape.gradient(l);
        y0.iter().chain(&p).map(|v| adj.wrt(*v).to_bits()).collect()
    };
    let all = taped(ALL);
    assert!(all.iter().any(|&b| f64::from_bits(b) != 0.0));
    for c in [2, 9, 40] {
        assert_eq!(taped(c), all, "budget {c}");
    }
}

#[test]
fn sparse_path_reverse_and_tangent_the_same_bits() {
    let n = 40; // 80 states: the sparse Jacobian and sparse LU
    let sys = Brusselator1d { n };
    let y0 = sys.initial_state();
    let p = [0.02, 3.4];
    let save_at = [0.5, 2.0, 10.0];
    let y_bar: Vec<Vec<f64>> = (0..save_at.len())
        .map(|k| (0..2 * n).map(|i| ((i + k) % 3) as f64 - 1.0).collect())
        .collect();
    let o = |c| opts(c, 1e-7, 1e-9);
    let (_, st) = ode::stiff::solve_with_stats(&sys, &y0, &p, 0.0, &save_at, &o(ALL)).unwrap();
    assert!(st.jacobian_nnz > 0, "the sparse path: {st:?}");
    let all = vjp(&sys, &y0, &p, 0.0, &save_at, &o(ALL), &y_bar).unwrap();
    let tangent = |c: usize| -> Vec<u64> {
        let yd: Vec<Dual<1>> = y0.iter().map(|&v| Dual::new(v, [0.1])).collect();
        let pd = [Dual::<1>::new(p[0], [1.0]), Dual::new(p[1], [-0.5])];
        let sol = solve(&sys, &yd, &pd, 0.0, &save_at, &o(c)).unwrap();
        sol.y.iter().flatten().map(|v| v.d[0].to_bits()).collect()
    };
    let tangent_all = tangent(ALL);
    for c in [2, 30] {
        let g = vjp(&sys, &y0, &p, 0.0, &save_at, &o(c), &y_bar).unwrap();
        assert!(
            g.adjoint.recomputed_steps > 0,
            "budget {c}: {:?}",
            g.adjoint
        );
        assert_eq!(bits(&g), bits(&all), "budget {c}: reverse");
        assert_eq!(tangent(c), tangent_all, "budget {c}: tangent");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any budget, tolerance and save times: the same bits as every state kept.
    #[test]
    fn any_budget_the_same_bits(
        c in 2usize..80,
        log_rtol in -9.0f64..-5.0,
        saves in prop::collection::vec(-1.0f64..5.0, 1..4),
    ) {
        let mut save_at: Vec<f64> = saves.iter().map(|e| 10f64.powf(*e)).collect();
        save_at.sort_by(f64::total_cmp);
        save_at.dedup();
        let y_bar = robertson_y_bar(save_at.len());
        let rtol = 10f64.powf(log_rtol);
        let grad = |c: usize| {
            vjp(&Robertson, &Robertson::Y0, &Robertson::K, 0.0, &save_at,
                &opts(c, rtol, rtol * 1e-4), &y_bar).unwrap()
        };
        let all = grad(ALL);
        let g = grad(c);
        prop_assert_eq!(bits(&g), bits(&all));
        prop_assert_eq!(g.adjoint.recomputed_steps > 0, all.solution.stats.steps > c);
    }
}

/// Robertson whose right-hand side drifts by a few ulp with every call after the first few
/// thousand: the forward solve goes through, a recomputed step comes out different.
struct Drifting {
    calls: AtomicUsize,
}

impl OdeSystem for Drifting {
    fn dim(&self) -> usize {
        3
    }
    fn n_params(&self) -> usize {
        3
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        Robertson.rhs(t, y, p, dy);
        let calls = self.calls.fetch_add(1, Ordering::Relaxed);
        dy[0] *= 1.0 + 1e-9 * (calls % 7) as f64;
    }
}

#[test]
fn a_right_hand_side_that_is_not_deterministic_is_a_typed_error() {
    let sys = Drifting {
        calls: AtomicUsize::new(0),
    };
    let save_at = [1.0, 1e4];
    let y_bar = robertson_y_bar(save_at.len());
    let r = vjp(
        &sys,
        &Robertson::Y0,
        &Robertson::K,
        0.0,
        &save_at,
        &opts(4, 1e-8, 1e-12),
        &y_bar,
    );
    match r {
        Err(Error::NotReproducible { t }) => assert!(t > 0.0 && t <= 1e4, "t = {t}"),
        other => panic!("expected NotReproducible, got {other:?}"),
    }
}
