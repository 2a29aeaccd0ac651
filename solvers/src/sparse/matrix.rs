//! Compressed sparse row matrices generic over the scalar: one shared pattern, values as `S`.

use std::sync::Arc;

use ad_core::Real;
use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// A sparsity pattern in compressed sparse row (CSR) form: the column indices of row `i` are
/// `col_idx[row_ptr[i]..row_ptr[i + 1]]`, sorted and unique.
///
/// The same arrays read as compressed sparse *column* form describe `A^T`; the factorisations
/// use this to hand faer (column-major) the transpose without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<usize>,
}

impl Pattern {
    /// The pattern of the entries `(rows[k], cols[k])` (duplicates allowed) and, for each
    /// entry `k`, the slot it occupies in the compressed value array — assemble values with
    /// `values[slots[k]] += v[k]` (see [`CsrMatrix::from_triplets`]).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `rows` and `cols` differ in length,
    /// [`Error::InvalidPattern`] for an index out of range.
    pub fn from_entries(
        nrows: usize,
        ncols: usize,
        rows: &[usize],
        cols: &[usize],
    ) -> Result<(Arc<Pattern>, Vec<usize>)> {
        crate::dense::check_dim("triplet columns", rows.len(), cols.len())?;
        if rows.iter().any(|&i| i >= nrows) || cols.iter().any(|&j| j >= ncols) {
            return Err(Error::InvalidPattern {
                what: "an entry's row or column index is out of range",
            });
        }
        // Counting sort by row, then sort each row's entries by column.
        let mut count = vec![0usize; nrows + 1];
        for &i in rows {
            count[i + 1] += 1;
        }
        for i in 0..nrows {
            count[i + 1] += count[i];
        }
        let mut order = vec![0usize; rows.len()];
        let mut next = count.clone();
        for (k, &i) in rows.iter().enumerate() {
            order[next[i]] = k;
            next[i] += 1;
        }
        let mut row_ptr = Vec::with_capacity(nrows + 1);
        let mut col_idx = Vec::with_capacity(rows.len());
        let mut slots = vec![0usize; rows.len()];
        row_ptr.push(0);
        for i in 0..nrows {
            let entries = &mut order[count[i]..count[i + 1]];
            entries.sort_unstable_by_key(|&k| cols[k]);
            let mut last = usize::MAX;
            for &k in entries.iter() {
                if cols[k] != last {
                    col_idx.push(cols[k]);
                    last = cols[k];
                }
                slots[k] = col_idx.len() - 1;
            }
            row_ptr.push(col_idx.len());
        }
        Ok((
            Arc::new(Pattern {
                nrows,
                ncols,
                row_ptr,
                col_idx,
            }),
            slots,
        ))
    }

    /// A pattern from CSR arrays.
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] unless `row_ptr` has `nrows + 1` non-decreasing entries ending
    /// at `col_idx.len()` and each row's columns are sorted, unique and `< ncols`.
    pub fn from_csr(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<usize>,
    ) -> Result<Arc<Pattern>> {
        let ok = row_ptr.len() == nrows + 1
            && row_ptr[0] == 0
            && row_ptr[nrows] == col_idx.len()
            && row_ptr.windows(2).all(|w| w[0] <= w[1])
            && (0..nrows).all(|i| {
                let c = &col_idx[row_ptr[i]..row_ptr[i + 1]];
                c.windows(2).all(|w| w[0] < w[1]) && c.last().map_or(true, |&j| j < ncols)
            });
        if !ok {
            return Err(Error::InvalidPattern {
                what: "CSR arrays are inconsistent (row_ptr length/order, unsorted or \
                       out-of-range columns)",
            });
        }
        Ok(Arc::new(Pattern {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        }))
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Row pointers (`nrows + 1` entries).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// Column indices of the stored entries, row by row.
    pub fn col_idx(&self) -> &[usize] {
        &self.col_idx
    }

    /// The row of each stored entry.
    pub fn row_of_entries(&self) -> Vec<usize> {
        let mut r = Vec::with_capacity(self.nnz());
        for i in 0..self.nrows {
            r.extend(std::iter::repeat(i).take(self.row_ptr[i + 1] - self.row_ptr[i]));
        }
        r
    }

    /// Calls `f(i, range)` with each row's range of stored entries, rows in parallel for large
    /// patterns, with the row's slice of `out` (one value per stored entry): the O(nnz) scatters.
    pub(crate) fn for_rows_mut<F>(&self, out: &mut [f64], f: F)
    where
        F: Fn(usize, &[usize], &mut [f64]) + Sync,
    {
        // Split `out` (one value per stored entry) into per-row chunks.
        let mut chunks: Vec<(usize, &mut [f64])> = Vec::with_capacity(self.nrows);
        let mut rest = out;
        for i in 0..self.nrows {
            let len = self.row_ptr[i + 1] - self.row_ptr[i];
            let (head, tail) = rest.split_at_mut(len);
            chunks.push((i, head));
            rest = tail;
        }
        let run = |(i, chunk): (usize, &mut [f64])| {
            f(
                i,
                &self.col_idx[self.row_ptr[i]..self.row_ptr[i + 1]],
                chunk,
            )
        };
        if self.nnz() >= 1 << 15 {
            chunks.into_par_iter().for_each(run);
        } else {
            chunks.into_iter().for_each(run);
        }
    }
}

/// A sparse matrix in CSR form: a shared [`Pattern`] and one value of type `S` per stored
/// entry (`f64`, or `Var`/`Dual` when the entries are differentiated).
#[derive(Clone, Debug)]
pub struct CsrMatrix<S> {
    pattern: Arc<Pattern>,
    values: Vec<S>,
}

impl<S: Real> CsrMatrix<S> {
    /// A matrix with the given pattern and values (one per stored entry, CSR order).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `values.len() != pattern.nnz()`.
    pub fn new(pattern: Arc<Pattern>, values: Vec<S>) -> Result<Self> {
        crate::dense::check_dim("sparse values", pattern.nnz(), values.len())?;
        Ok(CsrMatrix { pattern, values })
    }

    /// Assembles `A` from triplets `(i, j, v)`, summing duplicates (finite-element style).
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] for an index out of range.
    pub fn from_triplets(
        nrows: usize,
        ncols: usize,
        triplets: &[(usize, usize, S)],
    ) -> Result<Self> {
        let rows: Vec<usize> = triplets.iter().map(|t| t.0).collect();
        let cols: Vec<usize> = triplets.iter().map(|t| t.1).collect();
        let (pattern, slots) = Pattern::from_entries(nrows, ncols, &rows, &cols)?;
        let mut values = vec![S::zero(); pattern.nnz()];
        let mut seen = vec![false; pattern.nnz()];
        for (t, &s) in triplets.iter().zip(&slots) {
            if seen[s] {
                values[s] += t.2;
            } else {
                values[s] = t.2;
                seen[s] = true;
            }
        }
        Ok(CsrMatrix { pattern, values })
    }

    /// The pattern.
    pub fn pattern(&self) -> &Arc<Pattern> {
        &self.pattern
    }

    /// The stored values, CSR order.
    pub fn values(&self) -> &[S] {
        &self.values
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.pattern.nrows
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.pattern.ncols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.pattern.nnz()
    }

    /// `y = A x`, scalar by scalar (recorded entry by entry on a tape).
    ///
    /// # Panics
    /// If `x.len() != ncols`.
    #[track_caller]
    pub fn mul_vec(&self, x: &[S]) -> Vec<S> {
        assert_eq!(
            x.len(),
            self.ncols(),
            "CsrMatrix::mul_vec: x has the wrong length"
        );
        let p = &self.pattern;
        (0..p.nrows)
            .map(|i| {
                (p.row_ptr[i]..p.row_ptr[i + 1])
                    .map(|k| self.values[k] * x[p.col_idx[k]])
                    .sum()
            })
            .collect()
    }

    /// The transpose `A^T`, in CSR form (equivalently: `A` in compressed sparse column form).
    pub fn transpose(&self) -> CsrMatrix<S> {
        let p = &self.pattern;
        let rows = p.row_of_entries();
        let (pattern, slots) = Pattern::from_entries(p.ncols, p.nrows, &p.col_idx, &rows)
            .expect("a valid pattern transposes to a valid pattern");
        let mut values = vec![S::zero(); self.values.len()];
        for (&s, &v) in slots.iter().zip(&self.values) {
            values[s] = v;
        }
        CsrMatrix { pattern, values }
    }

    /// The dense matrix.
    pub fn to_dense(&self) -> Array2<S> {
        let p = &self.pattern;
        let mut a = Array2::from_elem((p.nrows, p.ncols), S::zero());
        for i in 0..p.nrows {
            for k in p.row_ptr[i]..p.row_ptr[i + 1] {
                a[[i, p.col_idx[k]]] = self.values[k];
            }
        }
        a
    }
}
