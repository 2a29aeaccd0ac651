//! Hunting for wrong replays: proptest generates random straight-line programs — a body of
//! operations repeated for every element (so the trace finds runs), reading the element's own
//! input, shifted inputs (strided runs), gathered inputs (a scattered permutation), a
//! parameter broadcast to every repetition, per-element constants and earlier results of the
//! body; then a second loop that reads the first loop's results (runs reading each other) and
//! a short recurrence — records each through `ad_core::trace::Trace` at one point and replays
//! it at another. The replayed values must equal the `f64` evaluation bit for bit, `J^T w`
//! must equal the tape's to 1e-12 (relative to the product's scale), and the tape's product
//! must agree with a central difference of the `f64` program along a random direction, so a
//! wrong partial in the replay or in the derivative table both fail.

use ad_core::testing::Rng;
use ad_core::trace::Trace;
use ad_core::{Real, Tape, Var};
use proptest::prelude::*;

/// Where an operand comes from, for element `i` of `n`.
#[derive(Clone, Copy, Debug)]
enum Operand {
    /// An earlier result of this element's body (`k` modulo the results so far; the element's
    /// own input when there is none).
    Earlier(usize),
    /// Input `(i + s) % n`.
    Shift(usize),
    /// Input `(a i + 1) % n` (scattered).
    Gather(usize),
    /// The parameter (the last input), the same for every element.
    Param,
    /// The constant `c + 0.01 i`, different for every element.
    Const(f64),
}

/// One operation of the body.
#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
    /// `a / (1 + b²)`
    SafeDiv,
    Sin,
    Tanh,
    /// `exp(sin a)`
    ExpSin,
    /// `sqrt(1 + a²)`
    Norm,
    Max,
    Min,
    /// `a³` (`mul_add` is left out: the trace replays it rounded twice, by contract)
    Cube,
    /// `(1 + a²)^(b / 2)` (positive base)
    Powf,
}

#[derive(Clone, Debug)]
struct Program {
    /// Elements (the inputs are `n` values and one parameter).
    n: usize,
    body: Vec<(Op, Operand, Operand)>,
    /// Whether the second loop and the recurrence run.
    second: bool,
}

impl Program {
    fn n_out(&self) -> usize {
        if self.second {
            self.n + 1
        } else {
            self.n
        }
    }

    fn eval<S: Real>(&self, x: &[S], y: &mut [S]) {
        let n = self.n;
        let p = x[n];
        let mut first = Vec::with_capacity(n);
        for i in 0..n {
            let mut vals: Vec<S> = Vec::with_capacity(self.body.len());
            let get = |o: Operand, vals: &[S]| match o {
                Operand::Earlier(_) if vals.is_empty() => x[i],
                Operand::Earlier(k) => vals[k % vals.len()],
                Operand::Shift(s) => x[(i + s) % n],
                Operand::Gather(a) => x[(a * i + 1) % n],
                Operand::Param => p,
                Operand::Const(c) => S::cst(c + 0.01 * i as f64),
            };
            for &(op, a, b) in &self.body {
                let (a, b) = (get(a, &vals), get(b, &vals));
                vals.push(apply(op, a, b));
            }
            first.push(vals[vals.len() - 1]);
        }
        if !self.second {
            y.copy_from_slice(&first);
            return;
        }
        for i in 0..n {
            y[i] = first[i] * first[(i + 1) % n] + x[i] * p;
        }
        // a recurrence: cannot be a run
        let mut acc = S::zero();
        for v in &first {
            acc = (acc * 0.5 + *v).sin();
        }
        y[n] = acc;
    }
}

fn apply<S: Real>(op: Op, a: S, b: S) -> S {
    match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::SafeDiv => a / (b * b + 1.0),
        Op::Sin => a.sin(),
        Op::Tanh => a.tanh(),
        Op::ExpSin => a.sin().exp(),
        Op::Norm => (a * a + 1.0).sqrt(),
        Op::Max => a.max(b),
        Op::Min => a.min(b),
        Op::Cube => a.powi(3),
        Op::Powf => (a * a + 1.0).powf(b * 0.5),
    }
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => (0usize..8).prop_map(Operand::Earlier),
        2 => (0usize..5).prop_map(Operand::Shift),
        1 => (2usize..9).prop_map(Operand::Gather),
        1 => Just(Operand::Param),
        1 => (-1.0f64..1.0).prop_map(Operand::Const),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Add),
        Just(Op::Sub),
        Just(Op::Mul),
        Just(Op::SafeDiv),
        Just(Op::Sin),
        Just(Op::Tanh),
        Just(Op::ExpSin),
        Just(Op::Norm),
        Just(Op::Max),
        Just(Op::Min),
        Just(Op::Cube),
        Just(Op::Powf),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (
        1usize..40,
        prop::collection::vec((op(), operand(), operand()), 1..10),
        any::<bool>(),
    )
        .prop_map(|(n, body, second)| Program { n, body, second })
}

/// `J^T w` by the tape at `x`.
fn tape_vjp(prog: &Program, x: &[f64], w: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let xs = tape.vars(x);
    let mut ys = vec![Var::constant(0.0); prog.n_out()];
    prog.eval(&xs, &mut ys);
    tape.vjp(&ys, w).wrt_all(&xs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn random_programs_replay_like_the_tape(prog in program(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let n_in = prog.n + 1;
        let n_out = prog.n_out();
        let x0 = rng.vec(n_in, -1.0, 1.0);
        let mut trace = Trace::record(&x0, n_out, |x, y| prog.eval(x, y))
            .map_err(|e| TestCaseError::fail(format!("no trace: {e}")))?;
        // replay elsewhere
        let x = rng.vec(n_in, -1.0, 1.0);
        let mut want = vec![0.0; n_out];
        prog.eval(&x, &mut want);
        let mut got = vec![0.0; n_out];
        trace.eval(&x, &mut got);
        for i in 0..n_out {
            prop_assert!(
                got[i].to_bits() == want[i].to_bits(),
                "output {} replayed {:e}, f64 {:e}", i, got[i], want[i]
            );
        }
        let w = rng.vec(n_out, -1.0, 1.0);
        let by_tape = tape_vjp(&prog, &x, &w);
        let mut by_trace = vec![0.0; n_in];
        trace.vjp(&x, &w, &mut by_trace);
        let scale = by_tape.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for j in 0..n_in {
            prop_assert!(
                (by_trace[j] - by_tape[j]).abs() <= 1e-12 * scale,
                "(J^T w)_{}: trace {:e}, tape {:e}", j, by_trace[j], by_tape[j]
            );
        }
        // the tape against a central difference of w · f along v
        let v = rng.vec(n_in, -1.0, 1.0);
        let h = 1e-6;
        let along = |s: f64| {
            let xs: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + s * b).collect();
            let mut y = vec![0.0; n_out];
            prog.eval(&xs, &mut y);
            y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
        };
        let fd = (along(h) - along(-h)) / (2.0 * h);
        let exact: f64 = by_tape.iter().zip(&v).map(|(a, b)| a * b).sum();
        // max/min are kinks: skip the comparison when one may lie within the step
        let kinked = prog.body.iter().any(|(op, _, _)| matches!(op, Op::Max | Op::Min));
        if !kinked {
            prop_assert!(
                (fd - exact).abs() <= 1e-6 * (1.0 + exact.abs()),
                "directional derivative: tape {:e}, central difference {:e}", exact, fd
            );
        }
    }
}
