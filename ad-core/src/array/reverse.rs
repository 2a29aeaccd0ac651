//! The reverse steps of array operations ([`ArrayOp::reverse`]): element-wise loops over the
//! partials' runs, fused for binary operations, split over threads above [`PAR_MIN`].

use rayon::prelude::*;

use super::recorded::{Arg, ArrayOp, IndexMap, Input, Partial};
use super::{dot, map, sum, CHUNK, PAR_MIN};
use crate::tape::Claims;

/// `dst[i] += (c w[i]) src[i]`, or `=` if `WRITE` (vectorised; parallel above `PAR_MIN`).
pub(super) fn axpy_mul<const WRITE: bool>(dst: &mut [f64], c: f64, w: &[f64], src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(w.par_chunks(CHUNK))
            .zip(src.par_chunks(CHUNK))
            .for_each(|((d, w), s)| axpy_mul::<WRITE>(d, c, w, s));
    } else {
        let n = dst.len();
        let (w, src) = (&w[..n], &src[..n]);
        for i in 0..n {
            let v = (c * w[i]) * src[i];
            dst[i] = if WRITE { v } else { dst[i] + v };
        }
    }
}

/// `dst[i] += c src[i]`, or `=` if `WRITE`.
pub(super) fn axpy<const WRITE: bool>(dst: &mut [f64], c: f64, src: &[f64]) {
    if dst.len() >= PAR_MIN {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| axpy::<WRITE>(d, c, s));
    } else {
        let n = dst.len();
        let src = &src[..n];
        for i in 0..n {
            let v = c * src[i];
            dst[i] = if WRITE { v } else { dst[i] + v };
        }
    }
}

/// `dst[i] += c`, or `=` if `WRITE`.
fn add_const<const WRITE: bool>(dst: &mut [f64], c: f64) {
    for d in dst {
        *d = if WRITE { c } else { *d + c };
    }
}

/// A partial derivative in a fused reverse loop: `at(i)` is the partial of element `i`.
trait Part: Copy + Send + Sync {
    fn at(self, i: usize) -> f64;
    /// Elements `lo..hi`.
    fn range(self, lo: usize, hi: usize) -> Self;
    /// Asserts that `n` elements exist (so the loop has no bounds checks).
    fn check(self, n: usize);
}

/// The same partial for every element.
#[derive(Clone, Copy)]
struct ConstPart(f64);

impl Part for ConstPart {
    #[inline(always)]
    fn at(self, _: usize) -> f64 {
        self.0
    }
    #[inline(always)]
    fn range(self, _: usize, _: usize) -> Self {
        self
    }
    #[inline(always)]
    fn check(self, _: usize) {}
}

/// Partials `scale * run[i]`.
#[derive(Clone, Copy)]
struct RunPart<'a>(&'a [f64], f64);

impl Part for RunPart<'_> {
    #[inline(always)]
    fn at(self, i: usize) -> f64 {
        self.1 * self.0[i]
    }
    #[inline(always)]
    fn range(self, lo: usize, hi: usize) -> Self {
        RunPart(&self.0[lo..hi], self.1)
    }
    #[inline(always)]
    fn check(self, n: usize) {
        assert!(self.0.len() >= n);
    }
}

/// `d0[i] (+)= p0(i) out[i]` and `d1[i] (+)= p1(i) out[i]` in one pass over `out` (`=` where
/// `W0` / `W1`): the reverse step of a binary element-wise operation.
fn reverse2<P0: Part, P1: Part, const W0: bool, const W1: bool>(
    d0: &mut [f64],
    d1: &mut [f64],
    p0: P0,
    p1: P1,
    out: &[f64],
) {
    let n = out.len();
    if n >= PAR_MIN {
        d0.par_chunks_mut(CHUNK)
            .zip(d1.par_chunks_mut(CHUNK))
            .zip(out.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, ((d0, d1), o))| {
                let (lo, hi) = (c * CHUNK, c * CHUNK + o.len());
                reverse2::<P0, P1, W0, W1>(d0, d1, p0.range(lo, hi), p1.range(lo, hi), o)
            });
        return;
    }
    let (d0, d1) = (&mut d0[..n], &mut d1[..n]);
    p0.check(n);
    p1.check(n);
    for i in 0..n {
        let o = out[i];
        let (v0, v1) = (p0.at(i) * o, p1.at(i) * o);
        d0[i] = if W0 { v0 } else { d0[i] + v0 };
        d1[i] = if W1 { v1 } else { d1[i] + v1 };
    }
}

/// [`reverse2`] with the write modes chosen at run time.
fn reverse2_modes<P0: Part, P1: Part>(
    d0: &mut [f64],
    d1: &mut [f64],
    p0: P0,
    p1: P1,
    w: (bool, bool),
    out: &[f64],
) {
    match w {
        (true, true) => reverse2::<P0, P1, true, true>(d0, d1, p0, p1, out),
        (true, false) => reverse2::<P0, P1, true, false>(d0, d1, p0, p1, out),
        (false, true) => reverse2::<P0, P1, false, true>(d0, d1, p0, p1, out),
        (false, false) => reverse2::<P0, P1, false, false>(d0, d1, p0, p1, out),
    }
}

/// The reverse step of a binary element-wise operation whose two array arguments occupy the
/// disjoint ranges `s0..s0 + n` and `s1..s1 + n` of `below`: one pass.
fn reverse_binary(
    claims: &mut Claims<'_>,
    below: &mut [f64],
    (s0, p0): (usize, &Partial),
    (s1, p1): (usize, &Partial),
    arena: &[f64],
    out: &[f64],
) {
    let n = out.len();
    let w = (
        claims.claim(below, s0, s0 + n),
        claims.claim(below, s1, s1 + n),
    );
    let (d0, d1) = if s0 < s1 {
        let (lo, hi) = below.split_at_mut(s1);
        (&mut lo[s0..s0 + n], &mut hi[..n])
    } else {
        let (lo, hi) = below.split_at_mut(s0);
        (&mut hi[..n], &mut lo[s1..s1 + n])
    };
    let c = |p: &Partial| match p {
        Partial::Const(c) => *c,
        _ => 1.0,
    };
    match (p0.run(arena, n), p1.run(arena, n)) {
        (None, None) => reverse2_modes(d0, d1, ConstPart(c(p0)), ConstPart(c(p1)), w, out),
        (Some((r, k)), None) => reverse2_modes(d0, d1, RunPart(r, k), ConstPart(c(p1)), w, out),
        (None, Some((r, k))) => reverse2_modes(d0, d1, ConstPart(c(p0)), RunPart(r, k), w, out),
        (Some((r0, k0)), Some((r1, k1))) => {
            reverse2_modes(d0, d1, RunPart(r0, k0), RunPart(r1, k1), w, out)
        }
    }
}

/// Adds `scale * c * src` (`part = Some((c, scale))`) or `c0 * src` into `adj[lo..lo + n]`,
/// claiming the range first (see [`Claims`]).
fn accumulate(
    claims: &mut Claims<'_>,
    adj: &mut [f64],
    lo: usize,
    part: Option<(&[f64], f64)>,
    c0: f64,
    src: &[f64],
) {
    let n = src.len();
    let write = claims.claim(adj, lo, lo + n);
    let dst = &mut adj[lo..lo + n];
    match (part, write) {
        (Some((w, c)), true) => axpy_mul::<true>(dst, c, w, src),
        (Some((w, c)), false) => axpy_mul::<false>(dst, c, w, src),
        (None, true) => axpy::<true>(dst, c0, src),
        (None, false) => axpy::<false>(dst, c0, src),
    }
}

impl ArrayOp {
    /// Adds this operation's contribution to the adjoints of its inputs (`below`), given the
    /// adjoints of its outputs (`out`); every input range is claimed first (see [`Claims`]:
    /// the first contribution to a lazy run is written, not added).
    pub(crate) fn reverse(
        &self,
        arena: &[f64],
        out: &[f64],
        below: &mut [f64],
        claims: &mut Claims<'_>,
    ) {
        match self {
            ArrayOp::Elementwise { n, args } => {
                reverse_elementwise(*n, args, arena, out, below, claims)
            }
            ArrayOp::Reduce { n, args } => reverse_reduce(*n, args, arena, out, below, claims),
            ArrayOp::Gather { src, src_len, map } => {
                let src = *src as usize;
                let bijective = matches!(map, IndexMap::Roll { .. } | IndexMap::Roll2 { .. });
                if bijective && claims.claim(below, src, src + src_len) {
                    // a permutation of the whole source: every element written once
                    map.for_runs(out.len(), |o, s, len| {
                        below[src + s..src + s + len].copy_from_slice(&out[o..o + len]);
                    });
                } else {
                    if !bijective {
                        claims.claim_zeroed(below, src, src + src_len);
                    }
                    map.for_runs(out.len(), |o, s, len| {
                        let dst = &mut below[src + s..src + s + len];
                        for (b, &w) in dst.iter_mut().zip(&out[o..o + len]) {
                            *b += w;
                        }
                    });
                }
            }
            ArrayOp::ScatterAdd { src, idx } => {
                let src = *src as usize;
                // every source element is read once: a write if the range is claimed
                if claims.claim(below, src, src + idx.len()) {
                    for (i, &k) in idx.iter().enumerate() {
                        below[src + i] = out[k as usize];
                    }
                } else {
                    for (i, &k) in idx.iter().enumerate() {
                        below[src + i] += out[k as usize];
                    }
                }
            }
            ArrayOp::MatVec { x, matrix } => {
                let x = *x as usize;
                claims.claim_zeroed(below, x, x + matrix.cols());
                matrix.apply_transpose_add(out, &mut below[x..x + matrix.cols()]);
            }
            ArrayOp::VarMatVec { a, x, m, n, off } => {
                let (m, n, off) = (*m, *n, *off);
                let av = &arena[off..off + m * n];
                let xv = &arena[off + m * n..off + m * n + n];
                if let Some(Input::Array(a)) = *a {
                    // A_bar[i, j] += out[i] x[j]
                    let a = a as usize;
                    claims.claim_zeroed(below, a, a + m * n);
                    for (i, &o) in out.iter().enumerate() {
                        axpy::<false>(&mut below[a + i * n..a + (i + 1) * n], o, xv);
                    }
                }
                if let Some(Input::Array(x)) = *x {
                    // x_bar += A^T out
                    let x = x as usize;
                    claims.claim_zeroed(below, x, x + n);
                    for (i, &o) in out.iter().enumerate() {
                        axpy::<false>(&mut below[x..x + n], o, &av[i * n..(i + 1) * n]);
                    }
                }
            }
            ArrayOp::Map { n, off, slots } => {
                let out = map::OutBar::Run(out);
                map::reverse((*n, *off), slots, arena, out, below, claims);
            }
            ArrayOp::MapSum { n, off, slots } => {
                let out = map::OutBar::Uniform(out[0]);
                map::reverse((*n, *off), slots, arena, out, below, claims);
            }
            ArrayOp::Nothing => {}
        }
    }
}

/// The reverse step of [`ArrayOp::Elementwise`]: `partial_i * out_bar[i]` into each argument
/// (one pass for two disjoint array arguments).
fn reverse_elementwise(
    n: usize,
    args: &[Option<Arg>; 3],
    arena: &[f64],
    out: &[f64],
    below: &mut [f64],
    claims: &mut Claims<'_>,
) {
    if let [Some(a0), Some(a1), None] = args {
        if let (Input::Array(s0), Input::Array(s1)) = (a0.input, a1.input) {
            let (s0, s1) = (s0 as usize, s1 as usize);
            if s0 + n <= s1 || s1 + n <= s0 {
                let (p0, p1) = ((s0, &a0.partial), (s1, &a1.partial));
                reverse_binary(claims, below, p0, p1, arena, out);
                return;
            }
        }
    }
    for arg in args.iter().flatten() {
        let run = arg.partial.run(arena, n);
        let c = match arg.partial {
            Partial::Const(c) => c,
            _ => 1.0,
        };
        match arg.input {
            Input::Array(s) => accumulate(claims, below, s as usize, run, c, out),
            Input::Scalar(j) => {
                below[j as usize] += match run {
                    None => c * sum(out),
                    Some((w, 1.0)) => dot(w, out),
                    Some((w, k)) => k * dot(w, out),
                }
            }
        }
    }
}

/// The reverse step of [`ArrayOp::Reduce`]: `partial_i * out_bar[0]` into each argument.
fn reverse_reduce(
    n: usize,
    args: &[Option<Arg>; 2],
    arena: &[f64],
    out: &[f64],
    below: &mut [f64],
    claims: &mut Claims<'_>,
) {
    let w = out[0];
    for arg in args.iter().flatten() {
        let run = arg.partial.run(arena, n);
        match (arg.input, run, &arg.partial) {
            (Input::Array(s), None, Partial::Const(c)) => {
                let s = s as usize;
                if claims.claim(below, s, s + n) {
                    add_const::<true>(&mut below[s..s + n], c * w);
                } else {
                    add_const::<false>(&mut below[s..s + n], c * w);
                }
            }
            (Input::Array(s), Some((p, k)), _) => {
                accumulate(claims, below, s as usize, None, w * k, p)
            }
            (Input::Scalar(j), None, Partial::Const(c)) => below[j as usize] += c * w,
            (Input::Scalar(j), Some((p, k)), _) => below[j as usize] += w * k * sum(p),
            (_, None, _) => unreachable!("a constant partial has no run"),
        }
    }
}
