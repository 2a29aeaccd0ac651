//! Hessian-vector products through the solvers (`hessian_vector_product`, forward over
//! reverse through `Block::jvp_nested`), against central differences of reverse-mode
//! gradients: an independent oracle that uses only the first-order rules.

use std::sync::Arc;

use ad_core::{try_gradient, try_hessian_vector_product, Real};
use ndarray::{Array1, Array2};
use solvers::krylov::{self, Method, Precond};
use solvers::newton::{self, Residual};
use solvers::sparse::{CsrMatrix, Pattern, SparseCholesky, SparseLu};
use solvers::{Cholesky, Error, Lu};

/// A scalar loss written once for every scalar type.
trait Loss {
    fn eval<S: Real>(&self, x: &[S]) -> Result<S, Error>;
}

/// `H v` by the shared route and by a fourth-order central difference of gradients; they
/// must agree to `tol` relative to the largest entry; the product is bit-reproducible.
fn check<L: Loss>(l: &L, x: &[f64], v: &[f64], tol: f64) {
    let (_, hv) = try_hessian_vector_product(|p| l.eval(p), x, v).unwrap();
    let h = 1e-3;
    let g = |s: f64| {
        let xs: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + s * h * b).collect();
        try_gradient(|p| l.eval(p), &xs).unwrap().1
    };
    let (g2, g1, m1, m2) = (g(2.0), g(1.0), g(-1.0), g(-2.0));
    let fd: Vec<f64> = (0..x.len())
        .map(|i| (-g2[i] + 8.0 * g1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
        .collect();
    let scale = fd.iter().fold(1.0f64, |m, a| m.max(a.abs()));
    for (a, b) in hv.iter().zip(&fd) {
        assert!((a - b).abs() <= tol * scale, "H v {hv:?}\n  fd {fd:?}");
    }
    let (_, again) = try_hessian_vector_product(|p| l.eval(p), x, v).unwrap();
    assert_eq!(hv, again);
}

/// Random-looking directions for 4 inputs.
const DIRS: [[f64; 4]; 2] = [[1.0, 0.0, 0.0, 0.0], [0.3, -0.8, 0.5, 0.6]];
const X: [f64; 4] = [0.4, -0.3, 0.7, 0.2];

/// `A(x)` (3 x 3, symmetric if `sym`) and `b(x)`.
fn system<S: Real>(x: &[S], sym: bool) -> (Array2<S>, Array1<S>) {
    let c = S::cst;
    let a10 = if sym { x[1] } else { x[2].sin() };
    let a21 = if sym { x[3] } else { x[2] * x[3] };
    let a = Array2::from_shape_vec(
        (3, 3),
        vec![
            x[0] * x[0] + 4.0,
            x[1],
            c(0.3),
            a10,
            x[0] * x[1] + 5.0,
            x[3],
            c(0.3),
            a21,
            x[3] * x[3] + 4.0,
        ],
    )
    .unwrap();
    let b = Array1::from_vec(vec![x[0] + x[3], (x[1] * 0.3).exp(), x[2] * x[2]]);
    (a, b)
}

/// A nonlinear read-out of a solution.
fn readout<S: Real>(x: &[S], sol: &[S]) -> S {
    let mut l = x[0] * sol[1];
    for (i, s) in sol.iter().enumerate() {
        l += *s * *s * (i as f64 + 1.0);
    }
    l + sol[0] * sol[sol.len() - 1]
}

/// The dense routes: which solve, and which of `A`, `b` carry derivatives.
#[derive(Clone, Copy, Debug)]
enum Dense {
    /// `solvers::solve` (factorised inside its block).
    Solve,
    /// `Lu::new(a)?.solve(b)` (factorised first).
    Lu,
    LuTranspose,
    Cholesky,
    /// `A` only, `b` constant.
    MatrixOnly,
    /// `b` only, `A` constant.
    RhsOnly,
    /// Two right-hand sides.
    Many,
    /// `lstsq` of a 4 x 3 system.
    Lstsq,
    /// `ln |det A|` and `det A` (LU) and `ln det A` (Cholesky) added to the `solve` loss.
    Dets,
}

impl Loss for Dense {
    fn eval<S: Real>(&self, x: &[S]) -> Result<S, Error> {
        let (a, b) = system(x, matches!(self, Dense::Cholesky));
        let sol = match self {
            Dense::Solve => solvers::solve(a.view(), b.view())?,
            Dense::Lu => Lu::new(a.view())?.solve(b.view())?,
            Dense::LuTranspose => Lu::new(a.view())?.solve_transpose(b.view())?,
            Dense::Cholesky => Cholesky::new(a.view())?.solve(b.view())?,
            Dense::MatrixOnly => {
                let b = Array1::from_vec(vec![S::one(), S::cst(-0.5), S::cst(2.0)]);
                solvers::solve(a.view(), b.view())?
            }
            Dense::RhsOnly => {
                let (a, _) = system(&[S::cst(0.1), S::cst(0.2), S::cst(0.3), S::cst(0.4)], false);
                solvers::solve(a.view(), b.view())?
            }
            Dense::Many => {
                let bb =
                    Array2::from_shape_fn((3, 2), |(i, c)| if c == 0 { b[i] } else { b[i] * b[i] });
                let s = solvers::solve_many(a.view(), bb.view())?;
                s.iter().copied().collect()
            }
            Dense::Lstsq => {
                let mut tall = Array2::from_elem((4, 3), S::zero());
                tall.slice_mut(ndarray::s![..3, ..]).assign(&a);
                tall[[3, 0]] = x[1] * x[2];
                tall[[3, 2]] = S::cst(1.0);
                let mut bb = Array1::from_elem(4, x[0].cos());
                bb.slice_mut(ndarray::s![..3]).assign(&b);
                solvers::lstsq(tall.view(), bb.view())?
            }
            Dense::Dets => {
                let lu = Lu::new(a.view())?;
                let (sa, _) = system(x, true);
                let ch = Cholesky::new(sa.view())?;
                let mut sol = solvers::solve(a.view(), b.view())?;
                sol[0] += lu.log_abs_det() + lu.det() * 0.1 + ch.log_det();
                sol
            }
        };
        Ok(readout(x, sol.as_slice().unwrap()))
    }
}

#[test]
fn dense_solves() {
    for route in [
        Dense::Solve,
        Dense::Lu,
        Dense::LuTranspose,
        Dense::Cholesky,
        Dense::MatrixOnly,
        Dense::RhsOnly,
        Dense::Many,
        Dense::Lstsq,
        Dense::Dets,
    ] {
        for v in DIRS {
            check(&route, &X, &v, 1e-8);
        }
    }
}

/// Tridiagonal `n x n` pattern.
fn tridiagonal(n: usize) -> Arc<Pattern> {
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in i.saturating_sub(1)..(i + 2).min(n) {
            rows.push(i);
            cols.push(j);
        }
    }
    Pattern::from_entries(n, n, &rows, &cols).unwrap().0
}

/// A diagonally dominant tridiagonal matrix (symmetric: entry (i, j) depends on min(i, j))
/// and right-hand side from `x`.
fn sparse_system<S: Real>(x: &[S]) -> (CsrMatrix<S>, Array1<S>) {
    let n = 5;
    let p = tridiagonal(n);
    let rows = p.row_of_entries();
    let vals: Vec<S> = rows
        .iter()
        .zip(p.col_idx())
        .map(|(&i, &j)| {
            let xi = x[i.min(j) % 4];
            if i == j {
                xi * xi + 4.0 + i as f64
            } else {
                (xi * 0.5).sin()
            }
        })
        .collect();
    let b = (0..n).map(|i| x[(i + 1) % 4] * (i as f64 + 1.0)).collect();
    (CsrMatrix::new(p, vals).unwrap(), b)
}

#[derive(Clone, Copy, Debug)]
enum Sparse {
    Lu,
    LuTranspose,
    Cholesky,
    Gmres,
    Cg,
}

impl Loss for Sparse {
    fn eval<S: Real>(&self, x: &[S]) -> Result<S, Error> {
        let (a, b) = sparse_system(x);
        let opts = |m| {
            krylov::Options::new(m, Precond::Jacobi)
                .with_tol(1e-14)
                .unwrap()
        };
        let sol = match self {
            Sparse::Lu => SparseLu::new(&a)?.solve(b.view())?,
            Sparse::LuTranspose => SparseLu::new(&a)?.solve_transpose(b.view())?,
            Sparse::Cholesky => SparseCholesky::new(&a)?.solve(b.view())?,
            Sparse::Gmres => krylov::solve(&a, b.view(), &opts(Method::Gmres { restart: 10 }))?.0,
            Sparse::Cg => krylov::solve(&a, b.view(), &opts(Method::Cg))?.0,
        };
        Ok(readout(x, sol.as_slice().unwrap()))
    }
}

#[test]
fn sparse_and_krylov_solves() {
    for route in [
        Sparse::Lu,
        Sparse::LuTranspose,
        Sparse::Cholesky,
        Sparse::Gmres,
        Sparse::Cg,
    ] {
        for v in DIRS {
            check(&route, &X, &v, 1e-7);
        }
    }
}

/// `x0^2 + x1^2 = th0 + th2 x0`, `x0 = th1 x1 + th3 x1^3`.
#[derive(Clone)]
struct Circle;

impl Residual for Circle {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        4
    }
    fn residual<S: Real>(&self, x: &[S], th: &[S], out: &mut [S]) {
        out[0] = x[0] * x[0] + x[1] * x[1] - th[0] - th[2] * x[0];
        out[1] = x[0] - th[1] * x[1] - th[3] * x[1].powi(3);
    }
}

/// `-u'' = th exp(u)` type problem on 4 nodes (tridiagonal Jacobian).
#[derive(Clone)]
struct Bratu;

impl Residual for Bratu {
    fn dim(&self) -> usize {
        4
    }
    fn n_params(&self) -> usize {
        4
    }
    fn residual<S: Real>(&self, u: &[S], th: &[S], out: &mut [S]) {
        let h2 = 25.0;
        for i in 0..4 {
            let l = if i > 0 { u[i - 1] } else { S::zero() };
            let r = if i < 3 { u[i + 1] } else { S::zero() };
            out[i] = (u[i] * 2.0 - l - r) * h2 - th[i] * u[i].exp();
        }
    }
}

struct NewtonLoss {
    sparse: bool,
}

impl Loss for NewtonLoss {
    fn eval<S: Real>(&self, x: &[S]) -> Result<S, Error> {
        if self.sparse {
            let mut opts = newton::Options::default();
            opts.sparsity = Some(tridiagonal(4));
            let th: Vec<S> = x.iter().map(|v| *v + 1.0).collect();
            let (u, _) = newton::solve(&Bratu, &[0.0; 4], &th, &opts)?;
            Ok(readout(x, &u))
        } else {
            let th = [x[0] + 2.0, x[1] + 1.5, x[2] * 0.3, x[3] * 0.2];
            let (u, _) = newton::solve(&Circle, &[1.0, 0.8], &th, &Default::default())?;
            Ok(readout(x, &u))
        }
    }
}

#[test]
fn newton_implicit_function() {
    for sparse in [false, true] {
        for v in DIRS {
            check(&NewtonLoss { sparse }, &X, &v, 1e-7);
        }
    }
}
