//! Stiff integrators: variable-order BDF/NDF ([`Method::Bdf`]) and the
//! L-stable Rosenbrock method Rodas4 ([`Method::Rodas4`]), with dense
//! Jacobians of the user's generic right-hand side by forward mode and forward sensitivities
//! carried through the same iteration matrices.
//!
//! A solve on [`Var`](ad_core::Var) or [`Dual`](ad_core::Dual) inputs is one block. With
//! forward sensitivities (the default for `dim + n_params <= 16`, and always for Rodas4) its
//! forward pass computes the full Jacobian of the saved states with respect to `(y0, p)` and
//! its backward/tangent passes are products with it: BDF carries the sensitivities in its
//! difference array (staggered direct corrector), Rodas4 runs its generic kernel on `Dual`
//! numbers. With BDF and [`Sensitivity::DiscreteAdjoint`](crate::Sensitivity) (or `Auto` for
//! `dim + n_params > 16`) the backward pass is the discrete adjoint, the exact transpose of the
//! forward sensitivities over the logged steps (`stiff/discrete.rs`); with
//! [`Sensitivity::InterpolatingAdjoint`](crate::Sensitivity) it is the continuous adjoint solved
//! backward with BDF (`stiff/adjoint.rs`). The guide: `docs/stiff.md`.

// The kernels index several arrays in step; iterator chains would hide the formulas.
#![allow(clippy::needless_range_loop)]

pub(crate) mod adjoint;
pub(crate) mod bdf;
pub(crate) mod blocks;
pub(crate) mod differences;
pub(crate) mod discrete;
pub(crate) mod generic;
pub(crate) mod jacobian;
pub(crate) mod linalg;
pub(crate) mod newton;
pub(crate) mod rodas;
pub(crate) mod sparse;

use ad_core::Real;

use blocks::{AdjointBlock, DiscreteBlock, SensitivityBlock, Solved};

use crate::error::Error;
use crate::events::EventHit;
use crate::options::{Method, Options, Sensitivity};
use crate::solution::{Solution, Stats};
use crate::solve::solution_from_block;
use crate::system::OdeSystem;

/// Counters of a stiff solve beyond [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StiffStats {
    /// Jacobian evaluations (`∂f/∂y` by forward mode).
    pub jac_evals: usize,
    /// Right-hand-side evaluations on `Dual` numbers for the Jacobians.
    pub jac_rhs_evals: usize,
    /// LU factorisations of the iteration matrix.
    pub factorisations: usize,
    /// Newton iterations (BDF).
    pub newton_iters: usize,
    /// Newton convergence failures (BDF).
    pub newton_failures: usize,
    /// Steps rejected by the error test.
    pub error_test_failures: usize,
    /// Right-hand-side evaluations on `Dual` numbers for the sensitivities.
    pub sens_rhs_evals: usize,
    /// Sparse Jacobian (BDF, detected automatically for large sparse systems): stored
    /// entries of the pattern; 0 when the Jacobian is dense.
    pub jacobian_nnz: usize,
    /// Sparse Jacobian: colours of the column colouring (tangent directions per Jacobian).
    pub jacobian_colours: usize,
}

/// The saved states (and sensitivities) of a stiff solve.
pub(crate) struct StiffOutput {
    n: usize,
    m: usize,
    /// The states at the save times.
    pub(crate) saved: Vec<Vec<f64>>,
    /// Row-major `(save_at.len() * n) x m`: `∂y_i(t_k)/∂x_j` at `(k * n + i) * m + j`.
    pub(crate) jac: Vec<f64>,
    pub(crate) stats: Stats,
    pub(crate) stiff: StiffStats,
    /// BDF with [`Keep::Polys`](bdf::Keep): the polynomial of every accepted step.
    pub(crate) trace: Vec<differences::StepPoly>,
    /// BDF with [`Keep::Log`](bdf::Keep): what the discrete adjoint needs.
    pub(crate) log: Option<discrete::StepLog>,
    /// The events that fired (BDF on `f64`).
    pub(crate) events: Vec<EventHit<f64>>,
}

impl StiffOutput {
    pub(crate) fn new(n: usize, m: usize) -> Self {
        StiffOutput {
            n,
            m,
            saved: Vec::new(),
            jac: Vec::new(),
            stats: Stats::default(),
            stiff: StiffStats::default(),
            trace: Vec::new(),
            log: None,
            events: Vec::new(),
        }
    }

    /// Appends one saved row `(y, S)` of width `n (1 + m)`.
    pub(crate) fn push(&mut self, row: &[f64]) {
        self.saved.push(row[..self.n].to_vec());
        if self.m > 0 {
            self.jac.extend_from_slice(&row[self.n..]);
        }
    }
}

/// True for the stiff methods.
pub(crate) fn is_stiff(method: Method) -> bool {
    matches!(method, Method::Bdf | Method::Rodas4)
}

/// Runs the stiff method of `opts` on `f64`, with sensitivities if `sens`.
pub(crate) fn integrate<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    sens: bool,
) -> Result<StiffOutput, Error> {
    crate::events::check_stiff(sys, opts, sens)?;
    match opts.method {
        Method::Rodas4 => rodas::integrate(sys, y0, p, t0, save_at, opts, sens),
        _ => bdf::integrate(sys, y0, p, t0, save_at, opts, sens, bdf::Keep::Nothing),
    }
}

/// Solves on `f64` with a stiff method ([`Method::Bdf`] or [`Method::Rodas4`]) and returns the
/// solution with the stiff counters (Jacobians, factorisations, Newton iterations).
///
/// # Errors
/// As [`solve`](crate::solve); [`Error::InvalidInput`] if `opts.method` is not stiff.
pub fn solve_with_stats<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(Solution<f64>, StiffStats), Error> {
    crate::solve::check_inputs(sys, y0.len(), p.len(), t0, save_at, opts)?;
    if !is_stiff(opts.method) {
        return Err(Error::InvalidInput(format!(
            "solve_with_stats needs a stiff method, got {:?}",
            opts.method
        )));
    }
    let o = integrate(sys, y0, p, t0, save_at, opts, false)?;
    Ok((
        Solution {
            t: save_at[..o.saved.len()].to_vec(),
            y: o.saved,
            stats: o.stats,
            events: o.events,
        },
        o.stiff,
    ))
}

/// The forward sensitivities of a stiff solve: the saved states and the row-major Jacobian
/// `(save_at.len() * dim) x (dim + n_params)` of the saved states with respect to `(y0, p)`.
///
/// # Errors
/// As [`solve_with_stats`].
pub fn sensitivities<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(Solution<f64>, Vec<f64>, StiffStats), Error> {
    crate::solve::check_inputs(sys, y0.len(), p.len(), t0, save_at, opts)?;
    let o = integrate(sys, y0, p, t0, save_at, opts, true)?;
    Ok((
        Solution {
            t: save_at[..o.saved.len()].to_vec(),
            y: o.saved,
            stats: o.stats,
            events: o.events,
        },
        o.jac,
        o.stiff,
    ))
}

/// The derivative pass of a differentiated stiff solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Forward sensitivities (the full Jacobian of the saved states).
    Forward,
    /// The continuous adjoint solved backward with BDF ([`adjoint`]).
    Continuous,
    /// The discrete adjoint of BDF ([`discrete`]).
    Discrete,
}

/// The derivative pass of a differentiated solve with these options: with [`Method::Bdf`],
/// [`Sensitivity::InterpolatingAdjoint`] gives the continuous adjoint,
/// [`Sensitivity::DiscreteAdjoint`] the discrete one, `Auto` the discrete one for
/// `dim + n_params > 16`; everything else (and Rodas4 always) forward sensitivities.
pub(crate) fn pass(opts: &Options, n: usize, n_params: usize) -> Pass {
    if opts.method != Method::Bdf {
        return Pass::Forward;
    }
    match opts.sensitivity {
        Sensitivity::InterpolatingAdjoint { .. } => Pass::Continuous,
        Sensitivity::DiscreteAdjoint { .. } => Pass::Discrete,
        Sensitivity::Auto if n + n_params > 16 => Pass::Discrete,
        _ => Pass::Forward,
    }
}

/// The stiff branch of [`solve`](crate::solve) (inputs already checked).
pub(crate) fn solve<S: Real, Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<Solution<S>, Error> {
    let y0v: Vec<f64> = y0.iter().map(|v| v.value()).collect();
    let pv: Vec<f64> = p.iter().map(|v| v.value()).collect();
    let constant = y0.iter().chain(p).all(|v| v.is_constant());
    let n = y0.len();
    let kind = pass(opts, n, p.len());
    crate::events::check_stiff(sys, opts, !constant)?;
    if !constant && kind == Pass::Discrete {
        let o = bdf::integrate(sys, &y0v, &pv, t0, save_at, opts, false, bdf::Keep::Log)?;
        let stats = o.stats;
        let block = DiscreteBlock {
            solved: Solved::new(sys.clone(), opts, t0, save_at, y0v, pv, o.saved.concat()),
            log: o.log.expect("the step log was asked for"),
        };
        return Ok(solution_from_block(block, y0, p, save_at, stats));
    }
    if !constant && kind == Pass::Continuous {
        let o = bdf::integrate(sys, &y0v, &pv, t0, save_at, opts, false, bdf::Keep::Polys)?;
        let stats = o.stats;
        let block = AdjointBlock {
            solved: Solved::new(sys.clone(), opts, t0, save_at, y0v, pv, o.saved.concat()),
            trace: o.trace,
        };
        return Ok(solution_from_block(block, y0, p, save_at, stats));
    }
    let o = integrate(sys, &y0v, &pv, t0, save_at, opts, !constant)?;
    if constant {
        return Ok(crate::solve::constant_solution(
            save_at, &o.saved, &o.events, o.stats,
        ));
    }
    let stats = o.stats;
    let block = crate::second_order::WithTangent {
        block: SensitivityBlock {
            n_in: n + p.len(),
            values: o.saved.concat(),
            jac: o.jac,
        },
        sys: sys.clone(),
        opts: opts.clone(),
        t0,
        save_at: save_at.to_vec(),
    };
    Ok(solution_from_block(block, y0, p, save_at, stats))
}

/// The initial step size (Hairer, Nørsett & Wanner I, II.4; SciPy's `select_initial_step`)
/// for a method of error order `order`, at most `span`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn initial_step<Sys: OdeSystem>(
    sys: &Sys,
    t0: f64,
    y0: &[f64],
    f0: &[f64],
    p: &[f64],
    order: f64,
    opts: &Options,
    span: f64,
) -> f64 {
    let n = y0.len();
    if n == 0 || span <= 0.0 {
        return span.max(f64::MIN_POSITIVE);
    }
    let scale: Vec<f64> = (0..n)
        .map(|i| opts.atol_at(i) + opts.rtol * y0[i].abs())
        .collect();
    let d0 = newton::rms(y0, &scale);
    let d1 = newton::rms(f0, &scale);
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    }
    .min(span);
    let y1: Vec<f64> = (0..n).map(|i| y0[i] + h0 * f0[i]).collect();
    let mut f1 = vec![0.0; n];
    sys.rhs(t0 + h0, &y1, p, &mut f1);
    let diff: Vec<f64> = (0..n).map(|i| f1[i] - f0[i]).collect();
    let d2 = newton::rms(&diff, &scale) / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / (order + 1.0))
    };
    let h = (100.0 * h0).min(h1).min(span);
    if h.is_finite() && h > 0.0 {
        h
    } else {
        1e-6_f64.min(span)
    }
}

/// The stiff branch of [`vjp`](crate::vjp) (`y_bar` row-major `save_at.len() x dim`, inputs
/// checked): the pass of [`pass`] — the discrete adjoint, the continuous adjoint, or forward
/// sensitivities and one product with the cotangent.
pub(crate) fn vjp<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    y_bar: &[f64],
) -> Result<crate::Gradient, Error> {
    let kind = pass(opts, y0.len(), p.len());
    crate::events::check_stiff(sys, opts, true)?;
    if kind == Pass::Discrete {
        let o = bdf::integrate(sys, y0, p, t0, save_at, opts, false, bdf::Keep::Log)?;
        let log = o.log.as_ref().expect("the step log was asked for");
        let mut x_bar = vec![0.0; y0.len() + p.len()];
        let start = discrete::Start {
            sys,
            y0,
            p,
            t0,
            save_at,
            opts,
        };
        let counts = discrete::reverse(&start, log, y_bar, &mut x_bar)?;
        let p_bar = x_bar.split_off(y0.len());
        return Ok(crate::Gradient {
            adjoint: crate::AdjointStats {
                taped_steps: counts.steps,
                recomputed_steps: counts.recomputed,
                forward_checkpoints: log.states_held(),
                max_states_held: counts.max_held,
                ..Default::default()
            },
            solution: Solution {
                t: save_at.to_vec(),
                y: o.saved,
                stats: o.stats,
                events: Vec::new(),
            },
            y0_bar: x_bar,
            p_bar,
        });
    }
    if kind == Pass::Continuous {
        let o = bdf::integrate(sys, y0, p, t0, save_at, opts, false, bdf::Keep::Polys)?;
        let mut x_bar = vec![0.0; y0.len() + p.len()];
        let (steps, evals) =
            adjoint::backward(sys, p, t0, save_at, opts, &o.trace, y_bar, &mut x_bar)?;
        let p_bar = x_bar.split_off(y0.len());
        return Ok(crate::Gradient {
            solution: Solution {
                t: save_at.to_vec(),
                y: o.saved,
                stats: o.stats,
                events: Vec::new(),
            },
            y0_bar: x_bar,
            p_bar,
            adjoint: crate::AdjointStats {
                adjoint_steps: steps,
                taped_steps: evals,
                forward_checkpoints: o.trace.len(),
                ..Default::default()
            },
        });
    }
    let o = integrate(sys, y0, p, t0, save_at, opts, true)?;
    let n_in = y0.len() + p.len();
    let mut x_bar = vec![0.0; n_in];
    crate::sensitivity::forward::add_transposed(&o.jac, y_bar, &mut x_bar);
    let p_bar = x_bar.split_off(y0.len());
    Ok(crate::Gradient {
        solution: Solution {
            t: save_at.to_vec(),
            y: o.saved,
            stats: o.stats,
            events: Vec::new(),
        },
        y0_bar: x_bar,
        p_bar,
        adjoint: crate::AdjointStats::default(),
    })
}
