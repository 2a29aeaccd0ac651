//! More-Garbow-Hillstrom problems from their standard starts: L-BFGS (gradients by ad_core's
//! reverse mode), Levenberg-Marquardt and Gauss-Newton (Jacobians by ad_core), and the
//! agreement of LM with L-BFGS.

use crate::common::{max_diff, Mgh, ALL};
use optim::{
    least_squares, minimize, LeastSquaresMethod, LeastSquaresOptions, Method, Options, Termination,
};

fn near_a_minimum(p: Mgh, value: f64, tol: f64) -> bool {
    p.minima()
        .iter()
        .any(|&m| (value - m).abs() <= tol * (1.0 + m))
}

#[test]
fn lbfgs_solves_the_mgh_problems() {
    for p in ALL {
        let opts = Options::default()
            .with_grad_tol(1e-9)
            .unwrap()
            .with_f_tol(0.0)
            .unwrap()
            .with_max_iterations(5000);
        let r = minimize(p.objective(), &p.start(), &opts).unwrap();
        println!(
            "{p:?}: value {:.6e}, |g| {:.1e}, {} it, {} evals, {:?}",
            r.value, r.grad_norm, r.iterations, r.evaluations, r.termination
        );
        assert!(near_a_minimum(p, r.value, 1e-8), "{p:?}: {r:?}");
        if let Some(xs) = p.minimiser() {
            let scale = xs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            assert!(max_diff(&r.x, &xs) < 1e-4 * scale, "{p:?}: {:?}", r.x);
        }
    }
}

#[test]
fn levenberg_marquardt_solves_the_mgh_problems() {
    for p in ALL {
        let r = least_squares(&p, &p.start(), &LeastSquaresOptions::default()).unwrap();
        println!(
            "{p:?}: value {:.6e}, |g| {:.1e}, {} it, {} evals, {:?}",
            r.value, r.grad_norm, r.iterations, r.evaluations, r.termination
        );
        assert!(r.termination.converged(), "{p:?}: {:?}", r.termination);
        assert!(near_a_minimum(p, r.value, 1e-8), "{p:?}: {r:?}");
        if let Some(xs) = p.minimiser() {
            let scale = xs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            assert!(max_diff(&r.x, &xs) < 1e-6 * scale, "{p:?}: {:?}", r.x);
        }
    }
}

#[test]
fn gauss_newton_solves_the_small_residual_problems() {
    let opts = LeastSquaresOptions::default().with_method(LeastSquaresMethod::GaussNewton);
    for p in [
        Mgh::Rosenbrock,
        Mgh::Beale,
        Mgh::HelicalValley,
        Mgh::Box3d,
        Mgh::Bard,
    ] {
        let r = least_squares(&p, &p.start(), &opts).unwrap();
        println!(
            "{p:?}: value {:.6e}, {} it, {:?}",
            r.value, r.iterations, r.termination
        );
        assert!(near_a_minimum(p, r.value, 1e-8), "{p:?}: {r:?}");
    }
}

#[test]
fn levenberg_marquardt_matches_lbfgs_on_nonzero_residual_problems() {
    for p in [Mgh::Bard, Mgh::KowalikOsborne] {
        let lm = least_squares(&p, &p.start(), &LeastSquaresOptions::default()).unwrap();
        let opts = Options::default()
            .with_grad_tol(1e-10)
            .unwrap()
            .with_f_tol(0.0)
            .unwrap();
        let lb = minimize(p.objective(), &p.start(), &opts).unwrap();
        assert!(
            (lm.value - lb.value).abs() < 1e-12,
            "{p:?}: {} vs {}",
            lm.value,
            lb.value
        );
        assert!(
            max_diff(&lm.x, &lb.x) < 1e-5,
            "{p:?}: {:?} vs {:?}",
            lm.x,
            lb.x
        );
        // And LM's standard errors exist there (m > n, full rank).
        let se = lm.standard_errors().unwrap();
        assert!(se.iter().all(|s| s.is_finite() && *s > 0.0), "{se:?}");
    }
}

#[test]
fn gradient_descent_and_lbfgs_memory_one_still_converge() {
    let p = Mgh::Beale;
    let gd = Options::default()
        .with_method(Method::GradientDescent)
        .unwrap()
        .with_grad_tol(1e-6)
        .unwrap()
        .with_max_iterations(20_000);
    let r = minimize(p.objective(), &p.start(), &gd).unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance, "{r:?}");
    assert!(max_diff(&r.x, &[3.0, 0.5]) < 1e-4);
    let m1 = Options::default()
        .with_method(Method::Lbfgs { memory: 1 })
        .unwrap();
    let r1 = minimize(p.objective(), &p.start(), &m1).unwrap();
    assert_eq!(r1.termination, Termination::GradientTolerance, "{r1:?}");
    assert!(r1.iterations < r.iterations);
}

#[test]
fn the_zoo_derivatives_pass_the_shared_gradient_checker() {
    // Forward and reverse mode of every residual function against a central difference, at the
    // start and at a perturbed point (so the Jacobians LM and L-BFGS use are the right ones).
    let mut rng = ad_core::testing::Rng::new(3);
    for p in ALL {
        let x0 = p.start();
        let x1: Vec<f64> = x0.iter().map(|v| v + rng.uniform(0.05, 0.2)).collect();
        for (seed, x) in [(1, &x0), (2, &x1)] {
            ad_core::testing::check_function(&p, x, seed).assert_close(1e-6);
        }
    }
}
