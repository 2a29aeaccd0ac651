//! The crate's error type.

/// Why an optimisation could not start. Normal stopping reasons (tolerances reached, iteration
/// limits, a failed line search) are not errors: they are a [`Termination`](crate::Termination)
/// in the [`Report`](crate::Report).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The starting point has no components.
    #[error("the starting point x0 is empty: pass at least one parameter")]
    EmptyStart,
    /// The starting point contains NaN or an infinity.
    #[error("x0[{index}] = {value} is not finite: start from finite values")]
    NonFiniteStart {
        /// Index of the first non-finite component.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The objective returned a non-finite value at the starting point.
    #[error("the objective value at the starting point is {value}: the start must be a point where the objective is finite")]
    NonFiniteValue {
        /// The value returned.
        value: f64,
    },
    /// The gradient written by the objective at the starting point has a non-finite component.
    #[error("gradient component {index} at the starting point is {value}: check the gradient code (or the start)")]
    NonFiniteGradient {
        /// Index of the first non-finite component.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A residual or a Jacobian entry is non-finite at the starting point (least squares).
    #[error("{what} {index} at the starting point is {value}: the residuals must be finite at the start")]
    NonFiniteResidual {
        /// "residual" or "Jacobian entry".
        what: &'static str,
        /// Index (row-major for the Jacobian) of the first non-finite entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Lower bound above the upper bound, or a NaN bound.
    #[error("bounds for component {index} are invalid: lower {lower} > upper {upper} (or NaN); each lower bound must be <= its upper bound")]
    InvalidBounds {
        /// Component index.
        index: usize,
        /// Its lower bound.
        lower: f64,
        /// Its upper bound.
        upper: f64,
    },
    /// An option has an invalid value (a negative tolerance, a zero history size, ...).
    #[error("option {name} = {value} is invalid: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// The value passed.
        value: f64,
        /// What is expected.
        reason: &'static str,
    },
    /// An input has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    DimensionMismatch {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// `J^T J` is singular at the solution, so the covariance is undefined (some parameters are
    /// not identifiable from the data).
    #[error("J^T J is singular (pivot {pivot}): parameter {pivot} is not identifiable from these residuals; fix it or add data")]
    SingularJacobian {
        /// Index of the first zero pivot.
        pivot: usize,
    },
    /// The ODE solve failed at the starting parameters (later failures only shorten steps).
    #[cfg(feature = "fit")]
    #[error("the ODE solve failed at the starting parameters: {0}")]
    Ode(#[from] ode::Error),
    /// A multi-experiment fit ([`MultiFit`](crate::MultiFit)) failed as a whole: an
    /// experiment's solve failed at the start (the lowest failing index), or, over MPI, the
    /// ranks were given different problems. Every rank returns the same error.
    #[cfg(feature = "fit")]
    #[error("multi-experiment fit: {0}")]
    Distributed(#[from] ode::distributed::Error),
    /// A fit without observations (no times, or no observed component): there is nothing to
    /// fit, and the start would be returned as the answer.
    #[error("the observations are empty ({times} times, {components} observed components): a fit needs data")]
    NoObservations {
        /// Number of observation times.
        times: usize,
        /// Number of observed components.
        components: usize,
    },
    /// Observation times that are not finite, not strictly increasing, or before `t0`.
    #[error("observation time {index} = {time} is invalid: times must be finite, strictly increasing and not before t0 = {t0}")]
    InvalidTimes {
        /// Index of the first invalid time.
        index: usize,
        /// Its value.
        time: f64,
        /// The start time of the problem.
        t0: f64,
    },
    /// Fewer residuals than parameters: the residual variance `s^2 = |r|^2 / (m - n)` is undefined.
    #[error("{residuals} residuals for {parameters} parameters: the covariance needs more residuals than parameters")]
    TooFewResiduals {
        /// Number of residuals.
        residuals: usize,
        /// Number of parameters.
        parameters: usize,
    },
}
