//! Custom derivative rules: a block operation with a hand-written adjoint.
//!
//! A [`Block`] maps `n` inputs to `m` outputs. Its forward pass works on `f64` slices and returns
//! *residuals* — owned data the derivative passes need (a factorisation, a copy of the inputs).
//! [`Real::apply_block`] applies it to any scalar type: on the tape it appears as ONE node whose
//! reverse step calls [`Block::vjp`] on slices of the adjoint vector, however many scalar
//! operations the forward pass performed.
//!
//! ```
//! use ad_core::{gradient, Block, BlockError, Real};
//!
//! /// y = A x for a fixed 2x2 matrix, with its transpose as the reverse rule.
//! struct MatVec([[f64; 2]; 2]);
//!
//! impl Block for MatVec {
//!     type Residuals = ();
//!     fn forward(&self, x: &[f64], y: &mut [f64]) {
//!         for i in 0..2 {
//!             y[i] = self.0[i][0] * x[0] + self.0[i][1] * x[1];
//!         }
//!     }
//!     fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
//!         for j in 0..2 {
//!             x_bar[j] += self.0[0][j] * y_bar[0] + self.0[1][j] * y_bar[1];
//!         }
//!         Ok(())
//!     }
//!     fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
//!         self.forward(x_dot, y_dot);
//!         Ok(())
//!     }
//! }
//!
//! fn f<S: Real>(x: &[S]) -> S {
//!     let mut y = [S::zero(); 2];
//!     S::apply_block(MatVec([[1.0, 2.0], [3.0, 4.0]]), x, &mut y);
//!     y[0] * y[1]
//! }
//! let (v, g) = gradient(|x| f(x), &[1.0, 1.0]);
//! assert_eq!(v, 21.0);
//! // grad = A^T (y1, y0) = A^T (7, 3)
//! assert_eq!(g, vec![1.0 * 7.0 + 3.0 * 3.0, 2.0 * 7.0 + 4.0 * 3.0]);
//! ```

use rayon::prelude::*;

use crate::dual::Dual;
use crate::error::{BlockError, GradientError};
use crate::real::Real;
use crate::tape::{BlockInputs, Item, RecordedBlock, Tape};
use crate::var::Var;

/// A block operation with its own derivative rules, applied with [`Real::apply_block`].
///
/// Implementations must be consistent: `vjp` is the transpose of `jvp`, and both are the
/// derivative of `forward` at the point the residuals were computed. Check them with
/// [`testing::check_function`](crate::testing::check_function).
pub trait Block: 'static {
    /// What the forward pass keeps for the derivative passes (owned: inputs may be gone or
    /// overwritten by the time the reverse sweep runs).
    type Residuals: 'static;

    /// Computes the outputs `y` from the inputs `x`.
    fn forward(&self, x: &[f64], y: &mut [f64]) -> Self::Residuals;

    /// Reverse rule: ADDS `J^T y_bar` to `x_bar`. An error (the raising crate's typed error,
    /// boxed) stops the reverse sweep and reaches the caller of
    /// [`Tape::try_vjp`](crate::Tape::try_vjp) as [`GradientError::Block`](crate::GradientError).
    fn vjp(
        &self,
        residuals: &Self::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError>;

    /// Forward rule: WRITES `J x_dot` to `y_dot`. The default has none (a reverse-only rule):
    /// it returns [`NoRule`](crate::NoRule).
    fn jvp(
        &self,
        residuals: &Self::Residuals,
        x_dot: &[f64],
        y_dot: &mut [f64],
    ) -> Result<(), BlockError> {
        let _ = (residuals, x_dot, y_dot);
        Err(Box::new(crate::error::NoRule {
            block: std::any::type_name::<Self>(),
            rule: "tangent",
        }))
    }

    /// Reverse rule, writing: WRITES `J^T y_bar` to `x_bar`, whose contents on entry are
    /// unspecified (stale values, not zeros): every element must be assigned.
    ///
    /// The reverse sweep calls this instead of [`Block::vjp`] when nothing else has added to
    /// the adjoints of the block's inputs yet: a long run of tape inputs (such as a matrix made
    /// by [`Tape::vars`]) that only this block reads before the sweep reaches it. The tape then
    /// skips zeroing the run, and the block writes its run once instead of reading and
    /// writing it. The default zeroes `x_bar` and calls [`Block::vjp`]; blocks with large
    /// inputs override it to write directly (for a solve's `A_bar = -lambda x^T`, an 8 MB
    /// write instead of a zeroing pass plus a read-modify-write at `n = 1000`).
    fn vjp_write(
        &self,
        residuals: &Self::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError> {
        x_bar.fill(0.0);
        self.vjp(residuals, y_bar, x_bar)
    }

    /// As [`Block::forward`], reading the inputs' values on demand: [`Real::apply_block`] on
    /// `Var` and `Dual` calls this (when [`Block::reads_inputs`]), on `f64` it calls
    /// [`Block::forward`] with the inputs as they are. A block that copies its inputs into its
    /// own storage (a matrix to factorise) overrides it to gather them straight there with
    /// [`BlockInputs::write_to`]: for taped inputs this is the one pass over the `Var`s that
    /// also checks they form one run on the tape, and no intermediate buffer is written. The
    /// default gathers all values into a vector and calls [`Block::forward`].
    fn forward_from(&self, x: &BlockInputs<'_>, y: &mut [f64]) -> Self::Residuals {
        let v = x.to_vec();
        self.forward(&v, y)
    }

    /// Whether [`Block::forward`] reads its inputs `x`. A block built at a point whose outputs
    /// are already computed (a solve holding its factorisation and solution) returns `false`:
    /// then [`Real::apply_block`] on `Var` and `Dual` does not gather the inputs' values (for a
    /// matrix of `10^6` taped entries, a pass over 24 MB and an 8 MB buffer) and `forward`
    /// receives an empty `x`. On `f64` `forward` gets the inputs as they are. Default `true`.
    fn reads_inputs(&self) -> bool {
        true
    }

    /// Second-order rule: WRITES the tangent `y_dot = J(x) x_dot` to `y_dot`, computed with
    /// differentiable operations on `T` (the crate's own generic routines, other blocks) so
    /// that it can be differentiated again. `x` and `y` are the inputs and outputs on `T`
    /// (`y` computed by applying this block on `T`). [`Real::apply_block`] on `Dual<N, T>`
    /// calls it, once per direction, when the inner scalars carry derivatives (`Dual<1, Var>`
    /// in [`hessian_vector_product`](crate::hessian_vector_product)); see the
    /// `block_nested` module and `docs/ad-model.md`. The default has none: it returns
    /// [`NoRule`](crate::NoRule) with rule `"second-order"`.
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        y: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        let _ = (x, y, x_dot, y_dot);
        Err(Box::new(crate::error::NoRule {
            block: std::any::type_name::<Self>(),
            rule: "second-order",
        }))
    }
}

/// A block and its residuals, kept on the tape until the reverse sweep.
struct Recorded<B: Block> {
    block: B,
    residuals: B::Residuals,
    /// The block's inputs: nodes `in_start..in_start + n_in`.
    in_start: usize,
    n_in: usize,
}

impl<B: Block> RecordedBlock for Recorded<B> {
    fn vjp(&self, y_bar: &[f64], below: &mut [f64]) -> Result<(), GradientError> {
        let x_bar = &mut below[self.in_start..self.in_start + self.n_in];
        self.block
            .vjp(&self.residuals, y_bar, x_bar)
            .map_err(reverse_error::<B>)
    }

    fn vjp_write(&self, y_bar: &[f64], below: &mut [f64]) -> Result<(), GradientError> {
        let x_bar = &mut below[self.in_start..self.in_start + self.n_in];
        self.block
            .vjp_write(&self.residuals, y_bar, x_bar)
            .map_err(reverse_error::<B>)
    }

    fn inputs(&self) -> std::ops::Range<usize> {
        self.in_start..self.in_start + self.n_in
    }
}

/// A failed reverse rule of `B`, with the block's name.
fn reverse_error<B: Block>(source: BlockError) -> GradientError {
    GradientError::Block {
        block: std::any::type_name::<B>(),
        pass: "reverse",
        source,
    }
}

/// `Real::apply_block` for `Var`.
pub(crate) fn apply_var<'t, B: Block>(block: B, x: &[Var<'t>], y: &mut [Var<'t>]) {
    let tape = x.iter().find_map(|v| v.tape());
    // One pass over the inputs: their values (when `forward` reads them) and whether they are
    // one contiguous run of nodes on `tape`, in order.
    let reads = block.reads_inputs();
    let mut yv = vec![0.0; y.len()];
    let (residuals, contiguous) = match tape {
        Some(t) if reads => {
            let inputs = BlockInputs::from_vars(x, t);
            let r = block.forward_from(&inputs, &mut yv);
            // the block read every input in order: that pass checked the run
            let run = inputs.run_checked().unwrap_or_else(|| is_run(x, t));
            (r, run)
        }
        Some(t) => (block.forward(&[], &mut yv), is_run(x, t)),
        None if reads => {
            let xv: Vec<f64> = x.iter().map(|v| v.value()).collect();
            (
                block.forward_from(&BlockInputs::from_values(&xv), &mut yv),
                false,
            )
        }
        None => (block.forward(&[], &mut yv), false),
    };
    let Some(tape) = tape else {
        for (yi, &v) in y.iter_mut().zip(&yv) {
            *yi = Var::constant(v);
        }
        return;
    };
    // The block's inputs must be one contiguous run of nodes: use the inputs' own run if they
    // form one, else record a copy of each (constants become nodes with a zero partial).
    let in_start = if contiguous {
        x[0].index()
    } else {
        let mut start = None;
        for v in x {
            let i = match v.index_on(tape) {
                Some(p) => tape.push1(p, 1.0),
                None => tape.push_constant_node(),
            };
            start.get_or_insert(i);
        }
        start.unwrap_or(0)
    };
    let record = Recorded {
        block,
        residuals,
        in_start: in_start as usize,
        n_in: x.len(),
    };
    let out = tape.push_item(Item::Block(Box::new(record)), y.len());
    for (i, (yi, &v)) in y.iter_mut().zip(&yv).enumerate() {
        *yi = Var::on_tape(v, out + i as u32, tape);
    }
}

/// True if `x` is the run of nodes `x[0].index() ..` of `tape`, in order (a constant or a
/// variable of another tape breaks the run; the slow path then reports the mixed tapes).
/// This scans every input of a block (24 MB for a taped 1000 x 1000 matrix): in parallel
/// chunks for long inputs, branch-free within a chunk.
fn is_run(x: &[Var<'_>], tape: &Tape) -> bool {
    /// Inputs per parallel task.
    const TASK: usize = 1 << 16;
    let Some(first) = x.first() else {
        return false;
    };
    let start = first.index();
    let tape: *const Tape = tape;
    if x.len() < 4 * TASK || rayon::current_num_threads() < 2 {
        return run_from(x, tape, start);
    }
    /// The inputs, shared with the pool's threads for reading only.
    struct Shared<'a, 't>(&'a [Var<'t>], *const Tape);
    // SAFETY: `Var` is neither `Send` nor `Sync` because it borrows a `Tape`, which records
    // through an `UnsafeCell`. The tasks only read each `Var`'s index and compare the address
    // of its tape with `self.1`; no tape is dereferenced, and the `Var`s are plain immutable
    // data (the slice is borrowed shared for the whole call), so nothing is mutated
    // concurrently. A safe form would need the indices gathered first: one more pass over the
    // 24-byte `Var`s, the cost this parallel scan exists to hide.
    unsafe impl Sync for Shared<'_, '_> {}
    let shared = Shared(x, tape);
    let shared = &shared;
    (0..x.len().div_ceil(TASK)).into_par_iter().all(|t| {
        let lo = t * TASK;
        let chunk = &shared.0[lo..(lo + TASK).min(shared.0.len())];
        run_from(chunk, shared.1, start.wrapping_add(lo as u32))
    })
}

/// True if `x[i]` is node `start + i` of the tape at `tape`, for every `i`.
fn run_from(x: &[Var<'_>], tape: *const Tape, start: u32) -> bool {
    let mut base = start;
    for chunk in x.chunks(256) {
        let mut ok = true;
        for (i, v) in chunk.iter().enumerate() {
            ok &= same_tape(v, tape) & (v.index() == base.wrapping_add(i as u32));
        }
        if !ok {
            return false;
        }
        base = base.wrapping_add(chunk.len() as u32);
    }
    true
}

/// Writes the values of `x` to `dst` (same length); true if `x[i]` is node `start + i` of the
/// tape at `tape`, for every `i`. One pass, in parallel chunks for long inputs.
pub(crate) fn gather_into(
    x: &[Var<'_>],
    tape: *const Tape,
    start: u32,
    dst: &mut [std::mem::MaybeUninit<f64>],
) -> bool {
    /// Inputs per parallel task.
    const TASK: usize = 1 << 16;
    assert_eq!(x.len(), dst.len());
    if x.len() < 4 * TASK || rayon::current_num_threads() < 2 {
        return gather_from(x, tape, start, dst);
    }
    /// The inputs, shared with the pool's threads for reading only.
    struct Shared<'a, 't>(&'a [Var<'t>], *const Tape);
    // SAFETY: as in `is_run`: the tasks only read each `Var`'s value and index and compare
    // the address of its tape with `self.1`; no tape is dereferenced, and the owning thread
    // does not record while it waits in the parallel call below.
    unsafe impl Sync for Shared<'_, '_> {}
    let shared = Shared(x, tape);
    let shared = &shared;
    dst.par_chunks_mut(TASK)
        .enumerate()
        .map(|(t, d)| {
            let lo = t * TASK;
            let chunk = &shared.0[lo..lo + d.len()];
            gather_from(chunk, shared.1, start.wrapping_add(lo as u32), d)
        })
        // no short cut: every value must be written
        .reduce(|| true, |a, b| a & b)
}

/// Sequential [`gather_into`].
fn gather_from(
    x: &[Var<'_>],
    tape: *const Tape,
    start: u32,
    dst: &mut [std::mem::MaybeUninit<f64>],
) -> bool {
    let mut ok = true;
    for (i, (v, d)) in x.iter().zip(dst).enumerate() {
        ok &= same_tape(v, tape) & (v.index() == start.wrapping_add(i as u32));
        d.write(v.value());
    }
    ok
}

#[inline(always)]
fn same_tape(v: &Var<'_>, tape: *const Tape) -> bool {
    v.tape().is_some_and(|t| std::ptr::eq(t, tape))
}

/// `Real::apply_block` for `Dual`: the primal by `forward`, each tangent direction by `jvp`
/// (nested duals: by `jvp_nested`, see [`crate::block_nested`]).
///
/// A failing tangent rule panics, or inside a fallible forward-mode driver (`try_jvp`,
/// `try_jacobian`, `try_hessian_vector_product`) gives NaN tangents and its error to the driver
/// (see `error::tangent_failed`).
pub(crate) fn apply_dual<const N: usize, T: Real, B: Block>(
    block: B,
    x: &[Dual<N, T>],
    y: &mut [Dual<N, T>],
) {
    if crate::block_nested::is_nested(x) {
        return crate::block_nested::apply_nested(block, x, y);
    }
    let mut yv = vec![0.0; y.len()];
    let residuals = if block.reads_inputs() {
        let xv: Vec<f64> = x.iter().map(|d| d.v.value()).collect();
        block.forward_from(&BlockInputs::from_values(&xv), &mut yv)
    } else {
        block.forward(&[], &mut yv)
    };
    for (yi, &v) in y.iter_mut().zip(&yv) {
        *yi = Dual::constant(T::cst(v));
    }
    let mut x_dot = vec![0.0; x.len()];
    let mut y_dot = vec![0.0; y.len()];
    for k in 0..N {
        for (xd, d) in x_dot.iter_mut().zip(x) {
            *xd = d.d[k].value();
        }
        if let Err(e) = block.jvp(&residuals, &x_dot, &mut y_dot) {
            // a fallible driver keeps the error and gets NaN tangents; direct use panics
            crate::error::tangent_failed(std::any::type_name::<B>(), "tangent", e);
            y_dot.fill(f64::NAN);
        }
        for (yi, &yd) in y.iter_mut().zip(&y_dot) {
            yi.d[k] = T::cst(yd);
        }
    }
}

#[cfg(test)]
mod tests;
