//! W8 (shared/BENCHMARKS.md): which Lotka-Volterra parameters drive the prey x(t)?
//!
//! p = (a, b, d, g) uniform on ±20% of (1.5, 1, 1, 3), y0 = (1, 1), Tsit5 at
//! rtol = atol = 1e-8, outputs x(t_k) for t_k = 1, ..., 10. Sobol' first and total indices of
//! all ten outputs from N = 4096 base points (24 576 solves, each on its own adaptive steps,
//! in parallel) with 100 bootstrap resamples; then DGSM from N = 4096 exact Jacobians
//! (forward sensitivities and the reverse/adjoint route, both timed). Writes SVG plots to
//! target/ and prints their paths.
//!
//! Run: `cargo run --release -p gsa --example sobol_lotka_volterra`

use std::time::Instant;

use gsa::{
    analyze_sobol, dgsm_model, evaluate, io, morris_model, plot, saltelli, sobol_model,
    DgsmOptions, GradientMode, MorrisOptions, OdeModel, Problem, Sampling, SobolOptions, States,
    Varied,
};
use ode::problems::LotkaVolterra;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(4096);
    let names = ["a", "b", "d", "g"];
    let bounds: Vec<(f64, f64)> = LotkaVolterra::P
        .iter()
        .map(|&v| (0.8 * v, 1.2 * v))
        .collect();
    let problem = Problem::new(&bounds)?.with_names(&names)?;
    let times: Vec<f64> = (1..=10).map(f64::from).collect();
    let model = OdeModel::new(
        LotkaVolterra,
        LotkaVolterra::Y0.to_vec(),
        LotkaVolterra::P.to_vec(),
        (0..4).map(Varied::Param).collect(),
        times.clone(),
        ode::Options {
            method: ode::Method::Tsit5,
            rtol: 1e-8,
            atol: 1e-8,
            ..Default::default()
        },
    )?
    .with_output(States(vec![0]));

    println!(
        "W8: Sobol' indices of x(t), t = 1..10, N = {n} ({} solves), {} threads",
        n * (problem.dim() + 2),
        rayon::current_num_threads()
    );
    let t0 = Instant::now();
    let s = sobol_model(
        &problem,
        &model,
        &SobolOptions {
            samples: n,
            seed: 1,
            bootstrap: 100,
            ..Default::default()
        },
    )?;
    let sobol_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!("end to end (sampling, solves, analysis): {sobol_ms:.0} ms\n");
    println!(
        "   t |      S1 a      S1 b      S1 d      S1 g |      ST a      ST b      ST d      ST g"
    );
    for (k, t) in times.iter().enumerate() {
        let row = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:9.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("{t:4} | {} | {}", row(&s.first[k]), row(&s.total[k]));
    }
    let last = times.len() - 1;
    println!("\nx(10): input   S1 ± conf          ST ± conf");
    for (i, name) in names.iter().enumerate() {
        println!(
            "       {name:5} {:7.4} ± {:6.4}   {:7.4} ± {:6.4}",
            s.first[last][i], s.first_conf[last][i], s.total[last][i], s.total_conf[last][i]
        );
    }

    println!("\nDGSM nu_i = E[(dx(t)/dp_i)^2] from N = {n} exact Jacobians");
    let mut d = None;
    for mode in [GradientMode::Forward, GradientMode::Reverse] {
        let t0 = Instant::now();
        let r = dgsm_model(
            &problem,
            &model,
            &DgsmOptions {
                samples: n,
                seed: 1,
                mode,
                ..Default::default()
            },
        )?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        println!(
            "  {mode:?}: {ms:.0} ms = {:.2} x the Sobol' run per base point ({:.3} ms vs {:.3} ms)",
            ms / sobol_ms,
            ms / n as f64,
            sobol_ms / n as f64
        );
        d = Some(r);
    }
    if let Some(d) = d {
        println!("x(10): input   nu            ST upper bound   (ST estimate)");
        for (i, name) in names.iter().enumerate() {
            println!(
                "       {name:5} {:12.5e}  {:10.4}       ({:.4})",
                d.nu[last][i], d.total_upper_bound[last][i], s.total[last][i]
            );
        }
    }

    std::fs::create_dir_all("target/gsa")?;
    // The same run in steps, kept on disk: design, outputs, then the analysis of the reloaded
    // outputs (bit-identical to the one call above; SALib's sobol.analyze reads the same files).
    let design = saltelli(&problem, n, 1, Sampling::Sobol, false)?;
    let y = evaluate(&model, &design.x, true);
    let (xs, ys, table) = (
        "target/gsa/w8_x.csv",
        "target/gsa/w8_y.csv",
        "target/gsa/w8_indices.csv",
    );
    io::write_csv(xs, &problem.names(), &design.x)?;
    let out_names: Vec<String> = times.iter().map(|t| format!("x(t={t})")).collect();
    io::write_csv(ys, &out_names, &y)?;
    let (_, y_back) = io::read_csv(ys)?;
    let again = analyze_sobol(
        &problem,
        &y_back,
        &SobolOptions {
            seed: 1,
            ..Default::default()
        },
    )?;
    assert_eq!((&again.first, &again.total), (&s.first, &s.total));
    io::write_sobol_table(table, &s)?;
    println!("\nruns kept: {xs} (design), {ys} (outputs), {table} (indices); reanalysed from disk: identical");

    let m = morris_model(
        &problem,
        &model,
        &MorrisOptions {
            trajectories: 100,
            seed: 1,
            ..Default::default()
        },
    )?;
    println!(
        "Morris (100 trajectories, 500 solves), x(10): mu* = {:?}",
        m.mu_star[last]
            .iter()
            .map(|v| (v * 1e3).round() / 1e3)
            .collect::<Vec<_>>()
    );
    let scatter = "target/gsa/w8_morris_x10.svg";
    plot::morris_scatter(scatter, &m, last, "Morris screening of x(10)")?;
    let bars = "target/gsa/w8_sobol_x10.svg";
    plot::sobol_bars(bars, &s, last, "Sobol' indices of x(10)")?;
    let over_time = "target/gsa/w8_total_over_time.svg";
    plot::indices_over_time(over_time, &s, &times, "Total indices of x(t)")?;
    println!("\nplots: {bars}\n       {over_time}\n       {scatter}");
    Ok(())
}
