//! One set of Lotka-Volterra parameters fitted to 64 synthetic experiments at once, each with
//! its own initial state, its own input (a harvesting rate on the prey) and its own noisy
//! data: the loss is the sum of the 64 experiments' losses, its gradient the sum of their
//! adjoint gradients ([`optim::MultiFit`]).
//!
//! Run on one machine: `cargo run --release -p optim --example multi_experiment_fit`.
//! Across MPI ranks (the experiments split in blocks, the per-experiment losses and gradients
//! all-gathered and summed in experiment order, so every rank count takes the same iterates):
//!
//! ```text
//! cargo build --release -p optim --features mpi --example multi_experiment_fit
//! mpiexec -n 4 target/release/examples/multi_experiment_fit
//! ```

use ode::{OdeSystem, Real};
use optim::{FitProblem, MultiFit, Observations, Options, Progress, Transform};

/// Lotka-Volterra with a harvesting input `h` on the prey: `x' = a x - b x y - h x`,
/// `y' = c x y - d y`. The input is part of the system value, so each experiment has its own.
#[derive(Clone, Debug)]
struct Harvested {
    h: f64,
}

impl OdeSystem for Harvested {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        4
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] - p[1] * y[0] * y[1] - y[0] * self.h;
        dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
    }
}

const TRUE_P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
const EXPERIMENTS: usize = 64;

/// Experiment `e`: initial state, input, 41 observations of both species on [0, 8] from a
/// tight solve plus deterministic noise.
fn experiment(e: usize) -> Result<FitProblem<Harvested>, Box<dyn std::error::Error>> {
    let ef = e as f64;
    let sys = Harvested {
        h: 0.1 * (e % 5) as f64,
    };
    let y0 = vec![0.6 + 0.05 * (e % 9) as f64, 0.5 + 0.07 * (e % 7) as f64];
    let times: Vec<f64> = (1..=40).map(|k| 0.2 * k as f64).collect();
    let tight = ode::Options {
        rtol: 1e-11,
        atol: 1e-11,
        ..Default::default()
    };
    let truth = ode::solve(&sys, &y0, &TRUE_P, 0.0, &times, &tight)?;
    let data = truth
        .y
        .iter()
        .enumerate()
        .map(|(k, y)| {
            let k = k as f64;
            vec![
                y[0] + 0.05 * (7.0 * k + 1.3 * ef).sin(),
                y[1] + 0.05 * (5.0 * k + 0.7 * ef).cos(),
            ]
        })
        .collect();
    Ok(
        FitProblem::new(sys, 0.0, y0, Observations::full(times, data))?
            .with_ode_options(ode::Options {
                rtol: 1e-8,
                atol: 1e-8,
                ..Default::default()
            })
            .with_transform(Transform::Log),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let experiments = (0..EXPERIMENTS)
        .map(experiment)
        .collect::<Result<Vec<_>, _>>()?;
    let fit = MultiFit::new(experiments)?;
    let start = [1.0, 0.7, 0.8, 2.5];
    let opts = Options::default()
        .with_grad_tol(1e-4)?
        .with_max_iterations(200);

    #[cfg(feature = "mpi")]
    let (report, rank, ranks) = {
        use ode::distributed::mpi::{self, traits::Communicator};
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or("MPI was already initialized")?;
        let world = universe.world();
        let (rank, ranks) = ode::distributed::rank_and_size(&world);
        let mut quiet = optim::observer::Silent;
        let mut progress = Progress::every(10);
        let observer: &mut dyn optim::Observer = if rank == 0 { &mut progress } else { &mut quiet };
        let t = std::time::Instant::now();
        let report = fit.fit_mpi(&world, &start, &opts, observer)?;
        if world.rank() == 0 {
            println!(
                "wall time {:.3} s on {ranks} ranks",
                t.elapsed().as_secs_f64()
            );
        }
        (report, rank, ranks)
    };
    #[cfg(not(feature = "mpi"))]
    let (report, rank, ranks) = {
        let t = std::time::Instant::now();
        let report = fit.fit_observed(&start, &opts, &mut Progress::every(10))?;
        println!(
            "wall time {:.3} s in one process",
            t.elapsed().as_secs_f64()
        );
        (report, 0, 1)
    };

    if rank == 0 {
        let r = &report.report;
        println!(
            "{EXPERIMENTS} experiments, {ranks} rank(s): {} iterations, {} evaluations, {:?}",
            r.iterations, r.evaluations, r.termination
        );
        println!("fitted p = {:?} (true {TRUE_P:?})", report.params);
        println!("summed loss {:.6e}", r.value);
        // The bits of the result: equal for every rank count.
        let bits = report.params.iter().fold(0u64, |h, p| {
            (h ^ p.to_bits()).wrapping_mul(0x0100_0000_01b3)
        });
        println!("result bits {bits:016x}");
    }
    Ok(())
}
