//! The parts of the BDF stepper's state that are not the method's own: the Jacobian with its
//! pattern, factorisation and ages, and the scratch vectors of one attempt.

use std::sync::Arc;

use super::super::linalg::{Factor, Singular};
use super::super::newton::NewtonScratch;
use super::super::sparse::SparseJacobian;

/// The Jacobian, its sparse pattern and the factorised iteration matrix, with their ages.
pub(super) struct Linear {
    /// The detected pattern of a large sparse system (no sensitivities), if any.
    pub(super) sparse: Option<Arc<SparseJacobian>>,
    /// `∂f/∂y`, dense row-major or the pattern's values.
    pub(super) jac: Vec<f64>,
    /// The point `(t, y)` the Jacobian was last evaluated at (a snapshot re-evaluates it
    /// there instead of storing it).
    pub(super) jac_at: Option<(f64, Vec<f64>)>,
    /// Sensitivities: `J` at the converged state, dense (`n x n`).
    pub(super) jac_s: Vec<f64>,
    /// Sensitivities: `[J | ∂f/∂p]` at the converged state (`n x m`).
    pub(super) jf: Vec<f64>,
    /// Sensitivities: the seeds `[I | 0]` (`n x m`).
    pub(super) seed_id: Vec<f64>,
    /// Accepted steps since the Jacobian was evaluated (`usize::MAX`: none yet).
    pub(super) age: usize,
    /// The Jacobian was evaluated during this step's attempts.
    pub(super) current: bool,
    /// The factorised `I - c J`, and its `c`.
    pub(super) lu: Option<Factor>,
    pub(super) lu_c: f64,
    /// Refactorise when `c` moved more than this fraction.
    pub(super) max_c_change: f64,
}

/// Scratch vectors of one attempt.
pub(super) struct Scratch {
    pub(super) y_pred: Vec<f64>,
    pub(super) psi: Vec<f64>,
    pub(super) y_new: Vec<f64>,
    pub(super) dd: Vec<f64>,
    pub(super) scale: Vec<f64>,
    pub(super) err: Vec<f64>,
    pub(super) base: Vec<f64>,
    pub(super) newton: NewtonScratch,
    pub(super) col: Vec<f64>,
}

impl Linear {
    pub(super) fn new(n: usize, m: usize) -> Self {
        let mut seed_id = vec![0.0; n * m];
        for i in 0..m.min(n) {
            seed_id[i * m + i] = 1.0;
        }
        Linear {
            sparse: None,
            jac: vec![0.0; n * n],
            jac_at: None,
            jac_s: vec![0.0; if m > 0 { n * n } else { 0 }],
            jf: vec![0.0; n * m],
            seed_id,
            age: usize::MAX,
            current: false,
            lu: None,
            lu_c: f64::NAN,
            max_c_change: 0.0,
        }
    }
}

impl Linear {
    /// The LU of `I - c J` with the current Jacobian (sparse if there is a pattern).
    pub(super) fn factor(&self, n: usize, c: f64) -> Result<Factor, Singular> {
        match &self.sparse {
            Some(sj) => sj.factor(c, &self.jac),
            None => Factor::new(n, c, &self.jac),
        }
    }
}

impl Scratch {
    pub(super) fn new(n: usize, w: usize) -> Self {
        Scratch {
            y_pred: vec![0.0; w],
            psi: vec![0.0; w],
            y_new: vec![0.0; n],
            dd: vec![0.0; w],
            scale: vec![0.0; n],
            err: vec![0.0; n],
            base: vec![0.0; w],
            newton: NewtonScratch {
                f: vec![0.0; n],
                dy: vec![0.0; n],
            },
            col: vec![0.0; n],
        }
    }
}
