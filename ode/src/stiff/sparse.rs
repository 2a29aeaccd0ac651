//! Sparse Jacobians for large systems: automatic sparsity detection, column colouring, values
//! by forward mode over the colours, and the iteration matrix through the solvers crate's
//! sparse LU (symbolic analysis done once and reused).
//!
//! Detection probes the user's generic right-hand side: forward-mode columns (`Dual<8>`, the
//! cost of one dense Jacobian, once per solve) at a perturbed state `y_i + 0.1 (|y_i| + 1) r_i`
//! (`r_i` deterministic in (0.5, 1.5)) so that an entry vanishing at the initial state by
//! accident (a zero concentration) is still found; the diagonal is always kept. An entry that
//! is zero at the probe but not elsewhere is missed: the Newton matrix is then approximate,
//! which modified Newton tolerates (slower convergence, Jacobian refreshes), never a wrong
//! solution. Columns sharing no row share a colour (greedy distance-2 colouring, as in
//! `solvers::newton`), so a banded or stencil Jacobian costs a handful of evaluations.

use std::sync::Arc;

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
    colour: Vec<usize>,
    n_colours: usize,
    /// For each entry, true if on the diagonal.
    diag: Vec<bool>,
}

impl SparseJacobian {
    /// Detects the pattern of `∂f/∂y` near `(t, y)`; `None` for small or dense Jacobians (or
    /// a pattern the sparse LU rejects).
    pub(crate) fn detect<Sys: OdeSystem>(sys: &Sys, t: f64, y: &[f64], p: &[f64]) -> Option<Self> {
        const W: usize = 8;
        let n = y.len();
        if n < MIN_SPARSE_DIM {
            return None;
        }
        let probe: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let r = 0.5 + ((i as f64 * 0.618_033_988_75).fract());
                v + 0.1 * (v.abs() + 1.0) * r
            })
            .collect();
        let pd: Vec<Dual<W>> = p.iter().map(|&v| Dual::constant(v)).collect();
        let mut out = vec![Dual::<W>::constant(0.0); n];
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for i in 0..n {
            rows.push(i);
            cols.push(i);
        }
        let mut c0 = 0;
        while c0 < n {
            let yd: Vec<Dual<W>> = probe
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let mut d = Dual::<W>::constant(v);
                    if (c0..c0 + W).contains(&i) {
                        d.d[i - c0] = 1.0;
                    }
                    d
                })
                .collect();
            sys.rhs(Dual::constant(t), &yd, &pd, &mut out);
            for (i, o) in out.iter().enumerate() {
                for w in 0..W.min(n - c0) {
                    if o.d[w] != 0.0 && i != c0 + w {
                        rows.push(i);
                        cols.push(c0 + w);
                    }
                }
            }
            if rows.len() as f64 > MAX_DENSITY * (n * n) as f64 {
                return None;
            }
            c0 += W;
        }
        let (pattern, _) = Pattern::from_entries(n, n, &rows, &cols).ok()?;
        let symbolic = SymbolicLu::new(&pattern).ok()?;
        let (rp, ci) = (pattern.row_ptr(), pattern.col_idx());
        let mut diag = vec![false; pattern.nnz()];
        let mut rows_of_col: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            for k in rp[i]..rp[i + 1] {
                diag[k] = ci[k] == i;
                rows_of_col[ci[k]].push(i);
            }
        }
        let mut colour = vec![usize::MAX; n];
        let mut mark = vec![usize::MAX; n + 1];
        let mut n_colours = 0;
        for j in 0..n {
            for &i in &rows_of_col[j] {
                for &k in &ci[rp[i]..rp[i + 1]] {
                    if colour[k] != usize::MAX {
                        mark[colour[k]] = j;
                    }
                }
            }
            let c = (0..).find(|&c| mark[c] != j).expect("a free colour");
            colour[j] = c;
            n_colours = n_colours.max(c + 1);
        }
        Some(SparseJacobian {
            pattern,
            symbolic,
            colour,
            n_colours,
            diag,
        })
    }

    /// Number of stored entries.
    pub(crate) fn nnz(&self) -> usize {
        self.pattern.nnz()
    }

    /// Number of colours (tangent directions per Jacobian).
    pub(crate) fn n_colours(&self) -> usize {
        self.n_colours
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
        const W: usize = 8;
        let n = y.len();
        let pd: Vec<Dual<W>> = p.iter().map(|&v| Dual::constant(v)).collect();
        let (rp, ci) = (self.pattern.row_ptr(), self.pattern.col_idx());
        let mut out = vec![Dual::<W>::constant(0.0); n];
        let mut evals = 0;
        for c0 in (0..self.n_colours).step_by(W) {
            let yd: Vec<Dual<W>> = y
                .iter()
                .zip(&self.colour)
                .map(|(&v, &c)| {
                    let mut d = Dual::<W>::constant(v);
                    if (c0..c0 + W).contains(&c) {
                        d.d[c - c0] = 1.0;
                    }
                    d
                })
                .collect();
            sys.rhs(Dual::constant(t), &yd, &pd, &mut out);
            evals += 1;
            for i in 0..n {
                for k in rp[i]..rp[i + 1] {
                    let c = self.colour[ci[k]];
                    if (c0..c0 + W).contains(&c) {
                        vals[k] = out[i].d[c - c0];
                    }
                }
            }
        }
        evals
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
