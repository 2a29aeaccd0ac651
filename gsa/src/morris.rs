//! Morris elementary effects (Morris 1991) with `mu*` (Campolongo, Cariboni & Saltelli 2007).

use ad_core::Function;

use crate::error::Error;
#[cfg(feature = "mpi")]
use crate::model::Ranks;
use crate::model::{settle, FunctionModel, Local, Model, OnFailure, Rows};
use crate::problem::{normal_quantile, Distribution, Problem};
use crate::rng::Rng;
use crate::sobol::{check_level, conf_half_width, resample};

/// Options of [`morris`]. Build with struct update syntax.
#[derive(Clone, Debug, PartialEq)]
pub struct MorrisOptions {
    /// Trajectories `r`: the model runs `r (k + 1)` times. Default 20.
    pub trajectories: usize,
    /// Grid levels `p` (even, >= 2); the step is `Δ = p / (2 (p - 1))` of the unit range.
    /// Default 4.
    pub levels: usize,
    /// Seed of the trajectories and of the bootstrap. Default 0.
    pub seed: u64,
    /// Bootstrap resamples of the trajectories for the confidence of `mu*`. Default 100.
    pub bootstrap: usize,
    /// Confidence level. Default 0.95.
    pub confidence_level: f64,
    /// What to do when the model fails on a run (drops the trajectory). Default
    /// [`OnFailure::Stop`].
    pub on_failure: OnFailure,
    /// Show a progress bar on standard error (only on a terminal). Default true.
    pub progress: bool,
}

impl Default for MorrisOptions {
    fn default() -> Self {
        MorrisOptions {
            trajectories: 20,
            levels: 4,
            seed: 0,
            bootstrap: 100,
            confidence_level: 0.95,
            on_failure: OnFailure::Stop,
            progress: true,
        }
    }
}

/// Morris measures of every output, `[output][input]`. Elementary effects are taken per unit
/// of each input's probability scale (the step `Δ` on the unit cube), as SALib does.
#[derive(Clone, Debug, PartialEq)]
pub struct MorrisIndices {
    /// Mean elementary effect `mu`.
    pub mu: Vec<Vec<f64>>,
    /// Mean absolute elementary effect `mu*`.
    pub mu_star: Vec<Vec<f64>>,
    /// Standard deviation of the elementary effects (`ddof = 1`).
    pub sigma: Vec<Vec<f64>>,
    /// Bootstrap confidence half-width of `mu*`.
    pub mu_star_conf: Vec<Vec<f64>>,
    /// Input names.
    pub names: Vec<String>,
    /// Trajectories used (after dropping failed ones).
    pub trajectories: usize,
    /// Trajectories dropped ([`OnFailure::Drop`]).
    pub dropped: usize,
}

/// The Morris design: `r` trajectories of `k + 1` points on the `p`-level grid of the unit
/// cube, each moving one input by `±Δ` per step in a random order, as unit points (rows), and
/// the signed step `(input, ±Δ)` of each row after the first of its trajectory.
fn trajectories(k: usize, r: usize, p: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<(usize, f64)>) {
    let mut rng = Rng::new(seed, 3);
    let delta = p as f64 / (2.0 * (p - 1) as f64);
    let step = p / 2; // Δ in grid levels
    let mut rows = Vec::with_capacity(r * (k + 1));
    let mut steps = Vec::with_capacity(r * k);
    for _ in 0..r {
        let mut level: Vec<usize> = (0..k).map(|_| rng.below(p)).collect();
        let to_unit =
            |l: &[usize]| -> Vec<f64> { l.iter().map(|&v| v as f64 / (p - 1) as f64).collect() };
        rows.push(to_unit(&level));
        for i in rng.permutation(k) {
            // levels below p/2 can step up by Δ, the others down
            let up = level[i] < step;
            if up {
                level[i] += step;
            } else {
                level[i] -= step;
            }
            rows.push(to_unit(&level));
            steps.push((i, if up { delta } else { -delta }));
        }
    }
    (rows, steps)
}

/// A grid value to a model input; the normal's ends (infinite) are moved to probabilities
/// `1 / (2p)` and `1 - 1 / (2p)`.
fn to_input(problem: &Problem, u: &[f64], p: usize) -> Vec<f64> {
    problem
        .inputs()
        .iter()
        .zip(u)
        .map(|(input, &ui)| match input.distribution {
            Distribution::Normal { mean, std } => {
                let e = 0.5 / p as f64;
                mean + std * normal_quantile(e + ui * (1.0 - 2.0 * e))
            }
            d => d.quantile(ui),
        })
        .collect()
}

/// Morris screening of every output of `model`: `options.trajectories` one-at-a-time
/// trajectories on a `levels`-level grid; for each input its elementary effects
/// `EE_i = (f(x + Δ e_i) - f(x)) / Δ` give `mu`, `mu* = mean |EE_i|` and `sigma`.
///
/// ```
/// use gsa::{morris, MorrisOptions};
/// use gsa::testing::GFunction;
///
/// let g = GFunction { a: vec![0.0, 9.0, 99.0] };
/// let m = morris(&g.problem(), &g, &MorrisOptions { trajectories: 40, ..Default::default() })?;
/// assert!(m.mu_star[0][0] > m.mu_star[0][1] && m.mu_star[0][1] > m.mu_star[0][2]);
/// # Ok::<(), gsa::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidOption`] for fewer than 2 trajectories or odd / fewer than 2 levels; a
/// failed run as in [`crate::sobol`].
pub fn morris<F: Function + Sync>(
    problem: &Problem,
    model: &F,
    options: &MorrisOptions,
) -> Result<MorrisIndices, Error> {
    morris_model(problem, &FunctionModel(model), options)
}

/// [`morris`] for any [`Model`].
///
/// # Errors
/// As [`morris`].
pub fn morris_model<M: Model>(
    problem: &Problem,
    model: &M,
    options: &MorrisOptions,
) -> Result<MorrisIndices, Error> {
    morris_with(problem, model, options, &Local)
}

/// [`morris`] with the model evaluations split across the ranks of `comm` (static blocks of
/// the design's rows, rayon inside each rank; the `mpi` feature). Every rank must call it
/// with the same problem and options; every rank gets the same indices, bit-identical to
/// [`morris`]'s with the same seed, and rank 0 alone shows the progress bar.
///
/// # Errors
/// As [`morris`] (a failed sample is the same [`Error::SampleFailed`] on every rank), and
/// [`Error::Distributed`] if the ranks were given different problems.
#[cfg(feature = "mpi")]
pub fn morris_mpi<C, F>(
    comm: &C,
    problem: &Problem,
    model: &F,
    options: &MorrisOptions,
) -> Result<MorrisIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    F: Function + Sync,
{
    morris_model_mpi(comm, problem, &FunctionModel(model), options)
}

/// [`morris_mpi`] for any [`Model`].
///
/// # Errors
/// As [`morris_mpi`].
#[cfg(feature = "mpi")]
pub fn morris_model_mpi<C, M>(
    comm: &C,
    problem: &Problem,
    model: &M,
    options: &MorrisOptions,
) -> Result<MorrisIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    M: Model,
{
    morris_with(problem, model, options, &Ranks(comm))
}

fn morris_with<M: Model>(
    problem: &Problem,
    model: &M,
    options: &MorrisOptions,
    rows: &impl Rows,
) -> Result<MorrisIndices, Error> {
    check_level(options.confidence_level)?;
    let (r, p, k) = (options.trajectories, options.levels, problem.dim());
    if r < 2 {
        return Err(Error::InvalidOption(format!(
            "trajectories = {r} must be at least 2"
        )));
    }
    if p < 2 || p % 2 != 0 {
        return Err(Error::InvalidOption(format!(
            "levels = {p} must be even and at least 2 (the step Δ = p / (2 (p - 1)) lands on the grid only then)"
        )));
    }
    let (unit, steps) = trajectories(k, r, p, options.seed);
    let x: Vec<Vec<f64>> = unit.iter().map(|u| to_input(problem, u, p)).collect();
    let results = rows.run(
        &x,
        options.progress,
        "morris",
        &format!("{options:?}"),
        |xi| model.evaluate(xi),
    )?;
    let tagged: Vec<Result<(usize, Vec<f64>), String>> = results
        .into_iter()
        .enumerate()
        .map(|(i, res)| res.map(|y| (i, y)))
        .collect();
    let settled = settle(tagged, &x, k + 1, options.on_failure, |(_, y)| y.len())?;
    let used = settled.rows.len() / (k + 1);
    if used < 2 {
        return Err(Error::TooFewSamples {
            remaining: used,
            dropped: settled.dropped,
            needed: 2,
        });
    }
    let n_out = settled.rows[0].1.len();
    let z = normal_quantile(0.5 + options.confidence_level / 2.0);
    let resamples: Vec<Vec<usize>> = (0..options.bootstrap)
        .map(|b| resample(options.seed, b, used))
        .collect();
    let mut out = MorrisIndices {
        mu: Vec::new(),
        mu_star: Vec::new(),
        sigma: Vec::new(),
        mu_star_conf: Vec::new(),
        names: problem.names().iter().map(|s| s.to_string()).collect(),
        trajectories: used,
        dropped: settled.dropped,
    };
    for o in 0..n_out {
        // ee[i][t]: the effect of input i in kept trajectory t
        let mut ee = vec![Vec::with_capacity(used); k];
        for traj in settled.rows.chunks_exact(k + 1) {
            let first_row = traj[0].0;
            let t_index = first_row / (k + 1);
            for s in 0..k {
                let (i, d) = steps[t_index * k + s];
                ee[i].push((traj[s + 1].1[o] - traj[s].1[o]) / d);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let mut mu = Vec::with_capacity(k);
        let mut mu_star = Vec::with_capacity(k);
        let mut sigma = Vec::with_capacity(k);
        let mut conf = Vec::with_capacity(k);
        for e in &ee {
            let m = mean(e);
            mu.push(m);
            let abs: Vec<f64> = e.iter().map(|v| v.abs()).collect();
            mu_star.push(mean(&abs));
            sigma.push(conf_half_width(e, 1.0));
            let boot: Vec<f64> = resamples
                .iter()
                .map(|idx| idx.iter().map(|&t| abs[t]).sum::<f64>() / used as f64)
                .collect();
            conf.push(conf_half_width(&boot, z));
        }
        out.mu.push(mu);
        out.mu_star.push(mu_star);
        out.sigma.push(sigma);
        out.mu_star_conf.push(conf);
    }
    Ok(out)
}
