//! A driver for profilers (perf, valgrind): repeats one phase of the taped W1 gradient.
//!
//! ```text
//! w1_profile [gradient|reuse|record|sweep|primal|hand|array|array-primal] [n] [iterations]
//! ```
//!
//! `gradient`: `ad_core::gradient` per iteration; `reuse`: record + sweep on one reused tape;
//! `record`: recording only (reused tape); `sweep`: the reverse sweep only (recorded once);
//! `array`: the array-style objective on tape arrays (value and gradient, fresh tape);
//! `array-primal`: the array-style objective on ndarray.
//! Prints the median time per iteration and the minor page faults per iteration.

use std::hint::black_box;
use std::time::Instant;

use ad_core::{Adjoints, Tape};
use wengert_benches::measure::{page_faults, Timing};
use wengert_benches::workloads::w1::{rosenbrock, rosenbrock_array, rosenbrock_value_grad, x0, N};

/// Out of line, so the accumulator stays in a register as in the suite (inlined into the mode
/// match it was spilled to the stack, 4x slower).
#[inline(never)]
fn primal(x: &[f64]) -> f64 {
    rosenbrock::<f64>(x)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("reuse", String::as_str).to_string();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(N);
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let x = x0(n);
    let xa = ndarray::Array1::from(x.clone());
    let mut tape = Tape::new();
    let mut adj = Adjoints::default();
    let mut g = vec![0.0; n];
    let mut times = Vec::with_capacity(iters);
    let mut sink = 0.0;
    let faults0 = page_faults();
    match mode.as_str() {
        "sweep" => {
            let xs = tape.vars(&x);
            let y = rosenbrock(&xs);
            for _ in 0..iters {
                let t0 = Instant::now();
                tape.vjp_into(&[y], &[1.0], &mut adj);
                times.push(t0.elapsed().as_secs_f64() * 1e3);
                sink += adj.as_slice()[0];
            }
        }
        _ => {
            for _ in 0..iters {
                let t0 = Instant::now();
                sink += match mode.as_str() {
                    "gradient" => ad_core::gradient(|x| rosenbrock(x), black_box(&x)).0,
                    "record" => {
                        tape.clear();
                        let xs = tape.vars(black_box(&x));
                        rosenbrock(&xs).value()
                    }
                    "reuse" => {
                        tape.clear();
                        let xs = tape.vars(black_box(&x));
                        let y = rosenbrock(&xs);
                        tape.vjp_into(&[y], &[1.0], &mut adj);
                        y.value()
                    }
                    "array" => {
                        let t = Tape::new();
                        let xs = t.var_array(black_box(&x));
                        let y = rosenbrock_array(&xs);
                        let a = t.gradient(y);
                        y.value() + xs.adjoints(&a)[0]
                    }
                    "array-primal" => rosenbrock_array(black_box(&xa)),
                    "primal" => primal(black_box(&x)),
                    "hand" => rosenbrock_value_grad(black_box(&x), &mut g),
                    m => {
                        eprintln!("w1_profile: unknown mode {m}");
                        std::process::exit(2);
                    }
                };
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let faults = match (faults0, page_faults()) {
        (Some((a, _)), Some((b, _))) => (b - a) as f64 / iters as f64,
        _ => f64::NAN,
    };
    let t = Timing::from_times(times);
    println!(
        "w1_profile mode={mode} n={n} iters={iters} median_ms={:.4} min_ms={:.4} max_ms={:.4} faults_per_iter={faults:.1} tape_nodes={} (sink {sink:.3e})",
        t.median,
        t.min,
        t.max,
        tape.len()
    );
}
