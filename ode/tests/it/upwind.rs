//! A state-branching stiff system (`problems::UpwindAdvection`, 80 cells: the upwind
//! difference branches on the sign of a state-dependent velocity, and the branch flips in many
//! cells during the solve) through BDF with every sensitivity at rtol 1e-10, within 1e-6 of
//! central differences of converged solves (BDF and Tsit5 at rtol 1e-13). Its Jacobian
//! pattern traced at the initial state misses entries it has later; before the stiff solver
//! refused such a pattern, BDF's discrete adjoint (and `Auto`) solved with the transpose of a
//! corrupted sparse Newton matrix and returned gradients of ~1e38 with no error.

use ad_core::sparsity::{
    global_jacobian_sparsity, jacobian_sparsity, CompressedJacobian, SparsityError, Tracer,
};
use ad_core::Dual;
use ode::problems::UpwindAdvection;
use ode::stiff::solve_with_stats;
use ode::{solve, vjp, Method, OdeSystem, Options, Sensitivity};

const SYS: UpwindAdvection = UpwindAdvection { n: 80 };
const SAVE_AT: [f64; 4] = [0.02, 0.25, 0.5, 1.0];
const RTOL: f64 = 1e-10;

fn opts(sensitivity: Sensitivity) -> Options {
    Options {
        method: Method::Bdf,
        rtol: RTOL,
        atol: 1e-12,
        sensitivity,
        ..Default::default()
    }
}

/// The loss's weights: `L = Σ_k y_bar[k] · y(t_k)`.
fn y_bar() -> Vec<Vec<f64>> {
    (0..SAVE_AT.len())
        .map(|k| {
            (0..SYS.n)
                .map(|i| (0.7 * i as f64 + k as f64).cos())
                .collect()
        })
        .collect()
}

/// The loss from the `f64` solve with `o`.
fn loss(y0: &[f64], p: &[f64], o: &Options) -> f64 {
    let sol = solve(&SYS, y0, p, 0.0, &SAVE_AT, o).unwrap();
    sol.y
        .iter()
        .zip(y_bar())
        .map(|(y, w)| y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>())
        .sum()
}

/// `(L(c + h) - L(c - h)) / 2h` along a line; with `richardson`, extrapolated from steps `h`
/// and `h / 2` (the `h²` term cancels where the solution is smooth in the parameter).
fn central(line: impl Fn(f64) -> f64, h: f64, richardson: bool) -> f64 {
    let d = |h: f64| (line(h) - line(-h)) / (2.0 * h);
    if richardson {
        (4.0 * d(h / 2.0) - d(h)) / 3.0
    } else {
        d(h)
    }
}

/// Central differences of the solver with options `o`, `(dL/dp, dL/dy0 · dir)`, with
/// relative steps `h`.
fn central_differences(o: &Options, dir: &[f64], h: f64, richardson: bool) -> Vec<f64> {
    let (y0, p) = (SYS.initial_state(), UpwindAdvection::P);
    let mut out: Vec<f64> = (0..3)
        .map(|j| {
            let line = |s: f64| {
                let mut q = p;
                q[j] += s;
                loss(&y0, &q, o)
            };
            central(line, h * p[j].abs(), richardson)
        })
        .collect();
    let line = |s: f64| {
        let y: Vec<f64> = y0.iter().zip(dir).map(|(y, d)| y + s * d).collect();
        loss(&y, &p, o)
    };
    out.push(central(line, h, richardson));
    out
}

/// `|a - b| / |b|` (Euclidean).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let n: f64 = b.iter().map(|y| y * y).sum();
    (d / n).sqrt()
}

#[test]
fn the_traced_pattern_is_local_and_is_refused() {
    let (y0, p) = (SYS.initial_state(), UpwindAdvection::P);
    let n = SYS.n;
    let trace = |y: &[Tracer], out: &mut [Tracer]| {
        let pt: Vec<Tracer> = p.iter().map(|&v| Tracer::constant(v)).collect();
        SYS.rhs(Tracer::constant(0.0), y, &pt, out)
    };
    let s = jacobian_sparsity(&y0, n, usize::MAX, trace).unwrap();
    assert!(s.is_local());
    // at a point each row holds one neighbour of two: 2 n entries, not 3 n
    assert_eq!(s.nnz(), 2 * n);
    assert_eq!(
        global_jacobian_sparsity(&y0, n, usize::MAX, trace),
        Err(SparsityError::Local)
    );
    // so BDF solves it with dense Jacobians
    let (sol, st) =
        solve_with_stats(&SYS, &y0, &p, 0.0, &SAVE_AT, &opts(Sensitivity::Auto)).unwrap();
    assert_eq!(st.jacobian_nnz, 0, "{st:?}");
    // what the rule prevents: at the end, where branches have flipped, the Jacobian on the
    // initial pattern with its colouring has wrong entries, not only missing ones
    let y1 = sol.y.last().unwrap();
    let pd: Vec<Dual<8>> = p.iter().map(|&v| Dual::constant(v)).collect();
    let mut jac = CompressedJacobian::new(s);
    let mut vals = vec![0.0; jac.sparsity().nnz()];
    jac.values(
        y1,
        |y: &[Dual<8>], out: &mut [Dual<8>]| SYS.rhs(Dual::constant(0.0), y, &pd, out),
        &mut vals,
    );
    let p1: Vec<Dual<1>> = p.iter().map(|&v| Dual::constant(v)).collect();
    let column = |j: usize| {
        let y: Vec<Dual<1>> = (0..n)
            .map(|k| {
                let mut d = Dual::<1>::constant(y1[k]);
                d.d[0] = if k == j { 1.0 } else { 0.0 };
                d
            })
            .collect();
        let mut out = vec![Dual::<1>::constant(0.0); n];
        SYS.rhs(Dual::constant(0.0), &y, &p1, &mut out);
        out.iter().map(|o| o.d[0]).collect::<Vec<f64>>()
    };
    let exact: Vec<Vec<f64>> = (0..n).map(column).collect(); // exact[j][i] = J_ij
    let sp = jac.sparsity();
    let wrong = (0..n)
        .flat_map(|i| (sp.row_start()[i]..sp.row_start()[i + 1]).map(move |k| (i, k)))
        .filter(|&(i, k)| (vals[k] - exact[sp.col_index()[k]][i]).abs() > 1e-8)
        .count();
    assert!(
        wrong > 0,
        "the stale pattern happened to give the right entries"
    );
}

#[test]
fn the_upwind_branch_flips_during_the_solve() {
    let (y0, p) = (SYS.initial_state(), UpwindAdvection::P);
    let sol = solve(&SYS, &y0, &p, 0.0, &SAVE_AT, &opts(Sensitivity::Auto)).unwrap();
    let n = SYS.n;
    let sign = |y: &[f64], i: usize| p[2] * (y[i] - p[0]) > 0.0;
    let last = sol.y.last().unwrap();
    let flips = (0..n).filter(|&i| sign(&y0, i) != sign(last, i)).count();
    assert!(flips >= 10, "{flips} cells flip");
}

#[test]
fn every_sensitivity_matches_central_differences() {
    let (y0, p) = (SYS.initial_state(), UpwindAdvection::P);
    let dir: Vec<f64> = (0..SYS.n).map(|i| (1.3 * i as f64).sin()).collect();
    // the right-hand side is only piecewise smooth (a kink where v_i changes sign), so central
    // differences are taken at several steps; at the solve's own rtol 1e-10 the solver's error
    // divided by the step limits them to ~2e-5, so the references are central differences of
    // converged solves (rtol 1e-13): BDF, and Tsit5 as an independent method
    let at = |method: Method, rtol: f64| Options {
        method,
        rtol,
        atol: 1e-15,
        max_steps: 10_000_000,
        ..Default::default()
    };
    let fds: Vec<(String, Vec<f64>)> = [
        (
            "rtol 1e-10, h 1e-3 richardson",
            opts(Sensitivity::Auto),
            1e-3,
            true,
        ),
        ("rtol 1e-10, h 1e-4", opts(Sensitivity::Auto), 1e-4, false),
        (
            "BDF rtol 1e-13, h 1e-3 richardson",
            at(Method::Bdf, 1e-13),
            1e-3,
            true,
        ),
        (
            "Tsit5 rtol 1e-13, h 1e-3 richardson",
            at(Method::Tsit5, 1e-13),
            1e-3,
            true,
        ),
    ]
    .iter()
    .map(|(name, o, h, r)| (name.to_string(), central_differences(o, &dir, *h, *r)))
    .collect();
    for (name, fd) in &fds {
        eprintln!("central differences, {name}: {fd:?}");
    }
    let methods = [
        ("forward", Sensitivity::Forward),
        ("discrete", Sensitivity::DiscreteAdjoint { checkpoints: 64 }),
        (
            "continuous",
            Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ),
        ("auto", Sensitivity::Auto),
    ];
    let mut grads = Vec::new();
    for (name, s) in methods {
        let g = vjp(&SYS, &y0, &p, 0.0, &SAVE_AT, &opts(s), &y_bar()).unwrap();
        let along: f64 = g.y0_bar.iter().zip(&dir).map(|(a, b)| a * b).sum();
        let got: Vec<f64> = g.p_bar.iter().copied().chain([along]).collect();
        let errs: Vec<f64> = fds.iter().map(|(_, fd)| rel(&got, fd)).collect();
        eprintln!("{name}: {got:?}, error against each: {errs:?}");
        // measured against the converged differences: 2.4e-8 (BDF), 2.8e-7 (Tsit5), and
        // 1.7e-5 against those of the rtol 1e-10 solve itself (their own error)
        assert!(
            errs[0] < 5e-5,
            "{name}: against rtol 1e-10 differences {:e}",
            errs[0]
        );
        for (e, (fd_name, _)) in errs[2..].iter().zip(&fds[2..]) {
            assert!(*e < 1e-6, "{name}: against {fd_name}: {e:e}");
        }
        grads.push((name, got));
    }
    // the exact derivatives of the numerical solution agree to rounding; the continuous
    // adjoint to its tolerance
    for (name, g) in &grads[1..] {
        let e = rel(g, &grads[0].1);
        eprintln!("{name} against forward: {e:.2e}");
        assert!(e < 1e-6, "{name} against forward: {e:e}");
    }
}
