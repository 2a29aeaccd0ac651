//! Sobol' indices from Saltelli's design: first order (Saltelli et al. 2010), total (Jansen
//! 1999), second order (Saltelli 2002), bootstrap confidence intervals.

use ad_core::Function;
use rayon::prelude::*;

use crate::error::Error;
#[cfg(feature = "mpi")]
use crate::model::Ranks;
use crate::model::{settle, FunctionModel, Local, Model, OnFailure, Rows};
use crate::problem::{normal_quantile, Problem};
use crate::rng::Rng;
use crate::sampling::{rows_per_base, saltelli, Sampling};

/// Options of [`sobol`]. Build with struct update syntax:
/// `SobolOptions { samples: 4096, seed: 1, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq)]
pub struct SobolOptions {
    /// Base sample size `N`: the model runs `N (k + 2)` times (`N (2k + 2)` with second
    /// order). A power of two keeps the scrambled Sobol' design balanced. Default 1024.
    pub samples: usize,
    /// Seed of the design and of the bootstrap; the same seed gives bit-identical results on
    /// any number of threads. Default 0.
    pub seed: u64,
    /// Bootstrap resamples for the confidence intervals (0: no intervals, all zero).
    /// Default 100.
    pub bootstrap: usize,
    /// Confidence level of the intervals, in (0, 1). Default 0.95.
    pub confidence_level: f64,
    /// How the design is drawn. Default [`Sampling::Sobol`].
    pub sampling: Sampling,
    /// Also estimate second-order indices (`k` more runs per base point). Default false.
    pub second_order: bool,
    /// What to do when the model fails on a sample. Default [`OnFailure::Stop`].
    pub on_failure: OnFailure,
    /// Show a progress bar on standard error while the model runs (only on a terminal).
    /// Default true.
    pub progress: bool,
}

impl Default for SobolOptions {
    fn default() -> Self {
        SobolOptions {
            samples: 1024,
            seed: 0,
            bootstrap: 100,
            confidence_level: 0.95,
            sampling: Sampling::Sobol,
            second_order: false,
            on_failure: OnFailure::Stop,
            progress: true,
        }
    }
}

impl SobolOptions {
    fn validate(&self) -> Result<(), Error> {
        if self.samples < 2 {
            return Err(Error::InvalidOption(format!(
                "samples = {} must be at least 2",
                self.samples
            )));
        }
        check_level(self.confidence_level)
    }
}

pub(crate) fn check_level(level: f64) -> Result<(), Error> {
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidOption(format!(
            "confidence_level = {level} must be in (0, 1)"
        )));
    }
    Ok(())
}

/// Sobol' indices of every output: `first[o][i]` is the first-order index of input `i` for
/// output `o`. The `*_conf` fields are half-widths of bootstrap confidence intervals at
/// [`SobolOptions::confidence_level`]: `first[o][i] ± first_conf[o][i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SobolIndices {
    /// First-order indices `S_i`, `[output][input]`.
    pub first: Vec<Vec<f64>>,
    /// Total indices `ST_i`, `[output][input]`.
    pub total: Vec<Vec<f64>>,
    /// Confidence half-widths of `first`.
    pub first_conf: Vec<Vec<f64>>,
    /// Confidence half-widths of `total`.
    pub total_conf: Vec<Vec<f64>>,
    /// Second-order indices `S_ij` (`[output][i][j]`, filled for `i < j`, zero elsewhere)
    /// when [`SobolOptions::second_order`] was set.
    pub second: Option<Vec<Vec<Vec<f64>>>>,
    /// Confidence half-widths of `second`.
    pub second_conf: Option<Vec<Vec<Vec<f64>>>>,
    /// The variance of each output over the `A` and `B` rows.
    pub variance: Vec<f64>,
    /// Input names.
    pub names: Vec<String>,
    /// Base points used (after dropping failed ones).
    pub samples: usize,
    /// Base points dropped because the model failed on one of their runs
    /// ([`OnFailure::Drop`]).
    pub dropped: usize,
    /// Model runs made.
    pub evaluations: usize,
}

/// Sobol' first and total indices (and optionally second order) of every output of `model`,
/// with bootstrap confidence intervals, from one Saltelli design of `options.samples` base
/// points. The model runs in parallel (rayon); results are stored by sample index, so the
/// indices are bit-identical for a seed whatever the number of threads.
///
/// ```
/// use gsa::{sobol, Problem, SobolOptions};
/// use ad_core::{Function, Real};
///
/// // y = x1 + 2 x2 on [0, 1]^2: S = (1/5, 4/5), no interaction.
/// struct Linear;
/// impl Function for Linear {
///     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> { vec![x[0] + x[1] * 2.0] }
/// }
/// let problem = Problem::new(&[(0.0, 1.0), (0.0, 1.0)])?;
/// let s = sobol(&problem, &Linear, &SobolOptions { samples: 1024, seed: 1, ..Default::default() })?;
/// assert!((s.first[0][0] - 0.2).abs() < 0.01 && (s.total[0][1] - 0.8).abs() < 0.01);
/// # Ok::<(), gsa::Error>(())
/// ```
///
/// # Errors
/// Bad options ([`Error::InvalidOption`], [`Error::SobolLimit`]); a failed sample
/// ([`Error::SampleFailed`], unless `on_failure` drops it); [`Error::TooFewSamples`] if fewer
/// than 2 base points remain.
pub fn sobol<F: Function + Sync>(
    problem: &Problem,
    model: &F,
    options: &SobolOptions,
) -> Result<SobolIndices, Error> {
    sobol_model(problem, &FunctionModel(model), options)
}

/// [`sobol`] for any [`Model`] (an [`OdeModel`](crate::OdeModel), a model that can fail).
///
/// # Errors
/// As [`sobol`].
pub fn sobol_model<M: Model>(
    problem: &Problem,
    model: &M,
    options: &SobolOptions,
) -> Result<SobolIndices, Error> {
    sobol_with(problem, model, options, &Local)
}

/// [`sobol`] with the model evaluations split across the ranks of `comm` (static blocks of
/// the design's rows, rayon inside each rank; the `mpi` feature). Every rank must call it
/// with the same problem and options; every rank gets the same indices, bit-identical to
/// [`sobol`]'s with the same seed, and rank 0 alone shows the progress bar.
///
/// # Errors
/// As [`sobol`] (a failed sample is the same [`Error::SampleFailed`] on every rank), and
/// [`Error::Distributed`] if the ranks were given different problems.
#[cfg(feature = "mpi")]
pub fn sobol_mpi<C, F>(
    comm: &C,
    problem: &Problem,
    model: &F,
    options: &SobolOptions,
) -> Result<SobolIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    F: Function + Sync,
{
    sobol_model_mpi(comm, problem, &FunctionModel(model), options)
}

/// [`sobol_mpi`] for any [`Model`].
///
/// # Errors
/// As [`sobol_mpi`].
#[cfg(feature = "mpi")]
pub fn sobol_model_mpi<C, M>(
    comm: &C,
    problem: &Problem,
    model: &M,
    options: &SobolOptions,
) -> Result<SobolIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    M: Model,
{
    sobol_with(problem, model, options, &Ranks(comm))
}

fn sobol_with<M: Model>(
    problem: &Problem,
    model: &M,
    options: &SobolOptions,
    rows: &impl Rows,
) -> Result<SobolIndices, Error> {
    options.validate()?;
    let design = saltelli(
        problem,
        options.samples,
        options.seed,
        options.sampling,
        options.second_order,
    )?;
    let results = rows.run(
        &design.x,
        options.progress,
        "sobol",
        &format!("{options:?}"),
        |x| model.evaluate(x),
    )?;
    let per = design.rows_per_base();
    let settled = settle(results, &design.x, per, options.on_failure, Vec::len)?;
    let mut s = analyze(problem, &settled.rows, options, settled.dropped)?;
    s.evaluations = design.x.len();
    Ok(s)
}

/// Sobol' indices from outputs computed elsewhere (or saved and reloaded) on a Saltelli
/// design in SALib's row order ([`crate::SaltelliDesign`]): `outputs[r]` holds the outputs
/// of run `r`. `options.second_order` tells the layout; `options.samples`, `sampling` and
/// `progress` are not used. Non-finite outputs are failures, handled by
/// `options.on_failure`.
///
/// # Errors
/// [`Error::DimensionMismatch`] if the row count is not a multiple of `k + 2` (`2k + 2`);
/// as [`sobol`] otherwise.
pub fn analyze_sobol(
    problem: &Problem,
    outputs: &[Vec<f64>],
    options: &SobolOptions,
) -> Result<SobolIndices, Error> {
    check_level(options.confidence_level)?;
    let per = rows_per_base(problem.dim(), options.second_order);
    if outputs.is_empty() || outputs.len() % per != 0 {
        return Err(Error::DimensionMismatch {
            what: "outputs (rows of a Saltelli design)",
            expected: per * (outputs.len() / per).max(1),
            got: outputs.len(),
        });
    }
    let results: Vec<Result<Vec<f64>, String>> = outputs
        .iter()
        .map(|y| match y.iter().position(|v| !v.is_finite()) {
            Some(o) => Err(format!("output {o} is {}", y[o])),
            None if y.is_empty() => Err("the run failed (no outputs)".to_string()),
            None => Ok(y.clone()),
        })
        .collect();
    let rows: Vec<Vec<f64>> = vec![Vec::new(); outputs.len()];
    let settled = settle(results, &rows, per, options.on_failure, Vec::len)?;
    let mut s = analyze(problem, &settled.rows, options, settled.dropped)?;
    s.evaluations = outputs.len();
    Ok(s)
}

/// One output's runs, split by role: `a[j]`, `b[j]`, `ab[i][j]`, `ba[i][j]`.
struct Columns {
    a: Vec<f64>,
    b: Vec<f64>,
    ab: Vec<Vec<f64>>,
    ba: Vec<Vec<f64>>,
}

impl Columns {
    /// Splits output `o` of the rows (base-point groups of `k + 2` or `2k + 2`), centred by
    /// the mean of all its runs (as SALib does before estimating).
    fn new(rows: &[Vec<f64>], o: usize, k: usize, second_order: bool) -> Self {
        let per = rows_per_base(k, second_order);
        let n = rows.len() / per;
        let mean = rows.iter().map(|r| r[o]).sum::<f64>() / rows.len() as f64;
        let at = |j: usize, r: usize| rows[j * per + r][o] - mean;
        Columns {
            a: (0..n).map(|j| at(j, 0)).collect(),
            b: (0..n).map(|j| at(j, per - 1)).collect(),
            ab: (0..k)
                .map(|i| (0..n).map(|j| at(j, 1 + i)).collect())
                .collect(),
            ba: if second_order {
                (0..k)
                    .map(|i| (0..n).map(|j| at(j, 1 + k + i)).collect())
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The estimates on the base points `idx` (all of them, or a bootstrap resample).
struct Estimate {
    first: Vec<f64>,
    total: Vec<f64>,
    second: Vec<Vec<f64>>,
    variance: f64,
}

fn mean_by(idx: &[usize], f: impl Fn(usize) -> f64) -> f64 {
    idx.iter().map(|&j| f(j)).sum::<f64>() / idx.len() as f64
}

/// First order `V_i = mean(f(B) (f(AB_i) - f(A)))` (Saltelli et al. 2010, Table 2 (b)),
/// total `VT_i = mean((f(A) - f(AB_i))^2) / 2` (Jansen 1999; Saltelli et al. 2010 (f)),
/// second order `V_ij = mean(f(BA_i) f(AB_j) - f(A) f(B))` minus both first-order terms
/// (Saltelli 2002), each divided by the variance of `f(A)` and `f(B)` together. A constant
/// output (zero variance) gives zero indices.
fn estimate(c: &Columns, idx: &[usize]) -> Estimate {
    let k = c.ab.len();
    let m = 0.5 * (mean_by(idx, |j| c.a[j]) + mean_by(idx, |j| c.b[j]));
    let variance =
        0.5 * (mean_by(idx, |j| (c.a[j] - m).powi(2)) + mean_by(idx, |j| (c.b[j] - m).powi(2)));
    if variance <= 0.0 || !variance.is_finite() {
        return Estimate {
            first: vec![0.0; k],
            total: vec![0.0; k],
            second: vec![vec![0.0; k]; k],
            variance: 0.0,
        };
    }
    let first: Vec<f64> = (0..k)
        .map(|i| mean_by(idx, |j| c.b[j] * (c.ab[i][j] - c.a[j])) / variance)
        .collect();
    let total = (0..k)
        .map(|i| 0.5 * mean_by(idx, |j| (c.a[j] - c.ab[i][j]).powi(2)) / variance)
        .collect();
    let mut second = vec![vec![0.0; k]; k];
    if !c.ba.is_empty() {
        for i in 0..k {
            for l in i + 1..k {
                let v = mean_by(idx, |j| c.ba[i][j] * c.ab[l][j] - c.a[j] * c.b[j]) / variance;
                second[i][l] = v - first[i] - first[l];
            }
        }
    }
    Estimate {
        first,
        total,
        second,
        variance,
    }
}

/// `z * std(ddof = 1)` of the values (0 for fewer than 2).
pub(crate) fn conf_half_width(values: &[f64], z: f64) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    z * var.sqrt()
}

/// The resample `r` of `n` base points: `n` indices drawn with replacement, a pure function
/// of `(seed, r)`.
pub(crate) fn resample(seed: u64, r: usize, n: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed, 0x5eed_0000 + r as u64);
    (0..n).map(|_| rng.below(n)).collect()
}

fn analyze(
    problem: &Problem,
    rows: &[Vec<f64>],
    options: &SobolOptions,
    dropped: usize,
) -> Result<SobolIndices, Error> {
    let k = problem.dim();
    let per = rows_per_base(k, options.second_order);
    let n = rows.len() / per;
    if n < 2 {
        return Err(Error::TooFewSamples {
            remaining: n,
            dropped,
            needed: 2,
        });
    }
    let n_out = rows[0].len();
    let all: Vec<usize> = (0..n).collect();
    let z = normal_quantile(0.5 + options.confidence_level / 2.0);
    let resamples: Vec<Vec<usize>> = (0..options.bootstrap)
        .map(|r| resample(options.seed, r, n))
        .collect();
    // Outputs are independent: in parallel, each computed sequentially (deterministic).
    let per_output: Vec<_> = (0..n_out)
        .into_par_iter()
        .map(|o| {
            let c = Columns::new(rows, o, k, options.second_order);
            let point = estimate(&c, &all);
            let boot: Vec<Estimate> = resamples.iter().map(|idx| estimate(&c, idx)).collect();
            let conf = |f: &dyn Fn(&Estimate) -> f64| {
                let v: Vec<f64> = boot.iter().map(f).collect();
                conf_half_width(&v, z)
            };
            let first_conf: Vec<f64> = (0..k).map(|i| conf(&|e| e.first[i])).collect();
            let total_conf: Vec<f64> = (0..k).map(|i| conf(&|e| e.total[i])).collect();
            let second_conf: Vec<Vec<f64>> = (0..k)
                .map(|i| (0..k).map(|l| conf(&|e| e.second[i][l])).collect())
                .collect();
            (point, first_conf, total_conf, second_conf)
        })
        .collect();
    let mut s = SobolIndices {
        first: Vec::with_capacity(n_out),
        total: Vec::with_capacity(n_out),
        first_conf: Vec::with_capacity(n_out),
        total_conf: Vec::with_capacity(n_out),
        second: None,
        second_conf: None,
        variance: Vec::with_capacity(n_out),
        names: problem.names().iter().map(|s| s.to_string()).collect(),
        samples: n,
        dropped,
        evaluations: rows.len(),
    };
    let mut second = Vec::new();
    let mut second_conf = Vec::new();
    for (point, fc, tc, sc) in per_output {
        s.first.push(point.first);
        s.total.push(point.total);
        s.variance.push(point.variance);
        s.first_conf.push(fc);
        s.total_conf.push(tc);
        second.push(point.second);
        second_conf.push(sc);
    }
    if options.second_order {
        s.second = Some(second);
        s.second_conf = Some(second_conf);
    }
    Ok(s)
}
