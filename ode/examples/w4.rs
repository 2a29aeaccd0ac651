//! W4 of BENCHMARKS.md (Robertson, t in [0, 1e5], rtol = 1e-8, atol = 1e-12, stiff method):
//! median times of the primal and of value+gradient (forward sensitivities through the stiff
//! solver, one block on the tape), printed as suite-style lines.
//!
//! `MALLOC_MMAP_THRESHOLD_=100000000 MALLOC_TRIM_THRESHOLD_=1000000000 \
//!  cargo run --release -p ode --example w4`

use std::time::Instant;

use ad_core::Tape;
use ode::problems::Robertson;
use ode::{solve, Method, Options, Real, Sensitivity};

const P: [f64; 3] = [0.04, 3e7, 1e4];
const Y0: [f64; 3] = [1.0, 0.0, 0.0];
const REF_LOSS: f64 = 2.965722883;
const REF_GRAD: [f64; 6] = [1.55672, 1.0126e-9, -6.2209e-6, 2.93389, 2.93390, 2.93390];

fn loss<S: Real>(y: &[S]) -> S {
    y[0] + y[1] * 2e4 + y[2] * 3.0
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

fn value_and_gradient(opts: &Options) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let p = tape.vars(&P);
    let y0 = tape.vars(&Y0);
    let sol = solve(&Robertson, &y0, &p, 0.0, &[1e5], opts).expect("W4 solve");
    let l = loss(&sol.y[0]);
    let g = tape.gradient(l);
    (l.value(), p.iter().chain(&y0).map(|v| g.wrt(*v)).collect())
}

fn main() {
    let adjoint = Sensitivity::InterpolatingAdjoint { checkpoints: 64 };
    for (name, method, sensitivity) in [
        ("bdf-forward", Method::Bdf, Sensitivity::Forward),
        ("bdf-adjoint", Method::Bdf, adjoint),
        ("rodas4-forward", Method::Rodas4, Sensitivity::Forward),
    ] {
        let opts = Options {
            method,
            rtol: 1e-8,
            atol: 1e-12,
            sensitivity,
            ..Default::default()
        };
        let (sol, st) =
            ode::stiff::solve_with_stats(&Robertson, &Y0, &P, 0.0, &[1e5], &opts).unwrap();
        let primal = median_ms(20, || {
            let s = solve(&Robertson, &Y0, &P, 0.0, &[1e5], &opts).unwrap();
            std::hint::black_box(s);
        });
        let grad = median_ms(20, || {
            std::hint::black_box(value_and_gradient(&opts));
        });
        let (_, _, sst) =
            ode::stiff::sensitivities(&Robertson, &Y0, &P, 0.0, &[1e5], &opts).unwrap();
        eprintln!("with sensitivities: {sst:?}");
        let (l, g) = value_and_gradient(&opts);
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let ref_norm = REF_GRAD.iter().map(|v| v * v).sum::<f64>().sqrt();
        let gerr = g
            .iter()
            .zip(&REF_GRAD)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / ref_norm;
        println!(
            "W4 wengert-{name} primal_ms={primal:.3} grad_ms={grad:.3} ratio={:.2} \
             loss={l:.10} gradnorm={gnorm:.8} loss_rel_err={:.1e} grad_rel_err={gerr:.1e} \
             steps={} rejected={} jac={} lu={}",
            grad / primal,
            (l - REF_LOSS).abs() / REF_LOSS,
            sol.stats.steps,
            sol.stats.rejected,
            st.jac_evals,
            st.factorisations,
        );
    }
}
