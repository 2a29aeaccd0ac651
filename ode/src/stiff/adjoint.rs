//! The continuous adjoint of a BDF solve, integrated backward with BDF.
//!
//! For a loss with cotangents `ȳ_k` at the save times, `λ' = -J(t, y(t))^T λ` runs backward
//! from `T` to `t0` with jumps `λ += ȳ_k` at the save times, and the parameter cotangent is the
//! quadrature `p̄ = ∫ ∂f/∂p^T λ dt`, integrated as the extra components `μ` of the same backward
//! solve (no backsolve of the state: `y(t)` comes from the interpolating polynomials of the
//! forward steps, kept in memory). With `s = t_k - t` the backward problem is the forward ODE
//! `d(λ, μ)/ds = [J | ∂f/∂p]^T λ`, stiff like the forward one, and is solved by the same BDF
//! code (its own Jacobian `[J | ∂f/∂p]^T` by forward mode on the linear right-hand side, its
//! own error control at the forward tolerances), restarted at each save time. The result
//! approximates the derivative of the exact solution to about the tolerance.

use std::sync::Mutex;

use ad_core::Real;

use crate::error::Error;
use crate::options::Options;
use crate::system::OdeSystem;

use super::bdf;
use super::differences::StepPoly;
use super::jacobian::sens_rhs;
use crate::rhs_jacobian::RhsJacobian;

/// The backward system `d(λ, μ)/ds = [J | ∂f/∂p]^T λ` at `t = -s`.
struct AdjointSystem<'a, Sys> {
    sys: &'a Sys,
    p: &'a [f64],
    trace: &'a [StepPoly],
    n: usize,
    /// `t = origin - s`: each backward segment starts at `s = 0` so its first (tiny) steps are
    /// representable whatever the size of `t`.
    origin: f64,
    cache: Mutex<Cache>,
}

/// `[J | ∂f/∂p]` at the last time asked for (the Newton iterations and the Jacobian of one
/// step ask at the same time repeatedly).
struct Cache {
    t: f64,
    y: Vec<f64>,
    jac: Jac,
    /// Evaluations of `[J | ∂f/∂p]`.
    evals: usize,
}

/// `[J | ∂f/∂p]`, dense (row-major `n x m`, by forward mode with an identity `seed`) or, for
/// large sparse systems, on its traced pattern (values by compressed forward mode): O(nnz)
/// memory instead of O(n (n + n_p)).
enum Jac {
    Dense {
        seed: Vec<f64>,
        jf: Vec<f64>,
    },
    Sparse {
        jac: Box<RhsJacobian>,
        vals: Vec<f64>,
    },
}

impl<Sys: OdeSystem> OdeSystem for AdjointSystem<'_, Sys> {
    fn dim(&self) -> usize {
        self.n + self.p.len()
    }
    fn n_params(&self) -> usize {
        0
    }
    fn rhs<S: Real>(&self, s: S, x: &[S], _p: &[S], dx: &mut [S]) {
        let t = self.origin - s.value();
        let n = self.n;
        let m = n + self.p.len();
        let mut c = self.cache.lock().expect("adjoint cache");
        if c.t.to_bits() != t.to_bits() {
            let k = self
                .trace
                .partition_point(|st| st.t < t)
                .min(self.trace.len() - 1);
            let Cache { y, jac, .. } = &mut *c;
            self.trace[k].eval(t, y);
            match jac {
                Jac::Dense { seed, jf } => {
                    sens_rhs(self.sys, t, y, self.p, seed, jf);
                }
                Jac::Sparse { jac, vals } => jac.values(self.sys, t, y, self.p, vals),
            }
            c.t = t;
            c.evals += 1;
        }
        match &c.jac {
            Jac::Dense { jf, .. } => {
                for (i, out) in dx.iter_mut().enumerate().take(m) {
                    let mut acc = S::zero();
                    for j in 0..n {
                        let a = jf[j * m + i];
                        if a != 0.0 {
                            acc += x[j] * a;
                        }
                    }
                    *out = acc;
                }
            }
            Jac::Sparse { jac, vals } => {
                // dx_i = sum_j [J | f_p]_ji x_j over the stored entries of each row j
                let s = jac.sparsity();
                let (rs, ci) = (s.row_start(), s.col_index());
                dx.fill(S::zero());
                for (j, &xj) in x.iter().enumerate().take(n) {
                    for k in rs[j]..rs[j + 1] {
                        dx[ci[k]] += xj * vals[k];
                    }
                }
            }
        }
    }
}

/// Counters of one backward pass: `(adjoint steps, evaluations of [J | ∂f/∂p])`.
pub(crate) type BackwardCounts = (usize, usize);

/// ADDS the cotangents of `(y0, p)` to `x_bar`, given the forward `trace` and the cotangents
/// `y_bar` (row-major `save_at.len() x n`) of the saved states.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<Sys: OdeSystem>(
    sys: &Sys,
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    trace: &[StepPoly],
    y_bar: &[f64],
    x_bar: &mut [f64],
) -> Result<BackwardCounts, Error> {
    let n = x_bar.len() - p.len();
    let m = n + p.len();
    let mut x = vec![0.0; m];
    let aopts = Options {
        atol_components: None,
        h0: None,
        ..opts.clone()
    };
    let mut jac = if trace.is_empty() {
        None
    } else {
        let (t, mut y) = (trace[0].t, vec![0.0; n]);
        trace[0].eval(t, &mut y);
        match RhsJacobian::detect(sys, t, &y, p, usize::MAX) {
            Some(jac) => {
                let nnz = jac.sparsity().nnz();
                Some(Jac::Sparse {
                    jac: Box::new(jac),
                    vals: vec![0.0; nnz],
                })
            }
            None => {
                let mut seed = vec![0.0; n * m];
                for i in 0..n {
                    seed[i * m + i] = 1.0;
                }
                Some(Jac::Dense {
                    seed,
                    jf: vec![0.0; n * m],
                })
            }
        }
    };
    let mut steps = 0;
    let mut evals = 0;
    for k in (0..save_at.len()).rev() {
        for i in 0..n {
            x[i] += y_bar[k * n + i];
        }
        let t_prev = if k > 0 { save_at[k - 1].max(t0) } else { t0 };
        if save_at[k] > t_prev && !trace.is_empty() && x.iter().any(|v| *v != 0.0) {
            let adj = AdjointSystem {
                sys,
                p,
                trace,
                n,
                origin: save_at[k],
                cache: Mutex::new(Cache {
                    t: f64::NAN,
                    y: vec![0.0; n],
                    jac: jac
                        .take()
                        .expect("the Jacobian is handed back after each segment"),
                    evals: 0,
                }),
            };
            let span = save_at[k] - t_prev;
            let o = bdf::integrate(
                &adj,
                &x,
                &[],
                0.0,
                &[span],
                &aopts,
                false,
                bdf::Keep::Nothing,
            );
            let cache = adj.cache.into_inner().expect("adjoint cache");
            jac = Some(cache.jac);
            let o = o?;
            steps += o.stats.steps;
            evals += cache.evals;
            x.copy_from_slice(&o.saved[0]);
        }
    }
    for (xb, v) in x_bar.iter_mut().zip(&x) {
        *xb += v;
    }
    Ok((steps, evals))
}
