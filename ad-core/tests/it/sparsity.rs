//! Sparsity detection and compressed Jacobians: the traced pattern against the non-zeros of
//! dense forward-mode Jacobians of random sparse functions, compressed values against the dense
//! values, and the tracer's rules (structural zeros, branches, blocks, limits).

#![allow(clippy::needless_range_loop)]

use ad_core::sparsity::{jacobian_sparsity, CompressedJacobian, SparsityError};
use ad_core::{Block, BlockError, Dual, Real};
use num_traits::Float;
use proptest::prelude::*;

/// A random sparse function: output `i` combines the inputs `terms[i]` with the operations
/// `ops[i]` (one per input after the first).
#[derive(Clone, Debug)]
struct Recipe {
    n_in: usize,
    terms: Vec<Vec<usize>>,
    ops: Vec<Vec<u8>>,
}

impl Recipe {
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        for (i, (ts, os)) in self.terms.iter().zip(&self.ops).enumerate() {
            let mut acc = x[ts[0]].sin() + 1.5;
            for (&j, &op) in ts[1..].iter().zip(os) {
                let v = x[j];
                acc = match op % 10 {
                    0 => acc * v,
                    1 => acc + v.exp() * 0.5,
                    2 => acc / (v * v + 1.0),
                    3 => acc.hypot(v),
                    4 => acc.max(v * 3.0),
                    5 => acc.mul_add(v, S::cst(0.25)),
                    6 => acc.atan2(v + 2.0),
                    7 => (acc * acc + 1.0).powf(v * 0.1 + 0.5),
                    8 => acc - v.tanh(),
                    _ => acc * v.abs() + v,
                };
            }
            y[i] = acc * (i as f64 + 1.0);
        }
    }
}

fn recipe() -> impl Strategy<Value = (Recipe, Vec<f64>)> {
    (2usize..30, 1usize..30).prop_flat_map(|(n_in, n_out)| {
        let rows = prop::collection::vec(
            (
                prop::collection::vec(0..n_in, 1..5),
                prop::collection::vec(any::<u8>(), 4),
            ),
            n_out,
        );
        let x = prop::collection::vec(0.2f64..1.7, n_in);
        (rows, x).prop_map(move |(rows, x)| {
            let (terms, ops) = rows.into_iter().unzip();
            (Recipe { n_in, terms, ops }, x)
        })
    })
}

/// Dense Jacobian by forward mode, one column at a time.
fn dense_jacobian(r: &Recipe, x: &[f64]) -> Vec<Vec<f64>> {
    let m = r.terms.len();
    let mut jac = vec![vec![0.0; r.n_in]; m];
    for j in 0..r.n_in {
        let xs: Vec<Dual<1>> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| Dual::new(v, [if k == j { 1.0 } else { 0.0 }]))
            .collect();
        let mut ys = vec![Dual::<1>::constant(0.0); m];
        r.eval(&xs, &mut ys);
        for i in 0..m {
            jac[i][j] = ys[i].d[0];
        }
    }
    jac
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The traced pattern is exactly the set of inputs each output reads (at random points
    /// no partial vanishes by accident), and it holds the non-zeros of the dense Jacobian.
    #[test]
    fn pattern_matches_dense_jacobian((r, x) in recipe()) {
        let m = r.terms.len();
        let s = jacobian_sparsity(&x, m, usize::MAX, |x, y| r.eval(x, y)).unwrap();
        prop_assert!(!s.is_local());
        let jac = dense_jacobian(&r, &x);
        for i in 0..m {
            let mut want: Vec<usize> = r.terms[i].clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(s.row(i), &want[..], "row {}", i);
            for (j, &v) in jac[i].iter().enumerate() {
                if v != 0.0 {
                    prop_assert!(s.row(i).contains(&j), "non-zero ({}, {}) missing", i, j);
                }
            }
        }
    }

    /// Compressed forward mode gives the dense Jacobian's values on the pattern.
    #[test]
    fn compressed_values_match_dense((r, x) in recipe()) {
        let m = r.terms.len();
        let s = jacobian_sparsity(&x, m, usize::MAX, |x, y| r.eval(x, y)).unwrap();
        let mut cj = CompressedJacobian::new(s);
        prop_assert!(cj.n_colours() <= r.n_in);
        let mut vals = vec![f64::NAN; cj.sparsity().nnz()];
        let evals = cj.values(&x, |x, y| r.eval(x, y), &mut vals);
        prop_assert_eq!(evals, cj.n_colours().div_ceil(8));
        let jac = dense_jacobian(&r, &x);
        let s = cj.sparsity();
        for i in 0..m {
            for (k, &j) in s.row(i).iter().enumerate() {
                let v = vals[s.row_start()[i] + k];
                prop_assert!((v - jac[i][j]).abs() <= 1e-14 * (1.0 + jac[i][j].abs()),
                    "({}, {}): {} vs {}", i, j, v, jac[i][j]);
            }
        }
    }
}

/// A zero partial at the traced point is still a structural entry.
#[test]
fn structural_not_numerical() {
    let s = jacobian_sparsity(&[0.5, 0.0], 2, usize::MAX, |x, y| {
        y[0] = x[0] * (x[0] * -1.0 + 1.0); // derivative 1 - 2 x0 = 0 at 0.5
        y[1] = x[0] * x[1]; // d/dx0 = x1 = 0
    })
    .unwrap();
    assert_eq!(s.row(0), &[0]);
    assert_eq!(s.row(1), &[0, 1]);
}

/// Comparisons and values of traced quantities make the pattern local; max/min/abs do not;
/// comparisons of constants do not.
#[test]
fn branches_make_the_pattern_local() {
    let global = jacobian_sparsity(&[1.0, 2.0], 1, usize::MAX, |x, y| {
        let t = ad_core::sparsity::Tracer::constant(3.0);
        y[0] = if t > 2.0 { x[0].max(x[1]).abs() } else { x[0] };
    })
    .unwrap();
    assert!(!global.is_local());
    assert_eq!(global.row(0), &[0, 1]);

    let branched = jacobian_sparsity(&[1.0, 2.0], 1, usize::MAX, |x, y| {
        y[0] = if x[0] > 0.0 { x[0] } else { x[1] };
    })
    .unwrap();
    assert!(branched.is_local());
    assert_eq!(branched.row(0), &[0]);

    let read = jacobian_sparsity(&[1.0, 2.0], 1, usize::MAX, |x, y| {
        y[0] = x[0] * x[1].value();
    })
    .unwrap();
    assert!(read.is_local());
}

/// Functions with a zero derivative everywhere depend on nothing; powi(0) is a constant.
#[test]
fn flat_functions_drop_dependencies() {
    let s = jacobian_sparsity(&[1.3, 2.0, 0.5], 1, usize::MAX, |x, y| {
        y[0] = x[0].floor() + x[1].signum() * x[2].powi(0) + x[2].round();
    })
    .unwrap();
    assert_eq!(s.row(0), &[] as &[usize]);
}

/// A custom block is traced as dense.
#[test]
fn blocks_are_dense() {
    struct Swap;
    impl Block for Swap {
        type Residuals = ();
        fn forward(&self, x: &[f64], y: &mut [f64]) {
            y[0] = x[1];
            y[1] = x[0];
        }
        fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
            x_bar[0] += y_bar[1];
            x_bar[1] += y_bar[0];
            Ok(())
        }
        fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
            y_dot[0] = x_dot[1];
            y_dot[1] = x_dot[0];
            Ok(())
        }
    }
    let s = jacobian_sparsity(&[1.0, 2.0, 3.0], 2, usize::MAX, |x, y| {
        let mut o = [Real::cst(0.0); 2];
        Real::apply_block(Swap, &x[..2], &mut o);
        y.copy_from_slice(&o);
    })
    .unwrap();
    assert_eq!(s.row(0), &[0, 1]);
    assert_eq!(s.row(1), &[0, 1]);
}

/// An output over the limit is a typed error; so is a nested detection.
#[test]
fn limits_and_nesting() {
    let sum = |x: &[ad_core::sparsity::Tracer], y: &mut [ad_core::sparsity::Tracer]| {
        y[0] = x.iter().copied().sum();
    };
    let err = jacobian_sparsity(&[1.0; 10], 1, 4, sum).unwrap_err();
    assert_eq!(
        err,
        SparsityError::TooDense {
            limit: 4,
            output: 0
        }
    );
    assert_eq!(jacobian_sparsity(&[1.0; 10], 1, 10, sum).unwrap().nnz(), 10);

    let mut inner = None;
    jacobian_sparsity(&[1.0], 1, 8, |x, y| {
        inner = Some(jacobian_sparsity(&[1.0], 1, 8, |a, b| b[0] = a[0]));
        y[0] = x[0];
    })
    .unwrap();
    assert_eq!(inner, Some(Err(SparsityError::Nested)));
}

/// A periodic 5-point stencil of 32 x 32 cells needs a handful of colours, and its compressed values
/// (evaluated in parallel) equal the dense Jacobian's.
#[test]
fn stencil_colours_and_parallel_values() {
    const M: usize = 32;
    fn stencil<S: Real>(u: &[S], f: &mut [S]) {
        for i in 0..M {
            for j in 0..M {
                let c = i * M + j;
                let nb = [
                    ((i + M - 1) % M) * M + j,
                    ((i + 1) % M) * M + j,
                    i * M + (j + M - 1) % M,
                    i * M + (j + 1) % M,
                ];
                let mut acc = u[c] * (u[c] * -1.0 + 1.0);
                for q in nb {
                    acc += (u[q] - u[c]) * u[q].exp();
                }
                f[c] = acc;
            }
        }
    }
    let x: Vec<f64> = (0..M * M).map(|c| 0.5 + 0.3 * (c as f64).sin()).collect();
    let s = jacobian_sparsity(&x, M * M, 16, stencil).unwrap();
    assert_eq!(s.nnz(), 5 * M * M);
    let mut cj = CompressedJacobian::new(s);
    // the optimum is 5; the greedy colouring in natural order takes 9
    assert!(cj.n_colours() <= 10, "{} colours", cj.n_colours());
    let mut vals = vec![0.0; cj.sparsity().nnz()];
    cj.values(&x, stencil, &mut vals);
    // check against one dense column at a time for a few columns
    for j in [0, 5, M + 3, M * M - 1] {
        let xs: Vec<Dual<1>> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| Dual::new(v, [if k == j { 1.0 } else { 0.0 }]))
            .collect();
        let mut ys = vec![Dual::<1>::constant(0.0); M * M];
        stencil(&xs, &mut ys);
        let s = cj.sparsity();
        for (i, y) in ys.iter().enumerate() {
            let got = s
                .row(i)
                .iter()
                .position(|&c| c == j)
                .map_or(0.0, |k| vals[s.row_start()[i] + k]);
            assert_eq!(got, y.d[0], "entry ({i}, {j})");
        }
    }
}

/// `CompressedJacobian::vjp` on a pattern needing several evaluations, large enough for them
/// to run in parallel (each adding its own colours' columns), equals the taped
/// vector-Jacobian product; some cotangents are zero (those rows are skipped).
#[test]
fn compressed_vjp_matches_the_tape() {
    const M: usize = 96;
    fn stencil<S: Real>(u: &[S], f: &mut [S]) {
        for i in 0..M {
            for j in 0..M {
                let c = i * M + j;
                let (up, down) = (((i + M - 1) % M) * M + j, ((i + 1) % M) * M + j);
                let (l, r) = (i * M + (j + M - 1) % M, i * M + (j + 1) % M);
                // two cells further out along each axis: a 9-point cross, > 8 colours
                let (up2, down2) = (((i + M - 2) % M) * M + j, ((i + 2) % M) * M + j);
                let (l2, r2) = (i * M + (j + M - 2) % M, i * M + (j + 2) % M);
                f[c] = u[c] * u[up].sin() + (u[down] - u[l]) * u[r].exp() - u[c] * u[c]
                    + u[up2] * u[r2]
                    - u[down2] * u[l2];
            }
        }
    }
    let n = M * M;
    let x: Vec<f64> = (0..n).map(|c| 0.5 + 0.3 * (c as f64 * 0.7).sin()).collect();
    let w: Vec<f64> = (0..n)
        .map(|c| {
            if c % 7 == 3 {
                0.0
            } else {
                (c as f64 * 0.31).cos()
            }
        })
        .collect();
    let s = jacobian_sparsity(&x, n, 16, stencil).unwrap();
    let mut cj = CompressedJacobian::new(s);
    assert!(
        cj.evaluations() >= 2 && n * cj.evaluations() >= 1 << 14,
        "{} evaluations: the parallel path needs several on a large pattern",
        cj.evaluations()
    );
    let mut x_bar = vec![1.0; n]; // vjp adds
    cj.vjp(&x, stencil, &w, &mut x_bar);

    let tape = ad_core::Tape::new();
    let xs = tape.vars(&x);
    let mut ys = vec![ad_core::Var::constant(0.0); n];
    stencil(&xs, &mut ys);
    let adj = tape.vjp(&ys, &w);
    for (j, (&got, &v)) in x_bar.iter().zip(&xs).enumerate() {
        let want = 1.0 + adj.wrt(v);
        assert!(
            (got - want).abs() <= 1e-13 * want.abs().max(1.0),
            "column {j}: {got} vs {want}"
        );
    }
}

/// A given pattern is validated.
#[test]
fn patterns_from_csr_are_checked() {
    use ad_core::sparsity::Sparsity;
    let s = Sparsity::from_csr(2, 3, vec![0, 2, 3], vec![0, 2, 1]).unwrap();
    assert_eq!(s.row(0), &[0, 2]);
    assert!(!s.is_local());
    assert!(Sparsity::from_csr(2, 3, vec![0, 2, 3], vec![2, 0, 1]).is_none()); // unsorted
    assert!(Sparsity::from_csr(2, 3, vec![0, 2, 3], vec![0, 3, 1]).is_none()); // out of range
    assert!(Sparsity::from_csr(2, 3, vec![0, 2], vec![0, 1]).is_none()); // too few rows
    assert!(Sparsity::from_csr(2, 3, vec![0, 2, 4], vec![0, 1, 2]).is_none()); // wrong end
}
