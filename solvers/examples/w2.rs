//! W2 dense-solve (BENCHMARKS.md): A[i][j] = sin(i + 2j)/n (i != j), A[i][i] = 2 + cos(i),
//! b[i] = cos(3i), x = A^{-1} b, loss = sum x_i^2; gradient w.r.t. A and b.
//!
//! `cargo run --release -p solvers --example w2 -- [n ...]` prints, per n, the median primal and
//! value+gradient times over 7 runs after a warm-up, their ratio, the loss and gradient norm.

use std::time::Instant;

use ad_core::{Real, Tape};
use ndarray::{Array1, ArrayView1, ArrayView2};

/// The W2 inputs `A` (row-major, `n x n`) followed by `b`, as one parameter vector.
fn params(n: usize) -> Vec<f64> {
    let mut p = Vec::with_capacity(n * n + n);
    for i in 0..n {
        for j in 0..n {
            p.push(if i == j {
                2.0 + (i as f64).cos()
            } else {
                ((i + 2 * j) as f64).sin() / n as f64
            });
        }
    }
    p.extend((0..n).map(|i| (3.0 * i as f64).cos()));
    p
}

/// The loss, generic over the scalar: one `solvers::solve` and a sum of squares.
fn loss<S: Real>(p: &[S], n: usize) -> S {
    let a = ArrayView2::from_shape((n, n), &p[..n * n]).unwrap();
    let b = ArrayView1::from(&p[n * n..]);
    let x: Array1<S> = solvers::solve(a, b).unwrap();
    x.iter().map(|&xi| xi * xi).sum()
}

/// The peer baseline "faer LU + hand adjoint" on f64: one LU, two solves, `A_bar = -lambda x^T`.
fn hand(p: &[f64], n: usize) -> (f64, Vec<f64>) {
    use faer::linalg::solvers::{PartialPivLu, Solve};
    let a = faer::MatRef::from_row_major_slice(&p[..n * n], n, n);
    let lu = PartialPivLu::new(a);
    let mut x = faer::Col::from_fn(n, |i| p[n * n + i]);
    lu.solve_in_place(x.as_mat_mut());
    let value = x.iter().map(|v| v * v).sum();
    let mut lam = faer::Col::from_fn(n, |i| 2.0 * x[i]);
    lu.solve_transpose_in_place(lam.as_mat_mut());
    let mut g = vec![0.0; n * n + n];
    for i in 0..n {
        let row = &mut g[i * n..(i + 1) * n];
        for j in 0..n {
            row[j] = -lam[i] * x[j];
        }
        g[n * n + i] = lam[i];
    }
    (value, g)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("sizes are integers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 2000]
    } else {
        sizes
    };
    for n in sizes {
        let p = params(n);
        let mut primal = Vec::new();
        let mut grad = Vec::new();
        let mut hand_t = Vec::new();
        let (mut value, mut gnorm) = (0.0, 0.0);
        for run in 0..8 {
            let t = Instant::now();
            value = loss(&p, n);
            let tp = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let tape = Tape::new();
            let vars = tape.vars(&p);
            let l = loss(&vars, n);
            let adj = tape.gradient(l);
            let g = adj.wrt_all(&vars);
            let tg = t.elapsed().as_secs_f64() * 1e3;
            gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((l.value() - value).abs() <= 1e-12 * value);
            let t = Instant::now();
            let (hv, hg) = hand(&p, n);
            let th = t.elapsed().as_secs_f64() * 1e3;
            assert!((hv - value).abs() <= 1e-10 * value);
            assert!((hg.iter().map(|v| v * v).sum::<f64>().sqrt() - gnorm).abs() <= 1e-8 * gnorm);
            if run > 0 {
                hand_t.push(th);
                primal.push(tp);
                grad.push(tg);
            }
        }
        let (tp, tg, th) = (median(primal), median(grad), median(hand_t));
        println!(
            "W2 n={n} wengert-lu primal_ms={tp:.2} grad_ms={tg:.2} ratio={:.2} loss={value:.9} gradnorm={gnorm:.9}",
            tg / tp
        );
        println!(
            "W2 n={n} faer-lu-hand-adjoint grad_ms={th:.2} (ours / hand = {:.2})",
            tg / th
        );
    }
}
