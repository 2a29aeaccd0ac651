//! Compiling: the recorded operations grouped into runs of a repeated pattern ([`Run`]), each
//! operand of a pattern's operation an affine sequence of slots, a list or a constant ([`Src`]).

use super::chunk::chunks;
use super::replay::Workspace;
use super::{Arg, Code, Op, Trace, CHUNK, MAX_CANDIDATES, MAX_PERIOD, MIN_SEGMENT};

/// Where an operand of a run's operation comes from, per repetition `r`.
#[derive(Clone, Debug)]
pub(super) enum Src {
    /// Row `row` of the run's own values (an earlier operation of the same repetition).
    Local { row: usize },
    /// Global slot `starts[r / seg] + (r % seg) stride` (an input, or a value an earlier run
    /// exported): repetitions come in segments of `seg` (the merged pieces of a run, a
    /// stencil's rows), affine inside each.
    Run {
        starts: Box<[u32]>,
        stride: isize,
        seg: usize,
    },
    /// Global slot `slots[r]`.
    List(Box<[u32]>),
    /// The same constant for every repetition.
    Const(f64),
    /// Constant `values[r]`.
    Consts(Box<[f64]>),
}

/// The global slot of a [`Src::Run`] at repetition `r`.
#[inline(always)]
pub(super) fn run_slot(starts: &[u32], stride: isize, seg: usize, r: usize) -> usize {
    (starts[r / seg] as isize + (r % seg) as isize * stride) as usize
}

/// Operation `k` of a run's pattern: row `k` of the run's values gets `code(a_r, b_r)` at
/// repetition `r`; with `export`, the row is also stored at global slots `export + r` (other
/// runs or the outputs read it).
#[derive(Clone, Debug)]
pub(super) struct RunOp {
    pub(super) code: Code,
    pub(super) a: Src,
    pub(super) b: Src,
    pub(super) export: Option<usize>,
}

/// A pattern of operations repeated `reps` times. It runs in chunks of at most [`CHUNK`]
/// repetitions, each chunk's values in a buffer of `ops.len() × chunk` (one row per
/// operation) small enough to stay in cache.
#[derive(Clone, Debug)]
pub(super) struct Run {
    pub(super) reps: usize,
    /// Repetitions per segment (see [`Src::Run`]): a chunk of work never straddles two.
    pub(super) seg: usize,
    /// Scattered operands (`List`s, strided `Run`s), gathered once per chunk into the first
    /// rows of the chunk's values (their adjoints scattered back once at its end): a value
    /// read by several operations is fetched once, and the operations read rows.
    pub(super) stage: Vec<Src>,
    /// The operations; operation `k` writes row `stage.len() + k`.
    pub(super) ops: Vec<RunOp>,
    /// Whether a later run reads a value this one exports (else only the outputs do, and a
    /// product need not run it forward first).
    pub(super) feeds_later: bool,
}

// ---- finding runs ----

/// Whether two operations have the same code and the same kinds of operands.
fn same_shape(p: &Op, q: &Op) -> bool {
    p.code == q.code
        && matches!(
            (p.a, q.a),
            (Arg::Id(_), Arg::Id(_)) | (Arg::Const(_), Arg::Const(_))
        )
        && matches!(
            (p.b, q.b),
            (Arg::Id(_), Arg::Id(_)) | (Arg::Const(_), Arg::Const(_))
        )
}

/// The number of repetitions of the pattern `ops[s..s + p]` starting at `s` (at least 1).
/// Repetition `r` must have the same codes and operand kinds, and each operand id must move
/// by a fixed stride: `x_r = x_0 + r d`, where an operand inside the pattern refers to an
/// earlier operation of the same repetition (`d = p`) and one outside it to a value
/// computed before the run starts (so that every operation of the pattern can run for all
/// repetitions at once).
fn repetitions(ops: &[Op], n_in: usize, s: usize, p: usize) -> usize {
    let start_id = (n_in + s) as i64;
    // operand ids of repetition 0 and their strides (from repetition 1)
    let mut strides: Vec<[i64; 2]> = Vec::with_capacity(p);
    if s + 2 * p > ops.len() {
        return 1;
    }
    for k in 0..p {
        let (o0, o1) = (&ops[s + k], &ops[s + p + k]);
        if !same_shape(o0, o1) {
            return 1;
        }
        let mut d = [0i64; 2];
        for (slot, (x0, x1)) in [(o0.a, o1.a), (o0.b, o1.b)].into_iter().enumerate() {
            if let (Some(x0), Some(x1)) = (x0.id(), x1.id()) {
                let (x0, x1) = (x0 as i64, x1 as i64);
                let inside = x0 >= start_id;
                // inside: an earlier operation of the same repetition
                if inside && (x0 >= start_id + k as i64 || x1 != x0 + p as i64) {
                    return 1;
                }
                if !inside && x1 >= start_id {
                    return 1;
                }
                d[slot] = x1 - x0;
            }
        }
        strides.push(d);
    }
    let mut reps = 2;
    'more: while s + (reps + 1) * p <= ops.len() {
        let r = reps as i64;
        for k in 0..p {
            let (o0, or) = (&ops[s + k], &ops[s + reps * p + k]);
            if !same_shape(o0, or) {
                break 'more;
            }
            for (slot, (x0, xr)) in [(o0.a, or.a), (o0.b, or.b)].into_iter().enumerate() {
                if let (Some(x0), Some(xr)) = (x0.id(), xr.id()) {
                    let (x0, xr) = (x0 as i64, xr as i64);
                    if xr != x0 + r * strides[k][slot] || (x0 < start_id && xr >= start_id) {
                        break 'more;
                    }
                }
            }
        }
        reps += 1;
    }
    reps
}

/// The best run starting at `s`: `(pattern length, repetitions)` covering the most
/// operations among the candidate lengths (the distances to the next operations of the same
/// shape), `(1, 1)` if nothing repeats.
fn best_run(ops: &[Op], n_in: usize, s: usize) -> (usize, usize) {
    let mut best = (1, 1);
    let end = ops.len().min(s + MAX_PERIOD + 1);
    let candidates = (s + 1..end)
        .filter(|&q| same_shape(&ops[s], &ops[q]))
        .take(MAX_CANDIDATES);
    for q in candidates {
        let p = q - s;
        let reps = repetitions(ops, n_in, s, p);
        if reps >= 2 && p * reps > best.0 * best.1 {
            best = (p, reps);
        }
    }
    best
}

/// How operation `k` of a pattern starting at op `s` reads an operand: a constant (`-1`), a
/// value from before the pattern (`-2`) or row `k'` of the same repetition (`k'`).
fn operand_kind(arg: Arg, n_in: usize, s: usize) -> i64 {
    match arg {
        Arg::Const(_) => -1,
        Arg::Id(x) if (x as usize) < n_in + s => -2,
        Arg::Id(x) => (x as usize - n_in - s) as i64,
    }
}

/// Groups `ops` into runs, decides which values are exported (read by another run or
/// returned) and gives them global slots after the inputs.
///
/// Runs are found left to right ([`best_run`]); then runs with the same pattern are merged
/// into the first of them when everything they read from outside was computed before it (a
/// stencil's boundary cells, one pattern per row, become one run): fewer, longer loops.
pub(super) fn compile(n_in: usize, ops: &[Op], outputs: &[Arg]) -> Trace {
    let (groups, pieces) = find_runs(n_in, ops);
    // where each operation landed: (run, row, repetition)
    let place = places(&groups, ops.len());
    let (exported, feeds_later) = exports(n_in, ops, outputs, &groups, &place);
    let mut next = n_in;
    let export_start: Vec<Vec<Option<usize>>> = groups
        .iter()
        .zip(&exported)
        .map(|((_, firsts), rows)| {
            let reps = firsts.len();
            rows.iter()
                .map(|&e| {
                    e.then(|| {
                        next += reps;
                        next - reps
                    })
                })
                .collect()
        })
        .collect();
    let global = |id: u32| -> usize {
        let id = id as usize;
        if id < n_in {
            return id;
        }
        let (run, row, r) = place[id - n_in];
        export_start[run as usize][row as usize].expect("read across runs, so exported")
            + r as usize
    };
    let runs: Vec<Run> = groups
        .iter()
        .enumerate()
        .map(|(i, (p, firsts))| {
            let reps = firsts.len();
            // segments: the merged pieces, when they are all alike and long enough that
            // chunks of one segment are worth their dispatch (else slot lists)
            let seg = match pieces[i].split_first() {
                Some((&first, rest))
                    if first >= MIN_SEGMENT && rest.iter().all(|&r| r == first) =>
                {
                    first
                }
                _ => reps,
            };
            let src = |k: usize, arg: fn(&Op) -> Arg| -> Src {
                let args: Vec<Arg> = firsts.iter().map(|&f| arg(&ops[f + k])).collect();
                match args[0] {
                    Arg::Const(c0) => {
                        let cs: Vec<f64> = args
                            .iter()
                            .map(|a| match a {
                                Arg::Const(c) => *c,
                                Arg::Id(_) => unreachable!("same shape"),
                            })
                            .collect();
                        if cs.iter().all(|c| c.to_bits() == c0.to_bits()) {
                            Src::Const(c0)
                        } else {
                            Src::Consts(cs.into())
                        }
                    }
                    Arg::Id(x0) => {
                        let x0 = x0 as usize;
                        if x0 >= n_in && place[x0 - n_in].0 as usize == i {
                            return Src::Local {
                                row: place[x0 - n_in].1 as usize,
                            };
                        }
                        let slots: Vec<u32> = args
                            .iter()
                            .map(|a| global(a.id().expect("same shape")) as u32)
                            .collect();
                        let at = |r: usize| slots[r] as isize;
                        let stride = if seg > 1 { at(1) - at(0) } else { 0 };
                        let affine = (0..reps)
                            .all(|r| at(r) == at(r - r % seg) + (r % seg) as isize * stride);
                        if affine {
                            Src::Run {
                                starts: (0..reps).step_by(seg).map(|r| slots[r]).collect(),
                                stride,
                                seg,
                            }
                        } else {
                            Src::List(slots.into())
                        }
                    }
                }
            };
            let mut run_ops: Vec<RunOp> = (0..*p)
                .map(|k| RunOp {
                    code: ops[firsts[0] + k].code,
                    a: src(k, |o| o.a),
                    b: src(k, |o| o.b),
                    export: export_start[i][k],
                })
                .collect();
            let stage = stage_scattered(&mut run_ops);
            Run {
                reps,
                seg,
                stage,
                ops: run_ops,
                feeds_later: feeds_later[i],
            }
        })
        .collect();
    let outputs: Vec<Result<usize, f64>> = outputs
        .iter()
        .map(|o| match *o {
            Arg::Id(id) => Ok(global(id)),
            Arg::Const(c) => Err(c),
        })
        .collect();
    assemble(n_in, ops.len(), runs, outputs, next)
}

/// A run as found: its pattern length and the first operation of each repetition.
type Group = (usize, Vec<usize>);

/// The runs of `ops`, left to right: each run's pattern length and the first operation of each
/// repetition, and per run the repetitions each merged piece brought (see [`compile`]).
fn find_runs(n_in: usize, ops: &[Op]) -> (Vec<Group>, Vec<Vec<usize>>) {
    use std::collections::HashMap;
    // the runs: pattern length and the first op of each repetition
    let mut groups: Vec<Group> = Vec::new();
    // per run, the repetitions each merged piece brought
    let mut pieces: Vec<Vec<usize>> = Vec::new();
    let mut by_pattern: HashMap<Vec<(Code, i64, i64)>, usize> = HashMap::new();
    let mut s = 0;
    while s < ops.len() {
        let (p, reps) = best_run(ops, n_in, s);
        let pattern: Vec<(Code, i64, i64)> = ops[s..s + p]
            .iter()
            .map(|o| {
                (
                    o.code,
                    operand_kind(o.a, n_in, s),
                    operand_kind(o.b, n_in, s),
                )
            })
            .collect();
        let read_before = ops[s..s + p * reps]
            .iter()
            .flat_map(|o| [o.a.id(), o.b.id()])
            .flatten()
            .map(|x| x as usize)
            .filter(|&x| x < n_in + s)
            .max();
        let firsts = (0..reps).map(|r| s + r * p);
        match by_pattern.get(&pattern) {
            Some(&g) if read_before.map_or(true, |x| x < n_in + groups[g].1[0]) => {
                groups[g].1.extend(firsts);
                pieces[g].push(reps);
            }
            _ => {
                by_pattern.insert(pattern, groups.len());
                groups.push((p, firsts.collect()));
                pieces.push(vec![reps]);
            }
        }
        s += p * reps;
    }
    (groups, pieces)
}

/// Where each of the `n_ops` operations landed in the runs `groups`: (run, row, repetition).
fn places(groups: &[Group], n_ops: usize) -> Vec<(u32, u32, u32)> {
    let mut place = vec![(0u32, 0u32, 0u32); n_ops];
    for (i, (p, firsts)) in groups.iter().enumerate() {
        for (r, &f) in firsts.iter().enumerate() {
            for k in 0..*p {
                place[f + k] = (i as u32, k as u32, r as u32);
            }
        }
    }
    place
}

/// Per run, the rows read by another run or returned (`exported`), and whether a later run
/// reads one (`feeds_later`); `place` is where each operation landed (run, row, repetition).
fn exports(
    n_in: usize,
    ops: &[Op],
    outputs: &[Arg],
    groups: &[Group],
    place: &[(u32, u32, u32)],
) -> (Vec<Vec<bool>>, Vec<bool>) {
    // exported rows: read by another run, or returned
    let mut exported: Vec<Vec<bool>> = groups.iter().map(|(p, _)| vec![false; *p]).collect();
    let mut feeds_later = vec![false; groups.len()];
    for (j, op) in ops.iter().enumerate() {
        for x in [op.a, op.b].iter().filter_map(|a| a.id()) {
            let x = x as usize;
            if x >= n_in && place[x - n_in].0 != place[j].0 {
                let (run, row, _) = place[x - n_in];
                exported[run as usize][row as usize] = true;
                feeds_later[run as usize] = true;
            }
        }
    }
    for x in outputs.iter().filter_map(|a| a.id()) {
        let x = x as usize;
        if x >= n_in {
            let (run, row, _) = place[x - n_in];
            exported[run as usize][row as usize] = true;
        }
    }
    (exported, feeds_later)
}

/// The trace of the compiled `runs`: its buffers sized for the largest chunk, and the flat
/// path's tasks.
fn assemble(
    n_in: usize,
    n_ops: usize,
    runs: Vec<Run>,
    outputs: Vec<Result<usize, f64>>,
    n_globals: usize,
) -> Trace {
    let widest = runs.iter().map(|r| r.reps.min(CHUNK)).max().unwrap_or(0);
    let biggest = runs
        .iter()
        .map(|r| r.reps.min(CHUNK) * (r.stage.len() + r.ops.len()))
        .max()
        .unwrap_or(0);
    let flat = !runs.iter().any(|r| r.feeds_later);
    let tasks = (0..runs.len())
        .flat_map(|i| chunks(&runs[i]).map(move |(r0, len)| (i, r0, len)))
        .collect();
    let element_ops = runs.iter().map(|r| r.reps * r.ops.len()).sum();
    Trace {
        n_inputs: n_in,
        n_ops,
        runs,
        outputs,
        flat,
        globals: vec![0.0; n_globals],
        global_adj: Vec::new(),
        work: vec![Workspace::new(biggest, widest)],
        widest,
        biggest,
        tasks,
        element_ops,
    }
}

/// Moves a run's scattered operands (`List`s, strided `Run`s) into its stage: each distinct
/// one gets a staged row, the operations read rows (`Local`, renumbered: staged rows first).
/// Returns the stage.
fn stage_scattered(ops: &mut [RunOp]) -> Vec<Src> {
    use std::collections::HashMap;
    let mut stage: Vec<Src> = Vec::new();
    let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut staged_row = |src: &Src| -> Option<usize> {
        let key: Vec<i64> = match src {
            Src::List(slots) => std::iter::once(-1)
                .chain(slots.iter().map(|&s| s as i64))
                .collect(),
            Src::Run {
                starts,
                stride,
                seg,
            } if !matches!(stride, 0 | 1) => [-2, *stride as i64, *seg as i64]
                .into_iter()
                .chain(starts.iter().map(|&s| s as i64))
                .collect(),
            _ => return None,
        };
        Some(*index.entry(key).or_insert_with(|| {
            stage.push(src.clone());
            stage.len() - 1
        }))
    };
    let staged: Vec<[Option<usize>; 2]> = ops
        .iter()
        .map(|op| [staged_row(&op.a), staged_row(&op.b)])
        .collect();
    let n_stage = stage.len();
    for (op, st) in ops.iter_mut().zip(staged) {
        for (src, st) in [&mut op.a, &mut op.b].into_iter().zip(st) {
            if let Some(row) = st {
                *src = Src::Local { row };
            } else if let Src::Local { row } = src {
                *row += n_stage;
            }
        }
    }
    stage
}
