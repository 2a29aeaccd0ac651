//! Automatic sparsity detection: the structural pattern of a Jacobian, found by running the
//! user's generic code once on [`Tracer`], a scalar type implementing [`Real`](crate::Real)
//! that carries, beside its value, the set of inputs it depends on.
//!
//! Every operation on tracers takes the union of its arguments' dependency sets (unary
//! functions keep their argument's set; functions whose derivative is zero everywhere —
//! `floor`, `ceil`, `round`, `trunc`, `signum` — return the empty set). The sets are
//! *structural*: an entry whose partial derivative happens to be zero at the traced point
//! (`d/du [u (1 - u)]` at `u = 1/2`) is still in the pattern, unlike a pattern read off a
//! numerical Jacobian.
//!
//! The pattern is *global* — valid at every point — unless the code looked at a value of a
//! traced quantity: a comparison (`x > 0.0`, `x.max(y)` is fine, `if x > y` is not), or
//! [`Real::value`](crate::Real::value) / a conversion to a primitive. Such a branch may read
//! other inputs elsewhere, so [`Sparsity::is_local`] then reports that the pattern holds at the
//! traced point only, and callers that need an exact pattern (a compressed Jacobian used for
//! gradients) fall back to another method. `max`, `min`, `abs` and `powf` are traced as unions
//! and keep the pattern global. A custom [`Block`](crate::Block) is traced as dense (every
//! output depends on every input).
//!
//! ```
//! use ad_core::{sparsity::jacobian_sparsity, Real};
//!
//! // f_i = x_{i-1} - 2 x_i + x_{i+1} (clamped at the ends): a tridiagonal Jacobian
//! fn laplace<S: Real>(x: &[S], y: &mut [S]) {
//!     let n = x.len();
//!     for i in 0..n {
//!         let l = if i > 0 { x[i - 1] } else { S::zero() };
//!         let r = if i + 1 < n { x[i + 1] } else { S::zero() };
//!         y[i] = l - x[i] * 2.0 + r;
//!     }
//! }
//! let s = jacobian_sparsity(&[1.0; 5], 5, usize::MAX, laplace).unwrap();
//! assert_eq!(s.row(0), &[0, 1]);
//! assert_eq!(s.row(2), &[1, 2, 3]);
//! assert_eq!(s.nnz(), 13);
//! assert!(!s.is_local());
//! ```

use std::fmt;

// The stages, one file each: `tracer` (the scalar that carries dependency sets, and the
// detection run), `pattern` (the detected pattern), `colouring` (columns that share no row),
// `compressed` (Jacobian values and products by compressed forward mode).
mod colouring;
mod compressed;
mod pattern;
mod tracer;

pub use compressed::{CompressedJacobian, LANES};
pub use pattern::Sparsity;
pub use tracer::{global_jacobian_sparsity, jacobian_sparsity, Tracer};

/// Why [`jacobian_sparsity`] gave no pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SparsityError {
    /// An output depends on more inputs than the limit: use a dense Jacobian.
    TooDense {
        /// The limit passed in.
        limit: usize,
        /// The first output over it.
        output: usize,
    },
    /// `jacobian_sparsity` was called from code it was tracing.
    Nested,
    /// The traced code compared or read a value that depends on the inputs, so the pattern
    /// holds at the traced point only ([`Sparsity::is_local`]): returned by
    /// [`global_jacobian_sparsity`], whose callers then use a dense Jacobian (or detect
    /// again at every point).
    Local,
}

impl fmt::Display for SparsityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparsityError::TooDense { limit, output } => write!(
                f,
                "output {output} depends on more than {limit} inputs: the Jacobian is dense"
            ),
            SparsityError::Nested => write!(f, "jacobian_sparsity called while tracing"),
            SparsityError::Local => write!(
                f,
                "the traced code branched on a value: the pattern holds at the traced point only"
            ),
        }
    }
}

impl std::error::Error for SparsityError {}
