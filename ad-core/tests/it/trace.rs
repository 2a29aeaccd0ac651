//! Frozen operation traces (`ad_core::trace`): replays at other points against `f64`
//! evaluations and against the tape's vector-Jacobian products, on code shaped to reach each
//! path of the replay — runs found in a stencil and merged across rows, scattered operands
//! (staged), a parameter broadcast to every repetition, per-repetition constants, a recurrence
//! that cannot be a run, array-style code whose runs read each other, outputs that are inputs
//! or constants — and the refusals (branches, custom blocks, nesting). The derivative table
//! itself is covered entry by entry in `derivative_table.rs`.

use crate::common::assert_close;
use ad_core::testing::Rng;
use ad_core::trace::{Trace, TraceError, TraceVar};
use ad_core::{Block, BlockError, Real, RealArray, Tape};

/// `f` written once, generic: the test bodies below.
trait Vector {
    fn n_out(&self, n_in: usize) -> usize;
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]);
}

/// Records `v` at `x0`, then at a few random points `x` checks the replayed values against
/// `v` on `f64` (bit for bit) and `J^T w` against the tape's; returns the trace.
#[track_caller]
fn check<V: Vector>(name: &str, v: &V, x0: &[f64], seed: u64) -> Trace {
    let n_out = v.n_out(x0.len());
    let mut trace = Trace::record(x0, n_out, |x, y| v.eval(x, y))
        .unwrap_or_else(|e| panic!("{name}: no trace: {e}"));
    assert_eq!(trace.n_inputs(), x0.len());
    assert_eq!(trace.n_outputs(), n_out);
    let mut rng = Rng::new(seed);
    for round in 0..3 {
        let x: Vec<f64> = x0.iter().map(|&v| v + rng.uniform(-0.3, 0.3)).collect();
        let mut want = vec![0.0; n_out];
        v.eval(&x, &mut want);
        let mut got = vec![0.0; n_out];
        trace.eval(&x, &mut got);
        for i in 0..n_out {
            assert!(
                got[i] == want[i],
                "{name}, round {round}: output {i} replayed {:e}, f64 {:e}",
                got[i],
                want[i]
            );
        }
        let w = rng.vec(n_out, -1.0, 1.0);
        let tape = Tape::new();
        let xs = tape.vars(&x);
        let mut ys = vec![ad_core::Var::constant(0.0); n_out];
        v.eval(&xs, &mut ys);
        let want = tape.vjp(&ys, &w).wrt_all(&xs);
        // x_bar is added to: start from ones
        let mut got = vec![1.0; x.len()];
        trace.vjp(&x, &w, &mut got);
        for j in 0..x.len() {
            assert_close(
                &format!("{name}, round {round}: (J^T w)_{j}"),
                got[j] - 1.0,
                want[j],
                1e-12,
            );
        }
    }
    trace
}

/// A 2D periodic stencil in the shape of W5's right-hand side (boundary cells first in each
/// row, then the interior), `m × m` cells, inputs `(u, D)`.
struct Stencil {
    m: usize,
}

impl Vector for Stencil {
    fn n_out(&self, n_in: usize) -> usize {
        n_in / 2
    }
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        let m = self.m;
        let (u, d) = x.split_at(m * m);
        let k = 0.5 * (m * m) as f64;
        for i in 0..m {
            let (up, row, down) = (((i + m - 1) % m) * m, i * m, ((i + 1) % m) * m);
            let cols = [0, m - 1].into_iter().chain(1..m - 1);
            for j in cols {
                let (l, r) = ((j + m - 1) % m, (j + 1) % m);
                let c = row + j;
                let (uc, dc) = (u[c], d[c]);
                let mut acc = S::zero();
                for q in [up + j, down + j, row + l, row + r] {
                    acc += (dc + d[q]) * (u[q] - uc);
                }
                y[c] = acc * k + uc - uc * uc;
            }
        }
    }
}

#[test]
fn stencil_replays_as_few_runs_on_and_off_the_pool() {
    let mut rng = Rng::new(7);
    // 24 x 24: below the parallel threshold; 96 x 96: above it (split between threads)
    for m in [24, 96] {
        let x0: Vec<f64> = (0..2 * m * m)
            .map(|j| {
                if j < m * m {
                    rng.uniform(0.1, 0.9)
                } else {
                    rng.uniform(0.005, 0.015)
                }
            })
            .collect();
        let trace = check(&format!("stencil {m}"), &Stencil { m }, &x0, 11);
        assert_eq!(trace.n_ops(), m * m * 20);
        // the boundary cells of all rows in one run, the interiors of all rows in another
        assert!(
            trace.n_runs() <= 4,
            "stencil {m}: {} runs for {} operations",
            trace.n_runs(),
            trace.n_ops()
        );
        // the same from inside the pool
        let (x, w) = (x0.clone(), rng.vec(m * m, -1.0, 1.0));
        let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let mut t = trace.clone();
        t.vjp(&x, &w, &mut a);
        rayon::scope(|_| t.vjp(&x, &w, &mut b));
        for j in 0..x.len() {
            assert_close(&format!("stencil {m}: pool, input {j}"), b[j], a[j], 1e-14);
        }
    }
}

/// `y_i = p x_i^2 + sin(c_i x_i) + x_{perm(i)} / (1 + x_i^2)`: one parameter `p` (the last
/// input) read by every repetition, constants `c_i` differing per repetition, and a scattered
/// operand (a permutation: neither contiguous nor strided); the last output is `p` itself.
struct Broadcast;

impl Vector for Broadcast {
    fn n_out(&self, n_in: usize) -> usize {
        n_in
    }
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        let n = x.len() - 1;
        let p = x[n];
        for i in 0..n {
            let c = 1.0 + 0.01 * i as f64;
            let perm = (i * 7 + 3) % n;
            y[i] = p * x[i].powi(2) + (x[i] * c).sin() + x[perm] / (x[i] * x[i] + 1.0);
        }
        y[n] = p;
    }
}

#[test]
fn broadcast_parameters_constants_and_scattered_operands() {
    let mut rng = Rng::new(3);
    let x0 = rng.vec(301, -1.0, 1.0);
    let trace = check("broadcast", &Broadcast, &x0, 5);
    assert!(trace.n_runs() <= 3, "broadcast: {} runs", trace.n_runs());
}

/// A running sum and product: each step reads the previous one, so no run can form (every
/// operation is its own run), and the replay must still be right.
struct Recurrence;

impl Vector for Recurrence {
    fn n_out(&self, n_in: usize) -> usize {
        n_in
    }
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        let mut acc = S::one();
        for (i, xi) in x.iter().enumerate() {
            acc = acc * 0.9 + (*xi * acc).tanh();
            y[i] = acc;
        }
    }
}

#[test]
fn recurrences_replay_one_operation_at_a_time() {
    let mut rng = Rng::new(4);
    let x0 = rng.vec(40, -1.0, 1.0);
    let trace = check("recurrence", &Recurrence, &x0, 6);
    assert!(trace.n_runs() > 40, "recurrence: {} runs", trace.n_runs());
}

/// Array-style code: each array operation is a run, and later runs read earlier ones (the
/// trace is not flat), with a reduction at the end and outputs that are inputs or constants.
struct ArrayStyle;

impl Vector for ArrayStyle {
    fn n_out(&self, n_in: usize) -> usize {
        n_in + 3
    }
    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        let n = x.len();
        let a = S::Array::from_slice(x);
        let b = a.mul(&a).add(&a.sin());
        let c = b.mul_f64(0.5).sub(&a.exp());
        let s = c.dot(&b);
        for (yi, v) in y.iter_mut().zip(c.to_vec()) {
            *yi = v;
        }
        y[n] = s;
        y[n + 1] = x[0];
        y[n + 2] = S::cst(2.5);
    }
}

#[test]
fn runs_that_read_each_other() {
    let mut rng = Rng::new(8);
    let x0 = rng.vec(200, -1.0, 1.0);
    check("array style", &ArrayStyle, &x0, 9);
}

#[test]
fn branching_on_a_value_is_refused() {
    let r = Trace::record(&[0.5, -0.5], 2, |x, y| {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = if xi > 0.0 { xi * 2.0 } else { -xi };
        }
    });
    assert_eq!(r.err(), Some(TraceError::LooksAtValues));
    // max is an operation of the trace: fine
    let mut t = Trace::record(&[0.5, -0.5], 1, |x, y| {
        y[0] = num_traits::Float::max(x[0], x[1])
    })
    .unwrap();
    let mut y = [0.0];
    t.eval(&[-1.0, 3.0], &mut y);
    assert_eq!(y[0], 3.0);
    let mut g = [0.0; 2];
    t.vjp(&[-1.0, 3.0], &[1.0], &mut g);
    assert_eq!(g, [0.0, 1.0]);
}

#[test]
fn custom_blocks_and_nesting_are_refused() {
    struct Double;
    impl Block for Double {
        type Residuals = ();
        fn forward(&self, x: &[f64], y: &mut [f64]) {
            y[0] = 2.0 * x[0];
        }
        fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
            x_bar[0] += 2.0 * y_bar[0];
            Ok(())
        }
        fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
            y_dot[0] = 2.0 * x_dot[0];
            Ok(())
        }
    }
    let r = Trace::record(&[1.0], 1, |x, y| TraceVar::apply_block(Double, x, y));
    assert!(
        matches!(r, Err(TraceError::Unsupported { .. })),
        "{:?}",
        r.err()
    );
    let r = Trace::record(&[1.0], 1, |x, y| {
        let inner = Trace::record(&[1.0], 1, |a, b| b[0] = a[0]);
        assert_eq!(inner.err(), Some(TraceError::Nested));
        y[0] = x[0];
    });
    assert!(r.is_ok());
}

#[test]
fn recordings_past_the_limit_are_refused() {
    // 3 operations per input: 30 in all
    let f = |x: &[TraceVar], y: &mut [TraceVar]| {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = num_traits::Float::sin(xi * xi) + 1.0;
        }
    };
    let x = [0.5; 10];
    assert!(Trace::record_with_limit(&x, 10, 30, f).is_ok());
    assert_eq!(
        Trace::record_with_limit(&x, 10, 29, f).err(),
        Some(TraceError::TooLarge { limit: 29 })
    );
}

/// Runs `f` on rayon pools of 1, 2 and 8 threads; all results must be the same bits.
fn on_pools(name: &str, f: impl Fn() -> Vec<f64> + Send + Sync) {
    let bits = |v: Vec<f64>| -> Vec<u64> { v.into_iter().map(f64::to_bits).collect() };
    let first = bits(f());
    for threads in [1, 2, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let again = bits(pool.install(&f));
        let differ = first.iter().zip(&again).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "{name}: {differ} entries differ on {threads} threads"
        );
    }
}

#[test]
fn products_are_the_same_bits_on_every_pool() {
    // 64 x 64: 81 920 element-operations, above the threshold where the chunks run in shares
    let m = 64;
    let mut rng = Rng::new(5);
    let x: Vec<f64> = (0..2 * m * m)
        .map(|j| {
            if j < m * m {
                rng.uniform(0.1, 0.9)
            } else {
                rng.uniform(0.005, 0.015)
            }
        })
        .collect();
    let w = rng.vec(m * m, -1.0, 1.0);
    let trace = Trace::record(&x, m * m, |x, y| Stencil { m }.eval(x, y)).unwrap();
    on_pools("stencil 64", || {
        let mut t = trace.clone();
        let mut x_bar = vec![0.5; x.len()];
        t.vjp(&x, &w, &mut x_bar);
        x_bar
    });
}

#[test]
fn array_reductions_are_the_same_bits_on_every_pool() {
    // above the arrays' parallel threshold (2^18 elements)
    let n = 300_000;
    let mut rng = Rng::new(9);
    let (a, b) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
    on_pools("sum, dot", || {
        let tape = Tape::new();
        let (xa, xb) = (tape.var_array(&a), tape.var_array(&b));
        vec![xa.sum().value(), xa.dot(&xb).value()]
    });
}
