//! # optim: optimizers fed by Wengert's gradients
//!
//! [`minimize`] takes an objective that returns its value and writes its gradient — from
//! [`ad_core::gradient`], a solver's adjoint, or by hand — and runs the [`Method`] chosen in
//! [`Options`]: L-BFGS (default), gradient descent, or Adam; all accept box bounds.
//! [`least_squares`](fn@least_squares) minimises `sum r_i(theta)^2` for residuals written once, generic over
//! [`Real`] (an [`ad_core::Function`]), by Levenberg-Marquardt or Gauss-Newton, with the
//! Jacobian from forward or reverse mode (whichever is cheaper for its shape).
//! [`fit`] (feature `fit`, default) fits an `ode::OdeSystem`'s parameters to observations with
//! either, the gradient from the ODE adjoint, and reports standard errors.
//!
//! ```
//! use optim::{minimize, Options, Real, Termination};
//!
//! fn rosenbrock<S: Real>(x: &[S]) -> S {
//!     x.windows(2)
//!         .map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + (S::one() - w[0]).powi(2))
//!         .sum()
//! }
//! let objective = |x: &[f64], g: &mut [f64]| {
//!     let (v, grad) = ad_core::gradient(|x| rosenbrock(x), x);
//!     g.copy_from_slice(&grad);
//!     v
//! };
//! let opts = Options::default().with_grad_tol(1e-8)?;
//! let report = minimize(objective, &[-1.2, 1.0, -1.2, 1.0], &opts)?;
//! assert_eq!(report.termination, Termination::GradientTolerance);
//! assert!(report.x.iter().all(|&xi| (xi - 1.0).abs() < 1e-6));
//! # Ok::<(), optim::Error>(())
//! ```
//!
//! Every run ends with a [`Report`] whose [`Termination`] says why it stopped; bad input
//! (an empty or non-finite start, a non-finite objective at the start, invalid bounds or
//! tolerances) is an [`Error`]. [`minimize_observed`] and [`least_squares_observed`] call an
//! [`Observer`] after every iteration; [`Progress`] prints a line per iteration.
//!
//! The algorithms and their sources are in `docs/optim.md`; fitting in `docs/fitting.md`.
#![warn(missing_docs)]

mod adam;
mod bounds;
mod descent;
mod error;
#[cfg(feature = "fit")]
pub mod fit;
mod lbfgs;
pub mod least_squares;
mod line_search;
#[cfg(feature = "fit")]
mod multi;
mod objective;
pub mod observer;
mod options;
mod report;

use std::time::Instant;

pub use ad_core::{Function, Real};
pub use bounds::Bounds;
pub use error::Error;
#[cfg(feature = "fit")]
pub use fit::{FitMethod, FitProblem, FitReport, Observations, Transform};
pub use least_squares::{
    least_squares, least_squares_observed, LeastSquaresMethod, LeastSquaresOptions,
    LeastSquaresReport,
};
#[cfg(feature = "fit")]
pub use multi::{MultiFit, MultiFitReport};
pub use observer::{Control, Iteration, Observer, Progress};
pub use options::{LineSearch, Method, Options};
pub use report::{Report, Termination};

/// Minimises `f` from `x0`. `f(x, g)` returns the value at `x` and writes the gradient into
/// `g` (zeroed before each call).
///
/// Errors if `x0` is empty or not finite, if the bounds have the wrong length, or if the value
/// or gradient at the start is not finite. A start outside the bounds is projected into them.
/// Later non-finite values are handled by the line search (the step is shortened).
pub fn minimize<F>(f: F, x0: &[f64], opts: &Options) -> Result<Report, Error>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    minimize_observed(f, x0, opts, &mut observer::Silent)
}

/// [`minimize`] with an [`Observer`] called after every iteration (and once at the start).
pub fn minimize_observed<F>(
    f: F,
    x0: &[f64],
    opts: &Options,
    observer: &mut dyn Observer,
) -> Result<Report, Error>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let start = Instant::now();
    objective::check_start(x0)?;
    objective::check_bounds(opts.bounds(), x0.len())?;
    let mut x = x0.to_vec();
    bounds::project(opts.bounds(), &mut x);
    let mut obj = objective::Objective::new(f);
    match opts.method() {
        Method::Adam { .. } => adam::run(&mut obj, x, opts, observer, start),
        _ => descent::run(&mut obj, x, opts, observer, start),
    }
}

/// docs/optim.md's code blocks, compiled and run as doctests so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/optim.md")]
pub struct GuideDoctests;

/// docs/fitting.md's code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "fit"))]
#[doc = include_str!("../../docs/fitting.md")]
pub struct FittingDoctests;
