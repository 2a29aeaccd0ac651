//! W4: Robertson's stiff chemical kinetics to t = 1e5 (rtol 1e-8, atol 1e-12); gradient of
//! `y1 + 2e4 y2 + 3 y3` at `T` w.r.t. the rate constants (3) and `y0` (3). Methods: BDF with
//! forward sensitivities, BDF with the continuous adjoint, BDF with the discrete adjoint (the
//! exact transpose of the forward sensitivities), Rodas4 with forward sensitivities.

use ad_core::{Real, Tape};
use ode::{solve, Method as OdeMethod, Options, Sensitivity};

use super::ode_line;
use crate::measure::time_default;
use crate::{Method, ResultLine, Workload};
pub use ode::problems::Robertson;

/// Rate constants.
pub const K: [f64; 3] = [0.04, 3e7, 1e4];
/// Initial state.
pub const Y0: [f64; 3] = [1.0, 0.0, 0.0];
/// Reference loss (BENCHMARKS.md).
pub const LOSS: f64 = 2.965722883;
/// Reference gradient, `k` then `y0` (BENCHMARKS.md, "about").
pub const GRAD: [f64; 6] = [1.55672, 1.0126e-9, -6.2209e-6, 2.93389, 2.93390, 2.93390];

/// `y1 + 2e4 y2 + 3 y3`.
pub fn loss<S: Real>(y: &[S]) -> S {
    y[0] + y[1] * 2e4 + y[2] * 3.0
}

/// The workload and its methods.
pub fn workload() -> Workload {
    Workload {
        name: "W4",
        methods: vec![
            Method {
                name: "wengert-bdf-forward",
                run: || run("wengert-bdf-forward", OdeMethod::Bdf, Sensitivity::Forward),
            },
            Method {
                name: "wengert-bdf-adjoint",
                run: || {
                    let s = Sensitivity::InterpolatingAdjoint { checkpoints: 64 };
                    run("wengert-bdf-adjoint", OdeMethod::Bdf, s)
                },
            },
            Method {
                name: "wengert-bdf-discrete-adjoint",
                run: || {
                    let s = Sensitivity::DiscreteAdjoint { checkpoints: 64 };
                    run("wengert-bdf-discrete-adjoint", OdeMethod::Bdf, s)
                },
            },
            Method {
                name: "wengert-rodas4-forward",
                run: || {
                    run(
                        "wengert-rodas4-forward",
                        OdeMethod::Rodas4,
                        Sensitivity::Forward,
                    )
                },
            },
        ],
    }
}

fn run(name: &str, method: OdeMethod, sensitivity: Sensitivity) -> ResultLine {
    let opts = Options {
        method,
        rtol: 1e-8,
        atol: 1e-12,
        sensitivity,
        ..Default::default()
    };
    let (tp, primal_loss) = time_default(|| {
        let sol = solve(&Robertson, &Y0, &K, 0.0, &[1e5], &opts).expect("W4 solve");
        loss(&sol.y[0])
    });
    let (tg, (l, g)) = time_default(|| {
        let tape = Tape::new();
        let k = tape.vars(&K);
        let y0 = tape.vars(&Y0);
        let sol = solve(&Robertson, &y0, &k, 0.0, &[1e5], &opts).expect("W4 solve");
        let l = loss(&sol.y[0]);
        let adj = tape.gradient(l);
        let mut g = adj.wrt_all(&k);
        g.extend(adj.wrt_all(&y0));
        (l.value(), g)
    });
    // components relative to the gradient's norm (two of them are ~1e-9 and ~1e-6)
    let floor = super::lv::norm(&GRAD);
    ode_line(
        "W4",
        name,
        &tp,
        &tg,
        primal_loss,
        l,
        &g,
        (LOSS, &GRAD),
        floor,
    )
}
