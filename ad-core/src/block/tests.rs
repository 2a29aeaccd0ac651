//! Unit tests of blocks on `Var`s: blocks that do not read their inputs, input runs used in
//! place or gathered (in parallel chunks when long), inputs from two tapes.

use super::*;
use crate::testing::check_function;
use crate::{gradient, Function, Tape};

/// `y = W x` for a fixed `W`, built at its point like a solver block: the outputs are
/// computed when the block is made and `forward` does not read `x`.
struct AtPoint {
    w: Vec<[f64; 3]>,
    y: Vec<f64>,
}

impl AtPoint {
    fn new(x: &[f64]) -> Self {
        let w = vec![[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]];
        let y = w
            .iter()
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect();
        AtPoint { w, y }
    }
}

impl Block for AtPoint {
    type Residuals = ();
    fn reads_inputs(&self) -> bool {
        false
    }
    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.y);
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        for (r, yb) in self.w.iter().zip(y_bar) {
            for (xb, a) in x_bar.iter_mut().zip(r) {
                *xb += a * yb;
            }
        }
        Ok(())
    }
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        for (r, yd) in self.w.iter().zip(y_dot) {
            *yd = r.iter().zip(x_dot).map(|(a, b)| a * b).sum();
        }
        Ok(())
    }
}

/// Applies [`AtPoint`] to the inputs in the order `perm` (a permutation: non-contiguous
/// nodes) or as they are, then a nonlinear read-out.
struct F {
    perm: Option<[usize; 3]>,
}

impl Function for F {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let xs: Vec<S> = match self.perm {
            Some(p) => p.iter().map(|&i| x[i]).collect(),
            None => x.to_vec(),
        };
        let vals: Vec<f64> = xs.iter().map(|v| v.value()).collect();
        let mut y = [S::zero(); 2];
        S::apply_block(AtPoint::new(&vals), &xs, &mut y);
        vec![y[0] * y[1], y[0].sin()]
    }
}

#[test]
fn blocks_that_do_not_read_inputs_pass_the_shared_checker() {
    let x = [0.3, -1.2, 0.7];
    for perm in [None, Some([2, 0, 1]), Some([1, 1, 0])] {
        for seed in 0..3 {
            check_function(&F { perm }, &x, seed).assert_close(1e-8);
        }
    }
}

#[test]
fn non_contiguous_and_constant_inputs_are_copied_into_a_run() {
    // Inputs: a constant, a variable and an intermediate, in that order.
    let tape = Tape::new();
    let v = tape.vars(&[2.0, 5.0]);
    let u = v[1] * 3.0;
    let xs = [Var::constant(1.5), v[0], u];
    let vals: Vec<f64> = xs.iter().map(|x| x.value()).collect();
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(AtPoint::new(&vals), &xs, &mut y);
    assert_eq!(y[0].value(), 1.0 * 1.5 - 2.0 * 2.0 + 0.5 * 15.0);
    let adj = tape.gradient(y[0] + y[1] * 2.0);
    // d/dx = W^T (1, 2) = (1.5, 4.0, -1.5); v0 is x[1], v1 enters x[2] times 3.
    assert_eq!(adj.wrt(v[0]), 4.0);
    assert_eq!(adj.wrt(v[1]), -4.5);
}

#[test]
fn contiguous_inputs_are_used_in_place() {
    let tape = Tape::new();
    let xs = tape.vars(&[1.0, 2.0, 3.0]);
    let before = tape.len();
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(AtPoint::new(&[1.0, 2.0, 3.0]), &xs, &mut y);
    // Only the two outputs were recorded: no copies of the inputs.
    assert_eq!(tape.len(), before + 2);
    let (_, g) = gradient(|x| F { perm: None }.eval(x)[0], &[1.0, 2.0, 3.0]);
    assert_eq!(g.len(), 3);
}

/// `y = sum_i w_i x_i` with weights `w_i = i + 1`, output precomputed.
struct Weighted(f64);

impl Block for Weighted {
    type Residuals = ();
    fn reads_inputs(&self) -> bool {
        false
    }
    fn forward(&self, _: &[f64], y: &mut [f64]) {
        y[0] = self.0;
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        for (i, xb) in x_bar.iter_mut().enumerate() {
            *xb += (i + 1) as f64 * y_bar[0];
        }
        Ok(())
    }
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        y_dot[0] = x_dot
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1) as f64 * d)
            .sum();
        Ok(())
    }
}

#[test]
fn long_inputs_are_checked_in_parallel_chunks() {
    // Long enough for the parallel scan; a break of the run deep in a later chunk (two
    // inputs swapped), or one input from another position, must be found.
    let n = 300_000;
    let vals: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
    let value: f64 = vals
        .iter()
        .enumerate()
        .map(|(i, v)| (i + 1) as f64 * v)
        .sum();
    for brk in [
        None,
        Some((n - 3, n - 2)),
        Some((70_000, 200_001)),
        Some((0, 1)),
    ] {
        let tape = Tape::new();
        let xs = tape.vars(&vals);
        let mut inputs = xs.clone();
        if let Some((a, b)) = brk {
            inputs.swap(a, b);
        }
        let before = tape.len();
        let mut y = [Var::constant(0.0)];
        let w = inputs
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) as f64 * v.value())
            .sum();
        Var::apply_block(Weighted(w), &inputs, &mut y);
        let copies = if brk.is_some() { n } else { 0 };
        assert_eq!(tape.len(), before + copies + 1);
        let adj = tape.gradient(y[0]);
        let pos = |i: usize| match brk {
            Some((a, b)) if i == a => b,
            Some((a, b)) if i == b => a,
            _ => i,
        };
        for i in [0, 1, 70_000, 200_001, n - 3, n - 2, n - 1] {
            assert_eq!(adj.wrt(xs[i]), (pos(i) + 1) as f64, "input {i}");
        }
        if brk.is_none() {
            assert_eq!(y[0].value(), value);
        }
    }
}

/// As [`Weighted`], reading its inputs: `forward` computes the output from `x`.
struct WeightedReads;

impl Block for WeightedReads {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = x.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v).sum();
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        Weighted(0.0).vjp(&(), y_bar, x_bar)?;
        Ok(())
    }
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.forward(x_dot, y_dot);
        Ok(())
    }
}

#[test]
fn long_inputs_are_gathered_in_parallel_chunks() {
    // `Tape::vars` and the gather of a reading block both work in parallel chunks here:
    // the values must arrive in order, and a break of the run must still be found.
    let n = 300_000;
    let vals: Vec<f64> = (0..n).map(|i| ((i * 13) % 11) as f64 - 5.0).collect();
    for brk in [None, Some((n - 3, n - 2)), Some((70_000, 200_001))] {
        let tape = Tape::new();
        let first = tape.var(0.0);
        let xs = tape.vars(&vals);
        for (i, v) in xs.iter().enumerate() {
            assert_eq!(
                (v.value(), v.index()),
                (vals[i], first.index() + 1 + i as u32)
            );
        }
        let mut inputs = xs.clone();
        if let Some((a, b)) = brk {
            inputs.swap(a, b);
        }
        let before = tape.len();
        let mut y = [Var::constant(0.0)];
        Var::apply_block(WeightedReads, &inputs, &mut y);
        let copies = if brk.is_some() { n } else { 0 };
        assert_eq!(tape.len(), before + copies + 1);
        let want: f64 = inputs
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) as f64 * v.value())
            .sum();
        assert_eq!(y[0].value(), want);
        let adj = tape.gradient(y[0]);
        let pos = |i: usize| match brk {
            Some((a, b)) if i == a => b,
            Some((a, b)) if i == b => a,
            _ => i,
        };
        for i in [0, 1, 70_000, 200_001, n - 3, n - 2, n - 1] {
            assert_eq!(adj.wrt(xs[i]), (pos(i) + 1) as f64, "input {i}");
        }
    }
}

#[test]
#[should_panic(expected = "another tape")]
fn inputs_from_two_tapes_panic() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let (a, b) = (t1.var(1.0), t2.var(2.0));
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(AtPoint::new(&[1.0, 2.0, 0.0]), &[a, b, a], &mut y);
}
