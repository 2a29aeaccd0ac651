//! Events: state events (a function `g_k(t, y, p)` crossing zero, found on the method's dense
//! output) and time events (given times), each stopping the solve or changing the state
//! (`y+ = h(t, y-, p)`) and restarting the method; with the jump of the forward sensitivities
//! at each event, so the event times, the states at them and everything after are
//! differentiable. The guide with the formulas: `docs/events.md`.
//!
//! A system declares its events with the default methods of [`OdeSystem`](crate::OdeSystem)
//! ([`state_events`](crate::OdeSystem::state_events),
//! [`event_functions`](crate::OdeSystem::event_functions),
//! [`time_events`](crate::OdeSystem::time_events),
//! [`apply_event`](crate::OdeSystem::apply_event)); a system without events is solved exactly
//! as before (the same steps and bits).

mod driver;
mod jump;
mod locate;
mod segments;

pub(crate) use driver::{check_stiff, event_loop, has_events, no_adjoint};
pub(crate) use segments::solve_by_segments;

/// One event of a system: state event `k` (its function is component `k` of
/// [`OdeSystem::event_functions`](crate::OdeSystem::event_functions)) or time event `j` (the
/// `j`-th time of [`OdeSystem::time_events`](crate::OdeSystem::time_events)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// State event `k`.
    State(usize),
    /// Time event `j`.
    Time(usize),
}

/// Which zero crossings of an event function fire it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// From negative to non-negative.
    Rising,
    /// From positive to non-positive.
    Falling,
    /// Both.
    #[default]
    Either,
}

/// What a state event does when it fires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Action {
    /// The solve ends at the event time: the saves after it are not computed (the solution is
    /// shorter than `save_at`) and the event is the last of [`Solution::events`](crate::Solution).
    #[default]
    Stop,
    /// The state changes by [`OdeSystem::apply_event`](crate::OdeSystem::apply_event) and the
    /// method restarts from the new state (BDF at order 1).
    Reset,
}

/// How state event `k` fires: which crossings and what it does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSpec {
    /// The crossings that fire it (default [`Direction::Either`]).
    pub direction: Direction,
    /// What it does (default [`Action::Stop`]).
    pub action: Action,
}

/// An event that fired during a solve.
#[derive(Clone, Debug, PartialEq)]
pub struct EventHit<S> {
    /// Which event.
    pub event: Event,
    /// When: the root of the event function located to machine precision in `t` (for a state
    /// event; its derivative is `dt*/dx = -(∂g/∂x + ∂g/∂y · dy/dx) / (∂g/∂t + ∂g/∂y · f)`), or
    /// the given time (time events, a constant).
    pub t: S,
    /// The state just before the event (`y-`, before any reset), as a function of the inputs
    /// through the event time.
    pub y: Vec<S>,
}
