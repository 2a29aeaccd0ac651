//! The Jacobian of one logged step for the discrete adjoint's passes: `[J | f_p]` by forward
//! mode, `J` dense or on the forward solve's sparse pattern, the factorised `M = I - c J` (or
//! `M^T`), and the right-hand side's products `J^T w`, `f_p^T w`, `J v + f_p ṗ`.

use ad_core::Dual;

use crate::options::RhsProducts;
use crate::sensitivity::rhs_vjp::{Plan, RhsVjp};
use crate::system::OdeSystem;

use super::super::jacobian::{dense_jacobian, sens_rhs};
use super::super::linalg::Factor;
use super::super::sparse::SparseJacobian;
use super::log::StepLog;

/// How the passes get the Jacobian and the right-hand side's products.
pub(super) enum Mode {
    /// `[J | f_p]` (row-major `n x (n + n_p)`) by forward mode with identity seeds: for dense
    /// Jacobians with few parameters (`n_p <= max(n, 8)`).
    Full { seed: Vec<f64> },
    /// `J` dense by forward mode; `J^T w`, `f_p^T w` by [`RhsVjp`]; `J v + f_p p_dot` by one
    /// evaluation on `Dual<1>`: dense Jacobians with many parameters.
    Dense,
    /// `J` on the sparse pattern of the forward solve; products as in `Dense`.
    Sparse,
}

/// The Jacobian of the current step and the machinery to use it.
pub(super) struct Lin<'a, Sys> {
    sys: &'a Sys,
    p: &'a [f64],
    n: usize,
    sparse: Option<&'a SparseJacobian>,
    mode: Mode,
    /// `[J | f_p]` (Full), `J` (Dense) or the values on the pattern (Sparse).
    jac: Vec<f64>,
    /// `J^T` (dense modes, for the factorisation of `M^T`).
    jt: Vec<f64>,
    vjp: RhsVjp,
    plan: Plan,
    /// Jacobian evaluations.
    pub(super) evals: usize,
}

impl<'a, Sys: OdeSystem> Lin<'a, Sys> {
    pub(super) fn new(sys: &'a Sys, p: &'a [f64], log: &'a StepLog, products: RhsProducts) -> Self {
        let n = log.n;
        let m = n + p.len();
        let sparse = log.sparse.as_deref();
        let (mode, len) = match sparse {
            Some(sj) => (Mode::Sparse, sj.nnz()),
            None if p.len() <= n.max(8) => {
                let mut seed = vec![0.0; n * m];
                for i in 0..n {
                    seed[i * m + i] = 1.0;
                }
                (Mode::Full { seed }, n * m)
            }
            None => (Mode::Dense, n * n),
        };
        Lin {
            sys,
            p,
            n,
            sparse,
            mode,
            jac: vec![0.0; len],
            jt: vec![0.0; if sparse.is_some() { 0 } else { n * n }],
            vjp: RhsVjp::new(),
            plan: Plan::new(products),
            evals: 0,
        }
    }

    /// Evaluates the Jacobian at `(t, y)`.
    pub(super) fn eval(&mut self, t: f64, y: &[f64]) {
        self.evals += 1;
        match (&self.mode, self.sparse) {
            (Mode::Full { seed }, _) => {
                sens_rhs(self.sys, t, y, self.p, seed, &mut self.jac);
            }
            (Mode::Sparse, Some(sj)) => {
                sj.values(self.sys, t, y, self.p, &mut self.jac);
            }
            _ => {
                dense_jacobian(self.sys, t, y, self.p, &mut self.jac);
            }
        }
    }

    /// `J[i][j]` of the dense modes.
    fn dense_entry(&self, i: usize, j: usize) -> f64 {
        match self.mode {
            Mode::Full { .. } => self.jac[i * (self.n + self.p.len()) + j],
            _ => self.jac[i * self.n + j],
        }
    }

    /// Factorises `M = I - c J` (or `M^T` if `transpose`, dense modes) with the last `J`.
    pub(super) fn factor(&mut self, c: f64, transpose: bool) -> Option<Factor> {
        let n = self.n;
        if let Some(sj) = self.sparse {
            return sj.factor(c, &self.jac).ok();
        }
        for i in 0..n {
            for j in 0..n {
                let (a, b) = if transpose { (j, i) } else { (i, j) };
                self.jt[a * n + b] = self.dense_entry(i, j);
            }
        }
        Factor::new(n, c, &self.jt).ok()
    }

    /// Overwrites `b` with `M^{-1} b` or `M^{-T} b` (`f` from [`Lin::factor`] with the same
    /// `transpose`).
    pub(super) fn solve(f: &Factor, b: &mut [f64], transpose: bool) {
        match f {
            Factor::Sparse(lu) => lu.solve_values_in_place(b, transpose),
            dense => dense.solve(b),
        }
    }

    /// ADDS `J^T w` to `y_bar` and `f_p^T w` to `p_bar` at `(t, y)` (the last evaluation's
    /// point in the Full mode).
    pub(super) fn vjp(
        &mut self,
        t: f64,
        y: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) {
        let n = self.n;
        if let Mode::Full { .. } = self.mode {
            let m = n + self.p.len();
            for (i, &wi) in w.iter().enumerate() {
                if wi != 0.0 {
                    let row = &self.jac[i * m..(i + 1) * m];
                    for (yb, &a) in y_bar.iter_mut().zip(&row[..n]) {
                        *yb += a * wi;
                    }
                    for (pb, &a) in p_bar.iter_mut().zip(&row[n..]) {
                        *pb += a * wi;
                    }
                }
            }
            return;
        }
        self.vjp
            .apply(&mut self.plan, self.sys, t, y, self.p, w, y_bar, p_bar);
    }

    /// WRITES `J v + f_p p_dot` at `(t, y)` into `out` (the last evaluation's point in the
    /// Full mode).
    pub(super) fn jvp(&self, t: f64, y: &[f64], v: &[f64], p_dot: &[f64], out: &mut [f64]) {
        let n = self.n;
        if let Mode::Full { .. } = self.mode {
            let m = n + self.p.len();
            for (i, o) in out.iter_mut().enumerate() {
                let row = &self.jac[i * m..(i + 1) * m];
                *o = row[..n].iter().zip(v).map(|(a, b)| a * b).sum::<f64>()
                    + row[n..].iter().zip(p_dot).map(|(a, b)| a * b).sum::<f64>();
            }
            return;
        }
        let yd: Vec<Dual<1>> = y.iter().zip(v).map(|(&a, &b)| Dual::new(a, [b])).collect();
        let pd: Vec<Dual<1>> = self
            .p
            .iter()
            .zip(p_dot)
            .map(|(&a, &b)| Dual::new(a, [b]))
            .collect();
        let mut f = vec![Dual::<1>::constant(0.0); n];
        self.sys.rhs(Dual::constant(t), &yd, &pd, &mut f);
        for (o, v) in out.iter_mut().zip(&f) {
            *o = v.d[0];
        }
    }
}
