//! Sample-parallel runs across MPI ranks: the glue shared by `ode`'s ensembles, `gsa`'s
//! analyses and `optim`'s multi-experiment fits.
//!
//! The pattern is always the same, and every rank takes the same collective steps in the same
//! order whatever happens locally (so a failing sample can never leave a rank waiting):
//!
//! 1. `check_same_problem`: the ranks all-gather `(sample count, fingerprint)`; if any rank
//!    differs, every rank returns [`Error::ProblemMismatch`].
//! 2. Each rank runs its static block of sample indices, [`block_range`] (with rayon inside).
//! 3. `all_gather`: the ranks all-gather their results (byte counts, then the bytes), so
//!    every rank holds every result in sample order, bit for bit as computed (a sample's
//!    failure travels as its message).
//! 4. [`all_ok`]: if any sample failed, every rank returns the same
//!    [`Error::SampleFailed`] (the lowest failing index and its message).
//!
//! `run_blocks` does 1-3. Everything but the communication (the split, the
//! [`Fingerprint`], the [`Wire`] encoding) is plain code, compiled and tested without MPI;
//! the functions that talk to other ranks need the `mpi` feature, which also re-exports the
//! [`mpi`](https://github.com/rsmpi/rsmpi) crate as `ode::distributed::mpi` so users build
//! their communicator from the same version. See `docs/distributed.md`.

use std::ops::Range;

/// Why a distributed run failed. Every rank returns the same value (it is decided from data
/// all ranks have gathered), so the ranks never disagree about whether a run succeeded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sample failed; the one with the lowest index is reported.
    #[error("sample {index} (run on rank {rank}) failed: {message}")]
    SampleFailed {
        /// The sample's index in the whole run.
        index: usize,
        /// The rank that ran it.
        rank: usize,
        /// Why it failed (the sample's own error, as text).
        message: String,
    },
    /// The ranks were not given the same problem (different sample counts, seeds or inputs).
    #[error(
        "rank {rank} has {what} {got}, rank 0 has {expected}: every rank must be started with \
         the same inputs, sample count and seed"
    )]
    ProblemMismatch {
        /// The first rank that differs from rank 0.
        rank: usize,
        /// "sample count" or "problem fingerprint".
        what: &'static str,
        /// Rank 0's value.
        expected: u64,
        /// That rank's value.
        got: u64,
    },
    /// One rank's results are larger than one MPI message can carry (2^31 - 1 bytes in all).
    #[error(
        "the gathered results are {bytes} bytes (rank {rank}'s share ends there), more than an \
         MPI count can address: run fewer samples per call"
    )]
    TooLarge {
        /// The rank whose share overflowed.
        rank: usize,
        /// Bytes up to the end of that rank's share.
        bytes: u64,
    },
    /// A rank's results could not be decoded (ranks built from different code?).
    #[error("the results of rank {rank} could not be decoded: are all ranks the same binary?")]
    Corrupt {
        /// The rank whose bytes were malformed.
        rank: usize,
    },
}

/// The static block of sample indices that `rank` of `size` runs out of `n`: contiguous, in
/// rank order, the first `n % size` ranks one sample more. Concatenated over the ranks the
/// blocks are `0..n`, so gathering in rank order gives sample order. `size = 0` is treated as
/// one rank.
///
/// ```
/// use ode::distributed::block_range;
/// assert_eq!(block_range(10, 4, 0), 0..3);
/// assert_eq!(block_range(10, 4, 1), 3..6);
/// assert_eq!(block_range(10, 4, 3), 8..10);
/// assert_eq!(block_range(2, 4, 3), 2..2); // more ranks than samples: some run nothing
/// ```
pub fn block_range(n: usize, size: usize, rank: usize) -> Range<usize> {
    let size = size.max(1);
    if rank >= size {
        return n..n;
    }
    let (q, r) = (n / size, n % size);
    let start = rank * q + rank.min(r);
    start..start + q + usize::from(rank < r)
}

/// The rank whose [`block_range`] holds sample `index` (out of `n`, on `size` ranks).
pub fn owner(index: usize, n: usize, size: usize) -> usize {
    let size = size.max(1);
    let (q, r) = (n / size, n % size);
    let big = r * (q + 1); // samples held by the first r ranks
    if index < big {
        index / (q + 1)
    } else {
        // q == 0 only when index >= n: the last rank, as for an out-of-range index.
        (index - big)
            .checked_div(q)
            .map_or(size - 1, |k| (r + k).min(size - 1))
    }
}

/// A 64-bit FNV-1a hash of a run's inputs (floats by their bits), compared across ranks by
/// `check_same_problem`. The same on every platform and every run of the same binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Adds an integer.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Adds a float by its bits (so `0.0` and `-0.0` differ, as they may in a result).
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.u64(v.to_bits())
    }

    /// Adds a slice of floats and its length.
    pub fn f64s(&mut self, v: &[f64]) -> &mut Self {
        self.u64(v.len() as u64);
        for &x in v {
            self.f64(x);
        }
        self
    }

    /// Adds a string and its length (e.g. an options struct's `Debug` text).
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes())
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// A value that travels between ranks as bytes, exactly: floats by their bits, so a gathered
/// result is bit-identical to the one computed. Implemented for the numbers, `String`,
/// `Vec`, pairs, `Result<T, String>` (a sample's result or its failure) and the crates'
/// result types.
pub trait Wire: Sized {
    /// Appends the value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a value from the front of `input` and advances it; `None` if the bytes are
    /// malformed.
    fn decode(input: &mut &[u8]) -> Option<Self>;
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

impl Wire for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        let b = take(input, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

impl Wire for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        usize::try_from(u64::decode(input)?).ok()
    }
}

impl Wire for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        self.to_bits().encode(out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        u64::decode(input).map(f64::from_bits)
    }
}

impl Wire for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.len().encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        let n = usize::decode(input)?;
        String::from_utf8(take(input, n)?.to_vec()).ok()
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.len().encode(out);
        for v in self {
            v.encode(out);
        }
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        let n = usize::decode(input)?;
        // Each element takes at least one byte: a corrupt length cannot allocate wildly.
        let mut v = Vec::with_capacity(n.min(input.len()));
        for _ in 0..n {
            v.push(T::decode(input)?);
        }
        Some(v)
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        Some((A::decode(input)?, B::decode(input)?))
    }
}

impl<T: Wire> Wire for Result<T, String> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ok(v) => {
                out.push(0);
                v.encode(out);
            }
            Err(m) => {
                out.push(1);
                m.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        match take(input, 1)?[0] {
            0 => T::decode(input).map(Ok),
            1 => String::decode(input).map(Err),
            _ => None,
        }
    }
}

/// The bytes of `items`, one after the other.
pub fn encode_all<T: Wire>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in items {
        v.encode(&mut out);
    }
    out
}

/// Exactly `count` items from `bytes` (`None` if malformed or if bytes are left over).
pub fn decode_all<T: Wire>(mut bytes: &[u8], count: usize) -> Option<Vec<T>> {
    let mut v = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        v.push(T::decode(&mut bytes)?);
    }
    bytes.is_empty().then_some(v)
}

/// The results in sample order, or the failure with the lowest index as
/// [`Error::SampleFailed`] (with the rank that ran it, out of `size`): what every rank
/// returns after an `all_gather`, so all return the same.
pub fn all_ok<T>(results: Vec<Result<T, String>>, size: usize) -> Result<Vec<T>, Error> {
    let n = results.len();
    let mut out = Vec::with_capacity(n);
    for (index, r) in results.into_iter().enumerate() {
        match r {
            Ok(v) => out.push(v),
            Err(message) => {
                return Err(Error::SampleFailed {
                    index,
                    rank: owner(index, n, size),
                    message,
                })
            }
        }
    }
    Ok(out)
}

/// The per-rank `(offset, count)` of a variable-count gather from every rank's byte count, or
/// [`Error::TooLarge`] if the total passes MPI's `i32` counts. Plain arithmetic, decided the
/// same on every rank (all have the same counts).
pub fn partition(byte_counts: &[u64]) -> Result<Vec<(i32, i32)>, Error> {
    let mut out = Vec::with_capacity(byte_counts.len());
    let mut offset: u64 = 0;
    for (rank, &c) in byte_counts.iter().enumerate() {
        let end = offset.saturating_add(c);
        let (Ok(o), Ok(n), Ok(_)) = (i32::try_from(offset), i32::try_from(c), i32::try_from(end))
        else {
            return Err(Error::TooLarge { rank, bytes: end });
        };
        out.push((o, n));
        offset = end;
    }
    Ok(out)
}

#[cfg(feature = "mpi")]
pub use self::comm::{all_gather, check_same_problem, rank_and_size, run_blocks};
#[cfg(feature = "mpi")]
pub use mpi;

#[cfg(feature = "mpi")]
mod comm {
    use std::ops::Range;

    use mpi::datatype::PartitionMut;
    use mpi::traits::{Communicator, CommunicatorCollectives};
    use mpi::Count;

    use super::{block_range, decode_all, encode_all, partition, Error, Wire};

    /// This process's rank and the number of ranks in `comm`.
    pub fn rank_and_size<C: Communicator>(comm: &C) -> (usize, usize) {
        let rank = usize::try_from(comm.rank()).unwrap_or(0);
        let size = usize::try_from(comm.size()).unwrap_or(1).max(1);
        (rank, size)
    }

    /// Checks that every rank of `comm` was given the same problem: the same sample count `n`
    /// and the same `fingerprint` (a [`Fingerprint`](super::Fingerprint) of the inputs,
    /// seed and options). One all-gather of two integers; every rank returns the same result.
    pub fn check_same_problem<C: Communicator>(
        comm: &C,
        n: usize,
        fingerprint: u64,
    ) -> Result<(), Error> {
        let (_, size) = rank_and_size(comm);
        let mine = [n as u64, fingerprint];
        let mut all = vec![0u64; 2 * size];
        comm.all_gather_into(&mine[..], &mut all[..]);
        for (rank, pair) in all.chunks_exact(2).enumerate() {
            for (what, k) in [("sample count", 0), ("problem fingerprint", 1)] {
                if pair[k] != all[k] {
                    return Err(Error::ProblemMismatch {
                        rank,
                        what,
                        expected: all[k],
                        got: pair[k],
                    });
                }
            }
        }
        Ok(())
    }

    /// All-gathers every rank's `local` items: every rank gets all ranks' items in rank
    /// order, bit-identical to what was sent. Two collectives (the byte and item counts, then
    /// the bytes), taken by every rank whatever it holds.
    pub fn all_gather<C: Communicator, T: Wire>(comm: &C, local: &[T]) -> Result<Vec<T>, Error> {
        Ok(all_gather_by_rank(comm, local)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// [`all_gather`] with the items kept per rank (`out[r]` came from rank `r`).
    fn all_gather_by_rank<C: Communicator, T: Wire>(
        comm: &C,
        local: &[T],
    ) -> Result<Vec<Vec<T>>, Error> {
        let (_, size) = rank_and_size(comm);
        let bytes = encode_all(local);
        let mine = [bytes.len() as u64, local.len() as u64];
        let mut all = vec![0u64; 2 * size];
        comm.all_gather_into(&mine[..], &mut all[..]);
        let byte_counts: Vec<u64> = all.chunks_exact(2).map(|c| c[0]).collect();
        let parts = partition(&byte_counts)?;
        let total = parts.last().map_or(0, |&(o, n)| (o + n) as usize);
        let counts: Vec<Count> = parts.iter().map(|p| p.1).collect();
        let displs: Vec<Count> = parts.iter().map(|p| p.0).collect();
        let mut buf = vec![0u8; total];
        {
            let mut recv = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            comm.all_gather_varcount_into(&bytes[..], &mut recv);
        }
        parts
            .iter()
            .zip(all.chunks_exact(2))
            .enumerate()
            .map(|(rank, (&(o, n), pair))| {
                let seg = &buf[o as usize..(o + n) as usize];
                usize::try_from(pair[1])
                    .ok()
                    .and_then(|count| decode_all::<T>(seg, count))
                    .ok_or(Error::Corrupt { rank })
            })
            .collect()
    }

    /// The whole pattern: checks that every rank has the same problem (`n` samples,
    /// `fingerprint`), runs `run` on this rank's [`block_range`] (it must return one item per
    /// index, in order) and all-gathers the items, so every rank returns all `n` in sample
    /// order.
    pub fn run_blocks<C, T, F>(
        comm: &C,
        n: usize,
        fingerprint: u64,
        run: F,
    ) -> Result<Vec<T>, Error>
    where
        C: Communicator,
        T: Wire,
        F: FnOnce(Range<usize>) -> Vec<T>,
    {
        check_same_problem(comm, n, fingerprint)?;
        let (rank, size) = rank_and_size(comm);
        let local = run(block_range(n, size, rank));
        let by_rank = all_gather_by_rank(comm, &local)?;
        // A `run` that broke its contract (every rank sees the same counts, so all agree).
        if let Some(bad) = (0..size).find(|&r| by_rank[r].len() != block_range(n, size, r).len()) {
            return Err(Error::Corrupt { rank: bad });
        }
        Ok(by_rank.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_samples_in_rank_order() {
        for n in 0..40 {
            for size in 1..9 {
                let mut next = 0;
                for rank in 0..size {
                    let r = block_range(n, size, rank);
                    assert_eq!(r.start, next, "n {n} size {size} rank {rank}");
                    assert!(r.len() == n / size || r.len() == n / size + 1);
                    for i in r.clone() {
                        assert_eq!(owner(i, n, size), rank, "n {n} size {size} i {i}");
                    }
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
        assert_eq!(block_range(5, 0, 0), 0..5);
        assert_eq!(block_range(5, 2, 7), 5..5);
    }

    type Row = Result<(Vec<f64>, Vec<Vec<f64>>), String>;

    #[test]
    fn wire_round_trips_bit_for_bit() {
        let items: Vec<Row> = vec![
            Ok((
                vec![-0.0, f64::MIN_POSITIVE, 1.0 / 3.0],
                vec![vec![], vec![1e300]],
            )),
            Err("solve failed at t = 0.5 — ünïcode".to_string()),
            Ok((vec![], vec![])),
        ];
        let bytes = encode_all(&items);
        let back: Vec<Row> = decode_all(&bytes, items.len()).unwrap();
        assert_eq!(back.len(), 3);
        let (a, b) = (back[0].as_ref().unwrap(), items[0].as_ref().unwrap());
        assert!(a
            .0
            .iter()
            .zip(&b.0)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_eq!(back[1], items[1]);
        // Truncated, padded or mistagged bytes are rejected, never a panic.
        assert!(decode_all::<Result<Vec<f64>, String>>(&bytes[..bytes.len() - 1], 3).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_all::<Result<Vec<f64>, String>>(&longer, 3).is_none());
        assert!(decode_all::<Result<f64, String>>(&[7], 1).is_none());
        assert!(decode_all::<Vec<f64>>(&u64::MAX.to_le_bytes(), 1).is_none());
    }

    #[test]
    fn the_lowest_failing_sample_is_reported_with_its_rank() {
        let r: Vec<Result<u64, String>> =
            vec![Ok(1), Ok(2), Err("b".into()), Ok(4), Err("e".into())];
        assert_eq!(
            all_ok(r, 2),
            Err(Error::SampleFailed {
                index: 2,
                rank: 0,
                message: "b".into()
            })
        );
        let r: Vec<Result<u64, String>> = vec![Ok(1), Ok(2), Ok(3), Ok(4), Err("e".into())];
        assert!(matches!(
            all_ok(r, 2),
            Err(Error::SampleFailed {
                index: 4,
                rank: 1,
                ..
            })
        ));
        assert_eq!(all_ok(vec![Ok::<u64, String>(1)], 4), Ok(vec![1]));
    }

    #[test]
    fn partitions_are_offsets_and_overflow_is_an_error() {
        assert_eq!(partition(&[3, 0, 5]), Ok(vec![(0, 3), (3, 0), (3, 5)]));
        let big = i32::MAX as u64;
        assert!(matches!(
            partition(&[big, 1]),
            Err(Error::TooLarge { rank: 1, .. })
        ));
    }

    #[test]
    fn fingerprints_see_bits_and_lengths() {
        let h = |v: &[f64]| Fingerprint::new().f64s(v).finish();
        assert_ne!(h(&[0.0]), h(&[-0.0]));
        assert_ne!(h(&[1.0]), h(&[1.0, 1.0]));
        assert_eq!(h(&[1.0, 2.0]), h(&[1.0, 2.0]));
        let s = |a: &str, b: &str| Fingerprint::new().str(a).str(b).finish();
        assert_ne!(s("ab", "c"), s("a", "bc"));
    }
}
