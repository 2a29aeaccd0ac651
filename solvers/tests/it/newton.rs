//! Newton: convergence, implicit-function gradients vs finite differences of the converged
//! solve, nothing of the iterations on the tape, errors.

use ad_core::testing::check_function;
use ad_core::{gradient, Function, Real, Tape};
use solvers::newton::{self, Options, Residual};
use solvers::Error;

/// Circle of radius^2 theta0 meets the line x0 = theta1 x1.
#[derive(Clone)]
struct CircleLine;
impl Residual for CircleLine {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        2
    }
    fn residual<S: Real>(&self, x: &[S], th: &[S], out: &mut [S]) {
        out[0] = x[0] * x[0] + x[1] * x[1] - th[0];
        out[1] = x[0] - th[1] * x[1];
    }
}

/// Bratu-type boundary value problem -u'' = theta_i exp(u) on n interior nodes, u = 0 at the
/// ends, one source coefficient per node.
#[derive(Clone)]
struct Bratu(usize);
impl Residual for Bratu {
    fn dim(&self) -> usize {
        self.0
    }
    fn n_params(&self) -> usize {
        self.0
    }
    fn residual<S: Real>(&self, u: &[S], th: &[S], out: &mut [S]) {
        let n = self.0;
        let h2 = ((n + 1) * (n + 1)) as f64;
        for i in 0..n {
            let l = if i > 0 { u[i - 1] } else { S::zero() };
            let r = if i + 1 < n { u[i + 1] } else { S::zero() };
            out[i] = (u[i] * 2.0 - l - r) * h2 - th[i] * u[i].exp();
        }
    }
}

fn bratu_theta(n: usize) -> Vec<f64> {
    (0..n).map(|i| 1.0 + 0.3 * (i as f64).sin()).collect()
}

/// theta -> x*(theta), for the shared checker.
struct Solved<R>(R, Vec<f64>);
impl<R: Residual + Clone + 'static> Function for Solved<R> {
    fn eval<S: Real>(&self, th: &[S]) -> Vec<S> {
        let opts = Options::default().with_tol(1e-13).unwrap();
        newton::solve(&self.0, &self.1, th, &opts).unwrap().0
    }
}

#[test]
fn converges_quadratically_to_the_known_root() {
    let (x, rep) =
        newton::solve(&CircleLine, &[1.0, 1.0], &[2.0, 0.5], &Options::default()).unwrap();
    let x1 = (2.0f64 / 1.25).sqrt();
    assert!((x[1] - x1).abs() < 1e-12 && (x[0] - 0.5 * x1).abs() < 1e-12);
    assert!(rep.iterations <= 7 && rep.residual <= 1e-12, "{rep:?}");
    let n = 30;
    let (u, rep) = newton::solve(
        &Bratu(n),
        &vec![0.0; n],
        &bratu_theta(n),
        &Options::default(),
    )
    .unwrap();
    assert!(rep.iterations <= 8, "{rep:?}");
    assert!(u.iter().all(|&v| v > 0.0 && v < 1.0));
}

#[test]
fn implicit_gradients_pass_the_shared_checker() {
    check_function(&Solved(CircleLine, vec![1.0, 1.0]), &[2.0, 0.5], 1).assert_close(1e-7);
    check_function(&Solved(CircleLine, vec![1.0, 1.0]), &[3.0, -0.7], 2).assert_close(1e-7);
    let n = 12;
    for seed in 0..2 {
        check_function(&Solved(Bratu(n), vec![0.0; n]), &bratu_theta(n), seed).assert_close(1e-6);
    }
}

#[test]
fn implicit_gradient_matches_finite_differences_of_the_converged_solve() {
    let n = 20;
    let th = bratu_theta(n);
    let opts = Options::default().with_tol(1e-13).unwrap();
    let loss = |th: &[f64]| -> f64 {
        let (u, _) = newton::solve(&Bratu(n), &vec![0.0; n], th, &opts).unwrap();
        u.iter().map(|v| v * v).sum()
    };
    let (v, g) = gradient(
        |th| {
            let (u, _) = newton::solve(&Bratu(n), &vec![0.0; n], th, &opts).unwrap();
            u.iter().map(|&v| v * v).sum()
        },
        &th,
    );
    assert!((v - loss(&th)).abs() <= 1e-14 * v);
    let h = 1e-5;
    for i in [0, 5, 10, 19] {
        let mut tp = th.clone();
        tp[i] += h;
        let fp = loss(&tp);
        tp[i] -= 2.0 * h;
        let fd = (fp - loss(&tp)) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() <= 1e-7 * fd.abs().max(1e-3),
            "theta[{i}]: fd {fd} vs {}",
            g[i]
        );
    }
}

#[test]
fn the_tape_holds_one_block_not_the_iterations() {
    let n = 25;
    let tape = Tape::new();
    let th = tape.vars(&bratu_theta(n));
    let before = tape.len();
    let (u, rep) = newton::solve(&Bratu(n), &vec![0.0; n], &th, &Options::default()).unwrap();
    assert!(rep.iterations >= 3);
    assert_eq!(
        tape.len() - before,
        n,
        "only the block's outputs are recorded"
    );
    assert!(u.iter().all(|v| !v.is_constant()));
}

#[test]
fn newton_errors() {
    // x^2 + 1 = 0 has no real root.
    #[derive(Clone)]
    struct NoRoot;
    impl Residual for NoRoot {
        fn dim(&self) -> usize {
            1
        }
        fn n_params(&self) -> usize {
            1
        }
        fn residual<S: Real>(&self, x: &[S], th: &[S], out: &mut [S]) {
            out[0] = x[0] * x[0] + th[0];
        }
    }
    let r = newton::solve(&NoRoot, &[1.0], &[1.0], &Options::default());
    assert!(
        matches!(
            r,
            Err(Error::Singular { .. }
                | Error::LineSearchFailed { .. }
                | Error::NotConverged { .. })
        ),
        "{r:?}"
    );
    let n = 10;
    let opts = Options::default().with_max_iter(1);
    assert!(matches!(
        newton::solve(&Bratu(n), &vec![0.0; n], &bratu_theta(n), &opts),
        Err(Error::NotConverged { iterations: 1, .. })
    ));
    assert!(matches!(
        newton::solve(&Bratu(n), &[0.0; 3], &bratu_theta(n), &Options::default()),
        Err(Error::DimensionMismatch {
            expected: 10,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        newton::solve(
            &CircleLine,
            &[f64::NAN, 1.0],
            &[1.0, 1.0],
            &Options::default()
        ),
        Err(Error::NonFinite { .. })
    ));
}

/// The tridiagonal pattern of the Bratu Jacobian.
fn tridiagonal(n: usize) -> std::sync::Arc<solvers::sparse::Pattern> {
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in i.saturating_sub(1)..(i + 2).min(n) {
            rows.push(i);
            cols.push(j);
        }
    }
    solvers::sparse::Pattern::from_entries(n, n, &rows, &cols)
        .unwrap()
        .0
}

/// theta -> x*(theta) with the sparse Jacobian path.
struct SolvedSparse(usize);
impl Function for SolvedSparse {
    fn eval<S: Real>(&self, th: &[S]) -> Vec<S> {
        let n = self.0;
        let opts = Options::default()
            .with_tol(1e-13)
            .unwrap()
            .with_sparsity(tridiagonal(n));
        newton::solve(&Bratu(n), &vec![0.0; n], th, &opts)
            .unwrap()
            .0
    }
}

#[test]
fn sparse_jacobian_path_agrees_with_dense() {
    let n = 40;
    let th = bratu_theta(n);
    let dense = Options::default().with_tol(1e-13).unwrap();
    let sparse = dense.clone().with_sparsity(tridiagonal(n));
    let (ud, rd) = newton::solve(&Bratu(n), &vec![0.0; n], &th, &dense).unwrap();
    let (us, rs) = newton::solve(&Bratu(n), &vec![0.0; n], &th, &sparse).unwrap();
    assert_eq!(rd.iterations, rs.iterations);
    for (a, b) in ud.iter().zip(&us) {
        assert!((a - b).abs() <= 1e-12);
    }
    let loss = |opts: &Options| {
        gradient(
            |th| {
                let (u, _) = newton::solve(&Bratu(n), &vec![0.0; n], th, opts).unwrap();
                u.iter().map(|&v| v * v).sum()
            },
            &th,
        )
    };
    let ((vd, gd), (vs, gs)) = (loss(&dense), loss(&sparse));
    assert!((vd - vs).abs() <= 1e-13 * vd);
    for (a, b) in gd.iter().zip(&gs) {
        assert!((a - b).abs() <= 1e-10 * a.abs().max(1e-6));
    }
    for seed in 0..2 {
        check_function(&SolvedSparse(12), &bratu_theta(12), seed).assert_close(1e-6);
    }
}
