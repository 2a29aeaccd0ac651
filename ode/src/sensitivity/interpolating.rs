//! The continuous ("interpolating") adjoint: the adjoint ODE integrated backward in time with
//! the forward solution reconstructed from checkpoints and the method's dense output
//! (Cao, Li, Petzold & Serban, SIAM J. Sci. Comput. 24, 2003; SciML's `InterpolatingAdjoint`).
//!
//! For a loss with cotangents `ȳ_k` at the save times `t_k`, between save times
//!
//! ```text
//! λ'(t) = -J(t, y(t))^T λ(t),     μ'(t) = -f_p(t, y(t))^T λ(t),
//! ```
//!
//! integrated from `λ(T) = 0`, `μ(T) = 0` down to `t0`, with the jumps `λ(t_k^-) = λ(t_k^+) + ȳ_k`;
//! then `ȳ0 = λ(t0)`, `p̄ = μ(t0)`. Each evaluation of the right-hand side interpolates
//! `y(t)` (recomputing the forward steps of one checkpoint segment when needed) and computes
//! `J^T λ` and `f_p^T λ` in one reverse sweep of the user's right-hand side recorded on a small
//! tape. The backward solve uses the forward method and tolerances with its own error control:
//! the result approximates the exact derivative of the ODE (not of the numerical solution) to
//! about the tolerance.

use std::cell::RefCell;
use std::sync::Mutex;

use ad_core::Real;

use crate::error::Error;
use crate::explicit::{dense_at, integrate, stages, tableau, Tableau};
use crate::options::Options;
use crate::system::OdeSystem;

use super::discrete::DiscreteForward;
use super::needs_worker;
use super::rhs_vjp::{Plan, RhsVjp};

thread_local! {
    /// A reused tape for the right-hand side's vector-Jacobian products (a tape is not `Send`,
    /// so it cannot live in the `Sync` adjoint system itself).
    static RHS_VJP: RefCell<RhsVjp> = RefCell::new(RhsVjp::new());
}
use super::AdjointStats;

/// One recomputed checkpoint segment: per step its start state, end state and stages.
struct Segment {
    index: usize,
    first_step: usize,
    y: Vec<Vec<f64>>,
    y1: Vec<Vec<f64>>,
    k: Vec<Vec<Vec<f64>>>,
}

/// The augmented adjoint system `z = (λ, μ)` in reversed time `τ = T - t`.
struct AdjointSystem<'a, Sys> {
    sys: &'a Sys,
    tab: &'static Tableau,
    p: &'a [f64],
    fwd: &'a DiscreteForward,
    t_final: f64,
    t_end: f64,
    state: Mutex<State>,
}

/// The mutable part of the adjoint system: the recomputed segment, counters and scratch.
struct State {
    segment: Option<Segment>,
    stats: AdjointStats,
    y: Vec<f64>,
    lambda: Vec<f64>,
    out: Vec<f64>,
    /// How this solve computes the right-hand side's products.
    plan: Plan,
}

impl<Sys: OdeSystem> AdjointSystem<'_, Sys> {
    /// Recomputes the steps of checkpoint segment `ci`.
    fn segment(&self, ci: usize, stats: &mut AdjointStats) -> Segment {
        let (first, y0) = &self.fwd.checkpoints[ci];
        let end = self
            .fwd
            .checkpoints
            .get(ci + 1)
            .map_or(self.fwd.log.len(), |c| c.0);
        let n = y0.len();
        let s = self.tab.stages();
        let mut seg = Segment {
            index: ci,
            first_step: *first,
            y: Vec::new(),
            y1: Vec::new(),
            k: Vec::new(),
        };
        let mut y = y0.clone();
        let mut tmp = vec![0.0; n];
        for j in *first..end {
            let (t, h) = self.fwd.log[j];
            let mut k = vec![vec![0.0; n]; s];
            let mut y1 = vec![0.0; n];
            self.sys.rhs(t, &y, self.p, &mut k[0]);
            stages(
                self.sys, self.tab, t, h, &y, self.p, &mut k, &mut tmp, &mut y1,
            );
            seg.y.push(std::mem::replace(&mut y, y1.clone()));
            seg.y1.push(y1);
            seg.k.push(k);
            stats.recomputed_steps += 1;
        }
        stats.max_states_held = stats
            .max_states_held
            .max(self.fwd.checkpoints.len() + seg.y.len() * (s + 2));
        seg
    }

    /// The forward solution at `t`, into `st.y`.
    fn y_at(&self, t: f64, st: &mut State) {
        let log = &self.fwd.log;
        let j = log.partition_point(|e| e.0 <= t).saturating_sub(1);
        let ci = self
            .fwd
            .checkpoints
            .partition_point(|c| c.0 <= j)
            .saturating_sub(1);
        let hit = matches!(&st.segment, Some(s) if s.index == ci);
        if !hit {
            st.segment = Some(self.segment(ci, &mut st.stats));
        }
        let seg = st.segment.as_ref().expect("segment just computed");
        let i = j - seg.first_step;
        let (tj, h) = log[j];
        let t_new = log.get(j + 1).map_or(self.t_end, |e| e.0);
        let ts = t.clamp(tj, t_new);
        dense_at(
            self.tab, tj, h, t_new, ts, &seg.y[i], &seg.y1[i], &seg.k[i], &mut st.y,
        );
    }
}

impl<Sys: OdeSystem> OdeSystem for AdjointSystem<'_, Sys> {
    fn dim(&self) -> usize {
        self.fwd.checkpoints[0].1.len() + self.p.len()
    }
    fn n_params(&self) -> usize {
        0
    }
    fn rhs<S: Real>(&self, tau: S, z: &[S], _p: &[S], dz: &mut [S]) {
        let n = self.fwd.checkpoints[0].1.len();
        let t = self.t_final - tau.value();
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        self.y_at(t, st);
        for (l, v) in st.lambda.iter_mut().zip(z) {
            *l = v.value();
        }
        st.out.fill(0.0);
        let (y_bar, p_bar) = st.out.split_at_mut(n);
        let (y, lambda, plan) = (&st.y, &st.lambda, &mut st.plan);
        let tape_len = RHS_VJP.with(|cell| match cell.try_borrow_mut() {
            Ok(mut v) => v.apply(plan, self.sys, t, y, self.p, lambda, y_bar, p_bar),
            Err(_) => RhsVjp::new().apply(plan, self.sys, t, y, self.p, lambda, y_bar, p_bar),
        });
        for (d, v) in dz.iter_mut().zip(&st.out) {
            *d = S::cst(*v);
        }
        st.stats.taped_steps += 1;
        st.stats.max_tape_len = st.stats.max_tape_len.max(tape_len);
    }
}

/// The backward pass: ADDS the cotangents of `y0` and `p` to `y0_bar` and `p_bar`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reverse<Sys: OdeSystem>(
    fwd: &DiscreteForward,
    sys: &Sys,
    p: &[f64],
    t0: f64,
    save_at: &[f64],
    opts: &Options,
    y_bar: &[f64],
    y0_bar: &mut [f64],
    p_bar: &mut [f64],
) -> Result<AdjointStats, Error> {
    if needs_worker(y0_bar.len() + p.len()) {
        return rayon::scope(|_| reverse(fwd, sys, p, t0, save_at, opts, y_bar, y0_bar, p_bar));
    }
    let n = y0_bar.len();
    let mut z = vec![0.0; n + p.len()];
    let t_end = save_at.last().copied().unwrap_or(t0);
    let adj_opts = Options {
        atol_components: None,
        atol: opts.atol_components.as_ref().map_or(opts.atol, |a| {
            a.iter().copied().fold(f64::INFINITY, f64::min)
        }),
        h0: None,
        ..opts.clone()
    };
    let mut stats = AdjointStats {
        forward_checkpoints: fwd.checkpoints.len(),
        max_states_held: fwd.checkpoints.len(),
        ..AdjointStats::default()
    };
    let asys = AdjointSystem {
        sys,
        tab: tableau(opts.method),
        p,
        fwd,
        t_final: t_end,
        t_end,
        state: Mutex::new(State {
            segment: None,
            stats,
            y: vec![0.0; n],
            lambda: vec![0.0; n],
            out: vec![0.0; n + p.len()],
            plan: Plan::new(opts.rhs_products),
        }),
    };
    let mut j = save_at.len();
    while j > 0 {
        let t_cur = save_at[j - 1];
        while j > 0 && save_at[j - 1] == t_cur {
            for m in 0..n {
                z[m] += y_bar[(j - 1) * n + m];
            }
            j -= 1;
        }
        let t_next = if j > 0 { save_at[j - 1] } else { t0 };
        if t_next < t_cur && !fwd.log.is_empty() {
            let (tau0, tau1) = (t_end - t_cur, t_end - t_next);
            let (out, st) = integrate(&asys, &z, &[], tau0, &[tau1], &adj_opts, None, &mut ())?;
            z.copy_from_slice(&out[0]);
            stats.adjoint_steps += st.steps;
        }
    }
    let inner = asys
        .state
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .stats;
    stats.taped_steps = inner.taped_steps;
    stats.max_tape_len = inner.max_tape_len;
    stats.max_states_held = stats.max_states_held.max(inner.max_states_held);
    stats.recomputed_steps = inner.recomputed_steps;
    for (a, b) in y0_bar.iter_mut().zip(&z[..n]) {
        *a += b;
    }
    for (a, b) in p_bar.iter_mut().zip(&z[n..]) {
        *a += b;
    }
    Ok(stats)
}
