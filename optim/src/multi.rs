//! Fitting one set of parameters to many experiments: each experiment its own initial state,
//! inputs (carried by its system value) and data, the loss the sum of the experiments'
//! losses.
//!
//! The experiments' `(loss, gradient)` pairs are computed in parallel (rayon) and, with the
//! `mpi` feature, split across the ranks of a communicator ([`MultiFit::fit_mpi`]); either
//! way they are summed on every process in experiment order (never by an all-reduce, whose
//! summation order depends on the rank count), so the optimizer takes bit-identical iterates
//! on 1, 2 or 64 ranks. See docs/distributed.md.

use rayon::prelude::*;

use ode::distributed::{self, Fingerprint};
use ode::OdeSystem;

use crate::fit::FitProblem;
use crate::observer::{Observer, Silent};
use crate::{minimize_observed, Error, Options, Report};

/// One parameter vector fitted to many experiments, each a [`FitProblem`] (its own system
/// value with the experiment's inputs, initial state and observations). The unknowns are
/// shared: experiment 0's transforms and bounds map them; every experiment must have as
/// many unknowns.
///
/// The loss is `sum_e loss_e(theta)` and its gradient `sum_e grad_e(theta)`, summed in
/// experiment order.
#[derive(Clone, Debug)]
pub struct MultiFit<Sys> {
    experiments: Vec<FitProblem<Sys>>,
}

/// The result of [`MultiFit::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct MultiFitReport {
    /// The fitted unknowns in model units (experiment 0's transforms undone).
    pub params: Vec<f64>,
    /// The optimizer's report (its `x` in optimizer coordinates, `value` the summed loss).
    pub report: Report,
}

/// One experiment's `(loss, gradient)` or why its solve failed.
type Share = Result<(f64, Vec<f64>), String>;

impl<Sys: OdeSystem + Clone + 'static> MultiFit<Sys> {
    /// The experiments to fit together. Errors if there are none or if their numbers of
    /// unknowns differ.
    pub fn new(experiments: Vec<FitProblem<Sys>>) -> Result<Self, Error> {
        let Some(first) = experiments.first() else {
            return Err(Error::NoObservations {
                times: 0,
                components: 0,
            });
        };
        let n = first.n_unknowns();
        if let Some(e) = experiments.iter().find(|e| e.n_unknowns() != n) {
            return Err(Error::DimensionMismatch {
                what: "an experiment's unknowns (all experiments share them)",
                expected: n,
                got: e.n_unknowns(),
            });
        }
        Ok(MultiFit { experiments })
    }

    /// The experiments.
    pub fn experiments(&self) -> &[FitProblem<Sys>] {
        &self.experiments
    }

    /// Number of shared unknowns.
    pub fn n_unknowns(&self) -> usize {
        self.experiments[0].n_unknowns()
    }

    /// The `(loss, gradient)` of experiments `range` at optimizer coordinates `theta`, in
    /// parallel, in order; a failed solve as its message.
    fn shares(&self, range: std::ops::Range<usize>, theta: &[f64]) -> Vec<Share> {
        self.experiments[range]
            .par_iter()
            .map(|e| e.loss_and_gradient(theta).map_err(|err| err.to_string()))
            .collect()
    }

    /// Every experiment's `(loss, gradient)` at optimizer coordinates `theta`, in experiment
    /// order, or the failed experiment with the lowest index.
    pub fn experiment_losses(&self, theta: &[f64]) -> Result<Vec<(f64, Vec<f64>)>, Error> {
        Ok(distributed::all_ok(
            self.shares(0..self.experiments.len(), theta),
            1,
        )?)
    }

    /// `minimize`'s objective: the summed loss, the summed gradient written to `g`; NaN if an
    /// experiment's solve fails (the line search then shortens the step).
    pub fn objective(&self) -> impl FnMut(&[f64], &mut [f64]) -> f64 + '_ {
        move |theta, g| sum_in_order(self.shares(0..self.experiments.len(), theta), g)
    }

    /// Fits from the model-unit starting guess `start` with L-BFGS (or any method of
    /// [`Options`]); experiment 0's bounds, if any, are added to `opts`.
    ///
    /// # Errors
    /// A start of the wrong length or not finite; [`Error::Distributed`] with the lowest
    /// failing experiment if a solve fails at the start; the optimizer's errors.
    pub fn fit(&self, start: &[f64], opts: &Options) -> Result<MultiFitReport, Error> {
        self.fit_observed(start, opts, &mut Silent)
    }

    /// [`MultiFit::fit`] with an [`Observer`].
    pub fn fit_observed(
        &self,
        start: &[f64],
        opts: &Options,
        observer: &mut dyn Observer,
    ) -> Result<MultiFitReport, Error> {
        let (theta0, opts) = self.prepare(start, opts)?;
        self.experiment_losses(&theta0)?;
        let report = minimize_observed(self.objective(), &theta0, &opts, observer)?;
        Ok(self.report(report))
    }

    fn prepare(&self, start: &[f64], opts: &Options) -> Result<(Vec<f64>, Options), Error> {
        let first = &self.experiments[0];
        if start.len() != self.n_unknowns() {
            return Err(Error::DimensionMismatch {
                what: "starting guess (the shared unknowns)",
                expected: self.n_unknowns(),
                got: start.len(),
            });
        }
        crate::objective::check_start(start)?;
        let theta0 = first.to_optimizer(start);
        crate::objective::check_start(&theta0)?;
        let opts = match first.optimizer_bounds()? {
            Some(b) => opts.clone().with_box(b),
            None => opts.clone(),
        };
        Ok((theta0, opts))
    }

    fn report(&self, report: Report) -> MultiFitReport {
        MultiFitReport {
            params: self.experiments[0].to_model(&report.x),
            report,
        }
    }

    /// What every rank must agree on: the experiments (but their systems), the start and the
    /// options.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    fn fingerprint(&self, start: &[f64], opts: &Options) -> u64 {
        let mut h = Fingerprint::new();
        h.u64(self.experiments.len() as u64).f64s(start);
        h.str(&format!("{opts:?}"));
        for e in &self.experiments {
            e.fingerprint(&mut h);
        }
        h.finish()
    }
}

/// Sums the experiments' losses and gradients in experiment order into `g`; NaN (and a NaN
/// gradient) if any failed.
fn sum_in_order(shares: Vec<Share>, g: &mut [f64]) -> f64 {
    let mut loss = 0.0;
    g.fill(0.0);
    for s in shares {
        match s {
            Ok((l, grad)) => {
                loss += l;
                for (gi, d) in g.iter_mut().zip(&grad) {
                    *gi += d;
                }
            }
            Err(_) => {
                g.fill(f64::NAN);
                return f64::NAN;
            }
        }
    }
    loss
}

#[cfg(feature = "mpi")]
impl<Sys: OdeSystem + Clone + 'static> MultiFit<Sys> {
    /// Every experiment's `(loss, gradient)` at `theta`, this rank computing its static block
    /// and all-gathering the rest (in experiment order, bit-identical to
    /// [`MultiFit::experiment_losses`]).
    fn gathered<C: distributed::mpi::traits::Communicator>(
        &self,
        comm: &C,
        theta: &[f64],
    ) -> Result<Vec<Share>, distributed::Error> {
        let (rank, size) = distributed::rank_and_size(comm);
        let n = self.experiments.len();
        let local = self.shares(distributed::block_range(n, size, rank), theta);
        distributed::all_gather(comm, &local)
    }

    /// [`MultiFit::fit`] with the experiments split across the ranks of `comm` (static
    /// blocks, rayon inside each rank). Per iteration each rank solves its experiments, the
    /// ranks all-gather the per-experiment `(loss, gradient)` pairs (`E (n + 1)` numbers) and
    /// every rank sums them in experiment order and takes the same L-BFGS step: the iterates
    /// are bit-identical to [`MultiFit::fit`]'s on any number of ranks, and every rank
    /// returns the same report.
    ///
    /// # Errors
    /// As [`MultiFit::fit`], the same on every rank; [`Error::Distributed`] if the ranks were
    /// given different experiments, starts or options.
    pub fn fit_mpi<C: distributed::mpi::traits::Communicator>(
        &self,
        comm: &C,
        start: &[f64],
        opts: &Options,
        observer: &mut dyn Observer,
    ) -> Result<MultiFitReport, Error> {
        distributed::check_same_problem(
            comm,
            self.experiments.len(),
            self.fingerprint(start, opts),
        )?;
        let (theta0, opts) = self.prepare(start, opts)?;
        let (_, size) = distributed::rank_and_size(comm);
        distributed::all_ok(self.gathered(comm, &theta0)?, size)?;
        let failure = std::cell::RefCell::new(None);
        let objective = |theta: &[f64], g: &mut [f64]| match self.gathered(comm, theta) {
            Ok(shares) => sum_in_order(shares, g),
            Err(e) => {
                // Every rank sees the same gathered counts, so every rank lands here.
                failure.borrow_mut().get_or_insert(e);
                f64::NAN
            }
        };
        let report = minimize_observed(objective, &theta0, &opts, observer);
        if let Some(e) = failure.into_inner() {
            return Err(e.into());
        }
        Ok(self.report(report?))
    }
}
