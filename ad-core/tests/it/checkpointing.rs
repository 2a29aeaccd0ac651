//! Checkpointing: `checkpoint` and `revolve` give the gradient of plain taping (to 1e-14) while
//! recording a bounded tape, and `revolve_reverse` re-evaluates exactly Griewank's minimal
//! number of steps, `binomial_advances`, which is checked against a brute-force dynamic program.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::assert_all_close;
use ad_core::{
    binomial_advances, binomial_capacity, checkpoint, gradient, revolve, revolve_reverse, Dual,
    Function, Real, Step, Tape, Var,
};

/// Exact agreement up to rounding: `|a - b| <= 1e-14 max(1, |b|)` entry by entry.
const SAME: f64 = 1e-14;

// ---------------------------------------------------------------- checkpoint

/// A loop of nonlinear updates; counts its evaluations (on any scalar type).
#[derive(Clone, Default)]
struct Chaotic {
    evals: Arc<AtomicUsize>,
}

impl Function for Chaotic {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        self.evals.fetch_add(1, Ordering::SeqCst);
        let (mut a, mut b) = (x[0], x[1]);
        for k in 0..200 {
            let a_next = (a * 1.3).sin() + b * x[2];
            b = (a * b * 0.5).tanh() + (k as f64 * 0.01);
            a = a_next;
        }
        vec![a, b, a * b]
    }
}

fn loss<S: Real>(y: &[S]) -> S {
    y[0] * y[1] + y[2].sin() + y[0]
}

#[test]
fn checkpoint_gives_the_gradient_of_plain_taping() {
    let x = [0.3, -0.7, 0.45];
    let f = Chaotic::default();
    let evals = f.evals.clone();
    let (v_plain, g_plain) = gradient(|x| loss(&f.eval(x)), &x);
    assert_eq!(evals.swap(0, Ordering::SeqCst), 1);

    let (v, g) = gradient(|x| loss(&checkpoint(f.clone(), x)), &x);
    assert_eq!(v, v_plain);
    assert_all_close("checkpointed gradient", &g, &g_plain, SAME);
    // Once on f64 in the forward pass, once on a tape in the reverse sweep.
    assert_eq!(evals.swap(0, Ordering::SeqCst), 2);
}

#[test]
fn checkpoint_records_a_bounded_tape() {
    let x = [0.3, -0.7, 0.45];
    let plain = Tape::new();
    let xs = plain.vars(&x);
    let _ = Chaotic::default().eval(&xs);
    let tape = Tape::new();
    let xs = tape.vars(&x);
    let y = checkpoint(Chaotic::default(), &xs);
    // The inputs (one contiguous run) and the three outputs of one block node.
    assert_eq!(tape.len(), 3 + 3);
    assert!(
        plain.len() > 100 * tape.len(),
        "plain: {} nodes",
        plain.len()
    );
    assert_eq!(y.len(), 3);
}

#[test]
fn checkpoint_with_scattered_and_constant_inputs_and_nested() {
    /// Feeds a checkpoint its inputs out of order with a constant, and nests a checkpoint.
    struct Outer;
    impl Function for Outer {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            let y = checkpoint(Chaotic::default(), &[x[2], S::cst(0.2), x[0]]);
            vec![y[0] * x[1], y[2] + x[0]]
        }
    }
    let x = [0.3, -0.7, 0.45];
    let (v, g) = gradient(
        |x| {
            let y = checkpoint(Outer, &[x[1], x[0], x[2]]);
            loss(&[y[0], y[1], x[0] * y[1]])
        },
        &x,
    );
    /// `Outer` without checkpoints.
    fn plain<S: Real>(x: &[S]) -> Vec<S> {
        let y = Chaotic::default().eval(&[x[2], S::cst(0.2), x[0]]);
        vec![y[0] * x[1], y[2] + x[0]]
    }
    let (v_plain, g_plain) = gradient(
        |x| {
            let y = plain(&[x[1], x[0], x[2]]);
            loss(&[y[0], y[1], x[0] * y[1]])
        },
        &x,
    );
    assert_eq!(v, v_plain);
    assert_all_close("nested checkpoint gradient", &g, &g_plain, SAME);
}

#[test]
fn checkpoint_on_f64_and_dual_agrees_with_plain_code() {
    let x = [0.3, -0.7, 0.45];
    assert_eq!(
        checkpoint(Chaotic::default(), &x),
        Chaotic::default().eval(&x)
    );
    let xd: Vec<Dual<3>> = (0..3).map(|j| Dual::variable(x[j], j)).collect();
    let got = checkpoint(Chaotic::default(), &xd);
    let want = Chaotic::default().eval(&xd);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.v, w.v);
        assert_all_close("checkpointed Dual tangents", &g.d, &w.d, SAME);
    }
}

// ---------------------------------------------------------------- revolve

/// A forced, damped pendulum, one semi-implicit Euler step; `p = (g/L, damping, forcing)`.
/// The step index sets the forcing phase, so a wrong `k` would change the result. Counts its
/// evaluations on any scalar type.
#[derive(Clone, Default)]
struct Pendulum {
    evals: Arc<AtomicUsize>,
}

impl Pendulum {
    fn evals(&self) -> usize {
        self.evals.load(Ordering::SeqCst)
    }
}

impl Step for Pendulum {
    fn step<S: Real>(&self, k: usize, x: &[S], p: &[S], out: &mut [S]) {
        self.evals.fetch_add(1, Ordering::SeqCst);
        let dt = 0.01;
        let acc = -p[0] * x[0].sin() - p[1] * x[1] + p[2] * (k as f64 * dt * 3.0).cos();
        out[1] = x[1] + acc * dt;
        out[0] = x[0] + out[1] * dt;
    }
}

/// `n` steps, every one recorded: the reference.
fn iterate<S: Real>(step: &Pendulum, x0: &[S], p: &[S], n: usize) -> Vec<S> {
    let mut x = x0.to_vec();
    let mut out = x0.to_vec();
    for k in 0..n {
        step.step(k, &x, p, &mut out);
        std::mem::swap(&mut x, &mut out);
    }
    x
}

const X0: [f64; 2] = [0.8, -0.3];
const P: [f64; 3] = [9.0, 0.2, 1.5];

/// The initial state followed by the parameters.
fn inputs() -> Vec<f64> {
    X0.iter().chain(&P).copied().collect()
}

fn final_loss<S: Real>(x: &[S]) -> S {
    x[0] * x[0] + x[1] * 0.5
}

#[test]
fn revolve_gives_the_gradient_of_plain_taping() {
    let step = Pendulum::default();
    for n in [0, 1, 2, 5, 17, 64, 300] {
        for s in [1, 2, 3, 5, 8, 400] {
            let (v_plain, g_plain) = gradient(
                |v| final_loss(&iterate(&step, &v[..2], &v[2..], n)),
                &inputs(),
            );
            let (v, g) = gradient(
                |v| final_loss(&revolve(&step, &v[..2], &v[2..], n, s)),
                &inputs(),
            );
            assert_eq!(v, v_plain, "n = {n}, s = {s}");
            assert_all_close(&format!("n = {n}, s = {s}"), &g, &g_plain, SAME);
        }
    }
}

#[test]
fn revolve_on_f64_and_dual_agrees_with_plain_iteration() {
    let step = Pendulum::default();
    for n in [0, 1, 40, 300] {
        assert_eq!(
            revolve(&step, &X0, &P, n, 4),
            iterate(&step, &X0, &P, n),
            "n = {n}"
        );
        let v: Vec<Dual<2>> = inputs()
            .iter()
            .enumerate()
            .map(|(j, &x)| Dual::new(x, [j as f64 * 0.3 - 0.5, (j % 2) as f64]))
            .collect();
        let got = revolve(&step, &v[..2], &v[2..], n, 4);
        let want = iterate(&step, &v[..2], &v[2..], n);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.v, w.v, "n = {n}");
            assert_all_close(&format!("n = {n}: tangents"), &g.d, &w.d, SAME);
        }
    }
}

#[test]
fn revolve_records_a_bounded_tape() {
    let step = Pendulum::default();
    let tape = Tape::new();
    let v = tape.vars(&inputs());
    let y = revolve(&step, &v[..2], &v[2..], 1000, 10);
    // The five inputs (contiguous) and the block's two outputs, however many steps.
    assert_eq!(tape.len(), 5 + 2);
    assert_eq!(y.len(), 2);
}

/// `(x_bar, p_bar)` of `c . x_n` by plain taping.
fn plain_adjoints(step: &Pendulum, n: usize, c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let x = tape.vars(&X0);
    let p = tape.vars(&P);
    let y = iterate(step, &x, &p, n);
    let adj = tape.vjp(&y, c);
    (adj.wrt_all(&x), adj.wrt_all(&p))
}

/// Nodes one taped step records.
fn nodes_per_step(step: &Pendulum) -> usize {
    let tape = Tape::new();
    let x = tape.vars(&X0);
    let p = tape.vars(&P);
    let mut out = [Var::constant(0.0); 2];
    step.step(0, &x, &p, &mut out);
    tape.len()
}

#[test]
fn revolve_reverse_counts_match_the_binomial_optimum() {
    let c = [0.7, -1.1];
    for n in 1..=40 {
        for s in 1..=6 {
            let step = Pendulum::default();
            let (mut x_bar, mut p_bar) = (c.to_vec(), vec![0.0; 3]);
            let stats = revolve_reverse(&step, &X0, &P, n, s, &mut x_bar, &mut p_bar);
            let at = format!("n = {n}, s = {s}: {stats:?}");
            assert!(stats.max_snapshots <= s, "{at}");
            assert_eq!(stats.advances, binomial_advances(n, s), "{at}");
            assert_eq!(stats.taped_steps, n, "{at}");
            assert_eq!(step.evals(), stats.advances + stats.taped_steps, "{at}");
            assert_eq!(stats.max_tape_len, nodes_per_step(&step), "{at}");
            let (xb, pb) = plain_adjoints(&step, n, &c);
            assert_all_close(&format!("{at}: x_bar"), &x_bar, &xb, SAME);
            assert_all_close(&format!("{at}: p_bar"), &p_bar, &pb, SAME);
        }
    }
}

#[test]
fn revolve_reverse_adds_to_p_bar() {
    let step = Pendulum::default();
    let c = [0.7, -1.1];
    let (mut x_bar, mut p_bar) = (c.to_vec(), vec![1.0, 2.0, 3.0]);
    revolve_reverse(&step, &X0, &P, 25, 3, &mut x_bar, &mut p_bar);
    let (_, pb) = plain_adjoints(&step, 25, &c);
    let want: Vec<f64> = pb.iter().zip([1.0, 2.0, 3.0]).map(|(a, b)| a + b).collect();
    assert_all_close("p_bar", &p_bar, &want, SAME);
}

/// `T(l, s)`: the fewest step advances that reverse `l` steps holding at most `s` states, by
/// brute force over where the first snapshot goes.
fn dp_advances(l_max: usize, s_max: usize) -> Vec<Vec<usize>> {
    let mut t = vec![vec![0usize; s_max + 1]; l_max + 1];
    for l in 1..=l_max {
        t[l][1] = l * (l - 1) / 2;
        for s in 2..=s_max {
            t[l][s] = if l == 1 {
                0
            } else {
                (1..l).map(|k| k + t[l - k][s - 1] + t[k][s]).min().unwrap()
            };
        }
    }
    t
}

#[test]
fn binomial_advances_is_the_brute_force_optimum() {
    let t = dp_advances(40, 5);
    for (l, row) in t.iter().enumerate().skip(1) {
        for (s, &want) in row.iter().enumerate().skip(1) {
            assert_eq!(binomial_advances(l, s), want, "l = {l}, s = {s}");
        }
    }
    assert_eq!(binomial_advances(0, 3), 0);
}

#[test]
fn binomial_capacity_is_the_binomial_coefficient() {
    // Pascal's triangle: C(s + r, s).
    let mut c = vec![vec![1usize; 31]; 31];
    for s in 1..=30 {
        for r in 1..=30 {
            c[s][r] = c[s - 1][r] + c[s][r - 1];
        }
    }
    for (s, row) in c.iter().enumerate() {
        for (r, &want) in row.iter().enumerate() {
            assert_eq!(binomial_capacity(s, r), want, "s = {s}, r = {r}");
        }
    }
    assert_eq!(binomial_capacity(1000, 1000), usize::MAX);
}

#[test]
fn ten_thousand_steps_with_fifty_snapshots() {
    let (n, s) = (10_000, 50);
    let step = Pendulum::default();
    let c = [0.7, -1.1];
    let (mut x_bar, mut p_bar) = (c.to_vec(), vec![0.0; 3]);
    let stats = revolve_reverse(&step, &X0, &P, n, s, &mut x_bar, &mut p_bar);
    assert!(stats.max_snapshots <= 50, "{stats:?}");
    assert!(stats.max_snapshots <= 60, "the issue's bound: {stats:?}");
    assert_eq!(stats.advances, binomial_advances(n, s));
    assert_eq!(stats.taped_steps, n);
    assert_eq!(step.evals(), stats.advances + n);
    // Fewer than three re-evaluations per step with 50 snapshots (r = 3 repetitions).
    assert!(stats.advances < 3 * n, "{stats:?}");

    let (xb, pb) = plain_adjoints(&step, n, &c);
    assert_all_close("x_bar", &x_bar, &xb, SAME);
    assert_all_close("p_bar", &p_bar, &pb, SAME);

    // Through the tape: the forward pass runs n steps, the reverse sweep the same counts.
    let step = Pendulum::default();
    let (_, g) = gradient(
        |v| final_loss(&revolve(&step, &v[..2], &v[2..], n, s)),
        &inputs(),
    );
    assert_eq!(step.evals(), n + binomial_advances(n, s) + n);
    let (_, g_plain) = gradient(
        |v| final_loss(&iterate(&step, &v[..2], &v[2..], n)),
        &inputs(),
    );
    assert_all_close("gradient", &g, &g_plain, SAME);
}

#[test]
fn revolve_with_a_constant_initial_state() {
    // x0 constant, p on the tape: the block's inputs are not one run of tape nodes.
    let step = Pendulum::default();
    let (v, g) = gradient(
        |p| {
            let x0 = [Var::constant(X0[0]), Var::constant(X0[1])];
            final_loss(&revolve(&step, &x0, p, 120, 3))
        },
        &P,
    );
    let (v_plain, g_plain) = gradient(
        |p| {
            let x0 = [Var::constant(X0[0]), Var::constant(X0[1])];
            final_loss(&iterate(&step, &x0, p, 120))
        },
        &P,
    );
    assert_eq!(v, v_plain);
    assert_all_close("gradient in p", &g, &g_plain, SAME);
}

#[test]
fn revolve_reverse_of_zero_steps_does_nothing() {
    let step = Pendulum::default();
    let (mut x_bar, mut p_bar) = (vec![0.7, -1.1], vec![0.5, 0.0, 0.0]);
    let stats = revolve_reverse(&step, &X0, &P, 0, 3, &mut x_bar, &mut p_bar);
    assert_eq!((stats.advances, stats.taped_steps), (0, 0));
    assert_eq!((x_bar, p_bar), (vec![0.7, -1.1], vec![0.5, 0.0, 0.0]));
    assert_eq!(step.evals(), 0);
}
