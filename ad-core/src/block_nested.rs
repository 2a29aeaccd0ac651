//! Second order through custom rules: a [`Block`] applied to nested duals.
//!
//! A Hessian-vector product runs `f` on `Dual<1, Var>` (forward over reverse, see
//! [`hessian_vector_product`](crate::hessian_vector_product)): every scalar carries a value
//! and a tangent that are both taped. A block's first-order rules work on `f64` and cannot
//! record their tangent on the tape, so for inputs whose inner scalars carry derivatives
//! [`Real::apply_block`] on `Dual<N, T>` takes this path instead:
//!
//! - the primal `y = f(x)` is computed by applying the block itself on `T` (for `T = Var` one
//!   first-order node, differentiated by [`Block::vjp`]);
//! - each tangent direction `y_dot = J(x) x_dot` by [`Block::jvp_nested`], the tangent rule
//!   written with differentiable operations on `T` (as JAX writes its `jvp` rules in
//!   differentiable primitives), so that the reverse sweep differentiates the tangent again:
//!   the `x` part of that sweep is the second-order term `(d/dx (J x_dot))^T y_dot_bar`, the
//!   `x_dot` part `J^T y_dot_bar`.
//!
//! For a linear solve `x = A^{-1} b` the nested rule is `x_dot = A^{-1} (b_dot - A_dot x)`,
//! computed with the solver's own generic solve on `T`; for an implicit function `F(x, p) = 0`
//! it is `x_dot = -F_x^{-1} F_p p_dot`; for an ODE solve the forward sensitivity along
//! `(y0_dot, p_dot)` solved on `T`, whose reverse pass is then the solver's adjoint (adjoint
//! over forward). See `docs/ad-model.md`, "Second order through custom rules".
//!
//! A rule that fails (a singular system met only by the tangent) cannot return through
//! [`Real::apply_block`]: inside [`try_hessian_vector_product`](crate::try_hessian_vector_product)
//! (and [`hessian_vector_product`](crate::hessian_vector_product), which panics with it) the
//! first failure is kept as [`GradientError::Block`] with pass `"second-order"` and returned,
//! the failed tangents are NaN meanwhile; elsewhere (nested duals built by hand) the failure
//! panics with the error.

use std::sync::Arc;

use crate::block::Block;
use crate::dual::Dual;
use crate::error::BlockError;
use crate::real::Real;
use crate::tape::BlockInputs;

/// A block shared by the primal application on `T` and the nested tangent rule
/// ([`Real::apply_block`] takes its block by value).
struct SharedBlock<B: Block>(Arc<B>);

impl<B: Block> Block for SharedBlock<B> {
    type Residuals = B::Residuals;

    fn forward(&self, x: &[f64], y: &mut [f64]) -> Self::Residuals {
        self.0.forward(x, y)
    }

    fn vjp(&self, r: &Self::Residuals, y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        self.0.vjp(r, y_bar, x_bar)
    }

    fn jvp(&self, r: &Self::Residuals, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.0.jvp(r, x_dot, y_dot)
    }

    fn vjp_write(
        &self,
        r: &Self::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError> {
        self.0.vjp_write(r, y_bar, x_bar)
    }

    fn forward_from(&self, x: &BlockInputs<'_>, y: &mut [f64]) -> Self::Residuals {
        self.0.forward_from(x, y)
    }

    fn reads_inputs(&self) -> bool {
        self.0.reads_inputs()
    }

    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        y: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        self.0.jvp_nested(x, y, x_dot, y_dot)
    }
}

/// True if some input's inner scalars carry derivatives (the value or a tangent is not a
/// constant): the block must be applied by [`apply_nested`].
pub(crate) fn is_nested<const N: usize, T: Real>(x: &[Dual<N, T>]) -> bool {
    !x.iter()
        .all(|d| d.v.is_constant() && d.d.iter().all(|t| t.is_constant()))
}

/// `Real::apply_block` for `Dual<N, T>` whose inner scalars carry derivatives: the primal by
/// applying the block on `T`, each tangent direction by [`Block::jvp_nested`].
pub(crate) fn apply_nested<const N: usize, T: Real, B: Block>(
    block: B,
    x: &[Dual<N, T>],
    y: &mut [Dual<N, T>],
) {
    let block = Arc::new(block);
    let xv: Vec<T> = x.iter().map(|d| d.v).collect();
    let mut yv = vec![T::zero(); y.len()];
    T::apply_block(SharedBlock(Arc::clone(&block)), &xv, &mut yv);
    for (yi, &v) in y.iter_mut().zip(&yv) {
        *yi = Dual::constant(v);
    }
    let mut x_dot = vec![T::zero(); x.len()];
    let mut y_dot = vec![T::zero(); y.len()];
    for k in 0..N {
        for (xd, d) in x_dot.iter_mut().zip(x) {
            *xd = d.d[k];
        }
        // a direction with no tangent at all has none out either (the rule is linear in it)
        if x_dot.iter().all(|t| t.is_constant() && t.is_zero()) {
            continue;
        }
        y_dot.fill(T::zero());
        if let Err(e) = block.jvp_nested(&xv, &yv, &x_dot, &mut y_dot) {
            crate::error::tangent_failed(std::any::type_name::<B>(), "second-order", e);
            y_dot.fill(T::nan());
        }
        for (yi, &yd) in y.iter_mut().zip(&y_dot) {
            yi.d[k] = yd;
        }
    }
}
