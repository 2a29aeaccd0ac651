//! The line-search methods: L-BFGS and gradient descent, with optional box bounds.
//!
//! Each iteration:
//! 1. The *held* set: components at a bound whose gradient points out of the box. They are
//!    fixed for this iteration (direction component zero).
//! 2. The direction on the free components: `d = -H g` from the L-BFGS two-loop recursion
//!    (or `d = -g`). If it is not a descent direction the memory is dropped and `d = -g`.
//! 3. The first trial step: `1 / |d|_2` when there is no curvature information yet (first
//!    iteration, after a reset) — the scaled first step of L-BFGS-B, so the first trial point
//!    is at distance 1 whatever the objective's scale — else 1 (L-BFGS) or the previous step
//!    scaled by the ratio of directional derivatives (gradient descent, N&W eq. 3.60).
//!    With bounds and no curvature information the direction is L-BFGS-B's: towards the
//!    Cauchy point of the model with `B = I`, `P(x - g)`, searched on `[0, 1]` from the unit
//!    step if every component has two finite bounds (else from `min(1, 1/|d|)`).
//! 4. If the box allows the whole trial step along `d`, the More-Thuente strong-Wolfe search
//!    runs on the ray, limited to the feasible segment. Otherwise a backtracking (Armijo)
//!    search runs along the projected path `P(x + a d)`, so several components can reach
//!    their bounds in one iteration.
//! 5. The pair `(s, y)` enters the memory if `s'y > eps y'y`.
//!
//! This is a projected L-BFGS (active set by gradient sign, as in Bertsekas' projected
//! Newton methods and the PQN/"L-BFGS-B light" variants), not the generalized-Cauchy-point
//! and subspace-minimisation scheme of L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995). Without
//! bounds it is exactly L-BFGS with L-BFGS-B's line search and first step.

use std::time::Instant;

use crate::bounds::{is_held, max_step, projected_grad_norm, step_to};
use crate::lbfgs::Memory;
use crate::line_search::{more_thuente, Outcome};
use crate::objective::{dot, norm2, norm_inf, Objective};
use crate::observer::{Control, Iteration, Observer};
use crate::{Error, Method, Options, Report, Termination};

/// Largest step the ray search may take without bounds (L-BFGS-B's `big`).
const STPMAX: f64 = 1e10;

pub(crate) fn run<F: FnMut(&[f64], &mut [f64]) -> f64>(
    obj: &mut Objective<F>,
    x0: Vec<f64>,
    opts: &Options,
    observer: &mut dyn Observer,
    start: Instant,
) -> Result<Report, Error> {
    let n = x0.len();
    let b = opts.bounds.as_ref();
    let memory = match opts.method {
        Method::Lbfgs { memory } => memory,
        _ => 0,
    };
    let mut mem = Memory::new(memory.max(1));
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut f = obj.eval_start(&x, &mut g)?;
    let mut pg = projected_grad_norm(b, &x, &g);
    let (mut d, mut xt, mut gt) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut s, mut y) = (vec![0.0; n], vec![0.0; n]);
    let mut fixed = vec![false; n];
    let mut k = 0;
    // Gradient descent's previous step length and directional derivative.
    let mut previous: Option<(f64, f64)> = None;
    let finish = |x: Vec<f64>, g: Vec<f64>, f, pg, k, evaluations, termination| Report {
        x,
        value: f,
        grad_norm: pg,
        iterations: k,
        evaluations,
        termination,
        gradient: g,
        elapsed: start.elapsed(),
    };
    let it0 = Iteration {
        iteration: 0,
        value: f,
        grad_norm: pg,
        step: 0.0,
        step_length: 0.0,
        evaluations: obj.evaluations,
        elapsed: start.elapsed(),
        x: &x,
    };
    if observer.observe(&it0) == Control::Stop {
        return Ok(finish(
            x,
            g,
            f,
            pg,
            0,
            obj.evaluations,
            Termination::Observer,
        ));
    }
    if pg <= opts.grad_tol {
        let e = obj.evaluations;
        return Ok(finish(x, g, f, pg, 0, e, Termination::GradientTolerance));
    }
    let mut reset = true;
    let boxed = b.is_some_and(|b| b.lower().iter().chain(b.upper()).all(|v| v.is_finite()));
    let termination = loop {
        if k >= opts.max_iterations {
            break Termination::MaxIterations;
        }
        if obj.evaluations >= opts.max_evaluations {
            break Termination::MaxEvaluations;
        }
        for (i, fi) in fixed.iter_mut().enumerate() {
            *fi = is_held(b, &x, &g, i);
        }
        if memory > 0 && !reset {
            mem.direction(&g, &fixed, &mut d);
        } else {
            steepest(&g, &fixed, &mut d);
        }
        let mut gd = dot(&g, &d);
        if !(gd < 0.0 && gd.is_finite()) {
            mem.clear();
            reset = true;
            steepest(&g, &fixed, &mut d);
        }
        // Without curvature information in a box: L-BFGS-B's first direction, towards the
        // Cauchy point of the model with B = I, which is P(x - g).
        let cauchy = reset && b.is_some();
        if cauchy {
            step_to(b, &x, &g, -1.0, &mut xt);
            for i in 0..n {
                d[i] = xt[i] - x[i];
            }
        }
        gd = dot(&g, &d);
        if gd >= 0.0 || gd.is_nan() {
            break Termination::LineSearchFailed {
                details: format!("no descent direction (g'd = {gd:e})"),
            };
        }
        let stp0 = if cauchy {
            // L-BFGS-B: the unit step to P(x - g) in a finite box, else at most distance 1.
            if boxed {
                1.0
            } else {
                (1.0 / norm2(&d)).min(1.0)
            }
        } else if reset || memory == 0 && previous.is_none() {
            1.0 / norm2(&d)
        } else if memory == 0 {
            let (a, gd_prev) = previous.unwrap();
            a * gd_prev / gd
        } else {
            1.0
        };
        let tmax = max_step(b, &x, &d);
        let (step, ft, outcome) = if cauchy || tmax >= stp0 {
            let stpmax = if cauchy {
                1.0
            } else {
                tmax.min(STPMAX).max(stp0)
            };
            let search = more_thuente(
                |a| {
                    step_to(b, &x, &d, a, &mut xt);
                    let v = obj.eval(&xt, &mut gt);
                    (v, dot(&gt, &d))
                },
                f,
                gd,
                stp0,
                stpmax,
                &opts.line_search,
            );
            let ok = search.outcome == Outcome::Converged
                || (search.value.is_finite() && search.value < f);
            (search.step, search.value, ok)
        } else {
            projected_backtracking(obj, &x, &d, &g, f, stp0, opts, &mut xt, &mut gt)
        };
        if !outcome {
            // A failure from the steepest-descent direction with the scaled first step is
            // final; otherwise drop the curvature information and retry from there.
            if reset {
                break Termination::LineSearchFailed {
                    details: format!(
                        "no decrease along the steepest-descent direction at iteration {k} \
                         (last trial: step {step:e}, value {ft:e} vs {f:e}, g'd = {gd:e})"
                    ),
                };
            }
            mem.clear();
            reset = true;
            previous = None;
            continue;
        }
        for i in 0..n {
            s[i] = xt[i] - x[i];
            y[i] = gt[i] - g[i];
        }
        if memory > 0 {
            mem.push(&s, &y);
            reset = mem.is_empty();
        } else {
            reset = false;
            previous = Some((step, gd));
        }
        std::mem::swap(&mut x, &mut xt);
        std::mem::swap(&mut g, &mut gt);
        let f_old = f;
        f = ft;
        k += 1;
        pg = projected_grad_norm(b, &x, &g);
        let step_norm = norm_inf(&s);
        let it = Iteration {
            iteration: k,
            value: f,
            grad_norm: pg,
            step: step_norm,
            step_length: step,
            evaluations: obj.evaluations,
            elapsed: start.elapsed(),
            x: &x,
        };
        if observer.observe(&it) == Control::Stop {
            break Termination::Observer;
        }
        if pg <= opts.grad_tol {
            break Termination::GradientTolerance;
        }
        if f_old - f <= opts.f_tol * f_old.abs().max(f.abs()).max(1.0) {
            break Termination::FunctionTolerance;
        }
        if step_norm <= opts.x_tol * norm_inf(&x).max(1.0) {
            break Termination::StepTolerance;
        }
    };
    let e = obj.evaluations;
    Ok(finish(x, g, f, pg, k, e, termination))
}

fn steepest(g: &[f64], fixed: &[bool], d: &mut [f64]) {
    for i in 0..g.len() {
        d[i] = if fixed[i] { 0.0 } else { -g[i] };
    }
}

/// Armijo backtracking along the projected path `P(x + a d)`:
/// `f(x_a) <= f + c1 g'(x_a - x)`, halving `a` (non-finite values count as failures).
/// Returns (step, value, success); the accepted point is in `xt`, `gt`.
#[allow(clippy::too_many_arguments)]
fn projected_backtracking<F: FnMut(&[f64], &mut [f64]) -> f64>(
    obj: &mut Objective<F>,
    x: &[f64],
    d: &[f64],
    g: &[f64],
    f: f64,
    stp0: f64,
    opts: &Options,
    xt: &mut [f64],
    gt: &mut [f64],
) -> (f64, f64, bool) {
    let b = opts.bounds.as_ref();
    let mut a = stp0;
    let mut v = f64::NAN;
    for _ in 0..opts.line_search.max_evaluations {
        step_to(b, x, d, a, xt);
        v = obj.eval(xt, gt);
        let decrease: f64 = g
            .iter()
            .zip(xt.iter())
            .zip(x)
            .map(|((gi, xti), xi)| gi * (xti - xi))
            .sum();
        if v.is_finite() && v <= f + opts.line_search.c1 * decrease && decrease < 0.0 {
            return (a, v, true);
        }
        a *= 0.5;
    }
    (a, v, false)
}
