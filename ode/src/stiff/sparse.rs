//! Sparse Jacobians for large systems: automatic sparsity detection, column colouring, values
//! by forward mode over the colours, and the iteration matrix through the solvers crate's
//! sparse LU (symbolic analysis done once and reused).
//!
//! Detection probes the user's generic right-hand side once per solve at a perturbed state:
//! by forward-mode columns (`Dual<8>`, the cost of one dense Jacobian) up to n = 768, above by
//! group testing (3 hashes x 256 weighted column groups: 96 evaluations whatever n, giving a
//! superset of the pattern whose rare extra entries are computed as zeros), at
//! `y_i + 0.1 (|y_i| + 1) r_i` (`r_i` deterministic in (0.5, 1.5)) so that an entry vanishing at the initial state by
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
/// Group testing for large systems: hashes and groups per hash.
const HASHES: usize = 3;
const GROUPS: usize = 256;

/// A detected pattern with its colouring and symbolic LU.
pub(crate) struct SparseJacobian {
    pattern: Arc<Pattern>,
    symbolic: SymbolicLu,
    colour: Vec<usize>,
    n_colours: usize,
    /// For each entry, true if on the diagonal.
    diag: Vec<bool>,
    /// Evaluations spent on the detection.
    pub(crate) detect_evals: usize,
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
        let max_entries = MAX_DENSITY * (n * n) as f64;
        if n <= HASHES * GROUPS {
            // exact: one forward-mode column per state
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
                if rows.len() as f64 > max_entries {
                    return None;
                }
                c0 += W;
            }
        } else {
            // group testing: under each of HASHES hashes the columns fall into GROUPS groups,
            // one tangent direction per group with random weights (no cancellation); (i, j) is
            // kept when row i is non-zero in j's group under every hash. A superset of the
            // pattern (rare extra entries are computed as zeros), found with
            // HASHES * GROUPS / 8 evaluations instead of n / 8.
            let group = |r: usize, j: usize| {
                let k = [
                    0x9E37_79B9_7F4A_7C15u64,
                    0xC2B2_AE3D_27D4_EB4F,
                    0x1656_67B1_9E37_79F9,
                ][r];
                (((j as u64 + 1).wrapping_mul(k) >> 29) % GROUPS as u64) as usize
            };
            let weight = |j: usize| 0.5 + (j as f64 * 0.754_877_666_2).fract();
            // nz[r][i]: the groups in which row i is non-zero under hash r
            let mut nz: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); n]; HASHES];
            for (r, nz_r) in nz.iter_mut().enumerate() {
                for g0 in (0..GROUPS).step_by(W) {
                    let yd: Vec<Dual<W>> = probe
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| {
                            let mut d = Dual::<W>::constant(v);
                            let g = group(r, j);
                            if (g0..g0 + W).contains(&g) {
                                d.d[g - g0] = weight(j);
                            }
                            d
                        })
                        .collect();
                    sys.rhs(Dual::constant(t), &yd, &pd, &mut out);
                    for (i, o) in out.iter().enumerate() {
                        for w in 0..W {
                            if o.d[w] != 0.0 {
                                nz_r[i].push(g0 + w);
                            }
                        }
                    }
                }
            }
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); GROUPS];
            for j in 0..n {
                members[group(0, j)].push(j);
            }
            for i in 0..n {
                for &g in &nz[0][i] {
                    for &j in &members[g] {
                        if j != i && (1..HASHES).all(|r| nz[r][i].contains(&group(r, j))) {
                            rows.push(i);
                            cols.push(j);
                        }
                    }
                }
                if rows.len() as f64 > max_entries {
                    return None;
                }
            }
        }
        let detect_evals = if n <= HASHES * GROUPS {
            n.div_ceil(W)
        } else {
            HASHES * GROUPS / W
        };
        let mut sj = Self::build(n, &rows, &cols, detect_evals)?;
        if n > HASHES * GROUPS {
            // drop the false positives of the group testing: entries that are zero at the
            // probe (computed exactly through the colouring of the superset)
            let mut vals = vec![0.0; sj.nnz()];
            sj.detect_evals += sj.values(sys, t, &probe, p, &mut vals);
            let (rp, ci) = (sj.pattern.row_ptr(), sj.pattern.col_idx());
            let (mut r2, mut c2) = (Vec::new(), Vec::new());
            for i in 0..n {
                for k in rp[i]..rp[i + 1] {
                    if vals[k] != 0.0 || ci[k] == i {
                        r2.push(i);
                        c2.push(ci[k]);
                    }
                }
            }
            let evals = sj.detect_evals;
            sj = Self::build(n, &r2, &c2, evals)?;
        }
        Some(sj)
    }

    /// Pattern, diagonal flags, colouring and symbolic LU of the entries `(rows, cols)`.
    fn build(n: usize, rows: &[usize], cols: &[usize], detect_evals: usize) -> Option<Self> {
        let (pattern, _) = Pattern::from_entries(n, n, rows, cols).ok()?;
        let symbolic = SymbolicLu::new(&pattern).ok()?;
        let (rp, ci) = (pattern.row_ptr(), pattern.col_idx());
        let mut diag = vec![false; pattern.nnz()];
        for i in 0..n {
            for k in rp[i]..rp[i + 1] {
                diag[k] = ci[k] == i;
            }
        }
        let (colour, n_colours) = pattern.column_colouring();
        Some(SparseJacobian {
            pattern,
            symbolic,
            colour,
            n_colours,
            diag,
            detect_evals,
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
        let pd: Vec<Dual<8>> = p.iter().map(|&v| Dual::constant(v)).collect();
        self.pattern.jacobian_values(
            &self.colour,
            self.n_colours,
            y,
            |yd, out| sys.rhs(Dual::constant(t), yd, &pd, out),
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
