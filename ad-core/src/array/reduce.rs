//! Reductions of [`VarArray`] to one `Var`: sums, means, dot products, the norm.

use super::fill::init_from;
use super::{dot, sum, Arg, ArrayOp, VarArray};
use crate::var::Var;

impl<'t> VarArray<'t> {
    /// `sum_i self[i]` (one node).
    pub fn sum(&self) -> Var<'t> {
        let n = self.len();
        let args = [Self::arg(self.input(), 1.0), None];
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, sum(self.values()))
    }

    /// `sum_i self[i] / n` (one node).
    pub fn mean(&self) -> Var<'t> {
        let n = self.len();
        let args = [Self::arg(self.input(), 1.0 / n as f64), None];
        let value = sum(self.values()) / n as f64;
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, value)
    }

    /// `sum_i self[i] other[i]` (one node; stores the operands' values).
    pub fn dot(&self, other: &VarArray<'t>) -> Var<'t> {
        let tape = self.tape_with(other.tape);
        self.same_len(other.len(), "dot");
        let value = dot(self.values(), other.values());
        if tape.is_none() {
            return Var::constant(value);
        }
        let n = self.len();
        let args = [
            self.input().map(|input| Arg {
                input,
                partial: other.as_partial(1.0),
            }),
            other.input().map(|input| Arg {
                input,
                partial: self.as_partial(1.0),
            }),
        ];
        Self::record_scalar(tape, ArrayOp::Reduce { n, args }, value)
    }

    /// `sum_i self[i] w[i]` with constant weights `w` (one node).
    pub fn dot_f64s(&self, w: &[f64]) -> Var<'t> {
        self.same_len(w.len(), "dot_f64s");
        let value = dot(self.values(), w);
        let Some(t) = self.tape else {
            return Var::constant(value);
        };
        let n = self.len();
        let (off, ()) = t.arena_extend(n, |store| init_from(store, w));
        let args = [Self::stored(self.input(), off), None];
        Self::record_scalar(self.tape, ArrayOp::Reduce { n, args }, value)
    }

    /// The Euclidean norm `sqrt(sum_i self[i]^2)` (two nodes).
    pub fn norm(&self) -> Var<'t> {
        num_traits::Float::sqrt(self.dot(self))
    }
}
