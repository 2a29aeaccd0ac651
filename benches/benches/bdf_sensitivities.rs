//! Criterion bench of the measurement behind `Sensitivity::Auto`'s rule for BDF (docs/stiff.md,
//! "When to use it"): one value+gradient call of `ode::vjp` with forward sensitivities, the
//! continuous (interpolating) adjoint and the discrete adjoint, on the 1D Brusselator with
//! 50 interior points (100 states + 2 parameters, sparse Jacobian), saves at t = 1 and 10,
//! rtol 1e-6, atol 1e-8. Before timing it prints how far the continuous adjoint's gradient is
//! from the discrete one (the exact gradient of the numerical solution).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use ode::problems::Brusselator1d;
use ode::{vjp, Method, Options, Sensitivity};

const N: usize = 50;

fn opts(sensitivity: Sensitivity) -> Options {
    Options {
        method: Method::Bdf,
        rtol: 1e-6,
        atol: 1e-8,
        sensitivity,
        // as in ode's stiff_discrete tests: the f64 solve's steps for every sensitivity
        derivative_error_control: false,
        ..Default::default()
    }
}

fn sensitivities(c: &mut Criterion) {
    let sys = Brusselator1d { n: N };
    let p = [0.02, 3.4];
    let y0: Vec<f64> = (0..N)
        .flat_map(|i| {
            let x = (i + 1) as f64 / (N + 1) as f64;
            [1.0 + (2.0 * std::f64::consts::PI * x).sin(), 3.0]
        })
        .collect();
    let ts = [1.0, 10.0];
    let w: Vec<f64> = (0..2 * N).map(|i| 1.0 + (i % 3) as f64).collect();
    let y_bar = vec![w.clone(); ts.len()];
    let cases = [
        ("forward", Sensitivity::Forward),
        (
            "continuous_adjoint",
            Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ),
        (
            "discrete_adjoint",
            Sensitivity::DiscreteAdjoint { checkpoints: 64 },
        ),
    ];

    let gradient = |s: Sensitivity| {
        let g = vjp(&sys, &y0, &p, 0.0, &ts, &opts(s), &y_bar).unwrap();
        g.y0_bar.into_iter().chain(g.p_bar).collect::<Vec<f64>>()
    };
    let (continuous, discrete) = (gradient(cases[1].1), gradient(cases[2].1));
    let scale = discrete.iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    let diff = continuous
        .iter()
        .zip(&discrete)
        .fold(0.0, |m: f64, (a, b)| m.max((a - b).abs()));
    eprintln!(
        "brusselator 1D ({} states + 2 params): continuous vs discrete gradient rel diff {:.1e}",
        2 * N,
        diff / scale
    );

    let mut g = c.benchmark_group("bdf_vjp_brusselator1d_50");
    // one call is 10 to 700 ms: few samples, one call each
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    for (name, s) in cases {
        let o = opts(s);
        g.bench_function(name, |b| {
            b.iter(|| vjp(&sys, black_box(&y0), &p, 0.0, &ts, &o, &y_bar).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, sensitivities);
criterion_main!(benches);
