//! W3: Lotka-Volterra, adaptive explicit RK at rtol = atol = 1e-8, 101 save times; gradient of
//! `sum_k x^2 + z^2` w.r.t. `p` (4) and `y0` (2). Methods: Tsit5 with forward sensitivities
//! (`Sensitivity::Auto` picks them here), Tsit5 with the checkpointed discrete adjoint, Dopri5
//! forward.

use ad_core::{Tape, Var};
use ode::{solve, Method as OdeMethod, Options, Sensitivity};

use super::lv::{loss, save_times, LotkaVolterra, P, Y0};
use super::ode_line;
use crate::measure::time_default;
use crate::{Method, ResultLine, Workload};

/// Reference loss (DOP853 forward sensitivities, rtol 1e-12).
pub const LOSS: f64 = 1717.358726548;
/// Reference gradient, `p` then `y0`.
pub const GRAD: [f64; 6] = [
    69.5537143,
    -1105.1222569,
    -3627.0178625,
    1030.6588998,
    -1039.4285119,
    -257.9941544,
];

/// The workload and its methods.
pub fn workload() -> Workload {
    Workload {
        name: "W3",
        methods: vec![
            Method {
                name: "wengert-tsit5-forward",
                run: || run("wengert-tsit5-forward", OdeMethod::Tsit5, Sensitivity::Auto),
            },
            Method {
                name: "wengert-tsit5-adjoint",
                run: || {
                    let s = Sensitivity::DiscreteAdjoint { checkpoints: 16 };
                    run("wengert-tsit5-adjoint", OdeMethod::Tsit5, s)
                },
            },
            Method {
                name: "wengert-dopri5-forward",
                run: || {
                    run(
                        "wengert-dopri5-forward",
                        OdeMethod::Dopri5,
                        Sensitivity::Auto,
                    )
                },
            },
        ],
    }
}

fn options(method: OdeMethod, sensitivity: Sensitivity) -> Options {
    Options {
        method,
        rtol: 1e-8,
        atol: 1e-8,
        sensitivity,
        ..Default::default()
    }
}

/// Value and gradient (`p` then `y0`) on a fresh tape.
pub fn value_and_gradient(opts: &Options, save_at: &[f64]) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let p = tape.vars(&P);
    let y0 = tape.vars(&Y0);
    let sol = solve(&LotkaVolterra, &y0, &p, 0.0, save_at, opts).expect("W3 solve");
    let l: Var = loss(&sol.y);
    let adj = tape.gradient(l);
    let mut g = adj.wrt_all(&p);
    g.extend(adj.wrt_all(&y0));
    (l.value(), g)
}

fn run(name: &str, method: OdeMethod, sensitivity: Sensitivity) -> ResultLine {
    let opts = options(method, sensitivity);
    let save_at = save_times();
    let (tp, primal_loss) = time_default(|| {
        let sol = solve(&LotkaVolterra, &Y0, &P, 0.0, &save_at, &opts).expect("W3 solve");
        loss(&sol.y)
    });
    let (tg, (l, g)) = time_default(|| value_and_gradient(&opts, &save_at));
    // components relative to their own size (floor 1)
    ode_line("W3", name, &tp, &tg, primal_loss, l, &g, (LOSS, &GRAD), 1.0)
}
