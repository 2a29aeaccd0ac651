//! Generic-scalar linear algebra of the Rosenbrock step: the dense LU of `I - hγ J` and the
//! Jacobian with `∂f/∂t`, on `f64` or on `Dual` (then by nested forward mode, so the Jacobian
//! carries its own tangents).

use ad_core::{Dual, Real};

use crate::system::OdeSystem;

/// A dense LU with partial pivoting (by value) of `I - hγ J` on any scalar.
pub(crate) struct Lu<S> {
    n: usize,
    a: Vec<S>,
    perm: Vec<usize>,
}

impl<S: Real> Lu<S> {
    pub(crate) fn new(n: usize, hg: f64, jac: &[S]) -> Option<Self> {
        let mut a: Vec<S> = jac.iter().map(|&j| j * (-hg)).collect();
        for i in 0..n {
            a[i * n + i] += 1.0;
        }
        let mut perm = vec![0; n];
        for k in 0..n {
            let mut piv = k;
            let mut best = a[k * n + k].value().abs();
            for i in k + 1..n {
                let v = a[i * n + k].value().abs();
                if v > best {
                    best = v;
                    piv = i;
                }
            }
            if best == 0.0 || !best.is_finite() {
                return None;
            }
            perm[k] = piv;
            if piv != k {
                for j in 0..n {
                    a.swap(k * n + j, piv * n + j);
                }
            }
            let inv = S::one() / a[k * n + k];
            for i in k + 1..n {
                let l = a[i * n + k] * inv;
                a[i * n + k] = l;
                for j in k + 1..n {
                    a[i * n + j] = a[i * n + j] - l * a[k * n + j];
                }
            }
        }
        Some(Lu { n, a, perm })
    }

    pub(crate) fn solve(&self, b: &mut [S]) {
        let (n, a) = (self.n, &self.a);
        for k in 0..n {
            b.swap(k, self.perm[k]);
        }
        for i in 1..n {
            let mut s = b[i];
            for j in 0..i {
                s -= a[i * n + j] * b[j];
            }
            b[i] = s;
        }
        for i in (0..n).rev() {
            let mut s = b[i];
            for j in i + 1..n {
                s -= a[i * n + j] * b[j];
            }
            b[i] = s / a[i * n + i];
        }
    }
}

/// `∂f/∂y` (row-major) and `∂f/∂t` at `(t, y, p)` by forward mode over `S` (nested `Dual`
/// when `S` is itself a `Dual`): `n + 1` directions in chunks of up to 8. Returns the number
/// of evaluations.
pub(crate) fn jacobian_and_ft<S: Real, Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[S],
    p: &[S],
    jac: &mut [S],
    ft: &mut [S],
) -> usize {
    let dirs = y.len() + 1;
    let mut c0 = 0;
    let mut evals = 0;
    while c0 < dirs {
        c0 += match dirs - c0 {
            1 => jt_chunk::<1, S, Sys>(sys, t, y, p, c0, jac, ft),
            2 => jt_chunk::<2, S, Sys>(sys, t, y, p, c0, jac, ft),
            3 | 4 => jt_chunk::<4, S, Sys>(sys, t, y, p, c0, jac, ft),
            _ => jt_chunk::<8, S, Sys>(sys, t, y, p, c0, jac, ft),
        };
        evals += 1;
    }
    evals
}

fn jt_chunk<const K: usize, S: Real, Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[S],
    p: &[S],
    c0: usize,
    jac: &mut [S],
    ft: &mut [S],
) -> usize {
    let n = y.len();
    let seeded = |i: usize, v: S| {
        let mut d = Dual::<K, S>::constant(v);
        if (c0..c0 + K).contains(&i) {
            d.d[i - c0] = S::one();
        }
        d
    };
    let yd: Vec<Dual<K, S>> = y.iter().enumerate().map(|(i, &v)| seeded(i, v)).collect();
    let pd: Vec<Dual<K, S>> = p.iter().map(|&v| Dual::constant(v)).collect();
    let td = seeded(n, S::cst(t));
    let mut f = vec![Dual::<K, S>::constant(S::zero()); n];
    sys.rhs(td, &yd, &pd, &mut f);
    for (i, fi) in f.iter().enumerate() {
        for w in 0..K.min(n + 1 - c0) {
            let col = c0 + w;
            if col < n {
                jac[i * n + col] = fi.d[w];
            } else {
                ft[i] = fi.d[w];
            }
        }
    }
    K
}
