//! Local sensitivities of the Lotka-Volterra model (W3) over time, by forward mode: one solve on
//! `Dual<6>` numbers gives d x(t)/d(p, y0) and d z(t)/d(p, y0) at every save time. Writes an SVG
//! figure of the normalised sensitivities `p_i dx/dp_i` and `p_i dz/dp_i` under `target/` and
//! prints its path.
//!
//! `cargo run --release -p ode --example sensitivity_lotka_volterra`

use std::path::PathBuf;

use ad_core::Dual;
use ode::problems::LotkaVolterra;
use ode::{solve, Options};
use plotters::prelude::*;

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("ode-examples")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = [1.5, 1.0, 1.0, 3.0];
    let y0 = [1.0, 1.0];
    // inputs 0..4 are p, 4..6 are y0: one tangent direction each
    let pd: Vec<Dual<6>> = (0..4).map(|i| Dual::variable(p[i], i)).collect();
    let yd: Vec<Dual<6>> = (0..2).map(|i| Dual::variable(y0[i], 4 + i)).collect();
    let save_at: Vec<f64> = (0..=400).map(|k| 0.025 * k as f64).collect();
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let sol = solve(&LotkaVolterra, &yd, &pd, 0.0, &save_at, &opts)?;
    println!("solve: {:?}", sol.stats);
    for k in [0, 100, 200, 400] {
        let y = &sol.y[k];
        println!(
            "t = {:4.1}: x = {:8.4}  dx/dp = {:?}",
            sol.t[k],
            y[0].v,
            y[0].d[..4]
                .iter()
                .map(|v| format!("{v:9.3}"))
                .collect::<Vec<_>>()
        );
    }

    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sensitivity_lotka_volterra.svg");
    let root = SVGBackend::new(&path, (960, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let names = ["a", "b", "d", "g"];
    let colors = [RED, BLUE, GREEN, MAGENTA];

    // panel 1: the solution
    {
        let ymax = sol
            .y
            .iter()
            .flat_map(|y| [y[0].v, y[1].v])
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(&panels[0])
            .caption(
                "Lotka-Volterra: prey x(t), predator z(t)",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..10f64, 0f64..ymax * 1.05)?;
        chart.configure_mesh().draw()?;
        for (i, (name, c)) in [("x", BLACK), ("z", RGBColor(128, 128, 128))]
            .into_iter()
            .enumerate()
        {
            chart
                .draw_series(LineSeries::new(
                    sol.t.iter().zip(&sol.y).map(|(&t, y)| (t, y[i].v)),
                    c,
                ))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    // panels 2 and 3: normalised sensitivities p_i d(state)/d p_i
    for (panel, state) in [(1usize, 0usize), (2, 1)] {
        let series: Vec<Vec<(f64, f64)>> = (0..4)
            .map(|i| {
                sol.t
                    .iter()
                    .zip(&sol.y)
                    .map(|(&t, y)| (t, p[i] * y[state].d[i]))
                    .collect()
            })
            .collect();
        let lim = series
            .iter()
            .flatten()
            .fold(0.0f64, |m, &(_, v)| m.max(v.abs()));
        let label = if state == 0 { "x" } else { "z" };
        let mut chart = ChartBuilder::on(&panels[panel])
            .caption(
                format!("normalised sensitivities p_i d{label}/dp_i (forward mode, Dual<6>)"),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..10f64, -lim * 1.05..lim * 1.05)?;
        chart.configure_mesh().draw()?;
        for i in 0..4 {
            let c = colors[i];
            chart
                .draw_series(LineSeries::new(series[i].iter().copied(), c))?
                .label(format!("p = {}", names[i]))
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
