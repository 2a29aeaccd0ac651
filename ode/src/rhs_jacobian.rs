//! The sparse Jacobian `[∂f/∂y | ∂f/∂p]` of a right-hand side, for the adjoints of large
//! systems: the pattern traced once ([`global_jacobian_sparsity`]: only a pattern that holds everywhere) on the generic `rhs`), the values
//! by compressed forward mode ([`CompressedJacobian`]).

use ad_core::sparsity::{global_jacobian_sparsity, CompressedJacobian, Sparsity, Tracer};
use ad_core::Dual;

use crate::system::OdeSystem;

/// Systems with fewer states plus parameters than this use dense or taped products.
pub(crate) const MIN_SPARSE_INPUTS: usize = 256;
/// Rows with more entries than this make the Jacobian count as dense.
const MAX_ROW_NNZ: usize = 64;

/// `[∂f/∂y | ∂f/∂p]` on its traced pattern, with a buffer for `x = (y, p)`.
pub(crate) struct RhsJacobian {
    jac: CompressedJacobian,
    x: Vec<f64>,
}

impl RhsJacobian {
    /// Traces the pattern at `(t, y, p)`. `None` for small systems, for a pattern that holds at
    /// this point only (the `rhs` branched on a traced value), or when a Jacobian would need more
    /// than `max_evals` evaluations on `Dual<8>`.
    pub(crate) fn detect<Sys: OdeSystem>(
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        max_evals: usize,
    ) -> Option<Self> {
        let n = y.len();
        if n + p.len() < MIN_SPARSE_INPUTS {
            return None;
        }
        let x: Vec<f64> = y.iter().chain(p).copied().collect();
        // a pattern that holds at this point only (a branch on the state) gives None
        let s = global_jacobian_sparsity(&x, n, MAX_ROW_NNZ, |x: &[Tracer], out| {
            sys.rhs(Tracer::constant(t), &x[..n], &x[n..], out)
        })
        .ok()?;
        let jac = CompressedJacobian::new(s);
        (jac.evaluations() <= max_evals).then_some(RhsJacobian { jac, x })
    }

    /// The pattern: rows are the equations, columns `y` then `p`.
    pub(crate) fn sparsity(&self) -> &Sparsity {
        self.jac.sparsity()
    }

    fn load(&mut self, y: &[f64], p: &[f64]) -> usize {
        let n = y.len();
        self.x[..n].copy_from_slice(y);
        self.x[n..].copy_from_slice(p);
        n
    }

    /// ADDS `J^T w` to `x_bar = (y_bar, p_bar)` at `(t, y, p)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn vjp<Sys: OdeSystem>(
        &mut self,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        x_bar: &mut [f64],
    ) {
        let n = self.load(y, p);
        self.jac.vjp(
            &self.x,
            |x: &[Dual<8>], out| sys.rhs(Dual::constant(t), &x[..n], &x[n..], out),
            w,
            x_bar,
        );
    }

    /// Writes the values of `[∂f/∂y | ∂f/∂p]` at `(t, y, p)` on the pattern.
    pub(crate) fn values<Sys: OdeSystem>(
        &mut self,
        sys: &Sys,
        t: f64,
        y: &[f64],
        p: &[f64],
        vals: &mut [f64],
    ) {
        let n = self.load(y, p);
        self.jac.values(
            &self.x,
            |x: &[Dual<8>], out| sys.rhs(Dual::constant(t), &x[..n], &x[n..], out),
            vals,
        );
    }
}
