//! Ensembles: the same system over many parameter sets, in parallel (rayon), results in input
//! order. Each task has its own adaptive steps and, for gradients, its own tape; nothing is
//! shared between tasks but the (immutable, `Sync`) system.

use ad_core::{Tape, Var};
use rayon::prelude::*;

use crate::error::Error;
use crate::options::Options;
use crate::solution::Solution;
use crate::solve::solve;
use crate::system::OdeSystem;

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
