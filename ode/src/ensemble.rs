//! Ensembles: the same system over many parameter sets, in parallel (rayon), results in input
//! order. Each task has its own adaptive steps and, for gradients, its own tape; nothing is
//! shared between tasks but the (immutable, `Sync`) system.
//!
//! With the `mpi` feature, `solve_ensemble_mpi` and `gradient_ensemble_mpi` split the
//! parameter sets across the ranks of a communicator ([`distributed`]: static blocks, rayon
//! inside each rank) and return every result on every rank, bit-identical to the one-process
//! run.

pub mod distributed;

use ad_core::{Tape, Var};
use rayon::prelude::*;

use crate::error::Error;
use crate::events::{Event, EventHit};
use crate::options::Options;
use crate::solution::{Solution, Stats};
use crate::solve::solve;
use crate::system::OdeSystem;
use distributed::Wire;

/// Solves from `y0` for every parameter set in `params`, in parallel; result `j` belongs to
/// `params[j]`.
pub fn solve_ensemble<Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    y0: &[f64],
    params: &[Vec<f64>],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Vec<Result<Solution<f64>, Error>> {
    params
        .par_iter()
        .map(|p| solve(sys, y0, p, t0, save_at, opts))
        .collect()
}

/// The value of a loss and its gradient with respect to `y0` and `p`.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleGradient {
    /// The loss.
    pub value: f64,
    /// d loss / d y0.
    pub y0_bar: Vec<f64>,
    /// d loss / d p.
    pub p_bar: Vec<f64>,
}

/// For every parameter set `p_j` in `params`, in parallel with one tape per task: solves from
/// `y0` (the solve is one block on that tape, backward pass `opts.sensitivity`), evaluates
/// `loss(&solution)` and returns its value and gradient. Result `j` belongs to `params[j]`.
///
/// ```
/// use ode::{gradient_ensemble, Options, OdeSystem, Real};
///
/// #[derive(Clone)]
/// struct Decay;
/// impl OdeSystem for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn n_params(&self) -> usize { 1 }
///     fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) { dy[0] = -p[0] * y[0]; }
/// }
/// let params: Vec<Vec<f64>> = (1..=4).map(|j| vec![0.1 * j as f64]).collect();
/// let opts = Options { rtol: 1e-10, atol: 1e-12, ..Default::default() };
/// let out = gradient_ensemble(&Decay, &[1.0], &params, 0.0, &[1.0], &opts, |s| s.y[0][0]);
/// for (p, g) in params.iter().zip(&out) {
///     let g = g.as_ref().unwrap();
///     assert!((g.p_bar[0] + (-p[0]).exp()).abs() < 1e-8); // d/dp exp(-p)
/// }
/// ```
pub fn gradient_ensemble<Sys, F>(
    sys: &Sys,
    y0: &[f64],
    params: &[Vec<f64>],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    loss: F,
) -> Vec<Result<EnsembleGradient, Error>>
where
    Sys: OdeSystem + Clone + 'static,
    F: for<'t> Fn(&Solution<Var<'t>>) -> Var<'t> + Sync,
{
    params
        .par_iter()
        .map(|p| {
            let tape = Tape::new();
            let y0v = tape.vars(y0);
            let pv = tape.vars(p);
            let sol = solve(sys, &y0v, &pv, t0, save_at, opts)?;
            let l = loss(&sol);
            let adj = tape.gradient(l);
            Ok(EnsembleGradient {
                value: l.value(),
                y0_bar: adj.wrt_all(&y0v),
                p_bar: adj.wrt_all(&pv),
            })
        })
        .collect()
}

impl Wire for Solution<f64> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.t.encode(out);
        self.y.encode(out);
        [self.stats.steps, self.stats.rejected, self.stats.rhs_evals]
            .to_vec()
            .encode(out);
        // each event as (kind, index) and (t, y...)
        let ids: Vec<usize> = self
            .events
            .iter()
            .flat_map(|h| match h.event {
                Event::State(k) => [0, k],
                Event::Time(j) => [1, j],
            })
            .collect();
        ids.encode(out);
        let rows: Vec<Vec<f64>> = self
            .events
            .iter()
            .map(|h| std::iter::once(h.t).chain(h.y.iter().copied()).collect())
            .collect();
        rows.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        let t = Vec::decode(input)?;
        let y = Vec::decode(input)?;
        let s: Vec<usize> = Vec::decode(input)?;
        let [steps, rejected, rhs_evals] = s[..] else {
            return None;
        };
        let ids: Vec<usize> = Vec::decode(input)?;
        let rows: Vec<Vec<f64>> = Vec::decode(input)?;
        if ids.len() != 2 * rows.len() || rows.iter().any(|r| r.is_empty()) {
            return None;
        }
        let mut events = Vec::with_capacity(rows.len());
        for (id, row) in ids.chunks_exact(2).zip(rows) {
            let event = match id[0] {
                0 => Event::State(id[1]),
                1 => Event::Time(id[1]),
                _ => return None,
            };
            events.push(EventHit {
                event,
                t: row[0],
                y: row[1..].to_vec(),
            });
        }
        Some(Solution {
            t,
            y,
            stats: Stats {
                steps,
                rejected,
                rhs_evals,
            },
            events,
        })
    }
}

impl Wire for EnsembleGradient {
    fn encode(&self, out: &mut Vec<u8>) {
        self.value.encode(out);
        self.y0_bar.encode(out);
        self.p_bar.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        Some(EnsembleGradient {
            value: f64::decode(input)?,
            y0_bar: Vec::decode(input)?,
            p_bar: Vec::decode(input)?,
        })
    }
}

/// What every rank must agree on: the inputs and options of an ensemble (the system itself
/// cannot be hashed; the same binary is assumed).
#[cfg(feature = "mpi")]
fn ensemble_fingerprint(
    y0: &[f64],
    params: &[Vec<f64>],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> u64 {
    let mut h = distributed::Fingerprint::new();
    h.f64s(y0).f64(t0).f64s(save_at).str(&format!("{opts:?}"));
    for p in params {
        h.f64s(p);
    }
    h.finish()
}

/// [`solve_ensemble`] split across the ranks of `comm`: rank `r` solves its static block of
/// `params` ([`distributed::block_range`], in parallel with rayon), then every rank receives
/// every solution, in `params` order and bit-identical to [`solve_ensemble`]'s.
///
/// Every rank must call it with the same arguments (checked: a different count or different
/// inputs or options on any rank gives every rank [`distributed::Error::ProblemMismatch`]).
/// If any solve fails, every rank returns the same [`distributed::Error::SampleFailed`]: the
/// failed parameter set with the lowest index and the solver's message.
#[cfg(feature = "mpi")]
pub fn solve_ensemble_mpi<C, Sys>(
    comm: &C,
    sys: &Sys,
    y0: &[f64],
    params: &[Vec<f64>],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<Vec<Solution<f64>>, distributed::Error>
where
    C: mpi::traits::Communicator,
    Sys: OdeSystem + Clone + 'static,
{
    let (_, size) = distributed::rank_and_size(comm);
    let fp = ensemble_fingerprint(y0, params, t0, save_at, opts);
    let all = distributed::run_blocks(comm, params.len(), fp, |block| {
        solve_ensemble(sys, y0, &params[block], t0, save_at, opts)
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    })?;
    distributed::all_ok(all, size)
}

/// [`gradient_ensemble`] split across the ranks of `comm`, as [`solve_ensemble_mpi`]: every
/// rank returns every parameter set's loss and gradient, in order and bit-identical to
/// [`gradient_ensemble`]'s, or the same typed error.
#[cfg(feature = "mpi")]
#[allow(clippy::too_many_arguments)]
pub fn gradient_ensemble_mpi<C, Sys, F>(
    comm: &C,
    sys: &Sys,
    y0: &[f64],
    params: &[Vec<f64>],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    loss: F,
) -> Result<Vec<EnsembleGradient>, distributed::Error>
where
    C: mpi::traits::Communicator,
    Sys: OdeSystem + Clone + 'static,
    F: for<'t> Fn(&Solution<Var<'t>>) -> Var<'t> + Sync,
{
    let (_, size) = distributed::rank_and_size(comm);
    let fp = ensemble_fingerprint(y0, params, t0, save_at, opts);
    let all = distributed::run_blocks(comm, params.len(), fp, |block| {
        gradient_ensemble(sys, y0, &params[block], t0, save_at, opts, loss)
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    })?;
    distributed::all_ok(all, size)
}
