//! One chunk of a run replayed: values forward, adjoints backward, in loops specialised to
//! their operands' kinds (and compiled for AVX2 when the processor has it).

use super::compile::{run_slot, Run, Src};
use super::replay::Workspace;
use super::{Code, CHUNK};
use crate::table;

/// The global values a chunk reads, and whether it stores its exported rows among them.
pub(super) enum Globals<'a> {
    Read(&'a [f64]),
    Write(&'a mut [f64]),
}

/// Replays repetitions `r0..r0 + len` of `run` into the workspace's `local` (and, with
/// [`Globals::Write`], its exported rows into the globals).
#[inline(always)]
fn chunk_forward_body(run: &Run, r0: usize, len: usize, ws: &mut Workspace, mut globals: Globals) {
    let g: &[f64] = match &globals {
        Globals::Read(g) => g,
        Globals::Write(g) => g,
    };
    for (s, src) in run.stage.iter().enumerate() {
        gather(src, g, r0, &mut ws.local[s * len..(s + 1) * len]);
    }
    let n_stage = run.stage.len();
    for (k, op) in run.ops.iter().enumerate() {
        let (rows, rest) = ws.local.split_at_mut((n_stage + k) * len);
        let out = &mut rest[..len];
        let g: &[f64] = match &globals {
            Globals::Read(g) => g,
            Globals::Write(g) => g,
        };
        let a = view(&op.a, rows, g, r0, len);
        let b = view(&op.b, rows, g, r0, len);
        // the common operations get loops specialised to their operands' kinds; the others
        // one loop each (keeping the dispatching functions small enough for the caches)
        match op.code {
            Code::Add => map(out, a, b, |x, y| x + y),
            Code::Sub => map(out, a, b, |x, y| x - y),
            Code::Mul => map(out, a, b, |x, y| table::mul(x, y).0),
            Code::Div => map(out, a, b, |x, y| table::div(x, y).0),
            code => with_rule!(code, |f| {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = f(get(a, r), get(b, r)).0;
                }
            }),
        }
        if let (Some(e), Globals::Write(g)) = (op.export, &mut globals) {
            g[e + r0..e + r0 + len].copy_from_slice(out);
        }
    }
}

/// The reverse step of repetitions `r0..r0 + len` of `run`, whose values are in the
/// workspace: the exported rows start from their `seeds` (by global slot; `None`: read them
/// from `targets`), the operands' adjoints are added into `targets` (global slots).
#[inline(always)]
fn chunk_reverse_body(
    run: &Run,
    r0: usize,
    len: usize,
    ws: &mut Workspace,
    globals: &[f64],
    seeds: Option<&[f64]>,
    targets: &mut [f64],
) {
    let n_stage = run.stage.len();
    let ladj = &mut ws.local_adj[..(n_stage + run.ops.len()) * len];
    // rows nothing has flowed into yet: the first contribution is stored, not added (no
    // clearing), and an operation whose row stays fresh is skipped (its result is unused)
    let fresh = &mut ws.fresh;
    fresh.clear();
    fresh.resize(n_stage + run.ops.len(), true);
    let [ta, tb] = &mut ws.scratch;
    for (k, op) in run.ops.iter().enumerate().rev() {
        let row = n_stage + k;
        let (adj_rows, adj_rest) = ladj.split_at_mut(row * len);
        let g = &mut adj_rest[..len];
        if let Some(e) = op.export {
            let seeds = &seeds.unwrap_or(targets)[e + r0..e + r0 + len];
            if std::mem::replace(&mut fresh[row], false) {
                g.copy_from_slice(seeds);
            } else {
                for (g, &a) in g.iter_mut().zip(seeds) {
                    *g += a;
                }
            }
        }
        if fresh[row] {
            continue;
        }
        let rows = &ws.local[..row * len];
        let a = view(&op.a, rows, globals, r0, len);
        let b = view(&op.b, rows, globals, r0, len);
        let g = &*g;
        let (ta, tb) = (&mut ta[..len], &mut tb[..len]);
        macro_rules! fused_both {
            ($f:expr) => {{
                let f = $f;
                accumulate(&op.a, adj_rows, fresh, targets, r0, a, b, g, ta, |x, y| {
                    f(x, y).1
                });
                accumulate(&op.b, adj_rows, fresh, targets, r0, a, b, g, ta, |x, y| {
                    f(x, y).2
                });
            }};
        }
        match op.code {
            Code::Add => fused_both!(|_: f64, _: f64| (0.0, 1.0, 1.0)),
            Code::Sub => fused_both!(|_: f64, _: f64| (0.0, 1.0, -1.0)),
            Code::Mul => fused_both!(|x: f64, y: f64| table::mul(x, y)),
            Code::Div => fused_both!(|x: f64, y: f64| table::div(x, y)),
            code => {
                with_rule!(code, |f| {
                    for r in 0..len {
                        let (_, da, db) = f(get(a, r), get(b, r));
                        ta[r] = g[r] * da;
                        tb[r] = g[r] * db;
                    }
                });
                add_terms(&op.a, adj_rows, fresh, targets, r0, ta);
                add_terms(&op.b, adj_rows, fresh, targets, r0, tb);
            }
        }
    }
    for (s, src) in run.stage.iter().enumerate() {
        if !fresh[s] {
            scatter(src, targets, r0, &ladj[s * len..(s + 1) * len]);
        }
    }
}

/// Defines `$name`, which runs `$body` compiled for AVX2 when the processor has it (the
/// replay loops are ours, so they can be built for the host's vector width at run time: 4
/// lanes instead of SSE2's 2) and as built otherwise. The results are the same bit for bit:
/// the same operations in the same order, no fused multiply-adds.
macro_rules! dispatched {
    ($name:ident, $avx2:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        pub(super) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2 (just checked).
                return unsafe { $avx2($($arg),*) };
            }
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}
dispatched!(chunk_forward, chunk_forward_avx2, chunk_forward_body,
    (run: &Run, r0: usize, len: usize, ws: &mut Workspace, globals: Globals));
dispatched!(chunk_reverse, chunk_reverse_avx2, chunk_reverse_body,
    (run: &Run, r0: usize, len: usize, ws: &mut Workspace, globals: &[f64],
     seeds: Option<&[f64]>, targets: &mut [f64]));

/// The chunks `(first repetition, length)` run `run` is replayed in: at most [`CHUNK`]
/// repetitions, never across a segment boundary.
pub(super) fn chunks(run: &Run) -> impl Iterator<Item = (usize, usize)> {
    let (reps, seg) = (run.reps, run.seg);
    (0..reps).step_by(seg).flat_map(move |s0| {
        let end = (s0 + seg).min(reps);
        (s0..end)
            .step_by(CHUNK)
            .map(move |r0| (r0, CHUNK.min(end - r0)))
    })
}

/// An operand over the repetitions of a chunk: a slice of values or one value for all.
#[derive(Clone, Copy)]
enum View<'a> {
    Slice(&'a [f64]),
    Scalar(f64),
}

/// `src` over repetitions `r0..r0 + len`, reading the chunk's earlier `rows` and the
/// `globals`. Scattered operands (`List`s, strided `Run`s) never get here: the run's stage
/// gathered them into rows.
#[inline(always)]
fn view<'a>(src: &'a Src, rows: &'a [f64], globals: &'a [f64], r0: usize, len: usize) -> View<'a> {
    match *src {
        Src::Local { row } => View::Slice(&rows[row * len..(row + 1) * len]),
        Src::Const(c) => View::Scalar(c),
        Src::Consts(ref v) => View::Slice(&v[r0..r0 + len]),
        Src::Run {
            ref starts,
            stride: stride @ (0 | 1),
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0);
            if stride == 1 {
                View::Slice(&globals[first..first + len])
            } else {
                View::Scalar(globals[first])
            }
        }
        Src::Run { .. } | Src::List(_) => unreachable!("scattered operands are staged"),
    }
}

/// Writes the values of a scattered operand (`List`, strided `Run`) at repetitions
/// `r0..r0 + out.len()` into `out`.
#[inline(always)]
fn gather(src: &Src, globals: &[f64], r0: usize, out: &mut [f64]) {
    match *src {
        Src::Run {
            ref starts,
            stride,
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0) as isize;
            for (r, o) in out.iter_mut().enumerate() {
                *o = globals[(first + r as isize * stride) as usize];
            }
        }
        Src::List(ref slots) => {
            for (o, &s) in out.iter_mut().zip(&slots[r0..]) {
                *o = globals[s as usize];
            }
        }
        _ => unreachable!("gather: only scattered operands are staged"),
    }
}

/// `out[r] = f(a_r, b_r)`.
#[inline(always)]
fn map(out: &mut [f64], a: View, b: View, f: impl Fn(f64, f64) -> f64) {
    match (a, b) {
        (View::Slice(a), View::Slice(b)) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }
        (View::Slice(a), View::Scalar(y)) => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = f(x, y);
            }
        }
        (View::Scalar(x), View::Slice(b)) => {
            for (o, &y) in out.iter_mut().zip(b) {
                *o = f(x, y);
            }
        }
        (View::Scalar(x), View::Scalar(y)) => out.fill(f(x, y)),
    }
}

/// Where the adjoint terms of an operand go, over a chunk's repetitions.
enum Target<'a> {
    /// A constant: nowhere.
    Nowhere,
    /// A row of the chunk's adjoints nothing was added to yet: store.
    Store(&'a mut [f64]),
    /// A row or contiguous global slots: add.
    Add(&'a mut [f64]),
    /// Strided, broadcast or listed global slots: [`scatter`].
    Scatter,
}

/// The [`Target`] of `src` at repetitions `r0..r0 + len`: a row of the chunk's adjoints `rows`
/// (marked no longer `fresh`) or global slots.
#[inline(always)]
fn target<'a>(
    src: &Src,
    rows: &'a mut [f64],
    fresh: &mut [bool],
    globals: &'a mut [f64],
    r0: usize,
    len: usize,
) -> Target<'a> {
    match *src {
        Src::Const(_) | Src::Consts(_) => Target::Nowhere,
        Src::Local { row } => {
            let t = &mut rows[row * len..(row + 1) * len];
            if std::mem::replace(&mut fresh[row], false) {
                Target::Store(t)
            } else {
                Target::Add(t)
            }
        }
        Src::Run {
            ref starts,
            stride: 1,
            seg,
        } => {
            let first = run_slot(starts, 1, seg, r0);
            Target::Add(&mut globals[first..first + len])
        }
        _ => Target::Scatter,
    }
}

/// Adds `g[r] d(a_r, b_r)` to the adjoint of `src` at repetitions `r0 + r` (`d` one of the
/// operation's partials), fused into one loop for rows and contiguous slots; scattered slots
/// go through `tmp`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accumulate(
    src: &Src,
    rows: &mut [f64],
    fresh: &mut [bool],
    globals: &mut [f64],
    r0: usize,
    a: View,
    b: View,
    g: &[f64],
    tmp: &mut [f64],
    d: impl Fn(f64, f64) -> f64,
) {
    match target(src, rows, fresh, globals, r0, g.len()) {
        Target::Nowhere => {}
        Target::Store(t) => fused(t, a, b, g, d, |t, v| *t = v),
        Target::Add(t) => fused(t, a, b, g, d, |t, v| *t += v),
        Target::Scatter => {
            for (r, t) in tmp.iter_mut().enumerate() {
                *t = g[r] * d(get(a, r), get(b, r));
            }
            scatter(src, globals, r0, tmp);
        }
    }
}

/// Adds the precomputed `terms[r]` to the adjoint of `src` at repetitions `r0 + r` (as
/// [`accumulate`], for the less common operations).
#[inline(always)]
fn add_terms(
    src: &Src,
    rows: &mut [f64],
    fresh: &mut [bool],
    globals: &mut [f64],
    r0: usize,
    terms: &[f64],
) {
    match target(src, rows, fresh, globals, r0, terms.len()) {
        Target::Nowhere => {}
        Target::Store(t) => t.copy_from_slice(terms),
        Target::Add(t) => {
            for (t, &v) in t.iter_mut().zip(terms) {
                *t += v;
            }
        }
        Target::Scatter => scatter(src, globals, r0, terms),
    }
}

/// `put(target[r], g[r] d(a_r, b_r))` for every `r`: one loop per kind of operands.
#[inline(always)]
fn fused(
    target: &mut [f64],
    a: View,
    b: View,
    g: &[f64],
    d: impl Fn(f64, f64) -> f64,
    put: impl Fn(&mut f64, f64),
) {
    match (a, b) {
        (View::Slice(a), View::Slice(b)) => {
            for (((t, &g), &x), &y) in target.iter_mut().zip(g).zip(a).zip(b) {
                put(t, g * d(x, y));
            }
        }
        (View::Slice(a), View::Scalar(y)) => {
            for ((t, &g), &x) in target.iter_mut().zip(g).zip(a) {
                put(t, g * d(x, y));
            }
        }
        (View::Scalar(x), View::Slice(b)) => {
            for ((t, &g), &y) in target.iter_mut().zip(g).zip(b) {
                put(t, g * d(x, y));
            }
        }
        (View::Scalar(x), View::Scalar(y)) => {
            let dv = d(x, y);
            for (t, &g) in target.iter_mut().zip(g) {
                put(t, g * dv);
            }
        }
    }
}

/// Element `r` of a view.
#[inline(always)]
fn get(v: View, r: usize) -> f64 {
    match v {
        View::Slice(s) => s[r],
        View::Scalar(x) => x,
    }
}

/// Adds `d[r]` to the global slot of `src` (a `Run` or a `List`) at repetition `r0 + r`.
fn scatter(src: &Src, globals: &mut [f64], r0: usize, d: &[f64]) {
    match *src {
        Src::Run {
            ref starts,
            stride,
            seg,
        } => {
            let first = run_slot(starts, stride, seg, r0);
            if stride == 0 {
                globals[first] += d.iter().sum::<f64>();
            } else {
                for (r, &v) in d.iter().enumerate() {
                    globals[(first as isize + r as isize * stride) as usize] += v;
                }
            }
        }
        Src::List(ref slots) => {
            for (&s, &v) in slots[r0..r0 + d.len()].iter().zip(d) {
                globals[s as usize] += v;
            }
        }
        Src::Local { .. } | Src::Const(_) | Src::Consts(_) => {
            unreachable!("scatter: contiguous targets and constants are handled by accumulate")
        }
    }
}
