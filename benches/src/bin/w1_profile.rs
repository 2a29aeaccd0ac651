//! A driver for profilers (perf, valgrind): repeats one phase of the taped W1 gradient.
//!
//! ```text
//! w1_profile [gradient|reuse|record|sweep|primal|hand|array|array-primal] [n] [iterations]
//! ```
//!
//! `gradient`: `ad_core::gradient` per iteration; `reuse`: record + sweep on one reused tape;
//! `record`: recording only (reused tape); `sweep`: the reverse sweep only (recorded once);
//! `array`: the array-style objective on tape arrays (value and gradient, fresh tape);
//! `array-primal`: the array-style objective on ndarray;
//! `w5-vjp`: one vector-Jacobian product of W5's array-style right-hand side (128 x 128 grid,
//! `n` ignored; 27 array operations, one product per cell side) on a reused tape, as the ODE
//! adjoint records it; `w5-vjp-flux`: the same right-hand side in flux form (19 operations, as
//! `rhs_array` in ode/examples/w5.rs).
//! Prints the median time per iteration and the minor page faults per iteration.

use std::hint::black_box;
use std::time::Instant;

use ad_core::{Adjoints, RealArray, Tape, Var, VarArray};
use wengert_benches::measure::{page_faults, Timing};
use wengert_benches::workloads::w1::{rosenbrock, rosenbrock_array, rosenbrock_value_grad, x0, N};

/// Out of line, so the accumulator stays in a register as in the suite (inlined into the mode
/// match it was spilled to the stack, 4x slower).
#[inline(never)]
fn primal(x: &[f64]) -> f64 {
    rosenbrock::<f64>(x)
}

/// W5's grid side.
const M: usize = 128;

/// W5's right-hand side in array style: one product per cell side, or in flux form (one per
/// face: `g - roll(g)` per axis).
fn w5_rhs<'t>(u: &[Var<'t>], d: &[Var<'t>], du: &mut [Var<'t>], flux_form: bool) {
    let (u, d) = (VarArray::from_slice(u), VarArray::from_slice(d));
    let k = 0.5 * (M * M) as f64;
    let mut flux: Option<VarArray<'t>> = None;
    let mut acc = |f: VarArray<'t>| {
        flux = Some(match flux.take() {
            Some(acc) => acc.add(&f),
            None => f,
        })
    };
    if flux_form {
        for (dr, dc) in [(-1, 0), (0, -1)] {
            let g = d
                .add(&d.roll2(M, M, dr, dc))
                .mul(&u.roll2(M, M, dr, dc).sub(&u));
            acc(g.sub(&g.roll2(M, M, -dr, -dc)));
        }
    } else {
        for (dr, dc) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let face = d.add(&d.roll2(M, M, dr, dc));
            acc(face.mul(&u.roll2(M, M, dr, dc).sub(&u)));
        }
    }
    let flux = flux.expect("four directions");
    let f = flux.mul_f64(k).add(&u.mul(&u.rsub_f64(1.0)));
    du.copy_from_slice(&RealArray::to_vec(&f));
}

/// One product `(df/du)^T w`, `(df/dD)^T w` of [`w5_rhs`], added into `u_bar`, `d_bar`.
fn w5_vjp(
    tape: &mut Tape,
    adj: &mut Adjoints,
    ud: [&[f64]; 3],
    bars: [&mut [f64]; 2],
    flux_form: bool,
) {
    let [u, d, w] = ud;
    let [u_bar, d_bar] = bars;
    tape.clear();
    let us = tape.vars(u);
    let ds = tape.vars(d);
    let mut f = vec![Var::constant(0.0); u.len()];
    w5_rhs(&us, &ds, &mut f, flux_form);
    tape.vjp_into(&f, w, adj);
    for (b, &v) in u_bar.iter_mut().zip(&us) {
        *b += adj.wrt(v);
    }
    for (b, &v) in d_bar.iter_mut().zip(&ds) {
        *b += adj.wrt(v);
    }
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
        "w5-vjp" | "w5-vjp-flux" => {
            let n = M * M;
            let u: Vec<f64> = (0..n).map(|c| 0.5 + 0.4 * (c as f64 * 0.1).sin()).collect();
            let d: Vec<f64> = (0..n)
                .map(|c| 0.01 * (1.0 + 0.5 * (c as f64).sin()))
                .collect();
            let w: Vec<f64> = (0..n).map(|c| (c as f64 * 0.3).cos()).collect();
            let (mut ub, mut db) = (vec![0.0; n], vec![0.0; n]);
            for _ in 0..iters {
                let t0 = Instant::now();
                let flux_form = mode == "w5-vjp-flux";
                w5_vjp(
                    &mut tape,
                    &mut adj,
                    [&u, &d, &w],
                    [&mut ub, &mut db],
                    flux_form,
                );
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            sink += ub.iter().chain(&db).map(|v| v * v).sum::<f64>().sqrt();
        }
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
                        xs.adjoints_into(&a, &mut g);
                        y.value() + g[0]
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
