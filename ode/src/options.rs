//! How to solve: the method, tolerances, limits and the sensitivity method, as one value.

use crate::error::Error;

/// The integration method.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Method {
    /// Classic fourth-order Runge-Kutta with fixed step `dt` (the last step is shortened to end
    /// exactly at the final save time). Output between steps by cubic Hermite interpolation.
    Rk4 {
        /// The step size (> 0).
        dt: f64,
    },
    /// Dormand-Prince 5(4) (Dormand & Prince 1980) with PI step-size control, FSAL and
    /// Hairer's fourth-order dense output.
    Dopri5,
    /// Tsitouras 5(4) (Tsitouras 2011) with PI step-size control, FSAL and its own
    /// fourth-order interpolant. The default.
    Tsit5,
    /// Stiff: variable-order (1-5), variable-step BDF in the NDF form of Shampine & Reichelt
    /// (1997) (MATLAB's `ode15s`, SciPy's `BDF`), modified Newton with a reused forward-mode
    /// Jacobian, dense output from the backward-difference polynomial. See `docs/stiff.md`.
    Bdf,
    /// Stiff, one-step: the L-stable Rosenbrock method Rodas4 of order 4(3) (Hairer & Wanner,
    /// Solving ODEs II, VI.4) with a fresh forward-mode Jacobian and one LU per step, its
    /// embedded error estimate and third-order dense output. Suits frequent restarts and
    /// moderate tolerances. Differentiated by running the kernel on `Dual` numbers (exact
    /// derivative of the numerical solution).
    Rodas4,
}

/// How a solve with [`Var`](ad_core::Var) inputs computes its backward pass (the value of
/// the solution is the same whatever is chosen). With [`Dual`](ad_core::Dual) inputs the
/// tangents are always propagated forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sensitivity {
    /// [`Sensitivity::Forward`] when `dim + n_params <= 16`, else
    /// [`Sensitivity::DiscreteAdjoint`] with as many checkpoints as 32 MiB of states hold
    /// (`32 MiB / (8 dim)`, at least 64: every state of a 1 000-state system's first 4 194
    /// steps, 256 for W5's 16 384). Both give the exact derivative
    /// of the numerical solution; forward sensitivities cost one solve on `Dual<W>` per chunk
    /// of up to 8 inputs and win for few inputs, the adjoint costs a few primal solves
    /// whatever the number of inputs. With the stiff methods: forward sensitivities, or for
    /// `dim + n_params > 16` with [`Method::Bdf`] the discrete adjoint of BDF (see
    /// [`Sensitivity::DiscreteAdjoint`]; it is exact where the continuous adjoint is accurate
    /// to the tolerance, and it measured faster on every such system tried: 1.3x to 16x on
    /// chains of 20 and 46 inputs and 1D Brusselators of 100 and 400 states, `docs/stiff.md`);
    /// Rodas4 (no adjoint) uses forward sensitivities.
    Auto,
    /// Forward sensitivities: the solver runs on `Dual` numbers (the step sizes chosen on the
    /// values), giving the full Jacobian of the saved states with respect to `y0` and `p`
    /// during the forward pass; the backward pass is one matrix-vector product.
    Forward,
    /// The exact gradient of the discrete solution: reverse through the accepted steps. The
    /// forward pass keeps the accepted step sizes (two numbers per step) and at most
    /// `checkpoints` states; the backward pass recomputes each segment between checkpoints,
    /// recursively with the same bound, so memory is O(`checkpoints` * state * levels) with
    /// `levels <= 1 + ceil(log_checkpoints(steps))`; each step is recomputed at most once per
    /// level. A segment whose stage arguments fit the bound (`steps * stages <= checkpoints`)
    /// keeps them and is reversed without computing its stages again.
    ///
    /// With [`Method::Bdf`]: the exact transpose of BDF's forward sensitivities (steps, orders
    /// and step-size changes held fixed, the corrector solved exactly), one Jacobian at the
    /// converged state, one LU of `I - c J^T` and one solve per accepted step, dense or on the
    /// sparse pattern the forward solve detected. The forward pass keeps a few numbers per
    /// accepted step, the converged states of the first `checkpoints` steps and, after them,
    /// snapshots of the stepper (about 19 states each) thinned to `checkpoints` states; the
    /// backward pass computes each later segment again from its snapshot, logged the same way
    /// one level down (memory O(`max(checkpoints, 38)` * state * levels)), bit for bit the same
    /// steps, so the gradient does not depend on `checkpoints`. See `docs/stiff.md`. With
    /// [`Method::Rodas4`]: [`Error::IncompatibleOptions`] (Rodas4 has no adjoint).
    DiscreteAdjoint {
        /// The most states held per level (>= 2).
        checkpoints: usize,
    },
    /// The continuous adjoint `λ' = -J^T λ`, `μ' = -f_p^T λ`, integrated backward with the
    /// forward method and tolerances (its own error control), the forward solution
    /// interpolated by the dense output of steps recomputed from at most `checkpoints` stored
    /// states. Approximates the exact derivative of the ODE to about the tolerance (not the
    /// derivative of the numerical solution). Its backward solve can fail like any solve:
    /// [`vjp`](crate::vjp) returns the error, and so does `Tape::try_gradient` around a solve.
    /// With [`Method::Bdf`] the backward solve is BDF too and the forward solution comes from
    /// the kept polynomials of all forward steps (no checkpoint bound yet); see `docs/stiff.md`.
    /// With [`Method::Rodas4`]: [`Error::IncompatibleOptions`] (Rodas4 has no adjoint).
    InterpolatingAdjoint {
        /// The most forward states stored (>= 2).
        checkpoints: usize,
    },
}

/// How the adjoints of the explicit methods compute the right-hand side's vector-Jacobian
/// products `(∂f/∂y)^T w`, `(∂f/∂p)^T w` when the system has no
/// [`OdeSystem::vjp`](crate::OdeSystem::vjp) of its own (see `docs/ode.md`; the stiff adjoint
/// always uses the compressed Jacobian when the pattern allows). Every choice gives the exact
/// products; they differ in cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RhsProducts {
    /// For systems with at least 256 states plus parameters: the tape for array-style code
    /// (its tape has fewer than 1/8 as many nodes as its trace has scalar operations), else
    /// the operation trace replay if the recording holds everywhere, else the compressed Jacobian if its traced pattern
    /// holds everywhere (at most 24 colours), else the tape. A fixed rule, decided at the
    /// first product of a solve (never by timing: the same inputs give the same bits).
    #[default]
    Auto,
    /// Record `rhs` on a tape for every product.
    Tape,
    /// `J^T w` from the compressed sparse Jacobian whenever the traced pattern allows it (at
    /// least 256 states plus parameters, pattern valid everywhere, at most 24 colours); else
    /// the tape.
    Compressed,
    /// `rhs` recorded once as a frozen operation trace (`ad_core::trace::Trace`) and replayed
    /// for every product, when the recording holds everywhere (at least 256 states plus
    /// parameters, `rhs` does not branch on values); else the tape.
    Trace,
}

/// Options of a solve. Build with struct update syntax: `Options { rtol: 1e-8, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The integration method (default [`Method::Tsit5`]).
    pub method: Method,
    /// Relative tolerance (default 1e-6).
    pub rtol: f64,
    /// Absolute tolerance, for every component (default 1e-9).
    pub atol: f64,
    /// Per-component absolute tolerances; when set (length `dim`), replaces `atol`.
    pub atol_components: Option<Vec<f64>>,
    /// Initial step size; `None` (the default) picks one automatically (Hairer, Nørsett &
    /// Wanner, Solving ODEs I, II.4).
    pub h0: Option<f64>,
    /// Largest step size (default infinite).
    pub h_max: f64,
    /// Most steps, accepted and rejected, before [`Error::MaxStepsReached`] (default 100 000).
    pub max_steps: usize,
    /// The backward pass of a solve on `Var` inputs (default [`Sensitivity::Auto`]).
    pub sensitivity: Sensitivity,
    /// How the adjoints get the right-hand side's vector-Jacobian products (default
    /// [`RhsProducts::Auto`]).
    pub rhs_products: RhsProducts,
    /// Whether the error test of a differentiated solve covers the derivatives as well as the
    /// state (default `true`; CVODES' `errconS`): forward sensitivities test their tangents,
    /// the adjoints' forward solves a probe tangent (see `docs/ode.md`, "Error control on the
    /// derivatives"). Then a solve started at an equilibrium gets the right gradient, and the
    /// steps (so the values) of a differentiated solve may differ from the `f64` solve's within
    /// the tolerances. With `false` the steps are chosen on the state alone: every sensitivity
    /// method then takes exactly the `f64` solve's steps (forward sensitivities and the discrete
    /// adjoint are each other's exact transpose), but a derivative can be far off where the
    /// state's error estimate is small (an equilibrium start).
    pub derivative_error_control: bool,
    /// Most events (state and time) a solve may fire before [`Error::TooManyEvents`]
    /// (default 10 000): events that accumulate (a bouncing ball coming to rest) end in an
    /// error, never a hang.
    pub max_events: usize,
    /// Whether the system's events ([`OdeSystem::state_events`](crate::OdeSystem::state_events),
    /// [`OdeSystem::time_events`](crate::OdeSystem::time_events)) are handled (default `true`);
    /// `false` integrates the equations alone, as if the system declared none (how a
    /// differentiated solve with events solves the stretches between them).
    pub handle_events: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Tsit5,
            rtol: 1e-6,
            atol: 1e-9,
            atol_components: None,
            h0: None,
            h_max: f64::INFINITY,
            max_steps: 100_000,
            sensitivity: Sensitivity::Auto,
            rhs_products: RhsProducts::Auto,
            derivative_error_control: true,
            max_events: 10_000,
            handle_events: true,
        }
    }
}

impl Options {
    /// Checks the options as a whole for a system of dimension `dim`: every value in range
    /// (tolerances, step sizes, `max_steps >= 1`, `checkpoints >= 2`) and the method and
    /// sensitivity compatible ([`Error::IncompatibleOptions`] names the pair). Every entry
    /// point ([`solve`](crate::solve), [`vjp`](crate::vjp), the stiff functions, ensembles)
    /// calls it before solving.
    pub fn validate(&self, dim: usize) -> Result<(), Error> {
        let bad = |s: String| Err(Error::InvalidInput(s));
        if let Method::Rk4 { dt } = self.method {
            if !(dt > 0.0 && dt.is_finite()) {
                return bad(format!("Rk4 step dt = {dt} must be positive and finite"));
            }
        }
        if !(self.rtol >= 0.0 && self.rtol.is_finite()) {
            return bad(format!(
                "rtol = {} must be non-negative and finite",
                self.rtol
            ));
        }
        if !(self.atol >= 0.0 && self.atol.is_finite()) {
            return bad(format!(
                "atol = {} must be non-negative and finite",
                self.atol
            ));
        }
        if let Some(a) = &self.atol_components {
            if a.len() != dim {
                return Err(Error::DimensionMismatch {
                    what: "Options::atol_components",
                    expected: dim,
                    got: a.len(),
                });
            }
            if a.iter().any(|v| !(*v >= 0.0 && v.is_finite())) {
                return bad("atol_components must be non-negative and finite".into());
            }
        }
        if self.is_adaptive() && self.rtol == 0.0 && self.atol_at(0) == 0.0 {
            return bad("rtol and atol are both zero: give a positive tolerance".into());
        }
        if let Some(h0) = self.h0 {
            if !(h0 > 0.0 && h0.is_finite()) {
                return bad(format!("h0 = {h0} must be positive and finite"));
            }
        }
        if self.h_max.is_nan() || self.h_max <= 0.0 {
            return bad(format!("h_max = {} must be positive", self.h_max));
        }
        if self.max_steps == 0 {
            return bad("max_steps = 0: allow at least one step".into());
        }
        match self.sensitivity {
            Sensitivity::DiscreteAdjoint { checkpoints }
            | Sensitivity::InterpolatingAdjoint { checkpoints }
                if checkpoints < 2 =>
            {
                return bad(format!(
                    "{:?} needs checkpoints >= 2 (got {checkpoints})",
                    self.sensitivity
                ));
            }
            Sensitivity::DiscreteAdjoint { .. } | Sensitivity::InterpolatingAdjoint { .. }
                if self.method == Method::Rodas4 =>
            {
                return Err(Error::IncompatibleOptions {
                    method: self.method,
                    sensitivity: self.sensitivity,
                    why: "Rodas4 has no adjoint; use Sensitivity::Forward (or Auto), or \
                          Method::Bdf for a stiff adjoint",
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// True for the adaptive methods.
    pub(crate) fn is_adaptive(&self) -> bool {
        !matches!(self.method, Method::Rk4 { .. })
    }

    /// The absolute tolerance of component `i`.
    #[inline]
    pub(crate) fn atol_at(&self, i: usize) -> f64 {
        match &self.atol_components {
            Some(a) => a[i],
            None => self.atol,
        }
    }
}
