//! Why a derivative could not be computed: the errors of the derivative passes.

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
