//! Vector-Jacobian products of the user's right-hand side, by the cheapest of four ways:
//!
//! 1. the system's own [`OdeSystem::vjp`], if it has one;
//! 2. for large systems whose generic `rhs` does not look at values: the operations recorded
//!    once as a frozen trace and replayed for every product ([`RhsTrace`]);
//! 3. for large systems whose Jacobian `[∂f/∂y | ∂f/∂p]` is sparse with a pattern that holds
//!    everywhere: `J^T w` from compressed forward mode ([`RhsJacobian`]:
//!    `ceil(colours / 8)` evaluations of `rhs` on `Dual<8>`, in parallel);
//! 4. else `rhs` recorded on `Var` on a reused tape and swept backwards.
//!
//! The choice is made once per solve, at the first product ([`Plan`]): the pattern and the
//! trace are recorded (each usable only if the recorded code did not branch on a value — a
//! branch could go another way elsewhere, and a wrong product would be a wrong gradient — and
//! the colouring needs at most [`MAX_EVALS`] evaluations); then a few products are timed each
//! possible way and the fastest kept. All ways give the exact products (to rounding).

use std::time::Instant;

use ad_core::{Adjoints, Tape, Var};

use crate::options::RhsProducts;
use crate::rhs_jacobian::RhsJacobian;
use crate::rhs_trace::RhsTrace;
use crate::system::OdeSystem;

/// Largest number of `Dual<8>` evaluations per product for the compressed Jacobian (above,
/// taping is cheaper).
const MAX_EVALS: usize = 3;
/// Products timed each way (after one untimed) before [`RhsProducts::Auto`] keeps the faster.
const TIMED_ROUNDS: usize = 3;

/// How one solve computes its right-hand side products (kept per solve: the pattern belongs
/// to the system).
pub(crate) enum Plan {
    /// Not decided yet: decided at the first product, as the option says.
    Undecided(RhsProducts),
    /// Tape the right-hand side.
    Taped,
    /// The compressed sparse Jacobian and a buffer for the cotangent of `(y, p)`.
    Sparse(Box<RhsJacobian>, Vec<f64>),
    /// Replay the recorded trace.
    Traced(Box<RhsTrace>),
}

impl Plan {
    pub(crate) fn new(how: RhsProducts) -> Self {
        Plan::Undecided(how)
    }
}

/// A reusable tape for `(∂f/∂y)^T w`, `(∂f/∂p)^T w`.
pub(crate) struct RhsVjp {
    tape: Tape,
    adj: Adjoints,
}

impl RhsVjp {
    pub(crate) fn new() -> Self {
        RhsVjp {
            tape: Tape::new(),
            adj: Adjoints::default(),
        }
    }

    /// ADDS `(∂f/∂y)^T w` to `y_bar` and `(∂f/∂p)^T w` to `p_bar` at `(t, y, p)`, the way
    /// `plan` says (deciding it at the first call); returns the number of tape nodes recorded
    /// (0 without a tape).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply<Sys: OdeSystem>(
        &mut self,
        plan: &mut Plan,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> usize {
        if sys.vjp(t, y, p, w, y_bar, p_bar) {
            return 0;
        }
        if let Plan::Undecided(how) = *plan {
            *plan = self.decide(how, sys, t, y, p, w);
        }
        self.product(plan, sys, t, y, p, w, y_bar, p_bar)
    }

    /// ADDS the product the way `plan` says (the tape unless it is a trace or a compressed
    /// Jacobian); returns the number of tape nodes recorded.
    #[allow(clippy::too_many_arguments)]
    fn product<Sys: OdeSystem>(
        &mut self,
        plan: &mut Plan,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> usize {
        match plan {
            Plan::Sparse(jac, x_bar) => {
                x_bar.fill(0.0);
                jac.vjp(sys, t, y, p, w, x_bar);
                for (b, v) in y_bar.iter_mut().chain(p_bar.iter_mut()).zip(x_bar.iter()) {
                    *b += v;
                }
                0
            }
            Plan::Traced(trace) => {
                trace.vjp(t, y, p, w, y_bar, p_bar);
                0
            }
            Plan::Taped | Plan::Undecided(_) => self.taped(sys, t, y, p, w, y_bar, p_bar),
        }
    }

    /// With [`RhsProducts::Auto`]: records the trace and the pattern; times [`TIMED_ROUNDS`]
    /// products each possible way (after one to size the buffers) and keeps the fastest by
    /// their best times. All are exact, so the choice changes the cost, not the result beyond
    /// rounding. On a scalar stencil the trace replay wins (W5: ~3x over compressed forward
    /// mode, which beats the tape ~2x); on array-style code the tape (one node per array
    /// operation).
    fn decide<Sys: OdeSystem>(
        &mut self,
        how: RhsProducts,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
    ) -> Plan {
        let trace = || RhsTrace::record(sys, t, y, p).map(|tr| Plan::Traced(Box::new(tr)));
        let sparse = || {
            RhsJacobian::detect(sys, t, y, p, MAX_EVALS)
                .map(|jac| Plan::Sparse(Box::new(jac), vec![0.0; y.len() + p.len()]))
        };
        let mut plans: Vec<Plan> = match how {
            RhsProducts::Tape => vec![],
            RhsProducts::Compressed => sparse().into_iter().collect(),
            RhsProducts::Trace => trace().into_iter().collect(),
            RhsProducts::Auto => trace().into_iter().chain(sparse()).collect(),
        };
        if how != RhsProducts::Auto || plans.is_empty() {
            return plans.pop().unwrap_or(Plan::Taped);
        }
        plans.push(Plan::Taped);
        let (mut y_sink, mut p_sink) = (vec![0.0; y.len()], vec![0.0; p.len()]);
        // the first round sizes the buffers; the best of the others is each way's cost (the
        // minimum, because another process can only make a run slower)
        let mut best = vec![f64::INFINITY; plans.len()];
        for round in 0..=TIMED_ROUNDS {
            for (plan, best) in plans.iter_mut().zip(&mut best) {
                let clock = Instant::now();
                self.product(plan, sys, t, y, p, w, &mut y_sink, &mut p_sink);
                if round > 0 {
                    *best = best.min(clock.elapsed().as_secs_f64());
                }
            }
        }
        let fastest = (0..plans.len())
            .min_by(|&i, &j| best[i].total_cmp(&best[j]))
            .expect("the tape at least");
        plans.swap_remove(fastest)
    }

    /// The product by taping `rhs`; returns the number of nodes recorded.
    #[allow(clippy::too_many_arguments)]
    fn taped<Sys: OdeSystem>(
        &mut self,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> usize {
        self.tape.clear();
        let tape = &self.tape;
        let ys = tape.vars(y);
        let ps = tape.vars(p);
        let mut f = vec![Var::constant(0.0); y.len()];
        sys.rhs(Var::constant(t), &ys, &ps, &mut f);
        // An array-style right-hand side returns one run of slots (`to_vec` of an array): seed
        // it as the single output `sum_i w_i f_i` (one array node whose reverse step adds `w`
        // to the run in one vectorised pass) instead of one seed per output (W5, 16 384
        // outputs: ~25 instructions each). Same adjoints, bit for bit.
        match ad_core::VarArray::from_run(&f) {
            Some(run) => tape.vjp_into(&[run.dot_f64s(w)], &[1.0], &mut self.adj),
            None => tape.vjp_into(&f, w, &mut self.adj),
        }
        // the inputs are one run of nodes: y then p
        let adj = self.adj.as_slice();
        let start = ys.first().or(ps.first()).map_or(0, |v| v.index() as usize);
        let (ya, pa) = adj[start..start + y.len() + p.len()].split_at(y.len());
        for (b, a) in y_bar.iter_mut().zip(ya) {
            *b += a;
        }
        for (b, a) in p_bar.iter_mut().zip(pa) {
            *b += a;
        }
        tape.len()
    }
}
