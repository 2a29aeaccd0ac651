//! W6: fit Lotka-Volterra's `p` to the W3 solution plus deterministic noise, bounded L-BFGS from
//! `p0 = (1, 1, 1, 1)` with the gradient by the ODE's sensitivities (`optim::fit`), until the
//! projected gradient's max-norm is below 1e-6 or 500 iterations.

use ode::Options as OdeOptions;
use optim::{FitMethod, FitProblem, Observations, Options};

use super::lv::{save_times, LotkaVolterra, P, Y0};
use crate::measure::{peak_rss_mb, time_default};
use crate::{close, Method, ResultLine, Value, Workload};

/// Reference loss (BENCHMARKS.md).
pub const LOSS: f64 = 1.00889284766;
/// Reference parameters.
pub const P_FIT: [f64; 4] = [1.49972, 0.99942, 0.99978, 3.00009];

/// The workload and its method.
pub fn workload() -> Workload {
    Workload {
        name: "W6",
        methods: vec![Method {
            name: "wengert-lbfgs-bounded",
            run: lbfgs,
        }],
    }
}

/// The W6 data: the W3 solution at rtol = atol = 1e-12 plus `0.1 sin(7k + 0.3)`,
/// `0.1 cos(5k + 0.1)`.
pub fn data() -> (Vec<f64>, Vec<Vec<f64>>) {
    let times = save_times();
    let tight = OdeOptions {
        rtol: 1e-12,
        atol: 1e-12,
        ..Default::default()
    };
    let truth = ode::solve(&LotkaVolterra, &Y0, &P, 0.0, &times, &tight).expect("W6 data");
    let data = truth
        .y
        .iter()
        .enumerate()
        .map(|(k, y)| {
            let k = k as f64;
            vec![
                y[0] + 0.1 * (7.0 * k + 0.3).sin(),
                y[1] + 0.1 * (5.0 * k + 0.1).cos(),
            ]
        })
        .collect();
    (times, data)
}

fn lbfgs() -> ResultLine {
    let (times, data) = data();
    let problem = FitProblem::new(
        LotkaVolterra,
        0.0,
        Y0.to_vec(),
        Observations::full(times, data),
    )
    .expect("W6 problem")
    .with_ode_options(OdeOptions {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    })
    .with_bounds(vec![0.01; 4], vec![20.0; 4])
    .expect("W6 bounds");
    let method = FitMethod::Lbfgs(
        Options::default()
            .with_grad_tol(1e-6)
            .expect("tolerance")
            .with_max_iterations(500),
    );
    let (t, r) = time_default(|| problem.fit(&[1.0; 4], &method).expect("W6 fit"));
    let p = r
        .params
        .iter()
        .map(|v| format!("{v:.5}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut line = ResultLine::new("W6", "wengert-lbfgs-bounded")
        .num("wall_ms", t.median, 3)
        .int("grad_evals", r.evaluations as u64)
        .int("iterations", r.iterations as u64)
        .num("loss", r.loss, 11)
        .text("p", &format!("({p})"))
        .num("peak_rss_mb", peak_rss_mb(), 1);
    line.extra.extend(t.extras("wall_ms"));
    let p_ok = r
        .params
        .iter()
        .zip(&P_FIT)
        .all(|(a, b)| (a - b).abs() < 1e-4);
    if !close(r.loss, LOSS, 1e-5) || !p_ok {
        line.set("MISMATCH", Value::Text(format!("loss={:.11}", r.loss)));
    }
    line
}
