//! A per-thread pool of buffers for tapes, adjoint vectors and array values.
//!
//! On Linux the system allocator returns every freed block above 128 KiB to the OS, and touching
//! fresh pages again costs a page fault each. A gradient computed in a loop (an optimizer, an
//! ensemble) would pay that on every call. Tapes, adjoint vectors and tape arrays therefore take
//! their buffers from this pool and give them back when dropped, so repeated work on one thread
//! reuses memory. Buffers are kept per use, so a tape's operand stream gets back a buffer of the
//! size it needed last time. [`release_pooled_memory`] empties the pool of the calling thread.

use std::cell::RefCell;

use crate::tape::Op;

/// What a pooled `f64` buffer is used for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Use {
    /// A tape's arena of array partials.
    Arena,
    /// Adjoint vectors.
    Adjoints,
    /// Values of tape arrays and scratch space.
    Values,
}

/// How many buffers of each use a thread keeps.
const KEEP: [usize; 3] = [2, 2, 64];

#[derive(Default)]
struct Pool {
    f64s: [Vec<Vec<f64>>; 3],
    u32s: Vec<Vec<u32>>,
    ops: Vec<Vec<Op>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// The smallest kept buffer with capacity `>= min`, else the largest one (lists are sorted by
/// capacity).
fn take<T>(list: &mut Vec<Vec<T>>, min: usize) -> Vec<T> {
    let i = list.iter().position(|b| b.capacity() >= min);
    let mut v = match i {
        Some(i) => list.remove(i),
        None => list.pop().unwrap_or_default(),
    };
    v.clear();
    v
}

fn give<T>(list: &mut Vec<Vec<T>>, v: Vec<T>, keep: usize) {
    if v.capacity() == 0 {
        return;
    }
    if list.len() >= keep {
        if list[0].capacity() >= v.capacity() {
            return;
        }
        list.remove(0);
    }
    let i = list.partition_point(|b| b.capacity() < v.capacity());
    list.insert(i, v);
}

/// An empty `Vec<f64>` for `usage`, with capacity `>= min` if the pool has such a buffer.
pub(crate) fn take_f64(usage: Use, min: usize) -> Vec<f64> {
    POOL.try_with(|p| take(&mut p.borrow_mut().f64s[usage as usize], min))
        .unwrap_or_default()
}

/// A `Vec<f64>` for `usage` as [`take_f64`], but with the contents it had when it was given
/// back (initialised memory the caller overwrites as it needs: an adjoint vector is not zeroed
/// where the reverse sweep writes before it reads).
pub(crate) fn take_f64_dirty(usage: Use, min: usize) -> Vec<f64> {
    POOL.try_with(|p| {
        let list = &mut p.borrow_mut().f64s[usage as usize];
        let i = list.iter().position(|b| b.capacity() >= min);
        match i {
            Some(i) => list.remove(i),
            None => list.pop().unwrap_or_default(),
        }
    })
    .unwrap_or_default()
}

/// An empty `Vec<u32>`, with capacity from an earlier use on this thread if there is one.
pub(crate) fn take_u32() -> Vec<u32> {
    POOL.try_with(|p| take(&mut p.borrow_mut().u32s, usize::MAX))
        .unwrap_or_default()
}

/// An empty operand stream, with capacity from an earlier tape on this thread if there is one.
pub(crate) fn take_ops() -> Vec<Op> {
    POOL.try_with(|p| take(&mut p.borrow_mut().ops, usize::MAX))
        .unwrap_or_default()
}

pub(crate) fn give_ops(v: Vec<Op>) {
    let _ = POOL.try_with(|p| give(&mut p.borrow_mut().ops, v, 2));
}

pub(crate) fn give_f64(usage: Use, v: Vec<f64>) {
    let _ = POOL.try_with(|p| {
        give(
            &mut p.borrow_mut().f64s[usage as usize],
            v,
            KEEP[usage as usize],
        )
    });
}

pub(crate) fn give_u32(v: Vec<u32>) {
    let _ = POOL.try_with(|p| give(&mut p.borrow_mut().u32s, v, 4));
}

/// Frees the buffers this thread keeps for reuse by tapes, adjoint vectors and tape arrays.
///
/// Tapes, [`Adjoints`](crate::Adjoints) and [`VarArray`](crate::VarArray)s return their memory
/// to a per-thread pool when they are dropped, so that the next gradient on the thread does not
/// pay page faults again. After a large computation that will not be repeated, call this to give
/// that memory back to the OS.
pub fn release_pooled_memory() {
    let _ = POOL.try_with(|p| *p.borrow_mut() = Pool::default());
}
