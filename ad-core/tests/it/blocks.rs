//! Custom rules: a [`Block`] applied with `Real::apply_block` must give the same values and
//! derivatives on `f64`, `Var` and `Dual` as the same computation written as ordinary code —
//! with inputs that are not one contiguous run of tape nodes, with constants among them, with
//! outputs used several times, and inside a loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::{assert_all_close, assert_close, fd_jacobian};
use ad_core::testing::check_function;
use ad_core::{hessian_vector_product, Block, BlockError, Dual, Function, Real, Tape, Var};
use num_traits::Float;
use proptest::prelude::*;

/// How often each pass of a block ran.
#[derive(Clone, Default)]
struct Calls {
    forward: Arc<AtomicUsize>,
    vjp: Arc<AtomicUsize>,
    jvp: Arc<AtomicUsize>,
}

impl Calls {
    fn get(&self) -> [usize; 3] {
        [&self.forward, &self.vjp, &self.jvp].map(|c| c.load(Ordering::SeqCst))
    }
}

/// `y0 = x0 x1 + sin x2`, `y1 = exp(x0) x2`, with hand-written rules; counts its passes.
#[derive(Clone, Default)]
struct Nonlinear {
    calls: Calls,
}

impl Block for Nonlinear {
    /// The inputs and `exp(x0)`.
    type Residuals = ([f64; 3], f64);

    fn forward(&self, x: &[f64], y: &mut [f64]) -> Self::Residuals {
        self.calls.forward.fetch_add(1, Ordering::SeqCst);
        let e = x[0].exp();
        y[0] = x[0] * x[1] + x[2].sin();
        y[1] = e * x[2];
        ([x[0], x[1], x[2]], e)
    }

    fn vjp(
        &self,
        &(x, e): &Self::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError> {
        self.calls.vjp.fetch_add(1, Ordering::SeqCst);
        x_bar[0] += y_bar[0] * x[1] + y_bar[1] * e * x[2];
        x_bar[1] += y_bar[0] * x[0];
        x_bar[2] += y_bar[0] * x[2].cos() + y_bar[1] * e;
        Ok(())
    }

    fn jvp(
        &self,
        &(x, e): &Self::Residuals,
        x_dot: &[f64],
        y_dot: &mut [f64],
    ) -> Result<(), BlockError> {
        self.calls.jvp.fetch_add(1, Ordering::SeqCst);
        y_dot[0] = x_dot[0] * x[1] + x[0] * x_dot[1] + x[2].cos() * x_dot[2];
        y_dot[1] = e * x[2] * x_dot[0] + e * x_dot[2];
        Ok(())
    }
}

/// What [`Nonlinear`] computes, as ordinary generic code.
fn nonlinear_plain<S: Real>(x: &[S]) -> [S; 2] {
    [x[0] * x[1] + x[2].sin(), x[0].exp() * x[2]]
}

fn nonlinear_block<S: Real>(x: &[S]) -> [S; 2] {
    let mut y = [S::zero(); 2];
    S::apply_block(Nonlinear::default(), x, &mut y);
    y
}

/// A function of four inputs that feeds the block a permuted, repeated and constant-padded
/// selection of them and uses each output several times; `BLOCK` picks the block or the plain
/// code.
struct Mixed<const BLOCK: bool>;

impl<const BLOCK: bool> Function for Mixed<BLOCK> {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let apply = |inputs: &[S]| {
            if BLOCK {
                nonlinear_block(inputs)
            } else {
                nonlinear_plain(inputs)
            }
        };
        // Contiguous inputs.
        let a = apply(&x[0..3]);
        // Non-contiguous, out of order.
        let b = apply(&[x[3], x[0], x[2]]);
        // A repeated input and a constant.
        let c = apply(&[x[1], S::cst(0.7), x[1]]);
        // The outputs of another block (contiguous on the tape) and an expression.
        let d = apply(&[a[0], a[1], x[3] * x[0]]);
        vec![
            a[0] * a[1] + b[0] * a[0],
            b[1] * b[1] - c[0] * a[1] + c[1],
            d[0] * d[1] + d[0] + x[2],
        ]
    }
}

const X: [f64; 4] = [0.4, -0.9, 1.3, 0.6];

#[test]
fn f64_var_and_dual_agree_with_plain_code() {
    let want = Mixed::<false>.eval(&X);
    let got = Mixed::<true>.eval(&X);
    assert_all_close("f64 values", &got, &want, 1e-15);

    // Reverse mode: one row of the Jacobian per output.
    let fd = fd_jacobian(|x| Mixed::<false>.eval(x), &X, 1e-3);
    let tape_b = Tape::new();
    let xb = tape_b.vars(&X);
    let yb = Mixed::<true>.eval(&xb);
    let tape_p = Tape::new();
    let xp = tape_p.vars(&X);
    let yp = Mixed::<false>.eval(&xp);
    for i in 0..3 {
        let mut c = [0.0; 3];
        c[i] = 1.0;
        let rb = tape_b.vjp(&yb, &c).wrt_all(&xb);
        let rp = tape_p.vjp(&yp, &c).wrt_all(&xp);
        assert_close(&format!("Var value {i}"), yb[i].value(), want[i], 1e-15);
        assert_all_close(&format!("row {i}: block vs plain"), &rb, &rp, 1e-14);
        assert_all_close(&format!("row {i}: block vs FD"), &rb, &fd[i], 1e-8);
    }

    // Forward mode, all four directions at once.
    let xd: Vec<Dual<4>> = (0..4).map(|j| Dual::variable(X[j], j)).collect();
    let db = Mixed::<true>.eval(&xd);
    let dp = Mixed::<false>.eval(&xd);
    for i in 0..3 {
        assert_close(&format!("Dual value {i}"), db[i].v, want[i], 1e-15);
        assert_all_close(
            &format!("Dual row {i}: block vs plain"),
            &db[i].d,
            &dp[i].d,
            1e-14,
        );
    }
}

#[test]
fn block_nodes_on_the_tape() {
    let tape = Tape::new();
    let x = tape.vars(&X);
    let n0 = tape.len();
    // Contiguous inputs: only the outputs are new nodes.
    let y = nonlinear_block(&x[0..3]);
    assert_eq!(tape.len(), n0 + 2);
    // Non-contiguous inputs (or constants among them) are copied into a contiguous run first.
    let z = nonlinear_block(&[x[3], Var::constant(2.0), x[1]]);
    assert_eq!(tape.len(), n0 + 2 + 3 + 2);
    // Constant inputs only: nothing is recorded and the outputs are constants.
    let w = nonlinear_block(&[Var::constant(1.0), Var::constant(2.0), Var::constant(3.0)]);
    assert_eq!(tape.len(), n0 + 2 + 3 + 2);
    assert!(w.iter().all(|v| v.is_constant()));
    assert_eq!(w.map(|v| v.value()), nonlinear_plain(&[1.0, 2.0, 3.0]));
    // The adjoints flow through both blocks.
    let adj = tape.gradient(y[0] * z[1]);
    let tape2 = Tape::new();
    let xs = tape2.vars(&X);
    let y2 = nonlinear_plain(&xs[0..3]);
    let z2 = nonlinear_plain(&[xs[3], Var::constant(2.0), xs[1]]);
    let adj2 = tape2.gradient(y2[0] * z2[1]);
    assert_all_close("gradient", &adj.wrt_all(&x), &adj2.wrt_all(&xs), 1e-14);
}

#[test]
fn passes_run_as_documented() {
    let block = Nonlinear::default();
    let calls = block.calls.clone();
    let mut y = [0.0; 2];
    f64::apply_block(block, &X[..3], &mut y);
    assert_eq!(calls.get(), [1, 0, 0], "f64 runs forward only");

    let block = Nonlinear::default();
    let calls = block.calls.clone();
    let tape = Tape::new();
    let x = tape.vars(&X[..3]);
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(block, &x, &mut y);
    assert_eq!(calls.get(), [1, 0, 0], "Var records without a reverse step");
    let out = y[0] * y[1];
    let g1 = tape.gradient(out).wrt_all(&x);
    assert_eq!(calls.get(), [1, 1, 0], "one vjp per reverse sweep");
    let g2 = tape.gradient(out).wrt_all(&x);
    assert_eq!(calls.get(), [1, 2, 0]);
    assert_eq!(g1, g2, "a tape can be swept twice");

    let block = Nonlinear::default();
    let calls = block.calls.clone();
    let xd: Vec<Dual<3>> = (0..3).map(|j| Dual::variable(X[j], j)).collect();
    let mut yd = [Dual::<3>::constant(0.0); 2];
    <Dual<3> as Real>::apply_block(block, &xd, &mut yd);
    assert_eq!(calls.get(), [1, 0, 3], "Dual<3> runs one jvp per direction");
}

#[test]
fn an_input_used_inside_and_outside_a_block_accumulates_its_adjoint() {
    let tape = Tape::new();
    let x = tape.vars(&X[..3]);
    let y = nonlinear_block(&x);
    let out = y[0] * x[0] + y[1] * x[2].sin() + x[1];
    let g = tape.gradient(out).wrt_all(&x);
    let fd = fd_jacobian(
        |x| {
            let y = nonlinear_plain(x);
            vec![y[0] * x[0] + y[1] * x[2].sin() + x[1]]
        },
        &X[..3],
        1e-3,
    );
    assert_all_close("gradient", &g, &fd[0], 1e-9);
}

// ---------------------------------------------------------------- a block inside a loop

/// One step `z' = tanh(W z + b)` of a small recurrent map, fixed `W`; inputs `(z0, z1, b0, b1)`.
#[derive(Clone, Copy)]
struct RecurrentStep;

const W: [[f64; 2]; 2] = [[0.9, -0.4], [0.3, 0.8]];

impl Block for RecurrentStep {
    /// The outputs `z'`.
    type Residuals = [f64; 2];

    fn forward(&self, x: &[f64], y: &mut [f64]) -> [f64; 2] {
        for i in 0..2 {
            y[i] = (W[i][0] * x[0] + W[i][1] * x[1] + x[2 + i]).tanh();
        }
        [y[0], y[1]]
    }

    fn vjp(&self, z: &[f64; 2], y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        for i in 0..2 {
            let s = y_bar[i] * (1.0 - z[i] * z[i]);
            x_bar[0] += W[i][0] * s;
            x_bar[1] += W[i][1] * s;
            x_bar[2 + i] += s;
        }
        Ok(())
    }

    fn jvp(&self, z: &[f64; 2], x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        for i in 0..2 {
            let lin = W[i][0] * x_dot[0] + W[i][1] * x_dot[1] + x_dot[2 + i];
            y_dot[i] = (1.0 - z[i] * z[i]) * lin;
        }
        Ok(())
    }
}

/// Ten recurrent steps from `z = (x0, x1)` with bias `(x2, x3)`, by the block or by plain code.
struct Recurrent<const BLOCK: bool>;

impl<const BLOCK: bool> Function for Recurrent<BLOCK> {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let mut z = [x[0], x[1]];
        for _ in 0..10 {
            let inputs = [z[0], z[1], x[2], x[3]];
            if BLOCK {
                S::apply_block(RecurrentStep, &inputs, &mut z);
            } else {
                z = [0, 1].map(|i| (z[0] * W[i][0] + z[1] * W[i][1] + inputs[2 + i]).tanh());
            }
        }
        vec![z[0] * z[1], z[0] - z[1]]
    }
}

#[test]
fn block_inside_a_loop() {
    let x = [0.5, -0.3, 0.2, 0.1];
    assert_all_close(
        "values",
        &Recurrent::<true>.eval(&x),
        &Recurrent::<false>.eval(&x),
        1e-15,
    );
    let fd = fd_jacobian(|x| Recurrent::<false>.eval(x), &x, 1e-3);
    for i in 0..2 {
        let mut c = [0.0; 2];
        c[i] = 1.0;
        let (_, gb) = ad_core::vjp(&Recurrent::<true>, &x, &c);
        let (_, gp) = ad_core::vjp(&Recurrent::<false>, &x, &c);
        assert_all_close(&format!("row {i}: block vs plain"), &gb, &gp, 1e-14);
        assert_all_close(&format!("row {i}: block vs FD"), &gb, &fd[i], 1e-7);
    }
    let (_, jac_block) = ad_core::jacobian(&Recurrent::<true>, &x);
    for i in 0..2 {
        assert_all_close(&format!("jacobian row {i}"), &jac_block[i], &fd[i], 1e-7);
    }
    // The tape holds the inputs; the first step's outputs (its inputs are the contiguous
    // leaves); per later step a copy of the four inputs (the bias is not next to z) and two
    // outputs; the final two expressions: a bounded number of nodes, whatever the block
    // computes inside.
    let tape = Tape::new();
    let xs = tape.vars(&x);
    let _ = Recurrent::<true>.eval(&xs);
    assert_eq!(tape.len(), 4 + 2 + 9 * (4 + 2) + 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn check_function_on_functions_with_blocks(
        x in prop::collection::vec(-1.5..1.5f64, 4),
        seed in any::<u64>(),
    ) {
        check_function(&Mixed::<true>, &x, seed).assert_close(1e-7);
        check_function(&Recurrent::<true>, &x, seed).assert_close(1e-7);
    }
}

// ---------------------------------------------------------------- failures are detected

/// A block whose reverse rule is wrong (the partial of y0 in x1 is dropped).
struct WrongVjp;

impl Block for WrongVjp {
    type Residuals = ([f64; 3], f64);
    fn forward(&self, x: &[f64], y: &mut [f64]) -> Self::Residuals {
        Nonlinear::default().forward(x, y)
    }
    fn vjp(
        &self,
        &(x, e): &Self::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError> {
        x_bar[0] += y_bar[0] * x[1] + y_bar[1] * e * x[2];
        x_bar[2] += y_bar[0] * x[2].cos() + y_bar[1] * e;
        Ok(())
    }
    fn jvp(&self, r: &Self::Residuals, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        Nonlinear::default().jvp(r, x_dot, y_dot)
    }
}

struct UsesWrongVjp;

impl Function for UsesWrongVjp {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let mut y = vec![S::zero(); 2];
        S::apply_block(WrongVjp, x, &mut y);
        y
    }
}

#[test]
fn the_gradient_checker_catches_a_wrong_block_rule() {
    let c = check_function(&UsesWrongVjp, &X[..3], 7);
    assert!(c.error(1.0) > 1e-3, "a wrong vjp went unnoticed: {c:?}");
    assert!((c.forward - c.finite_difference).abs() < 1e-8, "{c:?}");
}

/// A block without a second-order rule (`Block::jvp_nested`) under a Hessian-vector product
/// says so (`try_hessian_vector_product` returns it as an error).
#[test]
#[should_panic(expected = "has no second-order rule")]
fn blocks_without_a_second_order_rule_say_so() {
    hessian_vector_product(&Mixed::<true>, &X, &[1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn a_tape_releases_its_blocks_on_clear_and_drop() {
    let block = Nonlinear::default();
    let owner = block.calls.forward.clone();
    let mut tape = Tape::new();
    let first = {
        let x = tape.vars(&X[..3]);
        let mut y = [Var::constant(0.0); 2];
        Var::apply_block(block.clone(), &x, &mut y);
        assert_eq!(Arc::strong_count(&owner), 3, "the tape keeps the block");
        tape.gradient(y[0] * y[1]).wrt_all(&x)
    };
    tape.clear();
    assert_eq!(Arc::strong_count(&owner), 2, "clear drops the block");
    // The cleared tape records blocks afresh and gives the same gradient.
    let x = tape.vars(&X[..3]);
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(block.clone(), &x, &mut y);
    assert_eq!(tape.gradient(y[0] * y[1]).wrt_all(&x), first);
    drop(tape);
    assert_eq!(Arc::strong_count(&owner), 2, "drop releases the block");
}

// ---- blocks that write the adjoints of long input runs (`Block::vjp_write`) ----

/// `y0 = sum_i w_i x_i`, `y1 = sum_i (i mod 3) x_i`; counts `vjp` / `vjp_write` calls.
/// `WRITE`: overrides `vjp_write` (else the default: zero, then `vjp`).
#[derive(Clone)]
struct Linear<const WRITE: bool> {
    w: Arc<Vec<f64>>,
    adds: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
}

impl<const WRITE: bool> Linear<WRITE> {
    fn new(n: usize) -> Self {
        Linear {
            w: Arc::new((0..n).map(|i| 0.5 + (i % 7) as f64).collect()),
            adds: Arc::default(),
            writes: Arc::default(),
        }
    }

    fn counts(&self) -> [usize; 2] {
        [&self.adds, &self.writes].map(|c| c.load(Ordering::SeqCst))
    }

    /// `J^T y_bar`, entry `i`.
    fn jt(&self, i: usize, y_bar: &[f64]) -> f64 {
        self.w[i] * y_bar[0] + (i % 3) as f64 * y_bar[1]
    }
}

impl<const WRITE: bool> Block for Linear<WRITE> {
    type Residuals = ();

    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = x.iter().zip(self.w.iter()).map(|(a, b)| a * b).sum();
        y[1] = x.iter().enumerate().map(|(i, a)| (i % 3) as f64 * a).sum();
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        self.adds.fetch_add(1, Ordering::SeqCst);
        for (i, xb) in x_bar.iter_mut().enumerate() {
            *xb += self.jt(i, y_bar);
        }
        Ok(())
    }

    fn vjp_write(&self, r: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if WRITE {
            for (i, xb) in x_bar.iter_mut().enumerate() {
                *xb = self.jt(i, y_bar);
            }
        } else {
            x_bar.fill(0.0);
            self.vjp(r, y_bar, x_bar)?;
            self.adds.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.forward(x_dot, y_dot);
        Ok(())
    }
}

/// Long enough for a block to write its input run (`WRITE_MIN` is 4096).
const LONG: usize = 5000;

fn input_values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect()
}

fn apply_linear<'t, const W: bool>(b: &Linear<W>, x: &[Var<'t>]) -> [Var<'t>; 2] {
    let mut y = [Var::constant(0.0); 2];
    Var::apply_block(b.clone(), x, &mut y);
    y
}

/// Sweeps `loss` on `tape` twice into one adjoint vector (the second sweep finds the first's
/// values in it) with seeds 2 and 1; returns the second gradient w.r.t. `xs`, checking the
/// first is twice it.
fn two_sweeps(tape: &Tape, loss: Var<'_>, xs: &[Var<'_>]) -> Vec<f64> {
    let mut adj = ad_core::Adjoints::default();
    tape.vjp_into(&[loss], &[2.0], &mut adj);
    let g2 = adj.wrt_all(xs);
    tape.vjp_into(&[loss], &[1.0], &mut adj);
    let g1 = adj.wrt_all(xs);
    for (a, b) in g2.iter().zip(&g1) {
        assert_close("first sweep", *a, 2.0 * b, 1e-14);
    }
    g1
}

#[test]
fn a_block_writes_the_adjoints_of_a_long_input_run_only_it_reads() {
    let vals = input_values(LONG);
    for write in [true, false] {
        let tape = Tape::new();
        let xs = tape.vars(&vals);
        let (g, counts) = if write {
            let b = Linear::<true>::new(LONG);
            let y = apply_linear(&b, &xs);
            (two_sweeps(&tape, y[0] * 3.0 + y[1], &xs), b.counts())
        } else {
            let b = Linear::<false>::new(LONG);
            let y = apply_linear(&b, &xs);
            let g = two_sweeps(&tape, y[0] * 3.0 + y[1], &xs);
            // the default `vjp_write` zeroes the stale run before adding
            (g, b.counts())
        };
        assert_eq!(
            counts,
            [0, 2],
            "write = {write}: the block wrote its run twice"
        );
        let b = Linear::<true>::new(LONG);
        for (i, gi) in g.iter().enumerate() {
            assert_eq!(*gi, b.jt(i, &[3.0, 1.0]), "write = {write}, input {i}");
        }
    }
}

#[test]
fn uses_of_the_run_swept_before_the_block_make_it_add() {
    let vals = input_values(LONG);
    let b = Linear::<true>::new(LONG);
    let expect = |i: usize| b.jt(i, &[1.0, 1.0]);
    // (a) a scalar use recorded after the block
    {
        let b = Linear::<true>::new(LONG);
        let tape = Tape::new();
        let xs = tape.vars(&vals);
        let y = apply_linear(&b, &xs);
        let g = two_sweeps(&tape, y[0] + y[1] + xs[10] * xs[20], &xs);
        assert_eq!(b.counts(), [2, 0]);
        for (i, gi) in g.iter().enumerate() {
            let extra = match i {
                10 => vals[20],
                20 => vals[10],
                _ => 0.0,
            };
            assert_close("gradient", *gi, expect(i) + extra, 1e-14);
        }
    }
    // (b) a later block reading part of the run: it writes, the earlier one adds
    {
        let (b1, b2) = (Linear::<true>::new(LONG), Linear::<true>::new(LONG));
        let tape = Tape::new();
        let xs = tape.vars(&input_values(LONG + 1000));
        let y1 = apply_linear(&b1, &xs[..LONG]);
        let y2 = apply_linear(&b2, &xs[1000..]);
        let g = two_sweeps(&tape, y1[0] + y1[1] + y2[0] + y2[1], &xs);
        assert_eq!(b1.counts(), [2, 0]);
        assert_eq!(b2.counts(), [0, 2]);
        for (i, gi) in g.iter().enumerate() {
            let a = if i < LONG { expect(i) } else { 0.0 };
            let c = if i >= 1000 { expect(i - 1000) } else { 0.0 };
            assert_close("gradient", *gi, a + c, 1e-14);
        }
    }
    // (c) a seed on an input of the run
    {
        let b = Linear::<true>::new(LONG);
        let tape = Tape::new();
        let xs = tape.vars(&vals);
        let y = apply_linear(&b, &xs);
        let adj = tape.vjp(&[y[0] + y[1], xs[7]], &[1.0, 5.0]);
        assert_eq!(b.counts(), [1, 0]);
        assert_close("gradient", adj.wrt(xs[7]), expect(7) + 5.0, 1e-14);
        assert_close("gradient", adj.wrt(xs[8]), expect(8), 1e-14);
    }
}

#[test]
fn uses_of_the_run_swept_after_the_block_add_to_what_it_wrote() {
    let vals = input_values(2 * LONG);
    let (b1, b2) = (Linear::<true>::new(LONG), Linear::<true>::new(LONG));
    let tape = Tape::new();
    let xs = tape.vars(&vals);
    let before = xs[10].sin() + xs[LONG + 3] * 4.0;
    // two disjoint runs of one input event, one block each: both write
    let y1 = apply_linear(&b1, &xs[..LONG]);
    let y2 = apply_linear(&b2, &xs[LONG..]);
    let g = two_sweeps(&tape, y1[0] + y2[1] * 2.0 + before, &xs);
    assert_eq!(b1.counts(), [0, 2]);
    assert_eq!(b2.counts(), [0, 2]);
    for (i, gi) in g.iter().enumerate() {
        let mut want = if i < LONG {
            b1.jt(i, &[1.0, 0.0])
        } else {
            b2.jt(i - LONG, &[0.0, 2.0])
        };
        if i == 10 {
            want += vals[10].cos();
        }
        if i == LONG + 3 {
            want += 4.0;
        }
        assert_close("gradient", *gi, want, 1e-14);
    }
}

#[test]
fn short_or_copied_input_runs_are_added_to() {
    // A short run, and a long run of copies (non-contiguous inputs): the plain `vjp`.
    let vals = input_values(LONG);
    let tape = Tape::new();
    let xs = tape.vars(&vals);
    let short = Linear::<true>::new(100);
    let ys = apply_linear(&short, &xs[..100]);
    let rev: Vec<Var> = xs.iter().rev().copied().collect();
    let long = Linear::<true>::new(LONG);
    let yl = apply_linear(&long, &rev);
    let g = two_sweeps(&tape, ys[0] + yl[1], &xs);
    assert_eq!(short.counts(), [2, 0]);
    assert_eq!(long.counts(), [2, 0]);
    for (i, gi) in g.iter().enumerate() {
        let a = if i < 100 {
            short.jt(i, &[1.0, 0.0])
        } else {
            0.0
        };
        assert_close(
            "gradient",
            *gi,
            a + long.jt(LONG - 1 - i, &[0.0, 1.0]),
            1e-14,
        );
    }
}

// ---- `Block::forward_from`: inputs read on demand ----

/// `y = sum_i (i + 1) x_i`, reading its inputs through `BlockInputs` in two pieces, in the
/// order given (`[0, 1]`: in order, the read also checks the run; `[1, 0]`: not in order).
struct Pieces([usize; 2]);

impl Block for Pieces {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = x.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v).sum();
    }
    fn forward_from(&self, x: &ad_core::tape::BlockInputs<'_>, y: &mut [f64]) {
        let n = x.len();
        let mid = n / 3;
        let mut v = vec![0.0; n];
        for piece in self.0 {
            let (lo, hi) = if piece == 0 { (0, mid) } else { (mid, n) };
            x.copy_to(lo, &mut v[lo..hi]);
        }
        self.forward(&v, y);
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        for (i, xb) in x_bar.iter_mut().enumerate() {
            *xb += (i + 1) as f64 * y_bar[0];
        }
        Ok(())
    }
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.forward(x_dot, y_dot);
        Ok(())
    }
}

#[test]
fn blocks_reading_inputs_on_demand_get_the_values_and_the_run_check() {
    let v = input_values(10);
    assert_eq!(ad_core::tape::BlockInputs::from_values(&v).to_vec(), v);
    // long enough for the parallel gather (2^18 inputs and more)
    let n = 300_000;
    let vals = input_values(n);
    for order in [[0, 1], [1, 0]] {
        for swap in [None, Some((5, n - 5)), Some((n / 3 - 1, n / 3))] {
            let tape = Tape::new();
            let xs = tape.vars(&vals);
            let mut inputs = xs.clone();
            if let Some((a, b)) = swap {
                inputs.swap(a, b);
            }
            let before = tape.len();
            let mut y = [Var::constant(0.0)];
            Var::apply_block(Pieces(order), &inputs, &mut y);
            // a broken run is copied into a new one, whichever way the block read it
            let copies = if swap.is_some() { n } else { 0 };
            assert_eq!(tape.len(), before + copies + 1, "{order:?} {swap:?}");
            let want: f64 = inputs
                .iter()
                .enumerate()
                .map(|(i, x)| (i + 1) as f64 * x.value())
                .sum();
            assert_close("value", y[0].value(), want, 1e-12);
            let g = tape.gradient(y[0]).wrt_all(&inputs);
            for (i, gi) in g.iter().enumerate().step_by(997) {
                assert_eq!(*gi, (i + 1) as f64, "{order:?} {swap:?} input {i}");
            }
            // Dual: the block reads plain values
            let xd: Vec<Dual<1>> = vals[..100]
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    if i == 7 {
                        Dual::variable(x, 0)
                    } else {
                        Dual::constant(x)
                    }
                })
                .collect();
            let mut yd = [Dual::<1>::constant(0.0)];
            <Dual<1> as Real>::apply_block(Pieces(order), &xd, &mut yd);
            assert_eq!(yd[0].d[0], 8.0);
        }
    }
}
