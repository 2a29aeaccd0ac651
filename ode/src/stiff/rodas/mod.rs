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

mod stepper;

use ad_core::Dual;

use crate::error::Error;
use crate::explicit::Tangents;
use crate::options::Options;
use crate::solution::Stats;
use crate::stepper::{initial_saves, save_loop, Stepper};
use crate::system::OdeSystem;

use super::{StiffOutput, StiffStats};

pub use stepper::RodasStepper;

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
        if crate::events::has_events(sys, opts) {
            // events on f64 only (a differentiated solve with events goes by segments)
            let mut st = RodasStepper::start(sys, y0, p, t0, opts)?;
            let (saved, hits) = crate::events::event_loop(&mut st, sys, p, opts, save_at)?;
            (out.saved, out.events, out.stats, out.stiff) = (saved, hits, st.stats(), st.stiff);
            return Ok(out);
        }
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
    // (a system with events is differentiated by segments, never here)
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

/// The Rodas4 integration on `f64` or `Dual<W>` (steps chosen on the values and, for
/// `Dual<W>`, the tangents: see [`Tangents`]): the save loop over a [`RodasStepper`].
fn run<S: Tangents, Sys: OdeSystem>(
    sys: &Sys,
    y0: &[S],
    p: &[S],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<(Vec<Vec<S>>, Stats, StiffStats), Error> {
    let mut saved = initial_saves(y0, t0, save_at);
    if saved.len() == save_at.len() {
        return Ok((saved, Stats::default(), StiffStats::default()));
    }
    let mut st = RodasStepper::start(sys, y0, p, t0, opts)?;
    save_loop(&mut st, save_at, &mut saved, |_, _| {})?;
    Ok((saved, st.stats(), st.stiff))
}
