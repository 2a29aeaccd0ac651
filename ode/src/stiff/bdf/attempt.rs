//! The stages of one BDF step attempt, as methods of [`BdfStepper`]: the guards before an
//! attempt, the predictor, the modified-Newton corrector with Jacobian refresh, the error test
//! (covering the tangents), the responses to failures, the acceptance (the difference update)
//! and the order and step-size choice after an accepted step. The kernels they call stay in
//! their files ([`super::super::differences`], [`super::super::newton`]).

use crate::error::Error;
use crate::system::OdeSystem;

use super::super::differences::{StepPoly, MAX_ORDER};
use super::super::jacobian::sens_rhs;
use super::super::linalg::Factor;
use super::super::newton::{probe_corrector, sens_direct, solve_corrector, weighted_error_norm};
use super::{eval_jac, rescale, BdfStepper, Failure, Keep};

const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// Most convergence failures and error-test failures on one step.
const MAX_CONV_FAILS: usize = 10;
const MAX_ERR_FAILS: usize = 12;

impl<Sys: OdeSystem> BdfStepper<'_, Sys> {
    /// Before an attempt: the step budget, `h <= h_max`, the step size's floor, and the cut to
    /// end at the stop time. Returns the attempt's end and whether it reaches the stop time.
    pub(super) fn next_attempt(&mut self) -> Result<(f64, bool), Error> {
        let t = self.t;
        if self.attempts >= self.opts.max_steps {
            return Err(Error::MaxStepsReached {
                t,
                steps: self.attempts,
            });
        }
        let min_step = 10.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE);
        if self.h > self.opts.h_max {
            self.rescale(self.opts.h_max / self.h);
            self.h = self.opts.h_max;
        }
        let t_stop = self.t_stop.unwrap_or(f64::INFINITY);
        let cut = self.h.is_finite() && t + self.h > t_stop;
        if cut {
            self.rescale((t_stop - t) / self.h);
            self.h = t_stop - t;
        }
        let h = self.h;
        if h < min_step || !h.is_finite() {
            return Err(match self.last_failure {
                Failure::Convergence => Error::ConvergenceFailure { t, h },
                Failure::Singular => Error::SingularIterationMatrix { t, h },
                _ => Error::StepSizeTooSmall { t, h },
            });
        }
        self.attempts += 1;
        let t_new = if cut { t_stop } else { t + h };
        Ok((t_new, t_new >= t_stop))
    }

    /// Changes the step size by `factor`, rescaling the differences (logged for the discrete
    /// adjoint); the order waits for `order + 1` steps of the new size.
    fn rescale(&mut self, factor: f64) {
        let (w, order) = (self.w, self.order);
        rescale(&mut self.d, w, order, factor, &mut self.tmp, &mut self.log);
        self.h *= factor;
        self.n_equal = 0;
    }

    /// The predictor `y_pred = Σ_{j<=k} D[j]`, `ψ = Σ_{1<=j<=k} γ_j/α_k D[j]` and the scales;
    /// returns `c = h / α_k`.
    pub(super) fn predict(&mut self) -> f64 {
        let (w, n, order) = (self.w, self.n, self.order);
        let sc = &mut self.sc;
        sc.y_pred.iter_mut().for_each(|v| *v = 0.0);
        sc.psi.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..=order {
            let row = &self.d[j * w..(j + 1) * w];
            for (yp, v) in sc.y_pred.iter_mut().zip(row) {
                *yp += v;
            }
            if j >= 1 {
                let g = self.co.gamma[j] / self.co.alpha[order];
                for (ps, v) in sc.psi.iter_mut().zip(row) {
                    *ps += g * v;
                }
            }
        }
        for i in 0..n {
            sc.scale[i] = self.atol[i] + self.opts.rtol * sc.y_pred[i].abs();
        }
        self.h / self.co.alpha[order]
    }

    /// Evaluates the Jacobian at the predictor (`t_new`).
    fn refresh_jacobian(&mut self, t_new: f64) {
        let lin = &mut self.lin;
        let y = &self.sc.y_pred[..self.n];
        self.stiff.jac_rhs_evals += eval_jac(
            self.sys,
            lin.sparse.as_deref(),
            t_new,
            y,
            &self.p,
            &mut lin.jac,
        );
        self.stiff.jac_evals += 1;
        lin.age = 0;
        lin.current = true;
        match &mut lin.jac_at {
            Some((t, at)) => {
                *t = t_new;
                at.copy_from_slice(y);
            }
            None => lin.jac_at = Some((t_new, y.to_vec())),
        }
    }

    /// Factorises `I - c J` (evaluating `J` first if it is too old); false if singular.
    fn factorise(&mut self, t_new: f64, c: f64) -> bool {
        if self.lin.age >= super::JAC_MAX_AGE {
            self.refresh_jacobian(t_new);
        }
        self.stiff.factorisations += 1;
        match self.lin.factor(self.n, c) {
            Ok(f) => {
                self.lin.lu = Some(f);
                self.lin.lu_c = c;
                true
            }
            Err(_) => {
                self.last_failure = Failure::Singular;
                false
            }
        }
    }

    /// The modified Newton iteration of the corrector, refactorising with the current `c` and
    /// then refreshing the Jacobian once if it fails with a stale one. The factorisation is
    /// kept while `c` stays within 30% of the `c` it was built with on large systems (CVODE's
    /// rule). Returns whether it converged and its iterations.
    pub(super) fn newton(&mut self, t_new: f64, c: f64) -> (bool, usize) {
        let n = self.n;
        if self.lin.lu.is_some() && (c / self.lin.lu_c - 1.0).abs() > self.lin.max_c_change {
            self.lin.lu = None;
        }
        loop {
            if self.lin.lu.is_none() && !self.factorise(t_new, c) {
                return (false, 0);
            }
            let sc = &mut self.sc;
            let r = solve_corrector(
                self.sys,
                t_new,
                &self.p,
                &sc.y_pred[..n],
                c,
                &sc.psi[..n],
                self.lin.lu.as_ref().expect("factorised above"),
                &sc.scale,
                self.newton_tol,
                &mut sc.y_new,
                &mut sc.dd[..n],
                &mut sc.newton,
            );
            self.stats.rhs_evals += r.rhs_evals;
            self.stiff.newton_iters += r.iterations;
            if r.converged {
                return (true, r.iterations);
            }
            self.last_failure = Failure::Convergence;
            if self.lin.lu_c != c {
                // first refactorise with the current c (same Jacobian)
                self.lin.lu = None;
                continue;
            }
            if self.lin.current {
                return (false, r.iterations);
            }
            self.refresh_jacobian(t_new);
            self.lin.lu = None;
        }
    }

    /// After a Newton failure: a smaller step (a quarter after a singular matrix, else a
    /// half) with a fresh Jacobian if the failing one was current.
    pub(super) fn convergence_failure(&mut self) -> Result<(), Error> {
        let (t, h) = (self.t, self.h);
        self.stiff.newton_failures += 1;
        self.stats.rejected += 1;
        self.conv_fails += 1;
        // the retry at the smaller step re-evaluates the Jacobian there (as CVODE does after
        // a failure with a current Jacobian): it may depend strongly on t
        if self.lin.current {
            self.lin.age = usize::MAX;
        }
        let singular = self.last_failure == Failure::Singular;
        if self.conv_fails >= MAX_CONV_FAILS {
            return Err(if singular {
                Error::SingularIterationMatrix { t, h }
            } else {
                Error::ConvergenceFailure { t, h }
            });
        }
        self.rescale(if singular { 0.25 } else { 0.5 });
        self.lin.lu = None;
        Ok(())
    }

    /// The error norm of the converged attempt. If the state passes, the tangents' corrector
    /// is solved first (the error test covers them, CVODES' `errconS`): sensitivities with the
    /// Jacobian at the converged state in one solve (the staggered direct method; the state's
    /// own Newton matrix is left alone), the probe by a few directional derivatives.
    pub(super) fn error_norm(&mut self, t_new: f64, c: f64) -> Result<f64, Error> {
        let (n, w) = (self.n, self.w);
        self.sc.base[..n].copy_from_slice(&self.sc.y_new);
        let norm = self.weighted_norm(0);
        if norm.is_nan() || norm > 1.0 || self.cols == 0 {
            return Ok(norm);
        }
        if self.m > 0 {
            self.sens_corrector(t_new, c)?;
        } else {
            let sc = &mut self.sc;
            self.stiff.sens_rhs_evals += probe_corrector(
                self.sys,
                t_new,
                &sc.y_new,
                &self.p,
                &self.v_p,
                &sc.y_pred[n..],
                c,
                &sc.psi[n..],
                self.lin.lu.as_ref().expect("factorised above"),
                &sc.scale,
                &mut sc.dd[n..],
            );
        }
        let sc = &mut self.sc;
        for i in n..w {
            sc.base[i] = sc.y_pred[i] + sc.dd[i];
        }
        Ok(self.weighted_norm(self.err_cols))
    }

    /// The weighted norm of the local error estimate `(κ_k γ_k + 1/(k+1)) d` on the state and
    /// `cols` tangent columns.
    fn weighted_norm(&mut self, cols: usize) -> f64 {
        let k = self.co.error_const[self.order];
        let sc = &mut self.sc;
        let (atol, rtol) = (&self.atol, self.opts.rtol);
        weighted_error_norm(
            self.n,
            cols,
            k,
            &sc.dd,
            &sc.base,
            atol,
            rtol,
            &mut sc.err,
            &mut sc.scale,
        )
    }

    /// The sensitivities' corrector: `[J | ∂f/∂p]` at the converged state in one forward-mode
    /// pass (seeds `[I | 0]`), one LU of `I - c J`, one solve per column.
    fn sens_corrector(&mut self, t_new: f64, c: f64) -> Result<(), Error> {
        let (n, m) = (self.n, self.m);
        let (lin, sc) = (&mut self.lin, &mut self.sc);
        self.stiff.sens_rhs_evals += sens_rhs(
            self.sys,
            t_new,
            &sc.y_new,
            &self.p,
            &lin.seed_id,
            &mut lin.jf,
        );
        self.stiff.jac_evals += 1;
        self.stiff.factorisations += 1;
        for i in 0..n {
            lin.jac_s[i * n..(i + 1) * n].copy_from_slice(&lin.jf[i * m..i * m + n]);
        }
        let f = Factor::new(n, c, &lin.jac_s).map_err(|_| Error::SingularIterationMatrix {
            t: t_new,
            h: self.h,
        })?;
        let (y_pred, psi) = (&sc.y_pred[n..], &sc.psi[n..]);
        sens_direct(
            n,
            m,
            &lin.jf,
            y_pred,
            c,
            psi,
            &f,
            &mut sc.dd[n..],
            &mut sc.col,
        );
        Ok(())
    }

    /// After a failed error test: a smaller step from the error estimate (at least a factor
    /// [`MIN_FACTOR`]).
    pub(super) fn error_test_failure(&mut self, error_norm: f64, safety: f64) -> Result<(), Error> {
        self.stats.rejected += 1;
        self.stiff.error_test_failures += 1;
        self.err_fails += 1;
        self.last_failure = Failure::ErrorTest;
        if self.err_fails >= MAX_ERR_FAILS {
            return Err(Error::ErrorTestFailures {
                t: self.t,
                h: self.h,
                failures: self.err_fails,
            });
        }
        let factor = if error_norm.is_finite() {
            MIN_FACTOR.max(safety * error_norm.powf(-1.0 / (self.order + 1) as f64))
        } else {
            MIN_FACTOR
        };
        self.rescale(factor);
        Ok(())
    }

    /// Accepts the attempt ending at `t_new`: updates the differences
    /// (`D[k+2] = d - D[k+1]`, `D[k+1] = d`, `D[i] += D[i+1]`) and logs the step.
    pub(super) fn accept(&mut self, t_new: f64) {
        let (w, n, order) = (self.w, self.n, self.order);
        self.stats.steps += 1;
        self.conv_fails = 0;
        self.err_fails = 0;
        self.last_failure = Failure::None;
        self.lin.current = false;
        self.lin.age = self.lin.age.saturating_add(1);
        let (d, dd) = (&mut self.d, &self.sc.dd);
        for i in 0..w {
            d[(order + 2) * w + i] = dd[i] - d[(order + 1) * w + i];
            d[(order + 1) * w + i] = dd[i];
        }
        for j in (0..=order).rev() {
            let (lo, hi) = d.split_at_mut((j + 1) * w);
            for (a, b) in lo[j * w..].iter_mut().zip(&hi[..w]) {
                *a += b;
            }
        }
        if let Some(l) = &mut self.log {
            l.push_step(t_new, self.h, order, &self.sc.y_new);
        }
        if self.keep == Keep::Polys {
            let mut rows = Vec::with_capacity((order + 1) * n);
            for j in 0..=order {
                rows.extend_from_slice(&d[j * w..j * w + n]);
            }
            self.trace.push(StepPoly {
                t: t_new,
                h: self.h,
                order,
                d: rows,
            });
        }
        self.h_last = self.h;
        self.t = t_new;
    }

    /// After `order + 1` accepted steps of one size: the order (changed by at most one) whose
    /// error estimate allows the largest step, and that step (at most [`MAX_FACTOR`] larger).
    pub(super) fn select_order_and_size(&mut self, safety: f64, error_norm: f64) {
        self.n_equal += 1;
        let order = self.order;
        if self.n_equal < order + 1 {
            return;
        }
        let (n, w, cols) = (self.n, self.w, self.err_cols);
        let (atol, rtol, sc) = (&self.atol, self.opts.rtol, &mut self.sc);
        let mut row_norm = |j: usize, k: f64| {
            let e = &self.d[j * w..(j + 1) * w];
            weighted_error_norm(
                n,
                cols,
                k,
                e,
                &sc.base,
                atol,
                rtol,
                &mut sc.err,
                &mut sc.scale,
            )
        };
        let ec = &self.co.error_const;
        let error_m_norm = if order > 1 {
            row_norm(order, ec[order - 1])
        } else {
            f64::INFINITY
        };
        let error_p_norm = if order < MAX_ORDER {
            row_norm(order + 2, ec[order + 1])
        } else {
            f64::INFINITY
        };
        let norms = [error_m_norm, error_norm, error_p_norm];
        let mut best = 1usize;
        let mut best_factor = f64::NEG_INFINITY;
        for (k, &e) in norms.iter().enumerate() {
            let f = e.powf(-1.0 / (order + k) as f64);
            if f > best_factor {
                best_factor = f;
                best = k;
            }
        }
        self.order = order + best - 1;
        self.rescale(MAX_FACTOR.min(safety * best_factor));
    }
}
