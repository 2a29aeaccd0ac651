//! The inputs of an analysis: names and marginal distributions, independent of each other.
//!
//! Every design is drawn on the unit cube `[0, 1)^k` and mapped to the inputs by each
//! marginal's inverse CDF ([`Problem::transform`]).

use crate::error::Error;

/// The marginal distribution of one input.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Distribution {
    /// Uniform on `[lo, hi]`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound (> `lo`).
        hi: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (> 0).
        std: f64,
    },
    /// Log-uniform on `[lo, hi]` (`ln x` uniform), `0 < lo < hi`.
    LogUniform {
        /// Lower bound (> 0).
        lo: f64,
        /// Upper bound (> `lo`).
        hi: f64,
    },
    /// Triangular on `[lo, hi]` with its peak at `mode`.
    Triangular {
        /// Lower bound.
        lo: f64,
        /// The peak, `lo <= mode <= hi`.
        mode: f64,
        /// Upper bound (> `lo`).
        hi: f64,
    },
}

impl Distribution {
    /// Checks the parameters; `index` only labels the error.
    fn validate(&self, index: usize) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::InvalidDistribution { index, reason });
        match *self {
            Distribution::Uniform { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::InvalidBounds { index, lo, hi });
                }
            }
            Distribution::Normal { mean, std } => {
                if !(mean.is_finite() && std.is_finite() && std > 0.0) {
                    return bad(format!(
                        "normal(mean = {mean}, std = {std}) needs a finite mean and std > 0"
                    ));
                }
            }
            Distribution::LogUniform { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo < hi) {
                    return bad(format!(
                        "log-uniform({lo}, {hi}) needs finite bounds with 0 < lo < hi"
                    ));
                }
            }
            Distribution::Triangular { lo, mode, hi } => {
                let finite = lo.is_finite() && hi.is_finite() && mode.is_finite();
                if !(finite && lo < hi && lo <= mode && mode <= hi) {
                    return bad(format!(
                        "triangular({lo}, {mode}, {hi}) needs finite lo <= mode <= hi, lo < hi"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The inverse CDF: the input value at probability `u` in `(0, 1)`.
    pub fn quantile(&self, u: f64) -> f64 {
        match *self {
            Distribution::Uniform { lo, hi } => lo + (hi - lo) * u,
            Distribution::Normal { mean, std } => mean + std * normal_quantile(u),
            Distribution::LogUniform { lo, hi } => lo * (hi / lo).powf(u),
            Distribution::Triangular { lo, mode, hi } => {
                let c = (mode - lo) / (hi - lo);
                if u < c {
                    lo + (u * (hi - lo) * (mode - lo)).sqrt()
                } else {
                    hi - ((1.0 - u) * (hi - lo) * (hi - mode)).sqrt()
                }
            }
        }
    }

    /// `dx/du`, the derivative of [`quantile`](Distribution::quantile) at `u` in `(0, 1)`.
    pub fn quantile_derivative(&self, u: f64) -> f64 {
        match *self {
            Distribution::Uniform { lo, hi } => hi - lo,
            Distribution::Normal { std, .. } => {
                let z = normal_quantile(u);
                std * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * z * z).exp()
            }
            Distribution::LogUniform { lo, hi } => self.quantile(u) * (hi / lo).ln(),
            Distribution::Triangular { lo, mode, hi } => {
                let c = (mode - lo) / (hi - lo);
                if u < c {
                    let a = (hi - lo) * (mode - lo);
                    0.5 * a / (u * a).sqrt()
                } else {
                    let a = (hi - lo) * (hi - mode);
                    0.5 * a / ((1.0 - u) * a).sqrt()
                }
            }
        }
    }

    /// The variance of the distribution.
    pub fn variance(&self) -> f64 {
        match *self {
            Distribution::Uniform { lo, hi } => (hi - lo).powi(2) / 12.0,
            Distribution::Normal { std, .. } => std * std,
            Distribution::LogUniform { lo, hi } => {
                let l = (hi / lo).ln();
                let m1 = (hi - lo) / l;
                let m2 = (hi * hi - lo * lo) / (2.0 * l);
                m2 - m1 * m1
            }
            Distribution::Triangular { lo, mode, hi } => {
                (lo * lo + mode * mode + hi * hi - lo * mode - lo * hi - mode * hi) / 18.0
            }
        }
    }

    /// The Poincaré constant `C` of the distribution when it is known in closed form:
    /// `Var(g) <= C E[g'^2]` for every smooth `g` (Lamboni, Iooss, Popelin & Gamboa 2013):
    /// `(hi - lo)^2 / pi^2` for the uniform, `std^2` for the normal. `None` otherwise.
    pub fn poincare_constant(&self) -> Option<f64> {
        match *self {
            Distribution::Uniform { lo, hi } => {
                Some((hi - lo).powi(2) / std::f64::consts::PI.powi(2))
            }
            Distribution::Normal { std, .. } => Some(std * std),
            _ => None,
        }
    }
}

/// One input: a name and its marginal distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// The name (used in tables, files and plots).
    pub name: String,
    /// The marginal distribution.
    pub distribution: Distribution,
}

impl Input {
    /// An input with the given name and distribution.
    pub fn new(name: impl Into<String>, distribution: Distribution) -> Self {
        Input {
            name: name.into(),
            distribution,
        }
    }

    /// Uniform on `[lo, hi]`.
    pub fn uniform(name: impl Into<String>, lo: f64, hi: f64) -> Self {
        Self::new(name, Distribution::Uniform { lo, hi })
    }

    /// Normal with the given mean and standard deviation.
    pub fn normal(name: impl Into<String>, mean: f64, std: f64) -> Self {
        Self::new(name, Distribution::Normal { mean, std })
    }

    /// Log-uniform on `[lo, hi]`.
    pub fn log_uniform(name: impl Into<String>, lo: f64, hi: f64) -> Self {
        Self::new(name, Distribution::LogUniform { lo, hi })
    }

    /// Triangular on `[lo, hi]` with its peak at `mode`.
    pub fn triangular(name: impl Into<String>, lo: f64, mode: f64, hi: f64) -> Self {
        Self::new(name, Distribution::Triangular { lo, mode, hi })
    }
}

/// The inputs of a sensitivity analysis, independent, each with a name and a marginal.
///
/// ```
/// use gsa::{Input, Problem};
///
/// let p = Problem::new(&[(0.0, 1.0), (-2.0, 2.0)])?.with_names(&["k", "c"])?;
/// assert_eq!(p.names(), vec!["k", "c"]);
/// assert!(Problem::new(&[(1.0, 1.0)]).is_err());                 // lo >= hi
/// let q = Problem::from_inputs(vec![Input::normal("m", 1.0, 0.1), Input::log_uniform("d", 1e-3, 1e-1)])?;
/// assert_eq!(q.dim(), 2);
/// # Ok::<(), gsa::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    inputs: Vec<Input>,
}

impl Problem {
    /// Uniform inputs on the given `(lo, hi)` bounds, named `x1, x2, ...`.
    ///
    /// # Errors
    /// [`Error::EmptyProblem`] for no bounds; [`Error::InvalidBounds`] for `lo >= hi` or a
    /// non-finite bound.
    pub fn new(bounds: &[(f64, f64)]) -> Result<Problem, Error> {
        Self::from_inputs(
            bounds
                .iter()
                .enumerate()
                .map(|(i, &(lo, hi))| Input::uniform(format!("x{}", i + 1), lo, hi))
                .collect(),
        )
    }

    /// A problem from named inputs with any marginals.
    ///
    /// # Errors
    /// [`Error::EmptyProblem`], [`Error::InvalidBounds`] or [`Error::InvalidDistribution`].
    pub fn from_inputs(inputs: Vec<Input>) -> Result<Problem, Error> {
        if inputs.is_empty() {
            return Err(Error::EmptyProblem);
        }
        for (i, input) in inputs.iter().enumerate() {
            input.distribution.validate(i)?;
        }
        Ok(Problem { inputs })
    }

    /// Renames the inputs.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `names` has not one name per input.
    pub fn with_names(mut self, names: &[&str]) -> Result<Problem, Error> {
        if names.len() != self.inputs.len() {
            return Err(Error::DimensionMismatch {
                what: "names",
                expected: self.inputs.len(),
                got: names.len(),
            });
        }
        for (input, name) in self.inputs.iter_mut().zip(names) {
            input.name = (*name).to_string();
        }
        Ok(self)
    }

    /// The number of inputs `k`.
    pub fn dim(&self) -> usize {
        self.inputs.len()
    }

    /// The inputs.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The input names.
    pub fn names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    /// Maps a point `u` of the unit cube (each coordinate in `(0, 1)`) to the inputs by each
    /// marginal's inverse CDF, writing into `x` (both of length [`dim`](Problem::dim)).
    pub fn transform(&self, u: &[f64], x: &mut [f64]) {
        for ((xi, &ui), input) in x.iter_mut().zip(u).zip(&self.inputs) {
            *xi = input.distribution.quantile(ui);
        }
    }
}

/// The standard normal quantile `Phi^{-1}(u)` for `u` in `(0, 1)` (Acklam's rational
/// approximation, relative error below 1.2e-9; `±inf` at 0 and 1).
pub fn normal_quantile(u: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    if u <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if u >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if u < P_LOW {
        tail((-2.0 * u.ln()).sqrt())
    } else if u > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - u).ln()).sqrt())
    } else {
        let q = u - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_published_values() {
        // Phi^{-1}(0.975), Phi^{-1}(0.001), Phi^{-1}(Phi(1)) (Abramowitz & Stegun, 26.2).
        for (u, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_813),
            (0.841_344_746_068_543, 1.0),
            (0.5, 0.0),
        ] {
            assert!((normal_quantile(u) - z).abs() < 5e-9, "{u}");
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert_eq!(Problem::new(&[]), Err(Error::EmptyProblem));
        assert!(matches!(
            Problem::new(&[(0.0, 1.0), (2.0, 2.0)]),
            Err(Error::InvalidBounds { index: 1, .. })
        ));
        assert!(matches!(
            Problem::new(&[(f64::NAN, 1.0)]),
            Err(Error::InvalidBounds { index: 0, .. })
        ));
        assert!(matches!(
            Problem::from_inputs(vec![Input::log_uniform("a", 0.0, 1.0)]),
            Err(Error::InvalidDistribution { index: 0, .. })
        ));
        assert!(matches!(
            Problem::from_inputs(vec![Input::normal("a", 0.0, -1.0)]),
            Err(Error::InvalidDistribution { .. })
        ));
        assert!(Problem::new(&[(0.0, 1.0)])
            .and_then(|p| p.with_names(&["a", "b"]))
            .is_err());
    }

    #[test]
    fn quantile_derivatives_match_finite_differences() {
        let ds = [
            Distribution::Uniform { lo: -1.0, hi: 3.0 },
            Distribution::Normal {
                mean: 1.0,
                std: 0.5,
            },
            Distribution::LogUniform { lo: 0.1, hi: 10.0 },
            Distribution::Triangular {
                lo: 0.0,
                mode: 0.3,
                hi: 2.0,
            },
        ];
        for d in ds {
            for u in [0.1, 0.37, 0.8] {
                let h = 1e-6;
                let fd = (d.quantile(u + h) - d.quantile(u - h)) / (2.0 * h);
                let an = d.quantile_derivative(u);
                assert!((fd - an).abs() < 1e-5 * an.abs().max(1.0), "{d:?} {u}");
            }
        }
    }
}
