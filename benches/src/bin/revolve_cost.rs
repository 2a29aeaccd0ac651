//! Cost of binomial checkpointing against full taping: 10 000 steps of a small nonlinear map
//! (an explicit Euler step of a chain of coupled pendulums, 16 states, 2 parameters) with 50
//! snapshots, value and gradient, both in the same process.
//!
//! `cargo run --release -p wengert-benches --bin revolve_cost [steps] [snapshots]`
//!
//! The targets: at most 60 states held, and time at most 3x the fully taped run.

use ad_core::{revolve, revolve_reverse, Real, Step, Tape, Var};
use wengert_benches::measure::time_default;

const DIM: usize = 16;

/// `x = (theta, omega)` for 8 pendulums coupled to their neighbours; `p = (g, k)`.
#[derive(Clone)]
struct Pendulums {
    dt: f64,
}

impl Step for Pendulums {
    fn step<S: Real>(&self, _k: usize, x: &[S], p: &[S], out: &mut [S]) {
        let m = DIM / 2;
        let (th, om) = x.split_at(m);
        for i in 0..m {
            let left = if i > 0 { th[i - 1] } else { th[i] };
            let right = if i + 1 < m { th[i + 1] } else { th[i] };
            let acc = -p[0] * th[i].sin() + p[1] * (left + right - th[i] * 2.0);
            out[i] = th[i] + om[i] * self.dt;
            out[m + i] = om[i] + acc * self.dt;
        }
    }
}

fn loss<S: Real>(x: &[S]) -> S {
    x.iter().map(|&v| v * v).sum()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let snaps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);
    let step = Pendulums { dt: 1e-3 };
    let x0: Vec<f64> = (0..DIM).map(|i| 0.1 * (i as f64 + 1.0).sin()).collect();
    let p = [9.81, 2.0];

    let full = || {
        let tape = Tape::new();
        let (x, q) = (tape.vars(&x0), tape.vars(&p));
        let mut u = x.clone();
        let mut next = vec![Var::constant(0.0); DIM];
        for k in 0..steps {
            step.step(k, &u, &q, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        let y = loss(&u);
        let adj = tape.gradient(y);
        (y.value(), adj.wrt_all(&q), tape.bytes())
    };
    let checkpointed = || {
        let tape = Tape::new();
        let (x, q) = (tape.vars(&x0), tape.vars(&p));
        let u = revolve(&step, &x, &q, steps, snaps);
        let y = loss(&u);
        let adj = tape.gradient(y);
        (y.value(), adj.wrt_all(&q), tape.bytes())
    };
    let (t_full, (v_full, g_full, bytes_full)) = time_default(full);
    let (t_ck, (v_ck, g_ck, bytes_ck)) = time_default(checkpointed);
    let mut x_bar = vec![0.0; DIM];
    let mut p_bar = vec![0.0; 2];
    let stats = revolve_reverse(&step, &x0, &p, steps, snaps, &mut x_bar, &mut p_bar);
    let gerr = g_full
        .iter()
        .zip(&g_ck)
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0.0, f64::max);
    println!(
        "revolve steps={steps} snapshots={snaps} full_ms={:.3} checkpointed_ms={:.3} ratio={:.2} \
         full_tape_mb={:.2} checkpointed_tape_kb={:.1} max_states_held={} advances={} \
         taped_steps={} max_step_tape_nodes={} loss_diff={:.1e} grad_rel_diff={gerr:.1e}",
        t_full.median,
        t_ck.median,
        t_ck.median / t_full.median,
        bytes_full as f64 / 1e6,
        bytes_ck as f64 / 1e3,
        stats.max_snapshots,
        stats.advances,
        stats.taped_steps,
        stats.max_tape_len,
        (v_full - v_ck).abs(),
    );
}
