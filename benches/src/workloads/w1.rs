//! W1: extended Rosenbrock, n = 100_000, x[i] = 1 + 0.5 sin(i); gradient w.r.t. all of x.
//!
//! Methods:
//! - `wengert-scalar`: the generic scalar-style objective [`rosenbrock`] taped, through
//!   `ad_core::gradient` called repeatedly — what a user gets (the tape's per-thread pool reuses
//!   memory between calls);
//! - `wengert-scalar-reuse`: the same objective on one explicitly reused [`Tape`]
//!   (`Tape::clear`) and one reused [`Adjoints`]; results.json also gets the recording and the
//!   reverse sweep timed apart;
//! - `hand-written`: the analytic gradient, one fused loop (the practical limit).
//!
//! - `wengert-array`: the array-style objective [`rosenbrock_array`] (generic over
//!   [`RealArray`]): primal on `ndarray::Array1<f64>`, gradient on tape arrays (one tape node
//!   per array operation) with a fresh tape per call.
//! - `wengert-array-map`: the same in array style with the per-element formula fused into one
//!   map ([`rosenbrock_map`], `RealArray::map` over [`Term`]): two tape nodes in all.
//! - `wengert-array-map-sum`: the map and the sum fused too ([`rosenbrock_map_sum`],
//!   `RealArray::map_sum`): one node, no output array.

use ad_core::{Adjoints, ElementFn, Real, RealArray, Tape, Var, VarArray};
use ndarray::Array1;

use crate::measure::{page_faults, peak_rss_mb, rss_mb, time_default, Timing, WARMUP};
use crate::{check_reference, close, Method, ResultLine, Value, Workload};

/// Problem size.
pub const N: usize = 100_000;
/// Reference loss (BENCHMARKS.md).
pub const LOSS: f64 = 3795306.36911;
/// Reference gradient 2-norm (BENCHMARKS.md).
pub const GRADNORM: f64 = 84099.2879054;
/// Relative tolerance of the check against the references.
pub const TOL: f64 = 1e-8;

/// The workload and its methods.
pub fn workload() -> Workload {
    Workload {
        name: "W1",
        methods: vec![
            Method {
                name: "wengert-scalar",
                run: scalar,
            },
            Method {
                name: "wengert-scalar-reuse",
                run: scalar_reuse,
            },
            Method {
                name: "wengert-array",
                run: array,
            },
            Method {
                name: "wengert-array-map",
                run: array_map,
            },
            Method {
                name: "wengert-array-map-sum",
                run: array_map_sum,
            },
            Method {
                name: "hand-written",
                run: hand_written,
            },
        ],
    }
}

/// The input: `x[i] = 1 + 0.5 sin(i)`.
pub fn x0(n: usize) -> Vec<f64> {
    (0..n).map(|i| 1.0 + 0.5 * (i as f64).sin()).collect()
}

/// The objective, written once as ordinary scalar code generic over [`Real`]:
/// `f(x) = sum_{i=0}^{n-2} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2`.
pub fn rosenbrock<S: Real>(x: &[S]) -> S {
    let mut f = S::zero();
    for i in 0..x.len().saturating_sub(1) {
        let r = x[i + 1] - x[i] * x[i];
        let s = S::one() - x[i];
        f += r * r * 100.0 + s * s;
    }
    f
}

/// The same objective in array style, written once for every [`RealArray`]:
/// `head = x[..n-1]`, `tail = x[1..]`, `f = sum 100 (tail - head^2)^2 + (1 - head)^2`.
pub fn rosenbrock_array<A: RealArray>(x: &A) -> A::Scalar {
    let n = x.len();
    let head = x.slice(0, 1, n - 1);
    let tail = x.slice(1, 1, n - 1);
    let r = tail.sub(&head.powi(2));
    let s = head.rsub_f64(1.0);
    r.powi(2).mul_f64(100.0).add(&s.powi(2)).sum()
}

/// One term of the objective, `100 (b - a^2)^2 + (1 - a)^2` with `a = x[i]`, `b = x[i+1]`:
/// the per-element formula of [`rosenbrock_map`], written once for every scalar type.
pub struct Term;

impl ElementFn<2> for Term {
    #[inline]
    fn eval<S: Real>(&self, [a, b]: [S; 2]) -> S {
        let r = b - a * a;
        let s = S::one() - a;
        r * r * 100.0 + s * s
    }
}

/// The objective in array style with the element-wise part fused: `f = sum map(Term, head,
/// tail)`, one map node and one sum node on a tape.
pub fn rosenbrock_map<A: RealArray>(x: &A) -> A::Scalar {
    let n = x.len();
    let head = x.slice(0, 1, n - 1);
    let tail = x.slice(1, 1, n - 1);
    A::map([&head, &tail], &Term).sum()
}

/// As [`rosenbrock_map`] with the sum fused into the map: one node on a tape.
pub fn rosenbrock_map_sum<A: RealArray>(x: &A) -> A::Scalar {
    let n = x.len();
    let head = x.slice(0, 1, n - 1);
    let tail = x.slice(1, 1, n - 1);
    A::map_sum([&head, &tail], &Term)
}

/// The hand-written value and gradient (written into `g`, same length as `x`): one fused loop.
pub fn rosenbrock_value_grad(x: &[f64], g: &mut [f64]) -> f64 {
    assert_eq!(
        x.len(),
        g.len(),
        "rosenbrock_value_grad: x and g differ in length"
    );
    let Some(last) = g.len().checked_sub(1) else {
        return 0.0;
    };
    let mut f = 0.0;
    // 200 r_{i-1}: the contribution of term i-1 to g[i].
    let mut carry = 0.0;
    for (w, gi) in x.windows(2).zip(g.iter_mut()) {
        let (a, b) = (w[0], w[1]);
        let r = b - a * a;
        let s = 1.0 - a;
        f += r * r * 100.0 + s * s;
        *gi = carry - 400.0 * a * r - 2.0 * s;
        carry = 200.0 * r;
    }
    g[last] = carry;
    f
}

/// Euclidean norm.
pub fn norm(g: &[f64]) -> f64 {
    g.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Tape statistics of one recording of [`rosenbrock`] at `x`.
#[derive(Clone, Copy, Debug)]
pub struct TapeStats {
    /// Recorded nodes, inputs included (`Tape::len`).
    pub nodes: usize,
    /// Recorded operations: nodes minus inputs.
    pub ops: usize,
    /// Operands (parent references) over all nodes.
    pub operands: usize,
    /// `Tape::bytes`.
    pub bytes: usize,
}

impl TapeStats {
    /// Tape bytes per recorded operation.
    pub fn bytes_per_op(&self) -> f64 {
        self.bytes as f64 / self.ops as f64
    }
}

/// Records [`rosenbrock`] at `x` once and reads the tape's size.
pub fn tape_stats(x: &[f64]) -> TapeStats {
    let tape = Tape::new();
    let xs = tape.vars(x);
    let _ = rosenbrock(&xs);
    TapeStats {
        nodes: tape.len(),
        ops: tape.len() - x.len(),
        operands: tape.operands(),
        bytes: tape.bytes(),
    }
}

fn num(v: f64, decimals: usize) -> Value {
    Value::Num { v, decimals }
}

/// The common part of every W1 line: times, ratio, peak RSS, loss, gradient norm, checks.
#[allow(clippy::too_many_arguments)]
fn line(
    method: &str,
    primal: &Timing,
    primal_loss: f64,
    grad: &Timing,
    loss: f64,
    g: &[f64],
    peak_rss: f64,
    stats: Option<TapeStats>,
) -> ResultLine {
    let gradnorm = norm(g);
    let mut l = ResultLine::new("W1", method)
        .num("primal_ms", primal.median, 4)
        .num("grad_ms", grad.median, 4)
        .num("ratio", grad.median / primal.median, 2)
        .num("peak_rss_mb", peak_rss, 1)
        .num("loss", loss, 5)
        .num("gradnorm", gradnorm, 7);
    if let Some(s) = stats {
        l = l
            .num("bytes_per_op", s.bytes_per_op(), 2)
            .extra("nodes", Value::Int(s.nodes as u64))
            .extra("ops", Value::Int(s.ops as u64))
            .extra("operands", Value::Int(s.operands as u64))
            .extra("tape_bytes", Value::Int(s.bytes as u64));
    }
    l.extra.extend(primal.extras("primal_ms"));
    l.extra.extend(grad.extras("grad_ms"));
    l.extra.push(("n".into(), Value::Int(g.len() as u64)));
    check_reference(&mut l, loss, LOSS, gradnorm, GRADNORM, TOL);
    if !close(primal_loss, LOSS, TOL) {
        l.set(
            "MISMATCH_PRIMAL",
            Value::Text(format!("loss={primal_loss:.5}")),
        );
    }
    l
}

/// Minor page faults per call of the timed closure: `before` from [`page_faults`] taken after
/// one untimed call (so first touches of fresh memory are not counted) and before
/// [`time_default`] ran `t.runs` calls plus the warm-up.
fn faults_per_call(before: Option<(u64, u64)>, t: &Timing) -> Value {
    match (before, page_faults()) {
        (Some((b, _)), Some((a, _))) => num((a - b) as f64 / (t.runs + WARMUP) as f64, 1),
        _ => num(f64::NAN, 1),
    }
}

fn primal(x: &[f64]) -> (Timing, f64) {
    time_default(|| rosenbrock::<f64>(std::hint::black_box(x)))
}

/// `ad_core::gradient` called repeatedly, as a user would.
fn scalar() -> ResultLine {
    let x = x0(N);
    let (tp, primal_loss) = primal(&x);
    let rss_before = rss_mb();
    let _ = ad_core::gradient(|x| rosenbrock(x), &x);
    let faults = page_faults();
    let (tg, (loss, g)) = time_default(|| ad_core::gradient(|x| rosenbrock(x), &x));
    let (rss_after, peak) = (rss_mb(), peak_rss_mb());
    let faults = faults_per_call(faults, &tg);
    line(
        "wengert-scalar",
        &tp,
        primal_loss,
        &tg,
        loss,
        &g,
        peak,
        Some(tape_stats(&x)),
    )
    .extra("rss_growth_mb", num(rss_after - rss_before, 1))
    .extra("faults_per_call", faults)
}

/// One explicitly reused tape and adjoint vector; also times recording and sweep apart.
fn scalar_reuse() -> ResultLine {
    let x = x0(N);
    let (tp, primal_loss) = primal(&x);
    let rss_before = rss_mb();
    let mut tape = Tape::new();
    let mut adj = Adjoints::default();
    let mut g = vec![0.0; x.len()];
    let mut run = || {
        tape.clear();
        let xs = tape.vars(&x);
        let y = rosenbrock(&xs);
        tape.vjp_into(&[y], &[1.0], &mut adj);
        let start = xs[0].index() as usize;
        g.copy_from_slice(&adj.as_slice()[start..start + xs.len()]);
        y.value()
    };
    run();
    let faults = page_faults();
    let (tg, loss) = time_default(run);
    let (rss_after, peak) = (rss_mb(), peak_rss_mb());
    let faults = faults_per_call(faults, &tg);
    let (t_record, _) = time_default(|| {
        tape.clear();
        let xs = tape.vars(&x);
        rosenbrock(&xs).value()
    });
    // The tape now holds one recording: read its size, then time the reverse sweep alone.
    tape.clear();
    let xs = tape.vars(&x);
    let y = rosenbrock(&xs);
    let stats = TapeStats {
        nodes: tape.len(),
        ops: tape.len() - x.len(),
        operands: tape.operands(),
        bytes: tape.bytes(),
    };
    let (t_sweep, _) = time_default(|| tape.vjp_into(&[y], &[1.0], &mut adj));
    line(
        "wengert-scalar-reuse",
        &tp,
        primal_loss,
        &tg,
        loss,
        &g,
        peak,
        Some(stats),
    )
    .extra("record_ms", num(t_record.median, 4))
    .extra("sweep_ms", num(t_sweep.median, 4))
    .extra("rss_growth_mb", num(rss_after - rss_before, 1))
    .extra("faults_per_call", faults)
}

/// Array style: primal on ndarray, gradient on tape arrays (a fresh tape per call).
fn array() -> ResultLine {
    array_line("wengert-array", rosenbrock_array, |x| rosenbrock_array(x))
}

/// Array style with the fused map.
fn array_map() -> ResultLine {
    array_line("wengert-array-map", rosenbrock_map, |x| rosenbrock_map(x))
}

/// Array style with the fused map and sum.
fn array_map_sum() -> ResultLine {
    array_line("wengert-array-map-sum", rosenbrock_map_sum, |x| {
        rosenbrock_map_sum(x)
    })
}

/// An array-style line: `primal` on ndarray, `taped` on tape arrays (the same generic function
/// at two types).
fn array_line(
    method: &str,
    primal: fn(&Array1<f64>) -> f64,
    taped: for<'t> fn(&VarArray<'t>) -> Var<'t>,
) -> ResultLine {
    let x = x0(N);
    let xa = Array1::from(x.clone());
    let (tp, primal_loss) = time_default(|| primal(std::hint::black_box(&xa)));
    let rss_before = rss_mb();
    let mut g = vec![0.0; x.len()];
    let mut run = || {
        let tape = Tape::new();
        let xs = tape.var_array(&x);
        let y = taped(&xs);
        let adj = tape.gradient(y);
        xs.adjoints_into(&adj, &mut g);
        y.value()
    };
    run();
    let faults = page_faults();
    let (tg, loss) = time_default(run);
    let (rss_after, peak) = (rss_mb(), peak_rss_mb());
    let faults = faults_per_call(faults, &tg);
    let tape = Tape::new();
    let xs = tape.var_array(&x);
    let _ = taped(&xs);
    let stats = TapeStats {
        nodes: tape.len(),
        ops: tape.len() - x.len(),
        operands: tape.operands(),
        bytes: tape.bytes(),
    };
    line(method, &tp, primal_loss, &tg, loss, &g, peak, Some(stats))
        .extra("rss_growth_mb", num(rss_after - rss_before, 1))
        .extra("faults_per_call", faults)
}

/// The analytic gradient: the practical limit.
fn hand_written() -> ResultLine {
    let x = x0(N);
    let (tp, primal_loss) = primal(&x);
    let mut g = vec![0.0; x.len()];
    let (tg, loss) = time_default(|| rosenbrock_value_grad(std::hint::black_box(&x), &mut g));
    line(
        "hand-written",
        &tp,
        primal_loss,
        &tg,
        loss,
        &g,
        peak_rss_mb(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taped_gradient_matches_hand_written() {
        let x = x0(1000);
        let (v, g) = ad_core::gradient(|x| rosenbrock(x), &x);
        let mut gh = vec![0.0; x.len()];
        let vh = rosenbrock_value_grad(&x, &mut gh);
        assert!(close(v, vh, 1e-13));
        assert!(close(v, rosenbrock(&x), 1e-13));
        for (a, b) in g.iter().zip(&gh) {
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn array_style_matches_scalar_style() {
        let x = x0(1000);
        let (v, g) = ad_core::gradient(|x| rosenbrock(x), &x);
        let tape = Tape::new();
        let xs = tape.var_array(&x);
        let y = rosenbrock_array(&xs);
        let ga = xs.adjoints(&tape.gradient(y));
        assert!(close(y.value(), v, 1e-13));
        assert!(close(rosenbrock_array(&Array1::from(x.clone())), v, 1e-13));
        for (a, b) in ga.iter().zip(&g) {
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn fused_map_matches_scalar_style() {
        let x = x0(1000);
        let (v, g) = ad_core::gradient(|x| rosenbrock(x), &x);
        let tape = Tape::new();
        let xs = tape.var_array(&x);
        let y = rosenbrock_map(&xs);
        let gm = xs.adjoints(&tape.gradient(y));
        assert!(close(y.value(), v, 1e-13));
        assert!(close(rosenbrock_map(&Array1::from(x.clone())), v, 1e-13));
        for (a, b) in gm.iter().zip(&g) {
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // two nodes: the map and the sum
        assert_eq!(tape.len(), x.len() + (x.len() - 1) + 1);
    }

    #[test]
    fn fused_map_sum_matches_scalar_style() {
        let x = x0(1000);
        let (v, g) = ad_core::gradient(|x| rosenbrock(x), &x);
        let tape = Tape::new();
        let xs = tape.var_array(&x);
        let y = rosenbrock_map_sum(&xs);
        let gm = xs.adjoints(&tape.gradient(y));
        assert!(close(y.value(), v, 1e-13));
        assert!(close(
            rosenbrock_map_sum(&Array1::from(x.clone())),
            v,
            1e-13
        ));
        for (a, b) in gm.iter().zip(&g) {
            assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // one node with one output
        assert_eq!(tape.len(), x.len() + 1);
    }

    #[test]
    fn reference_values_at_full_size() {
        let x = x0(N);
        let mut g = vec![0.0; N];
        let v = rosenbrock_value_grad(&x, &mut g);
        assert!(close(v, LOSS, TOL), "loss {v}");
        assert!(close(norm(&g), GRADNORM, TOL), "gradnorm {}", norm(&g));
    }

    #[test]
    fn tape_stats_count_ops() {
        let s = tape_stats(&x0(10));
        assert_eq!(s.nodes, 10 + s.ops);
        assert!(s.bytes_per_op() > 0.0);
    }

    #[test]
    fn tiny_inputs() {
        let mut g = [7.0];
        assert_eq!(rosenbrock_value_grad(&[2.0], &mut g), 0.0);
        assert_eq!(g, [0.0]);
        assert_eq!(rosenbrock_value_grad(&[], &mut []), 0.0);
    }
}
