//! The crate's error type.

/// Why a sensitivity analysis could not be set up or run. Every fallible function of this
/// crate returns it; no index is ever NaN.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The problem has no inputs.
    #[error("the problem has no inputs: give at least one (lo, hi) pair")]
    EmptyProblem,
    /// An input's bounds are not finite or not increasing.
    #[error("input {index}: bounds ({lo}, {hi}) must be finite with lo < hi")]
    InvalidBounds {
        /// Which input.
        index: usize,
        /// The lower bound given.
        lo: f64,
        /// The upper bound given.
        hi: f64,
    },
    /// An input's distribution has invalid parameters.
    #[error("input {index}: {reason}")]
    InvalidDistribution {
        /// Which input.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A length does not match.
    #[error("{what} has length {got}, expected {expected}")]
    DimensionMismatch {
        /// Which value.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The scrambled Sobol' generator supports at most 2^16 points and 256 dimensions.
    #[error(
        "the scrambled Sobol' sequence has at most {max} {what}, {got} requested: use \
         Sampling::MonteCarlo or Sampling::LatinHypercube for larger designs"
    )]
    SobolLimit {
        /// "points" or "dimensions".
        what: &'static str,
        /// How many were requested.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// The model failed on one sample (an ODE solve that failed, a non-finite output).
    #[error(
        "the model failed on sample {index} (input {input:?}): {reason}; set \
         on_failure = OnFailure::Drop to drop failed samples and count them"
    )]
    SampleFailed {
        /// The sample's row index in the design.
        index: usize,
        /// The model input of that sample.
        input: Vec<f64>,
        /// Why it failed.
        reason: String,
    },
    /// The model returned a different number of outputs for different samples.
    #[error("sample {index} has {got} outputs, the first sample had {expected}")]
    InconsistentOutputs {
        /// The sample's row index.
        index: usize,
        /// Outputs of the first sample.
        expected: usize,
        /// Outputs of this sample.
        got: usize,
    },
    /// Too few samples remain (after dropping failed ones) to estimate anything.
    #[error(
        "only {remaining} usable samples remain ({dropped} dropped): at least {needed} are needed"
    )]
    TooFewSamples {
        /// Samples left.
        remaining: usize,
        /// Samples dropped as failed.
        dropped: usize,
        /// The minimum.
        needed: usize,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A saved file could not be parsed.
    #[error("{path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A run split across MPI ranks failed as a whole: the ranks were given different
    /// problems (every rank gets this same error).
    #[error("distributed run: {0}")]
    Distributed(#[from] ode::distributed::Error),
}
