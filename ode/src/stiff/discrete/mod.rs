//! The discrete adjoint of BDF: the exact transpose of the linear map the forward
//! sensitivities of [`super::bdf`] compute.
//!
//! The derivative is that of the numerical solution with the accepted step sizes, orders and
//! step-size changes held fixed and the corrector solved exactly. With the difference array
//! `D` (rows `D[0..=k+1]`, one state each), one accepted step of order `k`, size `h`, ending at
//! `t`, with `α_k = (1 - κ_k) γ_k`, `c = h / α_k` and the converged state `y`, is
//!
//! ```text
//! y_pred = Σ_{j=0..k} D[j],   ψ = Σ_{j=1..k} (γ_j / α_k) D[j]
//! d      = c f(t, y_pred + d, p) - ψ                          (the corrector)
//! D'[k+1] = d,   D'[j] = D[j] + D'[j+1]   (j = k..0)          (the update)
//! ```
//!
//! and its derivative is `δd = M^{-1} (c J δy_pred + c f_p δp - δψ)` with `M = I - c J`,
//! `J = ∂f/∂y(t, y)`. A step-size change by `r` (before a retry, after an accepted step, at the
//! step-size cap) maps `D[j] <- Σ_i RU(r)[i][j] D[i]`, a save at `τ` after the step is
//! `D'[0] + Σ_{i<k} w_i(τ) D'[i+1]` with `w_i = Π_{l<=i} (τ - t + l h) / ((l + 1) h)`, and the
//! solve starts from `D[0] = y0`, `D[1] = h_0 f(t0, y0, p)`. All are linear in `D`.
//!
//! The reverse pass ([`reverse`]) walks the accepted steps backward with the cotangent `D̄`:
//!
//! ```text
//! saves:    D̄'[0] += ȳ_τ,  D̄'[i+1] += w_i(τ) ȳ_τ
//! update:   d̄ = Σ_{j=0..k+1} D̄'[j],   D̄[i] = Σ_{j=0..i} D̄'[j]  (i <= k),  D̄[k+1] = D̄[k+2] = 0
//! corrector: λ = M^{-T} d̄,  ȳ_pred = c J^T λ,  p̄ += c f_p^T λ
//!            D̄[j] += ȳ_pred (j <= k),  D̄[j] -= (γ_j / α_k) λ (1 <= j <= k)
//! rescale:  D̄[i] <- Σ_j RU(r)[i][j] D̄[j]   (the rescalings before the step, last first)
//! start:    ȳ0 += D̄[0] + h_0 J(t0)^T D̄[1],  p̄ += h_0 f_p(t0)^T D̄[1]
//! ```
//!
//! Each step costs one Jacobian at its converged state (dense: `[J | f_p]` by forward mode,
//! `ceil((n + n_p) / 8)` evaluations on `Dual<8>`; sparse: the coloured `J` plus one
//! vector-Jacobian product of the right-hand side for `J^T λ`, `f_p^T λ`), one LU of `M^T`
//! and one solve — against the forward sensitivities' `n + n_p` solves and `J S` product per
//! step. The forward pass keeps, per accepted step, its time, size, order and the index of its
//! rescalings and saves (40 bytes per step, plus 16 bytes per rescaling), the converged states
//! of the first `checkpoints` steps, and snapshots of the stepper after them ([`log`]); the
//! passes read the states through [`states`], which computes a segment again from its
//! snapshot when the log did not keep it. [`tangent`] is the same recursion forward (one
//! direction), for `Dual` inputs.

mod lin;
mod log;
mod states;

pub(crate) use log::StepLog;
pub(crate) use states::Start;

use crate::error::Error;
use crate::system::OdeSystem;

use super::differences::{change_d, change_d_transposed, coefs, interpolate, MAX_ORDER};
use lin::Lin;
use states::States;

/// The interpolation weights `w_i(τ)` of a save at `ts` on a step of order `order`, size `h`,
/// ending at `t` (the same products as [`interpolate`]).
fn save_weights(order: usize, t: f64, h: f64, ts: f64) -> [f64; MAX_ORDER] {
    let mut w = [0.0; MAX_ORDER];
    let mut prod = 1.0;
    for (i, wi) in w.iter_mut().enumerate().take(order) {
        prod *= (ts - (t - h * i as f64)) / (h * (i + 1) as f64);
        *wi = prod;
    }
    w
}

/// Counters of one reverse pass.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReverseCounts {
    /// Steps reversed with a solve (steps whose `d̄` was zero are skipped).
    pub(crate) steps: usize,
    /// Jacobian evaluations.
    pub(crate) jac_evals: usize,
    /// Steps computed again from snapshots (the log did not keep every state).
    pub(crate) recomputed: usize,
    /// The most states held at once: kept states, snapshots and a recomputed segment.
    pub(crate) max_held: usize,
}

/// The reverse pass: ADDS the cotangents of `(y0, p)` to `x_bar` given the `log` of the
/// forward solve from `(t0, y0)` and the cotangents `y_bar` (row-major
/// `save_at.len() x n`) of the saved states. See the module docs for the recursion.
///
/// # Errors
/// [`Error::SingularIterationMatrix`] if `M^T` of a step is singular (it was not in the
/// forward pass, up to the Jacobian being fresh here).
pub(crate) fn reverse<Sys: OdeSystem>(
    start: &Start<'_, Sys>,
    log: &StepLog,
    y_bar: &[f64],
    x_bar: &mut [f64],
) -> Result<ReverseCounts, Error> {
    let Start {
        sys,
        y0,
        p,
        t0,
        save_at,
        opts,
    } = *start;
    let n = log.n;
    let rows = MAX_ORDER + 3;
    let co = coefs();
    let mut db = vec![0.0; rows * n];
    let mut tmp = vec![0.0; rows * n];
    let mut lam = vec![0.0; n];
    let mut ypb = vec![0.0; n];
    let mut lin = Lin::new(sys, p, log, opts.rhs_products);
    let mut states = States::new(start, log);
    let (y0_bar, p_bar) = x_bar.split_at_mut(n);
    let mut counts = ReverseCounts::default();
    for s in (0..log.steps.len()).rev() {
        let st = log.steps[s];
        let k = st.order;
        for q in log.saves_of(s) {
            let yb = &y_bar[q * n..(q + 1) * n];
            let w = save_weights(k, st.t, st.h, save_at[q]);
            for (a, b) in db[..n].iter_mut().zip(yb) {
                *a += b;
            }
            for i in 0..k {
                for (a, b) in db[(i + 1) * n..(i + 2) * n].iter_mut().zip(yb) {
                    *a += w[i] * b;
                }
            }
        }
        // the update, transposed: d̄ = Σ_{j<=k+1} D̄[j], D̄[i] = Σ_{j<=i} D̄[j]
        lam.fill(0.0);
        for j in 0..=k + 1 {
            for (l, v) in lam.iter_mut().zip(&db[j * n..(j + 1) * n]) {
                *l += v;
            }
        }
        for i in 1..=k {
            let (lo, hi) = db.split_at_mut(i * n);
            for (a, b) in hi[..n].iter_mut().zip(&lo[(i - 1) * n..]) {
                *a += b;
            }
        }
        db[(k + 1) * n..((k + 3).min(rows)) * n].fill(0.0);
        if lam.iter().any(|v| *v != 0.0) {
            // the corrector, transposed: λ = M^{-T} d̄
            let c = st.h / co.alpha[k];
            let y = states.get(s)?;
            lin.eval(st.t, y);
            let f = lin
                .factor(c, true)
                .ok_or(Error::SingularIterationMatrix { t: st.t, h: st.h })?;
            Lin::<Sys>::solve(&f, &mut lam, true);
            for l in lam.iter_mut() {
                *l *= c;
            }
            ypb.fill(0.0);
            lin.vjp(st.t, y, &lam, &mut ypb, p_bar);
            for j in 0..=k {
                for (a, b) in db[j * n..(j + 1) * n].iter_mut().zip(&ypb) {
                    *a += b;
                }
            }
            for j in 1..=k {
                // ψ = Σ (γ_j / α_k) D[j] enters with a minus sign; λ holds c λ here
                let g = co.gamma[j] / co.alpha[k] / c;
                for (a, l) in db[j * n..(j + 1) * n].iter_mut().zip(&lam) {
                    *a -= g * l;
                }
            }
            counts.steps += 1;
        }
        for r in log.rescales_of(s).rev() {
            let (order, factor) = log.rescales[r];
            change_d_transposed(&mut db, n, order, factor, &mut tmp);
        }
    }
    for q in 0..log.initial_saves {
        for (a, b) in y0_bar.iter_mut().zip(&y_bar[q * n..(q + 1) * n]) {
            *a += b;
        }
    }
    for (a, b) in y0_bar.iter_mut().zip(&db[..n]) {
        *a += b;
    }
    let d1 = &mut db[n..2 * n];
    if !log.steps.is_empty() && d1.iter().any(|v| *v != 0.0) {
        // D[1] = h_init f(t0, y0, p)
        for v in d1.iter_mut() {
            *v *= log.h_init;
        }
        lin.eval(t0, y0);
        lin.vjp(t0, y0, &db[n..2 * n], y0_bar, p_bar);
    }
    counts.jac_evals = lin.evals;
    counts.recomputed = states.recomputed;
    counts.max_held = states.max_held;
    Ok(counts)
}

/// The tangent pass: WRITES the derivative `y_dot` (row-major `save_at.len() x n`) of the
/// saved states along `x_dot = (y0_dot, p_dot)`, by the forward recursion of the module docs
/// over the logged steps (one Jacobian and LU per step).
///
/// # Errors
/// As [`reverse`].
pub(crate) fn tangent<Sys: OdeSystem>(
    start: &Start<'_, Sys>,
    log: &StepLog,
    x_dot: &[f64],
    y_dot: &mut [f64],
) -> Result<(), Error> {
    let Start {
        sys,
        y0,
        p,
        t0,
        save_at,
        opts,
    } = *start;
    let n = log.n;
    let rows = MAX_ORDER + 3;
    let co = coefs();
    let (y0_dot, p_dot) = x_dot.split_at(n);
    let mut dd = vec![0.0; rows * n];
    let mut tmp = vec![0.0; rows * n];
    let mut pred = vec![0.0; n];
    let mut rhs = vec![0.0; n];
    let mut lin = Lin::new(sys, p, log, opts.rhs_products);
    let mut states = States::new(start, log);
    for q in 0..log.initial_saves {
        y_dot[q * n..(q + 1) * n].copy_from_slice(y0_dot);
    }
    if log.steps.is_empty() {
        return Ok(());
    }
    dd[..n].copy_from_slice(y0_dot);
    lin.eval(t0, y0);
    lin.jvp(t0, y0, y0_dot, p_dot, &mut rhs);
    for (a, b) in dd[n..2 * n].iter_mut().zip(&rhs) {
        *a = log.h_init * b;
    }
    for s in 0..log.steps.len() {
        for r in log.rescales_of(s) {
            let (order, factor) = log.rescales[r];
            change_d(&mut dd, n, order, factor, &mut tmp);
        }
        let st = log.steps[s];
        let k = st.order;
        let c = st.h / co.alpha[k];
        let y = states.get(s)?;
        pred.fill(0.0);
        for j in 0..=k {
            for (a, b) in pred.iter_mut().zip(&dd[j * n..(j + 1) * n]) {
                *a += b;
            }
        }
        lin.eval(st.t, y);
        lin.jvp(st.t, y, &pred, p_dot, &mut rhs);
        for v in rhs.iter_mut() {
            *v *= c;
        }
        for j in 1..=k {
            let g = co.gamma[j] / co.alpha[k];
            for (a, b) in rhs.iter_mut().zip(&dd[j * n..(j + 1) * n]) {
                *a -= g * b;
            }
        }
        let f = lin
            .factor(c, false)
            .ok_or(Error::SingularIterationMatrix { t: st.t, h: st.h })?;
        Lin::<Sys>::solve(&f, &mut rhs, false);
        // the update; rows above k + 1 only feed the error estimates of the forward solve
        dd[(k + 1) * n..(k + 2) * n].copy_from_slice(&rhs);
        for j in (0..=k).rev() {
            let (lo, hi) = dd.split_at_mut((j + 1) * n);
            for (a, b) in lo[j * n..].iter_mut().zip(&hi[..n]) {
                *a += b;
            }
        }
        for q in log.saves_of(s) {
            interpolate(
                &dd,
                n,
                k,
                st.t,
                st.h,
                save_at[q],
                &mut y_dot[q * n..(q + 1) * n],
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Method, Options};
    use crate::stiff::bdf::{integrate, Keep};

    // 1D Brusselator with `2 n` states (banded Jacobian: sparse for `n >= 32`)
    use crate::problems::Brusselator1d as Bruss;

    /// On one forward log: the sparse reverse (sparse LU of `M`, transposed solves, products
    /// by the right-hand side's vjp) equals the dense one (LU of `M^T`, `[J | f_p]`), and the
    /// tangent pass is its transpose (`<ȳ, J ẋ> = <J^T ȳ, ẋ>`).
    #[test]
    fn sparse_and_dense_reverse_agree_and_tangent_is_the_transpose() {
        let n = 40;
        let sys = Bruss { n };
        let y0: Vec<f64> = (0..n)
            .flat_map(|i| [1.0 + (0.3 * i as f64).sin(), 3.0])
            .collect();
        let p = [0.02, 3.4];
        let save_at = [0.3, 1.0, 2.0];
        let opts = Options {
            method: Method::Bdf,
            rtol: 1e-6,
            atol: 1e-8,
            ..Default::default()
        };
        let mut o = integrate(&sys, &y0, &p, 0.0, &save_at, &opts, false, Keep::Log).unwrap();
        let mut log = o.log.take().unwrap();
        assert!(
            log.sparse.is_some(),
            "the forward solve used the sparse path"
        );
        let m = 2 * n + 2;
        let y_bar: Vec<f64> = (0..save_at.len() * 2 * n)
            .map(|i| ((i * 7) % 11) as f64 - 5.0)
            .collect();
        let x_dot: Vec<f64> = (0..m).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
        let start = Start {
            sys: &sys,
            y0: &y0,
            p: &p,
            t0: 0.0,
            save_at: &save_at,
            opts: &opts,
        };
        let run = |log: &StepLog| {
            let mut x_bar = vec![0.0; m];
            reverse(&start, log, &y_bar, &mut x_bar).unwrap();
            let mut y_dot = vec![0.0; y_bar.len()];
            tangent(&start, log, &x_dot, &mut y_dot).unwrap();
            (x_bar, y_dot)
        };
        let (sparse_bar, sparse_dot) = run(&log);
        log.sparse = None;
        let (dense_bar, dense_dot) = run(&log);
        let scale = dense_bar.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (a, b) in sparse_bar.iter().zip(&dense_bar) {
            assert!((a - b).abs() < 1e-10 * scale, "{a} vs {b}");
        }
        let scale = dense_dot.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (a, b) in sparse_dot.iter().zip(&dense_dot) {
            assert!((a - b).abs() < 1e-10 * scale, "{a} vs {b}");
        }
        let lhs: f64 = y_bar.iter().zip(&dense_dot).map(|(a, b)| a * b).sum();
        let rhs: f64 = dense_bar.iter().zip(&x_dot).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs(), "{lhs} vs {rhs}");
    }
}
