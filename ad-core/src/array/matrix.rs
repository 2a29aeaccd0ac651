//! Matrix-vector products of [`VarArray`], and the constant matrices they take ([`Matrix`]:
//! dense or compressed rows).

use std::sync::Arc;

use rayon::prelude::*;

use super::fill::{init_from, new_values};
use super::{dot, ArrayOp, VarArray, PAR_MIN};

impl<'t> VarArray<'t> {
    /// `M self` with a constant matrix (dense or sparse, shared by `Arc` so a product in a loop
    /// stores no copy).
    ///
    /// # Panics
    /// If the matrix has not `len` columns.
    pub fn matvec(&self, m: &Arc<Matrix>) -> VarArray<'t> {
        self.same_len(m.cols(), "matvec (matrix columns)");
        let mut values = new_values(m.rows(), |_| 0.0);
        m.apply(self.values(), &mut values);
        let op = ArrayOp::MatVec {
            x: self.start,
            matrix: m.clone(),
        };
        Self::record(self.tape, op, values)
    }

    /// `A self` where `A` is a tape array holding an `m x n` row-major matrix (`n` = len).
    pub fn var_matvec(&self, a: &VarArray<'t>, m: usize) -> VarArray<'t> {
        let tape = self.tape_with(a.tape);
        let n = self.len();
        assert_eq!(
            a.len(),
            m * n,
            "ad_core: var_matvec: matrix has {} elements, expected {m} x {n}",
            a.len()
        );
        let (av, xv) = (a.values(), self.values());
        let values = new_values(m, |i| dot(&av[i * n..(i + 1) * n], xv));
        let Some(t) = tape else {
            return Self::record(None, ArrayOp::Nothing, values);
        };
        let (off, ()) = t.arena_extend(m * n + n, |store| {
            init_from(&mut store[..m * n], av);
            init_from(&mut store[m * n..], xv);
        });
        let op = ArrayOp::VarMatVec {
            a: a.input(),
            x: self.input(),
            m,
            n,
            off,
        };
        Self::record(tape, op, values)
    }
}

/// A dense row-major matrix of constants.
#[derive(Clone, Debug)]
pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl DenseMatrix {
    /// A `rows x cols` matrix from row-major data.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "DenseMatrix::new: {} values for a {rows} x {cols} matrix",
            data.len()
        );
        DenseMatrix { rows, cols, data }
    }
}

/// A sparse matrix of constants in compressed sparse row form.
#[derive(Clone, Debug)]
pub struct CsrMatrix {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
}

impl CsrMatrix {
    /// A CSR matrix: row `i` holds `values[indptr[i]..indptr[i+1]]` in columns
    /// `indices[indptr[i]..indptr[i+1]]`.
    ///
    /// # Panics
    /// If the arrays are inconsistent or a column index is out of range.
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f64>,
    ) -> Self {
        assert_eq!(
            indptr.len(),
            rows + 1,
            "CsrMatrix::new: indptr needs rows + 1 entries"
        );
        assert!(
            indptr.windows(2).all(|w| w[0] <= w[1]) && indptr[rows] == indices.len(),
            "CsrMatrix::new: indptr must be non-decreasing and end at nnz"
        );
        assert_eq!(
            indices.len(),
            values.len(),
            "CsrMatrix::new: indices and values differ in length"
        );
        assert!(
            indices.iter().all(|&c| (c as usize) < cols),
            "CsrMatrix::new: a column index is >= cols ({cols})"
        );
        CsrMatrix {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    /// A CSR matrix from `(row, col, value)` triplets; duplicates are summed.
    pub fn from_triplets(rows: usize, cols: usize, triplets: &[(usize, usize, f64)]) -> Self {
        let mut t = triplets.to_vec();
        t.sort_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0; rows + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut values: Vec<f64> = Vec::with_capacity(t.len());
        let mut last = None;
        for &(r, c, v) in &t {
            assert!(
                r < rows && c < cols,
                "CsrMatrix::from_triplets: ({r}, {c}) out of range"
            );
            if last == Some((r, c)) {
                *values.last_mut().expect("a previous entry") += v;
            } else {
                indices.push(c as u32);
                values.push(v);
                indptr[r + 1] += 1;
                last = Some((r, c));
            }
        }
        for i in 0..rows {
            indptr[i + 1] += indptr[i];
        }
        CsrMatrix::new(rows, cols, indptr, indices, values)
    }
}

/// A constant matrix for [`VarArray::matvec`].
#[derive(Clone, Debug)]
pub enum Matrix {
    /// Dense, row-major.
    Dense(DenseMatrix),
    /// Sparse, compressed rows.
    Csr(CsrMatrix),
}

impl From<DenseMatrix> for Matrix {
    fn from(m: DenseMatrix) -> Self {
        Matrix::Dense(m)
    }
}

impl From<CsrMatrix> for Matrix {
    fn from(m: CsrMatrix) -> Self {
        Matrix::Csr(m)
    }
}

impl Matrix {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.rows,
            Matrix::Csr(m) => m.rows,
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.cols,
            Matrix::Csr(m) => m.cols,
        }
    }

    /// `y = M x`.
    pub fn apply(&self, x: &[f64], y: &mut [f64]) {
        match self {
            Matrix::Dense(m) => {
                let row = |(i, yi): (usize, &mut f64)| {
                    *yi = dot(&m.data[i * m.cols..(i + 1) * m.cols], x);
                };
                if m.rows * m.cols >= PAR_MIN {
                    y.par_iter_mut().enumerate().for_each(row);
                } else {
                    y.iter_mut().enumerate().for_each(row);
                }
            }
            Matrix::Csr(m) => {
                let row = |(i, yi): (usize, &mut f64)| {
                    let r = m.indptr[i]..m.indptr[i + 1];
                    *yi = m.indices[r.clone()]
                        .iter()
                        .zip(&m.values[r])
                        .map(|(&c, &v)| v * x[c as usize])
                        .sum();
                };
                if m.values.len() >= PAR_MIN {
                    y.par_iter_mut().enumerate().for_each(row);
                } else {
                    y.iter_mut().enumerate().for_each(row);
                }
            }
        }
    }

    /// `x_bar += M^T y_bar`.
    pub fn apply_transpose_add(&self, y_bar: &[f64], x_bar: &mut [f64]) {
        match self {
            Matrix::Dense(m) => {
                for (i, &w) in y_bar.iter().enumerate() {
                    for (xb, &a) in x_bar.iter_mut().zip(&m.data[i * m.cols..(i + 1) * m.cols]) {
                        *xb += w * a;
                    }
                }
            }
            Matrix::Csr(m) => {
                for (i, &w) in y_bar.iter().enumerate() {
                    for k in m.indptr[i]..m.indptr[i + 1] {
                        x_bar[m.indices[k] as usize] += w * m.values[k];
                    }
                }
            }
        }
    }
}
