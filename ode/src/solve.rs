//! `ode::solve`: one entry point for every scalar type.

use ad_core::{Block, BlockError, Real};

use crate::error::Error;
use crate::events::{has_events, EventHit};
use crate::explicit::{integrate, integrate_events};
use crate::options::Options;
use crate::sensitivity::Recording;
use crate::solution::{Solution, Stats};
use crate::system::OdeSystem;

/// Checks lengths, save times and options.
pub(crate) fn check_inputs<Sys: OdeSystem>(
    sys: &Sys,
    n_y0: usize,
    n_p: usize,
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(), Error> {
    if n_y0 != sys.dim() {
        return Err(Error::DimensionMismatch {
            what: "y0",
            expected: sys.dim(),
            got: n_y0,
        });
    }
    if n_p != sys.n_params() {
        return Err(Error::DimensionMismatch {
            what: "p",
            expected: sys.n_params(),
            got: n_p,
        });
    }
    if !t0.is_finite() {
        return Err(Error::InvalidInput(format!("t0 = {t0} must be finite")));
    }
    let mut prev = t0;
    for (i, &s) in save_at.iter().enumerate() {
        if !s.is_finite() || s < prev {
            return Err(Error::InvalidInput(format!(
                "save_at[{i}] = {s}: save times must be finite, >= t0 = {t0} and non-decreasing"
            )));
        }
        prev = s;
    }
    opts.validate(sys.dim())
}

/// Solves `y' = f(t, y, p)`, `y(t0) = y0`, returning the states at the sorted times `save_at`
/// (each `>= t0`; `t0` itself may be one of them). The steps are never shortened to hit save
/// times: states between steps come from the method's dense output.
///
/// The scalar type decides what is computed:
/// - `f64`: the solution;
/// - [`Var`](ad_core::Var) inputs: the whole solve is ONE block on the caller's tape, whose
///   backward pass is `opts.sensitivity` (forward sensitivities or the checkpointed discrete
///   adjoint): the exact derivative of the numerical solution;
/// - [`Dual`](ad_core::Dual) inputs: the tangents of the saved states (forward sensitivities).
///
/// `Sys: Clone + 'static` because a block on a tape must own what its backward pass needs: the
/// differentiated solve keeps a clone of `sys` (wrap a large system in an `Arc`, which is an
/// `OdeSystem` too, to make that clone cheap). The `f64` solve does not clone.
///
/// ```
/// use ad_core::Tape;
/// use ode::{solve, Options, OdeSystem, Real};
///
/// #[derive(Clone)]
/// struct Decay;
/// impl OdeSystem for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn n_params(&self) -> usize { 1 }
///     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) { dy[0] = -p[0] * y[0]; }
/// }
/// let opts = Options { rtol: 1e-10, atol: 1e-12, ..Default::default() };
/// let sol = solve(&Decay, &[1.0], &[0.5], 0.0, &[1.0, 2.0], &opts).unwrap();
/// assert!((sol.y[1][0] - (-1f64).exp()).abs() < 1e-9);
///
/// // the same call on Vars: d y(2) / d p = -2 exp(-2p)
/// let tape = Tape::new();
/// let p = tape.vars(&[0.5]);
/// let sol = solve(&Decay, &[1.0.into()], &p, 0.0, &[2.0], &opts).unwrap();
/// let g = tape.gradient(sol.y[0][0]);
/// assert!((g.wrt(p[0]) + 2.0 * (-1f64).exp()).abs() < 1e-8);
/// ```
///
/// # Errors
/// [`Error::DimensionMismatch`] and [`Error::InvalidInput`] for bad inputs;
/// [`Error::StepSizeTooSmall`], [`Error::MaxStepsReached`], [`Error::NonFinite`] when the
/// integration fails (a finite-time blow-up gives one of these, never NaN). A differentiated
/// solve fails exactly when the `f64` solve fails.
pub fn solve<S: Real, Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<Solution<S>, Error> {
    check_inputs(sys, y0.len(), p.len(), t0, save_at, opts)?;
    if has_events(sys, opts) && !y0.iter().chain(p).all(|v| v.is_constant()) {
        crate::events::check_stiff(sys, opts, false)?;
        return crate::events::solve_by_segments(sys, y0, p, t0, save_at, opts);
    }
    if crate::stiff::is_stiff(opts.method) {
        return crate::stiff::solve(sys, y0, p, t0, save_at, opts);
    }
    let y0v: Vec<f64> = y0.iter().map(|v| v.value()).collect();
    let pv: Vec<f64> = p.iter().map(|v| v.value()).collect();
    if y0.iter().chain(p).all(|v| v.is_constant()) {
        // constants: the plain solve on the values (the same steps and values as `f64`)
        let (y, hits, stats) = if has_events(sys, opts) {
            integrate_events(sys, &y0v, &pv, t0, save_at, opts)?
        } else {
            let (y, stats) = integrate(sys, &y0v, &pv, t0, save_at, opts, None, &mut ())?;
            (y, Vec::new(), stats)
        };
        return Ok(constant_solution(save_at, &y, &hits, stats));
    }
    let rec = Recording::record(sys, &y0v, &pv, t0, save_at, opts)?;
    let stats = rec.stats();
    let block = OdeBlock {
        sys: sys.clone(),
        opts: opts.clone(),
        t0,
        save_at: save_at.to_vec(),
        y0: y0v,
        p: pv,
        rec,
    };
    Ok(solution_from_block(block, y0, p, save_at, stats))
}

/// A solution on constants: the `f64` states and events as `S`.
pub(crate) fn constant_solution<S: Real>(
    save_at: &[f64],
    y: &[Vec<f64>],
    hits: &[EventHit<f64>],
    stats: Stats,
) -> Solution<S> {
    let cst = |row: &[f64]| row.iter().map(|&v| S::cst(v)).collect::<Vec<S>>();
    Solution {
        t: save_at[..y.len()].to_vec(),
        y: y.iter().map(|row| cst(row)).collect(),
        stats,
        events: hits
            .iter()
            .map(|h| EventHit {
                event: h.event,
                t: S::cst(h.t),
                y: cst(&h.y),
            })
            .collect(),
    }
}

/// Applies a solve's block to the inputs `(y0, p)` and returns its outputs (the saved states,
/// row-major) as a [`Solution`]: the one way every differentiated solve without events reaches
/// the tape (with events: `crate::events::solve_by_segments`, from such solves).
pub(crate) fn solution_from_block<S: Real, B: Block>(
    block: B,
    y0: &[S],
    p: &[S],
    save_at: &[f64],
    stats: Stats,
) -> Solution<S> {
    let n = y0.len();
    let mut inputs = Vec::with_capacity(n + p.len());
    inputs.extend_from_slice(y0);
    inputs.extend_from_slice(p);
    let mut out = vec![S::zero(); save_at.len() * n];
    S::apply_block(block, &inputs, &mut out);
    Solution {
        t: save_at.to_vec(),
        y: if n == 0 {
            vec![Vec::new(); save_at.len()]
        } else {
            out.chunks_exact(n).map(|c| c.to_vec()).collect()
        },
        stats,
        events: Vec::new(),
    }
}

/// A differentiated solve as one tape node: inputs `(y0, p)`, outputs the saved states
/// (row-major). It owns a clone of the system and the recording of the forward solve.
struct OdeBlock<Sys> {
    sys: Sys,
    opts: Options,
    t0: f64,
    save_at: Vec<f64>,
    y0: Vec<f64>,
    p: Vec<f64>,
    rec: Recording,
}

impl<Sys: OdeSystem + Clone + 'static> Block for OdeBlock<Sys> {
    type Residuals = ();

    fn forward(&self, _x: &[f64], y: &mut [f64]) {
        for (o, v) in y.iter_mut().zip(self.rec.outputs().iter().flatten()) {
            *o = *v;
        }
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        // the backward (adjoint) solve can fail: its `ode::Error` reaches the caller of
        // `Tape::try_gradient` / `ad_core::try_gradient`
        self.rec.vjp(
            &self.sys,
            &self.p,
            self.t0,
            &self.save_at,
            &self.opts,
            y_bar,
            x_bar,
        )?;
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.rec.jvp(
            &self.sys,
            &self.y0,
            &self.p,
            self.t0,
            &self.save_at,
            &self.opts,
            x_dot,
            y_dot,
        );
        Ok(())
    }

    /// The forward sensitivity along `x_dot` solved on `T` (see `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        let (o, t0) = (&self.opts, self.t0);
        crate::second_order::nested_tangent(&self.sys, o, t0, &self.save_at, x, x_dot, y_dot)
    }
}
