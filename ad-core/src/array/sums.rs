//! Sums in a fixed order ([`dot`], [`sum`], [`in_order`]): the same bits on any number of
//! threads.

use rayon::prelude::*;

use super::{CHUNK, PAR_MIN};

/// `sum_i a[i] * b[i]`.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        in_order(
            a.par_chunks(CHUNK)
                .zip(b.par_chunks(CHUNK))
                .map(|(a, b)| dot(a, b))
                .collect(),
        )
    } else {
        // Four accumulators so the loop vectorises without reassociation by the compiler.
        let mut acc = [0.0; 4];
        let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for k in 0..4 {
                acc[k] += x[k] * y[k];
            }
        }
        let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    }
}

/// The sum of the chunks' partial sums, added in chunk order: the same bits on any number
/// of threads (rayon's own `sum` combines the parts in an order that follows how the work
/// was split between the threads).
pub(crate) fn in_order(parts: Vec<f64>) -> f64 {
    parts.iter().sum()
}

/// `sum_i a[i]`.
pub(crate) fn sum(a: &[f64]) -> f64 {
    if a.len() >= PAR_MIN {
        in_order(a.par_chunks(CHUNK).map(sum).collect())
    } else {
        let mut acc = [0.0; 4];
        let c = a.chunks_exact(4);
        let tail: f64 = c.remainder().iter().sum();
        for x in c {
            for k in 0..4 {
                acc[k] += x[k];
            }
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    }
}
