//! The discrete adjoint: the exact gradient of the numerical solution, by reversing the
//! accepted steps with checkpointing.
//!
//! Each accepted step `y_{k+1} = Φ(t_k, h_k, y_k, p)` (and the dense outputs `y(s_j)` at the
//! save times inside it) is a function of `(y_k, p)` with the step size a constant. With
//! `λ_{k+1}` the cotangent of `y_{k+1}` and `ȳ_j` those of the saved states, one reverse step
//! records the step on a small tape (the user's generic right-hand side on `Var`) and sweeps
//! it once:
//!
//! ```text
//! λ_k = (∂Φ/∂y_k)^T λ_{k+1} + sum_j (∂y(s_j)/∂y_k)^T ȳ_j,
//! p̄  += (∂Φ/∂p)^T  λ_{k+1} + sum_j (∂y(s_j)/∂p)^T  ȳ_j.
//! ```
//!
//! Memory: the forward pass keeps every step's `(t_k, h_k)` (16 bytes per step) and at most
//! `C` states, thinning them when full (every other one is dropped and the stride doubles).
//! The reverse pass recomputes each segment between two checkpoints from its first state: a
//! segment whose stage arguments fit (`steps * s <= C` for `s` stages) is computed once with
//! every stage argument kept, and reversed from them; one of at most `C` steps is recomputed
//! once with its states kept, and each step's stages once more as it is reversed; a longer one
//! is cut into at most `C` sub-segments whose first states are stored, recursively. At most
//! `C` vectors per level are held, `levels <= 1 + ceil(log_C(steps))`, and every step is
//! recomputed at most once per level (plus its stages as it is reversed). All vectors come
//! from one pool: the reverse pass allocates state-sized vectors only while the pool grows.

use ad_core::Dual;

use crate::error::Error;
use crate::explicit::{
    combine, dense_weights, integrate, stage_time, tableau, Observer, Tableau, MAX_STAGES,
};
use crate::options::Options;
use crate::solution::Stats;
use crate::system::OdeSystem;

use super::rhs_vjp::{Plan, RhsVjp};
use super::{needs_worker, AdjointStats};

/// What the forward pass keeps for the reverse pass.
#[derive(Clone, Debug)]
pub(crate) struct DiscreteForward {
    /// The accepted steps `(t_k, h_k)`.
    pub log: Vec<(f64, f64)>,
    /// Stored states `(k, y_k)`, `k` a multiple of the final stride, `k = 0` first.
    pub checkpoints: Vec<(usize, Vec<f64>)>,
    /// The saved states.
    pub outputs: Vec<Vec<f64>>,
    /// Counters of the forward solve.
    pub stats: Stats,
    /// The bound `C` on stored states per level.
    pub cap: usize,
}

/// Records the step log and thinned checkpoints during the forward solve.
struct Recorder {
    log: Vec<(f64, f64)>,
    checkpoints: Vec<(usize, Vec<f64>)>,
    stride: usize,
    cap: usize,
}

impl Observer<Dual<1>> for Recorder {
    fn accepted(&mut self, t: f64, h: f64, y: &[Dual<1>]) {
        let k = self.log.len();
        self.log.push((t, h));
        if k % self.stride == 0 {
            self.checkpoints.push((k, y.iter().map(|v| v.v).collect()));
            if self.checkpoints.len() > self.cap {
                let keep = 2 * self.stride;
                self.checkpoints.retain(|(i, _)| i % keep == 0);
                self.stride = keep;
            }
        }
    }
}

/// The forward pass of the discrete (and the interpolating) adjoint. The solve runs on
/// `Dual<1>` along the fixed [`probe`](super::probe) direction of `(y0, p)`, and its error test
/// covers that tangent as well as the state (see [`Tangents`](crate::explicit::Tangents)): the
/// steps are chosen so that the derivative of the numerical solution along the probe, not only
/// the solution, meets the tolerances. A solve that starts at an equilibrium (the state
/// does not move, its error estimate is 0) would otherwise take a few huge steps whose exact
/// derivative is far from the ODE's. The values are those of an `f64` solve with these steps.
pub(crate) fn record<Sys: OdeSystem>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    cap: usize,
) -> Result<DiscreteForward, Error> {
    let mut rec = Recorder {
        log: Vec::new(),
        checkpoints: Vec::new(),
        stride: 1,
        cap,
    };
    let (yd, pd) = super::probe(y0, p);
    let (saved, stats) = integrate(sys, &yd, &pd, t0, save_at, opts, None, &mut rec)?;
    Ok(DiscreteForward {
        log: rec.log,
        checkpoints: rec.checkpoints,
        outputs: saved
            .iter()
            .map(|row| row.iter().map(|v| v.v).collect())
            .collect(),
        stats,
        cap,
    })
}

/// The state of one reverse pass.
struct Reverser<'a, Sys> {
    sys: &'a Sys,
    tab: &'static Tableau,
    p: &'a [f64],
    save_at: &'a [f64],
    y_bar: &'a [f64],
    log: &'a [(f64, f64)],
    t_end: f64,
    cap: usize,
    lambda: Vec<f64>,
    p_bar: Vec<f64>,
    /// Save times not yet reversed: `0..hi`.
    hi: usize,
    vjp: RhsVjp,
    /// How this solve computes the right-hand side's products.
    plan: Plan,
    /// The step whose first stage `k[s-1]` holds (FSAL), if any.
    fsal_next: Option<usize>,
    k: Vec<Vec<f64>>,
    args: Vec<Vec<f64>>,
    k_bar: Vec<Vec<f64>>,
    y_bar_step: Vec<f64>,
    y1_bar: Vec<f64>,
    stage_bar: Vec<f64>,
    /// Vectors of length `dim` returned by finished segments, reused.
    pool: Vec<Vec<f64>>,
    held: usize,
    stats: AdjointStats,
}

impl<Sys: OdeSystem> Reverser<'_, Sys> {
    /// One `f64` step `j` in place, through the stage arguments buffer ([`Self::step`]).
    fn advance(&mut self, j: usize, y: &mut [f64]) {
        let mut args = std::mem::take(&mut self.args);
        args[0].copy_from_slice(y);
        self.step(j, &mut args, true);
        y.copy_from_slice(&args[self.tab.stages() - 1]);
        self.args = args;
    }

    /// The `f64` step `j` from `args[0] = y_j`, keeping every stage argument: afterwards
    /// `args[i] = y_j + h sum_l a_il k_l` for all stages (`args[s-1] = y_{j+1}`; the stages
    /// `k_i = f(t_i, args[i])` computed as the forward solve computed them). With `then_next`,
    /// also `k[s-1] = f(t_{j+1}, y_{j+1})`, reused as `k[0]` of step `j + 1` if that is the next
    /// step taken (FSAL; bitwise the value a fresh evaluation gives: same `t_{j+1}` and
    /// `y_{j+1}`).
    fn step(&mut self, j: usize, args: &mut [Vec<f64>], then_next: bool) {
        let (t, h) = self.log[j];
        let s = self.tab.stages();
        if self.fsal_next == Some(j) {
            self.k.swap(0, s - 1);
        } else {
            self.sys.rhs(t, &args[0], self.p, &mut self.k[0]);
        }
        let (y, rest) = args.split_at_mut(1);
        for i in 1..s {
            let (done, next) = self.k.split_at_mut(i);
            combine(&y[0], h, self.tab.a[i], done, &mut rest[i - 1]);
            if i < s - 1 || then_next {
                let ti = stage_time(self.tab, t, h, i);
                self.sys.rhs(ti, &rest[i - 1], self.p, &mut next[0]);
            }
        }
        self.fsal_next = then_next.then_some(j + 1);
        self.stats.recomputed_steps += 1;
    }

    fn hold(&mut self, m: usize) {
        self.held += m;
        self.stats.max_states_held = self.stats.max_states_held.max(self.held);
    }

    /// A vector of length `dim` from the pool, holding `y`.
    fn take(&mut self, y: &[f64]) -> Vec<f64> {
        let mut v = self.take_any();
        v.copy_from_slice(y);
        v
    }

    /// A vector of length `dim` from the pool, with any values.
    fn take_any(&mut self) -> Vec<f64> {
        let n = self.lambda.len();
        self.pool.pop().unwrap_or_else(|| vec![0.0; n])
    }

    /// Reverses steps `a..b` given the state `y_a` (held by the caller).
    fn reverse(&mut self, a: usize, b: usize, y_a: &[f64]) {
        let len = b - a;
        let s = self.tab.stages();
        if len * s <= self.cap {
            // every stage argument of the segment kept: each step's stages computed once
            self.hold(len * s);
            let mut steps: Vec<Vec<Vec<f64>>> = Vec::with_capacity(len);
            for j in a..b {
                let y = steps.last().map_or(y_a, |prev| &prev[s - 1]);
                let y = self.take(y);
                let mut args = vec![y];
                for _ in 1..s {
                    args.push(self.take_any());
                }
                self.step(j, &mut args, j + 1 < b);
                steps.push(args);
            }
            for j in (a..b).rev() {
                let args = steps.pop().expect("one per step");
                self.reverse_step(j, &args);
                self.pool.extend(args);
            }
            self.held -= len * s;
        } else if len <= self.cap {
            let mut states = Vec::with_capacity(len);
            states.push(self.take(y_a));
            self.hold(len);
            for j in a..b - 1 {
                let mut y = self.take(&states[j - a]);
                self.advance(j, &mut y);
                states.push(y);
            }
            for j in (a..b).rev() {
                let y = states.pop().expect("one per step");
                let mut args = std::mem::take(&mut self.args);
                args[0].copy_from_slice(&y);
                self.step(j, &mut args, false);
                self.reverse_step(j, &args);
                self.args = args;
                self.pool.push(y);
            }
            self.held -= len;
        } else {
            let stride = len.div_ceil(self.cap);
            let mut snaps = vec![(a, self.take(y_a))];
            let mut y = self.take(y_a);
            let mut pos = a;
            while pos + stride < b {
                for j in pos..pos + stride {
                    self.advance(j, &mut y);
                }
                pos += stride;
                let snap = self.take(&y);
                snaps.push((pos, snap));
            }
            self.pool.push(y);
            self.hold(snaps.len());
            let mut end = b;
            while let Some((start, ys)) = snaps.pop() {
                self.reverse(start, end, &ys);
                self.pool.push(ys);
                self.held -= 1;
                end = start;
            }
        }
    }

    /// Reverses step `j` given its stage arguments `args` (`Y_i = y + h sum_l a_il k_l`,
    /// `k_i = f(t_i, Y_i)`): `Ȳ_i = J_i^T k̄_i` (plus `λ` for `Y_last = y1`),
    /// `k̄_l += h a_il Ȳ_i`, `ȳ += Ȳ_i`, stage by stage from the last; only the right-hand
    /// side's products are differentiated (see [`RhsVjp`]), the linear algebra is `f64`.
    fn reverse_step(&mut self, j: usize, args: &[Vec<f64>]) {
        let (t, h) = self.log[j];
        let last = j + 1 == self.log.len();
        let t_new = if last { self.t_end } else { self.log[j + 1].0 };
        let lo = self.save_at.partition_point(|&s| s <= t);
        let hi = self.hi;
        let n = args[0].len();
        let tab = self.tab;
        let s = tab.stages();
        for kb in &mut self.k_bar {
            kb.fill(0.0);
        }
        self.y_bar_step.fill(0.0);
        self.y1_bar.copy_from_slice(&self.lambda);
        let mut w = [0.0; MAX_STAGES];
        for jj in lo..hi {
            let ob = &self.y_bar[jj * n..(jj + 1) * n];
            let ts = self.save_at[jj];
            if ts == t_new {
                for (a, b) in self.y1_bar.iter_mut().zip(ob) {
                    *a += b;
                }
                continue;
            }
            dense_weights(tab, (ts - t) / h, &mut w);
            for (a, b) in self.y_bar_step.iter_mut().zip(ob) {
                *a += b;
            }
            for (kb, &wj) in self.k_bar.iter_mut().zip(&w[..s]) {
                if wj != 0.0 {
                    for (a, b) in kb.iter_mut().zip(ob) {
                        *a += h * wj * b;
                    }
                }
            }
        }
        for i in (0..s).rev() {
            if i == s - 1 {
                self.stage_bar.copy_from_slice(&self.y1_bar);
            } else {
                self.stage_bar.fill(0.0);
            }
            if self.k_bar[i].iter().any(|v| *v != 0.0) {
                let len = self.vjp.apply(
                    &mut self.plan,
                    self.sys,
                    stage_time(tab, t, h, i),
                    &args[i],
                    self.p,
                    &self.k_bar[i],
                    &mut self.stage_bar,
                    &mut self.p_bar,
                );
                self.stats.max_tape_len = self.stats.max_tape_len.max(len);
            }
            for (a, b) in self.y_bar_step.iter_mut().zip(&self.stage_bar) {
                *a += b;
            }
            for (jx, &a) in tab.a[i].iter().enumerate() {
                if a != 0.0 {
                    for (kb, sb) in self.k_bar[jx].iter_mut().zip(&self.stage_bar) {
                        *kb += h * a * sb;
                    }
                }
            }
        }
        self.lambda.copy_from_slice(&self.y_bar_step);
        self.hi = lo;
        self.stats.taped_steps += 1;
    }
}

impl DiscreteForward {
    /// The reverse pass: ADDS the cotangents of `y0` and `p` for the cotangent `y_bar` of the
    /// saved states (row-major, `save_at.len() x dim`) to `y0_bar` and `p_bar`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reverse<Sys: OdeSystem>(
        &self,
        sys: &Sys,
        p: &[f64],
        t0: f64,
        save_at: &[f64],
        opts: &Options,
        y_bar: &[f64],
        y0_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> AdjointStats {
        if needs_worker(y0_bar.len() + p.len()) {
            return rayon::scope(|_| self.reverse(sys, p, t0, save_at, opts, y_bar, y0_bar, p_bar));
        }
        let n = y0_bar.len();
        let s = tableau(opts.method).stages();
        let mut r = Reverser {
            sys,
            tab: tableau(opts.method),
            p,
            save_at,
            y_bar,
            log: &self.log,
            t_end: save_at.last().copied().unwrap_or(t0),
            cap: self.cap,
            lambda: vec![0.0; n],
            p_bar: vec![0.0; p.len()],
            hi: save_at.len(),
            vjp: RhsVjp::new(),
            plan: Plan::new(opts.rhs_products),
            fsal_next: None,
            k: vec![vec![0.0; n]; s],
            args: vec![vec![0.0; n]; s],
            k_bar: vec![vec![0.0; n]; s],
            y_bar_step: vec![0.0; n],
            y1_bar: vec![0.0; n],
            stage_bar: vec![0.0; n],
            pool: Vec::new(),
            held: self.checkpoints.len(),
            stats: AdjointStats {
                max_states_held: self.checkpoints.len(),
                forward_checkpoints: self.checkpoints.len(),
                ..AdjointStats::default()
            },
        };
        let n_steps = self.log.len();
        for i in (0..self.checkpoints.len()).rev() {
            let end = self.checkpoints.get(i + 1).map_or(n_steps, |c| c.0);
            let (start, y) = &self.checkpoints[i];
            if *start < end {
                r.reverse(*start, end, y);
            }
        }
        // save times at t0 are y0 itself
        for jj in 0..r.hi {
            for m in 0..n {
                r.lambda[m] += y_bar[jj * n + m];
            }
        }
        for (a, b) in y0_bar.iter_mut().zip(&r.lambda) {
            *a += b;
        }
        for (a, b) in p_bar.iter_mut().zip(&r.p_bar) {
            *a += b;
        }
        r.stats
    }
}
