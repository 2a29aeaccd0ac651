//! Levenberg-Marquardt in More's trust-region form (J. J. More, "The Levenberg-Marquardt
//! algorithm: implementation and theory", Numerical Analysis, LNM 630, 1978; MINPACK `lmder`
//! and `lmpar`).
//!
//! Each iteration solves `min |J p + r|` subject to `|D p| <= delta`, whose solution is
//! `p(lambda) = -(J^T J + lambda D^2)^{-1} J^T r` with `lambda >= 0` chosen so that
//! `| |D p| - delta | <= 0.1 delta` by the safeguarded Newton iteration on
//! `phi(lambda) = |D p(lambda)| - delta` (More's eq. 5.5). Each `p(lambda)` is a QR
//! least-squares solve of `[J; sqrt(lambda) D] p = [-r; 0]`. The scaling `D` holds the largest
//! column norms of `J` seen so far (MINPACK's `mode = 1`). The radius follows the ratio of
//! actual to predicted reduction (< 0.25: shrink, > 0.75: expand); steps with ratio
//! at least 1e-4 are accepted. With bounds, components held at a bound (gradient pointing out of the
//! box) get a zero Jacobian column, hence a zero step, and the step is projected onto the box.

use super::qr::Qr;
use super::{column_major, LeastSquaresOptions, LeastSquaresReport, Model, State};
use crate::objective::{norm2, norm_inf};
use crate::observer::{Control, Observer};
use crate::{Error, Termination};

const DWARF: f64 = f64::MIN_POSITIVE;

pub(super) fn run(
    model: &mut dyn Model,
    mut st: State,
    opts: &LeastSquaresOptions,
    observer: &mut dyn Observer,
) -> Result<LeastSquaresReport, Error> {
    let b = opts.bounds.as_ref();
    let n = st.x.len();
    let mut diag: Vec<f64> = column_norms(&st.jac, n)
        .into_iter()
        .map(|c| if c == 0.0 { 1.0 } else { c })
        .collect();
    let mut fnorm = norm2(&st.r);
    let xnorm = scaled_norm(&diag, &st.x);
    let mut delta = opts.initial_trust_factor * xnorm;
    if delta == 0.0 {
        delta = opts.initial_trust_factor;
    }
    let mut lambda = 0.0;
    let mut first = true;
    let ftol = opts.f_tol.max(f64::EPSILON);
    let xtol = opts.x_tol.max(f64::EPSILON);
    if observer.observe(&st.iteration(b, 0.0, 0.0)) == Control::Stop {
        return Ok(st.finish(b, Termination::Observer));
    }
    let termination = 'outer: loop {
        if st.grad_norm(b) <= opts.grad_tol {
            break Termination::GradientTolerance;
        }
        if st.iterations >= opts.max_iterations {
            break Termination::MaxIterations;
        }
        for (d, c) in diag.iter_mut().zip(column_norms(&st.jac, n)) {
            *d = d.max(c);
        }
        let jac_free = st.free_jacobian(b).into_owned();
        loop {
            if st.evaluations >= opts.max_evaluations {
                break 'outer Termination::MaxEvaluations;
            }
            let (p, lam) = lm_step(&jac_free, &st.r, &diag, delta, lambda);
            lambda = lam;
            let mut xt: Vec<f64> = st.x.iter().zip(&p).map(|(x, p)| x + p).collect();
            crate::bounds::project(b, &mut xt);
            let p: Vec<f64> = xt.iter().zip(&st.x).map(|(a, b)| a - b).collect();
            let pnorm = scaled_norm(&diag, &p);
            if first {
                delta = delta.min(pnorm);
            }
            let rt = model.residuals(&xt);
            st.evaluations += 1;
            let fnorm1 = if rt.iter().all(|v| v.is_finite()) {
                norm2(&rt)
            } else {
                f64::INFINITY
            };
            let actred = if 0.1 * fnorm1 < fnorm {
                1.0 - (fnorm1 / fnorm).powi(2)
            } else {
                -1.0
            };
            let jp: Vec<f64> = jac_free
                .iter()
                .map(|row| row.iter().zip(&p).map(|(a, b)| a * b).sum())
                .collect();
            let temp1 = norm2(&jp) / fnorm;
            let temp2 = lambda.sqrt() * pnorm / fnorm;
            let prered = temp1 * temp1 + 2.0 * temp2 * temp2;
            let dirder = -(temp1 * temp1 + temp2 * temp2);
            let ratio = if prered != 0.0 { actred / prered } else { 0.0 };
            if ratio <= 0.25 {
                let mut temp = if actred >= 0.0 {
                    0.5
                } else {
                    0.5 * dirder / (dirder + 0.5 * actred)
                };
                if 0.1 * fnorm1 >= fnorm || temp < 0.1 {
                    temp = 0.1;
                }
                delta = temp * delta.min(pnorm / 0.1);
                lambda /= temp;
            } else if lambda == 0.0 || ratio >= 0.75 {
                delta = pnorm / 0.5;
                lambda *= 0.5;
            }
            let accepted = ratio >= 1e-4;
            if accepted {
                let (r, jac) = model.jacobian(&xt);
                st.jacobian_evaluations += 1;
                if jac.iter().flatten().any(|v| !v.is_finite()) {
                    break 'outer Termination::Diverged {
                        details: "non-finite Jacobian at an accepted point".into(),
                    };
                }
                st.x = xt;
                st.r = r;
                st.jac = jac;
                fnorm = norm2(&st.r);
                st.iterations += 1;
                first = false;
                if observer.observe(&st.iteration(b, norm_inf(&p), lambda)) == Control::Stop {
                    break 'outer Termination::Observer;
                }
            }
            if actred.abs() <= ftol && prered <= ftol && 0.5 * ratio <= 1.0 {
                break 'outer Termination::FunctionTolerance;
            }
            if delta <= xtol * scaled_norm(&diag, &st.x) {
                break 'outer Termination::StepTolerance;
            }
            if accepted {
                break;
            }
        }
    };
    Ok(st.finish(b, termination))
}

fn column_norms(jac: &[Vec<f64>], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n];
    for row in jac {
        for (cj, v) in c.iter_mut().zip(row) {
            *cj += v * v;
        }
    }
    c.iter().map(|v| v.sqrt()).collect()
}

fn scaled_norm(d: &[f64], x: &[f64]) -> f64 {
    d.iter()
        .zip(x)
        .map(|(d, x)| (d * x).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `p(lambda)`: the least-squares solution of `[J; sqrt(lambda) D] p = [-r; 0]`, with the QR.
pub(super) fn solve(jac: &[Vec<f64>], r: &[f64], diag: &[f64], lambda: f64) -> (Vec<f64>, Qr) {
    let (m, n) = (r.len(), diag.len());
    let d: Vec<f64> = diag.iter().map(|d| lambda.sqrt() * d).collect();
    let qr = Qr::new(column_major(jac, m, n, Some(&d)), m + n, n);
    let mut rhs = vec![0.0; m + n];
    rhs[..m].iter_mut().zip(r).for_each(|(a, b)| *a = -b);
    qr.apply_qt(&mut rhs);
    let mut p = vec![0.0; n];
    qr.solve_r(&rhs, &mut p);
    (p, qr)
}

/// `-(d phi / d lambda) |D p|`-scaled Newton correction of More's `lmpar`:
/// `|R^{-T} D (D p) / |D p||^2`.
fn phi_slope(qr: &Qr, diag: &[f64], p: &[f64], dxnorm: f64) -> f64 {
    let wa: Vec<f64> = diag
        .iter()
        .zip(p)
        .map(|(d, p)| d * d * p / dxnorm)
        .collect();
    let mut q = vec![0.0; p.len()];
    qr.solve_rt(&wa, &mut q);
    q.iter().map(|v| v * v).sum()
}

/// More's `lmpar`: the LM parameter and step for the trust radius `delta`, starting the
/// search from the previous parameter.
fn lm_step(
    jac: &[Vec<f64>],
    r: &[f64],
    diag: &[f64],
    delta: f64,
    previous: f64,
) -> (Vec<f64>, f64) {
    let (p, qr) = solve(jac, r, diag, 0.0);
    let dxnorm = scaled_norm(diag, &p);
    let mut fp = dxnorm - delta;
    if fp <= 0.1 * delta {
        return (p, 0.0);
    }
    let mut parl = 0.0;
    if qr.rank_deficiency().is_none() {
        let s = phi_slope(&qr, diag, &p, dxnorm);
        if s > 0.0 && s.is_finite() {
            parl = (fp / delta) / s;
        }
    }
    let mut jtr = vec![0.0; diag.len()];
    for (row, ri) in jac.iter().zip(r) {
        for (g, v) in jtr.iter_mut().zip(row) {
            *g += v * ri;
        }
    }
    let gnorm = jtr
        .iter()
        .zip(diag)
        .map(|(g, d)| (g / d).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut paru = gnorm / delta;
    if paru == 0.0 {
        paru = DWARF / delta.min(0.1);
    }
    let mut par = previous.max(parl).min(paru);
    if par == 0.0 {
        par = gnorm / dxnorm;
    }
    let mut iter = 0;
    loop {
        iter += 1;
        if par == 0.0 {
            par = DWARF.max(0.001 * paru);
        }
        let (p, qr) = solve(jac, r, diag, par);
        let dxnorm = scaled_norm(diag, &p);
        let temp = fp;
        fp = dxnorm - delta;
        if fp.abs() <= 0.1 * delta || (parl == 0.0 && fp <= temp && temp < 0.0) || iter == 10 {
            return (p, par);
        }
        let parc = (fp / delta) / phi_slope(&qr, diag, &p, dxnorm);
        if fp > 0.0 {
            parl = parl.max(par);
        } else if fp < 0.0 {
            paru = paru.min(par);
        }
        par = parl.max(par + parc);
    }
}
