//! A right-hand side recorded once as a frozen operation trace ([`Trace`]) and replayed for
//! every vector-Jacobian product: no tape to record, no `Dual` evaluations. Usable when the
//! generic `rhs` does not look at values (no branch on the state), so that one recording
//! holds at every point.

use ad_core::trace::{Trace, TraceVar};

use crate::rhs_jacobian::MIN_SPARSE_INPUTS;
use crate::system::OdeSystem;

/// Most operations of a recorded right-hand side (~40 bytes each while recording: 340 MB at
/// most, once per solve); a larger one is not traced.
const MAX_OPS: usize = 1 << 23;

/// The trace of `rhs` with inputs `(y, p, t)`, and buffers for them and their cotangent.
pub(crate) struct RhsTrace {
    trace: Trace,
    x: Vec<f64>,
    x_bar: Vec<f64>,
}

impl RhsTrace {
    /// Records `rhs` at `(t, y, p)`; `None` for small systems (a solve records once, which
    /// pays only when products are large) or when the trace would not hold everywhere.
    pub(crate) fn record<Sys: OdeSystem>(sys: &Sys, t: f64, y: &[f64], p: &[f64]) -> Option<Self> {
        let (n, np) = (y.len(), p.len());
        if n + np < MIN_SPARSE_INPUTS {
            return None;
        }
        let x: Vec<f64> = y.iter().chain(p).chain([&t]).copied().collect();
        let trace = Trace::record_with_limit(&x, n, MAX_OPS, |x: &[TraceVar], out| {
            sys.rhs(x[n + np], &x[..n], &x[n..n + np], out)
        })
        .ok()?;
        let x_bar = vec![0.0; x.len()];
        Some(RhsTrace { trace, x, x_bar })
    }

    /// Number of recorded operations (scalar operations: an array operation of `n` elements
    /// counts `n`).
    pub(crate) fn n_ops(&self) -> usize {
        self.trace.n_ops()
    }

    /// ADDS `(∂f/∂y)^T w` to `y_bar` and `(∂f/∂p)^T w` to `p_bar` at `(t, y, p)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn vjp(
        &mut self,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) {
        let n = y.len();
        self.x[..n].copy_from_slice(y);
        self.x[n..n + p.len()].copy_from_slice(p);
        self.x[n + p.len()] = t;
        self.x_bar.fill(0.0);
        self.trace.vjp(&self.x, w, &mut self.x_bar);
        let (yb, pb) = self.x_bar.split_at(n);
        for (b, v) in y_bar.iter_mut().zip(yb) {
            *b += v;
        }
        for (b, v) in p_bar.iter_mut().zip(pb) {
            *b += v;
        }
    }
}
