//! Property tests: the shared gradient checker on random problems of random sizes.

use ad_core::testing::{check_function, Rng};
use ad_core::{Function, Real};
use ndarray::{Array1, Array2, ArrayView1};
use proptest::prelude::*;
use solvers::sparse::{CsrMatrix, Pattern, SparseLu};

/// x = A^{-1} b for a dense A, inputs [A row-major, b].
struct Dense(usize);
impl Function for Dense {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let n = self.0;
        let a = Array2::from_shape_vec((n, n), p[..n * n].to_vec()).unwrap();
        let b = Array1::from_vec(p[n * n..].to_vec());
        solvers::solve(a.view(), b.view()).unwrap().to_vec()
    }
}

/// x = A^{-1} b for a sparse A on a fixed pattern, inputs [values, b].
struct Sparse(std::sync::Arc<Pattern>);
impl Function for Sparse {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let nnz = self.0.nnz();
        let a = CsrMatrix::new(self.0.clone(), p[..nnz].to_vec()).unwrap();
        SparseLu::new(&a)
            .unwrap()
            .solve(ArrayView1::from(&p[nnz..]))
            .unwrap()
            .to_vec()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn dense_solve_adjoint(n in 1usize..12, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let mut p = rng.vec(n * n + n, -1.0, 1.0);
        for i in 0..n {
            let dominant = n as f64 + 1.0;
            p[i * n + i] += if rng.uniform(0.0, 1.0) < 0.5 { -dominant } else { dominant };
        }
        let c = check_function(&Dense(n), &p, seed);
        prop_assert!(c.error(1.0) <= 1e-6, "{:?}", c);
    }

    #[test]
    fn sparse_solve_adjoint(n in 1usize..25, per_row in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            for _ in 0..per_row {
                rows.push(i);
                cols.push((rng.next_u64() % n as u64) as usize);
                vals.push(rng.uniform(-1.0, 1.0));
            }
            rows.push(i);
            cols.push(i);
            vals.push(per_row as f64 + 2.0);
        }
        let (pattern, slots) = Pattern::from_entries(n, n, &rows, &cols).unwrap();
        let mut p = vec![0.0; pattern.nnz()];
        for (s, v) in slots.iter().zip(&vals) {
            p[*s] += v;
        }
        p.extend(rng.vec(n, -1.0, 1.0));
        let c = check_function(&Sparse(pattern), &p, seed);
        prop_assert!(c.error(1.0) <= 1e-6, "{:?}", c);
    }
}
