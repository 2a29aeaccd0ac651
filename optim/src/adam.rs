//! Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", Alg. 1):
//! `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g^2`,
//! `x -= alpha m_hat / (sqrt(v_hat) + eps)` with the bias corrections
//! `m_hat = m / (1 - b1^t)`, `v_hat = v / (1 - b2^t)`. With bounds each step is projected onto
//! the box (projected Adam); held components keep their moments but do not move.

use std::time::Instant;

use crate::bounds::{project, projected_grad_norm};
use crate::objective::{norm_inf, Objective};
use crate::observer::{Control, Iteration, Observer};
use crate::{Error, Method, Options, Report, Termination};

pub(crate) fn run<F: FnMut(&[f64], &mut [f64]) -> f64>(
    obj: &mut Objective<F>,
    x0: Vec<f64>,
    opts: &Options,
    observer: &mut dyn Observer,
    start: Instant,
) -> Result<Report, Error> {
    let Method::Adam {
        learning_rate: lr,
        beta1: b1,
        beta2: b2,
        epsilon: eps,
    } = opts.method
    else {
        unreachable!("adam::run called with another method")
    };
    let n = x0.len();
    let b = opts.bounds.as_ref();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut f = obj.eval_start(&x, &mut g)?;
    let mut pg = projected_grad_norm(b, &x, &g);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let (mut xt, mut gt) = (vec![0.0; n], vec![0.0; n]);
    let (mut c1, mut c2) = (1.0, 1.0);
    let mut k = 0;
    let mut it = Iteration {
        iteration: 0,
        value: f,
        grad_norm: pg,
        step: 0.0,
        step_length: lr,
        evaluations: obj.evaluations,
        elapsed: start.elapsed(),
        x: &x,
    };
    let mut stop = observer.observe(&it) == Control::Stop;
    let termination = loop {
        if stop {
            break Termination::Observer;
        }
        if pg <= opts.grad_tol {
            break Termination::GradientTolerance;
        }
        if k >= opts.max_iterations {
            break Termination::MaxIterations;
        }
        if obj.evaluations >= opts.max_evaluations {
            break Termination::MaxEvaluations;
        }
        c1 *= b1;
        c2 *= b2;
        for i in 0..n {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let mh = m[i] / (1.0 - c1);
            let vh = v[i] / (1.0 - c2);
            xt[i] = x[i] - lr * mh / (vh.sqrt() + eps);
        }
        project(b, &mut xt);
        let ft = obj.eval(&xt, &mut gt);
        if !ft.is_finite() || gt.iter().any(|v| !v.is_finite()) {
            break Termination::Diverged {
                details: format!("value {ft} (or a non-finite gradient) at step {}", k + 1),
            };
        }
        let step = xt
            .iter()
            .zip(&x)
            .fold(0.0f64, |a, (p, q)| a.max((p - q).abs()));
        std::mem::swap(&mut x, &mut xt);
        std::mem::swap(&mut g, &mut gt);
        f = ft;
        k += 1;
        pg = projected_grad_norm(b, &x, &g);
        it = Iteration {
            iteration: k,
            value: f,
            grad_norm: pg,
            step,
            step_length: lr,
            evaluations: obj.evaluations,
            elapsed: start.elapsed(),
            x: &x,
        };
        stop = observer.observe(&it) == Control::Stop;
        if !stop && pg > opts.grad_tol && step <= opts.x_tol * norm_inf(&x).max(1.0) {
            break Termination::StepTolerance;
        }
    };
    Ok(Report {
        x,
        value: f,
        grad_norm: pg,
        iterations: k,
        evaluations: obj.evaluations,
        termination,
        gradient: g,
        elapsed: start.elapsed(),
    })
}
