//! The Krylov iterations on f64: preconditioned CG, restarted GMRES, BiCGStab.
//!
//! All start from `x = 0` and stop when `|b - A x|_2 <= tol |b|_2`.

use super::operator::{LinearOperator, Preconditioner};
use super::Report;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `y += alpha x`.
fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// The true relative residual `|b - A x| / |b|`.
fn true_residual(op: &dyn LinearOperator, b: &[f64], x: &[f64], bn: f64) -> f64 {
    let mut ax = vec![0.0; b.len()];
    op.apply(x, &mut ax);
    let r: f64 = ax.iter().zip(b).map(|(a, b)| (b - a) * (b - a)).sum();
    r.sqrt() / bn
}

fn report(op: &dyn LinearOperator, b: &[f64], x: &[f64], bn: f64, it: usize, tol: f64) -> Report {
    let residual = true_residual(op, b, x, bn);
    Report {
        iterations: it,
        residual,
        converged: residual <= tol * 1.0001 || residual == 0.0,
    }
}

/// Preconditioned conjugate gradients (Hestenes–Stiefel; Saad Alg. 9.1) for symmetric positive
/// definite `A` and `M`.
pub(crate) fn cg(
    op: &dyn LinearOperator,
    pre: &dyn Preconditioner,
    b: &[f64],
    tol: f64,
    max_iter: usize,
) -> (Vec<f64>, Report) {
    let n = b.len();
    let bn = norm(b);
    let mut x = vec![0.0; n];
    if bn == 0.0 {
        return (x, zero_report());
    }
    let mut r = b.to_vec();
    let mut z = vec![0.0; n];
    pre.apply(&r, &mut z);
    let mut p = z.clone();
    let mut q = vec![0.0; n];
    let mut rz = dot(&r, &z);
    let mut it = 0;
    while it < max_iter {
        it += 1;
        op.apply(&p, &mut q);
        let alpha = rz / dot(&p, &q);
        axpy(alpha, &p, &mut x);
        axpy(-alpha, &q, &mut r);
        if norm(&r) <= tol * bn {
            break;
        }
        pre.apply(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for (pi, zi) in p.iter_mut().zip(&z) {
            *pi = zi + beta * *pi;
        }
    }
    let rep = report(op, b, &x, bn, it, tol);
    (x, rep)
}

fn zero_report() -> Report {
    Report {
        iterations: 0,
        residual: 0.0,
        converged: true,
    }
}

/// Right-preconditioned BiCGStab (van der Vorst 1992; Saad Alg. 7.7).
pub(crate) fn bicgstab(
    op: &dyn LinearOperator,
    pre: &dyn Preconditioner,
    b: &[f64],
    tol: f64,
    max_iter: usize,
) -> (Vec<f64>, Report) {
    let n = b.len();
    let bn = norm(b);
    let mut x = vec![0.0; n];
    if bn == 0.0 {
        return (x, zero_report());
    }
    let mut r = b.to_vec();
    let r_hat = r.clone();
    let (mut rho, mut alpha, mut omega) = (1.0, 1.0, 1.0);
    let mut v = vec![0.0; n];
    let mut p = vec![0.0; n];
    let (mut p_hat, mut s_hat) = (vec![0.0; n], vec![0.0; n]);
    let mut t = vec![0.0; n];
    let mut it = 0;
    while it < max_iter {
        it += 1;
        let rho_new = dot(&r_hat, &r);
        if rho_new == 0.0 || !rho_new.is_finite() {
            break;
        }
        let beta = (rho_new / rho) * (alpha / omega);
        rho = rho_new;
        for ((pi, ri), vi) in p.iter_mut().zip(&r).zip(&v) {
            *pi = ri + beta * (*pi - omega * vi);
        }
        pre.apply(&p, &mut p_hat);
        op.apply(&p_hat, &mut v);
        alpha = rho / dot(&r_hat, &v);
        axpy(-alpha, &v, &mut r); // r is now s
        if norm(&r) <= tol * bn {
            axpy(alpha, &p_hat, &mut x);
            break;
        }
        pre.apply(&r, &mut s_hat);
        op.apply(&s_hat, &mut t);
        let tt = dot(&t, &t);
        omega = if tt > 0.0 { dot(&t, &r) / tt } else { 0.0 };
        axpy(alpha, &p_hat, &mut x);
        axpy(omega, &s_hat, &mut x);
        axpy(-omega, &t, &mut r);
        if norm(&r) <= tol * bn || omega == 0.0 {
            break;
        }
    }
    let rep = report(op, b, &x, bn, it, tol);
    (x, rep)
}

/// Restarted, right-preconditioned GMRES(m) with modified Gram–Schmidt and Givens rotations
/// (Saad & Schultz 1986; Saad Alg. 9.5). `iterations` counts inner steps (one product each).
pub(crate) fn gmres(
    op: &dyn LinearOperator,
    pre: &dyn Preconditioner,
    b: &[f64],
    tol: f64,
    max_iter: usize,
    restart: usize,
) -> (Vec<f64>, Report) {
    let n = b.len();
    let m = restart.max(1);
    let bn = norm(b);
    let mut x = vec![0.0; n];
    if bn == 0.0 {
        return (x, zero_report());
    }
    let mut it = 0;
    let mut w = vec![0.0; n];
    let mut z = vec![0.0; n];
    loop {
        // r = b - A x
        op.apply(&x, &mut w);
        let r: Vec<f64> = b.iter().zip(&w).map(|(b, a)| b - a).collect();
        let beta = norm(&r);
        if beta <= tol * bn || it >= max_iter {
            break;
        }
        let mut basis: Vec<Vec<f64>> = vec![r.iter().map(|v| v / beta).collect()];
        let mut h = vec![vec![0.0; m]; m + 1];
        let (mut cs, mut sn) = (vec![0.0; m], vec![0.0; m]);
        let mut g = vec![0.0; m + 1];
        g[0] = beta;
        let mut k = 0;
        while k < m && it < max_iter {
            it += 1;
            pre.apply(&basis[k], &mut z);
            op.apply(&z, &mut w);
            for (i, vi) in basis.iter().enumerate() {
                h[i][k] = dot(&w, vi);
                axpy(-h[i][k], vi, &mut w);
            }
            h[k + 1][k] = norm(&w);
            for i in 0..k {
                let t = cs[i] * h[i][k] + sn[i] * h[i + 1][k];
                h[i + 1][k] = -sn[i] * h[i][k] + cs[i] * h[i + 1][k];
                h[i][k] = t;
            }
            let d = h[k][k].hypot(h[k + 1][k]);
            (cs[k], sn[k]) = if d == 0.0 {
                (1.0, 0.0)
            } else {
                (h[k][k] / d, h[k + 1][k] / d)
            };
            h[k][k] = d;
            h[k + 1][k] = 0.0;
            g[k + 1] = -sn[k] * g[k];
            g[k] *= cs[k];
            let next = next_basis_vector(&w);
            k += 1;
            if g[k].abs() <= tol * bn || next.is_none() {
                break;
            }
            basis.push(next.unwrap_or_default());
        }
        // Solve the k x k triangular system H y = g, then x += M^{-1} V y.
        let mut y = vec![0.0; k];
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|j| h[i][j] * y[j]).sum();
            y[i] = (g[i] - s) / h[i][i];
        }
        let mut vy = vec![0.0; n];
        for (vi, yi) in basis.iter().zip(&y) {
            axpy(*yi, vi, &mut vy);
        }
        pre.apply(&vy, &mut z);
        axpy(1.0, &z, &mut x);
    }
    let rep = report(op, b, &x, bn, it, tol);
    (x, rep)
}

/// The next basis vector `w / |w|`, or `None` on a (lucky) breakdown.
fn next_basis_vector(w: &[f64]) -> Option<Vec<f64>> {
    let nw = norm(w);
    if nw == 0.0 || !nw.is_finite() {
        None
    } else {
        Some(w.iter().map(|v| v / nw).collect())
    }
}
