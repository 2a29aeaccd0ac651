//! Problems with known structure shared by the tests, examples and benchmarks.

use std::sync::Arc;

use ad_core::{Block, BlockError, Real};

use crate::sparse::{CsrMatrix, Pattern};

/// The W2s operator (BENCHMARKS.md): `-div(k grad u)` on the `m x m` interior nodes of a
/// vertex-centred grid on the unit square, `h = 1/(m+1)`, 5-point stencil, Dirichlet 0 on the
/// boundary. Node `c = r m + s` (row `r`, column `s`); the conductivity of a link between two
/// nodes is the harmonic mean `2 k_a k_b / (k_a + k_b)`, a link to the boundary uses the node's
/// own `k`; each link contributes `k_link / h^2` to the diagonal and `-k_link / h^2` off it.
///
/// Symmetric positive definite; generic over the scalar so that `k` can be differentiated.
/// The assembly is a custom rule: with `Var` it is ONE block (inputs `k`, outputs the stored
/// values) whose reverse step is the chain rule through the harmonic means, written by hand
/// (`O(nnz)`, nothing per link on the tape); with `Dual` its forward rule.
///
/// # Panics
/// If `k.len() != m * m`.
pub fn poisson2d<S: Real>(m: usize, k: &[S]) -> CsrMatrix<S> {
    assert_eq!(k.len(), m * m, "poisson2d: k needs m*m entries");
    let pattern = poisson2d_pattern(m);
    let kv: Vec<f64> = k.iter().map(|v| v.value()).collect();
    let values: Vec<S> = if k.iter().all(|v| v.is_constant()) {
        let mut v = vec![0.0; pattern.nnz()];
        assemble(m, &kv, &mut v);
        // The identity map for `f64` reuses the buffer.
        v.into_iter().map(S::cst).collect()
    } else {
        let mut v = vec![S::zero(); pattern.nnz()];
        S::apply_block(Poisson2dAssembly { m, k: kv }, k, &mut v);
        v
    };
    CsrMatrix::new(pattern, values).expect("pattern and values agree")
}

/// Calls `row(c, d, links, n_boundary)` for each row `c` of [`poisson2d`] in order: `d` is the
/// diagonal entry's index in the stored values, `links` the `(neighbour, entry index)` of the
/// off-diagonal entries, `n_boundary` the number of links to the boundary. CSR order within a
/// row: `c - m`, `c - 1`, `c`, `c + 1`, `c + m` (those that exist).
#[inline(always)]
fn for_rows(m: usize, mut row: impl FnMut(usize, usize, &[(usize, usize)], f64)) {
    let mut e = 0;
    for r in 0..m {
        for s in 0..m {
            let c = r * m + s;
            let neighbours = [
                (r > 0).then(|| c - m),
                (s > 0).then(|| c - 1),
                (s + 1 < m).then(|| c + 1),
                (r + 1 < m).then(|| c + m),
            ];
            let mut links = [(0, 0); 4];
            let (mut n_links, mut boundary, mut diag) = (0, 0.0, 0);
            for (q, nb) in neighbours.into_iter().enumerate() {
                if q == 2 {
                    diag = e;
                    e += 1;
                }
                match nb {
                    Some(nb) => {
                        links[n_links] = (nb, e);
                        n_links += 1;
                        e += 1;
                    }
                    None => boundary += 1.0,
                }
            }
            row(c, diag, &links[..n_links], boundary);
        }
    }
}

/// The stored values of [`poisson2d`] on `f64`, CSR order.
fn assemble(m: usize, k: &[f64], v: &mut [f64]) {
    let scale = 2.0 * ((m + 1) * (m + 1)) as f64;
    for_rows(m, |c, d, links, boundary| {
        let kc = k[c];
        let mut diag = boundary * 0.5 * kc;
        for &(nb, e) in links {
            // Half the harmonic mean.
            let l = kc * k[nb] / (kc + k[nb]);
            diag += l;
            v[e] = -scale * l;
        }
        v[d] = scale * diag;
    });
}

/// The assembly of [`poisson2d`] as a block at the point `k`: inputs `k`, outputs the stored
/// values. With `l(a, b) = a b / (a + b)`, `dl/da = b^2 / (a + b)^2`: an off-diagonal entry
/// `-2 l(k_c, k_nb) / h^2` and the diagonal `2 (sum_nb l(k_c, k_nb) + n_boundary k_c / 2) / h^2`
/// of row `c`.
struct Poisson2dAssembly {
    m: usize,
    k: Vec<f64>,
}

impl Poisson2dAssembly {
    fn scale(&self) -> f64 {
        2.0 * ((self.m + 1) * (self.m + 1)) as f64
    }

    /// `(dl/dk_c, dl/dk_nb)` of the link `(c, nb)`.
    #[inline(always)]
    fn link_partials(&self, c: usize, nb: usize) -> (f64, f64) {
        let (a, b) = (self.k[c], self.k[nb]);
        let s2 = (a + b) * (a + b);
        (b * b / s2, a * a / s2)
    }
}

impl Block for Poisson2dAssembly {
    type Residuals = ();

    /// Built at its point `k`.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) {
        assemble(self.m, &self.k, y);
    }

    fn vjp(&self, _: &(), v_bar: &[f64], k_bar: &mut [f64]) -> Result<(), BlockError> {
        let scale = self.scale();
        for_rows(self.m, |c, d, links, boundary| {
            let vd = v_bar[d] * scale;
            let mut kc = vd * boundary * 0.5;
            for &(nb, e) in links {
                // The link enters the diagonal with +scale and the entry with -scale.
                let t = vd - v_bar[e] * scale;
                let (wc, wnb) = self.link_partials(c, nb);
                kc += t * wc;
                k_bar[nb] += t * wnb;
            }
            k_bar[c] += kc;
        });
        Ok(())
    }

    fn jvp(&self, _: &(), k_dot: &[f64], v_dot: &mut [f64]) -> Result<(), BlockError> {
        let scale = self.scale();
        for_rows(self.m, |c, d, links, boundary| {
            let mut diag = boundary * 0.5 * k_dot[c];
            for &(nb, e) in links {
                let (wc, wnb) = self.link_partials(c, nb);
                let l_dot = wc * k_dot[c] + wnb * k_dot[nb];
                diag += l_dot;
                v_dot[e] = -scale * l_dot;
            }
            v_dot[d] = scale * diag;
        });
        Ok(())
    }
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
