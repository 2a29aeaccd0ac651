//! The detected pattern: [`Sparsity`], a Jacobian's structure in compressed rows.

/// The sparsity pattern of an `m x n` Jacobian in compressed rows: row `i` lists, ascending,
/// the inputs output `i` depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sparsity {
    pub(super) n_cols: usize,
    pub(super) row_start: Vec<usize>,
    pub(super) col_index: Vec<usize>,
    pub(super) local: bool,
}

impl Sparsity {
    /// A pattern given in compressed rows (a known structure, e.g. a user-supplied one), to
    /// colour and evaluate with [`CompressedJacobian`](super::CompressedJacobian). `None`
    /// unless `row_start` has `n_rows + 1` non-decreasing entries from 0 to `col_index.len()`
    /// and each row's columns are strictly increasing and below `n_cols`.
    pub fn from_csr(
        n_rows: usize,
        n_cols: usize,
        row_start: Vec<usize>,
        col_index: Vec<usize>,
    ) -> Option<Self> {
        let ok = row_start.len() == n_rows + 1
            && row_start[0] == 0
            && row_start[n_rows] == col_index.len()
            && row_start.windows(2).all(|w| w[0] <= w[1])
            && (0..n_rows).all(|i| {
                let c = &col_index[row_start[i]..row_start[i + 1]];
                c.windows(2).all(|w| w[0] < w[1]) && c.last().map_or(true, |&j| j < n_cols)
            });
        ok.then_some(Sparsity {
            n_cols,
            row_start,
            col_index,
            local: false,
        })
    }

    /// Number of outputs (rows).
    pub fn n_rows(&self) -> usize {
        self.row_start.len() - 1
    }
    /// Number of inputs (columns).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Number of structurally non-zero entries.
    pub fn nnz(&self) -> usize {
        self.col_index.len()
    }
    /// The inputs output `i` depends on, ascending.
    pub fn row(&self, i: usize) -> &[usize] {
        &self.col_index[self.row_start[i]..self.row_start[i + 1]]
    }
    /// Row starts (length `n_rows + 1`) of the compressed-row layout.
    pub fn row_start(&self) -> &[usize] {
        &self.row_start
    }
    /// Column indices of the compressed-row layout.
    pub fn col_index(&self) -> &[usize] {
        &self.col_index
    }
    /// True if the traced code compared or read a value that depends on the inputs: the
    /// pattern is then that of the traced point and may miss entries elsewhere.
    pub fn is_local(&self) -> bool {
        self.local
    }
}
