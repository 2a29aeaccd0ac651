//! Vector-Jacobian products of the user's right-hand side, by one of four ways:
//!
//! 1. the system's own [`OdeSystem::vjp`], if it has one;
//! 2. for large systems whose generic `rhs` does not look at values: the operations recorded
//!    once as a frozen trace and replayed for every product ([`RhsTrace`]);
//! 3. for large systems whose Jacobian `[∂f/∂y | ∂f/∂p]` is sparse with a pattern that holds
//!    everywhere: `J^T w` from compressed forward mode ([`RhsJacobian`]:
//!    `ceil(colours / 8)` evaluations of `rhs` on `Dual<8>`, in parallel);
//! 4. else `rhs` recorded on `Var` on a reused tape and swept backwards.
//!
//! The choice is made once per solve, at the first product ([`Plan`]), by a fixed rule
//! (`RhsVjp::decide`: the trace, else the compressed Jacobian, else the tape), never by
//! timing: the same inputs give the same bits on every run. The trace and the pattern are
//! usable only if the recorded code did not branch on a value (a branch could go another way
//! elsewhere, and a wrong product would be a wrong gradient:
//! `ad_core::sparsity::global_jacobian_sparsity`), and the colouring must need at most
//! [`MAX_EVALS`] evaluations. All ways give the exact products (to rounding).

use ad_core::{Adjoints, Tape, Var};

use crate::options::RhsProducts;
use crate::rhs_jacobian::RhsJacobian;
use crate::rhs_trace::RhsTrace;
use crate::system::OdeSystem;

/// Largest number of `Dual<8>` evaluations per product for the compressed Jacobian (above,
/// taping is cheaper).
const MAX_EVALS: usize = 3;
/// A right-hand side whose tape has fewer than 1/`ARRAY_STYLE` as many computed nodes as its
/// trace has scalar operations is array-style, and its products are taped.
const ARRAY_STYLE: usize = 8;

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

    /// Decides how to compute the products, by a fixed rule on operation counts (never by
    /// timing, so that the same inputs give the same bits whatever the machine's load): with
    /// [`RhsProducts::Auto`], the tape for array-style code (its tape holds fewer than
    /// 1/[`ARRAY_STYLE`] as many nodes as the trace has scalar operations: one node per array
    /// operation, swept by vectorised kernels), else the replayed trace if `rhs` records as
    /// one (at least [`MIN_SPARSE_INPUTS`](crate::rhs_jacobian::MIN_SPARSE_INPUTS) states plus
    /// parameters, no branch on a value, no custom block), else the compressed Jacobian if
    /// its pattern holds everywhere and needs at most [`MAX_EVALS`] evaluations, else the
    /// tape. That is the order of their costs wherever they apply: on W5's scalar stencil one
    /// product costs ~0.26 ms by trace replay, 0.7-1.1 ms of CPU by compressed forward mode
    /// and ~1.5 ms by the tape (`ad_core::trace`). The other options take their way when it
    /// applies, else the tape. Each way gives the exact products to rounding; the choice
    /// fixes which rounding.
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
        let plan = match how {
            RhsProducts::Tape => None,
            RhsProducts::Compressed => sparse(),
            RhsProducts::Trace => trace(),
            RhsProducts::Auto => match trace() {
                Some(Plan::Traced(tr)) => {
                    let (mut yb, mut pb) = (vec![0.0; y.len()], vec![0.0; p.len()]);
                    let nodes = self.taped(sys, t, y, p, w, &mut yb, &mut pb);
                    let computed = nodes.saturating_sub(y.len() + p.len());
                    (computed * ARRAY_STYLE >= tr.n_ops()).then_some(Plan::Traced(tr))
                }
                _ => sparse(),
            },
        };
        plan.unwrap_or(Plan::Taped)
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
