//! W7: an ensemble of 10 000 W3 solves + gradients with `p_j = P (1 + 0.2 sin(j + m))`, each
//! with its own adaptive steps, on all cores and on one (rayon pools of both sizes, same run).

use ode::{gradient_ensemble, Options};

use super::lv::{loss, save_times, LotkaVolterra, P, Y0};
use crate::measure::{peak_rss_mb, time_runs};
use crate::{Method, ResultLine, Value, Workload};

/// Ensemble size.
pub const N: usize = 10_000;

/// The workload and its method.
pub fn workload() -> Workload {
    Workload {
        name: "W7",
        methods: vec![Method {
            name: "wengert-tsit5-forward",
            run: ensemble,
        }],
    }
}

/// The parameter sets.
pub fn params(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|j| {
            (0..4)
                .map(|m| P[m] * (1.0 + 0.2 * ((j + m) as f64).sin()))
                .collect()
        })
        .collect()
}

fn ensemble() -> ResultLine {
    let ps = params(N);
    let save_at = save_times();
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let run = || {
        let out = gradient_ensemble(&LotkaVolterra, &Y0, &ps, 0.0, &save_at, &opts, |s| {
            loss(&s.y)
        });
        out.iter().filter(|r| r.is_ok()).count()
    };
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let mut rates = Vec::new();
    let mut ok = 0;
    for threads in [cores, 1] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let (t, n_ok) = pool.install(|| time_runs(1, 5, run));
        ok = n_ok;
        rates.push(N as f64 / (t.median / 1e3));
    }
    let mut line = ResultLine::new("W7", "wengert-tsit5-forward")
        .num("throughput_per_s", rates[0], 0)
        .int("threads", cores as u64)
        .num("throughput_1_thread_per_s", rates[1], 0)
        .num("speedup", rates[0] / rates[1], 2)
        .num("peak_rss_mb", peak_rss_mb(), 1);
    if ok != N {
        line.set("MISMATCH", Value::Text(format!("failed_solves={}", N - ok)));
    }
    line
}
