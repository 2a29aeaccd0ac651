//! Inverse design on the W2s problem: find the conductivity field `k` (one value per node of an
//! `m x m` grid) whose temperature `u` solving `-div(k grad u) = 1` matches a target.
//!
//! The loss `h^2 sum_c (u[c] - u_target[c])^2 + beta h^2 sum_links (s_a - s_b)^2` with
//! `k = exp(s)` (positivity) and a smoothness penalty is written once, generic over the scalar;
//! its gradient w.r.t. all `m^2` parameters costs one sparse Cholesky factorisation (symbolic
//! analysis cached) and one extra triangular-solve pair, by the solve's adjoint rule.
//!
//! `cargo run --release -p solvers --example poisson_design`

use ad_core::{gradient, Real};
use ndarray::Array1;
use solvers::problems::{poisson2d, poisson2d_pattern};
use solvers::sparse::{SparseCholesky, SymbolicCholesky};

const M: usize = 24;
const BETA: f64 = 1e-6;

/// The temperature for the log-conductivity `s`.
fn temperature<S: Real>(s: &[S], symbolic: &SymbolicCholesky) -> Array1<S> {
    let k: Vec<S> = s.iter().map(|v| v.exp()).collect();
    let a = poisson2d(M, &k);
    let b = Array1::from_elem(M * M, S::one());
    SparseCholesky::with_symbolic(symbolic, &a)
        .and_then(|c| c.solve(b.view()))
        .expect("the operator is SPD for any positive k")
}

fn loss<S: Real>(s: &[S], target: &[f64], symbolic: &SymbolicCholesky) -> S {
    let h2 = 1.0 / ((M + 1) * (M + 1)) as f64;
    let u = temperature(s, symbolic);
    let misfit: S = u
        .iter()
        .zip(target)
        .map(|(&ui, &ti)| (ui - ti) * (ui - ti))
        .sum();
    let mut smooth = S::zero();
    for r in 0..M {
        for c in 0..M {
            let i = r * M + c;
            if c + 1 < M {
                smooth += (s[i] - s[i + 1]).powi(2);
            }
            if r + 1 < M {
                smooth += (s[i] - s[i + M]).powi(2);
            }
        }
    }
    misfit * (h2 * 1e4) + smooth * BETA
}

fn main() {
    let symbolic = SymbolicCholesky::new(&poisson2d_pattern(M)).unwrap();
    // The "true" design: a conductive disc in a poorer matrix.
    let s_true: Vec<f64> = (0..M * M)
        .map(|i| {
            let (x, y) = ((i % M) as f64 / M as f64, (i / M) as f64 / M as f64);
            let d2 = (x - 0.35).powi(2) + (y - 0.6).powi(2);
            if d2 < 0.04 {
                2f64.ln()
            } else {
                0.0
            }
        })
        .collect();
    let target = temperature(&s_true, &symbolic).to_vec();
    let mut s = vec![0.0; M * M];
    let (mut f, mut g) = gradient(|p| loss(p, &target, &symbolic), &s);
    let f0 = f;
    let mut step = 1.0;
    println!(
        "iter        loss     |grad|   step   (m = {M}, {} parameters)",
        M * M
    );
    for it in 0..=200 {
        let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if it % 20 == 0 {
            println!("{it:4} {f:11.4e} {gn:10.3e} {step:6.3}");
        }
        if gn < 1e-9 {
            break;
        }
        // Steepest descent with backtracking (Armijo); the step grows after a success.
        loop {
            let trial: Vec<f64> = s.iter().zip(&g).map(|(a, b)| a - step * b).collect();
            let ft = loss(&trial, &target, &symbolic);
            if ft <= f - 1e-4 * step * gn * gn {
                s = trial;
                break;
            }
            step *= 0.5;
        }
        step *= 2.0;
        (f, g) = gradient(|p| loss(p, &target, &symbolic), &s);
    }
    let u = temperature(&s, &symbolic);
    let umax = target.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = u
        .iter()
        .zip(&target)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, f64::max);
    println!(
        "loss {f0:.3e} -> {f:.3e}; temperature misfit max |u - u_target| / max |u_target| = {:.2e}",
        err / umax
    );
}
