//! # ad-core: automatic differentiation for ordinary generic Rust
//!
//! Write numerical code once, generic over [`Real`] (a superset of `num_traits::Float`). On
//! `f64` it runs at full speed; on [`Var`] (reverse mode, recorded on a [`Tape`]) it computes
//! gradients; on [`Dual`] (forward mode) it computes directional derivatives. Loops, branches,
//! data-dependent `while` loops, recursion, structs, trait objects and `&mut` updates need no
//! rewriting: the tape records what ran.
//!
//! ```
//! use ad_core::{gradient, Real};
//!
//! /// A projectile with drag, integrated until it lands: a data-dependent while loop.
//! fn range<S: Real>(p: &[S]) -> S {
//!     let (v0, drag) = (p[0], p[1]);
//!     let (mut x, mut y, mut vx, mut vy) = (S::zero(), S::zero(), v0 * 0.8, v0 * 0.6);
//!     let dt = 1e-3;
//!     while y >= 0.0 {
//!         let speed = (vx * vx + vy * vy).sqrt();
//!         vx -= drag * speed * vx * dt;
//!         vy -= (drag * speed * vy + 9.81) * dt;
//!         x += vx * dt;
//!         y += vy * dt;
//!     }
//!     x
//! }
//! let (r, g) = gradient(|p| range(p), &[20.0, 0.01]);
//! assert!(r > 0.0 && g[0] > 0.0 && g[1] < 0.0);
//! ```
//!
//! The pieces:
//! - [`Tape`], [`Var`], [`Adjoints`]: the reverse-mode tape (see the [`tape`] module docs for its
//!   memory layout) and [`gradient`], [`vjp`], [`jacobian`], [`par_gradients`];
//! - [`Dual`]: forward mode, [`jvp`], and exact [`hessian_vector_product`] (forward over
//!   reverse);
//! - [`Block`]: custom derivative rules — a heavy operation recorded as ONE node with a
//!   hand-written adjoint; [`Function`] for functions written once for all scalar types;
//! - [`checkpoint`] and [`revolve`]: bounded-memory reverse mode;
//! - [`sparsity`]: sparsity patterns and compressed Jacobians; [`trace`]: operations recorded
//!   once and replayed (values and vector-Jacobian products) at any point;
//! - [`testing`]: the shared gradient checker.
//!
//! The derivative table and its conventions at kinks (`abs` at 0, `max` on ties, ...) are
//! documented in one place: the private `table` module, summarised in `docs/ad-model.md`.
#![warn(missing_docs)]

#[macro_use]
mod traced;
pub mod array;
mod block;
mod block_nested;
mod checkpoint;
mod drivers;
mod dual;
mod error;
mod function;
mod pool;
mod real;
pub mod sparsity;
mod table;
pub mod tape;
pub mod testing;
pub mod trace;
mod var;

pub use array::{CsrMatrix, DenseMatrix, ElementFn, Matrix, RealArray, VarArray};
pub use block::Block;
pub use checkpoint::{
    binomial_advances, binomial_capacity, checkpoint, revolve, revolve_reverse, RevolveStats, Step,
};
pub use drivers::{
    gradient, hessian_vector_product, jacobian, jvp, par_gradients, try_gradient,
    try_hessian_vector_product, try_jacobian, try_jvp, try_vjp, values, vjp,
};
pub use dual::Dual;
pub use error::{BlockError, GradientError, NoRule};
pub use function::Function;
pub use pool::release_pooled_memory;
pub use real::Real;
pub use tape::{Adjoints, Tape};
pub use var::Var;
