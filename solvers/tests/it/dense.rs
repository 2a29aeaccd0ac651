//! Dense solvers: residuals, adjoints (shared checker + finite differences), errors.

use ad_core::testing::{check_function, Rng};
use ad_core::{gradient, Function, Real, Tape};
use ndarray::{Array1, Array2, ArrayView2};
use num_traits::Float;
use solvers::{lstsq, solve, solve_many, Cholesky, Error, Lu, Qr};

const SIZES: [usize; 6] = [1, 2, 5, 17, 64, 150];

fn random_matrix(rng: &mut Rng, m: usize, n: usize) -> Array2<f64> {
    Array2::from_shape_vec((m, n), rng.vec(m * n, -1.0, 1.0)).unwrap()
}

fn spd(rng: &mut Rng, n: usize) -> Array2<f64> {
    let b = random_matrix(rng, n, n);
    b.dot(&b.t()) + Array2::<f64>::eye(n) * (n as f64)
}

fn inf_norm(a: ArrayView2<f64>) -> f64 {
    a.rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// |A x - b|_inf <= 10 n eps |A|_inf |x|_inf.
fn assert_residual(a: ArrayView2<f64>, x: &Array1<f64>, b: &Array1<f64>) {
    let n = a.nrows();
    let r = a.dot(x) - b;
    let rn = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let xn = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = 10.0 * n as f64 * f64::EPSILON * inf_norm(a) * xn;
    assert!(rn <= tol, "n = {n}: residual {rn:.3e} > {tol:.3e}");
}

#[test]
fn lu_residuals_over_sizes() {
    let mut rng = Rng::new(1);
    for n in SIZES {
        let a = random_matrix(&mut rng, n, n);
        let b = Array1::from_vec(rng.vec(n, -1.0, 1.0));
        let x = solve(a.view(), b.view()).unwrap();
        assert_residual(a.view(), &x, &b);
        let lu = Lu::new(a.view()).unwrap();
        let y = lu.solve_transpose(b.view()).unwrap();
        assert_residual(a.t(), &y, &b);
        // Several right-hand sides at once agree with one at a time.
        let bs = random_matrix(&mut rng, n, 3);
        let xs = solve_many(a.view(), bs.view()).unwrap();
        for c in 0..3 {
            let xc = lu.solve(bs.column(c)).unwrap();
            let d = (&xs.column(c) - &xc)
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(d <= 1e-12 * (1.0 + xc.iter().fold(0.0f64, |m, v| m.max(v.abs()))));
        }
        // Column-major input gives the same answer.
        let af = a.t().as_standard_layout().t().to_owned();
        let xf = solve(af.view(), b.view()).unwrap();
        assert!((&xf - &x)
            .iter()
            .all(|v| v.abs() <= 1e-12 * (1.0 + x[0].abs())));
    }
}

#[test]
fn lu_determinant() {
    let a = ndarray::array![[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]];
    // det = 0*(1) - 2*(1 - 0) + 1*(0 - 3) = -5
    let lu = Lu::new(a.view()).unwrap();
    assert!((lu.det() + 5.0).abs() < 1e-13);
    assert!((lu.log_abs_det() - 5f64.ln()).abs() < 1e-13);
    assert_eq!(lu.det_sign(), -1.0);
}

#[test]
fn cholesky_residuals_over_sizes() {
    let mut rng = Rng::new(2);
    for n in SIZES {
        let a = spd(&mut rng, n);
        let b = Array1::from_vec(rng.vec(n, -1.0, 1.0));
        let c = Cholesky::new(a.view()).unwrap();
        let x = c.solve(b.view()).unwrap();
        assert_residual(a.view(), &x, &b);
        let lu = Lu::new(a.view()).unwrap();
        assert!((c.log_det() - lu.log_abs_det()).abs() < 1e-10 * (1.0 + lu.log_abs_det().abs()));
    }
}

#[test]
fn qr_least_squares_satisfies_normal_equations() {
    let mut rng = Rng::new(3);
    for (m, n) in [(1, 1), (3, 2), (10, 4), (40, 17), (200, 60)] {
        let a = random_matrix(&mut rng, m, n);
        let b = Array1::from_vec(rng.vec(m, -1.0, 1.0));
        let x = lstsq(a.view(), b.view()).unwrap();
        let r = &b - &a.dot(&x);
        let g = a.t().dot(&r);
        let tol = 10.0
            * m as f64
            * f64::EPSILON
            * inf_norm(a.view()).powi(2)
            * (1.0 + x.iter().fold(0.0f64, |m, v| m.max(v.abs())));
        assert!(g.iter().all(|v| v.abs() <= tol), "({m},{n}): {g:?}");
    }
}

// ---- adjoints with the shared checker (reverse and forward vs a central difference) ----

/// x = A^{-1} b (or A^{-T} b), inputs [A row-major, b].
struct SolveF {
    n: usize,
    transpose: bool,
}
impl Function for SolveF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let n = self.n;
        let a = Array2::from_shape_vec((n, n), p[..n * n].to_vec()).unwrap();
        let b = Array1::from_vec(p[n * n..].to_vec());
        if self.transpose {
            Lu::new(a.view())
                .unwrap()
                .solve_transpose(b.view())
                .unwrap()
                .to_vec()
        } else {
            solve(a.view(), b.view()).unwrap().to_vec()
        }
    }
}

/// X = A^{-1} B, k columns.
struct SolveManyF {
    n: usize,
    k: usize,
    chol: bool,
}
impl Function for SolveManyF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let (n, k) = (self.n, self.k);
        let a = Array2::from_shape_vec((n, n), p[..n * n].to_vec()).unwrap();
        let b = Array2::from_shape_vec((n, k), p[n * n..].to_vec()).unwrap();
        let x = if self.chol {
            Cholesky::new(a.view())
                .unwrap()
                .solve_many(b.view())
                .unwrap()
        } else {
            solve_many(a.view(), b.view()).unwrap()
        };
        x.iter().copied().collect()
    }
}

/// [det A, ln|det A|] by LU and [ln det A] by Cholesky.
struct DetF {
    n: usize,
    chol: bool,
}
impl Function for DetF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let n = self.n;
        let a = Array2::from_shape_vec((n, n), p.to_vec()).unwrap();
        if self.chol {
            let c = Cholesky::new(a.view()).unwrap();
            vec![c.log_det(), c.det()]
        } else {
            let lu = Lu::new(a.view()).unwrap();
            vec![lu.det(), lu.log_abs_det()]
        }
    }
}

/// Least squares, inputs [A (m x n) row-major, b (m)].
struct LstsqF {
    m: usize,
    n: usize,
}
impl Function for LstsqF {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        let (m, n) = (self.m, self.n);
        let a = Array2::from_shape_vec((m, n), p[..m * n].to_vec()).unwrap();
        let b = Array1::from_vec(p[m * n..].to_vec());
        Qr::new(a.view()).unwrap().solve(b.view()).unwrap().to_vec()
    }
}

fn well_conditioned(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut a = rng.vec(n * n, -1.0, 1.0);
    for i in 0..n {
        a[i * n + i] += 2.0 + n as f64 * 0.3;
    }
    a
}

#[test]
fn solve_adjoints_pass_the_shared_checker() {
    let mut rng = Rng::new(4);
    for n in [1, 2, 3, 8, 20] {
        for transpose in [false, true] {
            let mut p = well_conditioned(&mut rng, n);
            p.extend(rng.vec(n, -1.0, 1.0));
            for seed in 0..3 {
                check_function(&SolveF { n, transpose }, &p, seed).assert_close(1e-7);
            }
        }
    }
}

#[test]
fn multi_rhs_and_cholesky_adjoints_pass_the_shared_checker() {
    let mut rng = Rng::new(5);
    for (n, k) in [(1, 1), (3, 2), (7, 4), (16, 3)] {
        for chol in [false, true] {
            let a = if chol {
                spd(&mut rng, n).iter().copied().collect()
            } else {
                well_conditioned(&mut rng, n)
            };
            let mut p = a;
            p.extend(rng.vec(n * k, -1.0, 1.0));
            for seed in 0..2 {
                check_function(&SolveManyF { n, k, chol }, &p, seed).assert_close(1e-7);
            }
        }
    }
}

#[test]
fn determinant_adjoints_pass_the_shared_checker() {
    let mut rng = Rng::new(6);
    for n in [1, 2, 4, 9] {
        let p = well_conditioned(&mut rng, n);
        check_function(&DetF { n, chol: false }, &p, 1).assert_close(1e-7);
        let p: Vec<f64> = spd(&mut rng, n).iter().copied().collect();
        check_function(&DetF { n, chol: true }, &p, 2).assert_close(1e-7);
    }
}

#[test]
fn least_squares_adjoint_passes_the_shared_checker() {
    let mut rng = Rng::new(7);
    for (m, n) in [(1, 1), (4, 2), (9, 5), (30, 7)] {
        let mut p = rng.vec(m * n, -1.0, 1.0);
        p.extend(rng.vec(m, -1.0, 1.0));
        for seed in 0..3 {
            check_function(&LstsqF { m, n }, &p, seed).assert_close(1e-7);
        }
    }
}

/// The W2 loss on a small instance: sum_i x_i^2, x = A^{-1} b.
fn w2_loss<S: Real>(p: &[S], n: usize) -> S {
    SolveF {
        n,
        transpose: false,
    }
    .eval(p)
    .iter()
    .map(|&x| x * x)
    .sum()
}

#[test]
fn solve_gradient_matches_finite_differences_of_the_f64_solve() {
    let mut rng = Rng::new(8);
    let n = 12;
    let mut p = well_conditioned(&mut rng, n);
    p.extend(rng.vec(n, -1.0, 1.0));
    let (v, g) = gradient(|q| w2_loss(q, n), &p);
    assert!((v - w2_loss(&p, n)).abs() <= 1e-14 * v);
    let h = 1e-6;
    for k in (0..p.len()).step_by(7) {
        let mut pp = p.clone();
        pp[k] += h;
        let fp = w2_loss(&pp, n);
        pp[k] -= 2.0 * h;
        let fm = w2_loss(&pp, n);
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "entry {k}: fd {fd} vs ad {}",
            g[k]
        );
    }
}

#[test]
fn constant_matrix_with_active_rhs_records_only_b() {
    let mut rng = Rng::new(9);
    let n = 6;
    let a = Array2::from_shape_vec((n, n), well_conditioned(&mut rng, n)).unwrap();
    let bv = rng.vec(n, -1.0, 1.0);
    let tape = Tape::new();
    let b = Array1::from_vec(tape.vars(&bv));
    let a_c = a.mapv(ad_core::Var::constant);
    let x = solve(a_c.view(), b.view()).unwrap();
    let loss: ad_core::Var = x.iter().map(|&xi| xi * xi).sum();
    let adj = tape.gradient(loss);
    // d loss / d b = A^{-T} 2 x
    let xv = x.mapv(|v| v.value());
    let expect = Lu::new(a.view())
        .unwrap()
        .solve_transpose((&xv * 2.0).view())
        .unwrap();
    for i in 0..n {
        assert!((adj.wrt(b[i]) - expect[i]).abs() <= 1e-12 * (1.0 + expect[i].abs()));
    }
}

// ---- errors ----

#[test]
fn singular_matrices_report_the_pivot() {
    let a = ndarray::array![[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]];
    let b = ndarray::array![1.0, 2.0, 3.0];
    assert!(matches!(
        solve(a.view(), b.view()),
        Err(Error::Singular { .. })
    ));
    let z = Array2::<f64>::zeros((4, 4));
    assert_eq!(Lu::new(z.view()).err(), Some(Error::Singular { pivot: 0 }));
    // The same error with Var inputs: the AD version errors exactly when the f64 one does.
    let tape = Tape::new();
    let av = a.mapv(|v| tape.var(v));
    let bv = b.mapv(|v| tape.var(v));
    assert!(matches!(
        solve(av.view(), bv.view()),
        Err(Error::Singular { .. })
    ));
}

#[test]
fn indefinite_matrix_is_not_positive_definite() {
    let a = ndarray::array![[1.0, 2.0], [2.0, 1.0]];
    assert_eq!(
        Cholesky::new(a.view()).err(),
        Some(Error::NotPositiveDefinite { index: 1 })
    );
}

#[test]
fn mismatched_shapes_are_errors() {
    let a = Array2::<f64>::eye(3);
    let b = Array1::<f64>::ones(4);
    assert!(matches!(
        solve(a.view(), b.view()),
        Err(Error::DimensionMismatch {
            expected: 3,
            got: 4,
            ..
        })
    ));
    let r = Array2::<f64>::ones((3, 4));
    assert!(matches!(
        solve(r.view(), Array1::ones(3).view()),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        lstsq(r.view(), Array1::ones(3).view()),
        Err(Error::DimensionMismatch { .. })
    ));
}

#[test]
fn non_finite_input_is_an_error_not_a_nan() {
    let mut a = Array2::<f64>::eye(3);
    let b = Array1::<f64>::ones(3);
    a[[1, 2]] = f64::NAN;
    assert!(matches!(
        solve(a.view(), b.view()),
        Err(Error::NonFinite { what: "matrix" })
    ));
    let a = Array2::<f64>::eye(3);
    let mut b = b;
    b[0] = f64::INFINITY;
    assert!(matches!(
        solve(a.view(), b.view()),
        Err(Error::NonFinite {
            what: "right-hand side"
        })
    ));
}

#[test]
fn rank_deficient_least_squares_is_an_error() {
    let a = ndarray::array![[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
    assert!(matches!(
        Qr::new(a.view()).err(),
        Some(Error::RankDeficient {
            column: 1,
            ncols: 2
        })
    ));
}

#[test]
fn empty_system_gives_an_empty_solution() {
    let a = Array2::<f64>::zeros((0, 0));
    let b = Array1::<f64>::zeros(0);
    assert_eq!(solve(a.view(), b.view()).unwrap().len(), 0);
    assert_eq!(
        Cholesky::new(a.view())
            .unwrap()
            .solve(b.view())
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn in_place_value_solves_agree_with_the_generic_ones() {
    let mut rng = Rng::new(15);
    let n = 9;
    let a = Array2::from_shape_vec((n, n), well_conditioned(&mut rng, n)).unwrap();
    let lu = Lu::new(a.view()).unwrap();
    let b = rng.vec(2 * n, -1.0, 1.0);
    for transpose in [false, true] {
        let mut x = b.clone();
        lu.solve_values_in_place(&mut x, transpose);
        for c in 0..2 {
            let bc = Array1::from_vec(b[c * n..(c + 1) * n].to_vec());
            let xc = if transpose {
                lu.solve_transpose(bc.view()).unwrap()
            } else {
                lu.solve(bc.view()).unwrap()
            };
            for i in 0..n {
                assert!((x[c * n + i] - xc[i]).abs() <= 1e-13);
            }
        }
    }
    let s = spd(&mut rng, n);
    let ch = Cholesky::new(s.view()).unwrap();
    let mut x = b[..n].to_vec();
    ch.solve_values_in_place(&mut x);
    let xc = ch.solve(Array1::from_vec(b[..n].to_vec()).view()).unwrap();
    assert!(x.iter().zip(&xc).all(|(p, q)| (p - q).abs() <= 1e-13));
}

#[test]
fn repeated_reverse_sweeps_of_one_solve_give_the_exact_jacobian() {
    // ad_core::jacobian sweeps the same tape once per output (reverse mode: more inputs than
    // outputs): the two blocks of a solve share one adjoint solve per sweep, and every sweep
    // must still see its own. Exact Jacobian: dx/db = A^{-1}, dx_i/dA_jk = -A^{-1}_ij x_k.
    let mut rng = Rng::new(31);
    for (n, transpose) in [(1, false), (4, false), (9, false), (6, true)] {
        let mut p = well_conditioned(&mut rng, n);
        p.extend(rng.vec(n, -1.0, 1.0));
        let (x, jac) = ad_core::jacobian(&SolveF { n, transpose }, &p);
        let a = Array2::from_shape_vec((n, n), p[..n * n].to_vec()).unwrap();
        let a = if transpose { a.t().to_owned() } else { a };
        let inv = Lu::new(a.view())
            .unwrap()
            .solve_many(Array2::eye(n).view())
            .unwrap();
        for i in 0..n {
            for j in 0..n {
                let db = jac[i][n * n + j];
                assert!((db - inv[[i, j]]).abs() <= 1e-12, "dx{i}/db{j}");
                for (k, &xk) in x.iter().enumerate() {
                    let (r, c) = if transpose { (k, j) } else { (j, k) };
                    let want = -inv[[i, j]] * xk;
                    assert!((jac[i][r * n + c] - want).abs() <= 1e-12, "dx{i}/dA{r}{c}");
                }
            }
        }
    }
}

// ---- large taped matrices: factorised from the block's gathered values, adjoint written ----

/// The exact W2 gradient `[-lambda x^T, lambda]` with `lambda = A^{-T} 2x`, on f64.
fn w2_gradient_exact(p: &[f64], n: usize) -> Vec<f64> {
    let a = ArrayView2::from_shape((n, n), &p[..n * n]).unwrap();
    let b = Array1::from_vec(p[n * n..].to_vec());
    let lu = Lu::new(a).unwrap();
    let x = lu.solve(b.view()).unwrap();
    let lam = lu.solve_transpose((&x * 2.0).view()).unwrap();
    let mut g = Vec::with_capacity(n * n + n);
    for i in 0..n {
        g.extend(x.iter().map(|&xj| -lam[i] * xj));
    }
    g.extend(lam.iter());
    g
}

fn assert_gradients_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * scale,
            "{what}: entry {k}: {g} vs {w}"
        );
    }
}

#[test]
fn large_taped_solve_gradient_matches_the_exact_one_and_finite_differences() {
    // 72 x 72 = 5184 taped entries: long enough for the matrix block to write its adjoint run.
    let mut rng = Rng::new(41);
    let n = 72;
    let mut p = well_conditioned(&mut rng, n);
    p.extend(rng.vec(n, -1.0, 1.0));
    let (v, g) = gradient(|q| w2_loss(q, n), &p);
    assert!((v - w2_loss(&p, n)).abs() <= 1e-13 * v);
    assert_gradients_close(&g, &w2_gradient_exact(&p, n), "solve");
    // the reusable factorisation (factors computed before recording) agrees
    let (_, g_lu) = gradient(
        |q| {
            let a = ArrayView2::from_shape((n, n), &q[..n * n]).unwrap();
            let b = ndarray::ArrayView1::from(&q[n * n..]);
            let x = Lu::new(a).unwrap().solve(b).unwrap();
            x.iter().map(|&xi| xi * xi).sum()
        },
        &p,
    );
    assert_gradients_close(&g_lu, &g, "Lu::solve");
    let h = 1e-6;
    for k in (0..p.len())
        .step_by(331)
        .chain([n * n - 1, n * n, p.len() - 1])
    {
        let mut pp = p.clone();
        pp[k] += h;
        let fp = w2_loss(&pp, n);
        pp[k] -= 2.0 * h;
        let fm = w2_loss(&pp, n);
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "entry {k}: fd {fd} vs ad {}",
            g[k]
        );
    }
}

#[test]
fn large_taped_matrix_also_used_before_and_after_the_solve() {
    // Scalar uses of A's entries recorded after the solve (swept before the block: the block
    // must add) and before it (swept after: they add onto what the block wrote), and two
    // sweeps reusing one adjoint vector (stale values in it).
    let mut rng = Rng::new(42);
    let n = 70;
    let mut p = well_conditioned(&mut rng, n);
    p.extend(rng.vec(n, -1.0, 1.0));
    let exact = w2_gradient_exact(&p, n);
    for after in [false, true] {
        let tape = Tape::new();
        let xs = tape.vars(&p);
        let before = xs[3] * xs[3] * 0.5;
        let a = ArrayView2::from_shape((n, n), &xs[..n * n]).unwrap();
        let b = ndarray::ArrayView1::from(&xs[n * n..]);
        let x = solve(a, b).unwrap();
        let mut loss: ad_core::Var = x.iter().map(|&xi| xi * xi).sum();
        loss += before;
        if after {
            loss += xs[7] * 2.0 + xs[n * n + 1].sin();
        }
        let mut want = exact.clone();
        want[3] += p[3];
        if after {
            want[7] += 2.0;
            want[n * n + 1] += p[n * n + 1].cos();
        }
        let mut adj = ad_core::Adjoints::default();
        for seed in [3.0, 1.0] {
            tape.vjp_into(&[loss], &[seed], &mut adj);
            let got = adj.wrt_all(&xs);
            let want: Vec<f64> = want.iter().map(|w| seed * w).collect();
            assert_gradients_close(&got, &want, if after { "after" } else { "before" });
        }
        // an input's own adjoint seeded (it lies in the matrix block's run)
        tape.vjp_into(&[loss, xs[5]], &[1.0, 10.0], &mut adj);
        assert!((adj.wrt(xs[5]) - (exact[5] + 10.0)).abs() <= 1e-12 * 10.0);
    }
}

#[test]
fn a_failed_large_taped_solve_leaves_a_usable_tape() {
    let n = 70;
    let mut p = vec![1.0; n * n];
    p.extend(vec![1.0; n]);
    let tape = Tape::new();
    let xs = tape.vars(&p);
    let a = ArrayView2::from_shape((n, n), &xs[..n * n]).unwrap();
    let b = ndarray::ArrayView1::from(&xs[n * n..]);
    assert!(matches!(solve(a, b), Err(Error::Singular { .. })));
    // non-finite entries: the f64 path's errors, in its order (matrix first)
    for (k, want) in [
        (5, "matrix"),
        (n * n + 2, "right-hand side"),
        (usize::MAX, "matrix"),
    ] {
        let mut q = well_conditioned(&mut Rng::new(43), n);
        q.extend(vec![1.0; n]);
        if k == usize::MAX {
            q[0] = f64::NAN;
            q[n * n] = f64::INFINITY;
        } else {
            q[k] = f64::INFINITY;
        }
        let qs = tape.vars(&q);
        let a = ArrayView2::from_shape((n, n), &qs[..n * n]).unwrap();
        let b = ndarray::ArrayView1::from(&qs[n * n..]);
        match solve(a, b) {
            Err(Error::NonFinite { what }) => assert_eq!(what, want, "entry {k}"),
            other => panic!("entry {k}: {:?}", other.map(|x| x.len())),
        }
    }
    let y = xs[0] * 2.0 + xs[n * n + 3];
    let g = tape.gradient(y).wrt_all(&xs);
    for (k, gk) in g.iter().enumerate() {
        let want = match k {
            0 => 2.0,
            k if k == n * n + 3 => 1.0,
            _ => 0.0,
        };
        assert_eq!(*gk, want, "entry {k}");
    }
}
