//! Checkpointing: trading recomputation for tape memory.
//!
//! - [`checkpoint`] runs a function without recording its inside; the reverse sweep re-runs it
//!   on a fresh tape from its saved inputs. Memory: its inputs, instead of its whole tape.
//! - [`revolve`] iterates `x_{k+1} = step(k, x_k, p)` for `N` steps and differentiates the
//!   result with Griewank's binomial checkpointing: with `s` stored states it re-evaluates the
//!   minimal number of steps, [`binomial_advances`]`(N, s)`, and holds at most `s` states
//!   plus the tape of one step, however large `N` is.

use crate::block::Block;
use crate::dual::Dual;
use crate::error::BlockError;
use crate::function::Function;
use crate::real::Real;
use crate::tape::{Adjoints, Tape};
use crate::var::Var;

// ---------------------------------------------------------------- checkpoint

/// Evaluates `f(x)` with checkpointing: on a tape it records ONE node; the reverse sweep
/// re-runs `f` on a fresh tape from a saved copy of `x` and propagates the cotangent through it.
///
/// With `f64` it is just `f.eval(x)`; with `Dual` the tangent is computed by running `f` on
/// `Dual<1>` once per direction.
///
/// ```
/// use ad_core::{checkpoint, gradient, Function, Real};
///
/// struct Expensive;
/// impl Function for Expensive {
///     fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
///         let mut y = x[0];
///         for _ in 0..1000 {
///             y = (y * 0.999).sin() + x[1];
///         }
///         vec![y]
///     }
/// }
/// let (v, g) = gradient(|x| checkpoint(Expensive, x)[0], &[0.3, 0.01]);
/// let (v2, g2) = gradient(|x| Expensive.eval(x)[0], &[0.3, 0.01]);
/// assert_eq!(v, v2);
/// assert!((g[0] - g2[0]).abs() < 1e-14 && (g[1] - g2[1]).abs() < 1e-14);
/// ```
pub fn checkpoint<S: Real, F: Function + 'static>(f: F, x: &[S]) -> Vec<S> {
    let xv: Vec<f64> = x.iter().map(|v| v.value()).collect();
    let y = f.eval(&xv);
    let mut out = vec![S::zero(); y.len()];
    S::apply_block(Checkpointed { f, y }, x, &mut out);
    out
}

/// The block behind [`checkpoint`]: `y` is the already computed primal output.
struct Checkpointed<F> {
    f: F,
    y: Vec<f64>,
}

impl<F: Function + 'static> Block for Checkpointed<F> {
    type Residuals = Vec<f64>;

    fn forward(&self, x: &[f64], y: &mut [f64]) -> Vec<f64> {
        y.copy_from_slice(&self.y);
        x.to_vec()
    }

    fn vjp(&self, x: &Vec<f64>, y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        let tape = Tape::new();
        let xs = tape.vars(x);
        let ys = self.f.eval(&xs);
        let adj = tape.try_vjp(&ys, y_bar)?;
        for (xb, &v) in x_bar.iter_mut().zip(&xs) {
            *xb += adj.wrt(v);
        }
        Ok(())
    }

    fn jvp(&self, x: &Vec<f64>, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        let xs = Dual::<1>::along(x, x_dot);
        for (yd, y) in y_dot.iter_mut().zip(self.f.eval(&xs)) {
            *yd = y.d[0];
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- revolve

/// One step `x_{k+1} = step(k, x_k, p)` of an iteration, generic over the scalar type
/// (a time step of an explicit integrator, an iteration of a fixed-point scheme, ...).
pub trait Step {
    /// Writes `x_{k+1}` into `out` (same length as `x`).
    fn step<S: Real>(&self, k: usize, x: &[S], p: &[S], out: &mut [S]);
}

/// `beta(s, r) = C(s + r, s)`: the number of steps Griewank's schedule reverses with `s`
/// snapshots when each step is advanced at most `r` times. Saturates at `usize::MAX`.
pub fn binomial_capacity(s: usize, r: usize) -> usize {
    let mut b: u128 = 1;
    for i in 1..=(r as u128) {
        b = b * (s as u128 + i) / i;
        if b > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    b as usize
}

/// `beta(s, r)` with `beta(s, -1) = 0`.
fn beta(s: usize, r: isize) -> usize {
    if r < 0 {
        0
    } else {
        binomial_capacity(s, r as usize)
    }
}

/// The repetition number: the least `r` with `beta(s, r) >= l`.
fn repetitions(l: usize, s: usize) -> usize {
    let mut r = 0;
    while binomial_capacity(s, r) < l {
        r += 1;
    }
    r
}

/// Griewank's minimal number of step advances (not counting the `l` taped steps) needed to
/// reverse `l` steps holding at most `s >= 1` states at once, the initial one included:
/// `T(l, s) = r l - beta(s + 1, r - 1)` with `r` the least integer such that
/// `beta(s, r) = C(s + r, s) >= l` (Griewank, "Achieving logarithmic growth of temporal and
/// spatial complexity in reverse automatic differentiation", 1992; Griewank & Walther,
/// ACM TOMS 26, 2000).
pub fn binomial_advances(l: usize, s: usize) -> usize {
    assert!(
        s >= 1,
        "binomial_advances: at least one snapshot (the initial state) is needed"
    );
    if l == 0 {
        return 0;
    }
    let r = repetitions(l, s);
    r * l - beta(s + 1, r as isize - 1)
}

/// Where the optimal schedule stores its next snapshot when reversing `l >= 2` steps with
/// `s >= 2` states: `k` steps ahead, chosen so that both sub-schedules sit on the top linear
/// piece of `T` and the total equals `T(l, s)`.
fn split(l: usize, s: usize) -> usize {
    let r = repetitions(l, s) as isize;
    let hi = beta(s, r - 1).min(l.saturating_sub(beta(s - 1, r - 1)));
    hi.clamp(1, l - 1)
}

/// What a reversal did: step counts and the most states held at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevolveStats {
    /// Steps advanced on `f64` during the reversal (re-evaluations).
    pub advances: usize,
    /// Steps recorded on a tape and reversed (one per step).
    pub taped_steps: usize,
    /// The most snapshot states held at once (the initial state included).
    pub max_snapshots: usize,
    /// The most nodes one step's tape held.
    pub max_tape_len: usize,
}

struct Reverser<'a, St> {
    step: &'a St,
    p: &'a [f64],
    p_bar: &'a mut [f64],
    tape: Tape,
    adj: Option<Adjoints>,
    free: Vec<Vec<f64>>,
    held: usize,
    stats: RevolveStats,
}

impl<St: Step> Reverser<'_, St> {
    fn buffer(&mut self) -> Vec<f64> {
        self.free.pop().unwrap_or_default()
    }

    /// Advances `x` (state at step `k`) by `m` steps in place.
    fn advance(&mut self, k: usize, x: &mut Vec<f64>, m: usize) {
        let mut tmp = self.buffer();
        tmp.resize(x.len(), 0.0);
        for j in k..k + m {
            self.step.step(j, x, self.p, &mut tmp);
            std::mem::swap(x, &mut tmp);
        }
        self.stats.advances += m;
        self.free.push(tmp);
    }

    /// Given the state `x_k`, replaces `x_bar` (the cotangent of `x_{k+1}`) by the cotangent of
    /// `x_k` and adds the step's contribution to `p_bar`.
    fn taped_step(&mut self, k: usize, x: &[f64], x_bar: &mut [f64]) {
        self.tape.clear();
        let tape = &self.tape;
        let xs = tape.vars(x);
        let ps = tape.vars(self.p);
        let mut out = vec![Var::constant(0.0); x.len()];
        self.step.step(k, &xs, &ps, &mut out);
        let adj = self.adj.get_or_insert_with(Adjoints::default);
        tape.vjp_into(&out, x_bar, adj);
        for (xb, &v) in x_bar.iter_mut().zip(&xs) {
            *xb = adj.wrt(v);
        }
        for (pb, &v) in self.p_bar.iter_mut().zip(&ps) {
            *pb += adj.wrt(v);
        }
        self.stats.taped_steps += 1;
        self.stats.max_tape_len = self.stats.max_tape_len.max(tape.len());
    }

    /// Reverses steps `a..a + l` given the held state `xa = x_a` and `s` states allowed (`xa`
    /// included).
    fn reverse(&mut self, a: usize, l: usize, s: usize, xa: &[f64], x_bar: &mut [f64]) {
        if l == 1 {
            self.taped_step(a, xa, x_bar);
        } else if s == 1 {
            let mut x = self.buffer();
            for j in (a..a + l).rev() {
                x.clear();
                x.extend_from_slice(xa);
                self.advance(a, &mut x, j - a);
                self.taped_step(j, &x, x_bar);
            }
            self.free.push(x);
        } else {
            let k = split(l, s);
            let mut snap = self.buffer();
            snap.clear();
            snap.extend_from_slice(xa);
            self.advance(a, &mut snap, k);
            self.held += 1;
            self.stats.max_snapshots = self.stats.max_snapshots.max(self.held);
            self.reverse(a + k, l - k, s - 1, &snap, x_bar);
            self.held -= 1;
            self.free.push(snap);
            self.reverse(a, k, s, xa, x_bar);
        }
    }
}

/// Reverses `n_steps` steps of `step` from `x0` with binomial checkpointing, on `f64`.
///
/// On entry `x_bar` is the cotangent of `x_N`; on return it is the cotangent of `x0`, and
/// `p_bar` has had the cotangent of `p` added. At most `snapshots` states are held at once
/// (`x0` included; at least 1), and exactly [`binomial_advances`]`(n_steps, snapshots)` steps
/// are re-evaluated on `f64`, plus one taped step per step.
pub fn revolve_reverse<St: Step>(
    step: &St,
    x0: &[f64],
    p: &[f64],
    n_steps: usize,
    snapshots: usize,
    x_bar: &mut [f64],
    p_bar: &mut [f64],
) -> RevolveStats {
    assert!(
        snapshots >= 1,
        "revolve: snapshots must be at least 1 (the initial state)"
    );
    assert_eq!(
        x0.len(),
        x_bar.len(),
        "revolve: x_bar must have the state's length"
    );
    assert_eq!(
        p.len(),
        p_bar.len(),
        "revolve: p_bar must have the parameters' length"
    );
    let mut r = Reverser {
        step,
        p,
        p_bar,
        tape: Tape::new(),
        adj: None,
        free: Vec::new(),
        held: 1,
        stats: RevolveStats {
            max_snapshots: 1,
            ..RevolveStats::default()
        },
    };
    if n_steps > 0 {
        r.reverse(0, n_steps, snapshots, x0, x_bar);
    }
    r.stats
}

/// Iterates `x_{k+1} = step(k, x_k, p)` for `n_steps` steps from `x0`, returning `x_N`, with
/// binomial checkpointing on a tape: ONE node whose reverse step is [`revolve_reverse`] with
/// `snapshots` states (memory O(snapshots * state) however many steps; see the module docs).
///
/// With `f64` it just iterates; with `Dual` the tangents are iterated along (forward mode
/// needs no checkpoints).
pub fn revolve<S: Real, St: Step + Clone + 'static>(
    step: &St,
    x0: &[S],
    p: &[S],
    n_steps: usize,
    snapshots: usize,
) -> Vec<S> {
    assert!(
        snapshots >= 1,
        "revolve: snapshots must be at least 1 (the initial state)"
    );
    let mut inputs = Vec::with_capacity(x0.len() + p.len());
    inputs.extend_from_slice(x0);
    inputs.extend_from_slice(p);
    let mut out = vec![S::zero(); x0.len()];
    let block = Revolve {
        step: step.clone(),
        n: x0.len(),
        n_steps,
        snapshots,
    };
    S::apply_block(block, &inputs, &mut out);
    out
}

/// The block behind [`revolve`]; its inputs are `x0` then `p`.
struct Revolve<St> {
    step: St,
    n: usize,
    n_steps: usize,
    snapshots: usize,
}

/// Iterates `step` on any scalar type, double-buffered.
fn iterate<S: Real, St: Step>(step: &St, x0: &[S], p: &[S], n_steps: usize, out: &mut [S]) {
    let mut x = x0.to_vec();
    let mut tmp = x0.to_vec();
    for k in 0..n_steps {
        step.step(k, &x, p, &mut tmp);
        std::mem::swap(&mut x, &mut tmp);
    }
    out.copy_from_slice(&x);
}

impl<St: Step + 'static> Block for Revolve<St> {
    type Residuals = Vec<f64>;

    fn forward(&self, xp: &[f64], y: &mut [f64]) -> Vec<f64> {
        let (x0, p) = xp.split_at(self.n);
        iterate(&self.step, x0, p, self.n_steps, y);
        xp.to_vec()
    }

    fn vjp(&self, xp: &Vec<f64>, y_bar: &[f64], xp_bar: &mut [f64]) -> Result<(), BlockError> {
        let (x0, p) = xp.split_at(self.n);
        let mut x_bar = y_bar.to_vec();
        let mut p_bar = vec![0.0; p.len()];
        revolve_reverse(
            &self.step,
            x0,
            p,
            self.n_steps,
            self.snapshots,
            &mut x_bar,
            &mut p_bar,
        );
        let (x0b, pb) = xp_bar.split_at_mut(self.n);
        for (a, b) in x0b.iter_mut().zip(&x_bar) {
            *a += b;
        }
        for (a, b) in pb.iter_mut().zip(&p_bar) {
            *a += b;
        }
        Ok(())
    }

    fn jvp(&self, xp: &Vec<f64>, xp_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        let d = Dual::<1>::along(xp, xp_dot);
        let (x0, p) = d.split_at(self.n);
        let mut out = vec![Dual::<1>::constant(0.0); self.n];
        iterate(&self.step, x0, p, self.n_steps, &mut out);
        for (yd, o) in y_dot.iter_mut().zip(&out) {
            *yd = o.d[0];
        }
        Ok(())
    }
}
