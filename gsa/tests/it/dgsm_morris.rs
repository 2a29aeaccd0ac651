//! DGSM against analytic `nu_i`, the Poincaré bound against analytic total indices, Morris
//! `mu*` ordering on the G-function.
#![allow(clippy::needless_range_loop)] // indices name inputs and outputs here

use gsa::testing::{GFunction, Ishigami, Polynomial};
use gsa::{dgsm, morris, DgsmOptions, Error, GradientMode, Input, MorrisOptions, Problem};

fn dopts(samples: usize, mode: GradientMode) -> DgsmOptions {
    DgsmOptions {
        samples,
        seed: 2,
        mode,
        progress: false,
        ..Default::default()
    }
}

#[test]
fn dgsm_of_a_polynomial_matches_analytic_nu_in_both_modes() {
    let problem = Problem::new(&[(0.0, 1.0); 3]).unwrap();
    let want = Polynomial::dgsm();
    let f = dgsm(
        &problem,
        &Polynomial,
        &dopts(1 << 12, GradientMode::Forward),
    )
    .unwrap();
    let r = dgsm(
        &problem,
        &Polynomial,
        &dopts(1 << 12, GradientMode::Reverse),
    )
    .unwrap();
    for i in 0..3 {
        assert!(
            (f.nu[0][i] - want[i]).abs() < 2e-3 * want[i],
            "{i}: {} vs {}",
            f.nu[0][i],
            want[i]
        );
        assert!((f.nu[0][i] - want[i]).abs() <= f.nu_conf[0][i], "{i}");
        assert!((f.nu[0][i] - r.nu[0][i]).abs() < 1e-12 * want[i]);
    }
}

#[test]
fn dgsm_of_ishigami_matches_analytic_nu_and_bounds_the_total_indices() {
    let f = Ishigami::default();
    let d = dgsm(
        &Ishigami::problem(),
        &f,
        &dopts(1 << 13, GradientMode::Auto),
    )
    .unwrap();
    let want = f.dgsm();
    for i in 0..3 {
        assert!(
            (d.nu[0][i] - want[i]).abs() < 0.01 * want[i],
            "{i}: {} vs {}",
            d.nu[0][i],
            want[i]
        );
    }
    // The bound with the analytic variance and nu: (2 pi)^2 / pi^2 nu_i / V = 4 nu_i / V.
    let (_, st) = f.indices();
    for i in 0..3 {
        let exact_bound = 4.0 * want[i] / f.variance();
        assert!(st[i] <= exact_bound);
        assert!((d.total_upper_bound[0][i] - exact_bound).abs() < 0.03 * exact_bound);
    }
}

#[test]
fn the_unit_cube_bound_holds_for_non_uniform_marginals() {
    // y = x1 + x2 with x1 log-uniform, x2 triangular: ST_i = Var(x_i) / (Var(x1) + Var(x2)).
    struct Sum;
    impl ad_core::Function for Sum {
        fn eval<S: ad_core::Real>(&self, x: &[S]) -> Vec<S> {
            vec![x[0] + x[1]]
        }
    }
    let problem = Problem::from_inputs(vec![
        Input::log_uniform("x1", 0.5, 4.0),
        Input::triangular("x2", 0.0, 1.0, 3.0),
    ])
    .unwrap();
    let d = dgsm(&problem, &Sum, &dopts(1 << 12, GradientMode::Auto)).unwrap();
    let v: Vec<f64> = problem
        .inputs()
        .iter()
        .map(|i| i.distribution.variance())
        .collect();
    for i in 0..2 {
        assert!((d.nu[0][i] - 1.0).abs() < 1e-12);
        let st = v[i] / (v[0] + v[1]);
        assert!(
            d.total_upper_bound[0][i] >= st,
            "{i}: {} < {st}",
            d.total_upper_bound[0][i]
        );
        assert!(d.total_upper_bound[0][i].is_finite());
    }
}

#[test]
fn morris_mu_star_ranks_the_g_function_inputs() {
    let g = GFunction {
        a: vec![0.0, 1.0, 4.5, 9.0, 99.0, 99.0],
    };
    let m = morris(
        &g.problem(),
        &g,
        &MorrisOptions {
            trajectories: 100,
            seed: 4,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let ms = &m.mu_star[0];
    assert!(ms[0] > ms[1] && ms[1] > ms[2] && ms[2] > ms[3], "{ms:?}");
    assert!(ms[3] > ms[4].max(ms[5]), "{ms:?}");
    for i in 0..6 {
        assert!(m.sigma[0][i] >= 0.0 && m.mu_star[0][i] >= m.mu[0][i].abs() - 1e-12);
        assert!(m.mu_star_conf[0][i] > 0.0);
    }
}

#[test]
fn morris_of_a_linear_function_gives_its_slopes() {
    // y = 3 x1 - 2 x2 on [0, 1]^2: every elementary effect is the slope, sigma = 0.
    struct Lin;
    impl ad_core::Function for Lin {
        fn eval<S: ad_core::Real>(&self, x: &[S]) -> Vec<S> {
            vec![x[0] * 3.0 - x[1] * 2.0]
        }
    }
    let problem = Problem::new(&[(0.0, 1.0); 2]).unwrap();
    let m = morris(
        &problem,
        &Lin,
        &MorrisOptions {
            trajectories: 10,
            levels: 6,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!((m.mu[0][0] - 3.0).abs() < 1e-12 && (m.mu[0][1] + 2.0).abs() < 1e-12);
    assert!((m.mu_star[0][1] - 2.0).abs() < 1e-12 && m.sigma[0][0].abs() < 1e-12);
    for bad in [3, 0] {
        let o = MorrisOptions {
            levels: bad,
            ..Default::default()
        };
        assert!(matches!(
            morris(&problem, &Lin, &o),
            Err(Error::InvalidOption(_))
        ));
    }
}
