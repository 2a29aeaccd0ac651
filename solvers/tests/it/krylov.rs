//! Krylov solvers: convergence against direct solves, preconditioners, adjoints vs direct.

use std::sync::Arc;

use ad_core::testing::{check_function, Rng};
use ad_core::{gradient, Function, Real};
use ndarray::{Array1, ArrayView1};
use solvers::krylov::{self, Ilu0, LinearOperator, Method, Options, Precond, Preconditioner};
use solvers::problems::{poisson2d, w2s_conductivity};
use solvers::sparse::{CsrMatrix, Pattern, SparseLu};
use solvers::Error;

fn nonsymmetric(rng: &mut Rng, n: usize) -> CsrMatrix<f64> {
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 4.0 + rng.uniform(0.0, 1.0)));
        if i > 0 {
            t.push((i, i - 1, rng.uniform(-1.5, -0.5)));
        }
        if i + 1 < n {
            t.push((i, i + 1, rng.uniform(-1.0, 0.5)));
        }
        let j = (rng.next_u64() % n as u64) as usize;
        t.push((i, j, rng.uniform(-0.5, 0.5)));
    }
    CsrMatrix::from_triplets(n, n, &t).unwrap()
}

fn rel_err(x: ArrayView1<f64>, y: ArrayView1<f64>) -> f64 {
    let d = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    d / y.iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn every_method_and_preconditioner_matches_the_direct_solve() {
    let mut rng = Rng::new(21);
    let m = 12;
    let spd = poisson2d(m, &rng.vec(m * m, 0.5, 2.0));
    let ns = nonsymmetric(&mut rng, 150);
    for (a, symmetric) in [(&spd, true), (&ns, false)] {
        let n = a.nrows();
        let b = Array1::from_vec(rng.vec(n, -1.0, 1.0));
        let direct = SparseLu::new(a).unwrap().solve(b.view()).unwrap();
        for method in [Method::Cg, Method::Gmres { restart: 20 }, Method::BiCgStab] {
            if method == Method::Cg && !symmetric {
                continue;
            }
            for precond in [
                Precond::Identity,
                Precond::Jacobi,
                Precond::Ilu0,
                Precond::Ic0,
            ] {
                if precond == Precond::Ic0 && !symmetric {
                    continue;
                }
                let opts = Options::new(method, precond).with_tol(1e-12).unwrap();
                let (x, rep) = krylov::solve(a, b.view(), &opts).unwrap();
                assert!(
                    rep.converged && rep.residual <= 1e-12,
                    "{method:?} {precond:?}: {rep:?}"
                );
                let e = rel_err(x.view(), direct.view());
                assert!(e <= 1e-9, "{method:?} {precond:?}: error {e:.2e}");
            }
        }
    }
}

#[test]
fn cg_with_ic0_on_the_w2s_matrix_needs_fewer_iterations() {
    let m = 40;
    let a = poisson2d(m, &w2s_conductivity(m));
    let b = Array1::ones(m * m);
    let run = |p| {
        let opts = Options::new(Method::Cg, p).with_tol(1e-10).unwrap();
        krylov::solve(&a, b.view(), &opts).unwrap().1
    };
    let (plain, jac, ic) = (
        run(Precond::Identity),
        run(Precond::Jacobi),
        run(Precond::Ic0),
    );
    assert!(plain.converged && jac.converged && ic.converged);
    assert!(ic.iterations < jac.iterations && jac.iterations <= plain.iterations);
    assert!(ic.iterations * 2 < plain.iterations, "{ic:?} vs {plain:?}");
}

#[test]
fn ilu0_of_a_tridiagonal_matrix_is_exact() {
    let mut rng = Rng::new(22);
    let n = 50;
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 3.0 + rng.uniform(0.0, 1.0)));
        if i > 0 {
            t.push((i, i - 1, rng.uniform(-1.0, 1.0)));
            t.push((i - 1, i, rng.uniform(-1.0, 1.0)));
        }
    }
    let a = CsrMatrix::from_triplets(n, n, &t).unwrap();
    let b = Array1::from_vec(rng.vec(n, -1.0, 1.0));
    let opts = Options::new(Method::Gmres { restart: 10 }, Precond::Ilu0)
        .with_tol(1e-12)
        .unwrap();
    let (_, rep) = krylov::solve(&a, b.view(), &opts).unwrap();
    assert!(rep.iterations <= 2, "{rep:?}");
    // M^{-T} is the transpose of M^{-1}: <M^{-1} u, v> = <u, M^{-T} v>.
    let ilu = Ilu0::new(&a).unwrap();
    let (u, v) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
    let (mut mu, mut mv) = (vec![0.0; n], vec![0.0; n]);
    ilu.apply(&u, &mut mu);
    ilu.apply_transpose(&v, &mut mv);
    let l: f64 = mu.iter().zip(&v).map(|(a, b)| a * b).sum();
    let r: f64 = u.iter().zip(&mv).map(|(a, b)| a * b).sum();
    assert!((l - r).abs() <= 1e-12 * l.abs().max(1.0));
}

/// x = A^{-1} b by a Krylov method, inputs [values, b].
struct KrylovF {
    pattern: Arc<Pattern>,
    opts: Options,
}
impl Function for KrylovF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let nnz = self.pattern.nnz();
        let a = CsrMatrix::new(self.pattern.clone(), p[..nnz].to_vec()).unwrap();
        krylov::solve(&a, ArrayView1::from(&p[nnz..]), &self.opts)
            .unwrap()
            .0
            .to_vec()
    }
}

#[test]
fn krylov_adjoints_pass_the_shared_checker() {
    let mut rng = Rng::new(23);
    let ns = nonsymmetric(&mut rng, 20);
    let m = 4;
    let spd = poisson2d(m, &rng.vec(m * m, 0.5, 2.0));
    let spd = CsrMatrix::new(
        spd.pattern().clone(),
        spd.values().iter().map(|v| v / 25.0).collect(),
    )
    .unwrap();
    for (a, method, precond) in [
        (&ns, Method::Gmres { restart: 8 }, Precond::Ilu0),
        (&ns, Method::BiCgStab, Precond::Jacobi),
        (&spd, Method::Cg, Precond::Ic0),
    ] {
        let opts = Options::new(method, precond).with_tol(1e-13).unwrap();
        let f = KrylovF {
            pattern: a.pattern().clone(),
            opts,
        };
        let mut p = a.values().to_vec();
        p.extend(rng.vec(a.nrows(), -1.0, 1.0));
        for seed in 0..2 {
            check_function(&f, &p, seed).assert_close(1e-6);
        }
    }
}

/// The W2s loss by CG + IC(0) or by sparse LU.
fn loss<S: Real>(k: &[S], m: usize, krylov: bool) -> S {
    let a = poisson2d(m, k);
    let b = Array1::from_elem(m * m, S::one());
    let u = if krylov {
        let opts = Options::new(Method::Cg, Precond::Ic0)
            .with_tol(1e-12)
            .unwrap();
        krylov::solve(&a, b.view(), &opts).unwrap().0
    } else {
        SparseLu::new(&a).unwrap().solve(b.view()).unwrap()
    };
    u.iter().copied().sum()
}

#[test]
fn krylov_gradient_agrees_with_the_direct_adjoint() {
    let m = 10;
    let k = w2s_conductivity(m);
    let (vk, gk) = gradient(|k| loss(k, m, true), &k);
    let (vd, gd) = gradient(|k| loss(k, m, false), &k);
    assert!((vk - vd).abs() <= 1e-10 * vd.abs());
    let scale = gd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let e = gk
        .iter()
        .zip(&gd)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        e <= 1e-9 * scale,
        "max gradient difference {e:.2e} (scale {scale:.2e})"
    );
}

/// A matrix-free operator: the 1-D Laplacian tridiag(-1, 2, -1).
struct Laplace1d(usize);
impl LinearOperator for Laplace1d {
    fn dim(&self) -> usize {
        self.0
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let n = self.0;
        for i in 0..n {
            let l = if i > 0 { x[i - 1] } else { 0.0 };
            let r = if i + 1 < n { x[i + 1] } else { 0.0 };
            y[i] = 2.0 * x[i] - l - r;
        }
    }
    fn apply_transpose(&self, x: &[f64], y: &mut [f64]) {
        self.apply(x, y)
    }
}

#[test]
fn matrix_free_operator_solve_and_rhs_gradient() {
    let n = 40;
    let opts = Options::new(Method::Cg, Precond::Identity);
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).sin()).collect();
    let (v, g) = gradient(
        |b| {
            let (x, _) = krylov::solve_operator(
                Arc::new(Laplace1d(n)),
                Arc::new(krylov::Identity),
                ArrayView1::from(b),
                &opts,
            )
            .unwrap();
            x.iter().copied().sum()
        },
        &b,
    );
    // sum(A^{-1} b) = (A^{-1} 1) . b since A is symmetric.
    let (w, _) = krylov::solve_f64(&Laplace1d(n), &krylov::Identity, &vec![1.0; n], &opts).unwrap();
    let expect: f64 = w.iter().zip(&b).map(|(a, b)| a * b).sum();
    assert!((v - expect).abs() <= 1e-8 * expect.abs());
    for (gi, wi) in g.iter().zip(&w) {
        assert!((gi - wi).abs() <= 1e-8 * wi.abs().max(1.0));
    }
}

#[test]
fn krylov_errors() {
    let m = 20;
    let a = poisson2d(m, &w2s_conductivity(m));
    let b = Array1::ones(m * m);
    let opts = Options::new(Method::Cg, Precond::Identity).with_max_iter(3);
    assert!(matches!(
        krylov::solve(&a, b.view(), &opts),
        Err(Error::NotConverged { iterations: 3, .. })
    ));
    let indefinite =
        CsrMatrix::from_triplets(2, 2, &[(0, 0, 1.0), (0, 1, 2.0), (1, 0, 2.0), (1, 1, 1.0)])
            .unwrap();
    assert!(matches!(
        krylov::Ic0::new(&indefinite),
        Err(Error::NotPositiveDefinite { index: 1 })
    ));
    assert!(Options::default().with_tol(0.0).is_err());
    assert!(matches!(
        krylov::solve(&a, Array1::ones(3).view(), &Options::default()),
        Err(Error::DimensionMismatch { .. })
    ));
}

/// The W2s-type loss by CG + IC(0) (constant right-hand side: only the values are inputs).
struct CgLoss(usize);
impl Function for CgLoss {
    fn eval<S: Real>(&self, k: &[S]) -> Vec<S> {
        vec![loss(k, self.0, true)]
    }
}

#[test]
fn constant_rhs_krylov_path_passes_the_shared_checker() {
    for seed in 0..2 {
        check_function(&CgLoss(4), &w2s_conductivity(4), seed).assert_close(1e-6);
    }
}
