//! Models as the analyses see them, and the parallel, deterministic evaluation of a design.

use ad_core::{Dual, Function, Real, Tape};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::error::Error;
use ode::distributed::Wire;

/// A model `y = f(x)` with a vector output, evaluated on `f64` inputs; it may fail on a
/// sample (an ODE solve that does not reach the end) and says why.
///
/// Any [`ad_core::Function`] is one through [`FunctionModel`] (what [`crate::sobol`],
/// [`crate::morris`] and [`crate::dgsm`] use); [`crate::OdeModel`] implements it with the
/// solver's own error as the reason. The `*_model` entry points ([`crate::sobol_model`], ...)
/// take any `Model`.
pub trait Model: Sync {
    /// The outputs at `x`, or why the model failed there.
    fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, String>;

    /// The outputs at `x` and the Jacobian `J[o][i] = d y_o / d x_i` (one row per output), or
    /// why the model failed there. `mode` chooses how derivatives are propagated.
    fn jacobian(&self, x: &[f64], mode: GradientMode) -> Result<(Vec<f64>, Vec<Vec<f64>>), String>;
}

/// How [`Model::jacobian`] propagates derivatives (the values are the same either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GradientMode {
    /// Forward when there are at most as many inputs as outputs, else reverse.
    #[default]
    Auto,
    /// Forward mode: the model runs on `Dual` numbers, one run per chunk of up to 8 inputs
    /// (for an ODE: forward sensitivities).
    Forward,
    /// Reverse mode: one run on `Var` (for an ODE: one block on the tape whose backward pass
    /// is the solver's sensitivity method) and one reverse sweep per output.
    Reverse,
}

impl GradientMode {
    /// Whether forward mode is used for `n_in` inputs and `n_out` outputs.
    pub fn is_forward(self, n_in: usize, n_out: usize) -> bool {
        match self {
            GradientMode::Auto => n_in <= n_out,
            GradientMode::Forward => true,
            GradientMode::Reverse => false,
        }
    }
}

/// An [`ad_core::Function`] as a [`Model`]: a non-finite output is a failure.
#[derive(Clone, Copy, Debug)]
pub struct FunctionModel<'a, F>(pub &'a F);

fn check_finite(y: &[f64]) -> Result<(), String> {
    match y.iter().position(|v| !v.is_finite()) {
        Some(o) => Err(format!("output {o} is {}", y[o])),
        None => Ok(()),
    }
}

/// A model written once for every scalar type that may fail: what the Jacobian drivers run.
pub(crate) trait TryEval {
    /// `f(x)` on any scalar, or why it failed.
    fn try_eval<S: Real>(&self, x: &[S]) -> Result<Vec<S>, String>;
}

impl<F: Function> TryEval for FunctionModel<'_, F> {
    fn try_eval<S: Real>(&self, x: &[S]) -> Result<Vec<S>, String> {
        Ok(self.0.eval(x))
    }
}

fn forward_jacobian<const W: usize, F: TryEval>(
    f: &F,
    x: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
    let n = x.len();
    let mut y = Vec::new();
    let mut jac: Vec<Vec<f64>> = Vec::new();
    for c0 in (0..n).step_by(W) {
        let xs = Dual::<W>::seeded(x, 0, c0);
        let ys = f.try_eval(&xs)?;
        if c0 == 0 {
            y = ys.iter().map(|d| d.v).collect();
            jac = vec![vec![0.0; n]; ys.len()];
        }
        for (row, yi) in jac.iter_mut().zip(&ys) {
            for (k, j) in (c0..(c0 + W).min(n)).enumerate() {
                row[j] = yi.d[k];
            }
        }
    }
    Ok((y, jac))
}

/// The outputs and Jacobian (rows = outputs) of `f` at `x` by forward (`Dual`, chunks of up
/// to 8 inputs) or reverse (`Var`, one sweep per output) mode, checked for non-finite values.
pub(crate) fn try_jacobian<F: TryEval>(
    f: &F,
    x: &[f64],
    forward: bool,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
    let (y, jac) = if forward {
        match x.len() {
            0 | 1 => forward_jacobian::<1, F>(f, x)?,
            2 => forward_jacobian::<2, F>(f, x)?,
            3 | 4 => forward_jacobian::<4, F>(f, x)?,
            _ => forward_jacobian::<8, F>(f, x)?,
        }
    } else {
        // A custom rule's backward pass can fail (an ODE's continuous adjoint whose backward
        // solve fails): that sample fails with the rule's error, the run goes on.
        let tape = Tape::new();
        let xs = tape.vars(x);
        let ys = f.try_eval(&xs)?;
        let m = ys.len();
        let mut jac = vec![vec![0.0; x.len()]; m];
        let mut seed = vec![0.0; m];
        let mut adj = Default::default();
        for (o, row) in jac.iter_mut().enumerate() {
            seed[o] = 1.0;
            tape.try_vjp_into(&ys, &seed, &mut adj)
                .map_err(|e| e.to_string())?;
            seed[o] = 0.0;
            for (r, &v) in row.iter_mut().zip(&xs) {
                *r = adj.wrt(v);
            }
        }
        (ys.iter().map(|v| v.value()).collect(), jac)
    };
    check_finite(&y)?;
    for (o, row) in jac.iter().enumerate() {
        if let Some(i) = row.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "derivative of output {o} by input {i} is {}",
                row[i]
            ));
        }
    }
    Ok((y, jac))
}

impl<F: Function + Sync> Model for FunctionModel<'_, F> {
    fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, String> {
        let y = self.0.eval(x);
        check_finite(&y)?;
        Ok(y)
    }

    fn jacobian(&self, x: &[f64], mode: GradientMode) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
        // The output count decides Auto; one f64 run tells it.
        let forward = match mode {
            GradientMode::Auto => mode.is_forward(x.len(), self.0.eval(x).len()),
            m => m.is_forward(x.len(), 0),
        };
        try_jacobian(self, x, forward)
    }
}

/// What to do when the model fails on a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// Stop with [`Error::SampleFailed`] (the failed sample with the lowest index). The default.
    #[default]
    Stop,
    /// Drop the sample's whole group (a Saltelli base point with its `k + 2` runs, a Morris
    /// trajectory, a DGSM point), estimate from the rest and report how many were dropped.
    Drop,
}

/// A progress bar on standard error (indicatif), drawn only when standard error is a
/// terminal and `enabled`.
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    pub(crate) fn new(len: usize, enabled: bool, what: &str) -> Self {
        if !enabled {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        Progress(Some(bar))
    }

    fn inc(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Runs `f` on every row in parallel (rayon); result `i` belongs to `rows[i]` whatever the
/// number of threads.
pub(crate) fn run_rows<T: Send>(
    rows: &[Vec<f64>],
    progress: &Progress,
    f: impl Fn(&[f64]) -> Result<T, String> + Sync,
) -> Vec<Result<T, String>> {
    rows.par_iter()
        .with_min_len(8)
        .map(|x| {
            let r = f(x);
            progress.inc();
            r
        })
        .collect()
}

/// Where a design's rows run: this process ([`Local`]) or, with the `mpi` feature, the ranks
/// of a communicator ([`Ranks`]). Either way result `i` belongs to row `i`, bit-identical.
pub(crate) trait Rows {
    /// Runs `f` on every row of `x`; `what` labels the progress bar (shown if `progress`),
    /// `check` is hashed with the rows into the fingerprint the ranks compare (the options).
    fn run<T: Wire + Send>(
        &self,
        x: &[Vec<f64>],
        progress: bool,
        what: &str,
        check: &str,
        f: impl Fn(&[f64]) -> Result<T, String> + Sync,
    ) -> Result<Vec<Result<T, String>>, Error>;
}

/// Every row in this process, in parallel (rayon).
pub(crate) struct Local;

impl Rows for Local {
    fn run<T: Wire + Send>(
        &self,
        x: &[Vec<f64>],
        progress: bool,
        what: &str,
        _check: &str,
        f: impl Fn(&[f64]) -> Result<T, String> + Sync,
    ) -> Result<Vec<Result<T, String>>, Error> {
        let bar = Progress::new(x.len(), progress, what);
        let r = run_rows(x, &bar, f);
        bar.finish();
        Ok(r)
    }
}

/// The rows split in static blocks across the ranks of a communicator, rayon inside each
/// rank, every result all-gathered to every rank in row order ([`ode::distributed`]). The
/// progress bar is rank 0's, counting its own block.
#[cfg(feature = "mpi")]
pub(crate) struct Ranks<'a, C>(pub(crate) &'a C);

#[cfg(feature = "mpi")]
impl<C: ode::distributed::mpi::traits::Communicator> Rows for Ranks<'_, C> {
    fn run<T: Wire + Send>(
        &self,
        x: &[Vec<f64>],
        progress: bool,
        what: &str,
        check: &str,
        f: impl Fn(&[f64]) -> Result<T, String> + Sync,
    ) -> Result<Vec<Result<T, String>>, Error> {
        use ode::distributed::{rank_and_size, run_blocks, Fingerprint};
        let (rank, size) = rank_and_size(self.0);
        let mut fp = Fingerprint::new();
        fp.str(check);
        for row in x {
            fp.f64s(row);
        }
        let n = x.len();
        let r = run_blocks(self.0, n, fp.finish(), |block| {
            let label = format!("{what} (rank 0 of {size}: {} of {n} runs)", block.len());
            let bar = Progress::new(block.len(), progress && rank == 0, &label);
            let out = run_rows(&x[block], &bar, f);
            bar.finish();
            out
        })?;
        Ok(r)
    }
}

/// The outputs of a design after the failure policy: the rows of the kept groups in order
/// and how many groups were dropped.
pub(crate) struct Settled<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) dropped: usize,
}

/// Applies `policy` to per-row results grouped `group` rows at a time; `len` gives each
/// result's number of outputs (which must agree across rows).
pub(crate) fn settle<T>(
    results: Vec<Result<T, String>>,
    x: &[Vec<f64>],
    group: usize,
    policy: OnFailure,
    len: impl Fn(&T) -> usize,
) -> Result<Settled<T>, Error> {
    let groups = results.len() / group.max(1);
    let mut kept = vec![true; groups];
    let mut expected = None;
    for (index, r) in results.iter().enumerate() {
        match r {
            Ok(v) => {
                let got = len(v);
                match expected {
                    None => expected = Some(got),
                    Some(e) if e != got => {
                        return Err(Error::InconsistentOutputs {
                            index,
                            expected: e,
                            got,
                        })
                    }
                    _ => {}
                }
            }
            Err(reason) => {
                if policy == OnFailure::Stop {
                    return Err(Error::SampleFailed {
                        index,
                        input: x[index].clone(),
                        reason: reason.clone(),
                    });
                }
                kept[index / group] = false;
            }
        }
    }
    let dropped = kept.iter().filter(|&&k| !k).count();
    let rows = results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| kept[i / group])
        .filter_map(|(_, r)| r.ok())
        .collect();
    Ok(Settled { rows, dropped })
}

/// Runs `model` on every row of `x` in parallel and returns the outputs in row order, a
/// failed run as an empty row (written as `NaN`s by [`crate::io::write_csv`], and treated as
/// a failed sample by the `analyze_*` functions): the step to run and keep a design's
/// outputs, analysed later.
pub fn evaluate<M: Model>(model: &M, x: &[Vec<f64>], progress: bool) -> Vec<Vec<f64>> {
    let bar = Progress::new(x.len(), progress, "runs");
    let r = run_rows(x, &bar, |xi| model.evaluate(xi));
    bar.finish();
    r.into_iter().map(|y| y.unwrap_or_default()).collect()
}
