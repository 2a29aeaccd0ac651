//! W5: reaction-diffusion on a 128 x 128 torus (`ode::problems::ReactionDiffusion`), 16 384
//! states and 16 384 diffusivities, classic RK4 with `dt = 1e-3` for 2000 steps; loss
//! `sum_c (u(2)[c] - 0.5)^2`, gradient with respect to the diffusivities. Value and gradient by
//! the discrete adjoint that `Sensitivity::Auto` picks (256 checkpoints here), with the generic
//! right-hand side's products (what `RhsProducts::Auto` picks: the replayed operation trace),
//! with the hand-written product, and with
//! the right-hand side in array style with fused maps (`ReactionDiffusionMaps`, its products
//! taped).
//!
//! A run takes seconds, so the lines are medians of 5 runs after one warm-up (BENCHMARKS.md's
//! minimum) whatever `WENGERT_SUITE_RUNS` says.

use ad_core::{Tape, Var};
use ode::problems::{ReactionDiffusion, ReactionDiffusionMaps};
use ode::{solve, Method as OdeMethod, OdeSystem, Options, Sensitivity};

use crate::measure::{peak_rss_mb, time_runs};
use crate::{check_reference, Method, ResultLine, Workload};

/// BENCHMARKS.md's reference loss and gradient norm.
const LOSS: f64 = 2260.95904998;
const GRADNORM: f64 = 71.1215797121;
const T_END: f64 = 2.0;

/// The workload and its methods.
pub fn workload() -> Workload {
    Workload {
        name: "W5",
        methods: vec![
            Method {
                name: "wengert-rk4-adjoint-generic",
                run: || {
                    let sys = ReactionDiffusion::<128> { hand_vjp: false };
                    run("wengert-rk4-adjoint-generic", &sys)
                },
            },
            Method {
                name: "wengert-rk4-adjoint-hand-vjp",
                run: || {
                    let sys = ReactionDiffusion::<128> { hand_vjp: true };
                    run("wengert-rk4-adjoint-hand-vjp", &sys)
                },
            },
            Method {
                name: "wengert-rk4-adjoint-fused-maps",
                run: || {
                    run(
                        "wengert-rk4-adjoint-fused-maps",
                        &ReactionDiffusionMaps::<128>,
                    )
                },
            },
        ],
    }
}

fn loss<S: ad_core::Real>(u: &[S]) -> S {
    u.iter().map(|&v| (v - 0.5) * (v - 0.5)).sum()
}

fn run<Sys: OdeSystem + Clone + 'static>(name: &str, sys: &Sys) -> ResultLine {
    let w5 = ReactionDiffusion::<128> { hand_vjp: false };
    let (u0, d) = (w5.w5_initial_state(), w5.w5_diffusivities());
    let opts = Options {
        method: OdeMethod::Rk4 { dt: 1e-3 },
        sensitivity: Sensitivity::Auto,
        ..Default::default()
    };
    let (tp, (primal_loss, steps)) = time_runs(1, 5, || {
        let sol = solve(sys, &u0, &d, 0.0, &[T_END], &opts).expect("W5 solve");
        (loss(&sol.y[0]), sol.stats.steps)
    });
    let (tg, (l, gradnorm)) = time_runs(1, 5, || {
        let tape = Tape::new();
        let dv = tape.vars(&d);
        let uv: Vec<Var> = u0.iter().map(|&v| Var::constant(v)).collect();
        let sol = solve(sys, &uv, &dv, 0.0, &[T_END], &opts).expect("W5 solve");
        let l = loss(&sol.y[0]);
        let g = tape.gradient(l).wrt_all(&dv);
        (l.value(), g.iter().map(|v| v * v).sum::<f64>().sqrt())
    });
    let mut line = ResultLine::new("W5", name)
        .num("primal_ms", tp.median, 1)
        .num("grad_ms", tg.median, 1)
        .num("ratio", tg.median / tp.median, 2)
        .num("peak_rss_mb", peak_rss_mb(), 1)
        .num("loss", l, 8)
        .num("gradnorm", gradnorm, 10)
        .int("steps", steps as u64);
    line.extra.extend(tp.extras("primal_ms"));
    line.extra.extend(tg.extras("grad_ms"));
    check_reference(&mut line, primal_loss, LOSS, gradnorm, GRADNORM, 1e-5);
    line
}
