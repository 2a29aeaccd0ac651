//! Derivative-based global sensitivity measures from exact gradients (Sobol' & Kucherenko
//! 2009), with the Sobol'-Poincaré upper bound on each total index (Lamboni et al. 2013).

use ad_core::Function;

use crate::error::Error;
#[cfg(feature = "mpi")]
use crate::model::Ranks;
use crate::model::{settle, FunctionModel, GradientMode, Local, Model, OnFailure, Rows};
use crate::problem::{normal_quantile, Problem};
use crate::sampling::{unit_design, Sampling};
use crate::sobol::{check_level, conf_half_width, resample};

/// Outputs and Jacobian (rows = outputs) of one point.
type Jacobian = (Vec<f64>, Vec<Vec<f64>>);

/// Options of [`dgsm`]. Build with struct update syntax.
#[derive(Clone, Debug, PartialEq)]
pub struct DgsmOptions {
    /// Points at which the gradients are taken (one Jacobian of all outputs per point).
    /// Default 1024.
    pub samples: usize,
    /// Seed of the design and the bootstrap. Default 0.
    pub seed: u64,
    /// How the points are drawn. Default [`Sampling::Sobol`].
    pub sampling: Sampling,
    /// Forward or reverse mode. Default [`GradientMode::Auto`] (forward when the model has
    /// at most as many inputs as outputs).
    pub mode: GradientMode,
    /// Bootstrap resamples for the confidence of `nu` (0: none). Default 100.
    pub bootstrap: usize,
    /// Confidence level. Default 0.95.
    pub confidence_level: f64,
    /// What to do when the model fails on a point. Default [`OnFailure::Stop`].
    pub on_failure: OnFailure,
    /// Show a progress bar on standard error (only on a terminal). Default true.
    pub progress: bool,
}

impl Default for DgsmOptions {
    fn default() -> Self {
        DgsmOptions {
            samples: 1024,
            seed: 0,
            sampling: Sampling::Sobol,
            mode: GradientMode::Auto,
            bootstrap: 100,
            confidence_level: 0.95,
            on_failure: OnFailure::Stop,
            progress: true,
        }
    }
}

/// DGSM of every output: `nu[o][i] = E[(d y_o / d x_i)^2]` and the upper bound on the total
/// Sobol' index `ST[o][i] <= total_upper_bound[o][i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DgsmIndices {
    /// `nu_i = E[(df/dx_i)^2]`, `[output][input]`.
    pub nu: Vec<Vec<f64>>,
    /// The Sobol'-Poincaré bound on each total index, `[output][input]`.
    pub total_upper_bound: Vec<Vec<f64>>,
    /// Bootstrap confidence half-widths of `nu`.
    pub nu_conf: Vec<Vec<f64>>,
    /// The sample variance of each output.
    pub variance: Vec<f64>,
    /// Input names.
    pub names: Vec<String>,
    /// Points used (after dropping failed ones).
    pub samples: usize,
    /// Points dropped ([`OnFailure::Drop`]).
    pub dropped: usize,
}

/// DGSM `nu_i = E[(df/dx_i)^2]` of every output of `model`, from its exact Jacobian (forward
/// or reverse mode) at `options.samples` points, and the bound `ST_i <= C_i nu_i / Var(f)`
/// (Sobol' & Kucherenko 2009; Lamboni, Iooss, Popelin & Gamboa 2013) with the marginal's
/// Poincaré constant `C_i`: `(hi - lo)^2 / pi^2` for a uniform input, `std^2` for a normal
/// one. For other marginals the bound is taken on the unit cube, where every input is
/// uniform: `ST_i <= E[(df/dx_i dx_i/du_i)^2] / (pi^2 Var(f))`. A constant output gets zero.
///
/// ```
/// use gsa::{dgsm, DgsmOptions, Problem};
/// use gsa::testing::Polynomial;
///
/// let problem = Problem::new(&[(0.0, 1.0); 3])?;
/// let d = dgsm(&problem, &Polynomial, &DgsmOptions { samples: 4096, ..Default::default() })?;
/// for (got, want) in d.nu[0].iter().zip(Polynomial::dgsm()) {
///     assert!((got - want).abs() < 1e-2 * want);
/// }
/// # Ok::<(), gsa::Error>(())
/// ```
///
/// # Errors
/// As [`crate::sobol`].
pub fn dgsm<F: Function + Sync>(
    problem: &Problem,
    model: &F,
    options: &DgsmOptions,
) -> Result<DgsmIndices, Error> {
    dgsm_model(problem, &FunctionModel(model), options)
}

/// [`dgsm`] for any [`Model`] (an [`OdeModel`](crate::OdeModel): gradients by the solver's
/// forward sensitivities or adjoint).
///
/// # Errors
/// As [`crate::sobol`].
pub fn dgsm_model<M: Model>(
    problem: &Problem,
    model: &M,
    options: &DgsmOptions,
) -> Result<DgsmIndices, Error> {
    dgsm_with(problem, model, options, &Local)
}

/// [`dgsm`] with the model evaluations split across the ranks of `comm` (static blocks of
/// the design's rows, rayon inside each rank; the `mpi` feature). Every rank must call it
/// with the same problem and options; every rank gets the same indices, bit-identical to
/// [`dgsm`]'s with the same seed, and rank 0 alone shows the progress bar.
///
/// # Errors
/// As [`dgsm`] (a failed sample is the same [`Error::SampleFailed`] on every rank), and
/// [`Error::Distributed`] if the ranks were given different problems.
#[cfg(feature = "mpi")]
pub fn dgsm_mpi<C, F>(
    comm: &C,
    problem: &Problem,
    model: &F,
    options: &DgsmOptions,
) -> Result<DgsmIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    F: Function + Sync,
{
    dgsm_model_mpi(comm, problem, &FunctionModel(model), options)
}

/// [`dgsm_mpi`] for any [`Model`].
///
/// # Errors
/// As [`dgsm_mpi`].
#[cfg(feature = "mpi")]
pub fn dgsm_model_mpi<C, M>(
    comm: &C,
    problem: &Problem,
    model: &M,
    options: &DgsmOptions,
) -> Result<DgsmIndices, Error>
where
    C: ode::distributed::mpi::traits::Communicator,
    M: Model,
{
    dgsm_with(problem, model, options, &Ranks(comm))
}

fn dgsm_with<M: Model>(
    problem: &Problem,
    model: &M,
    options: &DgsmOptions,
    rows: &impl Rows,
) -> Result<DgsmIndices, Error> {
    check_level(options.confidence_level)?;
    if options.samples < 2 {
        return Err(Error::InvalidOption(format!(
            "samples = {} must be at least 2",
            options.samples
        )));
    }
    let k = problem.dim();
    let unit = unit_design(options.samples, k, options.seed, options.sampling)?;
    let x: Vec<Vec<f64>> = unit
        .iter()
        .map(|u| {
            let mut x = vec![0.0; k];
            problem.transform(u, &mut x);
            x
        })
        .collect();
    // Resolve Auto once (from the first point's output count), not per point.
    let mode = match options.mode {
        GradientMode::Auto => match model.evaluate(&x[0]) {
            Ok(y) if GradientMode::Auto.is_forward(k, y.len()) => GradientMode::Forward,
            _ => GradientMode::Reverse,
        },
        m => m,
    };
    let results = rows.run(
        &x,
        options.progress,
        "dgsm",
        &format!("{options:?}"),
        |xi| model.jacobian(xi, mode),
    )?;
    // Keep the unit points of the kept rows alongside.
    let tagged: Vec<Result<(usize, Jacobian), String>> = results
        .into_iter()
        .enumerate()
        .map(|(r, res)| res.map(|v| (r, v)))
        .collect();
    let settled = settle(tagged, &x, 1, options.on_failure, |(_, (y, _))| y.len())?;
    let n = settled.rows.len();
    if n < 2 {
        return Err(Error::TooFewSamples {
            remaining: n,
            dropped: settled.dropped,
            needed: 2,
        });
    }
    let n_out = settled.rows[0].1 .0.len();
    let z = normal_quantile(0.5 + options.confidence_level / 2.0);
    let resamples: Vec<Vec<usize>> = (0..options.bootstrap)
        .map(|r| resample(options.seed, r, n))
        .collect();
    let pi2 = std::f64::consts::PI.powi(2);
    let mut out = DgsmIndices {
        nu: Vec::with_capacity(n_out),
        total_upper_bound: Vec::with_capacity(n_out),
        nu_conf: Vec::with_capacity(n_out),
        variance: Vec::with_capacity(n_out),
        names: problem.names().iter().map(|s| s.to_string()).collect(),
        samples: n,
        dropped: settled.dropped,
    };
    for o in 0..n_out {
        let ys: Vec<f64> = settled.rows.iter().map(|(_, (y, _))| y[o]).collect();
        let mean = ys.iter().sum::<f64>() / n as f64;
        let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let mut nu = Vec::with_capacity(k);
        let mut bound = Vec::with_capacity(k);
        let mut conf = Vec::with_capacity(k);
        for (i, input) in problem.inputs().iter().enumerate() {
            let sq: Vec<f64> = settled
                .rows
                .iter()
                .map(|(_, (_, j))| j[o][i].powi(2))
                .collect();
            let nu_i = sq.iter().sum::<f64>() / n as f64;
            let boot: Vec<f64> = resamples
                .iter()
                .map(|idx| idx.iter().map(|&j| sq[j]).sum::<f64>() / n as f64)
                .collect();
            conf.push(conf_half_width(&boot, z));
            let b = if var <= 0.0 {
                0.0
            } else if let Some(c) = input.distribution.poincare_constant() {
                c * nu_i / var
            } else {
                let d = &input.distribution;
                let nu_u = settled
                    .rows
                    .iter()
                    .map(|(r, (_, j))| (j[o][i] * d.quantile_derivative(unit[*r][i])).powi(2))
                    .sum::<f64>()
                    / n as f64;
                nu_u / (pi2 * var)
            };
            nu.push(nu_i);
            bound.push(b);
        }
        out.nu.push(nu);
        out.total_upper_bound.push(bound);
        out.nu_conf.push(conf);
        out.variance.push(var);
    }
    Ok(out)
}
