//! A per-thread pool of buffers for tapes and adjoint vectors.
//!
//! On Linux the system allocator returns every freed block above 128 KiB to the OS, and touching
//! fresh pages again costs a page fault each. A gradient computed in a loop (an optimizer, an
//! ensemble) would pay that on every call. Tapes and adjoint vectors therefore take their buffers
//! from this pool and give them back when dropped, so repeated work on one thread reuses memory.
//! [`release_pooled_memory`] empties the pool of the calling thread.

use std::cell::RefCell;

/// How many buffers of each kind a thread keeps.
const KEEP: usize = 4;

#[derive(Default)]
struct Pool {
    f64s: Vec<Vec<f64>>,
    u32s: Vec<Vec<u32>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

fn take<T>(list: &mut Vec<Vec<T>>) -> Vec<T> {
    let mut v = list.pop().unwrap_or_default();
    v.clear();
    v
}

fn give<T>(list: &mut Vec<Vec<T>>, v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    if list.len() < KEEP {
        list.push(v);
        list.sort_by_key(|b| b.capacity());
    } else if list[0].capacity() < v.capacity() {
        list[0] = v;
        list.sort_by_key(|b| b.capacity());
    }
}

/// An empty `Vec<f64>`, with capacity from an earlier use on this thread if there is one.
pub(crate) fn take_f64() -> Vec<f64> {
    POOL.try_with(|p| take(&mut p.borrow_mut().f64s))
        .unwrap_or_default()
}

/// An empty `Vec<u32>`, with capacity from an earlier use on this thread if there is one.
pub(crate) fn take_u32() -> Vec<u32> {
    POOL.try_with(|p| take(&mut p.borrow_mut().u32s))
        .unwrap_or_default()
}

pub(crate) fn give_f64(v: Vec<f64>) {
    let _ = POOL.try_with(|p| give(&mut p.borrow_mut().f64s, v));
}

pub(crate) fn give_u32(v: Vec<u32>) {
    let _ = POOL.try_with(|p| give(&mut p.borrow_mut().u32s, v));
}

/// Frees the buffers this thread keeps for reuse by tapes and adjoint vectors.
///
/// Tapes and [`Adjoints`](crate::Adjoints) return their memory to a per-thread pool when they
/// are dropped, so that the next gradient on the thread does not pay page faults again. After a
/// large computation that will not be repeated, call this to give that memory back to the OS.
pub fn release_pooled_memory() {
    let _ = POOL.try_with(|p| *p.borrow_mut() = Pool::default());
}
