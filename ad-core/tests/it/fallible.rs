//! Fallible derivatives end to end: a custom rule that fails reaches the caller of the
//! `try_` drivers as `GradientError::Block`, its source downcastable to the raising crate's
//! error, also through `checkpoint` and in forward mode; the panicking drivers say which
//! `try_` driver to use.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ad_core::{
    checkpoint, gradient, jvp, try_gradient, try_hessian_vector_product, try_jacobian, try_jvp,
    try_vjp, Block, BlockError, Dual, Function, GradientError, Real, Tape,
};

/// The error of the failing rules below (a stand-in for `solvers::Error`).
#[derive(Debug, PartialEq)]
struct RuleFailed(&'static str);

impl std::fmt::Display for RuleFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule failed: {}", self.0)
    }
}

impl std::error::Error for RuleFailed {}

/// `y = 3 x` whose reverse and/or tangent rule fails.
#[derive(Clone, Copy)]
struct Fragile {
    reverse_fails: bool,
    tangent_fails: bool,
}

impl Block for Fragile {
    type Residuals = ();
    fn forward(&self, x: &[f64], y: &mut [f64]) {
        y[0] = 3.0 * x[0];
    }
    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        if self.reverse_fails {
            return Err(Box::new(RuleFailed("reverse")));
        }
        x_bar[0] += 3.0 * y_bar[0];
        Ok(())
    }
    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        if self.tangent_fails {
            return Err(Box::new(RuleFailed("tangent")));
        }
        y_dot[0] = 3.0 * x_dot[0];
        Ok(())
    }
}

/// `[x0 * B(x1), x1]`: two outputs, so `try_jacobian` takes forward mode for two inputs and
/// reverse mode for three.
struct WithBlock(Fragile);

impl Function for WithBlock {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let mut y = [S::zero()];
        S::apply_block(self.0, &x[1..2], &mut y);
        vec![x[0] * y[0], x[1]]
    }
}

const REVERSE: Fragile = Fragile {
    reverse_fails: true,
    tangent_fails: false,
};
const TANGENT: Fragile = Fragile {
    reverse_fails: false,
    tangent_fails: true,
};
const SOUND: Fragile = Fragile {
    reverse_fails: false,
    tangent_fails: false,
};

/// The raising rule's error inside `e`, with the pass that failed.
fn rule_error(e: &GradientError) -> (&'static str, &RuleFailed) {
    let GradientError::Block { pass, source, .. } = e else {
        panic!("expected a block error, got {e}");
    };
    let inner = source
        .downcast_ref::<RuleFailed>()
        .unwrap_or_else(|| panic!("source is not the rule's error: {source}"));
    (pass, inner)
}

#[test]
fn a_failing_reverse_rule_reaches_try_gradient_with_its_typed_error() {
    let e = try_gradient(
        |x| Ok::<_, RuleFailed>(WithBlock(REVERSE).eval(x)[0]),
        &[2.0, 1.0],
    )
    .unwrap_err();
    assert_eq!(rule_error(&e), ("reverse", &RuleFailed("reverse")));
    assert!(e.to_string().contains("Fragile"), "{e}");
    // and the sound block gives the gradient: d(3 x0 x1) = (3 x1, 3 x0)
    let (v, g) = try_gradient(
        |x| Ok::<_, RuleFailed>(WithBlock(SOUND).eval(x)[0]),
        &[2.0, 1.0],
    )
    .unwrap();
    assert_eq!((v, g), (6.0, vec![3.0, 6.0]));
}

#[test]
fn a_failing_reverse_rule_inside_checkpoint_reaches_the_caller() {
    let e = try_gradient(
        |x| Ok::<_, RuleFailed>(checkpoint(WithBlock(REVERSE), x)[0]),
        &[2.0, 1.0],
    )
    .unwrap_err();
    // the checkpoint block failed, because the block it re-ran failed
    let GradientError::Block { block, source, .. } = &e else {
        panic!("{e}");
    };
    assert!(block.contains("Checkpointed"), "{block}");
    let inner = source
        .downcast_ref::<GradientError>()
        .expect("nested error");
    assert_eq!(rule_error(inner), ("reverse", &RuleFailed("reverse")));
}

#[test]
fn try_vjp_and_the_tape_return_the_reverse_error() {
    let e = try_vjp(&WithBlock(REVERSE), &[2.0, 1.0], &[1.0, 0.0]).unwrap_err();
    assert_eq!(rule_error(&e).1, &RuleFailed("reverse"));
    let tape = Tape::new();
    let x = tape.vars(&[2.0, 1.0]);
    let y = WithBlock(REVERSE).eval(&x);
    let e = tape.try_vjp(&y, &[1.0, 1.0]).unwrap_err();
    assert_eq!(rule_error(&e).1, &RuleFailed("reverse"));
    // every sweep visits the block (whatever its cotangent): the error is the same again
    let e = tape.try_vjp(&y[1..], &[1.0]).unwrap_err();
    assert_eq!(rule_error(&e).1, &RuleFailed("reverse"));
}

#[test]
#[should_panic(expected = "use try_vjp")]
fn the_panicking_vjp_names_the_fallible_one() {
    ad_core::vjp(&WithBlock(REVERSE), &[2.0, 1.0], &[1.0, 0.0]);
}

#[test]
fn a_failing_tangent_rule_reaches_try_jvp_and_try_jacobian() {
    let e = try_jvp(&WithBlock(TANGENT), &[2.0, 1.0], &[1.0, 1.0]).unwrap_err();
    assert_eq!(rule_error(&e), ("tangent", &RuleFailed("tangent")));
    // two inputs, two outputs: forward mode
    let e = try_jacobian(&WithBlock(TANGENT), &[2.0, 1.0]).unwrap_err();
    assert_eq!(rule_error(&e).0, "tangent");
    // three inputs: reverse mode, so only the reverse rule matters
    let (_, jac) = try_jacobian(&WithBlock(TANGENT), &[2.0, 1.0, 5.0]).unwrap();
    assert_eq!(jac[0], vec![3.0, 6.0, 0.0]);
    let e = try_jacobian(&WithBlock(REVERSE), &[2.0, 1.0, 5.0]).unwrap_err();
    assert_eq!(rule_error(&e).0, "reverse");
    // a sound block
    let (y, yd) = try_jvp(&WithBlock(SOUND), &[2.0, 1.0], &[1.0, 1.0]).unwrap();
    assert_eq!((y, yd), (vec![6.0, 1.0], vec![9.0, 1.0]));
}

#[test]
fn the_default_tangent_rule_is_a_typed_no_rule_error() {
    /// A reverse-only block.
    struct ReverseOnly;
    impl Block for ReverseOnly {
        type Residuals = ();
        fn forward(&self, x: &[f64], y: &mut [f64]) {
            y[0] = x[0];
        }
        fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
            x_bar[0] += y_bar[0];
            Ok(())
        }
    }
    struct F;
    impl Function for F {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            let mut y = [S::zero()];
            S::apply_block(ReverseOnly, x, &mut y);
            vec![y[0]]
        }
    }
    let e = try_jvp(&F, &[1.0], &[1.0]).unwrap_err();
    let GradientError::Block { pass, source, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*pass, "tangent");
    assert!(source.downcast_ref::<ad_core::NoRule>().is_some());
}

#[test]
fn direct_dual_use_panics_and_drivers_nest() {
    // outside a driver: a panic that names the fallible drivers
    let x = Dual::<1>::along(&[2.0, 1.0], &[1.0, 0.0]);
    let err = catch_unwind(AssertUnwindSafe(|| WithBlock(TANGENT).eval(&x))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("rule failed: tangent") && msg.contains("try_jvp"),
        "{msg}"
    );
    // the panicking driver names its fallible form
    let err = catch_unwind(|| jvp(&WithBlock(TANGENT), &[2.0, 1.0], &[1.0, 1.0])).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("use try_jvp"), "{msg}");
    // a driver inside a driver's function: each gets its own failures
    struct Outer;
    impl Function for Outer {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            assert!(try_jvp(&WithBlock(TANGENT), &[1.0, 1.0], &[1.0, 1.0]).is_err());
            assert!(try_jvp(&WithBlock(SOUND), &[1.0, 1.0], &[1.0, 1.0]).is_ok());
            vec![x[0] * 2.0]
        }
    }
    assert_eq!(try_jvp(&Outer, &[1.0], &[1.0]).unwrap().1, vec![2.0]);
    // and after all that, this thread is outside any driver again
    let err = catch_unwind(AssertUnwindSafe(|| WithBlock(TANGENT).eval(&x))).unwrap_err();
    assert!(err.downcast_ref::<String>().is_some());
}

#[test]
fn try_hessian_vector_product_of_plain_code() {
    struct Cubic;
    impl Function for Cubic {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            vec![x[0] * x[0] * x[1]]
        }
    }
    // H = [[2 x1, 2 x0], [2 x0, 0]]
    let (v, hv) = try_hessian_vector_product(
        |x| Ok::<_, ad_core::BlockError>(Cubic.eval(x)[0]),
        &[1.0, 3.0],
        &[1.0, 0.0],
    )
    .unwrap();
    assert_eq!((v, hv), (3.0, vec![6.0, 2.0]));
    let (_, g) = gradient(|x| Cubic.eval(x)[0], &[1.0, 3.0]);
    assert_eq!(g, vec![6.0, 1.0]);
}
