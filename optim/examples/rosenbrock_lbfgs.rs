//! L-BFGS (m = 10) on the chained Rosenbrock function with n = 1000 from
//! x = (-1.2, 1, -1.2, 1, ...), gradients by ad_core's reverse mode, at the stopping settings
//! used to compare with SciPy's L-BFGS-B (docs/optim.md).
//!
//! Run: `cargo run --release -p optim --example rosenbrock_lbfgs`

use optim::{minimize, Options, Real};

fn rosenbrock<S: Real>(x: &[S]) -> S {
    x.windows(2)
        .map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + (S::one() - w[0]).powi(2))
        .sum()
}

fn main() -> Result<(), optim::Error> {
    let n = 1000;
    let x0: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();
    let settings = [
        (
            "SciPy defaults (f_tol 2.2e-9, grad_tol 1e-5)",
            2.220446049250313e-9,
            1e-5,
        ),
        ("grad_tol 1e-5, f_tol 0", 0.0, 1e-5),
        ("grad_tol 1e-6, f_tol 0", 0.0, 1e-6),
        ("grad_tol 1e-8, f_tol 0", 0.0, 1e-8),
    ];
    for (label, f_tol, grad_tol) in settings {
        let opts = Options::default()
            .with_f_tol(f_tol)?
            .with_grad_tol(grad_tol)?
            .with_max_iterations(100_000)
            .with_max_evaluations(100_000);
        let objective = |x: &[f64], g: &mut [f64]| {
            let (v, grad) = ad_core::gradient(|x| rosenbrock(x), x);
            g.copy_from_slice(&grad);
            v
        };
        let r = minimize(objective, &x0, &opts)?;
        println!(
            "{label:46} it {:5} evals {:5} f {:.3e} |g| {:.1e} {:?} ({:.0} ms)",
            r.iterations,
            r.evaluations,
            r.value,
            r.grad_norm,
            r.termination,
            r.elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
