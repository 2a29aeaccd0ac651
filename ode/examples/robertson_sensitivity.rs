//! Sensitivity of the Robertson species to the three rate constants over t in [1e-5, 1e11]:
//! one BDF solve with forward sensitivities (`ode::stiff::sensitivities`) gives
//! `∂y_i(t)/∂k_j` at 161 log-spaced save times. Prints a table of the normalised sensitivities
//! `k_j ∂y_i/∂k_j` and writes an SVG figure (one panel per species, log time axis) under
//! `target/ode-examples/`.
//!
//! `cargo run --release -p ode --example robertson_sensitivity`

use std::path::PathBuf;

use ode::problems::Robertson;
use ode::{Method, Options};
use plotters::prelude::*;

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("ode-examples")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let k = [0.04, 3e7, 1e4];
    let y0 = [1.0, 0.0, 0.0];
    let save_at: Vec<f64> = (0..=160)
        .map(|i| 10f64.powf(-5.0 + 0.1 * i as f64))
        .collect();
    let opts = Options {
        method: Method::Bdf,
        rtol: 1e-8,
        atol: 1e-12,
        atol_components: Some(vec![1e-12, 1e-16, 1e-12]),
        max_steps: 1_000_000,
        ..Default::default()
    };
    let (sol, jac, stats) = ode::stiff::sensitivities(&Robertson, &y0, &k, 0.0, &save_at, &opts)?;
    // inputs: 0..3 = y0, 3..6 = k; rows (time, species)
    let m = 6;
    let sens = |ti: usize, i: usize, j: usize| k[j] * jac[(ti * 3 + i) * m + 3 + j];
    println!(
        "BDF with sensitivities: {} steps, {} Jacobians",
        sol.stats.steps, stats.jac_evals
    );
    println!(
        "{:>9} {:>36} {:>36} {:>36}",
        "t", "k dy1/dk (k1 k2 k3)", "k dy2/dk", "k dy3/dk"
    );
    for ti in (0..save_at.len()).step_by(20) {
        let row: Vec<String> = (0..3)
            .map(|i| {
                format!(
                    "{:>11.3e} {:>11.3e} {:>11.3e}",
                    sens(ti, i, 0),
                    sens(ti, i, 1),
                    sens(ti, i, 2)
                )
            })
            .collect();
        println!("{:>9.0e} {}", save_at[ti], row.join("  "));
    }

    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("robertson_sensitivity.svg");
    let root = SVGBackend::new(&path, (960, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let names = ["k1", "k2", "k3"];
    let colors = [RED, BLUE, GREEN];
    for (i, panel) in panels.iter().enumerate() {
        let series: Vec<Vec<(f64, f64)>> = (0..3)
            .map(|j| {
                (0..save_at.len())
                    .map(|ti| (save_at[ti].log10(), sens(ti, i, j)))
                    .collect()
            })
            .collect();
        let lim = series
            .iter()
            .flatten()
            .fold(0.0f64, |a, &(_, v)| a.max(v.abs()))
            .max(1e-300);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "Robertson: k_j dy{}/dk_j (BDF forward sensitivities)",
                    i + 1
                ),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(64)
            .build_cartesian_2d(-5f64..11f64, -lim * 1.05..lim * 1.05)?;
        chart.configure_mesh().x_desc("log10 t").draw()?;
        for j in 0..3 {
            let c = colors[j];
            chart
                .draw_series(LineSeries::new(series[j].iter().copied(), c))?
                .label(names[j])
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("figure: {}", path.canonicalize()?.display());
    Ok(())
}
