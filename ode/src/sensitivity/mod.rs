//! Sensitivities of a solve: forward (`Dual` through the solver) and the discrete adjoint
//! (reverse through the accepted steps with checkpoints), behind one recording type used by the
//! tape block of [`solve`](crate::solve) and by the tape-free [`vjp`].

pub(crate) mod discrete;
pub(crate) mod forward;
pub(crate) mod interpolating;
pub(crate) mod rhs_vjp;

use ad_core::Dual;

use crate::error::Error;
use crate::explicit::integrate;
use crate::options::{Options, Sensitivity};
use crate::solution::{Solution, Stats};
use crate::solve::check_inputs;
use crate::system::OdeSystem;

use discrete::DiscreteForward;
use forward::ForwardJacobian;

/// Counters of one backward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdjointStats {
    /// Discrete adjoint: steps recorded on a tape and reversed (one per accepted step).
    /// Interpolating adjoint: vector-Jacobian products of the right-hand side.
    pub taped_steps: usize,
    /// Interpolating adjoint: accepted steps of the backward (adjoint) solve.
    pub adjoint_steps: usize,
    /// Steps whose stages the backward pass computed again on `f64` from checkpoints (a step
    /// counts each time: to reach a later state, and to reverse it).
    pub recomputed_steps: usize,
    /// The most state-sized vectors held at once: forward checkpoints, recomputed states and
    /// kept stage arguments.
    pub max_states_held: usize,
    /// States kept by the forward pass.
    pub forward_checkpoints: usize,
    /// The most nodes the tape of one step held.
    pub max_tape_len: usize,
}

/// Inputs (`dim + n_params`) from which a backward pass runs on a rayon worker.
const WORKER_MIN_INPUTS: usize = 1 << 12;

/// Whether a backward pass over this many inputs should move to a rayon worker first: large
/// systems' products fork parallel evaluations, and forked from a worker the thread runs one
/// itself and wakes one other, where forked from outside the pool it wakes every worker and
/// sleeps until they finish, per product (W5 at 64 x 64, 50 RK4 steps: 47 ms against 69 ms).
/// Small systems do not fork; the move would only cost them a hand-over.
pub(crate) fn needs_worker(inputs: usize) -> bool {
    inputs >= WORKER_MIN_INPUTS && rayon::current_thread_index().is_none()
}

/// Bytes of states per level that `Sensitivity::Auto` gives the discrete adjoint.
const AUTO_LEVEL_BYTES: usize = 32 << 20;

/// The sensitivity method `Auto` stands for, for a system of this size: forward sensitivities
/// for at most 16 inputs, else the discrete adjoint with as many checkpoints as 32 MiB of
/// states hold, and at least 64.
pub(crate) fn resolve(s: Sensitivity, dim: usize, n_params: usize) -> Sensitivity {
    match s {
        Sensitivity::Auto if dim + n_params <= 16 => Sensitivity::Forward,
        Sensitivity::Auto => Sensitivity::DiscreteAdjoint {
            checkpoints: (AUTO_LEVEL_BYTES / (8 * dim.max(1))).max(64),
        },
        other => other,
    }
}

/// The inputs `(y0, p)` seeded along the fixed probe direction whose tangent the adjoint
/// methods' forward solves include in their error test (the adjoints themselves need no
/// tangent; the probe only chooses the steps). Component `i` of the direction is
/// `±(0.5 + 0.5 frac(i φ)) |x_i|` (`|x_i|` replaced by 1 where `x_i = 0`) (`φ` the golden ratio, signs alternating): every
/// input moves, by a size relative to its magnitude as CVODES' parameter scales `pbar` do, in
/// a direction no simple symmetry of a model cancels. Errors along directions orthogonal to the
/// probe's effect are not controlled; forward sensitivities control every direction.
pub(crate) fn probe_direction(x: &[f64]) -> Vec<f64> {
    const PHI: f64 = 0.618_033_988_749_894_9;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let w = 0.5 + 0.5 * (i as f64 * PHI).fract();
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            sign * w * if v == 0.0 { 1.0 } else { v.abs() }
        })
        .collect()
}

/// `(y0, p)` as `Dual<1>` along [`probe_direction`].
pub(crate) fn probe(y0: &[f64], p: &[f64]) -> (Vec<Dual<1>>, Vec<Dual<1>>) {
    let x: Vec<f64> = y0.iter().chain(p).copied().collect();
    let v = probe_direction(&x);
    let (vy, vp) = v.split_at(y0.len());
    (Dual::along(y0, vy), Dual::along(p, vp))
}

/// A forward solve that kept what its derivative passes need.
pub(crate) enum Recording {
    /// Forward sensitivities: the full Jacobian.
    Forward(ForwardJacobian),
    /// The discrete adjoint's step log and checkpoints.
    Discrete(DiscreteForward),
    /// The same recording, reversed by the continuous (interpolating) adjoint.
    Interpolating(DiscreteForward),
}

impl Recording {
    /// Solves at `(y0, p)`, keeping what the sensitivity method of `opts` needs.
    pub(crate) fn record<Sys: OdeSystem>(
        sys: &Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        save_at: &[f64],
        opts: &Options,
    ) -> Result<Self, Error> {
        if crate::events::has_events(sys, opts) {
            // (ode::solve differentiates through events by segments, never here)
            return Err(crate::events::no_adjoint(opts));
        }
        match resolve(opts.sensitivity, y0.len(), p.len()) {
            Sensitivity::DiscreteAdjoint { checkpoints } => Ok(Recording::Discrete(
                discrete::record(sys, y0, p, t0, save_at, opts, checkpoints)?,
            )),
            Sensitivity::InterpolatingAdjoint { checkpoints } => Ok(Recording::Interpolating(
                discrete::record(sys, y0, p, t0, save_at, opts, checkpoints)?,
            )),
            _ => Ok(Recording::Forward(forward::forward_jacobian(
                sys, y0, p, t0, save_at, opts,
            )?)),
        }
    }

    /// The saved states.
    pub(crate) fn outputs(&self) -> &[Vec<f64>] {
        match self {
            Recording::Forward(f) => &f.outputs,
            Recording::Discrete(d) | Recording::Interpolating(d) => &d.outputs,
        }
    }

    /// Counters of the forward solve.
    pub(crate) fn stats(&self) -> Stats {
        match self {
            Recording::Forward(f) => f.stats,
            Recording::Discrete(d) | Recording::Interpolating(d) => d.stats,
        }
    }

    /// ADDS `J^T y_bar` to `x_bar = (y0_bar, p_bar)`; `y_bar` is row-major
    /// `save_at.len() x dim`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn vjp<Sys: OdeSystem>(
        &self,
        sys: &Sys,
        p: &[f64],
        t0: f64,
        save_at: &[f64],
        opts: &Options,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<AdjointStats, Error> {
        match self {
            Recording::Forward(f) => {
                forward::add_transposed(&f.jac, y_bar, x_bar);
                Ok(AdjointStats::default())
            }
            Recording::Discrete(d) => {
                let (y0b, pb) = x_bar.split_at_mut(x_bar.len() - p.len());
                Ok(d.reverse(sys, p, t0, save_at, opts, y_bar, y0b, pb))
            }
            Recording::Interpolating(d) => {
                let (y0b, pb) = x_bar.split_at_mut(x_bar.len() - p.len());
                interpolating::reverse(d, sys, p, t0, save_at, opts, y_bar, y0b, pb)
            }
        }
    }

    /// WRITES `J x_dot` to `y_dot`, `x_dot = (y0_dot, p_dot)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn jvp<Sys: OdeSystem>(
        &self,
        sys: &Sys,
        y0: &[f64],
        p: &[f64],
        t0: f64,
        save_at: &[f64],
        opts: &Options,
        x_dot: &[f64],
        y_dot: &mut [f64],
    ) {
        match self {
            Recording::Forward(f) => {
                for (yd, row) in y_dot.iter_mut().zip(f.jac.chunks_exact(x_dot.len())) {
                    *yd = row.iter().zip(x_dot).map(|(a, b)| a * b).sum();
                }
            }
            Recording::Discrete(d) | Recording::Interpolating(d) => {
                let n = y0.len();
                let yd: Vec<Dual<1>> = (0..n).map(|i| Dual::new(y0[i], [x_dot[i]])).collect();
                let pd: Vec<Dual<1>> = (0..p.len())
                    .map(|i| Dual::new(p[i], [x_dot[n + i]]))
                    .collect();
                let saved = integrate(sys, &yd, &pd, t0, save_at, opts, Some(&d.log), &mut ())
                    .map(|r| r.0)
                    .expect("replaying the accepted steps of a successful solve cannot fail");
                for (o, v) in y_dot.iter_mut().zip(saved.iter().flatten()) {
                    *o = v.d[0];
                }
            }
        }
    }
}

/// The solution and the cotangents of `y0` and `p` computed by [`vjp`].
#[derive(Clone, Debug)]
pub struct Gradient {
    /// The solution (as from [`solve`](crate::solve) on `f64`).
    pub solution: Solution<f64>,
    /// `sum_k (d y(t_k) / d y0)^T ȳ_k`.
    pub y0_bar: Vec<f64>,
    /// `sum_k (d y(t_k) / d p)^T ȳ_k`.
    pub p_bar: Vec<f64>,
    /// Counters of the backward pass (all zero for forward sensitivities).
    pub adjoint: AdjointStats,
}

/// Solves on `f64` and pulls the cotangent `y_bar` of the saved states (`y_bar[k][i]` for
/// state `i` at `save_at[k]`) back to `y0` and `p`, with the sensitivity method of `opts`;
/// no tape needed. The same computation as the backward pass of [`solve`](crate::solve) on
/// `Var` inputs.
///
/// ```
/// use ode::{Options, OdeSystem, Real, Sensitivity};
///
/// #[derive(Clone)]
/// struct Decay;
/// impl OdeSystem for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn n_params(&self) -> usize { 1 }
///     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) { dy[0] = -p[0] * y[0]; }
/// }
/// let opts = Options { rtol: 1e-10, atol: 1e-12,
///     sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 8 }, ..Default::default() };
/// let g = ode::vjp(&Decay, &[1.0], &[0.5], 0.0, &[2.0], &opts, &[vec![1.0]]).unwrap();
/// // y(2) = exp(-2p): dy/dp = -2 exp(-1)
/// assert!((g.p_bar[0] + 2.0 * (-1f64).exp()).abs() < 1e-8);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn vjp<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    y_bar: &[Vec<f64>],
) -> Result<Gradient, Error> {
    check_inputs(sys, y0.len(), p.len(), t0, save_at, opts)?;
    if y_bar.len() != save_at.len() {
        return Err(Error::DimensionMismatch {
            what: "y_bar (one row per save time)",
            expected: save_at.len(),
            got: y_bar.len(),
        });
    }
    let mut flat = Vec::with_capacity(save_at.len() * y0.len());
    for row in y_bar {
        if row.len() != y0.len() {
            return Err(Error::DimensionMismatch {
                what: "a row of y_bar",
                expected: y0.len(),
                got: row.len(),
            });
        }
        flat.extend_from_slice(row);
    }
    if crate::stiff::is_stiff(opts.method) {
        return crate::stiff::vjp(sys, y0, p, t0, save_at, opts, &flat);
    }
    let rec = Recording::record(sys, y0, p, t0, save_at, opts)?;
    let mut x_bar = vec![0.0; y0.len() + p.len()];
    let adjoint = rec.vjp(sys, p, t0, save_at, opts, &flat, &mut x_bar)?;
    let p_bar = x_bar.split_off(y0.len());
    Ok(Gradient {
        solution: Solution {
            t: save_at.to_vec(),
            y: rec.outputs().to_vec(),
            stats: rec.stats(),
            events: Vec::new(),
        },
        y0_bar: x_bar,
        p_bar,
        adjoint,
    })
}
