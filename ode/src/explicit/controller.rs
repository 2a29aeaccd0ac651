//! Step-size control: the error norm, the PI controller and the initial step size.

use ad_core::Real;

use crate::options::Options;
use crate::system::OdeSystem;

use super::Tableau;

/// A scalar whose tangents (if any) the error control includes (implemented for `f64` and
/// `Dual<W>`; the scalars an [`ExplicitStepper`](crate::stepper::ExplicitStepper) runs on): none for `f64`, the `W`
/// tangents of a `Dual<W>`. With tangents, the local error test covers the sensitivities as
/// well as the state (CVODES' `errconS`, Hindmarsh et al., *SUNDIALS*, ACM TOMS 31, 2005;
/// CVODES user guide, "forward sensitivity analysis"): the step sizes are chosen so that the
/// derivative of the numerical solution, not only the solution, is within the tolerances.
pub trait Tangents: Real {
    /// The tangents.
    fn tangents(&self) -> &[f64];
}

impl Tangents for f64 {
    #[inline]
    fn tangents(&self) -> &[f64] {
        &[]
    }
}

impl<const W: usize> Tangents for ad_core::Dual<W> {
    #[inline]
    fn tangents(&self) -> &[f64] {
        &self.d
    }
}

/// The error norm of a step: the weighted RMS norm of the estimate `h sum_j e_j k_j`, with
/// scale `atol_i + rtol max(|y_i|, |y1_i|)` (Hairer, Nørsett & Wanner I, II.4, eq. 4.11), on
/// the values and on each tangent direction; the largest of these norms (CVODES' `errconS`
/// with the state's tolerances for the sensitivities, i.e. parameter scales `pbar = 1`). A
/// non-finite tangent norm is left out: a step is rejected for its state, never only for an
/// infinite derivative (the solve fails exactly where the `f64` solve with these steps would).
pub(super) fn error_norm<S: Tangents>(
    tab: &Tableau,
    h: f64,
    y: &[S],
    y1: &[S],
    k: &[Vec<S>],
    o: &Options,
) -> f64 {
    let w = match o.derivative_error_control {
        true => y.first().map_or(0, |v| v.tangents().len()),
        false => 0,
    };
    let mut err = wrms(tab, h, y, y1, k, o, |v| v.value());
    for j in 0..w {
        let ej = wrms(tab, h, y, y1, k, o, |v| v.tangents()[j]);
        if ej.is_finite() {
            err = err.max(ej);
        }
    }
    err
}

/// The weighted RMS norm of one part (`part`: the value or one tangent) of the error estimate.
fn wrms<S: Real>(
    tab: &Tableau,
    h: f64,
    y: &[S],
    y1: &[S],
    k: &[Vec<S>],
    o: &Options,
    part: impl Fn(&S) -> f64,
) -> f64 {
    let n = y.len();
    let mut sum = 0.0;
    for m in 0..n {
        let mut e = 0.0;
        for (j, &ej) in tab.e.iter().enumerate() {
            if ej != 0.0 {
                e += ej * part(&k[j][m]);
            }
        }
        let sc = o.atol_at(m) + o.rtol * part(&y[m]).abs().max(part(&y1[m]).abs());
        let r = h * e / sc;
        sum += r * r;
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).sqrt()
    }
}

/// The PI step-size controller of DOPRI5 (Hairer, Nørsett & Wanner, Solving ODEs I, IV.2 and
/// the code DOPRI5; Gustafsson 1991): `h_new = h / fac` with
/// `fac = clamp(err^(1/5 - 0.75 β) / err_old^β / 0.9, 1/10, 5)`, `β = 0.04`.
pub(super) struct Controller {
    pub(super) err_old: f64,
    pub(super) rejected_last: bool,
}

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;
const BETA: f64 = 0.04;
const EXPO1: f64 = 0.2 - 0.75 * BETA;

impl Controller {
    /// A fresh controller (no history).
    pub(super) fn new() -> Self {
        Controller {
            err_old: 1e-4,
            rejected_last: false,
        }
    }

    pub(super) fn accept(&mut self, h: f64, err: f64) -> f64 {
        let fac = err.powf(EXPO1) / self.err_old.powf(BETA) / SAFETY;
        let fac = fac.clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
        let mut h_new = h / fac;
        if self.rejected_last {
            h_new = h_new.min(h);
        }
        self.err_old = err.max(1e-4);
        self.rejected_last = false;
        h_new
    }

    pub(super) fn reject(&mut self, h: f64, err: f64) -> f64 {
        self.rejected_last = true;
        if !err.is_finite() {
            return h * FAC_MIN;
        }
        h / (err.powf(EXPO1) / SAFETY).min(1.0 / FAC_MIN)
    }
}

/// Hairer's initial step size (Hairer, Nørsett & Wanner I, II.4, "starting step size"; the
/// routine `HINIT` of DOPRI5), with `order` the method's order. One extra evaluation of `f`.
#[allow(clippy::too_many_arguments)]
pub(super) fn initial_step<Sys: OdeSystem>(
    sys: &Sys,
    t0: f64,
    y0: &[f64],
    f0: &[f64],
    p: &[f64],
    order: f64,
    o: &Options,
    span: f64,
) -> f64 {
    let n = y0.len().max(1) as f64;
    let sc = |m: usize| o.atol_at(m) + o.rtol * y0[m].abs();
    let norm = |v: &dyn Fn(usize) -> f64| {
        ((0..y0.len()).map(|m| (v(m) / sc(m)).powi(2)).sum::<f64>() / n).sqrt()
    };
    let d0 = norm(&|m| y0[m]);
    let d1 = norm(&|m| f0[m]);
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(o.h_max).min(span);
    let y1: Vec<f64> = (0..y0.len()).map(|m| y0[m] + h0 * f0[m]).collect();
    let mut f1 = vec![0.0; y0.len()];
    sys.rhs(t0 + h0, &y1, p, &mut f1);
    let d2 = norm(&|m| f1[m] - f0[m]) / h0;
    let dm = d1.max(d2);
    let h1 = if !dm.is_finite() {
        h0 * 1e-3
    } else if dm <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / dm).powf(1.0 / (order + 1.0))
    };
    (100.0 * h0).min(h1).min(o.h_max).min(span)
}
