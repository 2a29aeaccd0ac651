//! Timings over MPI: W7 (10 000 Lotka-Volterra solves + gradients, an ensemble) and W8 (Sobol'
//! indices of the Lotka-Volterra model, N = 4096: 24 576 solves, 100 bootstrap resamples) as in
//! shared/BENCHMARKS.md, split across the ranks of `MPI_COMM_WORLD`, or (`local`) in one
//! process with rayon. Rank 0 prints the median wall time of 3 runs after a warm-up (between
//! barriers, so the slowest rank counts) and a digest of the results, equal for every rank
//! count and for the local run.
//!
//! ```text
//! cargo build --release --features mpi --example mpi_scaling
//! RAYON_NUM_THREADS=1 mpiexec -n 1 target/release/examples/mpi_scaling w7
//! RAYON_NUM_THREADS=1 mpiexec -n 2 target/release/examples/mpi_scaling w7
//! mpiexec -n 1 target/release/examples/mpi_scaling w8 local     # rayon on every core
//! RAYON_NUM_THREADS=1 mpiexec -n 2 target/release/examples/mpi_scaling w8
//! ```

use std::time::Instant;

use ad_core::Var;
use ode::distributed::mpi::{self, traits::CommunicatorCollectives};
use ode::distributed::{self, Fingerprint};
use ode::problems::LotkaVolterra;
use ode::Solution;

const P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
const Y0: [f64; 2] = [1.0, 1.0];

fn w7_loss<'t>(s: &Solution<Var<'t>>) -> Var<'t> {
    s.y.iter().map(|y| y[0] * y[0] + y[1] * y[1]).sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("w7", String::as_str).to_string();
    let local = args.iter().any(|a| a == "local");
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or("MPI was already initialized")?;
    let world = universe.world();
    let (rank, size) = distributed::rank_and_size(&world);
    let threads = rayon::current_num_threads();

    let params: Vec<Vec<f64>> = (0..10_000)
        .map(|j| {
            (0..4)
                .map(|m| P[m] * (1.0 + 0.2 * ((j + m) as f64).sin()))
                .collect()
        })
        .collect();
    let save_at: Vec<f64> = (0..=100).map(|k| 0.1 * k as f64).collect();
    let opts = ode::Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let problem = {
        let b: Vec<(f64, f64)> = P.iter().map(|&v| (0.8 * v, 1.2 * v)).collect();
        gsa::Problem::new(&b)?
    };
    let model = gsa::OdeModel::new(
        LotkaVolterra,
        Y0.to_vec(),
        P.to_vec(),
        (0..4).map(gsa::Varied::Param).collect(),
        (1..=10).map(f64::from).collect(),
        ode::Options {
            method: ode::Method::Tsit5,
            rtol: 1e-8,
            atol: 1e-8,
            ..Default::default()
        },
    )?
    .with_output(gsa::States(vec![0]));
    let sobol_opts = gsa::SobolOptions {
        samples: 4096,
        seed: 1,
        bootstrap: 100,
        progress: false,
        ..Default::default()
    };

    let run = || -> Result<u64, Box<dyn std::error::Error>> {
        let mut h = Fingerprint::new();
        match (which.as_str(), local) {
            ("w7", false) => {
                let out = ode::gradient_ensemble_mpi(
                    &world,
                    &LotkaVolterra,
                    &Y0,
                    &params,
                    0.0,
                    &save_at,
                    &opts,
                    w7_loss,
                )?;
                out.iter().for_each(|g| {
                    h.f64(g.value).f64s(&g.p_bar);
                });
            }
            ("w7", true) => {
                let out = ode::gradient_ensemble(
                    &LotkaVolterra,
                    &Y0,
                    &params,
                    0.0,
                    &save_at,
                    &opts,
                    w7_loss,
                );
                for g in out {
                    let g = g?;
                    h.f64(g.value).f64s(&g.p_bar);
                }
            }
            ("w8", false) => {
                let s = gsa::sobol_model_mpi(&world, &problem, &model, &sobol_opts)?;
                h.str(&format!("{:?} {:?}", s.first, s.total));
            }
            ("w8", true) => {
                let s = gsa::sobol_model(&problem, &model, &sobol_opts)?;
                h.str(&format!("{:?} {:?}", s.first, s.total));
            }
            _ => return Err("usage: mpi_scaling (w7 | w8) [local]".into()),
        }
        Ok(h.finish())
    };

    let mut walls = Vec::new();
    let mut digest = 0;
    for k in 0..4 {
        world.barrier();
        let t = Instant::now();
        digest = run()?;
        world.barrier();
        if k > 0 {
            walls.push(t.elapsed().as_secs_f64());
        }
    }
    walls.sort_by(f64::total_cmp);
    if rank == 0 {
        let wall = walls[walls.len() / 2];
        let work = if which == "w7" { 10_000.0 } else { 24_576.0 };
        println!(
            "{which} {}: {size} rank(s) x {threads} thread(s): median wall {:.3} s, {:.0} solves/s, digest {digest:016x}",
            if local { "local (rayon)" } else { "mpi" },
            wall,
            work / wall,
        );
    }
    Ok(())
}
