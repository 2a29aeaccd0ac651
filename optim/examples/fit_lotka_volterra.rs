//! The main job: fit the Lotka-Volterra model's four parameters to noisy observations
//! (the W6 workload of shared/BENCHMARKS.md), with L-BFGS (gradient by the ODE adjoint) and with
//! Levenberg-Marquardt (Jacobian by forward sensitivities), print progress while it runs, the
//! recovered parameters with standard errors, and plot data and fitted curves to an SVG file.
//!
//! Run: `cargo run --release -p optim --example fit_lotka_volterra`

use ode::problems::LotkaVolterra;
use optim::{FitMethod, FitProblem, LeastSquaresOptions, Observations, Options, Progress};
use plotters::prelude::*;

const TRUE_P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // W6 data: the W3 solution at t_k = 0.1 k (rtol = atol = 1e-12) plus deterministic noise.
    let times: Vec<f64> = (0..=100).map(|k| 0.1 * k as f64).collect();
    let tight = ode::Options {
        rtol: 1e-12,
        atol: 1e-12,
        ..Default::default()
    };
    let truth = ode::solve(&LotkaVolterra, &[1.0, 1.0], &TRUE_P, 0.0, &times, &tight)?;
    let data: Vec<Vec<f64>> = truth
        .y
        .iter()
        .enumerate()
        .map(|(k, y)| {
            let k = k as f64;
            vec![
                y[0] + 0.1 * (7.0 * k + 0.3).sin(),
                y[1] + 0.1 * (5.0 * k + 0.1).cos(),
            ]
        })
        .collect();

    let problem = FitProblem::new(
        LotkaVolterra,
        0.0,
        vec![1.0, 1.0],
        Observations::full(times.clone(), data.clone()),
    )?
    .with_ode_options(ode::Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    })
    .with_bounds(vec![0.01; 4], vec![20.0; 4])?;
    let p0 = [1.0; 4];

    println!("W6: L-BFGS from p0 = {p0:?}, bounds 0.01 <= p <= 20, gradient by the ODE adjoint");
    let lbfgs = FitMethod::Lbfgs(
        Options::default()
            .with_grad_tol(1e-6)?
            .with_max_iterations(500),
    );
    let a = problem.fit_observed(&p0, &lbfgs, &mut Progress::every(5))?;
    report("L-BFGS", &a);
    let mut walls: Vec<f64> = (0..7)
        .map(|_| {
            let r = problem.fit(&p0, &lbfgs).expect("fit");
            r.elapsed.as_secs_f64() * 1e3
        })
        .collect();
    walls.sort_by(f64::total_cmp);
    println!("  wall time, median of 7 silent runs: {:.2} ms", walls[3]);

    println!("\nW6: Levenberg-Marquardt from p0, Jacobian by forward sensitivities");
    let lm = FitMethod::LevenbergMarquardt(LeastSquaresOptions::default());
    let b = problem.fit_observed(&p0, &lm, &mut Progress::every(5))?;
    report("LM from p0", &b);
    println!(
        "  (from p0 = (1, 1, 1, 1) LM converges to the local minimum at loss 555.7, as argmin and \
         optax do; L-BFGS-B's projected first step towards P(p0 - g) is what reaches the true \
         basin)"
    );

    println!("\nW6: Levenberg-Marquardt from the L-BFGS result (polish + standard errors)");
    let c = problem.fit_observed(&a.params, &lm, &mut Progress::every(1))?;
    report("LM from L-BFGS", &c);
    println!(
        "\nreference (shared/BENCHMARKS.md): loss 1.00889284766, p = (1.49972, 0.99942, 0.99978, 3.00009)"
    );

    // Plot: data points and the fitted curves.
    let fine: Vec<f64> = (0..=500).map(|k| 0.02 * k as f64).collect();
    let fit = ode::solve(
        &LotkaVolterra,
        &[1.0, 1.0],
        &a.params,
        0.0,
        &fine,
        &ode::Options {
            rtol: 1e-10,
            atol: 1e-10,
            ..Default::default()
        },
    )?;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fit_lotka_volterra.svg");
    {
        let root = SVGBackend::new(&path, (900, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let ymax = data.iter().flatten().fold(0.0f64, |m, v| m.max(*v)) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Lotka-Volterra fit (W6): data and L-BFGS fit",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..10.0, -0.3..ymax)?;
        chart.configure_mesh().x_desc("t").draw()?;
        for (i, (name, color)) in [("prey x", BLUE), ("predator z", RED)]
            .into_iter()
            .enumerate()
        {
            chart
                .draw_series(
                    times
                        .iter()
                        .zip(&data)
                        .map(|(&t, d)| Circle::new((t, d[i]), 3, color.filled())),
                )?
                .label(format!("{name} data"))
                .legend(move |(x, y)| Circle::new((x, y), 3, color.filled()));
            chart
                .draw_series(LineSeries::new(
                    fine.iter().zip(&fit.y).map(|(&t, y)| (t, y[i])),
                    color,
                ))?
                .label(format!("{name} fit"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart.configure_series_labels().border_style(BLACK).draw()?;
        root.present()?;
    }
    println!("plot written to {}", path.canonicalize()?.display());
    Ok(())
}

fn report(name: &str, r: &optim::FitReport) {
    println!(
        "{name}: {:?} after {} iterations, {} evaluations, {:.1} ms; loss {:.11}",
        r.termination,
        r.iterations,
        r.evaluations,
        r.elapsed.as_secs_f64() * 1e3,
        r.loss
    );
    let se = r
        .standard_errors
        .clone()
        .unwrap_or_else(|| vec![f64::NAN; 4]);
    for (i, name) in ["a", "b", "d", "g"].iter().enumerate() {
        println!(
            "  {name} = {:.5} +- {:.5}   (true {})",
            r.params[i], se[i], TRUE_P[i]
        );
    }
}
