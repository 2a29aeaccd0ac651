//! Bit-reproducible gradients: the same inputs give the same bits, value and gradient, on
//! every run and on rayon pools of 1, 2 and 8 threads. W5's generic stencil at 64 x 64
//! (77 824 element-operations per product: above the trace replay's parallel threshold, so
//! its products run in shares; the products chosen by rule, never by timing), the upwind
//! system through BDF's discrete adjoint, W3 (Lotka-Volterra, Tsit5 adjoint) and W4
//! (Robertson, BDF).

use ad_core::{Tape, Var};
use ode::problems::{LotkaVolterra, ReactionDiffusion, Robertson, UpwindAdvection};
use ode::{solve, Method, OdeSystem, Options, Sensitivity};

/// The loss `Σ_k Σ_i w_ki y_i(t_k)` (`w_ki = cos(0.3 i + k)`) and its gradient with respect
/// to `(y0, p)`, as bits, through the tape around `ode::solve`.
fn gradient_bits<Sys: OdeSystem + Clone + 'static>(
    sys: &Sys,
    y0: &[f64],
    p: &[f64],
    save_at: &[f64],
    opts: &Options,
) -> Vec<u64> {
    let tape = Tape::new();
    let (yv, pv) = (tape.vars(y0), tape.vars(p));
    let sol = solve(sys, &yv, &pv, 0.0, save_at, opts).unwrap();
    let mut l = Var::constant(0.0);
    for (k, y) in sol.y.iter().enumerate() {
        for (i, &v) in y.iter().enumerate() {
            l += v * (0.3 * i as f64 + k as f64).cos();
        }
    }
    let g = tape.gradient(l);
    std::iter::once(l.value())
        .chain(g.wrt_all(&yv))
        .chain(g.wrt_all(&pv))
        .map(f64::to_bits)
        .collect()
}

/// Runs `f` on pools of 1, 2 and 8 threads, twice on each, and checks every result is the
/// same bits as the first.
fn same_bits_on_every_pool(name: &str, f: impl Fn() -> Vec<u64> + Send + Sync) {
    let first = f();
    for threads in [1, 2, 8, 1, 2, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let again = pool.install(&f);
        let differ = first.iter().zip(&again).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{name}: {differ} of {} entries differ on {threads} threads",
            first.len()
        );
    }
}

#[test]
fn w5_generic_stencil_gradients_are_the_same_bits_on_every_pool() {
    let sys = ReactionDiffusion::<64> { hand_vjp: false };
    let (u0, d) = (sys.w5_initial_state(), sys.w5_diffusivities());
    let opts = Options {
        method: Method::Rk4 { dt: 1e-3 },
        sensitivity: Sensitivity::Auto,
        ..Default::default()
    };
    same_bits_on_every_pool("W5 64x64", || {
        gradient_bits(&sys, &u0, &d, &[0.01, 0.02], &opts)
    });
}

#[test]
fn upwind_bdf_discrete_adjoint_gradients_are_the_same_bits_on_every_pool() {
    let sys = UpwindAdvection { n: 80 };
    let opts = Options {
        method: Method::Bdf,
        rtol: 1e-8,
        atol: 1e-10,
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 64 },
        ..Default::default()
    };
    let y0 = sys.initial_state();
    same_bits_on_every_pool("upwind", || {
        gradient_bits(&sys, &y0, &UpwindAdvection::P, &[0.5, 1.0], &opts)
    });
}

#[test]
fn w3_and_w4_gradients_are_the_same_bits_on_every_pool() {
    let w3 = Options {
        rtol: 1e-8,
        atol: 1e-8,
        sensitivity: Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
        ..Default::default()
    };
    let save: Vec<f64> = (1..=10).map(|k| k as f64).collect();
    same_bits_on_every_pool("W3", || {
        gradient_bits(
            &LotkaVolterra,
            &LotkaVolterra::Y0,
            &LotkaVolterra::P,
            &save,
            &w3,
        )
    });
    let w4 = Options {
        method: Method::Bdf,
        rtol: 1e-6,
        atol: 1e-10,
        ..Default::default()
    };
    same_bits_on_every_pool("W4", || {
        gradient_bits(&Robertson, &Robertson::Y0, &Robertson::K, &[1.0, 40.0], &w4)
    });
}
