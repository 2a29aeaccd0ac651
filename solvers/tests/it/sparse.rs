//! Sparse matrices and direct solvers: assembly, agreement with dense, O(nnz) adjoints, errors.

use ad_core::testing::{check_function, Rng};
use ad_core::{gradient, Function, Real};
use ndarray::{Array1, ArrayView1};
use solvers::problems::{poisson2d, poisson2d_pattern, w2s_conductivity};
use solvers::sparse::{CsrMatrix, Pattern, SparseCholesky, SparseLu, SymbolicCholesky, SymbolicLu};
use solvers::{Cholesky, Error, Lu};

/// A random sparse, diagonally dominant (so nonsingular) matrix: `per_row` random entries per
/// row plus a diagonal, with duplicates.
fn random_sparse(rng: &mut Rng, n: usize, per_row: usize) -> CsrMatrix<f64> {
    let mut t = Vec::new();
    for i in 0..n {
        for _ in 0..per_row {
            let j = (rng.next_u64() % n as u64) as usize;
            t.push((i, j, rng.uniform(-1.0, 1.0)));
        }
        t.push((i, i, per_row as f64 + 1.5));
    }
    CsrMatrix::from_triplets(n, n, &t).unwrap()
}

fn max_abs_diff(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn triplets_sum_duplicates() {
    let t = [
        (0, 1, 2.0),
        (1, 0, 1.0),
        (0, 1, 3.0),
        (1, 1, 4.0),
        (0, 0, -1.0),
    ];
    let a = CsrMatrix::from_triplets(2, 2, &t).unwrap();
    assert_eq!(a.nnz(), 4);
    assert_eq!(a.pattern().row_ptr(), &[0, 2, 4]);
    assert_eq!(a.pattern().col_idx(), &[0, 1, 0, 1]);
    assert_eq!(a.values(), &[-1.0, 5.0, 1.0, 4.0]);
    assert_eq!(a.to_dense(), ndarray::array![[-1.0, 5.0], [1.0, 4.0]]);
    assert_eq!(a.mul_vec(&[1.0, 1.0]), vec![4.0, 5.0]);
}

#[test]
fn sparse_lu_agrees_with_dense_over_sizes() {
    let mut rng = Rng::new(11);
    for n in [1, 3, 10, 50, 200] {
        let a = random_sparse(&mut rng, n, 3);
        let b = Array1::from_vec(rng.vec(n, -1.0, 1.0));
        let x = solvers::sparse::solve(&a, b.view()).unwrap();
        let d = a.to_dense();
        let xd = solvers::solve(d.view(), b.view()).unwrap();
        let scale = 1.0 + xd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(x.view(), xd.view()) <= 1e-12 * scale * n as f64);
        let lu = SparseLu::new(&a).unwrap();
        let y = lu.solve_transpose(b.view()).unwrap();
        let yd = Lu::new(d.view())
            .unwrap()
            .solve_transpose(b.view())
            .unwrap();
        assert!(max_abs_diff(y.view(), yd.view()) <= 1e-12 * scale * n as f64);
        // residual
        let r = Array1::from_vec(a.mul_vec(x.as_slice().unwrap())) - &b;
        assert!(r
            .iter()
            .all(|v| v.abs() <= 10.0 * n as f64 * f64::EPSILON * 10.0 * scale));
    }
}

#[test]
fn sparse_cholesky_agrees_with_dense_and_reuses_the_symbolic_factorisation() {
    let m = 7;
    let pattern = poisson2d_pattern(m);
    let sym = SymbolicCholesky::new(&pattern).unwrap();
    let mut rng = Rng::new(12);
    for _ in 0..3 {
        let k = rng.vec(m * m, 0.5, 2.0);
        let a = poisson2d(m, &k);
        assert!(std::sync::Arc::ptr_eq(a.pattern(), &pattern) || **a.pattern() == *pattern);
        let b = Array1::from_vec(rng.vec(m * m, -1.0, 1.0));
        let x = SparseCholesky::with_symbolic(&sym, &a)
            .unwrap()
            .solve(b.view())
            .unwrap();
        let xd = Cholesky::new(a.to_dense().view())
            .unwrap()
            .solve(b.view())
            .unwrap();
        let scale = xd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(x.view(), xd.view()) <= 1e-12 * scale);
    }
    let slu = SymbolicLu::new(&pattern).unwrap();
    let a = poisson2d(m, &w2s_conductivity(m));
    let b = Array1::ones(m * m);
    let x1 = SparseLu::with_symbolic(&slu, &a)
        .unwrap()
        .solve(b.view())
        .unwrap();
    let x2 = SparseCholesky::new(&a).unwrap().solve(b.view()).unwrap();
    assert!(max_abs_diff(x1.view(), x2.view()) <= 1e-12 * x2[0].abs().max(1e-3));
}

/// x = A^{-1} b with inputs [stored values, b] on a fixed pattern.
struct SparseSolveF {
    pattern: std::sync::Arc<Pattern>,
    kind: u8,
}
impl Function for SparseSolveF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let nnz = self.pattern.nnz();
        let a = CsrMatrix::new(self.pattern.clone(), p[..nnz].to_vec()).unwrap();
        let b = ndarray::ArrayView1::from(&p[nnz..]);
        match self.kind {
            0 => SparseLu::new(&a).unwrap().solve(b).unwrap().to_vec(),
            1 => SparseLu::new(&a)
                .unwrap()
                .solve_transpose(b)
                .unwrap()
                .to_vec(),
            _ => SparseCholesky::new(&a).unwrap().solve(b).unwrap().to_vec(),
        }
    }
}

#[test]
fn sparse_adjoints_pass_the_shared_checker() {
    let mut rng = Rng::new(13);
    for n in [1, 4, 12, 30] {
        let a = random_sparse(&mut rng, n, 2);
        for kind in [0, 1] {
            let mut p = a.values().to_vec();
            p.extend(rng.vec(n, -1.0, 1.0));
            let f = SparseSolveF {
                pattern: a.pattern().clone(),
                kind,
            };
            for seed in 0..2 {
                check_function(&f, &p, seed).assert_close(1e-7);
            }
        }
    }
    for m in [1, 3, 5] {
        let a = poisson2d(m, &rng.vec(m * m, 0.5, 2.0));
        // Scale to O(1) entries so the finite difference step suits every input.
        let mut p: Vec<f64> = a
            .values()
            .iter()
            .map(|v| v / ((m + 1) * (m + 1)) as f64)
            .collect();
        p.extend(rng.vec(m * m, -1.0, 1.0));
        let f = SparseSolveF {
            pattern: a.pattern().clone(),
            kind: 2,
        };
        for seed in 0..2 {
            check_function(&f, &p, seed).assert_close(1e-7);
        }
    }
}

/// The W2s loss h^2 sum_c u[c] as a function of k, by sparse Cholesky or by dense Cholesky.
fn w2s_loss<S: Real>(k: &[S], m: usize, sparse: bool) -> S {
    let a = poisson2d(m, k);
    let b = Array1::from_elem(m * m, S::one());
    let u = if sparse {
        SparseCholesky::new(&a).unwrap().solve(b.view()).unwrap()
    } else {
        Cholesky::new(a.to_dense().view())
            .unwrap()
            .solve(b.view())
            .unwrap()
    };
    let h = 1.0 / (m + 1) as f64;
    u.iter().copied().sum::<S>() * (h * h)
}

#[test]
fn gradient_through_assembly_agrees_sparse_dense_and_finite_differences() {
    let m = 6;
    let k = w2s_conductivity(m);
    let (vs, gs) = gradient(|k| w2s_loss(k, m, true), &k);
    let (vd, gd) = gradient(|k| w2s_loss(k, m, false), &k);
    assert!((vs - vd).abs() <= 1e-13 * vd.abs());
    let gscale = gd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (a, b) in gs.iter().zip(&gd) {
        assert!((a - b).abs() <= 1e-10 * gscale);
    }
    let h = 1e-6;
    for c in [0, 7, 20, 35] {
        let mut kp = k.clone();
        kp[c] += h;
        let fp = w2s_loss(&kp, m, true);
        kp[c] -= 2.0 * h;
        let fm = w2s_loss(&kp, m, true);
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - gs[c]).abs() <= 1e-6 * gscale,
            "k[{c}]: fd {fd} vs ad {}",
            gs[c]
        );
    }
}

#[test]
fn sparse_errors() {
    // Structurally singular: an empty row.
    let a = CsrMatrix::from_triplets(3, 3, &[(0, 0, 1.0), (1, 1, 1.0), (2, 1, 1.0)]).unwrap();
    assert!(matches!(SparseLu::new(&a), Err(Error::Singular { .. })));
    // Indefinite.
    let a = CsrMatrix::from_triplets(2, 2, &[(0, 0, 1.0), (0, 1, 2.0), (1, 0, 2.0), (1, 1, 1.0)])
        .unwrap();
    assert!(matches!(
        SparseCholesky::new(&a),
        Err(Error::NotPositiveDefinite { .. })
    ));
    // Pattern of another matrix.
    let sym = SymbolicLu::new(&poisson2d_pattern(2)).unwrap();
    let other =
        CsrMatrix::from_triplets(4, 4, &[(0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0), (3, 3, 1.0)])
            .unwrap();
    assert!(matches!(
        SparseLu::with_symbolic(&sym, &other),
        Err(Error::InvalidPattern { .. })
    ));
    // Out-of-range triplet, NaN value, wrong right-hand side.
    assert!(matches!(
        CsrMatrix::from_triplets(2, 2, &[(2, 0, 1.0)]),
        Err(Error::InvalidPattern { .. })
    ));
    let a = CsrMatrix::from_triplets(2, 2, &[(0, 0, f64::NAN), (1, 1, 1.0)]).unwrap();
    assert!(matches!(SparseLu::new(&a), Err(Error::NonFinite { .. })));
    let a = CsrMatrix::from_triplets(2, 2, &[(0, 0, 1.0), (1, 1, 1.0)]).unwrap();
    assert!(matches!(
        SparseLu::new(&a).unwrap().solve(Array1::ones(3).view()),
        Err(Error::DimensionMismatch {
            expected: 2,
            got: 3,
            ..
        })
    ));
    let r = CsrMatrix::from_triplets(2, 3, &[(0, 0, 1.0)]).unwrap();
    assert!(matches!(
        SparseLu::new(&r),
        Err(Error::DimensionMismatch { .. })
    ));
}

/// The W2s loss as a function of k (constant right-hand side: only the values are inputs).
struct W2sF(usize);
impl Function for W2sF {
    fn eval<S: Real>(&self, k: &[S]) -> Vec<S> {
        vec![w2s_loss(k, self.0, true) * 1e3]
    }
}

#[test]
fn constant_rhs_path_passes_the_shared_checker() {
    let m = 5;
    for seed in 0..2 {
        check_function(&W2sF(m), &w2s_conductivity(m), seed).assert_close(1e-7);
    }
}

#[test]
fn transpose_matches_dense_transpose() {
    let mut rng = Rng::new(14);
    let a = random_sparse(&mut rng, 9, 3);
    let t = a.transpose();
    assert_eq!(t.to_dense(), a.to_dense().t().to_owned());
    assert_eq!(t.transpose().to_dense(), a.to_dense());
    let r = CsrMatrix::from_triplets(2, 3, &[(0, 2, 1.0), (1, 0, 2.0)]).unwrap();
    assert_eq!(r.transpose().to_dense(), r.to_dense().t().to_owned());
}

/// The stored values of `poisson2d(m, k)` as a function of `k` (the assembly block).
struct AssemblyF {
    m: usize,
}
impl Function for AssemblyF {
    fn eval<S: Real>(&self, k: &[S]) -> Vec<S> {
        poisson2d(self.m, k).values().to_vec()
    }
}

/// The W2s assembly written scalar by scalar (every operation on the tape): the reference for
/// the assembly block's rules.
fn poisson2d_scalar<S: Real>(m: usize, k: &[S]) -> Vec<S> {
    let inv_h2 = ((m + 1) * (m + 1)) as f64;
    let link = |a: S, b: S| a * b * 2.0 / (a + b) * inv_h2;
    let mut v = Vec::new();
    for r in 0..m {
        for s in 0..m {
            let c = r * m + s;
            let nbs = [
                (r > 0).then(|| c - m),
                (s > 0).then(|| c - 1),
                (s + 1 < m).then(|| c + 1),
                (r + 1 < m).then(|| c + m),
            ];
            let mut diag = S::zero();
            for nb in nbs {
                diag += match nb {
                    Some(nb) => link(k[c], k[nb]),
                    None => k[c] * inv_h2,
                };
            }
            for (q, nb) in nbs.iter().enumerate() {
                if q == 2 {
                    v.push(diag);
                }
                if let Some(nb) = nb {
                    v.push(-link(k[c], k[*nb]));
                }
            }
        }
    }
    v
}

#[test]
fn assembly_block_matches_the_scalar_assembly_and_passes_the_shared_checker() {
    let mut rng = Rng::new(21);
    for m in [1, 2, 3, 6] {
        let k = rng.vec(m * m, 0.5, 2.0);
        let kv: Vec<f64> = k.clone();
        let block = poisson2d(m, &kv);
        let scalar = poisson2d_scalar(m, &kv);
        assert_eq!(block.nnz(), scalar.len());
        for (a, b) in block.values().iter().zip(&scalar) {
            assert!((a - b).abs() <= 1e-13 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Reverse mode of the block against reverse mode of the scalar recording, for a
        // random cotangent.
        let c = rng.vec(scalar.len(), -1.0, 1.0);
        let (_, g_block) = ad_core::vjp(&AssemblyF { m }, &k, &c);
        struct ScalarF(usize);
        impl Function for ScalarF {
            fn eval<S: Real>(&self, k: &[S]) -> Vec<S> {
                poisson2d_scalar(self.0, k)
            }
        }
        let (_, g_scalar) = ad_core::vjp(&ScalarF(m), &k, &c);
        let scale = g_scalar.iter().fold(1.0f64, |a, v| a.max(v.abs()));
        for (a, b) in g_block.iter().zip(&g_scalar) {
            assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b}");
        }
        for seed in 0..2 {
            check_function(&AssemblyF { m }, &k, seed).assert_close(1e-7);
        }
    }
}
