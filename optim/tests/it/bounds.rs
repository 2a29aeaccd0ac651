//! Box bounds: the iterates stay feasible and the known constrained optima are found with the
//! right components active.

use crate::common::max_diff;
use optim::{
    least_squares, minimize, Function, LeastSquaresOptions, Method, Options, Real, Termination,
};

fn rosenbrock<S: Real>(x: &[S]) -> S {
    x.windows(2)
        .map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + (S::one() - w[0]).powi(2))
        .sum()
}

fn ad<'a>(
    f: impl for<'t> Fn(&[ad_core::Var<'t>]) -> ad_core::Var<'t> + 'a,
) -> impl FnMut(&[f64], &mut [f64]) -> f64 + 'a {
    move |x, g| {
        let (v, grad) = ad_core::gradient(&f, x);
        g.copy_from_slice(&grad);
        v
    }
}

/// Every evaluated point must be inside the box.
fn checked<'a>(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64 + 'a,
    lo: &'a [f64],
    hi: &'a [f64],
) -> impl FnMut(&[f64], &mut [f64]) -> f64 + 'a {
    move |x, g| {
        for i in 0..x.len() {
            assert!(
                lo[i] <= x[i] && x[i] <= hi[i],
                "x[{i}] = {} outside [{}, {}]",
                x[i],
                lo[i],
                hi[i]
            );
        }
        f(x, g)
    }
}

#[test]
fn rosenbrock_with_an_active_upper_bound() {
    // With x0 <= 0.5 the minimum of the 2-d Rosenbrock function is at (0.5, 0.25): for fixed
    // x0 the best x1 is x0^2, leaving (1 - x0)^2, decreasing up to the bound. df/dx0 = -1 there.
    let (lo, hi) = (vec![-2.0, -2.0], vec![0.5, 2.0]);
    for method in [Method::LBFGS, Method::GradientDescent] {
        let opts = Options::default()
            .with_method(method)
            .unwrap()
            .with_bounds(lo.clone(), hi.clone())
            .unwrap()
            .with_grad_tol(1e-8)
            .unwrap()
            .with_max_iterations(50_000);
        let r = minimize(
            checked(ad(|x| rosenbrock(x)), &lo, &hi),
            &[-1.2, 1.0],
            &opts,
        )
        .unwrap();
        assert_eq!(
            r.termination,
            Termination::GradientTolerance,
            "{method:?}: {r:?}"
        );
        assert_eq!(r.x[0], 0.5, "{method:?}: the bound must be active exactly");
        assert!((r.x[1] - 0.25).abs() < 1e-7, "{method:?}: {:?}", r.x);
        assert!((r.gradient[0] + 1.0).abs() < 1e-6, "{:?}", r.gradient);
    }
}

#[test]
fn bounded_quadratic_many_active_bounds_at_once() {
    // f = sum (x_i - c_i)^2 with c alternating far outside the box on both sides: the answer
    // is clamp(c), half the components at each bound.
    let n = 50;
    let c: Vec<f64> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                3.0
            } else if i % 3 == 1 {
                -3.0
            } else {
                0.3
            }
        })
        .collect();
    let (lo, hi) = (vec![-1.0; n], vec![1.0; n]);
    let cc = c.clone();
    let f = move |x: &[f64], g: &mut [f64]| {
        let mut v = 0.0;
        for i in 0..x.len() {
            v += (x[i] - cc[i]).powi(2) * (1.0 + i as f64);
            g[i] = 2.0 * (x[i] - cc[i]) * (1.0 + i as f64);
        }
        v
    };
    let expect: Vec<f64> = c.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
    let opts = Options::default()
        .with_bounds(lo.clone(), hi.clone())
        .unwrap()
        .with_f_tol(0.0)
        .unwrap();
    let mut first_all_active = None;
    let mut watch = |it: &optim::Iteration| {
        let active = (0..n).filter(|&i| it.x[i].abs() == 1.0).count();
        if active == 2 * n / 3 + 1 && first_all_active.is_none() {
            first_all_active = Some(it.iteration);
        }
    };
    let r = optim::minimize_observed(
        checked(f.clone(), &lo, &hi),
        &vec![0.0; n],
        &opts,
        &mut watch,
    )
    .unwrap();
    assert_eq!(r.termination, Termination::GradientTolerance, "{r:?}");
    assert!(max_diff(&r.x, &expect) < 1e-6, "{:?}", r.x);
    // The projected-path search sets several components per iteration: all 34 bounds are
    // active well before one iteration per bound.
    assert!(first_all_active.unwrap() <= 10, "{first_all_active:?}");
    assert!(r.iterations < 40, "{} iterations", r.iterations);
    // Adam gets there too (slowly, with a small learning rate).
    let adam = opts
        .clone()
        .with_method(Method::adam(0.05))
        .unwrap()
        .with_max_iterations(5000)
        .with_grad_tol(1e-4)
        .unwrap();
    let r = minimize(checked(f, &lo, &hi), &vec![0.0; n], &adam).unwrap();
    assert!(
        max_diff(&r.x, &expect) < 1e-3,
        "{:?} {:?}",
        r.termination,
        r.x
    );
}

#[test]
fn start_outside_the_box_is_projected() {
    let (lo, hi) = (vec![0.0, 0.0], vec![0.5, 2.0]);
    let opts = Options::default()
        .with_bounds(lo.clone(), hi.clone())
        .unwrap();
    let r = minimize(
        checked(ad(|x| rosenbrock(x)), &lo, &hi),
        &[-1.2, 5.0],
        &opts,
    )
    .unwrap();
    assert!(max_diff(&r.x, &[0.5, 0.25]) < 1e-6, "{:?}", r.x);
}

struct Exp {
    t: Vec<f64>,
    y: Vec<f64>,
}
impl Function for Exp {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        self.t
            .iter()
            .zip(&self.y)
            .map(|(&t, &y)| p[0] * (-p[1] * t).exp() - y)
            .collect()
    }
}

#[test]
fn least_squares_respects_bounds() {
    // Data from a = 2, k = 0.7; the bound k <= 0.5 is active at the constrained fit.
    let t: Vec<f64> = (0..20).map(|i| 0.25 * i as f64).collect();
    let y = t.iter().map(|t| 2.0 * (-0.7 * t).exp()).collect();
    let model = Exp { t, y };
    let opts = LeastSquaresOptions::default()
        .with_bounds(vec![0.0, 0.0], vec![10.0, 0.5])
        .unwrap();
    let r = least_squares(&model, &[1.0, 0.1], &opts).unwrap();
    assert_eq!(r.x[1], 0.5, "{r:?}");
    // Same constrained optimum as L-BFGS with the same bounds.
    let lb = minimize(
        ad(|p| model.eval(p).iter().map(|r| *r * *r).sum()),
        &[1.0, 0.1],
        &Options::default()
            .with_bounds(vec![0.0, 0.0], vec![10.0, 0.5])
            .unwrap()
            .with_grad_tol(1e-10)
            .unwrap(),
    )
    .unwrap();
    assert!(max_diff(&r.x, &lb.x) < 1e-6, "{:?} vs {:?}", r.x, lb.x);
}

#[test]
fn random_bounded_convex_quadratics_satisfy_kkt() {
    // f = 0.5 x'Ax - b'x with A = M'M + 0.1 I (condition up to ~1e3), random boxes: the
    // first-order (KKT) conditions characterise the unique minimiser.
    let mut rng = ad_core::testing::Rng::new(11);
    for case in 0..25 {
        let n = 5 + case;
        let m: Vec<Vec<f64>> = (0..n).map(|_| rng.vec(n, -1.0, 1.0)).collect();
        let mut a = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in 0..n {
                a[i][j] =
                    (0..n).map(|k| m[k][i] * m[k][j]).sum::<f64>() + if i == j { 0.1 } else { 0.0 };
            }
        }
        let b = rng.vec(n, -5.0, 5.0);
        let lo: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 0.0)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.uniform(0.0, 1.5)).collect();
        let (aa, bb) = (a.clone(), b.clone());
        let f = move |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                g[i] = aa[i].iter().zip(x).map(|(p, q)| p * q).sum::<f64>() - bb[i];
                v += 0.5 * x[i] * (g[i] - bb[i]);
            }
            v
        };
        let opts = Options::default()
            .with_bounds(lo.clone(), hi.clone())
            .unwrap()
            .with_grad_tol(1e-7)
            .unwrap()
            .with_f_tol(0.0)
            .unwrap()
            .with_max_iterations(5000);
        let r = minimize(checked(f, &lo, &hi), &vec![0.0; n], &opts).unwrap();
        // Gradient tolerance, or no decrease left at round-off level just above it.
        assert!(r.termination.converged(), "case {case}: {r:?}");
        for i in 0..n {
            let gi = r.gradient[i];
            let ok = if r.x[i] <= lo[i] {
                gi >= -1e-7
            } else if r.x[i] >= hi[i] {
                gi <= 1e-7
            } else {
                gi.abs() <= 1e-7
            };
            assert!(
                ok,
                "case {case}, component {i}: x {} in [{}, {}], g {gi}",
                r.x[i], lo[i], hi[i]
            );
        }
    }
}
