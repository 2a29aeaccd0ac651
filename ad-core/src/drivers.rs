//! Convenience drivers: gradients, Jacobians, vector-Jacobian and Jacobian-vector products,
//! Hessian-vector products, and gradients of many inputs in parallel.

use rayon::prelude::*;

use crate::dual::Dual;
use crate::error::{catch_tangent_failures, BlockError, GradientError};
use crate::function::Function;
use crate::real::Real;
use crate::tape::Tape;
use crate::var::Var;

/// The value and gradient of a scalar function, by reverse mode on a fresh tape.
///
/// `f` is ordinary code; write it generic over [`Real`] (or `num_traits::Float`) and pass it as
/// a closure. Cost: one recorded evaluation plus one reverse sweep.
///
/// ```
/// use ad_core::{gradient, Real};
///
/// fn rosenbrock<S: Real>(x: &[S]) -> S {
///     x.windows(2)
///         .map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + (S::one() - w[0]).powi(2))
///         .sum()
/// }
/// let (v, g) = gradient(|x| rosenbrock(x), &[1.0, 1.0, 1.0]);
/// assert_eq!(v, 0.0);
/// assert_eq!(g, vec![0.0, 0.0, 0.0]);
/// ```
pub fn gradient<F>(f: F, x: &[f64]) -> (f64, Vec<f64>)
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let xs = tape.vars(x);
    let y = f(&xs);
    let adj = tape.gradient(y);
    (y.value(), adj.wrt_all(&xs))
}

/// As [`gradient`], for a function that can fail: the value and gradient, or the function's
/// own error ([`GradientError::Function`]) or the error of a custom block's reverse rule
/// ([`GradientError::Block`], e.g. a singular adjoint system inside an ODE solve). Never
/// panics on a failure of the function or of a rule.
///
/// ```
/// use ad_core::{try_gradient, GradientError, Real};
///
/// #[derive(Debug)]
/// struct Negative;
/// impl std::fmt::Display for Negative {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "negative input")
///     }
/// }
/// impl std::error::Error for Negative {}
///
/// fn root<S: Real>(x: &[S]) -> Result<S, Negative> {
///     if x[0] < 0.0 { Err(Negative) } else { Ok(x[0].sqrt()) }
/// }
/// let (v, g) = try_gradient(|x| root(x), &[4.0]).unwrap();
/// assert_eq!((v, g[0]), (2.0, 0.25));
/// let err = try_gradient(|x| root(x), &[-1.0]).unwrap_err();
/// assert!(matches!(err, GradientError::Function { .. }));
/// ```
pub fn try_gradient<F, E>(f: F, x: &[f64]) -> Result<(f64, Vec<f64>), GradientError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Result<Var<'t>, E>,
    E: Into<BlockError>,
{
    let tape = Tape::new();
    let xs = tape.vars(x);
    let y = f(&xs).map_err(|e| GradientError::Function { source: e.into() })?;
    let adj = tape.try_gradient(y)?;
    Ok((y.value(), adj.wrt_all(&xs)))
}

/// Gradients of `f` at many points in parallel (rayon), one tape per task; results in input
/// order.
pub fn par_gradients<F>(f: F, points: &[Vec<f64>]) -> Vec<(f64, Vec<f64>)>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t> + Sync,
{
    points.par_iter().map(|x| gradient(&f, x)).collect()
}

/// The value `y = f(x)` and the Jacobian `J[i][j] = dy_i/dx_j` (one row per output).
///
/// Picks the cheaper mode: forward (`Dual<8>`, one evaluation per 8 inputs) when there are at
/// most as many inputs as outputs, else reverse (one recording, one sweep per output).
///
/// # Panics
/// If a custom block's derivative rule fails; [`try_jacobian`] returns that error.
pub fn jacobian<F: Function>(f: &F, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    try_jacobian(f, x).unwrap_or_else(|e| panic!("ad_core::jacobian: {e} (use try_jacobian)"))
}

/// As [`jacobian`], returning the error of a custom block's tangent or reverse rule that
/// fails ([`GradientError::Block`], its source downcastable to the raising crate's error).
pub fn try_jacobian<F: Function>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f64>>), GradientError> {
    let n = x.len();
    let y = f.eval(x);
    let m = y.len();
    let mut jac = vec![vec![0.0; n]; m];
    if n <= m {
        const W: usize = 8;
        for c0 in (0..n).step_by(W) {
            let xs = Dual::<W>::seeded(x, 0, c0);
            let ys = catch_tangent_failures(|| f.eval(&xs))?;
            for (row, yi) in jac.iter_mut().zip(&ys) {
                for (k, j) in (c0..(c0 + W).min(n)).enumerate() {
                    row[j] = yi.d[k];
                }
            }
        }
    } else {
        let tape = Tape::new();
        let xs = tape.vars(x);
        let ys = f.eval(&xs);
        let mut seed = vec![0.0; m];
        let mut adj = Default::default();
        for (i, row) in jac.iter_mut().enumerate() {
            seed[i] = 1.0;
            tape.try_vjp_into(&ys, &seed, &mut adj)?;
            seed[i] = 0.0;
            for (r, &v) in row.iter_mut().zip(&xs) {
                *r = adj.wrt(v);
            }
        }
    }
    Ok((y, jac))
}

/// The value `y = f(x)` and `x_bar = J^T c` (reverse mode).
///
/// # Panics
/// If a custom block's reverse rule fails; [`try_vjp`] returns that error.
pub fn vjp<F: Function>(f: &F, x: &[f64], cotangent: &[f64]) -> (Vec<f64>, Vec<f64>) {
    try_vjp(f, x, cotangent).unwrap_or_else(|e| panic!("ad_core::vjp: {e} (use try_vjp)"))
}

/// As [`vjp`], returning the error of a custom block's reverse rule that fails.
pub fn try_vjp<F: Function>(
    f: &F,
    x: &[f64],
    cotangent: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), GradientError> {
    let tape = Tape::new();
    let xs = tape.vars(x);
    let ys = f.eval(&xs);
    let adj = tape.try_vjp(&ys, cotangent)?;
    Ok((ys.iter().map(|y| y.value()).collect(), adj.wrt_all(&xs)))
}

/// The value `y = f(x)` and `y_dot = J t` (forward mode, one `Dual<1>` evaluation).
///
/// # Panics
/// If `tangent` and `x` differ in length (a contract violation), or a custom block's tangent
/// rule fails ([`try_jvp`] returns that error).
pub fn jvp<F: Function>(f: &F, x: &[f64], tangent: &[f64]) -> (Vec<f64>, Vec<f64>) {
    try_jvp(f, x, tangent).unwrap_or_else(|e| panic!("ad_core::jvp: {e} (use try_jvp)"))
}

/// As [`jvp`], returning the error of a custom block's tangent rule that fails
/// ([`GradientError::Block`] with `pass == "tangent"`). Blocks applied to
/// [`Dual`]s outside such a driver panic when their tangent rule fails: they have no other
/// way to report it. The failure is caught only on the calling thread (a block evaluated on
/// another thread by `f` panics there).
///
/// ```
/// use ad_core::{try_jvp, Block, BlockError, Function, GradientError, NoRule, Real};
///
/// /// `y = 2 x` with a reverse rule only.
/// struct Double;
/// impl Block for Double {
///     type Residuals = ();
///     fn forward(&self, x: &[f64], y: &mut [f64]) {
///         y[0] = 2.0 * x[0];
///     }
///     fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
///         x_bar[0] += 2.0 * y_bar[0];
///         Ok(())
///     }
/// }
/// struct F;
/// impl Function for F {
///     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
///         let mut y = [S::zero()];
///         S::apply_block(Double, x, &mut y);
///         vec![y[0]]
///     }
/// }
/// let err = try_jvp(&F, &[1.0], &[1.0]).unwrap_err();
/// let GradientError::Block { pass, source, .. } = &err else { panic!("{err}") };
/// assert_eq!(*pass, "tangent");
/// assert!(source.downcast_ref::<NoRule>().is_some());
/// ```
pub fn try_jvp<F: Function>(
    f: &F,
    x: &[f64],
    tangent: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), GradientError> {
    assert_eq!(
        x.len(),
        tangent.len(),
        "jvp: x and tangent differ in length"
    );
    let xs = Dual::<1>::along(x, tangent);
    let ys = catch_tangent_failures(|| f.eval(&xs))?;
    Ok((
        ys.iter().map(|y| y.v).collect(),
        ys.iter().map(|y| y.d[0]).collect(),
    ))
}

/// The exact Hessian-vector product `H v` of a scalar function (its first output), forward
/// over reverse: `f` runs on `Dual<1, Var>`, so the tangent `grad f . v` is itself recorded, and
/// one reverse sweep of it gives `H v`. Cost: about 2-3 gradient evaluations.
///
/// Custom blocks (solver and ODE solves) take part through their second-order rule
/// [`Block::jvp_nested`](crate::Block::jvp_nested); see the `block_nested` module.
///
/// ```
/// use ad_core::{hessian_vector_product, Function, Real};
///
/// struct F;
/// impl Function for F {
///     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
///         vec![x[0] * x[0] * x[1] + x[1].sin()]
///     }
/// }
/// // H = [[2 x1, 2 x0], [2 x0, -sin x1]]
/// let hv = hessian_vector_product(&F, &[1.0, 0.5], &[1.0, 0.0]);
/// assert!((hv[0] - 1.0).abs() < 1e-15 && (hv[1] - 2.0).abs() < 1e-15);
/// ```
///
/// # Panics
/// If `x` and `v` differ in length, `f` returns no output, or a block's derivative rule fails
/// (use [`try_hessian_vector_product`] to get that as an error).
pub fn hessian_vector_product<F: Function>(f: &F, x: &[f64], v: &[f64]) -> Vec<f64> {
    let r = try_hessian_vector_product(
        |xs| {
            let y = f.eval(xs);
            assert!(
                !y.is_empty(),
                "hessian_vector_product: f returned no output"
            );
            Ok::<_, GradientError>(y[0])
        },
        x,
        v,
    );
    match r {
        Ok((_, hv)) => hv,
        Err(e) => panic!("hessian_vector_product: {e}"),
    }
}

/// The value `f(x)` and the exact Hessian-vector product `H v` of a scalar function that can
/// fail (a loss that calls a solver), forward over reverse as [`hessian_vector_product`].
///
/// # Errors
/// The function's own error ([`GradientError::Function`]), or the first failure of a custom
/// block's rule ([`GradientError::Block`]: pass `"second-order"` for a tangent rule on nested
/// duals, e.g. a singular system met only by the tangent; `"reverse"` for the sweep).
///
/// # Panics
/// If `x` and `v` differ in length (a programming error).
///
/// ```
/// use ad_core::{try_hessian_vector_product, GradientError, Real};
///
/// fn loss<S: Real>(x: &[S]) -> Result<S, GradientError> {
///     Ok(x[0].powi(3) + x[0] * x[1])
/// }
/// // H = [[6 x0, 1], [1, 0]]
/// let (v, hv) = try_hessian_vector_product(|x| loss(x), &[2.0, 1.0], &[1.0, 1.0]).unwrap();
/// assert_eq!((v, hv), (10.0, vec![13.0, 1.0]));
/// ```
pub fn try_hessian_vector_product<F, E>(
    f: F,
    x: &[f64],
    v: &[f64],
) -> Result<(f64, Vec<f64>), GradientError>
where
    F: for<'t> Fn(&[Dual<1, Var<'t>>]) -> Result<Dual<1, Var<'t>>, E>,
    E: Into<BlockError>,
{
    assert_eq!(
        x.len(),
        v.len(),
        "hessian_vector_product: x and v differ in length"
    );
    let tape = Tape::new();
    let xs = tape.vars(x);
    let dirs: Vec<Var<'_>> = v.iter().map(|&vi| Var::constant(vi)).collect();
    let duals = Dual::along(&xs, &dirs);
    let y = crate::error::catch_tangent_failures(|| f(&duals))?
        .map_err(|e| GradientError::Function { source: e.into() })?;
    let adj = tape.try_gradient(y.d[0])?;
    Ok((y.v.value(), adj.wrt_all(&xs)))
}

/// `f64` values of a slice of scalars.
pub fn values<S: Real>(x: &[S]) -> Vec<f64> {
    x.iter().map(|v| v.value()).collect()
}
