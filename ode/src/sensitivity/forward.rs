//! Forward sensitivities: the solver runs on `Dual` numbers.
//!
//! With inputs `x = (y0, p)` seeded with unit tangents, every saved state carries
//! `d y(t_k) / d x` — the derivative of the numerical solution computed with the steps chosen on
//! the values (the steps of the `f64` solve). Inputs are processed in chunks of up to 8
//! tangents (`Dual<1>`, `Dual<2>`, `Dual<4>`, `Dual<6>` or `Dual<8>`), one solve per chunk.

use ad_core::Dual;

use crate::error::Error;
use crate::explicit::integrate;
use crate::options::Options;
use crate::solution::Stats;
use crate::system::OdeSystem;

/// The saved states and their Jacobian with respect to `(y0, p)`.
pub(crate) struct ForwardJacobian {
    /// Saved states.
    pub outputs: Vec<Vec<f64>>,
    /// Row-major `(save_at.len() * dim) x (dim + n_params)`.
    pub jac: Vec<f64>,
    /// Counters of the (first) forward solve.
    pub stats: Stats,
}

/// Solves with forward sensitivities for all of `y0` and `p`.
pub(crate) fn forward_jacobian<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
) -> Result<ForwardJacobian, Error> {
    let n_in = y0.len() + p.len();
    let mut fj = ForwardJacobian {
        outputs: Vec::new(),
        jac: vec![0.0; save_at.len() * y0.len() * n_in],
        stats: Stats::default(),
    };
    let mut c0 = 0;
    while c0 < n_in.max(1) {
        let width = match n_in - c0.min(n_in) {
            0 | 1 => chunk::<1, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut fj)?,
            2 => chunk::<2, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut fj)?,
            3 | 4 => chunk::<4, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut fj)?,
            5 | 6 => chunk::<6, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut fj)?,
            _ => chunk::<8, Sys>(sys, y0, p, t0, save_at, opts, c0, &mut fj)?,
        };
        c0 += width;
    }
    Ok(fj)
}

/// One solve on `Dual<W>` with tangents for inputs `c0..c0 + W`; returns `W`.
#[allow(clippy::too_many_arguments)]
fn chunk<const W: usize, Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    c0: usize,
    fj: &mut ForwardJacobian,
) -> Result<usize, Error> {
    let n = y0.len();
    let n_in = n + p.len();
    let yd = Dual::<W>::seeded(y0, 0, c0);
    let pd = Dual::<W>::seeded(p, n, c0);
    let (saved, stats) = integrate(sys, &yd, &pd, t0, save_at, opts, None, &mut ())?;
    write_columns(saved.iter().flatten(), n_in, c0, &mut fj.jac);
    if c0 == 0 {
        fj.outputs = saved
            .iter()
            .map(|yk| yk.iter().map(|v| v.v).collect())
            .collect();
        fj.stats = stats;
    }
    Ok(W)
}

/// Writes the tangents of one `Dual<W>` solve seeded for inputs `c0..c0 + W` into their columns
/// of the row-major Jacobian `jac` (`n_in` columns; one row per saved component).
pub(crate) fn write_columns<'a, const W: usize>(
    outputs: impl IntoIterator<Item = &'a Dual<W>>,
    n_in: usize,
    c0: usize,
    jac: &mut [f64],
) {
    let width = W.min(n_in - c0.min(n_in));
    for (row, v) in jac.chunks_exact_mut(n_in.max(1)).zip(outputs) {
        row[c0..c0 + width].copy_from_slice(&v.d[..width]);
    }
}

/// ADDS `J^T y_bar` to `x_bar` for the row-major Jacobian `jac` of the saved components with
/// respect to `x` (`x_bar.len()` columns).
pub(crate) fn add_transposed(jac: &[f64], y_bar: &[f64], x_bar: &mut [f64]) {
    for (row, &yb) in jac.chunks_exact(x_bar.len().max(1)).zip(y_bar) {
        if yb != 0.0 {
            for (xb, &j) in x_bar.iter_mut().zip(row) {
                *xb += j * yb;
            }
        }
    }
}
