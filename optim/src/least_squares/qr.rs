//! A small dense Householder QR (column-major), enough for the Levenberg-Marquardt
//! subproblems `min |[J; sqrt(lambda) D] p + [r; 0]|` and the covariance `(J^T J)^{-1}`.

/// `A = Q R` of a `rows x n` matrix with `rows >= n`.
pub(crate) struct Qr {
    rows: usize,
    n: usize,
    /// Column-major; Householder vectors on and below the diagonal, R above it.
    a: Vec<f64>,
    beta: Vec<f64>,
    rdiag: Vec<f64>,
}

impl Qr {
    /// Factors the column-major `a` (`rows * n` entries).
    pub fn new(mut a: Vec<f64>, rows: usize, n: usize) -> Qr {
        debug_assert!(rows >= n && a.len() == rows * n);
        let mut beta = vec![0.0; n];
        let mut rdiag = vec![0.0; n];
        for k in 0..n {
            let (head, tail) = a.split_at_mut((k + 1) * rows);
            let col = &mut head[k * rows + k..];
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 {
                continue;
            }
            let alpha = if col[0] > 0.0 { -norm } else { norm };
            col[0] -= alpha;
            let vv: f64 = col.iter().map(|v| v * v).sum();
            beta[k] = 2.0 / vv;
            rdiag[k] = alpha;
            for j in 0..n - k - 1 {
                let cj = &mut tail[j * rows + k..(j + 1) * rows];
                let t = beta[k] * col.iter().zip(cj.iter()).map(|(v, c)| v * c).sum::<f64>();
                cj.iter_mut().zip(col.iter()).for_each(|(c, v)| *c -= t * v);
            }
        }
        Qr {
            rows,
            n,
            a,
            beta,
            rdiag,
        }
    }

    /// `b <- Q^T b` (`b` has `rows` entries).
    pub fn apply_qt(&self, b: &mut [f64]) {
        for k in 0..self.n {
            if self.beta[k] == 0.0 {
                continue;
            }
            let v = &self.a[k * self.rows + k..(k + 1) * self.rows];
            let t = self.beta[k] * v.iter().zip(&b[k..]).map(|(p, q)| p * q).sum::<f64>();
            b[k..].iter_mut().zip(v).for_each(|(bi, vi)| *bi -= t * vi);
        }
    }

    fn r(&self, i: usize, j: usize) -> f64 {
        if i == j {
            self.rdiag[i]
        } else {
            self.a[j * self.rows + i]
        }
    }

    /// Index of the first diagonal entry of R that is zero to working precision.
    pub fn rank_deficiency(&self) -> Option<usize> {
        let big = self.rdiag.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = big * f64::EPSILON * self.rows as f64;
        self.rdiag.iter().position(|v| v.abs() <= tol)
    }

    /// Solves `R x = b[..n]`; components with a negligible pivot are set to zero (a basic
    /// solution of a rank-deficient problem).
    pub fn solve_r(&self, b: &[f64], x: &mut [f64]) {
        let big = self.rdiag.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = big * f64::EPSILON * self.rows as f64;
        for i in (0..self.n).rev() {
            let mut s = b[i];
            for (j, xj) in x.iter().enumerate().take(self.n).skip(i + 1) {
                s -= self.r(i, j) * xj;
            }
            x[i] = if self.rdiag[i].abs() > tol {
                s / self.rdiag[i]
            } else {
                0.0
            };
        }
    }

    /// Solves `R^T x = b` (zero pivots give zero components).
    pub fn solve_rt(&self, b: &[f64], x: &mut [f64]) {
        for i in 0..self.n {
            let mut s = b[i];
            for (j, xj) in x.iter().enumerate().take(i) {
                s -= self.r(j, i) * xj;
            }
            x[i] = if self.rdiag[i] != 0.0 {
                s / self.rdiag[i]
            } else {
                0.0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_solution() {
        // Fit y = a + b t to (0,1), (1,3), (2,5): exact a = 1, b = 2.
        let a = vec![1.0, 1.0, 1.0, 0.0, 1.0, 2.0];
        let qr = Qr::new(a, 3, 2);
        let mut b = vec![1.0, 3.0, 5.0];
        qr.apply_qt(&mut b);
        let mut x = vec![0.0; 2];
        qr.solve_r(&b, &mut x);
        assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] - 2.0).abs() < 1e-14);
        assert!(qr.rank_deficiency().is_none());
    }
}
