//! Profiling driver: repeats the W3 primal or value+gradient (forward sensitivities) many times.
//!
//! `cargo run --release -p ode --example w3_profile -- [primal|grad] [reps] [forward|discrete|interpolating]`

use ad_core::{Tape, Var};
use ode::problems::LotkaVolterra;
use ode::{solve, Options, Sensitivity};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "primal".into());
    let reps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let save_at: Vec<f64> = (0..=100).map(|k| 0.1 * k as f64).collect();
    let sensitivity = match std::env::args().nth(3).as_deref() {
        Some("discrete") => Sensitivity::DiscreteAdjoint { checkpoints: 16 },
        Some("interpolating") => Sensitivity::InterpolatingAdjoint { checkpoints: 16 },
        _ => Sensitivity::Forward,
    };
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        sensitivity,
        ..Default::default()
    };
    let (p, y0) = ([1.5, 1.0, 1.0, 3.0], [1.0, 1.0]);
    let mut acc = 0.0;
    for _ in 0..reps {
        if what == "grad" {
            let tape = Tape::new();
            let pv = tape.vars(&p);
            let yv = tape.vars(&y0);
            let sol = solve(&LotkaVolterra, &yv, &pv, 0.0, &save_at, &opts).unwrap();
            let l: Var = sol.y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum();
            acc += tape.gradient(l).wrt(pv[0]);
        } else {
            let sol = solve(&LotkaVolterra, &y0, &p, 0.0, &save_at, &opts).unwrap();
            acc += sol.y[100][0];
        }
    }
    println!("{acc}");
}
