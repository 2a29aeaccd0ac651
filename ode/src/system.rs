//! The equations: a right-hand side `y' = f(t, y, p)` written once, generic over the scalar.

use std::sync::Arc;

use ad_core::Real;

use crate::events::{Event, EventSpec};

/// An ordinary differential equation `y' = f(t, y, p)` with state `y` of length [`dim`] and
/// parameters `p` of length [`n_params`].
///
/// Write [`rhs`] once, generic over [`Real`]: the solvers evaluate it with `f64` (the primal),
/// with [`Dual`](ad_core::Dual) (Jacobian-vector products, forward sensitivities) and with
/// [`Var`](ad_core::Var) (vector-Jacobian products for the adjoints).
///
/// ```
/// use ode::{OdeSystem, Real};
///
/// /// Lotka-Volterra: x' = a x - b x z, z' = d x z - g z.
/// #[derive(Clone)]
/// struct LotkaVolterra;
///
/// impl OdeSystem for LotkaVolterra {
///     fn dim(&self) -> usize { 2 }
///     fn n_params(&self) -> usize { 4 }
///     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
///         dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
///         dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
///     }
/// }
/// ```
///
/// [`dim`]: OdeSystem::dim
/// [`n_params`]: OdeSystem::n_params
/// [`rhs`]: OdeSystem::rhs
pub trait OdeSystem: Sync {
    /// Length of the state `y`.
    fn dim(&self) -> usize;

    /// Length of the parameter vector `p`.
    fn n_params(&self) -> usize;

    /// Writes `f(t, y, p)` into `dy` (length [`dim`](OdeSystem::dim)).
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]);

    /// Optional hand-written vector-Jacobian product for the adjoints: ADDS
    /// `(∂f/∂y)^T w` to `y_bar` and `(∂f/∂p)^T w` to `p_bar` at `(t, y, p)` and returns `true`.
    ///
    /// The default returns `false`: the adjoints then record [`rhs`](OdeSystem::rhs) on `Var`
    /// on a small reused tape and sweep it. Override it for large systems whose structure
    /// makes the transposed Jacobian cheap (stencils); check it against the default with
    /// `ad_core::testing`.
    #[allow(clippy::too_many_arguments)]
    fn vjp(
        &self,
        _t: f64,
        _y: &[f64],
        _p: &[f64],
        _w: &[f64],
        _y_bar: &mut [f64],
        _p_bar: &mut [f64],
    ) -> bool {
        false
    }

    /// The state events: one [`EventSpec`] (direction, stop or reset) per event function
    /// (default: none). See [`events`](crate::events) and `docs/events.md`.
    fn state_events(&self) -> Vec<EventSpec> {
        Vec::new()
    }

    /// Writes the event functions `g_k(t, y, p)` (one per [`state_events`] entry) into `g`:
    /// state event `k` fires where `g_k` crosses zero in its direction. Generic over [`Real`]
    /// like [`rhs`](OdeSystem::rhs): the event times are differentiated through it.
    ///
    /// [`state_events`]: OdeSystem::state_events
    fn event_functions<S: Real>(&self, _t: S, _y: &[S], _p: &[S], _g: &mut [S]) {}

    /// The times of the time events (doses, switches at given times; default: none). Time
    /// event `j` fires at `time_events()[j]` if that lies in `[t0, last save time]`, changing
    /// the state by [`apply_event`](OdeSystem::apply_event) with `Event::Time(j)`.
    fn time_events(&self) -> Vec<f64> {
        Vec::new()
    }

    /// The state change of an event, in place: `y` holds `y-` on entry and must hold
    /// `y+ = h_e(t, y-, p)` on exit (default: no change). Called for the state events with
    /// [`Action::Reset`](crate::events::Action) and for every time event.
    fn apply_event<S: Real>(&self, _event: Event, _t: S, _y: &mut [S], _p: &[S]) {}
}

/// A shared system is a system: wrap a large system in an `Arc` to make the clone that a
/// differentiated [`solve`](crate::solve) keeps for its backward pass cheap.
impl<T: OdeSystem + Send> OdeSystem for Arc<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn n_params(&self) -> usize {
        (**self).n_params()
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        (**self).rhs(t, y, p, dy)
    }
    fn vjp(
        &self,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> bool {
        (**self).vjp(t, y, p, w, y_bar, p_bar)
    }
    fn state_events(&self) -> Vec<EventSpec> {
        (**self).state_events()
    }
    fn event_functions<S: Real>(&self, t: S, y: &[S], p: &[S], g: &mut [S]) {
        (**self).event_functions(t, y, p, g)
    }
    fn time_events(&self) -> Vec<f64> {
        (**self).time_events()
    }
    fn apply_event<S: Real>(&self, event: Event, t: S, y: &mut [S], p: &[S]) {
        (**self).apply_event(event, t, y, p)
    }
}
