//! Tests of the reverse-step machinery of tape arrays: lazily initialised adjoint runs (written
//! by the first reverse step that reaches them), one-pass binary reverse steps, and partials
//! shared with operand values. Every gradient, and every intermediate array's adjoint, is
//! compared with the same computation on scalar `Var`s.

use std::sync::Arc;

use ndarray::Array1;
use num_traits::Float;

use super::{RealArray, VarArray, PAR_MIN};
use crate::testing::Rng;
use crate::{Adjoints, DenseMatrix, Matrix, Real, Tape, Var};

fn agree(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}: differ at {i}: {x} vs {y} (scale {scale})"
        );
    }
}

/// Intermediates reached in every way the reverse steps claim a run: views of an intermediate
/// (overlapping head and tail, so sub-range claims), a product of an array with itself (two
/// arguments into one range), a periodic roll (a permutation: written), clamped and strided
/// re-indexing (not one-to-one: zeroed first), `exp` (partials = its own values), squares and
/// products (partials = operand values), a broadcast scalar from scalar code on an element (an
/// escaped run), and a dead intermediate (never reached: adjoint zero).
fn composite<A: RealArray>(x: &A) -> (A::Scalar, Vec<A>) {
    let n = x.len();
    let a = x.sin().mul(x);
    let e = a.mul_f64(0.3).exp();
    let sq = e.powi(2);
    let head = a.slice(0, 1, n - 1);
    let tail = a.slice(1, 1, n - 1);
    let ht = tail.sub(&head.mul(&head));
    let b = ht.mul(&tail);
    let r = a.roll(3).add(&sq);
    let c = e.shift_clamped(2).mul_f64(0.5);
    let st = r.slice(1, 2, (n - 1) / 2);
    let dead = r.cos();
    let escaped = sq.to_vec()[1] * 2.0;
    let y = b.sum()
        + r.dot(&r) * 0.01
        + c.mul_scalar(escaped).sum()
        + st.sum()
        + a.dot(&e)
        + b.rsub_f64(1.0).add(&b).sum();
    // (not `st`: a strided slice is a new node for tape arrays, the same scalars for `Var`s)
    (y, vec![a, e, sq, ht, b, r, c, dead])
}

fn point(n: usize, seed: u64) -> Vec<f64> {
    Rng::new(seed).vec(n, -1.5, 1.5)
}

/// Gradient and intermediate adjoints of [`composite`] on scalar `Var`s.
fn scalar_reference(x: &[f64]) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let tape = Tape::new();
    let xs: Array1<Var> = tape.vars(x).into_iter().collect();
    let (y, mids) = composite(&xs);
    let adj = tape.gradient(y);
    let mids = mids.iter().map(|m| adj.wrt_all(&m.to_vec())).collect();
    (y.value(), adj.wrt_all(&xs.to_vec()), mids)
}

fn check_composite(n: usize, seed: u64) {
    let x = point(n, seed);
    let (v, g, mids) = scalar_reference(&x);
    // a first sweep leaves a pooled adjoint vector with stale values for the next one
    {
        let t = Tape::new();
        let xa = t.var_array(&point(n + 7, seed + 1));
        let _ = t.gradient(composite(&xa).0);
    }
    let tape = Tape::new();
    let xa = tape.var_array(&x);
    let (y, arrays) = composite(&xa);
    assert!((y.value() - v).abs() <= 1e-12 * v.abs().max(1.0));
    let adj = tape.gradient(y);
    agree(&xa.adjoints(&adj), &g, 1e-13, "gradient");
    for (k, (m, r)) in arrays.iter().zip(&mids).enumerate() {
        agree(
            &m.adjoints(&adj),
            r,
            1e-13,
            &format!("adjoint of intermediate {k}"),
        );
    }
    assert!(arrays[7].adjoints(&adj).iter().all(|&a| a == 0.0));
    // a second sweep of the same tape into the same (now stale) adjoint vector
    let mut again = adj;
    tape.vjp_into(&[y], &[2.0], &mut again);
    let g2: Vec<f64> = g.iter().map(|v| 2.0 * v).collect();
    agree(&xa.adjoints(&again), &g2, 1e-13, "second sweep");
    for (m, r) in arrays.iter().zip(&mids) {
        let r2: Vec<f64> = r.iter().map(|v| 2.0 * v).collect();
        agree(
            &m.adjoints(&again),
            &r2,
            1e-13,
            "second sweep, intermediate",
        );
    }
}

#[test]
fn lazy_adjoint_runs_match_scalar_tape() {
    for (n, seed) in [(9, 1), (16, 2), (33, 3)] {
        check_composite(n, seed);
    }
}

#[test]
fn lazy_adjoint_runs_match_scalar_tape_on_the_parallel_path() {
    check_composite(PAR_MIN + 77, 4);
}

#[test]
fn reused_adjoints_with_stale_values_are_reinitialised() {
    let x = point(20, 5);
    let (_, g, _) = scalar_reference(&x);
    let mut adj = Adjoints::default();
    let mut tape = Tape::new();
    // a different recording first: stale, nonzero adjoints everywhere in the buffer
    let xa = tape.var_array(&point(40, 6));
    let y = (&xa * &xa).exp().sum();
    tape.vjp_into(&[y], &[3.0], &mut adj);
    drop(xa);
    tape.clear();
    let xa = tape.var_array(&x);
    let (y, _) = composite(&xa);
    tape.vjp_into(&[y], &[1.0], &mut adj);
    agree(&xa.adjoints(&adj), &g, 1e-13, "gradient after reuse");
    let raw = adj.as_slice();
    assert_eq!(raw.len(), tape.len());
    assert!(raw.iter().all(|v| v.is_finite()));
}

#[test]
fn array_outputs_as_vjp_outputs() {
    // outputs taken from an intermediate array (escaped), with a cotangent per element
    let x = point(12, 7);
    let w = point(12, 8);
    let reference = {
        let tape = Tape::new();
        let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
        let f = xs.sin().mul(&xs).roll(2).add(&xs);
        let adj = tape.vjp(&f.to_vec(), &w);
        adj.wrt_all(&xs.to_vec())
    };
    let tape = Tape::new();
    let xa = tape.var_array(&x);
    let f = xa.sin().mul(&xa).roll(2).add(&xa);
    let adj = tape.vjp(&f.to_vars(), &w);
    agree(&xa.adjoints(&adj), &reference, 1e-13, "vjp");
    agree(&f.adjoints(&adj), &w, 0.0, "seeded outputs");
}

#[test]
fn gather_scatter_matvec_of_intermediates_match_scalar_vars() {
    let n = 10;
    let x = point(n, 9);
    let idx: Arc<[u32]> = vec![3u32, 3, 0, 9, 5, 5, 5, 1].into();
    let perm: Arc<[u32]> = (0..n as u32)
        .map(|i| (i * 7) % 4)
        .collect::<Vec<_>>()
        .into();
    let mdata: Vec<f64> = point(4 * n, 10);
    let m = Arc::new(Matrix::from(DenseMatrix::new(4, n, mdata.clone())));
    let reference = {
        let tape = Tape::new();
        let xs = tape.vars(&x);
        let a: Vec<Var> = xs.iter().map(|&v| v.sin() * v).collect();
        let g: Vec<Var> = idx.iter().map(|&k| a[k as usize]).collect();
        let mut sc = [Var::constant(0.0); 4];
        for (i, &k) in perm.iter().enumerate() {
            sc[k as usize] += a[i];
        }
        let mv: Vec<Var> = (0..4)
            .map(|r| (0..n).map(|c| a[c] * mdata[r * n + c]).sum::<Var>())
            .collect();
        let y = g.iter().map(|&v| v * v).sum::<Var>()
            + sc.iter().map(|&v| v.exp()).sum::<Var>()
            + mv.iter().map(|&v| v * v * 0.5).sum::<Var>();
        (y.value(), tape.gradient(y).wrt_all(&xs))
    };
    let tape = Tape::new();
    let xa = tape.var_array(&x);
    let a = xa.sin().mul(&xa);
    let g = a.gather(&idx);
    let sc = a.scatter_add(&perm, 4);
    let mv = a.matvec(&m);
    let y = g.dot(&g) + sc.exp().sum() + mv.dot(&mv) * 0.5;
    assert!((y.value() - reference.0).abs() < 1e-12 * reference.0.abs().max(1.0));
    agree(
        &xa.adjoints(&tape.gradient(y)),
        &reference.1,
        1e-13,
        "gradient",
    );
}

#[test]
fn binary_steps_with_a_scalar_and_constants() {
    // one-pass binary steps with constant partials (add, sub), operand-value partials (mul), a
    // constant operand (one argument only) and a broadcast scalar
    fn f<A: RealArray>(x: &A, c: &A, s: A::Scalar) -> A::Scalar {
        let a = x.mul(c).add(x).sub(&x.mul(x));
        a.mul_scalar(s).mul(&a).add_scalar(s).sum()
    }
    let x = point(15, 11);
    let cv = point(15, 12);
    let reference = {
        let tape = Tape::new();
        let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
        let s = tape.var(0.7);
        let c: Array1<Var> = cv.iter().map(|&v| Var::constant(v)).collect();
        let y = f(&xs, &c, s);
        let adj = tape.gradient(y);
        (y.value(), adj.wrt_all(&xs.to_vec()), adj.wrt(s))
    };
    let tape = Tape::new();
    let xa = tape.var_array(&x);
    let s = tape.var(0.7);
    let y = f(&xa, &VarArray::constant(&cv), s);
    let adj = tape.gradient(y);
    assert!((y.value() - reference.0).abs() < 1e-12 * reference.0.abs().max(1.0));
    agree(&xa.adjoints(&adj), &reference.1, 1e-13, "gradient");
    assert!((adj.wrt(s) - reference.2).abs() <= 1e-13 * reference.2.abs().max(1.0));
}

#[test]
fn views_and_clones_share_values() {
    let tape = Tape::new();
    let x = tape.var_array(&[1.0, 2.0, 3.0, 4.0]);
    let a = &x * 2.0;
    let v = a.slice(1, 1, 2);
    assert_eq!(v.values(), &[4.0, 6.0]);
    let c = v.clone();
    drop(a);
    assert_eq!(c.values(), &[4.0, 6.0]);
    let y = c.sum() + v.get(0).powi(2);
    let adj = tape.gradient(y);
    assert_eq!(x.adjoints(&adj), vec![0.0, 2.0 + 16.0, 2.0, 0.0]);
    assert!(Real::value(&y) > 0.0);
}

#[test]
fn first_claims_of_sub_ranges_zero_the_rest_of_the_run() {
    // the first reverse step to reach `a` covers its interior only, the only one to reach `b`
    // its head only: the rest of each run must read as zero (or as the later contributions)
    fn f<A: RealArray>(x: &A) -> (A::Scalar, Vec<A>) {
        let n = x.len();
        let a = x.sin().mul(x);
        let b = x.cos().mul(x);
        let s1 = a.sum();
        let s2 = a.slice(1, 1, n - 2).powi(2).sum();
        let s3 = b.slice(0, 1, n - 1).exp().sum();
        (s1 + s2 + s3, vec![a, b])
    }
    for n in [5, PAR_MIN + 3] {
        let x = point(n, 13);
        let reference = {
            let tape = Tape::new();
            let xs: Array1<Var> = tape.vars(&x).into_iter().collect();
            let (y, mids) = f(&xs);
            let adj = tape.gradient(y);
            let mids: Vec<Vec<f64>> = mids.iter().map(|m| adj.wrt_all(&m.to_vec())).collect();
            (adj.wrt_all(&xs.to_vec()), mids)
        };
        // stale values in the pooled adjoint vector
        {
            let t = Tape::new();
            let xa = t.var_array(&vec![0.5; n]);
            let _ = t.gradient(f(&xa).0 * 1e3);
        }
        let tape = Tape::new();
        let xa = tape.var_array(&x);
        let (y, mids) = f(&xa);
        let adj = tape.gradient(y);
        agree(&xa.adjoints(&adj), &reference.0, 1e-13, "gradient");
        for (m, r) in mids.iter().zip(&reference.1) {
            agree(&m.adjoints(&adj), r, 1e-13, "intermediate");
        }
    }
}

#[test]
fn ndarray_rolls_copy_runs_like_the_definition() {
    let (rows, cols) = (4usize, 5usize);
    let n = rows * cols;
    let a = Array1::from((0..n).map(|i| i as f64 * 1.5).collect::<Vec<_>>());
    // the same values, not contiguous (reversed axis): the element-wise fallback
    let mut b = Array1::from((0..n).rev().map(|i| i as f64 * 1.5).collect::<Vec<_>>());
    b.invert_axis(ndarray::Axis(0));
    for arr in [&a, &b] {
        for k in [-23isize, -1, 0, 1, 3, 20, 41] {
            let r = RealArray::roll(arr, k);
            for i in 0..n {
                assert_eq!(r[i], a[(i as isize - k).rem_euclid(n as isize) as usize]);
            }
        }
        for (dr, dc) in [
            (1isize, 0isize),
            (-1, 0),
            (0, 1),
            (0, -1),
            (5, -7),
            (-9, 11),
        ] {
            let r = RealArray::roll2(arr, rows, cols, dr, dc);
            for i in 0..n {
                let (row, col) = ((i / cols) as isize, (i % cols) as isize);
                let sr = (row - dr).rem_euclid(rows as isize) as usize;
                let sc = (col - dc).rem_euclid(cols as isize) as usize;
                assert_eq!(r[i], a[sr * cols + sc], "({dr}, {dc}) at {i}");
            }
        }
    }
    let empty: Array1<f64> = Array1::from(Vec::new());
    assert_eq!(RealArray::roll(&empty, 3).len(), 0);
}
