//! The crate's error type.

/// What can go wrong in a solve. Contract violations by the programmer that cannot be expressed
/// as data (none so far) panic; everything that depends on the numbers is reported here.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A zero (or numerically zero: below `n * eps * max|A|`) pivot appeared at elimination step
    /// `pivot`: the matrix is singular to working precision.
    #[error("the matrix is singular at pivot {pivot}: check for a repeated or zero row/column")]
    Singular {
        /// Elimination step (0-based) whose pivot vanished.
        pivot: usize,
    },
    /// The Cholesky factorisation met a non-positive pivot: the matrix is not symmetric positive
    /// definite. Use an LU factorisation for indefinite matrices.
    #[error(
        "the matrix is not positive definite (non-positive pivot at index {index}); use an LU \
         factorisation for indefinite matrices"
    )]
    NotPositiveDefinite {
        /// Index (0-based) of the failing pivot.
        index: usize,
    },
    /// A least-squares matrix has (numerically) dependent columns.
    #[error(
        "the matrix is rank deficient: column {column} of {ncols} is (numerically) a combination \
         of the previous ones"
    )]
    RankDeficient {
        /// Column (0-based) whose diagonal entry of R vanished.
        column: usize,
        /// Number of columns.
        ncols: usize,
    },
    /// Shapes do not fit together: `expected` is what the other arguments imply.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Which argument.
        what: &'static str,
        /// The size implied by the other arguments.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// An iterative method stopped at its iteration limit before reaching the tolerance.
    #[error(
        "not converged after {iterations} iterations (residual {residual:.3e}); increase the \
         iteration limit, loosen the tolerance or use a better preconditioner"
    )]
    NotConverged {
        /// Iterations performed.
        iterations: usize,
        /// Final (relative) residual.
        residual: f64,
    },
    /// A NaN or infinity appeared.
    #[error("non-finite value (NaN or infinity) in {what}")]
    NonFinite {
        /// Where: an input name ("matrix", "right-hand side") or a stage ("solution").
        what: &'static str,
    },
    /// A sparse matrix's pattern does not fit the factorisation (e.g. a symbolic factorisation
    /// reused with another pattern) or an entry is out of range.
    #[error("invalid sparsity pattern: {what}")]
    InvalidPattern {
        /// What is wrong.
        what: &'static str,
    },
    /// The line search of a Newton iteration could not reduce the residual.
    #[error(
        "line search failed at Newton iteration {iteration} (residual {residual:.3e}); start \
         closer to the solution or check the Jacobian"
    )]
    LineSearchFailed {
        /// Newton iteration.
        iteration: usize,
        /// Residual norm when the search failed.
        residual: f64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
