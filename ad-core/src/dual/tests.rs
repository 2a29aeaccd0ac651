//! Unit tests of `Dual`: zero tangents through infinite partials.

use num_traits::Float;

use super::*;

/// `sqrt` at 0 has an infinite partial: a zero tangent stays zero (the Jacobian of
/// `sqrt(p^2)` with respect to `y` is 0, not NaN), a nonzero one gives infinity.
#[test]
fn zero_tangent_stays_zero_through_an_infinite_partial() {
    let x = Dual::<2>::new(0.0, [0.0, 1.0]);
    let s = x.sqrt();
    assert_eq!(s.v, 0.0);
    assert_eq!(s.d[0], 0.0);
    assert_eq!(s.d[1], f64::INFINITY);
    // two arguments: pow(0, 0.5) along a direction that moves only the exponent
    let base = Dual::<1>::new(0.0, [0.0]);
    let e = Dual::<1>::new(0.5, [1.0]);
    let r = base.powf(e);
    assert!(!r.d[0].is_nan(), "{}", r.d[0]);
    // sqrt(p^2) at p = 0 along y (p constant): tangent 0
    let p = Dual::<1>::constant(0.0);
    let y = Dual::<1>::variable(3.0, 0);
    let f = -(y * 2.0) + (p * p).sqrt();
    assert_eq!(f.d[0], -2.0);
}

/// A `Var` tangent with value 0 but a derivative of its own is not dropped (nested
/// derivatives through an infinite partial stay as before).
#[test]
fn a_zero_valued_var_tangent_is_not_treated_as_constant() {
    let tape = crate::Tape::new();
    let t = tape.var(0.0);
    assert!(!times_partial(t, crate::Var::cst(2.0)).is_constant());
    assert_eq!(
        times_partial(crate::Var::cst(0.0), crate::Var::cst(f64::INFINITY)).value(),
        0.0
    );
}
