//! The discrete adjoint of BDF (`Sensitivity::DiscreteAdjoint` with `Method::Bdf`): the exact
//! transpose of the forward sensitivities, so the two gradients agree to rounding (same
//! tolerances, same steps) on Robertson, on W4, on a system with `dim + n_params > 16` and
//! with several save times; against central finite differences of the `f64` solve; on the
//! sparse-Jacobian path (a 1D Brusselator, 80 states); through the tape (`Var`) and in
//! tangent mode (`Dual`, dense and sparse).

use ad_core::{Dual, Real, Tape};
use ode::problems::Robertson;
use ode::{solve, vjp, Method, OdeSystem, Options, Sensitivity};

const DISCRETE: Sensitivity = Sensitivity::DiscreteAdjoint { checkpoints: 64 };

fn opts(sensitivity: Sensitivity, rtol: f64, atol: f64) -> Options {
    Options {
        method: Method::Bdf,
        rtol,
        atol,
        sensitivity,
        // the discrete adjoint is compared with forward sensitivities exactly (same steps,
        // same counts): that needs the f64 solve's steps, the error test on the state alone
        derivative_error_control: false,
        ..Default::default()
    }
}

/// `max_i |a_i - b_i| / max(max_i |b_i|, floor)`.
fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

/// The discrete-adjoint and forward-sensitivity gradients (`y0_bar` then `p_bar`) of
/// `Σ_k y_bar[k] · y(t_k)`, checked to share the solution and the steps.
fn both<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    save_at: &[f64],
    rtol: f64,
    atol: f64,
    y_bar: &[Vec<f64>],
) -> (Vec<f64>, Vec<f64>) {
    let d = vjp(sys, y0, p, 0.0, save_at, &opts(DISCRETE, rtol, atol), y_bar).unwrap();
    let f = vjp(
        sys,
        y0,
        p,
        0.0,
        save_at,
        &opts(Sensitivity::Forward, rtol, atol),
        y_bar,
    )
    .unwrap();
    assert_eq!(d.solution.stats.steps, f.solution.stats.steps);
    assert_eq!(d.solution.y, f.solution.y);
    assert!(d.adjoint.taped_steps > 0, "{:?}", d.adjoint);
    let cat =
        |g: &ode::Gradient| -> Vec<f64> { g.y0_bar.iter().chain(&g.p_bar).copied().collect() };
    (cat(&d), cat(&f))
}

#[test]
fn robertson_discrete_adjoint_equals_forward_sensitivities() {
    // rates in log scale would be nicer, but the exact transpose must hold for any weights
    let save_at = [40.0];
    let y_bar = vec![vec![1.0, 1e4, 1.0]];
    let (d, f) = both(
        &Robertson,
        &Robertson::Y0,
        &Robertson::K,
        &save_at,
        1e-6,
        1e-10,
        &y_bar,
    );
    let e = rel_err(&d, &f, 0.0);
    eprintln!("robertson: discrete {d:?}\n forward {f:?}\n rel err {e:.1e}");
    assert!(e < 1e-9, "rel err {e:e}");
}

#[test]
fn w4_discrete_adjoint_equals_forward_sensitivities() {
    // W4: Robertson to 1e5, rtol 1e-8, atol 1e-12, loss y1 + 2e4 y2 + 3 y3
    let y_bar = vec![vec![1.0, 2e4, 3.0]];
    let (d, f) = both(
        &Robertson,
        &Robertson::Y0,
        &Robertson::K,
        &[1e5],
        1e-8,
        1e-12,
        &y_bar,
    );
    let e = rel_err(&d, &f, 0.0);
    eprintln!("W4: discrete {d:?}\n forward {f:?}\n rel err {e:.1e}");
    assert!(e < 1e-9, "rel err {e:e}");
    // the tiny components (wrt k2 ~ 1e-9 and k3 ~ 1e-6) each to 1e-9 of themselves
    for i in [4, 5] {
        assert!(
            (d[i] - f[i]).abs() < 1e-9 * f[i].abs(),
            "{} vs {}",
            d[i],
            f[i]
        );
    }
    // and the reference gradient of BENCHMARKS.md (k then y0), to its quoted digits
    let reference = [1.55672, 1.0126e-9, -6.2209e-6, 2.93389, 2.93390, 2.93390];
    let ours = [d[3], d[4], d[5], d[0], d[1], d[2]];
    assert!(rel_err(&ours, &reference, 0.0) < 1e-5, "{ours:?}");
}

#[test]
fn several_save_times_with_jumps() {
    // saves inside steps, at t0, and past many steps: every save is a jump of the adjoint
    let save_at = [0.0, 1e-3, 0.4, 3.0, 3.0, 25.0, 400.0, 1e4];
    let y_bar: Vec<Vec<f64>> = (0..save_at.len())
        .map(|k| {
            vec![
                1.0 + k as f64,
                -3e3 * (k as f64 - 2.5),
                0.5 - 0.2 * k as f64,
            ]
        })
        .collect();
    let (d, f) = both(
        &Robertson,
        &Robertson::Y0,
        &Robertson::K,
        &save_at,
        1e-7,
        1e-11,
        &y_bar,
    );
    let e = rel_err(&d, &f, 0.0);
    eprintln!("saves: rel err {e:.1e}");
    assert!(e < 1e-9, "rel err {e:e}");
}

/// A stiff reaction-diffusion chain of `N` cells with species `u` (`dim = N`): fast diffusion
/// `p[0] (u_{i-1} - 2 u_i + u_{i+1})`, a cell-dependent decay `p[1 + i % 4] u_i^2` and a source
/// `p[5]` in the first cell. `N = 14`: `dim + n_params = 20 > 16` (Auto's adjoint regime).
#[derive(Clone)]
struct Chain {
    n: usize,
}

impl OdeSystem for Chain {
    fn dim(&self) -> usize {
        self.n
    }
    fn n_params(&self) -> usize {
        6
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let n = self.n;
        for i in 0..n {
            let l = if i == 0 { y[0] } else { y[i - 1] };
            let r = if i + 1 == n { y[n - 1] } else { y[i + 1] };
            dy[i] = p[0] * (l - y[i] * 2.0 + r) - p[1 + i % 4] * y[i] * y[i];
        }
        dy[0] += p[5];
    }
}

fn chain_y0(n: usize) -> Vec<f64> {
    (0..n).map(|i| 1.0 + 0.5 * (i as f64 * 0.7).sin()).collect()
}

const CHAIN_P: [f64; 6] = [400.0, 1.0, 3.0, 0.5, 10.0, 2.0];

#[test]
fn chain_above_16_inputs_equals_forward_and_auto_picks_it() {
    let n = 14;
    let sys = Chain { n };
    let save_at = [0.05, 0.5, 2.0];
    let y_bar: Vec<Vec<f64>> = (0..save_at.len())
        .map(|k| (0..n).map(|i| ((i * 3 + k) % 5) as f64 - 1.5).collect())
        .collect();
    let (d, f) = both(&sys, &chain_y0(n), &CHAIN_P, &save_at, 1e-7, 1e-9, &y_bar);
    let e = rel_err(&d, &f, 0.0);
    eprintln!("chain: rel err {e:.1e}");
    assert!(e < 1e-9, "rel err {e:e}");
    // Auto with dim + n_params > 16 is the discrete adjoint: the same numbers
    let a = vjp(
        &sys,
        &chain_y0(n),
        &CHAIN_P,
        0.0,
        &save_at,
        &opts(Sensitivity::Auto, 1e-7, 1e-9),
        &y_bar,
    )
    .unwrap();
    let ga: Vec<f64> = a.y0_bar.iter().chain(&a.p_bar).copied().collect();
    assert_eq!(ga, d);
}

#[test]
fn matches_central_finite_differences() {
    // the derivative of the numerical solution is that of the ODE to about the tolerance:
    // at rtol 1e-11 central differences (step 1e-4 relative) agree to ~1e-6
    let n = 6;
    let sys = Chain { n };
    let y0 = chain_y0(n);
    let save_at = [0.1, 1.0];
    let y_bar = vec![vec![1.0, 0.0, -2.0, 0.5, 0.0, 1.0], vec![0.3; n]];
    let o = opts(DISCRETE, 1e-11, 1e-13);
    let g = vjp(&sys, &y0, &CHAIN_P, 0.0, &save_at, &o, &y_bar).unwrap();
    let loss = |y0: &[f64], p: &[f64]| -> f64 {
        let s = solve(&sys, y0, p, 0.0, &save_at, &o).unwrap();
        s.y.iter()
            .zip(&y_bar)
            .map(|(y, b)| y.iter().zip(b).map(|(u, v)| u * v).sum::<f64>())
            .sum()
    };
    let mut fd = Vec::new();
    for i in 0..n + CHAIN_P.len() {
        let mut x: Vec<f64> = y0.iter().chain(&CHAIN_P).copied().collect();
        let h = 1e-4 * x[i].abs().max(1.0);
        x[i] += h;
        let up = loss(&x[..n], &x[n..]);
        x[i] -= 2.0 * h;
        let down = loss(&x[..n], &x[n..]);
        fd.push((up - down) / (2.0 * h));
    }
    let ours: Vec<f64> = g.y0_bar.iter().chain(&g.p_bar).copied().collect();
    let e = rel_err(&ours, &fd, 0.0);
    eprintln!("fd: ours {ours:?}\n fd {fd:?}\n rel err {e:.1e}");
    assert!(e < 1e-6, "rel err {e:e}");
}

#[test]
fn the_tape_and_dual_inputs_give_the_same_derivative() {
    let o = opts(DISCRETE, 1e-8, 1e-12);
    let save_at = [1.0, 100.0];
    let weights = [[1.0, 1e4, 2.0], [0.5, -3e3, 1.0]];
    let loss = |y: &[Vec<f64>]| -> f64 {
        y.iter()
            .zip(&weights)
            .map(|(y, w)| y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>())
            .sum()
    };
    let y_bar: Vec<Vec<f64>> = weights.iter().map(|w| w.to_vec()).collect();
    let g = vjp(
        &Robertson,
        &Robertson::Y0,
        &Robertson::K,
        0.0,
        &save_at,
        &o,
        &y_bar,
    )
    .unwrap();
    let expect: Vec<f64> = g.y0_bar.iter().chain(&g.p_bar).copied().collect();
    // reverse through the tape (the DiscreteBlock's vjp)
    let tape = Tape::new();
    let y0 = tape.vars(&Robertson::Y0);
    let p = tape.vars(&Robertson::K);
    let sol = solve(&Robertson, &y0, &p, 0.0, &save_at, &o).unwrap();
    let mut l = y0[0] * 0.0;
    for (y, w) in sol.y.iter().zip(&weights) {
        for (a, b) in y.iter().zip(w) {
            l += *a * *b;
        }
    }
    assert!((l.value() - loss(&g.solution.y)).abs() < 1e-12 * l.value().abs());
    let adj = tape.gradient(l);
    let taped: Vec<f64> = y0.iter().chain(&p).map(|v| adj.wrt(*v)).collect();
    assert!(
        rel_err(&taped, &expect, 0.0) < 1e-13,
        "{taped:?} {expect:?}"
    );
    // tangents along each input (the DiscreteBlock's jvp): the same Jacobian, column by column
    for i in 0..6 {
        let seed = |k: usize, v: f64| Dual::<1>::new(v, [if k == i { 1.0 } else { 0.0 }]);
        let y0: Vec<Dual<1>> = (0..3).map(|k| seed(k, Robertson::Y0[k])).collect();
        let p: Vec<Dual<1>> = (0..3).map(|k| seed(k + 3, Robertson::K[k])).collect();
        let sol = solve(&Robertson, &y0, &p, 0.0, &save_at, &o).unwrap();
        let dl: f64 = sol
            .y
            .iter()
            .zip(&weights)
            .map(|(y, w)| y.iter().zip(w).map(|(a, b)| a.d[0] * b).sum::<f64>())
            .sum();
        let scale = expect.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            (dl - expect[i]).abs() < 1e-9 * scale,
            "input {i}: tangent {dl} vs adjoint {}",
            expect[i]
        );
    }
}

/// 1D Brusselator, `p = (α, B)`: `2 n` states, banded Jacobian.
type Bruss = ode::problems::Brusselator1d;

#[test]
fn sparse_path_matches_finite_differences_and_dense_forward() {
    let n = 40; // 80 states: the forward solve detects the sparse Jacobian
    let sys = Bruss { n };
    let y0 = Bruss { n }.initial_state();
    let p = [0.02, 3.4];
    let save_at = [0.5, 2.0];
    let y_bar: Vec<Vec<f64>> = (0..2)
        .map(|k| (0..2 * n).map(|i| ((i + k) % 3) as f64 - 1.0).collect())
        .collect();
    let o = opts(DISCRETE, 1e-10, 1e-10);
    let (_, st) = ode::stiff::solve_with_stats(&sys, &y0, &p, 0.0, &save_at, &o).unwrap();
    assert!(st.jacobian_nnz > 0, "the sparse path: {st:?}");
    let g = vjp(&sys, &y0, &p, 0.0, &save_at, &o, &y_bar).unwrap();
    // the same product by forward sensitivities (dense Jacobians, so slightly different
    // Newton iterations and steps): agreement to about the tolerance
    let f = vjp(
        &sys,
        &y0,
        &p,
        0.0,
        &save_at,
        &opts(Sensitivity::Forward, 1e-10, 1e-10),
        &y_bar,
    )
    .unwrap();
    let ours: Vec<f64> = g.y0_bar.iter().chain(&g.p_bar).copied().collect();
    let fwd: Vec<f64> = f.y0_bar.iter().chain(&f.p_bar).copied().collect();
    let e = rel_err(&ours, &fwd, 0.0);
    eprintln!("sparse vs dense forward: rel err {e:.1e}");
    assert!(e < 1e-6, "rel err {e:e}");
    // Dual inputs on the sparse path: the tangent recursion over the same log, the transpose
    // of the reverse one (<ȳ, J ṗ> = p̄ · ṗ)
    let yd: Vec<Dual<1>> = y0.iter().map(|&v| Dual::constant(v)).collect();
    let pd = [Dual::<1>::new(p[0], [1.0]), Dual::new(p[1], [-0.5])];
    let sol = solve(&sys, &yd, &pd, 0.0, &save_at, &o).unwrap();
    let dl: f64 = sol
        .y
        .iter()
        .zip(&y_bar)
        .map(|(y, b)| y.iter().zip(b).map(|(u, v)| u.d[0] * v).sum::<f64>())
        .sum();
    let expect = g.p_bar[0] - 0.5 * g.p_bar[1];
    assert!(
        (dl - expect).abs() < 1e-10 * g.p_bar[0].abs(),
        "tangent {dl} vs adjoint {expect}"
    );
    // central differences of the f64 solve (the sparse path too) in the parameters
    let loss = |p: &[f64]| -> f64 {
        let s = solve(&sys, &y0, p, 0.0, &save_at, &o).unwrap();
        s.y.iter()
            .zip(&y_bar)
            .map(|(y, b)| y.iter().zip(b).map(|(u, v)| u * v).sum::<f64>())
            .sum()
    };
    for i in 0..2 {
        let h = 1e-4 * p[i];
        let (mut up, mut down) = (p, p);
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        eprintln!("p{i}: ours {} fd {fd}", g.p_bar[i]);
        assert!(
            (g.p_bar[i] - fd).abs() < 1e-6 * fd.abs().max(1.0),
            "p{i}: {} vs {fd}",
            g.p_bar[i]
        );
    }
}
