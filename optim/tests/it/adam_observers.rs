//! Adam on convex problems, and the observer / progress printer plumbing.

use optim::{
    minimize, minimize_observed, Control, Iteration, Method, Observer, Options, Progress, Real,
    Termination,
};

/// Logistic regression on a separable-free synthetic set (strictly convex with the L2 term).
fn logistic<S: Real>(w: &[S], data: &[(Vec<f64>, f64)]) -> S {
    let mut loss = S::zero();
    for (x, y) in data {
        let z: S = w.iter().zip(x).map(|(wi, xi)| *wi * *xi).sum();
        // log(1 + exp(-y z)), stable
        let m = -z * *y;
        loss += m.max(S::zero()) + ((-m.abs()).exp() + 1.0).ln();
    }
    loss / data.len() as f64 + w.iter().map(|v| *v * *v).sum::<S>() * 0.05
}

fn dataset() -> Vec<(Vec<f64>, f64)> {
    let mut rng = ad_core::testing::Rng::new(7);
    (0..200)
        .map(|_| {
            let x = rng.vec(3, -2.0, 2.0);
            let y = if x[0] - 0.5 * x[1] + 0.3 * x[2] + rng.uniform(-1.0, 1.0) > 0.0 {
                1.0
            } else {
                -1.0
            };
            (x, y)
        })
        .collect()
}

#[test]
fn adam_reaches_the_minimum_of_a_convex_problem() {
    let data = dataset();
    let obj = |w: &[f64], g: &mut [f64]| {
        let (v, grad) = ad_core::gradient(|w| logistic(w, &data), w);
        g.copy_from_slice(&grad);
        v
    };
    let tight = Options::default()
        .with_grad_tol(1e-12)
        .unwrap()
        .with_f_tol(0.0)
        .unwrap();
    let exact = minimize(obj, &[0.0; 3], &tight).unwrap();
    assert_eq!(exact.termination, Termination::GradientTolerance);
    let opts = Options::default()
        .with_method(Method::adam(0.05))
        .unwrap()
        .with_grad_tol(1e-7)
        .unwrap()
        .with_max_iterations(20_000);
    let adam = minimize(obj, &[0.0; 3], &opts).unwrap();
    assert_eq!(adam.termination, Termination::GradientTolerance, "{adam:?}");
    assert!(
        (adam.value - exact.value).abs() < 1e-10,
        "{} vs {}",
        adam.value,
        exact.value
    );
    for (a, b) in adam.x.iter().zip(&exact.x) {
        assert!((a - b).abs() < 1e-5, "{:?} vs {:?}", adam.x, exact.x);
    }
    assert_eq!(adam.evaluations, adam.iterations + 1);
}

#[test]
fn adam_reports_divergence_instead_of_nan() {
    let f = |x: &[f64], g: &mut [f64]| {
        g[0] = -1.0;
        if x[0] > 2.0 {
            f64::NAN
        } else {
            -x[0]
        }
    };
    let opts = Options::default().with_method(Method::adam(0.5)).unwrap();
    let r = minimize(f, &[0.0], &opts).unwrap();
    assert!(
        matches!(r.termination, Termination::Diverged { .. }),
        "{r:?}"
    );
    assert!(r.value.is_finite() && r.x[0] <= 2.0);
}

fn quad(x: &[f64], g: &mut [f64]) -> f64 {
    for (i, (gi, xi)) in g.iter_mut().zip(x).enumerate() {
        *gi = 2.0 * (i + 1) as f64 * xi;
    }
    x.iter()
        .enumerate()
        .map(|(i, v)| (i + 1) as f64 * v * v)
        .sum()
}

#[test]
fn observer_sees_every_iteration_in_order() {
    let mut seen: Vec<(usize, f64, f64, usize)> = Vec::new();
    let mut obs =
        |it: &Iteration| seen.push((it.iteration, it.value, it.grad_norm, it.evaluations));
    let r = minimize_observed(quad, &[1.0, -2.0, 3.0], &Options::default(), &mut obs).unwrap();
    assert_eq!(seen.len(), r.iterations + 1);
    assert_eq!(seen[0].0, 0);
    assert!(seen
        .windows(2)
        .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 <= w[0].1));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.1, last.2, last.3),
        (r.value, r.grad_norm, r.evaluations)
    );
}

struct StopAfter(usize);
impl Observer for StopAfter {
    fn observe(&mut self, it: &Iteration<'_>) -> Control {
        if it.iteration >= self.0 {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[test]
fn observer_can_stop_every_method() {
    for m in [Method::LBFGS, Method::GradientDescent, Method::adam(0.01)] {
        let o = Options::default().with_method(m).unwrap();
        let r = minimize_observed(quad, &[1.0, -2.0, 3.0], &o, &mut StopAfter(2)).unwrap();
        assert_eq!(r.termination, Termination::Observer, "{m:?}");
        assert_eq!(r.iterations, 2);
    }
    let r = optim::least_squares_observed(
        &Lin,
        &[5.0, 5.0],
        &optim::LeastSquaresOptions::default(),
        &mut StopAfter(0),
    )
    .unwrap();
    assert_eq!((r.termination, r.iterations), (Termination::Observer, 0));
}

struct Lin;
impl optim::Function for Lin {
    fn eval<S: Real>(&self, p: &[S]) -> Vec<S> {
        vec![p[0] - 1.0, p[1] + 2.0, (p[0] - p[1]) * 0.5]
    }
}

#[test]
fn progress_prints_a_header_and_one_line_per_reported_iteration() {
    let mut out = Vec::new();
    let r = minimize_observed(
        quad,
        &[1.0, -2.0, 3.0],
        &Options::default(),
        &mut Progress::to_writer(&mut out, 1),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), r.iterations + 2, "{text}");
    assert!(text.lines().next().unwrap().contains("value"));
}
