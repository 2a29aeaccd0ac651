//! Hunting test (#14 item 8): random stable linear systems `y' = A y` against the exact
//! gradient from the matrix exponential, through every valid method x sensitivity pair.
//!
//! `y(t) = exp(tA) y0`; for the loss `L = sum_k w_k . y(t_k)`:
//! `dL/dy0 = sum_k exp(t_k A)^T w_k` and `dL/dA_ij = sum_k w_k . L(t_k A, t_k E_ij) y0`, with
//! `L(X, E)` the Fréchet derivative of `exp` at `X` along `E`, read off the upper right block
//! of `exp([[X, E], [0, X]])` (Van Loan 1978; Higham, *Functions of Matrices*, 2008, (3.16)).
//! The exponential is a small independent implementation (scaling and squaring with a Taylor
//! approximant), tested on its own below.

use ode::{vjp, Method, OdeSystem, Options, Real, Sensitivity};
use proptest::prelude::*;

/// `y' = A y`, `A` (row-major `n x n`) the parameters.
#[derive(Clone, Copy)]
struct Linear(usize);

impl OdeSystem for Linear {
    fn dim(&self) -> usize {
        self.0
    }
    fn n_params(&self) -> usize {
        self.0 * self.0
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let n = self.0;
        for i in 0..n {
            let mut v = S::zero();
            for j in 0..n {
                v += p[i * n + j] * y[j];
            }
            dy[i] = v;
        }
    }
}

fn matmul(n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

/// `exp(a)` for a row-major `n x n` matrix: scale by `2^-s` until the 1-norm is at most 1/2,
/// sum the Taylor series to 20 terms (remainder below `0.5^21 / 21! ~ 1e-26`), square `s`
/// times (Moler & Van Loan, "Nineteen dubious ways", 2003, method 3).
fn expm(n: usize, a: &[f64]) -> Vec<f64> {
    let norm = (0..n)
        .map(|j| (0..n).map(|i| a[i * n + j].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut s = 0;
    while norm / 2f64.powi(s) > 0.5 {
        s += 1;
    }
    let x: Vec<f64> = a.iter().map(|v| v / 2f64.powi(s)).collect();
    let mut result = vec![0.0; n * n];
    let mut term = vec![0.0; n * n];
    for i in 0..n {
        result[i * n + i] = 1.0;
        term[i * n + i] = 1.0;
    }
    for k in 1..=20 {
        term = matmul(n, &term, &x);
        term.iter_mut().for_each(|v| *v /= k as f64);
        for (r, t) in result.iter_mut().zip(&term) {
            *r += t;
        }
    }
    for _ in 0..s {
        result = matmul(n, &result, &result);
    }
    result
}

/// The exact gradient `(dL/dy0, dL/dA)` of `L = sum_k w_k . y(t_k)`.
fn exact_gradient(n: usize, a: &[f64], y0: &[f64], save_at: &[f64], w: &[Vec<f64>]) -> Vec<f64> {
    let mut g = vec![0.0; n + n * n];
    for (k, &t) in save_at.iter().enumerate() {
        let e = expm(n, &a.iter().map(|v| v * t).collect::<Vec<_>>());
        for i in 0..n {
            for j in 0..n {
                g[j] += e[i * n + j] * w[k][i];
            }
        }
        // dL/dA_ij: the upper right block of exp(t [[A, E_ij], [0, A]]) applied to y0
        let m = 2 * n;
        for pi in 0..n {
            for pj in 0..n {
                let mut big = vec![0.0; m * m];
                for i in 0..n {
                    for j in 0..n {
                        big[i * m + j] = t * a[i * n + j];
                        big[(n + i) * m + n + j] = t * a[i * n + j];
                    }
                }
                big[pi * m + n + pj] = t;
                let eb = expm(m, &big);
                let mut v = 0.0;
                for i in 0..n {
                    let mut dy = 0.0;
                    for j in 0..n {
                        dy += eb[i * m + n + j] * y0[j];
                    }
                    v += w[k][i] * dy;
                }
                g[n + pi * n + pj] += v;
            }
        }
    }
    g
}

#[test]
fn expm_matches_closed_forms() {
    // diagonal
    let e = expm(2, &[0.3, 0.0, 0.0, -2.0]);
    assert!((e[0] - 0.3f64.exp()).abs() < 1e-15 && (e[3] - (-2f64).exp()).abs() < 1e-15);
    assert!(e[1] == 0.0 && e[2] == 0.0);
    // rotation generator: exp([[0, -w], [w, 0]]) = [[cos w, -sin w], [sin w, cos w]]
    let w = 3.7;
    let e = expm(2, &[0.0, -w, w, 0.0]);
    let want = [w.cos(), -w.sin(), w.sin(), w.cos()];
    for (a, b) in e.iter().zip(&want) {
        assert!((a - b).abs() < 1e-13, "{e:?} vs {want:?}");
    }
    // nilpotent: exp([[0, 5], [0, 0]]) = [[1, 5], [0, 1]]
    assert_eq!(expm(2, &[0.0, 5.0, 0.0, 0.0]), vec![1.0, 5.0, 0.0, 1.0]);
    // exp(A) exp(-A) = I for a non-normal A with a large norm (many squarings)
    let a = [1.0, 4.0, -2.0, 0.5, -3.0, 2.5, 0.1, 1.0, 2.0];
    let neg: Vec<f64> = a.iter().map(|v| -v).collect();
    let p = matmul(3, &expm(3, &a), &expm(3, &neg));
    for i in 0..3 {
        for j in 0..3 {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((p[i * 3 + j] - want).abs() < 1e-11, "{p:?}");
        }
    }
}

/// The Fréchet derivative from the block exponential matches central differences of `expm`.
#[test]
fn block_frechet_derivative_matches_differences() {
    let a = [-0.5, 1.2, -0.3, -1.1];
    let y0 = [0.7, -0.4];
    let t = [0.5, 1.5];
    let w = vec![vec![1.0, -2.0], vec![0.3, 0.8]];
    let g = exact_gradient(2, &a, &y0, &t, &w);
    let loss = |a: &[f64]| -> f64 {
        let mut l = 0.0;
        for (k, &tk) in t.iter().enumerate() {
            let e = expm(2, &a.iter().map(|v| v * tk).collect::<Vec<_>>());
            for i in 0..2 {
                l += w[k][i] * (e[i * 2] * y0[0] + e[i * 2 + 1] * y0[1]);
            }
        }
        l
    };
    for q in 0..4 {
        let (mut ap, mut am) = (a, a);
        ap[q] += 1e-6;
        am[q] -= 1e-6;
        let fd = (loss(&ap) - loss(&am)) / 2e-6;
        assert!(
            (fd - g[2 + q]).abs() < 1e-8,
            "dA[{q}]: {fd} vs {}",
            g[2 + q]
        );
    }
}

/// Every valid method x sensitivity pair, with the gradient tolerance it is held to
/// (relative, 2-norm, at `rtol = 1e-8`, `atol = 1e-10`; Rk4 with `dt = 0.01`).
fn pairs() -> Vec<(Method, Sensitivity, f64)> {
    let disc = Sensitivity::DiscreteAdjoint { checkpoints: 8 };
    let interp = Sensitivity::InterpolatingAdjoint { checkpoints: 8 };
    let fwd = Sensitivity::Forward;
    let mut v = Vec::new();
    for m in [Method::Tsit5, Method::Dopri5] {
        v.extend([(m, fwd, 1e-5), (m, disc, 1e-5), (m, interp, 1e-5)]);
    }
    let rk4 = Method::Rk4 { dt: 0.01 };
    v.extend([(rk4, fwd, 1e-6), (rk4, disc, 1e-6), (rk4, interp, 1e-5)]);
    v.extend([
        (Method::Bdf, fwd, 1e-4),
        (Method::Bdf, disc, 1e-4),
        (Method::Bdf, interp, 1e-4),
        (Method::Rodas4, fwd, 1e-4),
    ]);
    v
}

fn stable_matrix(n: usize, b: &[f64], c: &[f64], mu: f64) -> Vec<f64> {
    // A = -(B B^T + mu I) + (C - C^T): the symmetric part is negative definite
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut bb = 0.0;
            for k in 0..n {
                bb += b[i * n + k] * b[j * n + k];
            }
            a[i * n + j] = -bb - if i == j { mu } else { 0.0 } + c[i * n + j] - c[j * n + i];
        }
    }
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn linear_odes_match_the_matrix_exponential(
        n in 2usize..=3,
        b in proptest::collection::vec(-1.0f64..1.0, 9),
        c in proptest::collection::vec(-1.5f64..1.5, 9),
        mu in 0.05f64..1.0,
        y0 in proptest::collection::vec(-1.0f64..1.0, 3),
        w in proptest::collection::vec(-1.0f64..1.0, 12),
    ) {
        let a = stable_matrix(n, &b[..n * n], &c[..n * n], mu);
        let y0 = &y0[..n];
        let save_at = [0.5, 1.0, 2.0, 3.0];
        let w: Vec<Vec<f64>> = (0..4).map(|k| w[k * 3..k * 3 + n].to_vec()).collect();
        let exact = exact_gradient(n, &a, y0, &save_at, &w);
        let norm = exact.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (method, sensitivity, tol) in pairs() {
            let opts = Options { method, sensitivity, rtol: 1e-8, atol: 1e-10, ..Default::default() };
            let g = vjp(&Linear(n), y0, &a, 0.0, &save_at, &opts, &w)
                .map_err(|e| TestCaseError::fail(format!("{method:?} {sensitivity:?}: {e}")))?;
            let got: Vec<f64> = g.y0_bar.iter().chain(&g.p_bar).copied().collect();
            let err = got.iter().zip(&exact).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
                / norm.max(1e-12);
            prop_assert!(err < tol, "{:?} {:?}: relative error {:.2e} (tolerance {:.0e})",
                method, sensitivity, err, tol);
        }
    }
}
