//! The tape blocks of a differentiated stiff solve: forward sensitivities (a stored Jacobian
//! of the saved states), the continuous adjoint (a backward solve in the reverse step) and the
//! discrete adjoint of BDF (the transposed recursion over the logged steps).

use ad_core::{Block, BlockError, Real};

use crate::options::Options;
use crate::system::OdeSystem;

use super::differences::StepPoly;
use super::discrete::StepLog;

/// `y_dot = S x_dot` for the row-major Jacobian `S` of the saved states with respect to the
/// `x_dot.len()` inputs.
fn jac_times(jac: &[f64], x_dot: &[f64], y_dot: &mut [f64]) {
    for (yd, row) in y_dot.iter_mut().zip(jac.chunks_exact(x_dot.len().max(1))) {
        *yd = row.iter().zip(x_dot).map(|(a, b)| a * b).sum();
    }
}

/// A stiff solve as one tape node: inputs `(y0, p)`, outputs the saved states (row-major),
/// with the full forward-sensitivity Jacobian computed in the forward pass.
pub(crate) struct SensitivityBlock {
    pub(crate) n_in: usize,
    pub(crate) values: Vec<f64>,
    pub(crate) jac: Vec<f64>,
}

impl Block for SensitivityBlock {
    type Residuals = ();

    fn forward(&self, _x: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.values);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        for (row, &yb) in self.jac.chunks_exact(self.n_in).zip(y_bar) {
            if yb != 0.0 {
                for (xb, &j) in x_bar.iter_mut().zip(row) {
                    *xb += j * yb;
                }
            }
        }
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        jac_times(&self.jac, x_dot, y_dot);
        Ok(())
    }
}

/// What the adjoint blocks keep of a stiff solve: the problem, the saved values, and (computed
/// at the first tangent step, for `Dual` inputs) the forward-sensitivity Jacobian.
pub(crate) struct Solved<Sys> {
    pub(crate) sys: Sys,
    pub(crate) opts: Options,
    pub(crate) t0: f64,
    pub(crate) save_at: Vec<f64>,
    pub(crate) y0: Vec<f64>,
    pub(crate) p: Vec<f64>,
    /// The saved states, row-major.
    pub(crate) values: Vec<f64>,
    forward: std::sync::OnceLock<Vec<f64>>,
}

impl<Sys: OdeSystem> Solved<Sys> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sys: Sys,
        opts: &Options,
        t0: f64,
        save_at: &[f64],
        y0: Vec<f64>,
        p: Vec<f64>,
        values: Vec<f64>,
    ) -> Self {
        Solved {
            sys,
            opts: opts.clone(),
            t0,
            save_at: save_at.to_vec(),
            y0,
            p,
            values,
            forward: std::sync::OnceLock::new(),
        }
    }

    /// What the forward solve started from (for the discrete adjoint's passes).
    fn start(&self) -> super::discrete::Start<'_, Sys> {
        super::discrete::Start {
            sys: &self.sys,
            y0: &self.y0,
            p: &self.p,
            t0: self.t0,
            save_at: &self.save_at,
            opts: &self.opts,
        }
    }

    /// `y_dot = S x_dot` with `S` the forward sensitivities of the solve (the same steps, so
    /// the same derivative as the adjoints), computed once for all directions.
    fn forward_jvp(&self, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        let jac = match self.forward.get() {
            Some(jac) => jac,
            None => {
                let jac = super::integrate(
                    &self.sys,
                    &self.y0,
                    &self.p,
                    self.t0,
                    &self.save_at,
                    &self.opts,
                    true,
                )?
                .jac;
                self.forward.get_or_init(|| jac)
            }
        };
        jac_times(jac, x_dot, y_dot);
        Ok(())
    }
}

/// A stiff solve as one tape node whose reverse step is the continuous adjoint
/// ([`super::adjoint::backward`]) over the kept forward polynomials; its tangent step (for `Dual`
/// inputs) computes the forward sensitivities once.
pub(crate) struct AdjointBlock<Sys> {
    pub(crate) solved: Solved<Sys>,
    pub(crate) trace: Vec<StepPoly>,
}

impl<Sys: OdeSystem + Clone + 'static> Block for AdjointBlock<Sys> {
    type Residuals = ();

    fn forward(&self, _x: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.solved.values);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        let s = &self.solved;
        super::adjoint::backward(
            &s.sys,
            &s.p,
            s.t0,
            &s.save_at,
            &s.opts,
            &self.trace,
            y_bar,
            x_bar,
        )?;
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.solved.forward_jvp(x_dot, y_dot)
    }

    /// The forward sensitivity along `x_dot` solved on `T` (see `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        let s = &self.solved;
        crate::second_order::nested_tangent(&s.sys, &s.opts, s.t0, &s.save_at, x, x_dot, y_dot)
    }
}

/// A BDF solve as one tape node whose reverse step is the discrete adjoint
/// ([`super::discrete::reverse`]) over the step log of the forward pass. Its tangent step
/// (`Dual` inputs, called once per direction) is the same derivative: for dense Jacobians the
/// forward sensitivities, computed once (they take the same steps and give all directions for
/// about the cost of one replay); on the sparse path, whose Newton iterations the dense
/// forward sensitivities would not reproduce, the recursion forward over the log
/// ([`super::discrete::tangent`], one direction per call).
pub(crate) struct DiscreteBlock<Sys> {
    pub(crate) solved: Solved<Sys>,
    pub(crate) log: StepLog,
}

impl<Sys: OdeSystem + Clone + 'static> Block for DiscreteBlock<Sys> {
    type Residuals = ();

    fn forward(&self, _x: &[f64], y: &mut [f64]) {
        y.copy_from_slice(&self.solved.values);
    }

    fn vjp(&self, _: &(), y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        let s = &self.solved;
        super::discrete::reverse(&s.start(), &self.log, y_bar, x_bar)?;
        Ok(())
    }

    fn jvp(&self, _: &(), x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        let s = &self.solved;
        if self.log.sparse.is_none() {
            return s.forward_jvp(x_dot, y_dot);
        }
        super::discrete::tangent(&s.start(), &self.log, x_dot, y_dot)?;
        Ok(())
    }

    /// The forward sensitivity along `x_dot` solved on `T` (see `crate::second_order`).
    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        let s = &self.solved;
        crate::second_order::nested_tangent(&s.sys, &s.opts, s.t0, &s.save_at, x, x_dot, y_dot)
    }
}
