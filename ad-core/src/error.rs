//! Why a derivative could not be computed: the errors of the derivative passes.

use std::cell::RefCell;
use std::error::Error as StdError;
use std::fmt;

/// The error a custom rule ([`Block::vjp`](crate::Block::vjp), [`Block::jvp`](crate::Block::jvp))
/// returns: the typed error of the crate that raised it (a `solvers::Error`, an `ode::Error`),
/// boxed. Callers get it back through [`GradientError::Block`] and can downcast it.
pub type BlockError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a derivative pass failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GradientError {
    /// The differentiated function itself returned an error (a failed solve on the forward
    /// pass): `source` is that error.
    Function {
        /// The error the function returned (downcast it to the raising crate's error type).
        source: BlockError,
    },
    /// A custom block's derivative rule failed (a singular adjoint system, a failed adjoint
    /// solve, a non-finite partial): `source` is the error it returned.
    Block {
        /// The block's type name.
        block: &'static str,
        /// The pass that failed: `"reverse"` or `"tangent"`.
        pass: &'static str,
        /// The error the rule returned (downcast it to the raising crate's error type).
        source: BlockError,
    },
}

impl GradientError {
    /// The error the function or a rule returned (downcast it to the raising crate's error type).
    pub fn block_source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self {
            GradientError::Block { source, .. } | GradientError::Function { source } => {
                Some(source.as_ref())
            }
        }
    }
}

impl fmt::Display for GradientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradientError::Function { source } => write!(f, "{source}"),
            GradientError::Block {
                block,
                pass,
                source,
            } => write!(f, "the {pass} rule of block {block} failed: {source}"),
        }
    }
}

impl StdError for GradientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            GradientError::Block { source, .. } | GradientError::Function { source } => {
                Some(source.as_ref())
            }
        }
    }
}

/// The error of a block that has no rule for the pass asked of it (the default
/// [`Block::jvp`](crate::Block::jvp): a reverse-only rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoRule {
    /// The block's type name.
    pub block: &'static str,
    /// The missing rule: `"tangent"` or `"second-order"`.
    pub rule: &'static str,
}

impl fmt::Display for NoRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block {} has no {} rule: differentiate it in reverse mode (gradient, vjp)",
            self.block, self.rule
        )
    }
}

impl StdError for NoRule {}

// ---------------------------------------------------------------- tangent failures

thread_local! {
    /// The failures of blocks' tangent rules on this thread while a fallible forward-mode
    /// driver runs: `None` when none runs (a failure then panics), else the first failure.
    static TANGENT_FAILURES: RefCell<Option<Option<GradientError>>> = const { RefCell::new(None) };
}

/// Reports that the tangent rule of block `block` failed with `source` (`pass`: `"tangent"`,
/// or `"second-order"` for a nested rule), while
/// [`Real::apply_block`](crate::Real::apply_block) runs on [`Dual`](crate::Dual)s.
///
/// Inside a fallible forward-mode driver ([`try_jvp`](crate::try_jvp),
/// [`try_jacobian`](crate::try_jacobian),
/// [`try_hessian_vector_product`](crate::try_hessian_vector_product)) on this thread, the first
/// failure is kept for the driver to return, and this returns: the caller sets the block's
/// output tangents to NaN and the evaluation finishes. Anywhere else (direct use of `Dual`)
/// it panics with the error: there is no channel to return it through.
pub(crate) fn tangent_failed(block: &'static str, pass: &'static str, source: BlockError) {
    let error = GradientError::Block {
        block,
        pass,
        source,
    };
    let unhandled = TANGENT_FAILURES.with(|c| match &mut *c.borrow_mut() {
        Some(first) => {
            first.get_or_insert(error);
            None
        }
        None => Some(error),
    });
    if let Some(e) = unhandled {
        panic!(
            "ad_core: {e} (use try_jvp, try_jacobian or try_hessian_vector_product to handle it)"
        );
    }
}

/// Runs `f` with the tangent failures of blocks on this thread caught (see
/// [`tangent_failed`]): `f`'s result, or the first failure. Nests; a panic unwinding out of
/// `f` restores the outer state.
pub(crate) fn catch_tangent_failures<R>(f: impl FnOnce() -> R) -> Result<R, GradientError> {
    /// Puts the outer state back on drop.
    struct Restore(Option<Option<GradientError>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            TANGENT_FAILURES.with(|c| *c.borrow_mut() = outer);
        }
    }
    let outer = TANGENT_FAILURES.with(|c| c.borrow_mut().replace(None));
    let restore = Restore(outer);
    let r = f();
    let failed = TANGENT_FAILURES.with(|c| c.borrow_mut().as_mut().and_then(Option::take));
    drop(restore);
    match failed {
        Some(e) => Err(e),
        None => Ok(r),
    }
}
