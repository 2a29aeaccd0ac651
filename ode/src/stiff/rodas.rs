//! Rodas4: the L-stable, stiffly accurate Rosenbrock method of order 4(3) of Hairer & Wanner
//! (Solving ODEs II, VI.4, code RODAS; coefficients of the W-transformed form, with the
//! third-order dense output of Steinebach as in OrdinaryDiffEq's `Rodas4`).
//!
//! One step with the exact Jacobian `J = ∂f/∂y(t, y)` (forward mode) and `f_t = ∂f/∂t`:
//! `(I/(hγ) - J) k_i = f(t + c_i h, y + Σ_j a_ij k_j) + Σ_j (C_ij / h) k_j + h d_i f_t`,
//! `i = 1..6`, one LU per step; `y1 = y + Σ a_6j k_j + k_5 + k_6` (stiffly accurate: the last
//! two stages are at `t + h`) and `k_6` is the embedded error estimate. Step control:
//! `h_new = h clamp(0.9 err^{-1/4}, 0.2, 6)` (no growth right after a rejection).
//!
//! The kernel is generic over the scalar: on `Dual<W>` inputs the Jacobian carries its own
//! tangents (second derivatives of `f` by nested forward mode) and the LU runs on `Dual`, so
//! the tangents are the exact derivative of the numerical solution. The error test covers the
//! tangents as well as the values (CVODES' `errconS`, see [`Tangents`]), so the steps of a
//! differentiated solve may be smaller than those of the `f64` solve; the reported values are
//! those of the first chunk's solve. Forward sensitivities run one such solve per chunk of up to
//! 8 inputs (for more than 8 inputs each chunk's steps are chosen with its own tangents).

use ad_core::Dual;

use crate::explicit::Tangents;

use crate::error::Error;
use crate::options::Options;
use crate::solution::Stats;
use crate::system::OdeSystem;

use super::generic::{jacobian_and_ft, Lu};
use super::newton::rms;
use super::{initial_step, StiffOutput, StiffStats};

const GAMMA: f64 = 0.25;
const C: [f64; 4] = [0.0, 0.386, 0.21, 0.63];
const D: [f64; 4] = [0.25, -0.1043, 0.1035, -0.0362];
/// Stage-value coefficients `a_ij` (rows 2..5; stage 6 uses `y + Σ a_5j k_j + k_5`).
const A: [[f64; 4]; 4] = [
    [1.544, 0.0, 0.0, 0.0],
    [0.9466785280815826, 0.2557011698983284, 0.0, 0.0],
    [
        3.314825187068521,
        2.896124015972201,
        0.9986419139977817,
        0.0,
    ],
    [
        1.221224509226641,
        6.019134481288629,
        12.53708332932087,
        -0.687_886_036_105_895,
    ],
];
/// `C_ij` (rows 2..6).
const CC: [[f64; 5]; 5] = [
    [-5.6688, 0.0, 0.0, 0.0, 0.0],
    [-2.430093356833875, -0.2063599157091915, 0.0, 0.0, 0.0],
    [
        -0.1073529058151375,
        -9.594562251023355,
        -20.47028614809616,
        0.0,
        0.0,
    ],
    [
        7.496443313967647,
        -10.24680431464352,
        -33.99990352819905,
        11.708_908_932_061_6,
        0.0,
    ],
    [
        8.083246795921522,
        -7.981132988064893,
        -31.52159432874371,
        16.31930543123136,
        -6.058818238834054,
    ],
];
/// Dense output: `y(θ) = (1-θ) y0 + θ (y1 + (1-θ)(q1 + θ q2))`, `q = H k`.
const H: [[f64; 5]; 2] = [
    [
        10.12623508344586,
        -7.487995877610167,
        -34.80091861555747,
        -7.992771707568823,
        1.025137723295662,
    ],
    [
        -0.6762803392801253,
        6.087714651680015,
        16.43084320892478,
        24.76722511418386,
        -6.594389125716872,
    ],
];

/// Integrates with Rodas4 from `t0` through the sorted `save_at`; with `sens` the forward
/// sensitivities with respect to `(y0, p)` (one solve on `Dual<W>` per chunk of inputs).
pub(crate) fn integrate<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    sens: bool,
) -> Result<StiffOutput, Error> {
    let n = y0.len();
    let m = if sens { n + p.len() } else { 0 };
    let mut out = StiffOutput::new(n, m);
    if m == 0 {
        let (saved, stats, stiff) = run(sys, y0, p, t0, save_at, opts)?;
        out.saved = saved;
        out.stats = stats;
        out.stiff = stiff;
    } else {
        out.jac = vec![0.0; save_at.len() * n * m];
        let mut c0 = 0;
        while c0 < m {
            c0 += match m - c0 {
                1 => chunk::<1, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut out)?,
                2 => chunk::<2, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut out)?,
                3 | 4 => chunk::<4, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut out)?,
                5 | 6 => chunk::<6, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut out)?,
                _ => chunk::<8, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut out)?,
            };
        }
    }
    Ok(out)
}

/// One solve on `Dual<W>` seeded for inputs `c0..c0 + W`; writes their columns of `out.jac`.
#[allow(clippy::too_many_arguments)]
fn chunk<const W: usize, Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    c0: usize,
    out: &mut StiffOutput,
) -> Result<usize, Error> {
    let n = y0.len();
    let m = n + p.len();
    let yd = Dual::<W>::seeded(y0, 0, c0);
    let pd = Dual::<W>::seeded(p, n, c0);
    let (saved, stats, st) = run(sys, &yd, &pd, t0, save_at, opts)?;
    if c0 == 0 {
        // the values and counters of the first chunk's solve: its steps (chosen with its
        // tangents) are those of the reported solution
        out.saved = saved
            .iter()
            .map(|row| row.iter().map(|v| v.v).collect())
            .collect();
        out.stats = stats;
        out.stiff = st;
    }
    out.stiff.sens_rhs_evals += st.jac_rhs_evals;
    crate::sensitivity::forward::write_columns(saved.iter().flatten(), m, c0, &mut out.jac);
    Ok(W)
}

/// The Rodas4 integration loop on `f64` or `Dual<W>` (steps chosen on the values and, for
/// `Dual<W>`, the tangents: see [`Tangents`]).
fn run<S: Tangents, Sys: OdeSystem>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(Vec<Vec<S>>, Stats, StiffStats), Error> {
    let n = y0.len();
    let mut saved: Vec<Vec<S>> = Vec::with_capacity(save_at.len());
    let mut stats = Stats::default();
    let mut stiff = StiffStats::default();
    let mut next = 0;
    while next < save_at.len() && save_at[next] <= t0 {
        saved.push(y0.to_vec());
        next += 1;
    }
    if next == save_at.len() {
        return Ok((saved, stats, stiff));
    }
    if let Some(c) = y0.iter().position(|v| !v.value().is_finite()) {
        return Err(Error::NonFinite {
            t: t0,
            component: c,
        });
    }
    let t_end = save_at[save_at.len() - 1];
    let zero = S::zero();
    let mut f0 = vec![zero; n];
    sys.rhs(S::cst(t0), y0, p, &mut f0);
    stats.rhs_evals += 1;
    if let Some(c) = f0.iter().position(|v| !v.value().is_finite()) {
        return Err(Error::NonFinite {
            t: t0,
            component: c,
        });
    }
    let mut h = match opts.h0 {
        Some(h0) => h0,
        None => {
            stats.rhs_evals += 1;
            let yv: Vec<f64> = y0.iter().map(|v| v.value()).collect();
            let fv: Vec<f64> = f0.iter().map(|v| v.value()).collect();
            let pv: Vec<f64> = p.iter().map(|v| v.value()).collect();
            initial_step(sys, t0, &yv, &fv, &pv, 3.0, opts, t_end - t0)
        }
    }
    .min(opts.h_max);

    let mut y = y0.to_vec();
    let mut y1 = vec![zero; n];
    let mut u = vec![zero; n];
    let mut fu = vec![zero; n];
    let mut ft = vec![zero; n];
    let mut jac = vec![zero; n * n];
    let mut k = vec![vec![zero; n]; 6];
    let mut scale = vec![0.0; n];
    let mut errv = vec![0.0; n];
    let mut q = [vec![zero; n], vec![zero; n]];
    let mut t = t0;
    let mut attempts = 0usize;
    let mut rejected_last = false;
    let mut jac_fresh = false;
    let mut singular_fails = 0usize;
    loop {
        if attempts >= opts.max_steps {
            return Err(Error::MaxStepsReached { t, steps: attempts });
        }
        h = h.min(opts.h_max);
        if h < 10.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE) || !h.is_finite() {
            return Err(Error::StepSizeTooSmall { t, h });
        }
        attempts += 1;
        if !jac_fresh {
            stiff.jac_rhs_evals += jacobian_and_ft(sys, t, &y, p, &mut jac, &mut ft);
            stiff.jac_evals += 1;
            jac_fresh = true;
        }
        stiff.factorisations += 1;
        let hg = h * GAMMA;
        let Some(lu) = Lu::new(n, hg, &jac) else {
            singular_fails += 1;
            if singular_fails >= 10 {
                return Err(Error::SingularIterationMatrix { t, h });
            }
            h *= 0.25;
            stats.rejected += 1;
            continue;
        };
        // M = I - hγ J = hγ (I/(hγ) - J): k_i = hγ M^{-1} rhs_i
        for s in 0..6 {
            let ts = if s >= 4 { t + h } else { t + C[s] * h };
            if s == 0 {
                fu.copy_from_slice(&f0);
            } else {
                let row = s.min(4) - 1;
                for i in 0..n {
                    let mut v = y[i];
                    for j in 0..s.min(4) {
                        v += k[j][i] * A[row][j];
                    }
                    if s == 5 {
                        v += k[4][i];
                    }
                    u[i] = v;
                }
                sys.rhs(S::cst(ts), &u, p, &mut fu);
                stats.rhs_evals += 1;
            }
            for i in 0..n {
                let mut v = fu[i];
                if s < 4 {
                    v += ft[i] * (h * D[s]);
                }
                for j in 0..s {
                    v += k[j][i] * (CC[s - 1][j] / h);
                }
                k[s][i] = v * hg;
            }
            lu.solve(&mut k[s]);
        }
        for i in 0..n {
            y1[i] = u[i] + k[5][i];
            scale[i] = opts.atol_at(i) + opts.rtol * y[i].value().abs().max(y1[i].value().abs());
            errv[i] = k[5][i].value();
        }
        let mut err = rms(&errv, &scale);
        // forward sensitivities (`S = Dual<W>`): the error test covers the tangents too
        let tangents = match opts.derivative_error_control {
            true => y.first().map_or(0, |v| v.tangents().len()),
            false => 0,
        };
        for j in 0..tangents {
            for i in 0..n {
                let (a, b) = (y[i].tangents()[j], y1[i].tangents()[j]);
                scale[i] = opts.atol_at(i) + opts.rtol * a.abs().max(b.abs());
                errv[i] = k[5][i].tangents()[j];
            }
            let ej = rms(&errv, &scale);
            if ej.is_finite() {
                err = err.max(ej);
            }
        }
        if err.is_nan() || err > 1.0 || y1.iter().any(|v| !v.value().is_finite()) {
            stats.rejected += 1;
            stiff.error_test_failures += 1;
            let fac = if err.is_finite() {
                (0.9 * err.powf(-0.25)).clamp(0.2, 1.0)
            } else {
                0.2
            };
            h *= fac;
            rejected_last = true;
            continue;
        }
        let t_new = t + h;
        let last = t_new >= t_end;
        if next < save_at.len() && (last || save_at[next] <= t_new) {
            for (r, qr) in q.iter_mut().enumerate() {
                for i in 0..n {
                    let mut v = zero;
                    for j in 0..5 {
                        v += k[j][i] * H[r][j];
                    }
                    qr[i] = v;
                }
            }
        }
        while next < save_at.len() && (last || save_at[next] <= t_new) {
            let th = (save_at[next] - t) / h;
            let th1 = 1.0 - th;
            let row: Vec<S> = (0..n)
                .map(|i| y[i] * th1 + (y1[i] + (q[0][i] + q[1][i] * th) * th1) * th)
                .collect();
            saved.push(row);
            next += 1;
        }
        stats.steps += 1;
        std::mem::swap(&mut y, &mut y1);
        t = t_new;
        if last {
            return Ok((saved, stats, stiff));
        }
        sys.rhs(S::cst(t), &y, p, &mut f0);
        stats.rhs_evals += 1;
        jac_fresh = false;
        singular_fails = 0;
        let mut fac = (0.9 * err.max(1e-10).powf(-0.25)).clamp(0.2, 6.0);
        if rejected_last {
            fac = fac.min(1.0);
        }
        rejected_last = false;
        h *= fac;
    }
}
