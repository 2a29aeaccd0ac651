//! Problems with known structure shared by the tests, examples and benchmarks.

use std::sync::Arc;

use ad_core::Real;

use crate::sparse::{CsrMatrix, Pattern};

/// The W2s operator (BENCHMARKS.md): `-div(k grad u)` on the `m x m` interior nodes of a
/// vertex-centred grid on the unit square, `h = 1/(m+1)`, 5-point stencil, Dirichlet 0 on the
/// boundary. Node `c = r m + s` (row `r`, column `s`); the conductivity of a link between two
/// nodes is the harmonic mean `2 k_a k_b / (k_a + k_b)`, a link to the boundary uses the node's
/// own `k`; each link contributes `k_link / h^2` to the diagonal and `-k_link / h^2` off it.
///
/// Symmetric positive definite; generic over the scalar so that `k` can be differentiated.
///
/// # Panics
/// If `k.len() != m * m`.
pub fn poisson2d<S: Real>(m: usize, k: &[S]) -> CsrMatrix<S> {
    assert_eq!(k.len(), m * m, "poisson2d: k needs m*m entries");
    let pattern = poisson2d_pattern(m);
    let inv_h2 = ((m + 1) * (m + 1)) as f64;
    // Half the harmonic mean, a b / (a + b): the factor 2 is folded into the final scaling
    // (fewer recorded operations when k carries derivatives).
    let half_link = |a: S, b: S| a * b / (a + b);
    let (scale, off_scale) = (2.0 * inv_h2, -2.0 * inv_h2);
    // Pass 1: the links (unscaled) and the diagonal sums, in CSR order.
    let mut raw = Vec::with_capacity(pattern.nnz());
    let mut is_diag = Vec::with_capacity(pattern.nnz());
    for r in 0..m {
        for s in 0..m {
            let c = r * m + s;
            let kc = k[c];
            let neighbours = [
                (r > 0).then(|| c - m),
                (s > 0).then(|| c - 1),
                (s + 1 < m).then(|| c + 1),
                (r + 1 < m).then(|| c + m),
            ];
            let mut diag = S::zero();
            let mut links = [S::zero(); 4];
            for (l, nb) in links.iter_mut().zip(neighbours) {
                match nb {
                    Some(nb) => {
                        *l = half_link(kc, k[nb]);
                        diag += *l;
                    }
                    None => diag += kc * 0.5,
                }
            }
            // CSR order: c - m, c - 1, c, c + 1, c + m.
            for q in 0..4 {
                if q == 2 {
                    raw.push(diag);
                    is_diag.push(true);
                }
                if neighbours[q].is_some() {
                    raw.push(links[q]);
                    is_diag.push(false);
                }
            }
        }
    }
    // Pass 2: the scaled values, recorded one after another (a contiguous run on a tape, so a
    // solver block takes them as inputs without copies).
    let values: Vec<S> = raw
        .iter()
        .zip(&is_diag)
        .map(|(&v, &d)| v * if d { scale } else { off_scale })
        .collect();
    CsrMatrix::new(pattern, values).expect("pattern and values agree")
}

/// The pattern of [`poisson2d`].
pub fn poisson2d_pattern(m: usize) -> Arc<Pattern> {
    let n = m * m;
    let mut row_ptr = Vec::with_capacity(n + 1);
    let mut col_idx = Vec::with_capacity(5 * n);
    row_ptr.push(0);
    for r in 0..m {
        for s in 0..m {
            let c = r * m + s;
            if r > 0 {
                col_idx.push(c - m);
            }
            if s > 0 {
                col_idx.push(c - 1);
            }
            col_idx.push(c);
            if s + 1 < m {
                col_idx.push(c + 1);
            }
            if r + 1 < m {
                col_idx.push(c + m);
            }
            row_ptr.push(col_idx.len());
        }
    }
    Pattern::from_csr(n, n, row_ptr, col_idx).expect("valid pattern")
}

/// The W2s conductivity `k[c] = 1 + 0.5 sin(c)`.
pub fn w2s_conductivity(m: usize) -> Vec<f64> {
    (0..m * m).map(|c| 1.0 + 0.5 * (c as f64).sin()).collect()
}
