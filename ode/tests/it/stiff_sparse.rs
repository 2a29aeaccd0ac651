//! Sparse Jacobians detected automatically: a 1D Brusselator (2 x 100 states, tridiagonal
//! coupling) solved by BDF with the sparse path agrees with Rodas4 (dense) and with a tight
//! solve; the pattern (traced, structural) and colouring are small.

use ode::stiff::solve_with_stats;
use ode::{Method, OdeSystem, Options, Real};

/// The 1D Brusselator of `ode::problems` at `B = 3.4` (Hairer & Wanner II, IV.1, BRUSS), so
/// `p = (α, B) = (0.02, 3.4)`.
type Bruss = ode::problems::Brusselator1d;

/// `(α, B)`.
const P: [f64; 2] = [0.02, 3.4];

#[test]
fn sparse_bdf_agrees_with_dense_rodas4() {
    let n = 100;
    let sys = Bruss { n };
    let ts = [1.0, 5.0, 10.0];
    let opts = |method, rtol| Options {
        method,
        rtol,
        atol: rtol,
        ..Default::default()
    };
    let (sp, st) = solve_with_stats(
        &sys,
        &Bruss { n }.initial_state(),
        &P,
        0.0,
        &ts,
        &opts(Method::Bdf, 1e-7),
    )
    .unwrap();
    eprintln!("sparse BDF: {:?} {st:?}", sp.stats);
    // a tridiagonal-by-blocks pattern: at most 6 entries per row, a handful of colours
    assert!(
        st.jacobian_nnz > 0 && st.jacobian_nnz <= 6 * 2 * n,
        "{st:?}"
    );
    assert!(st.jacobian_colours <= 8, "{st:?}");
    let (dn, _) = solve_with_stats(
        &sys,
        &Bruss { n }.initial_state(),
        &P,
        0.0,
        &ts,
        &opts(Method::Rodas4, 1e-9),
    )
    .unwrap();
    let (tight, _) = solve_with_stats(
        &sys,
        &Bruss { n }.initial_state(),
        &P,
        0.0,
        &ts,
        &opts(Method::Bdf, 1e-11),
    )
    .unwrap();
    for k in 0..ts.len() {
        for i in 0..2 * n {
            let r = tight.y[k][i];
            assert!(
                (sp.y[k][i] - r).abs() < 1e-4 * (1.0 + r.abs()),
                "k {k} i {i}"
            );
            assert!(
                (dn.y[k][i] - r).abs() < 1e-6 * (1.0 + r.abs()),
                "k {k} i {i}"
            );
        }
    }
}

#[test]
fn traced_detection_finds_the_exact_pattern() {
    // 1000 states
    let n = 500;
    let sys = Bruss { n };
    let opts = Options {
        method: Method::Bdf,
        rtol: 1e-6,
        atol: 1e-6,
        ..Default::default()
    };
    let (sol, st) =
        solve_with_stats(&sys, &Bruss { n }.initial_state(), &P, 0.0, &[2.0], &opts).unwrap();
    eprintln!("{:?} {st:?}", sol.stats);
    // rows of u_i: u_{i-1}, u_i, v_i, u_{i+1}; of v_i: v_{i-1}, u_i, v_i, v_{i+1}
    assert_eq!(st.jacobian_nnz, 4 * 2 * n - 4, "{st:?}");
    assert!(st.jacobian_colours <= 8, "{st:?}");
    assert!(st.jac_rhs_evals < 150, "{st:?}");
    let tight = Options {
        rtol: 1e-10,
        atol: 1e-10,
        ..opts
    };
    let (r, _) =
        solve_with_stats(&sys, &Bruss { n }.initial_state(), &P, 0.0, &[2.0], &tight).unwrap();
    for (a, b) in sol.y[0].iter().zip(&r.y[0]) {
        assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()));
    }
}

/// The pattern is structural: at a state with every u_i = 0 the partials of u^2 v vanish, yet
/// the entries are found (a numerical Jacobian at that state would miss them).
#[test]
fn detection_is_structural_at_zero_concentrations() {
    let n = 100;
    let sys = Bruss { n };
    let y0: Vec<f64> = (0..n).flat_map(|_| [0.0, 3.0]).collect();
    let opts = Options {
        method: Method::Bdf,
        rtol: 1e-6,
        atol: 1e-6,
        ..Default::default()
    };
    let (_, st) = solve_with_stats(&sys, &y0, &P, 0.0, &[0.1], &opts).unwrap();
    assert_eq!(st.jacobian_nnz, 4 * 2 * n - 4, "{st:?}");
}

/// `Bruss` with a branch on a state value: the same values, but its traced pattern holds at
/// the traced point only, so the stiff adjoint keeps `[J | ∂f/∂p]` dense.
#[derive(Clone)]
struct Branchy(Bruss);

impl OdeSystem for Branchy {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn n_params(&self) -> usize {
        self.0.n_params()
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        if y[0] > -1e300 {
            self.0.rhs(t, y, p, dy)
        }
    }
}

/// The stiff continuous adjoint of a 262-input system takes `[J | ∂f/∂p]` on its traced
/// pattern (O(nnz) memory): it agrees with the dense adjoint to rounding-level differences and
/// with a central difference of the f64 solve along a direction to the tolerance.
#[test]
fn sparse_stiff_adjoint_agrees_with_dense_and_finite_differences() {
    use ode::Sensitivity;
    let n = 130;
    let sys = Bruss { n };
    let adj = Options {
        method: Method::Bdf,
        rtol: 1e-9,
        atol: 1e-9,
        sensitivity: Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ..Default::default()
    };
    let save = [0.5, 1.0];
    let w: Vec<Vec<f64>> = (0..2)
        .map(|k| {
            (0..2 * n)
                .map(|i| ((i + 7 * k) as f64 * 0.13).sin())
                .collect()
        })
        .collect();
    let (y0, p) = (Bruss { n }.initial_state(), P);
    let sparse = ode::vjp(&sys, &y0, &p, 0.0, &save, &adj, &w).unwrap();
    let dense = ode::vjp(&Branchy(sys), &y0, &p, 0.0, &save, &adj, &w).unwrap();
    let all =
        |g: &ode::Gradient| -> Vec<f64> { g.y0_bar.iter().chain(&g.p_bar).copied().collect() };
    let (s, d) = (all(&sparse), all(&dense));
    let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (a, b) in s.iter().zip(&d) {
        assert!((a - b).abs() <= 1e-9 * norm, "sparse {a} vs dense {b}");
    }
    // directional derivative of sum_k w_k . y(t_k) along v in (y0, α) (α scaled: its step is 1e-2
    // of it; B fixed)
    let v: Vec<f64> = (0..=2 * n).map(|i| (i as f64 * 0.71).cos()).collect();
    let tight = Options {
        rtol: 1e-12,
        atol: 1e-12,
        sensitivity: Sensitivity::Auto,
        ..adj
    };
    let loss = |h: f64| -> f64 {
        let yh: Vec<f64> = y0.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let ph = [p[0] * (1.0 + h * v[2 * n]), p[1]];
        let sol = ode::solve(&sys, &yh, &ph, 0.0, &save, &tight).unwrap();
        sol.y
            .iter()
            .zip(&w)
            .map(|(y, wk)| y.iter().zip(wk).map(|(a, b)| a * b).sum::<f64>())
            .sum()
    };
    let h = 1e-4;
    let fd = (loss(h) - loss(-h)) / (2.0 * h);
    let ad: f64 =
        s[..2 * n].iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() + s[2 * n] * p[0] * v[2 * n];
    assert!(
        (fd - ad).abs() <= 1e-5 * fd.abs().max(1.0),
        "adjoint {ad} vs difference {fd}"
    );
}
