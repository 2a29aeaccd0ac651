//! Functions generic over the scalar type, as values.

use crate::real::Real;

/// A vector function `y = f(x)` written once for every scalar type.
///
/// Rust closures cannot be generic, so routines that must run the same function on `f64`,
/// `Var` and `Dual` (checkpointing, [`jacobian`](crate::jacobian), the gradient checker) take a
/// value implementing this trait.
///
/// ```
/// use ad_core::{Function, Real};
///
/// struct Polar;
/// impl Function for Polar {
///     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
///         vec![x[0] * x[1].cos(), x[0] * x[1].sin()]
///     }
/// }
/// let (y, jac) = ad_core::jacobian(&Polar, &[2.0, 0.0]);
/// assert_eq!(y, vec![2.0, 0.0]);
/// assert_eq!(jac, vec![vec![1.0, 0.0], vec![0.0, 2.0]]);
/// ```
pub trait Function {
    /// Evaluates `f(x)`.
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S>;
}
