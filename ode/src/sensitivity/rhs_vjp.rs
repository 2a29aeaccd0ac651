//! Vector-Jacobian products of the user's right-hand side, by the cheapest of three ways:
//!
//! 1. the system's own [`OdeSystem::vjp`], if it has one;
//! 2. for large systems whose Jacobian `[∂f/∂y | ∂f/∂p]` is sparse with a pattern that holds
//!    everywhere: `J^T w` from compressed forward mode ([`RhsJacobian`]:
//!    `ceil(colours / 8)` evaluations of `rhs` on `Dual<8>`, in parallel);
//! 3. else `rhs` recorded on `Var` on a reused tape and swept backwards.
//!
//! The choice between 2 and 3 is made once per solve, at the first product ([`Plan`]): the
//! pattern is traced with `ad_core::sparsity::jacobian_sparsity` and kept if the traced code did not branch on
//! a value (a branch could read other entries elsewhere, and a missed entry would be a wrong
//! gradient) and the colouring needs at most [`MAX_EVALS`] evaluations. Both ways give the
//! exact products (to rounding).

use ad_core::{Adjoints, Tape, Var};

use crate::rhs_jacobian::RhsJacobian;
use crate::system::OdeSystem;

/// Largest number of `Dual<8>` evaluations per product for the compressed Jacobian (above,
/// taping is cheaper).
const MAX_EVALS: usize = 3;

/// How one solve computes its right-hand side products (kept per solve: the pattern belongs
/// to the system).
pub(crate) enum Plan {
    /// Not decided yet: decided at the first product.
    Undecided,
    /// Tape the right-hand side.
    Taped,
    /// The compressed sparse Jacobian and a buffer for the cotangent of `(y, p)`.
    Sparse(Box<RhsJacobian>, Vec<f64>),
}

impl Plan {
    pub(crate) fn new() -> Self {
        Plan::Undecided
    }

    fn decide<Sys: OdeSystem>(sys: &Sys, t: f64, y: &[f64], p: &[f64]) -> Plan {
        match RhsJacobian::detect(sys, t, y, p, MAX_EVALS) {
            Some(jac) => Plan::Sparse(Box::new(jac), vec![0.0; y.len() + p.len()]),
            None => Plan::Taped,
        }
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
        if let Plan::Undecided = plan {
            *plan = Plan::decide(sys, t, y, p);
        }
        if let Plan::Sparse(jac, x_bar) = plan {
            x_bar.fill(0.0);
            jac.vjp(sys, t, y, p, w, x_bar);
            for (b, v) in y_bar.iter_mut().chain(p_bar.iter_mut()).zip(x_bar.iter()) {
                *b += v;
            }
            return 0;
        }
        self.tape.clear();
        let tape = &self.tape;
        let ys = tape.vars(y);
        let ps = tape.vars(p);
        let mut f = vec![Var::constant(0.0); y.len()];
        sys.rhs(Var::constant(t), &ys, &ps, &mut f);
        tape.vjp_into(&f, w, &mut self.adj);
        for (b, &v) in y_bar.iter_mut().zip(&ys) {
            *b += self.adj.wrt(v);
        }
        for (b, &v) in p_bar.iter_mut().zip(&ps) {
            *b += self.adj.wrt(v);
        }
        tape.len()
    }
}
