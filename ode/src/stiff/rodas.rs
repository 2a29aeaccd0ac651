//! Rodas4: the L-stable, stiffly accurate Rosenbrock method of order 4(3) of Hairer & Wanner
//! (Solving ODEs II, VI.4, code RODAS; coefficients of the W-transformed form, with the
//! third-order dense output of Steinebach as in OrdinaryDiffEq's `Rodas4`).
//!
//! One step with the exact Jacobian `J = ∂f/∂y(t, y)` (forward mode) and `f_t = ∂f/∂t`:
//! `(I/(hγ) - J) k_i = f(t + c_i h, y + Σ_j a_ij k_j) + Σ_j (C_ij / h) k_j + h d_i f_t`,
//! `i = 1..6`, one LU per step; `y1 = y + Σ a_6j k_j + k_5 + k_6` (stiffly accurate: the last
//! two stages are at `t + h`) and `k_6` is the embedded error estimate. Step control:
//! `h_new = h clamp(0.9 err^{-1/4}, 0.2, 6)` (no growth right after a rejection).

use crate::error::Error;
use crate::options::Options;

use super::jacobian::dense_jacobian;
use super::linalg::Factor;
use super::newton::rms;
use super::{initial_step, StiffOutput};
use crate::system::OdeSystem;

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

/// Integrates with Rodas4 from `t0` through the sorted `save_at` (no sensitivities: a solve
/// on `Var`/`Dual` inputs with Rodas4 returns [`Error::InvalidInput`]).
pub(crate) fn integrate<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    sens: bool,
) -> Result<StiffOutput, Error> {
    if sens {
        return Err(Error::InvalidInput(
            "Method::Rodas4 has no sensitivities yet: differentiate with Method::Bdf".into(),
        ));
    }
    let n = y0.len();
    let mut out = StiffOutput::new(n, 0);
    let mut next = 0;
    while next < save_at.len() && save_at[next] <= t0 {
        out.push(y0);
        next += 1;
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
            initial_step(sys, t0, y0, &f0, p, 3.0, opts, t_end - t0)
        }
    }
    .min(opts.h_max);

    let mut y = y0.to_vec();
    let mut y1 = vec![0.0; n];
    let mut u = vec![0.0; n];
    let mut fu = vec![0.0; n];
    let mut ft = vec![0.0; n];
    let mut jac = vec![0.0; n * n];
    let mut k = vec![vec![0.0; n]; 6];
    let mut scale = vec![0.0; n];
    let mut q = [vec![0.0; n], vec![0.0; n]];
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
            out.stiff.jac_rhs_evals += dense_jacobian(sys, t, &y, p, &mut jac);
            out.stiff.jac_evals += 1;
            time_derivative(sys, t, &y, p, &mut ft);
            out.stiff.jac_rhs_evals += 1;
            jac_fresh = true;
        }
        out.stiff.factorisations += 1;
        let lu = match Factor::new(n, h * GAMMA, &jac) {
            Ok(f) => f,
            Err(_) => {
                singular_fails += 1;
                if singular_fails >= 10 {
                    return Err(Error::SingularIterationMatrix { t, h });
                }
                h *= 0.25;
                out.stats.rejected += 1;
                continue;
            }
        };
        // M = I - hγ J = hγ (I/(hγ) - J): k_i = hγ M^{-1} (rhs_i)
        let hg = h * GAMMA;
        for s in 0..6 {
            let ts = if s >= 4 { t + h } else { t + C[s] * h };
            if s == 0 {
                fu.copy_from_slice(&f0);
            } else {
                for i in 0..n {
                    let mut v = y[i];
                    for j in 0..s.min(4) {
                        v += A[s.min(4) - 1][j] * k[j][i];
                    }
                    if s == 5 {
                        v += k[4][i];
                    }
                    u[i] = v;
                }
                sys.rhs(ts, &u, p, &mut fu);
                out.stats.rhs_evals += 1;
            }
            for i in 0..n {
                let mut v = fu[i];
                if s < 4 {
                    v += h * D[s] * ft[i];
                }
                if s >= 1 {
                    for j in 0..s {
                        v += CC[s - 1][j] / h * k[j][i];
                    }
                }
                k[s][i] = hg * v;
            }
            lu.solve(&mut k[s]);
        }
        for i in 0..n {
            y1[i] = u[i] + k[5][i];
            scale[i] = opts.atol_at(i) + opts.rtol * y[i].abs().max(y1[i].abs());
        }
        let err = rms(&k[5], &scale);
        if err.is_nan() || err > 1.0 || y1.iter().any(|v| !v.is_finite()) {
            out.stats.rejected += 1;
            out.stiff.error_test_failures += 1;
            let fac = if err.is_finite() {
                (0.9 * err.powf(-0.25)).clamp(0.2, 1.0)
            } else {
                0.2
            };
            h *= fac;
            rejected_last = true;
            continue;
        }
        // accepted
        let t_new = t + h;
        let last = t_new >= t_end;
        if next < save_at.len() && (last || save_at[next] <= t_new) {
            for (r, qr) in q.iter_mut().enumerate() {
                for i in 0..n {
                    qr[i] = (0..5).map(|j| H[r][j] * k[j][i]).sum();
                }
            }
        }
        while next < save_at.len() && (last || save_at[next] <= t_new) {
            let th = (save_at[next] - t) / h;
            let th1 = 1.0 - th;
            let row: Vec<f64> = (0..n)
                .map(|i| th1 * y[i] + th * (y1[i] + th1 * (q[0][i] + th * q[1][i])))
                .collect();
            out.push(&row);
            next += 1;
        }
        out.stats.steps += 1;
        std::mem::swap(&mut y, &mut y1);
        t = t_new;
        if last {
            return Ok(out);
        }
        sys.rhs(t, &y, p, &mut f0);
        out.stats.rhs_evals += 1;
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

/// `∂f/∂t` at `(t, y, p)` by one evaluation on `Dual<1>`.
fn time_derivative<Sys: OdeSystem>(sys: &Sys, t: f64, y: &[f64], p: &[f64], ft: &mut [f64]) {
    use ad_core::Dual;
    let yd: Vec<Dual<1>> = y.iter().map(|&v| Dual::constant(v)).collect();
    let pd: Vec<Dual<1>> = p.iter().map(|&v| Dual::constant(v)).collect();
    let mut out = vec![Dual::<1>::constant(0.0); y.len()];
    sys.rhs(Dual::new(t, [1.0]), &yd, &pd, &mut out);
    for (o, v) in ft.iter_mut().zip(&out) {
        *o = v.d[0];
    }
}
