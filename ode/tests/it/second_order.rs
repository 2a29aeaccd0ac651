//! Hessian-vector products through `ode::solve` for every method (forward over reverse: the
//! nested tangent is the forward sensitivity solved on `Var`, whose reverse pass is the
//! configured sensitivity of the tangent system), against central differences of
//! reverse-mode gradients (first-order rules only).

use ad_core::{try_gradient, try_hessian_vector_product, Real};
use ode::{Error, Method, OdeSystem, Options, Sensitivity};

/// Lotka-Volterra with two parameters.
#[derive(Clone)]
struct Lv;

impl OdeSystem for Lv {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] - y[0] * y[1];
        dy[1] = -p[1] * y[1] + y[0] * y[1] * 0.5;
    }
}

/// `x = (y0, p)`: a nonlinear read-out of the states saved at 0.5, 1, 1.5.
fn loss<S: Real>(x: &[S], opts: &Options) -> Result<S, Error> {
    let sol = ode::solve(&Lv, &x[..2], &x[2..], 0.0, &[0.5, 1.0, 1.5], opts)?;
    let mut l = x[2] * sol.y[0][1];
    for (k, row) in sol.y.iter().enumerate() {
        l += row[0] * row[0] * (k as f64 + 1.0) + row[0] * row[1];
    }
    Ok(l)
}

/// `H v` against a fourth-order central difference of gradients, to `tol` relative to the
/// largest entry; bit-reproducible.
fn check(opts: &Options, tol: f64) {
    let x = [1.2, 0.8, 1.1, 0.9];
    for v in [[0.0, 0.0, 1.0, 0.0], [0.4, -0.7, 0.3, 0.5]] {
        let (_, hv) = try_hessian_vector_product(|p| loss(p, opts), &x, &v).unwrap();
        let h = 1e-3;
        let g = |s: f64| {
            let xs: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + s * h * b).collect();
            try_gradient(|p| loss(p, opts), &xs).unwrap().1
        };
        let (g2, g1, m1, m2) = (g(2.0), g(1.0), g(-1.0), g(-2.0));
        let fd: Vec<f64> = (0..4)
            .map(|i| (-g2[i] + 8.0 * g1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
            .collect();
        let scale = fd.iter().fold(1.0f64, |m, a| m.max(a.abs()));
        for (a, b) in hv.iter().zip(&fd) {
            assert!(
                (a - b).abs() <= tol * scale,
                "{:?} {:?}: H v {hv:?}\n  fd {fd:?}",
                opts.method,
                opts.sensitivity
            );
        }
        let (_, again) = try_hessian_vector_product(|p| loss(p, opts), &x, &v).unwrap();
        assert_eq!(hv, again);
    }
}

fn opts(method: Method, sensitivity: Sensitivity) -> Options {
    Options {
        method,
        sensitivity,
        rtol: 1e-11,
        atol: 1e-13,
        ..Default::default()
    }
}

#[test]
fn explicit_methods() {
    let cp = 8;
    for (m, s) in [
        (Method::Tsit5, Sensitivity::Auto),
        (
            Method::Tsit5,
            Sensitivity::DiscreteAdjoint { checkpoints: cp },
        ),
        (
            Method::Tsit5,
            Sensitivity::InterpolatingAdjoint { checkpoints: cp },
        ),
        (Method::Dopri5, Sensitivity::Forward),
    ] {
        check(&opts(m, s), 1e-6);
    }
}

#[test]
fn fixed_step_rk4_is_the_exact_second_derivative_of_its_steps() {
    let s = Sensitivity::DiscreteAdjoint { checkpoints: 8 };
    check(&opts(Method::Rk4 { dt: 0.05 }, s), 1e-8);
}

#[test]
fn stiff_methods() {
    for (m, s) in [
        (Method::Bdf, Sensitivity::Forward),
        (Method::Bdf, Sensitivity::DiscreteAdjoint { checkpoints: 8 }),
        (
            Method::Bdf,
            Sensitivity::InterpolatingAdjoint { checkpoints: 8 },
        ),
        (Method::Rodas4, Sensitivity::Auto),
    ] {
        check(&opts(m, s), 1e-5);
    }
}
