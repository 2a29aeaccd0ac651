//! Variable-order (1-5), variable-step BDF in the NDF form of Shampine & Reichelt (1997, the
//! method of MATLAB's `ode15s` and SciPy's `BDF`), with modified divided differences.
//!
//! The state is the array `D` of modified backward differences of the solution on the
//! current step size (`D[0] = y_n`, `D[j] = ∇^j y_n`); a step-size change by a factor `r`
//! rescales it exactly with `D <- (R(r) U)^T D` (the interpolating polynomial through the
//! past values re-sampled on the new grid). One step of order `k` solves
//! `(1 - κ_k) γ_k (y - y_pred) - h f(y) + Σ_{j=1..k} γ_j ∇^j y_n = 0` with the predictor
//! `y_pred = Σ_{j=0..k} D[j]` by modified Newton ([`super::newton`]). The local error is
//! `(κ_k γ_k + 1/(k+1)) d` with `d = y - y_pred`; the order changes by at most one after
//! `k + 1` steps of the same size, to the order whose error estimate allows the largest step.
//! The solution between steps is the interpolating polynomial `D` (dense output), so steps are
//! never shortened to hit save times. The Jacobian is reused across steps and refreshed only
//! after a Newton failure (or when older than [`JAC_MAX_AGE`] steps); the iteration matrix is
//! refactorised when `c = h / α_k` changes (large systems: by more than 30%, CVODE's rule).
//!
//! With sensitivities, the `n x m` matrix `S = ∂y/∂(y0, p)` is carried in the same difference
//! array (columns `n..` of each row), follows the same steps and orders, and its corrector is
//! solved once per accepted step with the Jacobian at the converged state
//! ([`super::newton::sens_direct`]). With [`Keep::Log`] the solve logs what the discrete
//! adjoint ([`super::discrete`]) needs to transpose that linear map: per accepted step its
//! time, size, order and converged state, and every rescaling of `D`.
//!
//! The error test covers the sensitivities as well as the state (CVODES' `errconS`): their
//! corrector is solved before the test, and the test takes the largest of the state's and each
//! column's weighted norms. The forward solves of the adjoints ([`Keep::Log`], [`Keep::Polys`])
//! carry one probe column along the fixed direction of
//! [`probe_direction`](crate::sensitivity::probe_direction) for the same purpose (a solve that
//! starts at an equilibrium would otherwise take steps whose exact derivative is far from the
//! ODE's); plain solves carry none and take the same steps as before.

use crate::error::Error;
use crate::options::Options;
use crate::sensitivity::probe_direction;

use super::differences::{change_d, coefs, interpolate, StepPoly, MAX_ORDER};
use super::discrete::StepLog;
use super::jacobian::{dense_jacobian, sens_rhs};
use super::linalg::Factor;
use super::newton::{
    directional_rhs, probe_corrector, sens_direct, solve_corrector, weighted_error_norm,
    NewtonScratch, NEWTON_MAXITER,
};
use super::sparse::SparseJacobian;
use super::{initial_step, StiffOutput};
use crate::system::OdeSystem;

const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// The Jacobian is re-evaluated at the next factorisation once it is this many steps old.
pub(crate) const JAC_MAX_AGE: usize = 50;
/// The iteration matrix of a large system is refactorised when `c = h / α_k` moved more than
/// this fraction.
const MAX_C_CHANGE: f64 = 0.3;
/// Most convergence failures and error-test failures on one step.
const MAX_CONV_FAILS: usize = 10;
const MAX_ERR_FAILS: usize = 12;

/// The Jacobian at `(t, y)`: on the sparse pattern if there is one, else dense; returns the
/// number of evaluations.
fn eval_jac<Sys: OdeSystem>(
    sys: &Sys,
    sparse: Option<&SparseJacobian>,
    t: f64,
    y: &[f64],
    p: &[f64],
    jac: &mut [f64],
) -> usize {
    match sparse {
        Some(sj) => sj.values(sys, t, y, p, jac),
        None => dense_jacobian(sys, t, y, p, jac),
    }
}

/// What a forward solve keeps for a derivative pass besides the saved states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Nothing (plain solves, forward sensitivities).
    Nothing,
    /// The polynomial of every accepted step ([`StepPoly`], for the continuous adjoint).
    Polys,
    /// The step log of the discrete adjoint ([`StepLog`]: per accepted step its time, size,
    /// order and converged state; every rescaling of the differences).
    Log,
}

/// [`change_d`], recorded in the step log if there is one (the discrete adjoint replays the
/// rescalings transposed).
fn rescale(
    d: &mut [f64],
    w: usize,
    order: usize,
    factor: f64,
    tmp: &mut [f64],
    log: &mut Option<StepLog>,
) {
    change_d(d, w, order, factor, tmp);
    if let Some(l) = log {
        l.rescales.push((order, factor));
    }
}

/// Why the last attempt failed (for the error reported when the step size underflows).
#[derive(Clone, Copy, PartialEq)]
enum Failure {
    None,
    Convergence,
    Singular,
    ErrorTest,
}

/// Integrates with BDF/NDF from `t0` through the sorted `save_at`; with `sens` the forward
/// sensitivities with respect to `(y0, p)` are carried along; `keep` says what else is kept
/// for a derivative pass (the polynomials of the accepted steps for the continuous adjoint,
/// the step log for the discrete adjoint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn integrate<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    sens: bool,
    keep: Keep,
) -> Result<StiffOutput, Error> {
    let n = y0.len();
    let m = if sens { n + p.len() } else { 0 };
    // the adjoints' forward solves carry one probe tangent for the error test
    let probe = !sens && keep != Keep::Nothing;
    let cols = if probe { 1 } else { m };
    // the tangent columns the error test covers (none with `derivative_error_control` off)
    let err_cols = if opts.derivative_error_control {
        cols
    } else {
        0
    };
    let w = n * (1 + cols);
    let mut out = StiffOutput::new(n, m);
    let mut state0 = vec![0.0; w];
    state0[..n].copy_from_slice(y0);
    for i in 0..m.min(n) {
        state0[n + i * m + i] = 1.0;
    }
    let mut v_p = Vec::new();
    if probe {
        let x: Vec<f64> = y0.iter().chain(p).copied().collect();
        let v = probe_direction(&x);
        state0[n..].copy_from_slice(&v[..n]);
        v_p = v[n..].to_vec();
    }
    let mut next = 0;
    while next < save_at.len() && save_at[next] <= t0 {
        out.push(&state0);
        next += 1;
    }
    if keep == Keep::Log {
        out.log = Some(StepLog::new(n, next));
    }
    if next == save_at.len() {
        return Ok(out);
    }
    if let Some(c) = y0.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            t: t0,
            component: c,
        });
    }
    let t_end = save_at[save_at.len() - 1];
    let co = coefs();
    let atol: Vec<f64> = (0..n).map(|i| opts.atol_at(i)).collect();
    let rtol = opts.rtol;
    let newton_tol = (10.0 * f64::EPSILON / rtol.max(1e-300)).max(0.03f64.min(rtol.sqrt()));

    let mut f0 = vec![0.0; n];
    sys.rhs(t0, y0, p, &mut f0);
    out.stats.rhs_evals += 1;
    if let Some(c) = f0.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            t: t0,
            component: c,
        });
    }
    let mut h = match opts.h0 {
        Some(h0) => h0,
        None => {
            out.stats.rhs_evals += 1;
            initial_step(sys, t0, y0, &f0, p, 1.0, opts, t_end - t0)
        }
    }
    .min(opts.h_max);
    if let Some(l) = &mut out.log {
        l.h_init = h;
    }

    // D rows: 0..MAX_ORDER+3, each of width w.
    let rows = MAX_ORDER + 3;
    let mut d = vec![0.0; rows * w];
    let mut tmp = vec![0.0; rows * w];
    d[..w].copy_from_slice(&state0);
    for i in 0..n {
        d[w + i] = h * f0[i];
    }
    if m > 0 {
        let mut g = vec![0.0; n * m];
        out.stiff.sens_rhs_evals += sens_rhs(sys, t0, y0, p, &state0[n..], &mut g);
        for (dst, v) in d[w + n..2 * w].iter_mut().zip(&g) {
            *dst = h * v;
        }
    }
    if probe {
        let mut g = vec![0.0; n];
        directional_rhs(sys, t0, y0, &state0[n..], p, &v_p, &mut g);
        out.stiff.sens_rhs_evals += 1;
        for (dst, v) in d[w + n..2 * w].iter_mut().zip(&g) {
            *dst = h * v;
        }
    }

    let mut order = 1usize;
    let mut n_equal = 0usize;
    // large sparse systems (no sensitivities): detected pattern, colouring, sparse LU
    let sparse = if m == 0 {
        SparseJacobian::detect(sys, t0, y0, p)
    } else {
        None
    };
    if let Some(sj) = &sparse {
        out.stiff.jac_rhs_evals += sj.detect_evals;
        out.stiff.jacobian_nnz = sj.nnz();
        out.stiff.jacobian_colours = sj.n_colours();
    }
    let mut jac = vec![0.0; sparse.as_ref().map_or(n * n, |s| s.nnz())];
    let mut jac_s = vec![0.0; if m > 0 { n * n } else { 0 }];
    let mut jf = vec![0.0; n * m];
    let mut seed_id = vec![0.0; n * m];
    for i in 0..m.min(n) {
        seed_id[i * m + i] = 1.0;
    }
    let mut jac_age = usize::MAX; // no Jacobian yet
    let mut jac_current = false;
    let mut lu: Option<Factor> = None;
    let mut lu_c = f64::NAN;
    // small dense systems refactorise on every change of c (an LU is cheaper than the extra
    // Newton iterations of a stale one)
    let max_c_change = if sparse.is_some() || n > 24 {
        MAX_C_CHANGE
    } else {
        0.0
    };
    let mut t = t0;
    let mut attempts = 0usize;
    let mut conv_fails = 0usize;
    let mut err_fails = 0usize;
    let mut last_failure = Failure::None;

    let mut y_pred = vec![0.0; w];
    let mut psi = vec![0.0; w];
    let mut y_new = vec![0.0; n];
    let mut dd = vec![0.0; w];
    let mut scale = vec![0.0; n];
    let mut err = vec![0.0; n];
    let mut base = vec![0.0; w];
    let mut interp = vec![0.0; w];
    let mut nsc = NewtonScratch {
        f: vec![0.0; n],
        dy: vec![0.0; n],
    };
    let mut col = vec![0.0; n];

    loop {
        if attempts >= opts.max_steps {
            return Err(Error::MaxStepsReached { t, steps: attempts });
        }
        let min_step = 10.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE);
        if h > opts.h_max {
            rescale(&mut d, w, order, opts.h_max / h, &mut tmp, &mut out.log);
            h = opts.h_max;
            n_equal = 0;
        }
        if h < min_step || !h.is_finite() {
            return Err(match last_failure {
                Failure::Convergence => Error::ConvergenceFailure { t, h },
                Failure::Singular => Error::SingularIterationMatrix { t, h },
                _ => Error::StepSizeTooSmall { t, h },
            });
        }
        attempts += 1;
        let t_new = t + h;
        y_pred.iter_mut().for_each(|v| *v = 0.0);
        psi.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..=order {
            let row = &d[j * w..(j + 1) * w];
            for (yp, v) in y_pred.iter_mut().zip(row) {
                *yp += v;
            }
            if j >= 1 {
                let g = co.gamma[j] / co.alpha[order];
                for (ps, v) in psi.iter_mut().zip(row) {
                    *ps += g * v;
                }
            }
        }
        for i in 0..n {
            scale[i] = atol[i] + rtol * y_pred[i].abs();
        }
        let c = h / co.alpha[order];

        // The factorisation is kept while c stays within 30% of the c it was built with (as in
        // CVODE): modified Newton with a slightly different c still converges, and the LU is
        // the dominant cost of large (sparse) systems.
        if lu.is_some() && (c / lu_c - 1.0).abs() > max_c_change {
            lu = None;
        }
        // Newton, refreshing the Jacobian once if it fails with a stale one.
        let mut converged = false;
        let mut iters = 0;
        loop {
            if lu.is_none() {
                if jac_age >= JAC_MAX_AGE {
                    out.stiff.jac_rhs_evals +=
                        eval_jac(sys, sparse.as_ref(), t_new, &y_pred[..n], p, &mut jac);
                    out.stiff.jac_evals += 1;
                    jac_age = 0;
                    jac_current = true;
                }
                out.stiff.factorisations += 1;
                let factor = match &sparse {
                    Some(sj) => sj.factor(c, &jac),
                    None => Factor::new(n, c, &jac),
                };
                match factor {
                    Ok(f) => {
                        lu = Some(f);
                        lu_c = c;
                    }
                    Err(_) => {
                        last_failure = Failure::Singular;
                        break;
                    }
                }
            }
            let r = solve_corrector(
                sys,
                t_new,
                p,
                &y_pred[..n],
                c,
                &psi[..n],
                lu.as_ref().expect("factorised above"),
                &scale,
                newton_tol,
                &mut y_new,
                &mut dd[..n],
                &mut nsc,
            );
            out.stats.rhs_evals += r.rhs_evals;
            out.stiff.newton_iters += r.iterations;
            iters = r.iterations;
            if r.converged {
                converged = true;
                break;
            }
            last_failure = Failure::Convergence;
            if lu_c != c {
                // first refactorise with the current c (same Jacobian)
                lu = None;
                continue;
            }
            if jac_current {
                break;
            }
            out.stiff.jac_rhs_evals +=
                eval_jac(sys, sparse.as_ref(), t_new, &y_pred[..n], p, &mut jac);
            out.stiff.jac_evals += 1;
            jac_age = 0;
            jac_current = true;
            lu = None;
        }
        if !converged {
            out.stiff.newton_failures += 1;
            out.stats.rejected += 1;
            conv_fails += 1;
            // the retry at the smaller step re-evaluates the Jacobian there (as CVODE does after
            // a failure with a current Jacobian): it may depend strongly on t
            if jac_current {
                jac_age = usize::MAX;
            }
            if conv_fails >= MAX_CONV_FAILS {
                return Err(if last_failure == Failure::Singular {
                    Error::SingularIterationMatrix { t, h }
                } else {
                    Error::ConvergenceFailure { t, h }
                });
            }
            let factor = if last_failure == Failure::Singular {
                0.25
            } else {
                0.5
            };
            h *= factor;
            rescale(&mut d, w, order, factor, &mut tmp, &mut out.log);
            n_equal = 0;
            lu = None;
            continue;
        }

        let safety = 0.9 * (2 * NEWTON_MAXITER + 1) as f64 / (2 * NEWTON_MAXITER + iters) as f64;
        base[..n].copy_from_slice(&y_new);
        let mut error_norm = weighted_error_norm(
            n,
            0,
            co.error_const[order],
            &dd,
            &base,
            &atol,
            rtol,
            &mut err,
            &mut scale,
        );
        if error_norm <= 1.0 && cols > 0 {
            // The tangents' corrector, before acceptance: the error test covers them (CVODES'
            // `errconS`). Their step equation is linear. Sensitivities: with the Jacobian at
            // the converged state one solve gives the exact derivative of the step (the
            // staggered direct method); the state's own Newton matrix is left alone. The probe:
            // a few directional derivatives ([`probe_corrector`]).
            if m > 0 {
                // [J | ∂f/∂p] at the converged state in one forward-mode pass (seeds [I | 0])
                out.stiff.sens_rhs_evals += sens_rhs(sys, t_new, &y_new, p, &seed_id, &mut jf);
                out.stiff.jac_evals += 1;
                out.stiff.factorisations += 1;
                for i in 0..n {
                    jac_s[i * n..(i + 1) * n].copy_from_slice(&jf[i * m..i * m + n]);
                }
                let f = Factor::new(n, c, &jac_s)
                    .map_err(|_| Error::SingularIterationMatrix { t: t_new, h })?;
                sens_direct(
                    n,
                    m,
                    &jf,
                    &y_pred[n..],
                    c,
                    &psi[n..],
                    &f,
                    &mut dd[n..],
                    &mut col,
                );
            } else {
                out.stiff.sens_rhs_evals += probe_corrector(
                    sys,
                    t_new,
                    &y_new,
                    p,
                    &v_p,
                    &y_pred[n..],
                    c,
                    &psi[n..],
                    lu.as_ref().expect("factorised above"),
                    &scale,
                    &mut dd[n..],
                );
            }
            for i in n..w {
                base[i] = y_pred[i] + dd[i];
            }
            error_norm = weighted_error_norm(
                n,
                err_cols,
                co.error_const[order],
                &dd,
                &base,
                &atol,
                rtol,
                &mut err,
                &mut scale,
            );
        }
        if error_norm.is_nan() || error_norm > 1.0 {
            out.stats.rejected += 1;
            out.stiff.error_test_failures += 1;
            err_fails += 1;
            last_failure = Failure::ErrorTest;
            if err_fails >= MAX_ERR_FAILS {
                return Err(Error::ErrorTestFailures {
                    t,
                    h,
                    failures: err_fails,
                });
            }
            let factor = if error_norm.is_finite() {
                MIN_FACTOR.max(safety * error_norm.powf(-1.0 / (order + 1) as f64))
            } else {
                MIN_FACTOR
            };
            h *= factor;
            rescale(&mut d, w, order, factor, &mut tmp, &mut out.log);
            n_equal = 0;
            continue;
        }

        out.stats.steps += 1;
        conv_fails = 0;
        err_fails = 0;
        last_failure = Failure::None;
        jac_current = false;
        jac_age = jac_age.saturating_add(1);

        // Update the differences: D[k+2] = d - D[k+1], D[k+1] = d, D[i] += D[i+1].
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
        let last = t_new >= t_end;
        if let Some(l) = &mut out.log {
            l.push_step(t_new, h, order, &y_new);
        }
        if keep == Keep::Polys {
            let mut rows = Vec::with_capacity((order + 1) * n);
            for j in 0..=order {
                rows.extend_from_slice(&d[j * w..j * w + n]);
            }
            out.trace.push(StepPoly {
                t: t_new,
                h,
                order,
                d: rows,
            });
        }
        while next < save_at.len() && (last || save_at[next] <= t_new) {
            interpolate(&d, w, order, t_new, h, save_at[next], &mut interp);
            out.push(&interp);
            next += 1;
        }
        if let Some(l) = &mut out.log {
            l.end_saves(out.saved.len());
        }
        t = t_new;
        if last {
            if let Some(l) = &mut out.log {
                l.sparse = sparse;
            }
            return Ok(out);
        }

        n_equal += 1;
        if n_equal < order + 1 {
            continue;
        }
        let mut row_norm = |j: usize, k: f64| {
            let e = &d[j * w..(j + 1) * w];
            weighted_error_norm(n, err_cols, k, e, &base, &atol, rtol, &mut err, &mut scale)
        };
        let error_m_norm = if order > 1 {
            row_norm(order, co.error_const[order - 1])
        } else {
            f64::INFINITY
        };
        let error_p_norm = if order < MAX_ORDER {
            row_norm(order + 2, co.error_const[order + 1])
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
        order = order + best - 1;
        let factor = MAX_FACTOR.min(safety * best_factor);
        h *= factor;
        rescale(&mut d, w, order, factor, &mut tmp, &mut out.log);
        n_equal = 0;
    }
}
