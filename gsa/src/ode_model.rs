//! An ODE as a model: which parameters (and initial states) vary, the save times and an output
//! map give a [`Model`] whose outputs are the time-resolved quantities.

use ad_core::{Function, Real};
use ode::OdeSystem;

use crate::error::Error;
use crate::model::{try_jacobian, GradientMode, Model, TryEval};

/// One varied quantity of an [`OdeModel`]: model input `i` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Varied {
    /// Parameter `p[j]`.
    Param(usize),
    /// Initial state `y0[j]`.
    Initial(usize),
}

/// What is observed of the state at each save time.
pub trait OutputMap: Sync {
    /// Quantities per save time for a state of length `dim`.
    fn len(&self, dim: usize) -> usize;
    /// Appends the quantities at time `t` with state `y` to `out` (exactly
    /// [`len`](OutputMap::len) of them), on any scalar type.
    fn observe<S: Real>(&self, t: f64, y: &[S], out: &mut Vec<S>);
}

/// The output map that observes the given state components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States(pub Vec<usize>);

impl OutputMap for States {
    fn len(&self, _dim: usize) -> usize {
        self.0.len()
    }
    fn observe<S: Real>(&self, _t: f64, y: &[S], out: &mut Vec<S>) {
        out.extend(self.0.iter().map(|&i| y[i]));
    }
}

/// An ODE `y' = f(t, y, p)` as a sensitivity-analysis model: model input `i` sets
/// `varied[i]` (a parameter or an initial state; the others keep their nominal values), the
/// system is solved with `ode::solve` from `t0` over `save_at` (each sample on its own
/// adaptive steps), and the outputs are the observed quantities at every save time,
/// time-major: output `k * q + j` is quantity `j` at `save_at[k]` (`q` quantities per time).
///
/// As a [`Model`] a failed solve is a failed sample with the solver's message; as an
/// [`ad_core::Function`] (which cannot fail) it returns NaN outputs, which the analyses
/// report as a failed sample too. With `Var` inputs the solve is one block on the tape whose
/// backward pass is the sensitivity method in the options (`ode::Sensitivity`); with `Dual`
/// inputs forward sensitivities.
///
/// ```
/// use gsa::{sobol_model, OdeModel, Problem, SobolOptions, States, Varied};
/// use ode::problems::LotkaVolterra;
///
/// let model = OdeModel::new(LotkaVolterra, LotkaVolterra::Y0.to_vec(), LotkaVolterra::P.to_vec(),
///         vec![Varied::Param(0), Varied::Param(3)], vec![1.0, 2.0],
///         ode::Options { rtol: 1e-6, atol: 1e-6, ..Default::default() })?
///     .with_output(States(vec![0]));
/// let problem = Problem::new(&[(1.2, 1.8), (2.4, 3.6)])?.with_names(&["a", "g"])?;
/// let s = sobol_model(&problem, &model, &SobolOptions { samples: 64, ..Default::default() })?;
/// assert_eq!(s.first.len(), 2); // x(1), x(2)
/// # Ok::<(), gsa::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OdeModel<Sys, O = States> {
    sys: Sys,
    y0: Vec<f64>,
    p: Vec<f64>,
    varied: Vec<Varied>,
    t0: f64,
    save_at: Vec<f64>,
    options: ode::Options,
    output: O,
}

impl<Sys: OdeSystem + Clone + 'static> OdeModel<Sys, States> {
    /// The model with nominal `y0` and `p`, inputs `varied`, `t0 = 0`, and every state
    /// component observed (change with [`with_output`](OdeModel::with_output)).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `y0` or `p` do not fit the system;
    /// [`Error::InvalidOption`] for a varied index out of range or bad save times or options.
    pub fn new(
        sys: Sys,
        y0: Vec<f64>,
        p: Vec<f64>,
        varied: Vec<Varied>,
        save_at: Vec<f64>,
        options: ode::Options,
    ) -> Result<Self, Error> {
        if y0.len() != sys.dim() {
            return Err(Error::DimensionMismatch {
                what: "y0",
                expected: sys.dim(),
                got: y0.len(),
            });
        }
        if p.len() != sys.n_params() {
            return Err(Error::DimensionMismatch {
                what: "p",
                expected: sys.n_params(),
                got: p.len(),
            });
        }
        for v in &varied {
            let ok = match *v {
                Varied::Param(j) => j < p.len(),
                Varied::Initial(j) => j < y0.len(),
            };
            if !ok {
                return Err(Error::InvalidOption(format!("{v:?} is out of range")));
            }
        }
        if save_at.is_empty()
            || save_at.windows(2).any(|w| w[0] > w[1])
            || save_at.iter().any(|t| !(*t >= 0.0 && t.is_finite()))
        {
            return Err(Error::InvalidOption(
                "save_at must be non-empty, finite, >= t0 and non-decreasing".into(),
            ));
        }
        options
            .validate(sys.dim())
            .map_err(|e| Error::InvalidOption(e.to_string()))?;
        let all = States((0..sys.dim()).collect());
        Ok(OdeModel {
            sys,
            y0,
            p,
            varied,
            t0: 0.0,
            save_at,
            options,
            output: all,
        })
    }
}

impl<Sys: OdeSystem + Clone + 'static, O: OutputMap> OdeModel<Sys, O> {
    /// The same model observing `output` instead.
    pub fn with_output<O2: OutputMap>(self, output: O2) -> OdeModel<Sys, O2> {
        OdeModel {
            sys: self.sys,
            y0: self.y0,
            p: self.p,
            varied: self.varied,
            t0: self.t0,
            save_at: self.save_at,
            options: self.options,
            output,
        }
    }

    /// The save times.
    pub fn save_at(&self) -> &[f64] {
        &self.save_at
    }

    /// Outputs per save time.
    pub fn outputs_per_time(&self) -> usize {
        self.output.len(self.sys.dim())
    }

    /// The number of outputs (save times x quantities).
    pub fn n_outputs(&self) -> usize {
        self.save_at.len() * self.outputs_per_time()
    }

    /// The number of model inputs (varied quantities).
    pub fn n_inputs(&self) -> usize {
        self.varied.len()
    }

    /// Solves for the model inputs `x` (one per varied quantity) on any scalar type.
    ///
    /// # Errors
    /// The solver's error, or a length mismatch of `x`.
    pub fn solve<S: Real>(&self, x: &[S]) -> Result<Vec<S>, String> {
        if x.len() != self.varied.len() {
            return Err(format!(
                "{} inputs given, the model varies {}",
                x.len(),
                self.varied.len()
            ));
        }
        let mut y0: Vec<S> = self.y0.iter().map(|&v| S::cst(v)).collect();
        let mut p: Vec<S> = self.p.iter().map(|&v| S::cst(v)).collect();
        for (v, &xi) in self.varied.iter().zip(x) {
            match *v {
                Varied::Param(j) => p[j] = xi,
                Varied::Initial(j) => y0[j] = xi,
            }
        }
        let sol = ode::solve(&self.sys, &y0, &p, self.t0, &self.save_at, &self.options)
            .map_err(|e| e.to_string())?;
        if sol.y.len() < self.save_at.len() {
            return Err(format!(
                "a terminal event ended the solve before the save time {}",
                self.save_at[sol.y.len()]
            ));
        }
        let mut out = Vec::with_capacity(self.n_outputs());
        for (&t, y) in sol.t.iter().zip(&sol.y) {
            self.output.observe(t, y, &mut out);
        }
        Ok(out)
    }
}

impl<Sys: OdeSystem + Clone + 'static, O: OutputMap> TryEval for OdeModel<Sys, O> {
    fn try_eval<S: Real>(&self, x: &[S]) -> Result<Vec<S>, String> {
        self.solve(x)
    }
}

impl<Sys: OdeSystem + Clone + 'static, O: OutputMap> Function for OdeModel<Sys, O> {
    /// The outputs, or NaN in every output when the solve fails.
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        self.solve(x)
            .unwrap_or_else(|_| vec![S::nan(); self.n_outputs()])
    }
}

impl<Sys: OdeSystem + Clone + 'static, O: OutputMap> Model for OdeModel<Sys, O> {
    fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, String> {
        let y = self.solve(x)?;
        if let Some(o) = y.iter().position(|v| !v.is_finite()) {
            return Err(format!("output {o} is {}", y[o]));
        }
        Ok(y)
    }

    fn jacobian(&self, x: &[f64], mode: GradientMode) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
        try_jacobian(self, x, mode.is_forward(x.len(), self.n_outputs()))
    }
}
