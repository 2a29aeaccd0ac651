//! # ode: differentiable ODE integrators
//!
//! Write the right-hand side once, generic over [`Real`] ([`OdeSystem`]); [`solve`] it with
//! `f64` for the solution, with [`Var`](ad_core::Var) inputs for gradients (the whole solve is
//! one block on the tape whose backward pass is the [`Sensitivity`] chosen in [`Options`]), or
//! with [`Dual`](ad_core::Dual) inputs for forward sensitivities.
//!
//! ```
//! use ad_core::Tape;
//! use ode::{solve, Options, OdeSystem, Real};
//!
//! #[derive(Clone)]
//! struct LotkaVolterra;
//! impl OdeSystem for LotkaVolterra {
//!     fn dim(&self) -> usize { 2 }
//!     fn n_params(&self) -> usize { 4 }
//!     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
//!         dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
//!         dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
//!     }
//! }
//! let save_at: Vec<f64> = (0..=100).map(|k| 0.1 * k as f64).collect();
//! let opts = Options { rtol: 1e-8, atol: 1e-8, ..Default::default() };
//!
//! let tape = Tape::new();
//! let p = tape.vars(&[1.5, 1.0, 1.0, 3.0]);
//! let y0 = tape.vars(&[1.0, 1.0]);
//! let sol = solve(&LotkaVolterra, &y0, &p, 0.0, &save_at, &opts).unwrap();
//! let loss: ad_core::Var = sol.y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum();
//! let g = tape.gradient(loss);
//! assert!((loss.value() - 1717.358726548).abs() < 1e-3);
//! assert!((g.wrt(p[0]) - 69.5537143).abs() < 1e-2);
//! ```
//!
//! Sensitivity methods ([`Sensitivity`], a value in [`Options`]): `Forward` (the solver on
//! `Dual` numbers), `DiscreteAdjoint { checkpoints }` (the exact gradient of the numerical
//! solution, reversing the accepted steps with memory bounded by the checkpoints),
//! `InterpolatingAdjoint { checkpoints }` (the continuous adjoint with its own error control)
//! and `Auto` (forward for `dim + n_params <= 16`, else the discrete adjoint). [`vjp`] computes
//! the same pullback without a tape. Systems may supply a hand-written
//! [`OdeSystem::vjp`] for the adjoints.
//!
//! Events ([`events`]): state events (a function of `(t, y, p)` crossing zero, located to
//! machine precision on the dense output) and time events (doses), each stopping the solve or
//! resetting the state, declared on the [`OdeSystem`] next to `rhs`; the derivatives jump at
//! each event, so event times and the states after resets are differentiable
//! (`docs/events.md`).
//!
//! Layout: [`system`] (the equations), [`options`] (method, tolerances, sensitivity),
//! [`stepper`] (each method as a state machine: step, interpolate in the last step, stop time,
//! reset; `solve` is one save loop over it), the
//! explicit Runge-Kutta methods (RK4, Dormand-Prince 5(4), Tsitouras 5(4); one tableau-driven
//! stepper with PI control, FSAL and dense output), the stiff methods ([`stiff`]: BDF/NDF of
//! orders 1-5 and Rodas4, forward-mode Jacobians, forward sensitivities and BDF's discrete
//! and continuous adjoints), the sensitivities, and [`ensemble`] (many parameter sets in parallel). The guides
//! with the equations: `docs/ode.md`, `docs/stiff.md`.
#![warn(missing_docs)]

pub mod ensemble;
pub mod error;
pub mod events;
mod explicit;
pub mod options;
pub mod problems;
mod rhs_jacobian;
mod rhs_trace;
mod second_order;
mod sensitivity;
pub mod solution;
mod solve;
pub mod stepper;
pub mod stiff;
pub mod system;

pub use ad_core::Real;
pub use ensemble::distributed;
pub use ensemble::{gradient_ensemble, solve_ensemble, EnsembleGradient};
#[cfg(feature = "mpi")]
pub use ensemble::{gradient_ensemble_mpi, solve_ensemble_mpi};
pub use error::Error;
pub use events::{Action, Direction, Event, EventHit, EventSpec};
pub use options::{Method, Options, RhsProducts, Sensitivity};
pub use sensitivity::{vjp, AdjointStats, Gradient};
pub use solution::{Solution, Stats};
pub use solve::solve;
pub use system::OdeSystem;

/// docs/events.md's code blocks, compiled and run as doctests so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/events.md")]
pub struct EventsDoctests;
