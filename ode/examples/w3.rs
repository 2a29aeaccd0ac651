//! W3 of BENCHMARKS.md (Lotka-Volterra, Tsit5/Dopri5, rtol = atol = 1e-8, 101 save times):
//! median times of the primal and of value+gradient with each sensitivity method, and a W7-style
//! ensemble throughput.
//!
//! `cargo run --release -p ode --example w3 [n_ensemble]`

use std::time::Instant;

use ad_core::{Tape, Var};
use ode::problems::LotkaVolterra;
use ode::{gradient_ensemble, solve, Method, Options, Real, Sensitivity};

const P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
const Y0: [f64; 2] = [1.0, 1.0];
const REF_LOSS: f64 = 1717.358726548;
const REF_GRAD: [f64; 6] = [
    69.5537143,
    -1105.1222569,
    -3627.0178625,
    1030.6588998,
    -1039.4285119,
    -257.9941544,
];

fn loss<S: Real>(y: &[Vec<S>]) -> S {
    y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum()
}

/// Median over 31 samples of the mean time of `reps` calls, after a warm-up, in ms.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..reps {
        f();
    }
    let mut samples: Vec<f64> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn value_and_gradient(save_at: &[f64], opts: &Options) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let p = tape.vars(&P);
    let y0 = tape.vars(&Y0);
    let sol = solve(&LotkaVolterra, &y0, &p, 0.0, save_at, opts).unwrap();
    let l: Var = loss(&sol.y);
    let adj = tape.gradient(l);
    let mut g = adj.wrt_all(&p);
    g.extend(adj.wrt_all(&y0));
    (l.value(), g)
}

fn main() {
    let n_ens: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let save_at: Vec<f64> = (0..=100).map(|k| 0.1 * k as f64).collect();
    for method in [Method::Tsit5, Method::Dopri5] {
        let base = Options {
            method,
            rtol: 1e-8,
            atol: 1e-8,
            ..Default::default()
        };
        let mut primal_loss = 0.0;
        let primal = median_ms(200, || {
            let sol = solve(&LotkaVolterra, &Y0, &P, 0.0, &save_at, &base).unwrap();
            primal_loss = loss(&sol.y);
        });
        let stats = solve(&LotkaVolterra, &Y0, &P, 0.0, &save_at, &base)
            .unwrap()
            .stats;
        println!(
            "W3 {method:?} primal_ms={primal:.4} steps={} rejected={} rhs_evals={} loss={primal_loss:.9}",
            stats.steps, stats.rejected, stats.rhs_evals
        );
        for (name, sens) in [
            ("forward", Sensitivity::Forward),
            (
                "adjoint-c16",
                Sensitivity::DiscreteAdjoint { checkpoints: 16 },
            ),
            (
                "adjoint-c1000",
                Sensitivity::DiscreteAdjoint { checkpoints: 1000 },
            ),
            (
                "interpolating-c16",
                Sensitivity::InterpolatingAdjoint { checkpoints: 16 },
            ),
        ] {
            let opts = Options {
                sensitivity: sens,
                ..base.clone()
            };
            let (l, g) = value_and_gradient(&save_at, &opts);
            let grad_ms = median_ms(100, || {
                std::hint::black_box(value_and_gradient(&save_at, &opts));
            });
            let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let err = g
                .iter()
                .zip(&REF_GRAD)
                .map(|(a, b)| ((a - b) / b).abs())
                .fold(0.0, f64::max);
            let gerr_norm = g
                .iter()
                .zip(&REF_GRAD)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
                / REF_GRAD.iter().map(|v| v * v).sum::<f64>().sqrt();
            println!(
                "W3 wengert-{}-{name} primal_ms={primal:.4} grad_ms={grad_ms:.4} ratio={:.2} loss={l:.9} gradnorm={gnorm:.7} loss_rel_err={:.1e} grad_max_rel_err={err:.1e} grad_norm_rel_err={gerr_norm:.1e}",
                format!("{method:?}").to_lowercase(),
                grad_ms / primal,
                ((l - REF_LOSS) / REF_LOSS).abs()
            );
        }
    }

    // W7-style: n_ens parameter sets, each a W3 solve + gradient (Tsit5, Auto = forward)
    let params: Vec<Vec<f64>> = (0..n_ens)
        .map(|j| {
            (0..4)
                .map(|m| P[m] * (1.0 + 0.2 * ((j + m) as f64).sin()))
                .collect()
        })
        .collect();
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let run = || {
        let t = Instant::now();
        let out = gradient_ensemble(&LotkaVolterra, &Y0, &params, 0.0, &save_at, &opts, |s| {
            loss(&s.y)
        });
        assert!(out.iter().all(|r| r.is_ok()));
        n_ens as f64 / t.elapsed().as_secs_f64()
    };
    run();
    let mut all: Vec<f64> = (0..5).map(|_| run()).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut one: Vec<f64> = (0..5).map(|_| pool1.install(run)).collect();
    one.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "W7 wengert-tsit5-forward throughput_per_s={:.0} threads={} throughput_1thread_per_s={:.0} speedup={:.2}",
        all[2],
        rayon::current_num_threads(),
        one[2],
        all[2] / one[2]
    );
}
