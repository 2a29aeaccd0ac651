//! Timing report: BDF with an automatically detected sparse Jacobian on the 2D Brusselator
//! (32 x 32 and 64 x 64 grids, 2 048 and 8 192 states). Correctness of the sparse path is
//! checked against the dense one in `tests/stiff_sparse.rs`; this program only measures.
//!
//! `cargo run --release -p ode --example brusselator_2d`

use ode::stiff::solve_with_stats;
use ode::{Method, OdeSystem, Options, Real};

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
        let t = std::time::Instant::now();
        let (sol, st) = solve_with_stats(&sys, &y0, &[0.002], 0.0, &[1.0, 11.5], &opts).unwrap();
        println!(
            "Brusselator 2D {m}x{m} ({} states): BDF sparse {:.3} s, {:?} {st:?}",
            2 * m * m,
            t.elapsed().as_secs_f64(),
            sol.stats
        );
    }
}
