//! The modified Newton iteration of an implicit step (with a factorised iteration matrix
//! `M = I - c J`, `J` possibly stale) and the direct corrector of the forward sensitivities.

use ad_core::Dual;

use crate::system::OdeSystem;

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

/// The staggered direct corrector of the sensitivities in one pass: with `jf = [J | ∂f/∂p]`
/// (`n x m`, `J` at the converged state, from one forward-mode evaluation) and `lu` the
/// factorised `I - c J` with that same `J`, writes the exact solution
/// `d_s = (I - c J)^{-1} (c (J s_pred + ∂f/∂p) - psi_s)` of the linear step equation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sens_direct(
    n: usize,
    m: usize,
    jf: &[f64],
    s_pred: &[f64],
    c: f64,
    psi_s: &[f64],
    lu: &Factor,
    d_s: &mut [f64],
    col: &mut [f64],
) {
    for i in 0..n {
        let jrow = &jf[i * m..i * m + n];
        for k in 0..m {
            let mut v = if k >= n { jf[i * m + k] } else { 0.0 };
            for j in 0..n {
                v += jrow[j] * s_pred[j * m + k];
            }
            d_s[i * m + k] = c * v - psi_s[i * m + k];
        }
    }
    for k in 0..m {
        for i in 0..n {
            col[i] = d_s[i * m + k];
        }
        lu.solve(col);
        for i in 0..n {
            d_s[i * m + k] = col[i];
        }
    }
}

/// The corrector of the probe tangent of an adjoint's forward solve (one column `s` along the
/// fixed direction `(s_0, v_p)` of [`probe_direction`](crate::sensitivity::probe_direction)):
/// solves the linear step equation `d_s = c (J(y) (s_pred + d_s) + ∂f/∂p v_p) - psi_s` by
/// modified Newton with the state's factorised `M ≈ I - c J` (CVODES' staggered corrector,
/// Feehery, Tolsma & Barton 1997), each iteration one right-hand side on `Dual<1>` (a
/// directional derivative, no Jacobian). The probe only chooses step sizes, so at most
/// [`NEWTON_MAXITER`] iterations are taken and the last iterate is kept. Returns the number of
/// `Dual` evaluations.
#[allow(clippy::too_many_arguments)]
pub(crate) fn probe_corrector<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    v_p: &[f64],
    s_pred: &[f64],
    c: f64,
    psi_s: &[f64],
    lu: &Factor,
    scale: &[f64],
    d_s: &mut [f64],
) -> usize {
    let n = y.len();
    let mut s = s_pred.to_vec();
    let mut g = vec![0.0; n];
    d_s.iter_mut().for_each(|v| *v = 0.0);
    for it in 0..NEWTON_MAXITER {
        directional_rhs(sys, t, y, &s, p, v_p, &mut g);
        for i in 0..n {
            g[i] = c * g[i] - psi_s[i] - d_s[i];
        }
        lu.solve(&mut g);
        for i in 0..n {
            d_s[i] += g[i];
            s[i] = s_pred[i] + d_s[i];
        }
        let norm = rms(&g, scale);
        if !norm.is_finite() || norm < 1e-3 {
            return it + 1;
        }
    }
    NEWTON_MAXITER
}

/// `out = ∂f/∂y(t, y) s + ∂f/∂p v_p`: one right-hand side on `Dual<1>`.
pub(crate) fn directional_rhs<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    s: &[f64],
    p: &[f64],
    v_p: &[f64],
    out: &mut [f64],
) {
    let yd = Dual::along(y, s);
    let pd = Dual::along(p, v_p);
    let mut fd = vec![Dual::<1>::constant(0.0); y.len()];
    sys.rhs(Dual::constant(t), &yd, &pd, &mut fd);
    for (o, v) in out.iter_mut().zip(&fd) {
        *o = v.d[0];
    }
}

/// The error norm of a BDF step with `cols` tangent columns carried after the state: the
/// largest of the weighted RMS norms of `k e` on the state and on each column (CVODES'
/// `errconS`), `e` the width-`n (1 + cols)` correction (or difference row) and the scales
/// `atol_i + rtol |base|` from the new state `base` (same layout). A non-finite tangent norm
/// is left out: a step is rejected for its state, never only for an infinite derivative.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weighted_error_norm(
    n: usize,
    cols: usize,
    k: f64,
    e: &[f64],
    base: &[f64],
    atol: &[f64],
    rtol: f64,
    err: &mut [f64],
    scale: &mut [f64],
) -> f64 {
    for i in 0..n {
        scale[i] = atol[i] + rtol * base[i].abs();
        err[i] = k * e[i];
    }
    let mut norm = rms(&err[..n], &scale[..n]);
    for j in 0..cols {
        for i in 0..n {
            let at = n + i * cols + j;
            scale[i] = atol[i] + rtol * base[at].abs();
            err[i] = k * e[at];
        }
        let nj = rms(&err[..n], &scale[..n]);
        if nj.is_finite() {
            norm = norm.max(nj);
        }
    }
    // leave the state's scales in `scale` for the caller's Newton iterations
    for i in 0..n {
        scale[i] = atol[i] + rtol * base[i].abs();
    }
    norm
}
