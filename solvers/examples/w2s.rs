//! W2s sparse-solve (BENCHMARKS.md): the 2D variable-conductivity Poisson problem on an
//! `m x m` grid (m = 300, n = 90_000), `-div(k grad u) = 1`, loss = h^2 sum_c u[c]; gradient
//! w.r.t. all conductivities `k`.
//!
//! `cargo run --release -p solvers --example w2s -- [m]` prints the median primal and
//! value+gradient times over 5 runs after a warm-up (sparse Cholesky, symbolic analysis
//! cached), their ratio, the loss and the gradient norm, then CG with IC(0) on the same matrix.

use std::time::Instant;

use ad_core::{Real, Tape};
use ndarray::Array1;
use solvers::krylov::{self, Method, Options, Precond};
use solvers::problems::{poisson2d, poisson2d_pattern, w2s_conductivity};
use solvers::sparse::{SparseCholesky, SymbolicCholesky};

/// The loss, generic over the scalar.
fn loss<S: Real>(k: &[S], m: usize, symbolic: &SymbolicCholesky) -> S {
    let a = poisson2d(m, k);
    let b = Array1::from_elem(m * m, S::one());
    let u = SparseCholesky::with_symbolic(symbolic, &a)
        .and_then(|c| c.solve(b.view()))
        .expect("the W2s matrix is SPD");
    let h = 1.0 / (m + 1) as f64;
    u.iter().copied().sum::<S>() * (h * h)
}

/// The peer baseline on f64: sparse Cholesky (cached symbolic) + a hand-written adjoint through
/// the assembly: `lambda = A^{-1} (h^2 1)`, `A_bar[i,j] = -lambda_i u_j`, then the chain rule of
/// the harmonic means by hand.
fn hand(k: &[f64], m: usize, symbolic: &SymbolicCholesky) -> (f64, Vec<f64>) {
    let h2 = 1.0 / ((m + 1) * (m + 1)) as f64;
    let a = poisson2d(m, k);
    let c = SparseCholesky::with_symbolic(symbolic, &a).unwrap();
    let u = c.solve(Array1::ones(m * m).view()).unwrap();
    let lam = c.solve(Array1::from_elem(m * m, h2).view()).unwrap();
    let mut g = vec![0.0; m * m];
    for r in 0..m {
        for s in 0..m {
            let i = r * m + s;
            // d A[i][i] = sum_links d kl / h^2, d A[i][j] = -d kl / h^2; A_bar = -lam u^T.
            let diag_bar = -lam[i] * u[i];
            let neighbours = [
                (r > 0).then(|| i - m),
                (s > 0).then(|| i - 1),
                (s + 1 < m).then(|| i + 1),
                (r + 1 < m).then(|| i + m),
            ];
            for nb in neighbours {
                match nb {
                    Some(j) => {
                        let (a, b) = (k[i], k[j]);
                        let w = (diag_bar + lam[i] * u[j]) / h2 * 2.0 / ((a + b) * (a + b));
                        g[i] += w * b * b;
                        g[j] += w * a * a;
                    }
                    None => g[i] += diag_bar / h2,
                }
            }
        }
    }
    (u.sum() * h2, g)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let m: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("m is an integer"))
        .unwrap_or(300);
    let k = w2s_conductivity(m);
    let t = Instant::now();
    let symbolic = SymbolicCholesky::new(&poisson2d_pattern(m)).unwrap();
    let t_sym = t.elapsed().as_secs_f64() * 1e3;
    let (mut primal, mut grad) = (Vec::new(), Vec::new());
    let (mut value, mut gnorm) = (0.0, 0.0);
    for run in 0..6 {
        let t = Instant::now();
        value = loss(&k, m, &symbolic);
        let tp = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let tape = Tape::new();
        let kv = tape.vars(&k);
        let l = loss(&kv, m, &symbolic);
        let g = tape.gradient(l).wrt_all(&kv);
        let tg = t.elapsed().as_secs_f64() * 1e3;
        gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if run > 0 {
            primal.push(tp);
            grad.push(tg);
        }
    }
    let mut hand_t = Vec::new();
    for run in 0..6 {
        let t = Instant::now();
        let (hv, hg) = hand(&k, m, &symbolic);
        if run > 0 {
            hand_t.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let hn = hg.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((hv - value).abs() <= 1e-12 * value && (hn - gnorm).abs() <= 1e-9 * gnorm);
    }
    let th = median(hand_t);
    let (tp, tg) = (median(primal), median(grad));
    println!(
        "W2s m={m} n={} wengert-sparse-cholesky primal_ms={tp:.2} grad_ms={tg:.2} ratio={:.2} \
         loss={value:.13} gradnorm={gnorm:.11e} (symbolic analysis once: {t_sym:.1} ms)",
        m * m,
        tg / tp
    );
    println!(
        "W2s m={m} faer-cholesky-hand-adjoint grad_ms={th:.2} (ours / hand = {:.2})",
        tg / th
    );

    // Krylov: CG with IC(0) on the same matrix, to a relative residual of 1e-10, and its
    // gradient (the adjoint is a second CG solve with the same preconditioner).
    let opts = Options::new(Method::Cg, Precond::Ic0)
        .with_tol(1e-10)
        .unwrap();
    let t = Instant::now();
    let a = poisson2d(m, &k);
    let (u, rep) = krylov::solve(&a, Array1::ones(m * m).view(), &opts).unwrap();
    let tk = t.elapsed().as_secs_f64() * 1e3;
    let h = 1.0 / (m + 1) as f64;
    let lk = u.sum() * h * h;
    let t = Instant::now();
    let tape = Tape::new();
    let kv = tape.vars(&k);
    let a = poisson2d(m, &kv);
    let b = Array1::from_elem(m * m, ad_core::Var::constant(1.0));
    let (u, _) = krylov::solve(&a, b.view(), &opts).unwrap();
    let l = u.iter().copied().sum::<ad_core::Var>() * (h * h);
    let g = tape.gradient(l).wrt_all(&kv);
    let tkg = t.elapsed().as_secs_f64() * 1e3;
    let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    println!(
        "W2s m={m} wengert-cg-ic0 iterations={} residual={:.2e} primal_ms={tk:.1} grad_ms={tkg:.1} \
         loss={lk:.13} gradnorm={gn:.11e}",
        rep.iterations, rep.residual
    );
}
