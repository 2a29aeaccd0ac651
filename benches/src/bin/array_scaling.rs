//! Multicore scaling of tape-array operations: an element-wise chain over 10^6 elements,
//! value and gradient, on a rayon pool of 1 thread and of all cores, in the same process.
//!
//! `cargo run --release -p wengert-benches --bin array_scaling [n]`
//!
//! Prints one line per thread count and the speed-up; the target is >= 1.6x on 2 cores.

use ad_core::{Tape, VarArray};
use wengert_benches::measure::time_default;

/// `sum_i tanh(exp(sin(x_i) * 0.5) * x_i + 1)^2`: five element-wise nodes and a reduction.
fn chain<'t>(x: &VarArray<'t>) -> ad_core::Var<'t> {
    let a = x.sin().mul_f64(0.5).exp();
    let b = a.mul(x).add_f64(1.0).tanh();
    b.dot(&b)
}

fn run(x: &[f64], g: &mut [f64]) -> f64 {
    let tape = Tape::new();
    let xs = tape.var_array(x);
    let y = chain(&xs);
    let adj = tape.gradient(y);
    xs.adjoints_into(&adj, g);
    y.value() + g[0]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 1e-3).cos()).collect();
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let mut medians = Vec::new();
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let mut g = vec![0.0; n];
        let (t, v) = pool.install(|| time_default(|| run(&x, &mut g)));
        println!(
            "array-chain n={n} threads={threads} grad_ms={:.3} preempted={}/{} check={v:.6}",
            t.median, t.preempted, t.runs
        );
        medians.push(t.median);
    }
    println!(
        "array-chain speedup={:.2} ({} threads over 1)",
        medians[0] / medians[1],
        cores
    );
}
