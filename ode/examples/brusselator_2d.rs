//! Timing report: BDF with an automatically detected sparse Jacobian on the 2D Brusselator
//! (32 x 32 and 64 x 64 grids, 2 048 and 8 192 states). Correctness of the sparse path is
//! checked against the dense one in `tests/it/stiff_sparse.rs`; this program only measures.
//!
//! `cargo run --release -p ode --example brusselator_2d`
//!
//! Each line: median wall time of 3 solves, the counters, and the final (t = 11.5) means of u
//! and v. The final state is written, one value a line, to
//! `$CARGO_TARGET_DIR/brusselator_2d_<m>.txt` (`target/` without the variable), where the SciPy
//! peer `benches/peers/brusselator_2d_scipy.py` reads it to report the max difference.

use ode::stiff::solve_with_stats;
use ode::{Method, OdeSystem, Options, Real, Sensitivity};

/// 2D Brusselator on an m x m periodic grid (2 m^2 states), the reaction-diffusion problem of
/// the issue: u' = 1 + u^2 v - 4.4 u + α Δu, v' = 3.4 u - u^2 v + α Δv.
#[derive(Clone)]
struct Bruss2d {
    m: usize,
}

impl OdeSystem for Bruss2d {
    fn dim(&self) -> usize {
        2 * self.m * self.m
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let m = self.m;
        let c = p[0] * (m * m) as f64;
        let at = |i: usize, j: usize, s: usize| y[2 * (i * m + j) + s];
        for i in 0..m {
            for j in 0..m {
                let (ip, im) = ((i + 1) % m, (i + m - 1) % m);
                let (jp, jm) = ((j + 1) % m, (j + m - 1) % m);
                let (u, v) = (at(i, j, 0), at(i, j, 1));
                let lap = |s: usize| {
                    at(ip, j, s) + at(im, j, s) + at(i, jp, s) + at(i, jm, s) - at(i, j, s) * 4.0
                };
                let uuv = u * u * v;
                dy[2 * (i * m + j)] = uuv + 1.0 - u * 4.4 + c * lap(0);
                dy[2 * (i * m + j) + 1] = u * 3.4 - uuv + c * lap(1);
            }
        }
    }
}

fn main() {
    for m in [32, 64] {
        let sys = Bruss2d { m };
        let y0: Vec<f64> = (0..m * m)
            .flat_map(|k| {
                let (i, j) = ((k / m) as f64 / m as f64, (k % m) as f64 / m as f64);
                [
                    22.0 * j * (1.0 - j).powf(1.5),
                    27.0 * i * (1.0 - i).powf(1.5),
                ]
            })
            .collect();
        let opts = Options {
            method: Method::Bdf,
            rtol: 1e-6,
            atol: 1e-8,
            ..Default::default()
        };
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let out = solve_with_stats(&sys, &y0, &[0.002], 0.0, &[1.0, 11.5], &opts).unwrap();
            times.push(t.elapsed().as_secs_f64());
            last = Some(out);
        }
        let (sol, st) = last.unwrap();
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let yf = &sol.y[1];
        let mean = |s: usize| yf.iter().skip(s).step_by(2).sum::<f64>() / (m * m) as f64;
        let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        let path = std::path::Path::new(&dir).join(format!("brusselator_2d_{m}.txt"));
        let text: String = yf.iter().map(|x| format!("{x:.17e}\n")).collect();
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!("cannot write {}: {e}", path.display());
        }
        println!(
            "Brusselator 2D {m}x{m} ({} states): BDF sparse {:.3} s (runs {}), {:?} {st:?} \
             mean_u={:.10} mean_v={:.10} final state -> {}",
            2 * m * m,
            sorted[1],
            times
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            sol.stats,
            mean(0),
            mean(1),
            path.display()
        );

        // the stiff adjoints at PDE scale: d/d(y0, α) of the mean of u at t = 11.5. The
        // discrete adjoint (exact for the numerical solution) on both grids; the continuous one
        // on 32 x 32 only: the parameter rows of its backward system couple every λ, so its
        // Newton matrix is dense (docs/stiff.md, "Not yet"); 64 x 64 would take minutes.
        let n = 2 * m * m;
        let w = vec![
            vec![0.0; n],
            (0..n)
                .map(|k| {
                    if k % 2 == 0 {
                        1.0 / (m * m) as f64
                    } else {
                        0.0
                    }
                })
                .collect(),
        ];
        let mut adjoints = vec![("discrete", Sensitivity::DiscreteAdjoint { checkpoints: 64 })];
        if m == 32 {
            adjoints.push((
                "continuous",
                Sensitivity::InterpolatingAdjoint { checkpoints: 64 },
            ));
        }
        for (name, sensitivity) in adjoints {
            let adj = Options {
                sensitivity,
                ..opts.clone()
            };
            let t = std::time::Instant::now();
            let g = ode::vjp(&sys, &y0, &[0.002], 0.0, &[1.0, 11.5], &adj, &w).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let y0_norm = g.y0_bar.iter().map(|v| v * v).sum::<f64>().sqrt();
            println!(
                "Brusselator 2D {m}x{m} {name} adjoint: value+gradient {secs:.3} s, \
                 d mean_u / d alpha = {:.6e}, |d mean_u / d y0| = {y0_norm:.6e}, {:?}, \
                 peak RSS so far {:.0} MB",
                g.p_bar[0],
                g.adjoint,
                peak_rss_mb()
            );
        }
    }
}

/// Peak resident memory of the process so far (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
