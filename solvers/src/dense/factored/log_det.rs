//! The determinant block: `ln |det A|` or `det A` ([`DenseLogDet`]).

use std::sync::Arc;

use ad_core::{Block, BlockError, Real};
use faer::MatMut;

use super::Factors;
use crate::dense::check_finite;
use crate::error::Result;

/// The block `y = ln |det A|` (or `y = det A`). Reverse: `A_bar += y_bar * s * A^{-T}` with
/// `s = 1` (log) or `s = det A`; forward: `y_dot = s * tr(A^{-1} A_dot)`. The residual is
/// `A^{-T}`, computed from the factors by `n` solves, or the error both rules return if it is
/// not finite (a matrix too ill-conditioned for its inverse).
pub(super) struct DenseLogDet<F: Factors> {
    pub(super) f: Arc<F>,
    pub(super) value: f64,
    pub(super) det: bool,
}

impl<F: Factors> Block for DenseLogDet<F> {
    /// `A^{-T}`, row-major, or why it is not finite.
    type Residuals = Result<Vec<f64>>;

    /// Built at its point: the outputs are known, the inputs' values are not needed.
    fn reads_inputs(&self) -> bool {
        false
    }

    fn forward(&self, _: &[f64], y: &mut [f64]) -> Result<Vec<f64>> {
        y[0] = self.value;
        let n = self.f.n();
        let mut inv = vec![0.0; n * n];
        for i in 0..n {
            inv[i * n + i] = 1.0;
        }
        // Column-major storage of A^{-1} is the row-major storage of A^{-T}.
        self.f
            .solve_in_place(MatMut::from_column_major_slice_mut(&mut inv, n, n), false);
        check_finite("inverse (derivative of a determinant)", &inv)?;
        Ok(inv)
    }

    fn vjp(
        &self,
        inv_t: &Result<Vec<f64>>,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = y_bar[0] * if self.det { self.value } else { 1.0 };
        for (xb, &g) in x_bar.iter_mut().zip(inv_t) {
            *xb += s * g;
        }
        Ok(())
    }

    fn vjp_write(
        &self,
        inv_t: &Result<Vec<f64>>,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = y_bar[0] * if self.det { self.value } else { 1.0 };
        for (xb, &g) in x_bar.iter_mut().zip(inv_t) {
            *xb = s * g;
        }
        Ok(())
    }

    fn jvp(
        &self,
        inv_t: &Result<Vec<f64>>,
        x_dot: &[f64],
        y_dot: &mut [f64],
    ) -> std::result::Result<(), BlockError> {
        let inv_t = inv_t.as_ref().map_err(Clone::clone)?;
        let s = if self.det { self.value } else { 1.0 };
        y_dot[0] = s * inv_t.iter().zip(x_dot).map(|(a, b)| a * b).sum::<f64>();
        Ok(())
    }

    /// `y_dot = s tr(A^{-1} A_dot)` on `T`, `s = 1` or `det A` (the output `y` on `T`).
    fn jvp_nested<T: Real>(
        &self,
        a: &[T],
        y: &[T],
        a_dot: &[T],
        y_dot: &mut [T],
    ) -> std::result::Result<(), BlockError> {
        let tr = crate::second_order::trace_inv_times(&self.f, a, a_dot)?;
        y_dot[0] = if self.det { y[0] * tr } else { tr };
        Ok(())
    }
}
