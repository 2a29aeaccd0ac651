//! Gauss-Newton with an Armijo backtracking search on `|r|^2` (Nocedal & Wright, section 10.3):
//! the step solves `min |J p + r|` by QR (a basic solution if `J` is rank deficient) and is
//! halved until `|r(x + a p)|^2 <= |r|^2 + 1e-4 g'(x_a - x)`, `g = 2 J^T r`. With bounds the
//! trial points are projected onto the box.

use super::{lm::solve, LeastSquaresOptions, LeastSquaresReport, Model, State};
use crate::objective::norm_inf;
use crate::observer::{Control, Observer};
use crate::{Error, Termination};

pub(super) fn run(
    model: &mut dyn Model,
    mut st: State,
    opts: &LeastSquaresOptions,
    observer: &mut dyn Observer,
) -> Result<LeastSquaresReport, Error> {
    let b = opts.bounds.as_ref();
    let n = st.x.len();
    if observer.observe(&st.iteration(b, 0.0, 0.0)) == Control::Stop {
        return Ok(st.finish(b, Termination::Observer));
    }
    let termination = 'outer: loop {
        if st.grad_norm(b) <= opts.grad_tol {
            break Termination::GradientTolerance;
        }
        if st.iterations >= opts.max_iterations {
            break Termination::MaxIterations;
        }
        let (p, _) = solve(&st.free_jacobian(b), &st.r, &vec![1.0; n], 0.0);
        let g = st.gradient();
        let f = st.value();
        let mut a = 1.0;
        let mut xt = vec![0.0; n];
        let accepted = loop {
            if st.evaluations >= opts.max_evaluations {
                break 'outer Termination::MaxEvaluations;
            }
            for i in 0..n {
                xt[i] = st.x[i] + a * p[i];
            }
            crate::bounds::project(b, &mut xt);
            let rt = model.residuals(&xt);
            st.evaluations += 1;
            let ft: f64 = rt.iter().map(|v| v * v).sum();
            let dec: f64 = (0..n).map(|i| g[i] * (xt[i] - st.x[i])).sum();
            if ft.is_finite() && dec < 0.0 && ft <= f + 1e-4 * dec {
                break true;
            }
            a *= 0.5;
            if a < 1e-10 {
                break false;
            }
        };
        if !accepted {
            break Termination::LineSearchFailed {
                details: format!("no decrease along the Gauss-Newton step (value {f:e})"),
            };
        }
        let step: Vec<f64> = xt.iter().zip(&st.x).map(|(a, b)| a - b).collect();
        let (r, jac) = model.jacobian(&xt);
        st.jacobian_evaluations += 1;
        st.x = xt;
        st.r = r;
        st.jac = jac;
        st.iterations += 1;
        if observer.observe(&st.iteration(b, norm_inf(&step), a)) == Control::Stop {
            break Termination::Observer;
        }
        let f_new = st.value();
        if f - f_new <= opts.f_tol * f.max(f64::MIN_POSITIVE) {
            break Termination::FunctionTolerance;
        }
        if norm_inf(&step) <= opts.x_tol * norm_inf(&st.x).max(1.0) {
            break Termination::StepTolerance;
        }
    };
    Ok(st.finish(b, termination))
}
