//! `Var<'t>`: a reverse-mode scalar recorded on a [`Tape`].
//!
//! The type and its recording here; `arithmetic` holds the operators, `float` the `num_traits`
//! and [`Real`](crate::Real) implementations (one tape node per call).

use std::cmp::Ordering;
use std::fmt;

use crate::table;
use crate::tape::Tape;

mod arithmetic;
mod float;

/// A reverse-mode scalar: a value and, unless it is a constant, its node on a [`Tape`].
///
/// `Var` is `Copy` (24 bytes). Arithmetic and every [`Float`](num_traits::Float) method on
/// `Var`s records one node holding the local partial derivatives; a constant (`Var::constant`,
/// `Var::from(2.0)`, `Var::zero()`) lives on no tape and records nothing. Comparisons compare
/// values, so branches in user code follow the primal computation.
///
/// # Panics
/// Combining two `Var`s of different tapes panics: adjoints of one tape cannot flow into another.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    value: f64,
    index: u32,
    tape: Option<&'t Tape>,
}

impl<'t> Var<'t> {
    /// A constant: it lives on no tape and its adjoint is always 0.
    #[inline(always)]
    pub const fn constant(value: f64) -> Self {
        Var {
            value,
            index: 0,
            tape: None,
        }
    }

    #[inline(always)]
    pub(crate) fn on_tape(value: f64, index: u32, tape: &'t Tape) -> Self {
        Var {
            value,
            index,
            tape: Some(tape),
        }
    }

    /// The value.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The tape this variable is recorded on (`None` for a constant).
    #[inline(always)]
    pub fn tape(&self) -> Option<&'t Tape> {
        self.tape
    }

    /// True if this is a constant (on no tape).
    #[inline(always)]
    pub fn is_constant(&self) -> bool {
        self.tape.is_none()
    }

    /// The node index on its tape (meaningless for a constant).
    #[inline(always)]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The node index if this variable lives on `tape`; panics if it lives on another tape.
    #[inline]
    pub(crate) fn index_on(&self, tape: &Tape) -> Option<u32> {
        match self.tape {
            None => None,
            Some(t) => {
                assert!(
                    std::ptr::eq(t, tape),
                    "ad_core: a Var of one tape was used with another tape"
                );
                Some(self.index)
            }
        }
    }

    /// Records `value` with local derivative `d` with respect to `self`.
    #[inline(always)]
    fn unary(self, (value, d): table::Unary<f64>) -> Self {
        match self.tape {
            None => Var::constant(value),
            Some(t) => Var::on_tape(value, t.push1(self.index, d), t),
        }
    }

    /// Records `value` with partials `da`, `db` with respect to `self` and `b`.
    #[inline(always)]
    fn binary(self, b: Self, (value, da, db): table::Binary<f64>) -> Self {
        match (self.tape, b.tape) {
            (Some(t), Some(tb)) => {
                if !std::ptr::eq(t, tb) {
                    mixed_tapes();
                }
                Var::on_tape(value, t.push2(self.index, da, b.index, db), t)
            }
            (Some(t), None) => Var::on_tape(value, t.push1(self.index, da), t),
            (None, Some(t)) => Var::on_tape(value, t.push1(b.index, db), t),
            (None, None) => Var::constant(value),
        }
    }
}

#[cold]
#[inline(never)]
fn mixed_tapes() -> ! {
    panic!(
        "ad_core: an operation combined Vars from two different tapes; every Var of one \
         computation must come from the same Tape (use one tape per task)"
    )
}

impl From<f64> for Var<'_> {
    /// A constant.
    fn from(x: f64) -> Self {
        Var::constant(x)
    }
}

impl Default for Var<'_> {
    /// The constant 0.
    fn default() -> Self {
        Var::constant(0.0)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tape {
            Some(_) => write!(f, "Var({:?} @{})", self.value, self.index),
            None => write!(f, "Var({:?} const)", self.value),
        }
    }
}

impl fmt::Display for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl PartialEq for Var<'_> {
    /// Compares values.
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl PartialOrd for Var<'_> {
    /// Compares values.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl PartialEq<f64> for Var<'_> {
    fn eq(&self, other: &f64) -> bool {
        self.value == *other
    }
}

impl PartialOrd<f64> for Var<'_> {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.value.partial_cmp(other)
    }
}
