//! The linear algebra of the Newton iterations: the iteration matrix `M = I - c J` factorised
//! once and reused for many solves.
//!
//! Small systems (`n <= SMALL`) use an in-place LU with partial pivoting on a flat row-major
//! buffer (no allocation per solve: a 3 x 3 solve costs a few dozen flops, less than a call
//! through a general-purpose library); larger ones use [`solvers::Lu`] (faer's kernels).

use ndarray::ArrayView2;

/// Up to this dimension the in-place LU is used.
const SMALL: usize = 24;

/// A factorised iteration matrix.
pub(crate) enum Factor {
    /// In-place LU: `lu` row-major `n x n` (L below the diagonal, unit diagonal implied),
    /// `perm[k]` the row swapped with row `k` at step `k`.
    Small {
        n: usize,
        lu: Vec<f64>,
        perm: Vec<usize>,
    },
    /// faer's LU through the solvers crate.
    Large(solvers::Lu<f64>),
    /// Sparse LU through the solvers crate (see [`super::sparse`]).
    Sparse(solvers::sparse::SparseLu<f64>),
}

/// The matrix is singular (a zero or non-finite pivot).
#[derive(Debug)]
pub(crate) struct Singular;

impl Factor {
    /// Factorises `I - c J` (`jac` row-major `n x n`).
    pub(crate) fn new(n: usize, c: f64, jac: &[f64]) -> Result<Self, Singular> {
        let mut a: Vec<f64> = jac.iter().map(|&j| -c * j).collect();
        for i in 0..n {
            a[i * n + i] += 1.0;
        }
        if n > SMALL {
            let view = ArrayView2::from_shape((n, n), &a).map_err(|_| Singular)?;
            return solvers::Lu::new(view)
                .map(Factor::Large)
                .map_err(|_| Singular);
        }
        let mut perm = vec![0; n];
        for k in 0..n {
            let mut piv = k;
            let mut best = a[k * n + k].abs();
            for i in k + 1..n {
                let v = a[i * n + k].abs();
                if v > best {
                    best = v;
                    piv = i;
                }
            }
            if best == 0.0 || !best.is_finite() {
                return Err(Singular);
            }
            perm[k] = piv;
            if piv != k {
                for j in 0..n {
                    a.swap(k * n + j, piv * n + j);
                }
            }
            let inv = 1.0 / a[k * n + k];
            for i in k + 1..n {
                let l = a[i * n + k] * inv;
                a[i * n + k] = l;
                if l != 0.0 {
                    for j in k + 1..n {
                        a[i * n + j] -= l * a[k * n + j];
                    }
                }
            }
        }
        Ok(Factor::Small { n, lu: a, perm })
    }

    /// Overwrites `b` with `M^{-1} b`.
    pub(crate) fn solve(&self, b: &mut [f64]) {
        match self {
            Factor::Small { n, lu, perm } => {
                let n = *n;
                for k in 0..n {
                    b.swap(k, perm[k]);
                }
                for i in 1..n {
                    let row = &lu[i * n..i * n + i];
                    let s: f64 = row.iter().zip(&b[..i]).map(|(l, x)| l * x).sum();
                    b[i] -= s;
                }
                for i in (0..n).rev() {
                    let row = &lu[i * n + i + 1..(i + 1) * n];
                    let s: f64 = row.iter().zip(&b[i + 1..]).map(|(u, x)| u * x).sum();
                    b[i] = (b[i] - s) / lu[i * n + i];
                }
            }
            Factor::Sparse(lu) => lu.solve_values_in_place(b, false),
            Factor::Large(lu) => {
                let x = lu
                    .solve(ndarray::ArrayView1::from(&*b))
                    .expect("a solve with a successfully factorised matrix");
                b.copy_from_slice(x.as_slice().expect("contiguous"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_lu_solve() {
        for n in [3, 30] {
            let jac: Vec<f64> = (0..n * n)
                .map(|k| ((k * 7 % 11) as f64 - 5.0) * 0.3)
                .collect();
            let c = 0.7;
            let f = Factor::new(n, c, &jac).unwrap();
            let x: Vec<f64> = (0..n).map(|i| i as f64 - 1.5).collect();
            let mut b = vec![0.0; n];
            for i in 0..n {
                b[i] = x[i] - c * (0..n).map(|j| jac[i * n + j] * x[j]).sum::<f64>();
            }
            f.solve(&mut b);
            for i in 0..n {
                assert!((b[i] - x[i]).abs() < 1e-10, "n={n} i={i}");
            }
        }
    }
}
