//! Forward sensitivities: the solver runs on `Dual` numbers.
//!
//! With inputs `x = (y0, p)` seeded with unit tangents, every saved state carries
//! `d y(t_k) / d x` — the derivative of the numerical solution computed with the steps chosen on
//! the values (the steps of the `f64` solve). Inputs are processed in chunks of up to 8
//! tangents (`Dual<1>`, `Dual<2>`, `Dual<4>`, `Dual<6>` or `Dual<8>`), one solve per chunk.

use ad_core::Dual;

use crate::error::Error;
use crate::events::{has_events, EventHit};
use crate::explicit::{integrate, integrate_events};
use crate::options::Options;
use crate::solution::Stats;
use crate::system::OdeSystem;

/// The saved states and their Jacobian with respect to `(y0, p)`.
pub(crate) struct ForwardJacobian {
    /// Saved states.
    pub outputs: Vec<Vec<f64>>,
    /// The events that fired.
    pub events: Vec<EventHit<f64>>,
    /// Row-major `outputs x (dim + n_params)`, the outputs as `crate::solve::flat_outputs`
    /// lays them out (the saved states, then each event's time and state).
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
        events: Vec::new(),
        jac: Vec::new(),
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
    let (saved, hits, stats) = if has_events(sys, opts) {
        integrate_events(sys, &yd, &pd, t0, save_at, opts)?
    } else {
        let (saved, stats) = integrate(sys, &yd, &pd, t0, save_at, opts, None, &mut ())?;
        (saved, Vec::new(), stats)
    };
    let values = |x: &[Dual<W>]| x.iter().map(|v| v.v).collect::<Vec<f64>>();
    if c0 == 0 {
        fj.outputs = saved.iter().map(|yk| values(yk)).collect();
        fj.events = hits
            .iter()
            .map(|h| EventHit {
                event: h.event,
                t: h.t.v,
                y: values(&h.y),
            })
            .collect();
        fj.stats = stats;
        fj.jac = vec![0.0; (saved.len() * n + hits.len() * (1 + n)) * n_in];
    } else if saved.len() != fj.outputs.len()
        || hits.len() != fj.events.len()
        || hits.iter().zip(&fj.events).any(|(a, b)| a.event != b.event)
    {
        // the chunks' steps differ where their tangents' error tests differ: an event near
        // grazing can then fire in one and not in another
        let t = hits.first().map_or(t0, |h| h.t.v);
        return Err(Error::Event {
            t,
            event: hits.first().map_or(crate::Event::State(0), |h| h.event),
            component: None,
            why: "the events differ between the forward-sensitivity solves of the input chunks \
                  (an event near grazing): tighten the tolerances",
        });
    }
    let rows = saved
        .iter()
        .flatten()
        .chain(hits.iter().flat_map(|h| std::iter::once(&h.t).chain(&h.y)));
    write_columns(rows, n_in, c0, &mut fj.jac);
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
