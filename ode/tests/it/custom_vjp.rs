//! A system with a hand-written vector-Jacobian product (`OdeSystem::vjp`) gives the same
//! adjoint gradients as the default (its right-hand side recorded on a tape), and the gradient
//! checker passes on random parameters (proptest).

use crate::common::*;
use ad_core::testing::check_function;
use ad_core::{Function, Real};
use ode::{solve, vjp, Method, OdeSystem, Options, Sensitivity};
use proptest::prelude::*;

/// Lotka-Volterra with its transposed Jacobian written by hand.
#[derive(Clone, Copy)]
struct HandLv;

impl OdeSystem for HandLv {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        4
    }
    fn rhs<S: Real>(&self, t: S, y: &[S], p: &[S], dy: &mut [S]) {
        LotkaVolterra.rhs(t, y, p, dy)
    }
    fn vjp(
        &self,
        _t: f64,
        y: &[f64],
        p: &[f64],
        w: &[f64],
        y_bar: &mut [f64],
        p_bar: &mut [f64],
    ) -> bool {
        let (x, z) = (y[0], y[1]);
        // f0 = a x - b x z, f1 = d x z - g z
        y_bar[0] += w[0] * (p[0] - p[1] * z) + w[1] * p[2] * z;
        y_bar[1] += -w[0] * p[1] * x + w[1] * (p[2] * x - p[3]);
        p_bar[0] += w[0] * x;
        p_bar[1] -= w[0] * x * z;
        p_bar[2] += w[1] * x * z;
        p_bar[3] -= w[1] * z;
        true
    }
}

#[test]
fn hand_written_vjp_matches_the_taped_one() {
    let save_at = w3_save_at();
    let y_bar: Vec<Vec<f64>> = (0..save_at.len())
        .map(|k| vec![(0.3 * k as f64).sin(), 1.0])
        .collect();
    for sens in [
        Sensitivity::DiscreteAdjoint { checkpoints: 8 },
        Sensitivity::InterpolatingAdjoint { checkpoints: 8 },
    ] {
        let opts = Options {
            method: Method::Dopri5,
            rtol: 1e-9,
            atol: 1e-9,
            sensitivity: sens,
            ..Default::default()
        };
        let a = vjp(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &save_at, &opts, &y_bar).unwrap();
        let b = vjp(&HandLv, &W3_Y0, &W3_P, 0.0, &save_at, &opts, &y_bar).unwrap();
        for (x, y) in a
            .p_bar
            .iter()
            .chain(&a.y0_bar)
            .zip(b.p_bar.iter().chain(&b.y0_bar))
        {
            assert!(
                (x - y).abs() <= 1e-10 * y.abs().max(1.0),
                "{sens:?}: {x} vs {y}"
            );
        }
        // the hand-written product records nothing
        assert_eq!(b.adjoint.max_tape_len, 0, "{:?}", b.adjoint);
    }
}

struct Lv(Options);

impl Function for Lv {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let sol = solve(&HandLv, &x[..2], &x[2..], 0.0, &[0.7, 1.9], &self.0).unwrap();
        sol.y.into_iter().flatten().collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn gradient_check_random_parameters(
        a in 0.5f64..2.0, b in 0.5f64..1.5, d in 0.5f64..1.5, g in 1.0f64..3.0,
        x0 in 0.5f64..1.5, z0 in 0.5f64..1.5, seed in 0u64..1000,
    ) {
        let opts = Options {
            rtol: 1e-11,
            atol: 1e-11,
            sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 4 },
            ..Default::default()
        };
        let c = check_function(&Lv(opts), &[x0, z0, a, b, d, g], seed);
        prop_assert!(c.error(1.0) < 1e-6, "{:?}", c);
    }
}

/// `sys.rhs` recorded on a tape at `(u, d)`: its values and `(∂f/∂u)^T w`, `(∂f/∂d)^T w`.
fn taped_product(
    sys: &impl OdeSystem,
    u: &[f64],
    d: &[f64],
    w: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let tape = ad_core::Tape::new();
    let (us, ds) = (tape.vars(u), tape.vars(d));
    let mut f = vec![ad_core::Var::constant(0.0); u.len()];
    sys.rhs(ad_core::Var::constant(0.0), &us, &ds, &mut f);
    let adj = tape.vjp(&f, w);
    let values = f.iter().map(|v| v.value()).collect();
    (values, adj.wrt_all(&us), adj.wrt_all(&ds))
}

/// `ode::problems::ReactionDiffusion`'s hand-written product equals its generic right-hand
/// side's taped product, on grids whose neighbours coincide (sides 1 and 2), the smallest
/// with distinct neighbours (3) and a larger one (8), at a random-looking state.
#[test]
fn reaction_diffusion_hand_vjp_matches_the_tape() {
    fn check<const M: usize>() {
        let sys = ode::problems::ReactionDiffusion::<M> { hand_vjp: true };
        let n = M * M;
        let u: Vec<f64> = (0..n).map(|c| 0.5 + 0.3 * (1.7 * c as f64).sin()).collect();
        let d: Vec<f64> = sys.w5_diffusivities();
        let w: Vec<f64> = (0..n).map(|c| (0.9 * c as f64 + 0.2).cos()).collect();
        let (mut ub, mut db) = (vec![0.5; n], vec![-0.25; n]); // vjp adds
        assert!(sys.vjp(0.0, &u, &d, &w, &mut ub, &mut db));

        let (_, tu, td) = taped_product(&sys, &u, &d, &w);
        for c in 0..n {
            let (eu, ed) = (0.5 + tu[c], -0.25 + td[c]);
            assert!(
                (ub[c] - eu).abs() <= 1e-12 * eu.abs().max(1.0),
                "M {M} u {c}: {} vs {eu}",
                ub[c]
            );
            assert!(
                (db[c] - ed).abs() <= 1e-12 * ed.abs().max(1.0),
                "M {M} D {c}: {} vs {ed}",
                db[c]
            );
        }
    }
    check::<1>();
    check::<2>();
    check::<3>();
    check::<8>();
}

/// `ode::problems::ReactionDiffusionMaps` (array code with fused maps on a tape) has the values
/// and the taped product of the scalar `ReactionDiffusion`, and its `f64` values are the scalar
/// loop's.
#[test]
fn reaction_diffusion_maps_match_the_scalar_form() {
    use ode::problems::{ReactionDiffusion, ReactionDiffusionMaps};
    const M: usize = 6;
    let (scalar, maps) = (
        ReactionDiffusion::<M> { hand_vjp: true },
        ReactionDiffusionMaps::<M>,
    );
    let n = M * M;
    let u: Vec<f64> = (0..n).map(|c| 0.5 + 0.3 * (1.3 * c as f64).cos()).collect();
    let d = scalar.w5_diffusivities();
    let w: Vec<f64> = (0..n).map(|c| (0.7 * c as f64 - 0.4).sin()).collect();
    let (mut f_scalar, mut f_maps) = (vec![0.0; n], vec![0.0; n]);
    scalar.rhs(0.0, &u, &d, &mut f_scalar);
    maps.rhs(0.0, &u, &d, &mut f_maps);
    assert_eq!(f_scalar, f_maps);

    let (mut ub, mut db) = (vec![0.0; n], vec![0.0; n]);
    scalar.vjp(0.0, &u, &d, &w, &mut ub, &mut db);
    let (f, tu, td) = taped_product(&maps, &u, &d, &w);
    for c in 0..n {
        assert!((f[c] - f_scalar[c]).abs() <= 1e-12 * f_scalar[c].abs().max(1.0));
        assert!(
            (tu[c] - ub[c]).abs() <= 1e-12 * ub[c].abs().max(1.0),
            "u {c}"
        );
        assert!(
            (td[c] - db[c]).abs() <= 1e-12 * db[c].abs().max(1.0),
            "D {c}"
        );
    }
}
