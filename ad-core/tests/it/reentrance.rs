//! Re-entering a tape from user code that runs inside one of its own operations — a block's
//! reverse rule, a checkpointed re-run, an element function of an array map — is a contract
//! violation: it panics with a message that says so before anything is changed, never
//! corrupts memory, and the tape stays usable after the panic is caught.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ad_core::{checkpoint, Block, BlockError, ElementFn, Function, Real, Tape, Var, VarArray};

/// A tape that lives for the whole test, so blocks (which are `'static`) can hold its `Var`s.
fn leaked_tape() -> &'static Tape {
    Box::leak(Box::new(Tape::new()))
}

/// What a misbehaving rule does with the tape it runs on.
#[derive(Clone, Copy)]
enum Misuse {
    /// `Var` arithmetic on a variable of the running tape (the hot push path).
    Arithmetic,
    /// A new input variable on the running tape.
    NewVar,
    /// A nested reverse sweep of the running tape.
    NestedSweep,
}

/// `y = 2 x`, whose reverse rule misuses the tape of `x` the first time it runs.
struct Misbehaving {
    x: Var<'static>,
    misuse: Misuse,
    armed: std::cell::Cell<bool>,
}

impl Block for Misbehaving {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = 2.0 * x[0];
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        let tape = self.x.tape().expect("x is on a tape");
        if !self.armed.replace(false) {
            x_bar[0] += 2.0 * y_bar[0];
            return Ok(());
        }
        match self.misuse {
            Misuse::Arithmetic => {
                let z = self.x * self.x + 1.0;
                std::hint::black_box(z);
            }
            Misuse::NewVar => {
                std::hint::black_box(tape.var(1.0));
            }
            Misuse::NestedSweep => {
                std::hint::black_box(tape.gradient(self.x));
            }
        }
        x_bar[0] += 2.0 * y_bar[0];
        Ok(())
    }
}

/// Records `y = (2 x)^2` with a misbehaving block on a leaked tape; returns the tape, `x` and `y`.
fn record(misuse: Misuse) -> (&'static Tape, Var<'static>, Var<'static>) {
    let tape = leaked_tape();
    let x = tape.var(1.5);
    let mut y = [Var::constant(0.0)];
    let armed = std::cell::Cell::new(true);
    Var::apply_block(Misbehaving { x, misuse, armed }, &[x], &mut y);
    (tape, x, y[0] * y[0])
}

#[test]
#[should_panic(
    expected = "ad_core::Tape re-entered: the tape was used during its own reverse sweep"
)]
fn arithmetic_on_the_running_tape_in_a_block_rule_panics() {
    let (tape, _, y) = record(Misuse::Arithmetic);
    tape.gradient(y);
}

#[test]
#[should_panic(expected = "ad_core::Tape re-entered")]
fn a_new_variable_on_the_running_tape_in_a_block_rule_panics() {
    let (tape, _, y) = record(Misuse::NewVar);
    tape.gradient(y);
}

#[test]
#[should_panic(expected = "ad_core::Tape re-entered")]
fn a_nested_sweep_of_the_running_tape_panics() {
    let (tape, _, y) = record(Misuse::NestedSweep);
    let _ = tape.try_gradient(y);
}

#[test]
fn the_tape_is_consistent_after_a_caught_reentrance_panic() {
    for misuse in [Misuse::Arithmetic, Misuse::NewVar, Misuse::NestedSweep] {
        let (tape, x, y) = record(misuse);
        let (len, operands) = (tape.len(), tape.operands());
        let err = catch_unwind(AssertUnwindSafe(|| tape.gradient(y).as_slice().len())).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("re-entered"), "{msg}");
        // nothing was recorded, and the tape still differentiates (the block is disarmed):
        // y = (2 x)^2 and a new z = x^3 on the same tape
        assert_eq!((tape.len(), tape.operands()), (len, operands));
        assert_eq!(tape.gradient(y).wrt(x), 8.0 * 1.5);
        let z = x * x * x;
        assert_eq!(tape.gradient(z).wrt(x), 3.0 * 1.5 * 1.5);
    }
}

/// A function that records on the tape of `x` from its second evaluation on: the first is
/// `checkpoint`'s forward pass on `f64`, the second its re-run in the reverse sweep.
struct RecordsOnOuter {
    x: Var<'static>,
    calls: std::cell::Cell<usize>,
}

impl Function for RecordsOnOuter {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() > 1 {
            std::hint::black_box(self.x * 3.0);
        }
        vec![x[0] * x[0]]
    }
}

#[test]
#[should_panic(
    expected = "ad_core::Tape re-entered: the tape was used during its own reverse sweep"
)]
fn a_checkpointed_function_that_records_on_the_outer_tape_panics() {
    let tape = leaked_tape();
    let x = tape.var(0.5);
    let y = checkpoint(
        RecordsOnOuter {
            x,
            calls: Default::default(),
        },
        &[x],
    );
    tape.gradient(y[0]);
}

thread_local! {
    /// The tape an element function misuses (it cannot hold a `Var`: `ElementFn` is `Sync`).
    static OUTER: &'static Tape = leaked_tape();
}

/// `a^2`, recording on [`OUTER`] while the array operation evaluates it.
struct SquareAndRecord;

impl ElementFn<1> for SquareAndRecord {
    fn eval<S: Real>(&self, [a]: [S; 1]) -> S {
        OUTER.with(|t| std::hint::black_box(t.var(1.0)));
        a * a
    }
}

#[test]
#[should_panic(expected = "ad_core::Tape re-entered: the tape was used during the evaluation")]
fn an_element_function_of_map_sum_that_records_on_its_tape_panics() {
    OUTER.with(|t| {
        let x = t.var_array(&[1.0, 2.0, 3.0]);
        VarArray::map_sum([&x], &SquareAndRecord);
    });
}

#[test]
#[should_panic(expected = "ad_core::Tape re-entered")]
fn an_element_function_of_map_that_records_on_its_tape_panics() {
    OUTER.with(|t| {
        let x = t.var_array(&[1.0, 2.0, 3.0]);
        VarArray::map([&x], &SquareAndRecord);
    });
}

#[test]
fn an_element_function_may_record_on_another_tape() {
    // OUTER is a different tape from the one being evaluated: allowed.
    let tape = Tape::new();
    let x = tape.var_array(&[1.0, 2.0, 3.0]);
    let s = VarArray::map_sum([&x], &SquareAndRecord);
    let g = x.adjoints(&tape.gradient(s));
    assert_eq!(g, vec![2.0, 4.0, 6.0]);
}
