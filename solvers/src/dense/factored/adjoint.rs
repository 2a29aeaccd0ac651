//! What the reverse steps of a solve share: the transposed solve `Lambda = A^{-T} Y_bar`
//! (computed once for the pair of blocks, [`SharedLambda`]) and the updates of `A_bar`.

use std::cell::RefCell;

use faer::MatMut;
use rayon::prelude::*;

use super::{to_col_major, Factors};
use crate::dense::{check_finite, ADJOINT};
use crate::error::Result;

/// `Lambda = A^{-T} Y_bar` (`A^{-1} Y_bar` for a transposed solve), column-major, for a
/// row-major `n x k` adjoint `y_bar`.
pub(crate) fn adjoint_solve<F: Factors>(
    f: &F,
    y_bar: &[f64],
    k: usize,
    transpose: bool,
) -> Result<Vec<f64>> {
    let n = f.n();
    let mut lam = to_col_major(y_bar, n, k);
    f.solve_in_place(
        MatMut::from_column_major_slice_mut(&mut lam, n, k),
        !transpose,
    );
    check_finite(ADJOINT, &lam)?;
    Ok(lam)
}

/// `Lambda = A^{-T} Y_bar` for the two blocks of one solve: the one kept by the block whose
/// reverse step ran first if it was computed from this `y_bar`, else solved here (then the
/// flag is true and the caller keeps it for the other block).
pub(super) fn lambda<F: Factors>(
    f: &F,
    shared: Option<&SharedLambda>,
    y_bar: &[f64],
    k: usize,
    transpose: bool,
) -> Result<(Vec<f64>, bool)> {
    Ok(match shared.and_then(|s| s.take(y_bar)) {
        Some(lam) => (lam, false),
        None => (adjoint_solve(f, y_bar, k, transpose)?, true),
    })
}

/// `Lambda` of the reverse step that ran first, with the adjoint it was computed from.
/// The flag: set by a block of the pair applied to nested duals (second order), which then
/// records the solve as one block over both inputs ([`crate::second_order::NestedSolve`]).
#[derive(Default)]
pub(crate) struct SharedLambda(RefCell<Option<(Vec<f64>, Vec<f64>)>>, std::cell::Cell<bool>);

impl SharedLambda {
    /// Marks the pair as applied to nested duals.
    pub(super) fn mark_nested(&self) {
        self.1.set(true);
    }

    /// True if a block of the pair was applied to nested duals.
    pub(super) fn is_nested(&self) -> bool {
        self.1.get()
    }

    pub(super) fn keep(&self, y_bar: &[f64], lam: Vec<f64>) {
        *self.0.borrow_mut() = Some((y_bar.to_vec(), lam));
    }

    /// The kept `Lambda` if it was computed from this same `y_bar` (checked, so a block
    /// reached alone, or in another order, still gets its own solve).
    pub(super) fn take(&self, y_bar: &[f64]) -> Option<Vec<f64>> {
        match self.0.borrow_mut().take() {
            Some((yb, lam)) if yb == y_bar => Some(lam),
            _ => None,
        }
    }
}

/// `M[i][j] += scale * sum_c u[c][i] v[c][j]` for row-major `n x n` `M` and column-major
/// `n x k` `u`, `v` (`=` if `WRITE`: `M`'s old contents are not read); rows in parallel for
/// large `n`.
pub(super) fn rank_update<const WRITE: bool>(
    m: &mut [f64],
    n: usize,
    k: usize,
    u: &[f64],
    v: &[f64],
    scale: f64,
) {
    let row = |(i, mi): (usize, &mut [f64])| {
        if WRITE && k == 0 {
            mi.fill(0.0);
        }
        for c in 0..k {
            let s = scale * u[c * n + i];
            let vc = &v[c * n..(c + 1) * n];
            if WRITE && c == 0 {
                for (mij, &vj) in mi.iter_mut().zip(vc) {
                    *mij = s * vj;
                }
            } else {
                for (mij, &vj) in mi.iter_mut().zip(vc) {
                    *mij += s * vj;
                }
            }
        }
    };
    if n * n * k >= 1 << 16 {
        m.par_chunks_mut(n).enumerate().for_each(row);
    } else {
        m.chunks_mut(n).enumerate().for_each(row);
    }
}

/// `r[c] -= scale * M x[c]` (or `M^T x[c]`) for row-major `n x n` `M`, column-major `x`, `r`.
pub(super) fn matvec_sub(
    m: &[f64],
    n: usize,
    k: usize,
    x: &[f64],
    r: &mut [f64],
    scale: f64,
    transposed: bool,
) {
    for c in 0..k {
        let xc = &x[c * n..(c + 1) * n];
        let rc = &mut r[c * n..(c + 1) * n];
        for (i, mi) in m.chunks(n).enumerate() {
            if transposed {
                let s = scale * xc[i];
                for (rj, &mij) in rc.iter_mut().zip(mi) {
                    *rj -= s * mij;
                }
            } else {
                let dot: f64 = mi.iter().zip(xc).map(|(a, b)| a * b).sum();
                rc[i] -= scale * dot;
            }
        }
    }
}
