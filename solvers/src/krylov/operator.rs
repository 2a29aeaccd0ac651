//! Matrix-free linear operators and preconditioners.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::sparse::CsrMatrix;

/// A square linear operator `A` known only through products.
///
/// Both products are needed: `apply` by the solve, `apply_transpose` by its adjoint (a
/// transposed solve) and by operators that are not symmetric.
pub trait LinearOperator: Send + Sync {
    /// The dimension `n` (the operator is `n x n`).
    fn dim(&self) -> usize;
    /// Writes `y = A x`.
    fn apply(&self, x: &[f64], y: &mut [f64]);
    /// Writes `y = A^T x`.
    fn apply_transpose(&self, x: &[f64], y: &mut [f64]);
}

impl LinearOperator for CsrMatrix<f64> {
    fn dim(&self) -> usize {
        self.nrows()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let p = self.pattern();
        let (rp, ci, v) = (p.row_ptr(), p.col_idx(), self.values());
        let row = |(i, yi): (usize, &mut f64)| {
            *yi = (rp[i]..rp[i + 1]).map(|k| v[k] * x[ci[k]]).sum();
        };
        if self.nnz() >= 1 << 16 {
            y.par_iter_mut().enumerate().for_each(row);
        } else {
            y.iter_mut().enumerate().for_each(row);
        }
    }

    fn apply_transpose(&self, x: &[f64], y: &mut [f64]) {
        let p = self.pattern();
        let (rp, ci, v) = (p.row_ptr(), p.col_idx(), self.values());
        y.fill(0.0);
        for (i, &xi) in x.iter().enumerate() {
            for k in rp[i]..rp[i + 1] {
                y[ci[k]] += v[k] * xi;
            }
        }
    }
}

/// The transpose of an operator (used by the adjoint solves).
pub(crate) struct Transposed<'a, T: ?Sized>(pub &'a T);

impl<T: LinearOperator + ?Sized> LinearOperator for Transposed<'_, T> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        self.0.apply_transpose(x, y)
    }
    fn apply_transpose(&self, x: &[f64], y: &mut [f64]) {
        self.0.apply(x, y)
    }
}

/// A preconditioner `M ~ A`: applies `z = M^{-1} r` (and `M^{-T} r` for transposed solves).
pub trait Preconditioner: Send + Sync {
    /// Writes `z = M^{-1} r`.
    fn apply(&self, r: &[f64], z: &mut [f64]);
    /// Writes `z = M^{-T} r`.
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]);
}

impl<T: Preconditioner + ?Sized> Preconditioner for Transposed<'_, T> {
    fn apply(&self, r: &[f64], z: &mut [f64]) {
        self.0.apply_transpose(r, z)
    }
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]) {
        self.0.apply(r, z)
    }
}

/// No preconditioning: `M = I`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Preconditioner for Identity {
    fn apply(&self, r: &[f64], z: &mut [f64]) {
        z.copy_from_slice(r);
    }
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]) {
        z.copy_from_slice(r);
    }
}

/// Jacobi: `M = diag(A)`.
#[derive(Clone, Debug)]
pub struct Jacobi {
    inv_diag: Vec<f64>,
}

impl Jacobi {
    /// From the diagonal of `a`.
    ///
    /// # Errors
    /// [`Error::Singular`] if a diagonal entry is zero or missing.
    pub fn new(a: &CsrMatrix<f64>) -> Result<Self> {
        let d = diagonal_positions(a)?;
        let inv_diag = d
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let v = a.values()[k];
                if v == 0.0 {
                    Err(Error::Singular { pivot: i })
                } else {
                    Ok(1.0 / v)
                }
            })
            .collect::<Result<_>>()?;
        Ok(Jacobi { inv_diag })
    }
}

impl Preconditioner for Jacobi {
    fn apply(&self, r: &[f64], z: &mut [f64]) {
        for ((zi, ri), d) in z.iter_mut().zip(r).zip(&self.inv_diag) {
            *zi = ri * d;
        }
    }
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]) {
        self.apply(r, z)
    }
}

/// The position of each row's diagonal entry in the CSR value array.
fn diagonal_positions(a: &CsrMatrix<f64>) -> Result<Vec<usize>> {
    let p = a.pattern();
    (0..a.nrows())
        .map(|i| {
            let cols = &p.col_idx()[p.row_ptr()[i]..p.row_ptr()[i + 1]];
            cols.binary_search(&i)
                .map(|o| p.row_ptr()[i] + o)
                .map_err(|_| Error::Singular { pivot: i })
        })
        .collect()
}

/// Incomplete LU with zero fill, `A ~ L U` on `A`'s own pattern (Saad, "Iterative Methods for
/// Sparse Linear Systems", 2nd ed., Alg. 10.4, IKJ variant). `L` is unit lower, `U` upper;
/// both are stored in one value array on `A`'s pattern.
#[derive(Clone, Debug)]
pub struct Ilu0 {
    a: CsrMatrix<f64>,
    diag: Vec<usize>,
}

impl Ilu0 {
    /// Factorises `a` incompletely.
    ///
    /// # Errors
    /// [`Error::Singular`] if a pivot is zero or a diagonal entry is missing.
    pub fn new(a: &CsrMatrix<f64>) -> Result<Self> {
        let diag = diagonal_positions(a)?;
        let p = a.pattern().clone();
        let (rp, ci) = (p.row_ptr(), p.col_idx());
        let mut v = a.values().to_vec();
        let n = a.nrows();
        let mut pos = vec![usize::MAX; n];
        for i in 0..n {
            for k in rp[i]..rp[i + 1] {
                pos[ci[k]] = k;
            }
            for kk in rp[i]..diag[i] {
                let k = ci[kk];
                let pivot = v[diag[k]];
                if pivot == 0.0 {
                    return Err(Error::Singular { pivot: k });
                }
                v[kk] /= pivot;
                let lik = v[kk];
                for kj in diag[k] + 1..rp[k + 1] {
                    let q = pos[ci[kj]];
                    if q != usize::MAX {
                        v[q] -= lik * v[kj];
                    }
                }
            }
            for k in rp[i]..rp[i + 1] {
                pos[ci[k]] = usize::MAX;
            }
            if v[diag[i]] == 0.0 || !v[diag[i]].is_finite() {
                return Err(Error::Singular { pivot: i });
            }
        }
        Ok(Ilu0 {
            a: CsrMatrix::new(p, v)?,
            diag,
        })
    }

    fn pivots(&self) -> impl Iterator<Item = f64> + '_ {
        self.diag.iter().map(|&k| self.a.values()[k])
    }
}

impl Preconditioner for Ilu0 {
    /// `z = U^{-1} L^{-1} r`.
    fn apply(&self, r: &[f64], z: &mut [f64]) {
        let p = self.a.pattern();
        let (rp, ci, v) = (p.row_ptr(), p.col_idx(), self.a.values());
        let n = r.len();
        for i in 0..n {
            let mut s = r[i];
            for k in rp[i]..self.diag[i] {
                s -= v[k] * z[ci[k]];
            }
            z[i] = s;
        }
        for i in (0..n).rev() {
            let mut s = z[i];
            for k in self.diag[i] + 1..rp[i + 1] {
                s -= v[k] * z[ci[k]];
            }
            z[i] = s / v[self.diag[i]];
        }
    }

    /// `z = L^{-T} U^{-T} r`.
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]) {
        let p = self.a.pattern();
        let (rp, ci, v) = (p.row_ptr(), p.col_idx(), self.a.values());
        let n = r.len();
        z.copy_from_slice(r);
        for i in 0..n {
            z[i] /= v[self.diag[i]];
            let zi = z[i];
            for k in self.diag[i] + 1..rp[i + 1] {
                z[ci[k]] -= v[k] * zi;
            }
        }
        for i in (0..n).rev() {
            let zi = z[i];
            for k in rp[i]..self.diag[i] {
                z[ci[k]] -= v[k] * zi;
            }
        }
    }
}

/// Incomplete Cholesky with zero fill for symmetric positive definite `A`: `A ~ L D L^T` on
/// `A`'s pattern. Computed as ILU(0) of the symmetric matrix, whose exact-arithmetic result is
/// `U = D L^T`, so `M = L D L^T` is symmetric; every pivot must be positive.
#[derive(Clone, Debug)]
pub struct Ic0(Ilu0);

impl Ic0 {
    /// Factorises the symmetric positive definite `a` incompletely.
    ///
    /// # Errors
    /// [`Error::NotPositiveDefinite`] at the first non-positive pivot, [`Error::Singular`] for a
    /// missing diagonal entry.
    pub fn new(a: &CsrMatrix<f64>) -> Result<Self> {
        let ilu = Ilu0::new(a).map_err(|e| match e {
            Error::Singular { pivot } => Error::NotPositiveDefinite { index: pivot },
            e => e,
        })?;
        if let Some(index) = ilu.pivots().position(|d| d <= 0.0) {
            return Err(Error::NotPositiveDefinite { index });
        }
        Ok(Ic0(ilu))
    }
}

impl Preconditioner for Ic0 {
    fn apply(&self, r: &[f64], z: &mut [f64]) {
        self.0.apply(r, z)
    }
    fn apply_transpose(&self, r: &[f64], z: &mut [f64]) {
        self.0.apply(r, z)
    }
}
