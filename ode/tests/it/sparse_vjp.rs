//! Large systems: the adjoints take the right-hand side's vector-Jacobian products from a
//! compressed forward-mode Jacobian (pattern traced once per solve) or from a replayed
//! operation trace (recorded once per solve) instead of a tape. Gradients must equal the taped
//! ones (whichever `RhsProducts` is chosen) and pass the gradient checker; a right-hand side
//! that branches on a state value must fall back to the tape.

use ad_core::testing::check_function;
use ad_core::{Function, Real};
use ode::{solve, vjp, Method, OdeSystem, Options, RhsProducts, Sensitivity};

const N: usize = 160;

/// Periodic 1-D reaction-diffusion u_i' = D_i (u_{i-1} - 2 u_i + u_{i+1}) N^2 / 40 + u_i (1 - u_i)
/// with one diffusivity per cell: a tridiagonal Jacobian in u and a diagonal one in D.
/// `branchy` adds a branch on a state value (same values, but a pattern that is only local).
#[derive(Clone, Copy)]
struct Diffusion {
    branchy: bool,
}

impl OdeSystem for Diffusion {
    fn dim(&self) -> usize {
        N
    }
    fn n_params(&self) -> usize {
        N
    }
    fn rhs<S: Real>(&self, _t: S, u: &[S], d: &[S], du: &mut [S]) {
        let k = (N * N) as f64 / 40.0;
        for i in 0..N {
            let (l, r) = (u[(i + N - 1) % N], u[(i + 1) % N]);
            let reaction = if self.branchy && u[i] < -1e300 {
                S::zero()
            } else {
                u[i] * (u[i] * -1.0 + 1.0)
            };
            du[i] = d[i] * (l - u[i] * 2.0 + r) * k + reaction;
        }
    }
}

fn inputs() -> (Vec<f64>, Vec<f64>) {
    let u0 = (0..N)
        .map(|i| 0.5 + 0.3 * (2.0 * std::f64::consts::PI * i as f64 / N as f64).sin())
        .collect();
    let d = (0..N)
        .map(|i| 0.01 * (1.0 + 0.5 * (i as f64).sin()))
        .collect();
    (u0, d)
}

#[test]
fn compressed_jacobian_products_match_the_tape() {
    let (u0, d) = inputs();
    let save_at = [0.05, 0.1];
    let y_bar: Vec<Vec<f64>> = (0..2)
        .map(|k| (0..N).map(|i| ((i + k) as f64 * 0.37).cos()).collect())
        .collect();
    for (method, sens) in [
        (
            Method::Rk4 { dt: 1e-3 },
            Sensitivity::DiscreteAdjoint { checkpoints: 8 },
        ),
        (
            Method::Dopri5,
            Sensitivity::DiscreteAdjoint { checkpoints: 8 },
        ),
        (
            Method::Tsit5,
            Sensitivity::InterpolatingAdjoint { checkpoints: 8 },
        ),
    ] {
        let run = |branchy: bool, rhs_products: RhsProducts| {
            let opts = Options {
                method,
                rtol: 1e-9,
                atol: 1e-9,
                sensitivity: sens,
                rhs_products,
                ..Default::default()
            };
            let sys = Diffusion { branchy };
            vjp(&sys, &u0, &d, 0.0, &save_at, &opts, &y_bar).unwrap()
        };
        let sparse = run(false, RhsProducts::Compressed);
        let traced = run(false, RhsProducts::Trace);
        let taped = run(false, RhsProducts::Tape);
        let fallback = run(true, RhsProducts::Compressed);
        let trace_fallback = run(true, RhsProducts::Trace);
        let auto = run(false, RhsProducts::Auto);
        // the compressed Jacobian and the trace record no tape; a system branching on a
        // state is taped
        assert_eq!(sparse.adjoint.max_tape_len, 0, "{method:?} {sens:?}");
        assert_eq!(traced.adjoint.max_tape_len, 0, "{method:?} {sens:?}");
        assert!(taped.adjoint.max_tape_len > 0, "{method:?} {sens:?}");
        assert!(fallback.adjoint.max_tape_len > 0, "{method:?} {sens:?}");
        assert!(
            trace_fallback.adjoint.max_tape_len > 0,
            "{method:?} {sens:?}"
        );
        let scale = taped
            .p_bar
            .iter()
            .chain(&taped.y0_bar)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        for other in [&sparse, &traced, &fallback, &trace_fallback, &auto] {
            for (a, b) in other
                .p_bar
                .iter()
                .chain(&other.y0_bar)
                .zip(taped.p_bar.iter().chain(&taped.y0_bar))
            {
                assert!(
                    (a - b).abs() <= 1e-12 * scale,
                    "{method:?} {sens:?}: {a} vs {b}"
                );
            }
        }
    }
}

/// The solve as a function of (u0, 100 D) for the gradient checker (scaled so that the
/// difference step is small against D): forward mode, reverse mode (the sparse products) and
/// a central difference of the f64 solve must agree.
struct Solve(Options);

impl Function for Solve {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let d: Vec<S> = x[N..].iter().map(|&v| v * 0.01).collect();
        let sol = solve(
            &Diffusion { branchy: false },
            &x[..N],
            &d,
            0.0,
            &[0.04, 0.08],
            &self.0,
        )
        .unwrap();
        sol.y.into_iter().flatten().collect()
    }
}

#[test]
fn gradient_check_through_compressed_and_traced_products() {
    let (u0, d) = inputs();
    let x: Vec<f64> = u0.into_iter().chain(d.iter().map(|v| v * 100.0)).collect();
    for rhs_products in [RhsProducts::Compressed, RhsProducts::Trace] {
        let opts = Options {
            method: Method::Rk4 { dt: 2e-3 },
            sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 4 },
            rhs_products,
            ..Default::default()
        };
        for seed in 0..3 {
            let c = check_function(&Solve(opts.clone()), &x, seed);
            assert!(c.error(1.0) < 1e-7, "{rhs_products:?}: {c:?}");
        }
    }
}

/// A system large enough for the backward pass to move to a rayon worker (W5's stencil on a
/// 48 x 48 torus: 4 608 inputs): the discrete and the interpolating adjoints give the same
/// gradients with compressed, traced, taped and hand-written products, called from outside
/// the pool and from inside a worker.
#[test]
fn large_systems_agree_on_and_off_the_pool() {
    use ode::problems::ReactionDiffusion;
    let hand = ReactionDiffusion::<48> { hand_vjp: true };
    let generic = ReactionDiffusion::<48> { hand_vjp: false };
    let (u0, d) = (hand.w5_initial_state(), hand.w5_diffusivities());
    let save_at = [0.004, 0.008];
    let y_bar: Vec<Vec<f64>> = (0..2)
        .map(|k| {
            (0..u0.len())
                .map(|i| ((i + 3 * k) as f64 * 0.37).cos())
                .collect()
        })
        .collect();
    for (method, sens) in [
        (
            Method::Rk4 { dt: 1e-3 },
            Sensitivity::DiscreteAdjoint { checkpoints: 4 },
        ),
        (
            Method::Tsit5,
            Sensitivity::InterpolatingAdjoint { checkpoints: 4 },
        ),
    ] {
        let opts = |rhs_products| Options {
            method,
            rtol: 1e-8,
            atol: 1e-8,
            sensitivity: sens,
            rhs_products,
            ..Default::default()
        };
        let compressed = opts(RhsProducts::Compressed);
        let traced = opts(RhsProducts::Trace);
        let reference = vjp(
            &hand,
            &u0,
            &d,
            0.0,
            &save_at,
            &opts(RhsProducts::Auto),
            &y_bar,
        )
        .unwrap();
        let runs = [
            vjp(&generic, &u0, &d, 0.0, &save_at, &compressed, &y_bar).unwrap(),
            vjp(
                &generic,
                &u0,
                &d,
                0.0,
                &save_at,
                &opts(RhsProducts::Tape),
                &y_bar,
            )
            .unwrap(),
            rayon::scope(|_| vjp(&generic, &u0, &d, 0.0, &save_at, &compressed, &y_bar).unwrap()),
            vjp(&generic, &u0, &d, 0.0, &save_at, &traced, &y_bar).unwrap(),
            rayon::scope(|_| vjp(&generic, &u0, &d, 0.0, &save_at, &traced, &y_bar).unwrap()),
        ];
        let scale = reference
            .p_bar
            .iter()
            .chain(&reference.y0_bar)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for g in &runs {
            for (a, b) in g
                .p_bar
                .iter()
                .chain(&g.y0_bar)
                .zip(reference.p_bar.iter().chain(&reference.y0_bar))
            {
                assert!(
                    (a - b).abs() <= 1e-11 * scale,
                    "{method:?} {sens:?}: {a} vs {b}"
                );
            }
        }
    }
}
