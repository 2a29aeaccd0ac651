//! The crate's error type.

/// Why a solve failed. Every fallible function of this crate returns it; a solve never returns
/// NaN silently and never hangs (see [`Options::max_steps`](crate::Options::max_steps)).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The adaptive step size fell below the round-off level of `t`: the solution is probably
    /// blowing up (finite-time singularity) or the problem is stiff.
    #[error(
        "step size {h:e} too small at t = {t}: the solution may blow up near t, or the problem \
         is stiff (use a stiff method) or the tolerances are too tight"
    )]
    StepSizeTooSmall {
        /// Time at which the step failed.
        t: f64,
        /// The rejected step size.
        h: f64,
    },
    /// The solver took `steps` steps (accepted and rejected) without reaching the end.
    #[error("{steps} steps taken without reaching the final time (stopped at t = {t}): increase Options::max_steps or loosen the tolerances")]
    MaxStepsReached {
        /// Time reached.
        t: f64,
        /// Steps taken (accepted and rejected).
        steps: usize,
    },
    /// A non-finite value (NaN or infinity) appeared in the state or its derivative.
    #[error("non-finite value in component {component} of the state or its derivative at t = {t}: check the right-hand side and the initial state")]
    NonFinite {
        /// Time at which it appeared.
        t: f64,
        /// Index of the first non-finite component.
        component: usize,
    },
    /// An input has the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    DimensionMismatch {
        /// Which input.
        what: &'static str,
        /// The length the system requires.
        expected: usize,
        /// The length passed.
        got: usize,
    },
    /// The Newton iteration of an implicit (stiff) method failed to converge repeatedly, even
    /// with a fresh Jacobian and smaller steps.
    #[error("Newton iteration failed to converge at t = {t} with step size {h:e}: check the right-hand side for discontinuities or non-finite values, or loosen the tolerances")]
    ConvergenceFailure {
        /// Time at which the step failed.
        t: f64,
        /// The last step size tried.
        h: f64,
    },
    /// The error test of a stiff method failed repeatedly on one step.
    #[error("{failures} error-test failures on one step at t = {t} (step size {h:e}): the solution may be non-smooth near t, or the tolerances too tight")]
    ErrorTestFailures {
        /// Time at which the step failed.
        t: f64,
        /// The last step size tried.
        h: f64,
        /// Consecutive failures.
        failures: usize,
    },
    /// The iteration matrix `I - c J` of a stiff method was singular at every step size tried.
    #[error("singular iteration matrix at t = {t} with step size {h:e}: the Jacobian may be non-finite or the problem ill-posed")]
    SingularIterationMatrix {
        /// Time at which the step failed.
        t: f64,
        /// The last step size tried.
        h: f64,
    },
    /// Two options that cannot be combined (as diffrax reports an incompatible solver and
    /// adjoint): never replaced silently by something else.
    #[error("{method:?} cannot be combined with {sensitivity:?}: {why}")]
    IncompatibleOptions {
        /// The integration method.
        method: crate::Method,
        /// The sensitivity method.
        sensitivity: crate::Sensitivity,
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// An event could not be handled: its function or its state change gave a non-finite
    /// value, or its time has no derivative (a grazing crossing, `dg/dt = 0` along the
    /// solution).
    #[error("event {event:?} at t = {t}{}: {why}", component.map_or(String::new(), |c| format!(" (component {c})")))]
    Event {
        /// Time of the event.
        t: f64,
        /// Which event.
        event: crate::events::Event,
        /// The state component, where one is at fault.
        component: Option<usize>,
        /// What went wrong.
        why: &'static str,
    },
    /// More events fired than [`Options::max_events`](crate::Options::max_events) allows.
    #[error("{count} events fired by t = {t} (Options::max_events): the events may accumulate at a point (a Zeno point, as a bouncing ball coming to rest); end the solve there with a terminal event, or raise the bound")]
    TooManyEvents {
        /// Time of the last event.
        t: f64,
        /// Events fired.
        count: usize,
    },
    /// The discrete adjoint of BDF computed steps of the forward solve again from a checkpoint
    /// and got a different step: the right-hand side returned different values for the same
    /// `(t, y, p)` (it must be a deterministic function of its arguments).
    #[error(
        "the forward solve's step ending at t = {t} came out differently when computed again \
         from a checkpoint: the right-hand side must be a deterministic function of (t, y, p)"
    )]
    NotReproducible {
        /// End of the logged step.
        t: f64,
    },
    /// An input or option is invalid (save times out of order, a non-positive tolerance, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
