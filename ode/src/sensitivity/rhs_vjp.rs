//! Vector-Jacobian products of the user's right-hand side: the system's own
//! [`OdeSystem::vjp`] if it has one, else `rhs` recorded on `Var` on a reused tape and swept.

use ad_core::{Adjoints, Tape, Var};

use crate::system::OdeSystem;

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

    /// ADDS `(∂f/∂y)^T w` to `y_bar` and `(∂f/∂p)^T w` to `p_bar` at `(t, y, p)`; returns the
    /// number of tape nodes recorded (0 with the system's own product).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply<Sys: OdeSystem>(
        &mut self,
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
