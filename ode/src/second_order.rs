//! Second order through `ode::solve`: the nested tangent rule ([`ad_core::Block::jvp_nested`])
//! of every differentiated solve, used by `ad_core::hessian_vector_product`.
//!
//! On nested duals (`Dual<1, Var>`) the tangent of the saved states along `(y0_dot, p_dot)` is
//! the forward sensitivity `s = dy/d(y0, p) . (y0_dot, p_dot)`, computed by solving, with the
//! same method and options, the tangent system
//!
//! ```text
//! y' = f(t, y, p),                      y(t0) = y0,
//! s' = f_y(t, y, p) s + f_p(t, y, p) p_dot,   s(t0) = y0_dot,
//! ```
//!
//! (state `(y, s)` of length `2n`, parameters `(p, p_dot)`; `f_y s + f_p p_dot` is the
//! tangent part of `f` evaluated on `Dual<1, S>`) with `ode::solve` on the inner scalar `T`.
//! For `T = Var` that solve is itself one first-order block, whose reverse step is
//! `opts.sensitivity` applied to the tangent system (the adjoint of the forward sensitivity
//! for the adjoint settings, "adjoint over forward"; forward sensitivities of the tangent
//! system for the forward settings). The primal on `T` is the original solve's block.
//!
//! Accuracy: the tangent system takes its own adaptive steps, with the sensitivities inside the
//! error control (per-component tolerances are repeated for `s`), so `H v` is the Hessian of
//! the exact flow to within the solver tolerance, not the exact second derivative of the
//! primal's discrete steps (fixed-step `Rk4` with the same `dt` takes the same steps). Cost:
//! one solve of a system twice the size on `T` per direction, plus its reverse pass.

use ad_core::{BlockError, Dual, Real};

use crate::options::Options;
use crate::system::OdeSystem;

/// The tangent system of `sys`: state `(y, s)`, parameters `(p, p_dot)` (see the module docs).
#[derive(Clone)]
struct Tangent<Sys> {
    sys: Sys,
}

impl<Sys: OdeSystem> OdeSystem for Tangent<Sys> {
    fn dim(&self) -> usize {
        2 * self.sys.dim()
    }

    fn n_params(&self) -> usize {
        2 * self.sys.n_params()
    }

    fn rhs<S: Real>(&self, t: S, z: &[S], q: &[S], dz: &mut [S]) {
        let (n, np) = (self.sys.dim(), self.sys.n_params());
        let y: Vec<Dual<1, S>> = (0..n).map(|i| Dual::new(z[i], [z[n + i]])).collect();
        let p: Vec<Dual<1, S>> = (0..np).map(|i| Dual::new(q[i], [q[np + i]])).collect();
        let mut dy = vec![Dual::constant(S::zero()); n];
        self.sys.rhs(Dual::constant(t), &y, &p, &mut dy);
        for (i, d) in dy.iter().enumerate() {
            dz[i] = d.v;
            dz[n + i] = d.d[0];
        }
    }
}

/// The nested tangent of a solve with inputs `x = (y0, p)` on `T`: WRITES the tangents of the
/// saved states (row-major) along `x_dot = (y0_dot, p_dot)` to `y_dot`, by solving the tangent
/// system on `T`. Errors: those of that solve (a failed step, a failed adjoint later on).
pub(crate) fn nested_tangent<T: Real, Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    opts: &Options,
    t0: f64,
    save_at: &[f64],
    x: &[T],
    x_dot: &[T],
    y_dot: &mut [T],
) -> Result<(), BlockError> {
    if crate::events::has_events(sys, opts) {
        return Err(crate::Error::InvalidInput(
            "second derivatives through events are not supported yet (the event time's \
             tangent is first order)"
                .into(),
        )
        .into());
    }
    let n = sys.dim();
    let z0: Vec<T> = x[..n].iter().chain(&x_dot[..n]).copied().collect();
    let q: Vec<T> = x[n..].iter().chain(&x_dot[n..]).copied().collect();
    let mut o = opts.clone();
    if let Some(a) = &mut o.atol_components {
        a.extend_from_within(..);
    }
    let tangent = Tangent { sys: sys.clone() };
    let sol = crate::solve(&tangent, &z0, &q, t0, save_at, &o)?;
    for (out, row) in y_dot.chunks_exact_mut(n.max(1)).zip(&sol.y) {
        out.copy_from_slice(&row[n..]);
    }
    Ok(())
}

/// A solve's block with the second-order rule added, for blocks that do not keep the system
/// (the stiff forward-sensitivity block): delegates every first-order rule to `block`.
pub(crate) struct WithTangent<B, Sys> {
    pub(crate) block: B,
    pub(crate) sys: Sys,
    pub(crate) opts: Options,
    pub(crate) t0: f64,
    pub(crate) save_at: Vec<f64>,
}

impl<B: ad_core::Block, Sys: OdeSystem + Clone + 'static> ad_core::Block for WithTangent<B, Sys> {
    type Residuals = B::Residuals;

    fn forward(&self, x: &[f64], y: &mut [f64]) -> B::Residuals {
        self.block.forward(x, y)
    }

    fn vjp(&self, r: &B::Residuals, y_bar: &[f64], x_bar: &mut [f64]) -> Result<(), BlockError> {
        self.block.vjp(r, y_bar, x_bar)
    }

    fn jvp(&self, r: &B::Residuals, x_dot: &[f64], y_dot: &mut [f64]) -> Result<(), BlockError> {
        self.block.jvp(r, x_dot, y_dot)
    }

    fn vjp_write(
        &self,
        r: &B::Residuals,
        y_bar: &[f64],
        x_bar: &mut [f64],
    ) -> Result<(), BlockError> {
        self.block.vjp_write(r, y_bar, x_bar)
    }

    fn reads_inputs(&self) -> bool {
        self.block.reads_inputs()
    }

    fn jvp_nested<T: Real>(
        &self,
        x: &[T],
        _: &[T],
        x_dot: &[T],
        y_dot: &mut [T],
    ) -> Result<(), BlockError> {
        nested_tangent(
            &self.sys,
            &self.opts,
            self.t0,
            &self.save_at,
            x,
            x_dot,
            y_dot,
        )
    }
}
