//! A bouncing ball: a state event (the ground, `h = 0` falling) with a state reset (the
//! bounce, `v+ = -e v-`). Solves to t = 3, prints the landing times against the closed form,
//! the gradient of the final height with respect to the restitution `e` and gravity `g` (one
//! reverse pass through the solve and its six bounces) against the closed form's and central
//! differences of the solver, and plots the trajectory to `target/bouncing_ball.svg`.
//!
//! Run: `cargo run --release -p ode --example bouncing_ball`

use ad_core::{Tape, Var};
use ode::problems::BouncingBall;
use ode::{solve, Options, Real};
use plotters::prelude::*;

const Y0: [f64; 4] = [0.0, 1.0, 0.5, 0.0]; // x, h, u, v
const P: [f64; 2] = [9.81, 0.8]; // g, e
const T_END: f64 = 3.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ball = BouncingBall::default();
    let opts = Options {
        rtol: 1e-10,
        atol: 1e-12,
        ..Default::default()
    };

    // the solve, saved on a fine grid for the plot
    let grid: Vec<f64> = (0..=600).map(|k| T_END * k as f64 / 600.0).collect();
    let sol = solve(&ball, &Y0, &P, 0.0, &grid, &opts)?;
    let exact = BouncingBall::closed_form(Y0, P, T_END);
    println!("ball dropped from h = 1 m, g = 9.81, e = 0.8: landings up to t = {T_END}");
    println!(
        "  {:>3}  {:>20}  {:>20}  {:>9}",
        "k", "solver t*", "closed form t*", "error"
    );
    for (k, (hit, t)) in sol.events.iter().zip(&exact.landings).enumerate() {
        println!(
            "  {k:>3}  {:>20.15}  {:>20.15}  {:>9.1e}",
            hit.t,
            t,
            hit.t - t
        );
    }
    let h_end = sol.y.last().expect("saves")[1];
    println!(
        "  h({T_END}) = {h_end:.15} (closed form {:.15}); {} steps, {} right-hand sides",
        exact.state[1], sol.stats.steps, sol.stats.rhs_evals
    );

    // the gradient of h(3) with respect to (g, e): one solve on Vars
    let tape = Tape::new();
    let p = tape.vars(&P);
    let y0: Vec<Var> = Y0.iter().map(|&v| Var::cst(v)).collect();
    let sol_v = solve(&ball, &y0, &p, 0.0, &[T_END], &opts)?;
    let g = tape.gradient(sol_v.y[0][1]);
    let grad = [g.wrt(p[0]), g.wrt(p[1])];
    let (_, closed) = ad_core::gradient(
        |x| {
            let y0 = Y0.map(Var::cst);
            BouncingBall::closed_form(y0, [x[0], x[1]], T_END).state[1]
        },
        &P,
    );
    let fd: Vec<f64> = (0..2)
        .map(|i| {
            let h = 1e-6 * P[i];
            let at = |d: f64| {
                let mut q = P;
                q[i] += d;
                solve(&ball, &Y0, &q, 0.0, &[T_END], &opts).map(|s| s.y[0][1])
            };
            Ok::<f64, ode::Error>((at(h)? - at(-h)?) / (2.0 * h))
        })
        .collect::<Result<_, _>>()?;
    println!("\ngradient of h({T_END}):");
    println!(
        "  {:>6}  {:>20}  {:>20}  {:>20}",
        "", "solver (reverse)", "closed form", "central diff."
    );
    for (i, name) in ["dh/dg", "dh/de"].iter().enumerate() {
        println!(
            "  {name:>6}  {:>20.12}  {:>20.12}  {:>20.12}",
            grad[i], closed[i], fd[i]
        );
    }
    let worst = (0..2)
        .map(|i| (grad[i] - closed[i]).abs() / closed[i].abs().max(1.0))
        .fold(0.0, f64::max);
    println!("  largest relative difference to the closed form: {worst:.1e}");

    // plot: height against time, landings marked
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bouncing_ball.svg");
    {
        let root = SVGBackend::new(&path, (900, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Bouncing ball (e = 0.8): height and landings",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..T_END, -0.05..1.05)?;
        chart.configure_mesh().x_desc("t").y_desc("h").draw()?;
        chart
            .draw_series(LineSeries::new(
                sol.t.iter().zip(&sol.y).map(|(&t, y)| (t, y[1])),
                BLUE,
            ))?
            .label("h(t)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(
                sol.events
                    .iter()
                    .map(|h| Circle::new((h.t, 0.0), 4, RED.filled())),
            )?
            .label("landings (events)")
            .legend(|(x, y)| Circle::new((x, y), 4, RED.filled()));
        chart.configure_series_labels().border_style(BLACK).draw()?;
        root.present()?;
    }
    println!("\nplot written to {}", path.canonicalize()?.display());
    Ok(())
}
