//! W8: global sensitivity of the Lotka-Volterra prey x(t_k), t_k = 1..10, to p = (a, b, d, g)
//! uniform on ±20% of W3's values (y0 = (1, 1), Tsit5 at rtol = atol = 1e-8). W8: Sobol' first
//! and total indices from N = 4096 base points (24 576 solves) with 100 bootstrap resamples,
//! end to end on all cores and on one (rayon pools of both sizes). W8dgsm: DGSM from N = 4096
//! exact Jacobians of the ten outputs (forward sensitivities and reverse mode).

use gsa::{
    dgsm_model, sobol_model, DgsmOptions, GradientMode, OdeModel, Problem, SobolOptions, States,
    Varied,
};

use super::lv::{LotkaVolterra, P, Y0};
use crate::measure::{peak_rss_mb, time_runs, Timing};
use crate::{Method, ResultLine, Value, Workload};

/// Base sample size.
pub const N: usize = 4096;
/// Indices of x(10) from SALib + JAX/diffrax at N = 4096 (BENCHMARKS.md): a sample estimate
/// itself, so ours must agree within 0.06 (about SALib's own 95% interval on S1 of `a`).
pub const S1_X10: [f64; 4] = [0.409, 0.002, 0.040, 0.015];
/// Total indices of x(10), same source.
pub const ST_X10: [f64; 4] = [0.943, 0.003, 0.387, 0.262];

/// The Sobol' workload.
pub fn workload() -> Workload {
    Workload {
        name: "W8",
        methods: vec![Method {
            name: "wengert-gsa-tsit5",
            run: sobol_line,
        }],
    }
}

/// The DGSM workload.
pub fn workload_dgsm() -> Workload {
    Workload {
        name: "W8dgsm",
        methods: vec![Method {
            name: "wengert-gsa-tsit5",
            run: dgsm_line,
        }],
    }
}

/// The model: x(t_k) of W3 with the four parameters varied.
pub fn model() -> OdeModel<LotkaVolterra> {
    OdeModel::new(
        LotkaVolterra,
        Y0.to_vec(),
        P.to_vec(),
        (0..4).map(Varied::Param).collect(),
        (1..=10).map(f64::from).collect(),
        ode::Options {
            method: ode::Method::Tsit5,
            rtol: 1e-8,
            atol: 1e-8,
            ..Default::default()
        },
    )
    .expect("W8 model")
    .with_output(States(vec![0]))
}

/// The inputs: uniform on ±20% of W3's parameters.
pub fn problem() -> Problem {
    let b: Vec<(f64, f64)> = P.iter().map(|&v| (0.8 * v, 1.2 * v)).collect();
    Problem::new(&b)
        .and_then(|p| p.with_names(&["a", "b", "d", "g"]))
        .expect("W8 problem")
}

fn list(v: &[f64]) -> Value {
    Value::Text(
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn on_threads<R>(threads: usize, f: impl FnOnce() -> R + Send) -> R
where
    R: Send,
{
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn sobol_line() -> ResultLine {
    let (problem, model) = (problem(), model());
    let opts = SobolOptions {
        samples: N,
        seed: 1,
        bootstrap: 100,
        progress: false,
        ..Default::default()
    };
    let run = || sobol_model(&problem, &model, &opts);
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let (all, s): (Timing, _) = on_threads(cores, || time_runs(1, 5, run));
    let (one, _) = on_threads(1, || time_runs(0, 3, run));
    let mut line = ResultLine::new("W8", "wengert-gsa-tsit5");
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            line.set(
                "MISMATCH",
                Value::Text(format!("error:{e}").replace(' ', "_")),
            );
            return line;
        }
    };
    let last = s.first.len() - 1;
    line = line
        .num("wall_ms", all.median, 1)
        .int("threads", cores as u64)
        .num("wall_ms_1_thread", one.median, 1)
        .num("speedup", one.median / all.median, 2)
        .int("solves", s.evaluations as u64)
        .num(
            "ms_per_solve_1_thread",
            one.median / s.evaluations as f64,
            4,
        )
        .extra("S1_x10", list(&s.first[last]))
        .extra("ST_x10", list(&s.total[last]))
        .extra("S1conf_x10", list(&s.first_conf[last]))
        .extra("STconf_x10", list(&s.total_conf[last]))
        .num("peak_rss_mb", peak_rss_mb(), 1);
    line.extra.extend(all.extras("wall_ms"));
    let err = s.first[last]
        .iter()
        .zip(S1_X10)
        .chain(s.total[last].iter().zip(ST_X10))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if err.is_nan() || err > 0.06 || s.dropped > 0 {
        line.set(
            "MISMATCH",
            Value::Text(format!("x10_index_err={err:.3},dropped={}", s.dropped)),
        );
    }
    line
}

fn dgsm_line() -> ResultLine {
    let (problem, model) = (problem(), model());
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let mut line = ResultLine::new("W8dgsm", "wengert-gsa-tsit5");
    let mut nu_x10 = Vec::new();
    for (mode, key) in [
        (GradientMode::Forward, "forward_ms"),
        (GradientMode::Reverse, "reverse_ms"),
    ] {
        let opts = DgsmOptions {
            samples: N,
            seed: 1,
            mode,
            progress: false,
            ..Default::default()
        };
        let (t, d) = time_runs(1, 5, || dgsm_model(&problem, &model, &opts));
        match d {
            Ok(d) => {
                nu_x10 = d.nu[d.nu.len() - 1].clone();
                line = line.num(key, t.median, 1);
                if mode == GradientMode::Forward {
                    line = line
                        .num("wall_ms", t.median, 1)
                        .num("ms_per_point", t.median / N as f64, 4)
                        .extra(
                            "STbound_x10",
                            list(&d.total_upper_bound[d.total_upper_bound.len() - 1]),
                        );
                }
            }
            Err(e) => {
                line.set(
                    "MISMATCH",
                    Value::Text(format!("error:{e}").replace(' ', "_")),
                );
                return line;
            }
        }
    }
    line.extra(
        "nu_x10",
        Value::Text(
            nu_x10
                .iter()
                .map(|v| format!("{v:.6e}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
    )
    .int("threads", cores as u64)
    .int("gradients", N as u64)
    .num("peak_rss_mb", peak_rss_mb(), 1)
}
