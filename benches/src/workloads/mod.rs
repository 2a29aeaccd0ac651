//! The workloads of BENCHMARKS.md. Each module defines the problem once (generic over
//! `S: ad_core::Real` where the method is ours) and lists its methods.

mod lv;
pub mod w1;
pub mod w2;
pub mod w3;
pub mod w4;
pub mod w5;
pub mod w6;
pub mod w7;
pub mod w8;

use crate::measure::{peak_rss_mb, Timing};
use crate::{check_reference, ResultLine, Value, Workload};

/// Every implemented workload, in suite order.
pub fn all() -> Vec<Workload> {
    vec![
        w1::workload(),
        w2::workload(),
        w2::workload_sparse(),
        w3::workload(),
        w4::workload(),
        w5::workload(),
        w6::workload(),
        w7::workload(),
        w8::workload(),
        w8::workload_dgsm(),
    ]
}

/// The workload called `name` (case-insensitive), if implemented.
pub fn find(name: &str) -> Option<Workload> {
    all()
        .into_iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))
}

/// The line of an ODE workload (W3, W4): times, loss, gradient norm and the largest error of a
/// gradient component relative to `max(|reference component|, floor)`, checked against the
/// references (loss and gradient norm to 1e-5, components to 1e-4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ode_line(
    workload: &str,
    name: &str,
    primal: &Timing,
    grad: &Timing,
    primal_loss: f64,
    loss: f64,
    g: &[f64],
    reference: (f64, &[f64]),
    floor: f64,
) -> ResultLine {
    let (want_loss, want_g) = reference;
    let max_err = g
        .iter()
        .zip(want_g)
        .map(|(a, b)| (a - b).abs() / b.abs().max(floor))
        .fold(0.0, f64::max);
    let mut line = ResultLine::new(workload, name)
        .num("primal_ms", primal.median, 4)
        .num("grad_ms", grad.median, 4)
        .num("ratio", grad.median / primal.median, 2)
        .num("peak_rss_mb", peak_rss_mb(), 1)
        .num("loss", loss, 9)
        .num("gradnorm", lv::norm(g), 7)
        .num("max_grad_err", max_err, 9);
    line.extra.extend(primal.extras("primal_ms"));
    line.extra.extend(grad.extras("grad_ms"));
    check_reference(
        &mut line,
        primal_loss,
        want_loss,
        lv::norm(g),
        lv::norm(want_g),
        1e-5,
    );
    if max_err > 1e-4 {
        line.set(
            "MISMATCH",
            Value::Text(format!("gradient:err={max_err:.1e}")),
        );
    }
    line
}
