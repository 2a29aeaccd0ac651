//! The modified Newton iteration of an implicit step and the staggered corrector of the forward
//! sensitivities, both with a factorised iteration matrix `M = I - c J` (`J` possibly stale).

use crate::system::OdeSystem;

use super::jacobian::sens_rhs;
use super::linalg::Factor;

/// Most Newton iterations per attempt (as in SciPy's BDF and CVODE's `NLS_MAXCOR = 3`, plus one).
pub(crate) const NEWTON_MAXITER: usize = 4;

/// The weighted RMS norm `sqrt(mean((v_i / scale_i)^2))`.
#[inline]
pub(crate) fn rms(v: &[f64], scale: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let s: f64 = v.iter().zip(scale).map(|(a, b)| (a / b) * (a / b)).sum();
    (s / v.len() as f64).sqrt()
}

/// Scratch of the Newton iteration.
pub(crate) struct NewtonScratch {
    pub(crate) f: Vec<f64>,
    pub(crate) dy: Vec<f64>,
}

/// Outcome of [`solve_corrector`].
pub(crate) struct NewtonResult {
    pub(crate) converged: bool,
    pub(crate) iterations: usize,
    pub(crate) rhs_evals: usize,
}

/// Solves `d - c f(t, y_pred + d) + psi = 0` for `d` by modified Newton with the factorised
/// `M ≈ I - c ∂f/∂y`, writing `y = y_pred + d` (Shampine & Reichelt 1997; SciPy's
/// `solve_bdf_system`). Convergence is declared when the rate-extrapolated error
/// `rate / (1 - rate) |Δ|` falls below `tol` (in the norm weighted by `scale`); a rate
/// `>= 1`, a predicted miss of the tolerance within the iteration budget, or a non-finite
/// right-hand side stops it unconverged.
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_corrector<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    p: &[f64],
    y_pred: &[f64],
    c: f64,
    psi: &[f64],
    lu: &Factor,
    scale: &[f64],
    tol: f64,
    y: &mut [f64],
    d: &mut [f64],
    sc: &mut NewtonScratch,
) -> NewtonResult {
    y.copy_from_slice(y_pred);
    d.iter_mut().for_each(|v| *v = 0.0);
    let mut old_norm: Option<f64> = None;
    let mut res = NewtonResult {
        converged: false,
        iterations: 0,
        rhs_evals: 0,
    };
    for k in 0..NEWTON_MAXITER {
        res.iterations = k + 1;
        sys.rhs(t, y, p, &mut sc.f);
        res.rhs_evals += 1;
        if sc.f.iter().any(|v| !v.is_finite()) {
            return res;
        }
        for i in 0..y.len() {
            sc.dy[i] = c * sc.f[i] - psi[i] - d[i];
        }
        lu.solve(&mut sc.dy);
        let norm = rms(&sc.dy, scale);
        if !norm.is_finite() {
            return res;
        }
        let rate = old_norm.map(|o| norm / o);
        if let Some(r) = rate {
            if r >= 1.0 || r.powi((NEWTON_MAXITER - k) as i32) / (1.0 - r) * norm > tol {
                return res;
            }
        }
        for i in 0..y.len() {
            y[i] += sc.dy[i];
            d[i] += sc.dy[i];
        }
        if norm == 0.0 || rate.is_some_and(|r| r / (1.0 - r) * norm < tol) {
            res.converged = true;
            return res;
        }
        old_norm = Some(norm);
    }
    res
}

/// Scratch of the sensitivity corrector (`n x m` each).
pub(crate) struct SensScratch {
    pub(crate) s: Vec<f64>,
    pub(crate) g: Vec<f64>,
    pub(crate) col: Vec<f64>,
}

/// The staggered corrector of the forward sensitivities (Caracotsios & Stewart 1985; CVODES'
/// staggered direct method with a stale matrix): the sensitivity equation of the step is
/// linear, `d_s - c (J(y) (s_pred + d_s) + ∂f/∂p) + psi_s = 0`, and is iterated with the same
/// factorised `M` as the state until the correction is below `tol` relative to `scale_s`
/// (at most `max_iter` times). Returns `(converged, rhs_evals)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_sens<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    s_pred: &[f64],
    c: f64,
    psi_s: &[f64],
    lu: &Factor,
    atol: f64,
    rtol: f64,
    tol: f64,
    max_iter: usize,
    d_s: &mut [f64],
    sc: &mut SensScratch,
) -> (bool, usize) {
    let n = y.len();
    let m = n + p.len();
    let mut evals = 0;
    for _ in 0..max_iter {
        for i in 0..n * m {
            sc.s[i] = s_pred[i] + d_s[i];
        }
        evals += sens_rhs(sys, t, y, p, &sc.s, &mut sc.g);
        for i in 0..n * m {
            sc.g[i] = c * sc.g[i] - psi_s[i] - d_s[i];
        }
        for k in 0..m {
            for i in 0..n {
                sc.col[i] = sc.g[i * m + k];
            }
            lu.solve(&mut sc.col);
            for i in 0..n {
                sc.g[i * m + k] = sc.col[i];
            }
        }
        let mut sum = 0.0;
        for i in 0..n * m {
            d_s[i] += sc.g[i];
            let w = atol + rtol * (s_pred[i] + d_s[i]).abs();
            let r = sc.g[i] / w;
            sum += r * r;
        }
        let norm = (sum / (n * m).max(1) as f64).sqrt();
        if !norm.is_finite() {
            return (false, evals);
        }
        if norm < tol {
            return (true, evals);
        }
    }
    (false, evals)
}
