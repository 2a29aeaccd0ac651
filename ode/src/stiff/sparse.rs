//! Sparse Jacobians for large systems: automatic sparsity detection, column colouring, values
//! by forward mode over the colours, and the iteration matrix through the solvers crate's
//! sparse LU (symbolic analysis done once and reused).
//!
//! Detection runs the user's generic right-hand side once per solve on
//! [`Tracer`](ad_core::sparsity::Tracer)s ([`jacobian_sparsity`]): each value carries the set of
//! states it depends on, so the pattern is structural — an entry whose partial vanishes at
//! the initial state (a zero concentration) is still found — and costs one evaluation plus
//! set merges, whatever `n`. The diagonal is always kept. If the right-hand side branches on a
//! state value (an upwind flux) the pattern would be that of the initial state only: an entry
//! that appears elsewhere would be missing, the colouring could then merge columns that share
//! a row and corrupt the entries present too, and the discrete adjoint, which solves with the
//! transpose of this Newton matrix, would return a wrong gradient. So such a system gets no
//! sparse Jacobian (the solver uses the dense one): the rule of
//! [`global_jacobian_sparsity`], shared with the adjoints' products. The values come from
//! [`CompressedJacobian`]: columns sharing no row share a colour, so a banded or stencil
//! Jacobian costs a handful of `Dual<8>` evaluations.

use std::sync::Arc;

use std::sync::Mutex;

use ad_core::sparsity::{global_jacobian_sparsity, CompressedJacobian, Tracer};
use ad_core::Dual;
use solvers::sparse::{CsrMatrix, Pattern, SparseLu, SymbolicLu};

use crate::system::OdeSystem;

use super::linalg::{Factor, Singular};

/// Systems smaller than this use dense Jacobians.
pub(crate) const MIN_SPARSE_DIM: usize = 64;
/// Patterns denser than this fraction use dense Jacobians.
const MAX_DENSITY: f64 = 0.1;

/// A detected pattern with its colouring and symbolic LU.
pub(crate) struct SparseJacobian {
    pattern: Arc<Pattern>,
    symbolic: SymbolicLu,
    /// The colouring and the reused `Dual<8>` buffers.
    values: Mutex<CompressedJacobian>,
    /// For each entry, true if on the diagonal.
    diag: Vec<bool>,
    /// Evaluations spent on the detection.
    pub(crate) detect_evals: usize,
}

impl SparseJacobian {
    /// Detects the pattern of `∂f/∂y` at `(t, y)`; `None` for small or dense Jacobians, a
    /// pattern that holds at this point only (the `rhs` branched on a state value), or a
    /// pattern the sparse LU rejects.
    pub(crate) fn detect<Sys: OdeSystem>(sys: &Sys, t: f64, y: &[f64], p: &[f64]) -> Option<Self> {
        let n = y.len();
        if n < MIN_SPARSE_DIM {
            return None;
        }
        let limit = ((MAX_DENSITY * n as f64) as usize).max(8);
        let pt: Vec<Tracer> = p.iter().map(|&v| Tracer::constant(v)).collect();
        let traced = global_jacobian_sparsity(y, n, limit, |yt, out| {
            sys.rhs(Tracer::constant(t), yt, &pt, out);
            // keep the diagonal: `y_i * 0` depends on y_i
            for (o, &yi) in out.iter_mut().zip(yt) {
                *o += yi * 0.0;
            }
        })
        .ok()?;
        if traced.nnz() as f64 > MAX_DENSITY * (n * n) as f64 {
            return None;
        }
        let pattern = Pattern::from_csr(
            n,
            n,
            traced.row_start().to_vec(),
            traced.col_index().to_vec(),
        )
        .ok()?;
        let symbolic = SymbolicLu::new(&pattern).ok()?;
        let (rp, ci) = (pattern.row_ptr(), pattern.col_idx());
        let mut diag = vec![false; pattern.nnz()];
        for i in 0..n {
            for k in rp[i]..rp[i + 1] {
                diag[k] = ci[k] == i;
            }
        }
        Some(SparseJacobian {
            pattern,
            symbolic,
            values: Mutex::new(CompressedJacobian::new(traced)),
            diag,
            detect_evals: 1,
        })
    }

    /// Number of stored entries.
    pub(crate) fn nnz(&self) -> usize {
        self.pattern.nnz()
    }

    /// Number of colours (tangent directions per Jacobian).
    pub(crate) fn n_colours(&self) -> usize {
        self.lock().n_colours()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CompressedJacobian> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Jacobian values on the pattern at `(t, y)`; returns the number of evaluations.
    pub(crate) fn values<Sys: OdeSystem>(
        &self,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        vals: &mut [f64],
    ) -> usize {
        let pd: Vec<Dual<8>> = p.iter().map(|&v| Dual::constant(v)).collect();
        self.lock().values(
            y,
            |yd: &[Dual<8>], out: &mut [Dual<8>]| sys.rhs(Dual::constant(t), yd, &pd, out),
            vals,
        )
    }

    /// Factorises `I - c J` (`vals` on the pattern) with the reused symbolic analysis.
    pub(crate) fn factor(&self, c: f64, vals: &[f64]) -> Result<Factor, Singular> {
        let m: Vec<f64> = vals
            .iter()
            .zip(&self.diag)
            .map(|(&v, &d)| if d { 1.0 - c * v } else { -c * v })
            .collect();
        if m.iter().any(|v| !v.is_finite()) {
            return Err(Singular);
        }
        let a = CsrMatrix::new(Arc::clone(&self.pattern), m).map_err(|_| Singular)?;
        SparseLu::with_symbolic(&self.symbolic, &a)
            .map(Factor::Sparse)
            .map_err(|_| Singular)
    }
}
