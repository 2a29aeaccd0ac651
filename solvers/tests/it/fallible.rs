//! Derivative passes of the solvers fail with `solvers::Error`, never silently: a Krylov
//! adjoint or tangent solve that does not converge, and an adjoint that is not finite, reach
//! the caller of the `try_` drivers as `GradientError::Block` with the solver's error.

use ad_core::{try_gradient, try_jvp, Function, GradientError, Real, Var};
use ndarray::{array, Array1, ArrayView1};
use solvers::krylov::{self, Method, Options, Precond};
use solvers::sparse::CsrMatrix;
use solvers::Error;

/// The solver error inside a derivative error, with the pass that failed.
fn solver_error(e: &GradientError) -> (&'static str, &Error) {
    let GradientError::Block { pass, source, .. } = e else {
        panic!("expected a block error, got {e}");
    };
    let inner = source
        .downcast_ref::<Error>()
        .unwrap_or_else(|| panic!("source is not a solvers::Error: {source}"));
    (pass, inner)
}

/// `x = diag(1, 2, 3, 4, 5)^{-1} b` by CG limited to ONE iteration: exact for `b = e_0` (an
/// eigenvector), while the adjoint or tangent solve of a generic vector needs five.
struct OneStepCg;

impl Function for OneStepCg {
    fn eval<S: Real>(&self, b: &[S]) -> Vec<S> {
        let t: Vec<_> = (0..5).map(|i| (i, i, (i + 1) as f64)).collect();
        let a = CsrMatrix::<f64>::from_triplets(5, 5, &t).expect("valid triplets");
        let a = CsrMatrix::new(
            a.pattern().clone(),
            a.values().iter().map(|&v| S::cst(v)).collect(),
        )
        .expect("same pattern");
        let opts = Options::new(Method::Cg, Precond::Identity).with_max_iter(1);
        let (x, _) = krylov::solve(&a, ArrayView1::from(b), &opts).expect("converges at e_0");
        x.to_vec()
    }
}

fn sum<'t>(x: &[Var<'t>]) -> Var<'t> {
    x.iter().copied().sum()
}

const E0: [f64; 5] = [1.0, 0.0, 0.0, 0.0, 0.0];

#[test]
fn a_krylov_adjoint_that_does_not_converge_is_an_error() {
    let e = try_gradient(|b| Ok::<_, Error>(sum(&OneStepCg.eval(b))), &E0).unwrap_err();
    let (pass, err) = solver_error(&e);
    assert_eq!(pass, "reverse");
    assert!(
        matches!(err, Error::NotConverged { iterations: 1, .. }),
        "{err}"
    );
    // a cotangent along the eigenvector converges in one step: the gradient is exact
    let (_, g) = try_gradient(|b| Ok::<_, Error>(OneStepCg.eval(b)[0] * 2.0), &E0).unwrap();
    assert_eq!(g, vec![2.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn a_krylov_tangent_that_does_not_converge_is_an_error() {
    let e = try_jvp(&OneStepCg, &E0, &[1.0; 5]).unwrap_err();
    let (pass, err) = solver_error(&e);
    assert_eq!(pass, "tangent");
    assert!(matches!(err, Error::NotConverged { .. }), "{err}");
    let (_, xd) = try_jvp(&OneStepCg, &E0, &E0).unwrap();
    assert_eq!(xd, E0.to_vec());
}

/// `sqrt(x_0)` for `x = A^{-1} b`, a dense solve whose solution has `x_0 = 0`: the cotangent
/// of the solve is infinite.
fn sqrt_of_solution<S: Real>(b: &[S]) -> Result<S, Error> {
    let a = array![[2.0, 0.5], [0.0, 1.0]].mapv(S::cst);
    let x: Array1<S> = solvers::solve(a.view(), ArrayView1::from(b))?;
    Ok(num_traits::Float::sqrt(x[0]))
}

#[test]
fn a_non_finite_dense_adjoint_is_an_error_not_a_silent_infinity() {
    // x = (0, 1): b_0 = 2 x_0 + 0.5 x_1 = 0.5
    let e = try_gradient(|b| sqrt_of_solution(b), &[0.5, 1.0]).unwrap_err();
    let (pass, err) = solver_error(&e);
    assert_eq!(pass, "reverse");
    assert!(
        matches!(err, Error::NonFinite { what } if what.contains("adjoint")),
        "{err}"
    );
    // away from 0 the gradient is finite and right: x_0 = (b_0 - 0.5 b_1) / 2
    let (v, g) = try_gradient(|b| sqrt_of_solution(b), &[2.5, 1.0]).unwrap();
    assert_eq!(v, 1.0);
    assert!(
        (g[0] - 0.25).abs() < 1e-15 && (g[1] + 0.125).abs() < 1e-15,
        "{g:?}"
    );
}
