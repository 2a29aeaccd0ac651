//! Custom derivative rules: a block operation with a hand-written adjoint.
//!
//! A [`Block`] maps `n` inputs to `m` outputs. Its forward pass works on `f64` slices and returns
//! *residuals* — owned data the derivative passes need (a factorisation, a copy of the inputs).
//! [`Real::apply_block`] applies it to any scalar type: on the tape it appears as ONE node whose
//! reverse step calls [`Block::vjp`] on slices of the adjoint vector, however many scalar
//! operations the forward pass performed.
//!
//! ```
//! use ad_core::{gradient, Block, Real};
//!
//! /// y = A x for a fixed 2x2 matrix, with its transpose as the reverse rule.
//! struct MatVec([[f64; 2]; 2]);
//!
//! impl Block for MatVec {
//!     type Residuals = ();
//!     fn forward(&self, x: &[f64], y: &mut [f64]) {
//!         for i in 0..2 {
//!             y[i] = self.0[i][0] * x[0] + self.0[i][1] * x[1];
//!         }
//!     }
//!     fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) {
//!         for j in 0..2 {
//!             x_bar[j] += self.0[0][j] * y_bar[0] + self.0[1][j] * y_bar[1];
//!         }
//!     }
//!     fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) {
//!         self.forward(x_dot, y_dot);
//!     }
//! }
//!
//! fn f<S: Real>(x: &[S]) -> S {
//!     let mut y = [S::zero(); 2];
//!     S::apply_block(MatVec([[1.0, 2.0], [3.0, 4.0]]), x, &mut y);
//!     y[0] * y[1]
//! }
//! let (v, g) = gradient(|x| f(x), &[1.0, 1.0]);
//! assert_eq!(v, 21.0);
//! // grad = A^T (y1, y0) = A^T (7, 3)
//! assert_eq!(g, vec![1.0 * 7.0 + 3.0 * 3.0, 2.0 * 7.0 + 4.0 * 3.0]);
//! ```

use crate::dual::Dual;
use crate::real::Real;
use crate::tape::{Item, RecordedBlock};
use crate::var::Var;

/// A block operation with its own derivative rules, applied with [`Real::apply_block`].
///
/// Implementations must be consistent: `vjp` is the transpose of `jvp`, and both are the
/// derivative of `forward` at the point the residuals were computed. Check them with
/// [`testing::check_function`](crate::testing::check_function).
pub trait Block: 'static {
    /// What the forward pass keeps for the derivative passes (owned: inputs may be gone or
    /// overwritten by the time the reverse sweep runs).
    type Residuals: 'static;

    /// Computes the outputs `y` from the inputs `x`.
    fn forward(&self, x: &[f64], y: &mut [f64]) -> Self::Residuals;

    /// Reverse rule: ADDS `J^T y_bar` to `x_bar`.
    fn vjp(&self, residuals: &Self::Residuals, y_bar: &[f64], x_bar: &mut [f64]);

    /// Forward rule: WRITES `J x_dot` to `y_dot`.
    fn jvp(&self, residuals: &Self::Residuals, x_dot: &[f64], y_dot: &mut [f64]);
}

/// A block and its residuals, kept on the tape until the reverse sweep.
struct Recorded<B: Block> {
    block: B,
    residuals: B::Residuals,
    /// The block's inputs: nodes `in_start..in_start + n_in`.
    in_start: usize,
    n_in: usize,
}

impl<B: Block> RecordedBlock for Recorded<B> {
    fn vjp(&self, y_bar: &[f64], below: &mut [f64]) {
        let x_bar = &mut below[self.in_start..self.in_start + self.n_in];
        self.block.vjp(&self.residuals, y_bar, x_bar);
    }
}

/// `Real::apply_block` for `Var`.
pub(crate) fn apply_var<'t, B: Block>(block: B, x: &[Var<'t>], y: &mut [Var<'t>]) {
    let xv: Vec<f64> = x.iter().map(|v| v.value()).collect();
    let mut yv = vec![0.0; y.len()];
    let residuals = block.forward(&xv, &mut yv);
    let Some(tape) = x.iter().find_map(|v| v.tape()) else {
        for (yi, &v) in y.iter_mut().zip(&yv) {
            *yi = Var::constant(v);
        }
        return;
    };
    // The block's inputs must be one contiguous run of nodes: use the inputs' own run if they
    // form one, else record a copy of each (constants become nodes with a zero partial).
    let contiguous = x
        .iter()
        .enumerate()
        .all(|(i, v)| v.index_on(tape) == Some(x[0].index().wrapping_add(i as u32)));
    let in_start = if contiguous {
        x[0].index()
    } else {
        let mut start = None;
        for v in x {
            let i = match v.index_on(tape) {
                Some(p) => tape.push1(p, 1.0),
                None => tape.push_constant_node(),
            };
            start.get_or_insert(i);
        }
        start.unwrap_or(0)
    };
    let record = Recorded {
        block,
        residuals,
        in_start: in_start as usize,
        n_in: x.len(),
    };
    let out = tape.push_item(Item::Block(Box::new(record)), y.len());
    for (i, (yi, &v)) in y.iter_mut().zip(&yv).enumerate() {
        *yi = Var::on_tape(v, out + i as u32, tape);
    }
}

/// `Real::apply_block` for `Dual`: the primal by `forward`, each tangent direction by `jvp`.
pub(crate) fn apply_dual<const N: usize, T: Real, B: Block>(
    block: B,
    x: &[Dual<N, T>],
    y: &mut [Dual<N, T>],
) {
    assert!(
        x.iter()
            .all(|d| d.v.is_constant() && d.d.iter().all(|t| t.is_constant())),
        "ad_core: custom blocks have first-order rules only; they cannot be applied to nested \
         duals (Dual<N, Var> or Dual<N, Dual<M>>), e.g. inside hessian_vector_product"
    );
    let xv: Vec<f64> = x.iter().map(|d| d.v.value()).collect();
    let mut yv = vec![0.0; y.len()];
    let residuals = block.forward(&xv, &mut yv);
    for (yi, &v) in y.iter_mut().zip(&yv) {
        *yi = Dual::constant(T::cst(v));
    }
    let mut x_dot = vec![0.0; x.len()];
    let mut y_dot = vec![0.0; y.len()];
    for k in 0..N {
        for (xd, d) in x_dot.iter_mut().zip(x) {
            *xd = d.d[k].value();
        }
        block.jvp(&residuals, &x_dot, &mut y_dot);
        for (yi, &yd) in y.iter_mut().zip(&y_dot) {
            yi.d[k] = T::cst(yd);
        }
    }
}
