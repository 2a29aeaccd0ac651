//! The MPI test program (`.ci/mpi` runs it with `mpiexec -n 1`, `-n 2` and `-n 4`): in one
//! process it runs each workload without MPI and split across the ranks of `MPI_COMM_WORLD`,
//! and asserts that the results are equal bit for bit: an ensemble and a gradient ensemble
//! (`ode`), Sobol', Morris and DGSM indices (`gsa`), and the iterates of a multi-experiment fit
//! (`optim`). Then the error paths: a failing sample gives every rank the same typed error
//! (the lowest failing index), and ranks given different problems all report the mismatch.
//! Every rank checks that the others ended with the same value. Rank 0 prints a digest of all
//! results, which must be the same for every rank count.
//!
//! ```text
//! cargo build --release --features mpi --example mpi_check
//! mpiexec -n 4 target/release/examples/mpi_check
//! ```

use std::fmt::Debug;

use ad_core::{Function, Real};
use ode::distributed::mpi::{self, topology::SimpleCommunicator};
use ode::distributed::{self, Fingerprint};
use ode::problems::LotkaVolterra;
use ode::OdeSystem;
use optim::{FitProblem, Iteration, MultiFit, Observations, Observer, Options, Transform};

/// Panics (which ends the MPI job with a failure) unless `what` is the same text on every rank.
fn same_on_every_rank(world: &SimpleCommunicator, label: &str, what: &str) {
    let h = Fingerprint::new().str(what).finish();
    let all = distributed::all_gather(world, &[h]).expect("gather");
    assert!(
        all.iter().all(|&x| x == h),
        "{label}: ranks disagree: {what}"
    );
}

/// Asserts that two values print the same with `{:?}` (Rust prints every f64 so that it reads
/// back to the same bits, so this is bit equality of every number inside).
fn assert_bits<T: Debug>(label: &str, a: &T, b: &T) {
    let (a, b) = (format!("{a:?}"), format!("{b:?}"));
    assert!(
        a == b,
        "{label}: MPI result differs\n  local {a}\n  mpi   {b}"
    );
}

/// Lotka-Volterra with a per-experiment harvesting input.
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

/// Ishigami that fails (a non-finite output) where `x[0] > 2.5`.
struct FailingIshigami;

impl Function for FailingIshigami {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let y = gsa::testing::Ishigami::default().eval(x);
        if x[0].value() > 2.5 {
            vec![S::cst(f64::NAN)]
        } else {
            y
        }
    }
}

/// Records every iterate.
struct Iterates(Vec<Vec<f64>>);

impl Observer for Iterates {
    fn observe(&mut self, it: &Iteration<'_>) -> optim::Control {
        self.0.push(it.x.to_vec());
        optim::Control::Continue
    }
}

fn experiments(n: usize) -> Vec<FitProblem<Harvested>> {
    let p = [1.5, 1.0, 1.0, 3.0];
    let times: Vec<f64> = (1..=20).map(|k| 0.3 * k as f64).collect();
    (0..n)
        .map(|e| {
            let sys = Harvested {
                h: 0.1 * (e % 3) as f64,
            };
            let y0 = vec![0.7 + 0.1 * (e % 4) as f64, 0.6 + 0.05 * e as f64];
            let sol = ode::solve(&sys, &y0, &p, 0.0, &times, &ode::Options::default())
                .expect("truth solve");
            let data = sol
                .y
                .iter()
                .enumerate()
                .map(|(k, y)| vec![y[0] + 0.02 * (k as f64 + e as f64).sin(), y[1]])
                .collect();
            FitProblem::new(sys, 0.0, y0, Observations::full(times.clone(), data))
                .expect("experiment")
                .with_transform(Transform::Log)
        })
        .collect()
}

fn main() {
    let (universe, _) =
        mpi::initialize_with_threading(mpi::Threading::Funneled).expect("MPI initialises once");
    let world = universe.world();
    let (rank, size) = distributed::rank_and_size(&world);
    let mut digest = Fingerprint::new();

    // ode: an ensemble of 37 parameter sets (uneven blocks on 2 and 4 ranks).
    let params: Vec<Vec<f64>> = (0..37)
        .map(|j| {
            let j = j as f64;
            vec![1.0 + 0.02 * j, 1.0, 1.0 + 0.01 * j, 3.0 - 0.03 * j]
        })
        .collect();
    let save_at: Vec<f64> = (1..=50).map(|k| 0.2 * k as f64).collect();
    let opts = ode::Options::default();
    let y0 = [1.0, 1.0];
    let local: Vec<_> = ode::solve_ensemble(&LotkaVolterra, &y0, &params, 0.0, &save_at, &opts)
        .into_iter()
        .map(|r| r.expect("local solve"))
        .collect();
    let mpi = ode::solve_ensemble_mpi(&world, &LotkaVolterra, &y0, &params, 0.0, &save_at, &opts)
        .expect("mpi ensemble");
    assert_bits("solve_ensemble", &local, &mpi);
    for s in &mpi {
        s.y.iter().flatten().for_each(|&v| {
            digest.f64(v);
        });
    }
    fn loss<'t>(s: &ode::Solution<ad_core::Var<'t>>) -> ad_core::Var<'t> {
        s.y.iter().map(|y| y[0] * y[0] + y[1]).sum()
    }
    let local: Vec<_> =
        ode::gradient_ensemble(&LotkaVolterra, &y0, &params, 0.0, &save_at, &opts, loss)
            .into_iter()
            .map(|r| r.expect("local gradient"))
            .collect();
    let mpi = ode::gradient_ensemble_mpi(
        &world,
        &LotkaVolterra,
        &y0,
        &params,
        0.0,
        &save_at,
        &opts,
        loss,
    )
    .expect("mpi gradient ensemble");
    assert_bits("gradient_ensemble", &local, &mpi);
    for g in &mpi {
        digest.f64(g.value).f64s(&g.p_bar);
    }

    // gsa: Sobol', Morris and DGSM indices.
    let problem = gsa::testing::Ishigami::problem();
    let f = gsa::testing::Ishigami::default();
    let so = gsa::SobolOptions {
        samples: 512,
        seed: 3,
        bootstrap: 20,
        progress: false,
        ..Default::default()
    };
    let a = gsa::sobol(&problem, &f, &so).expect("sobol");
    let b = gsa::sobol_mpi(&world, &problem, &f, &so).expect("sobol mpi");
    assert_bits("sobol", &a, &b);
    digest
        .f64s(&b.first[0])
        .f64s(&b.total[0])
        .f64s(&b.total_conf[0]);
    let mo = gsa::MorrisOptions {
        trajectories: 30,
        seed: 5,
        progress: false,
        ..Default::default()
    };
    let a = gsa::morris(&problem, &f, &mo).expect("morris");
    let b = gsa::morris_mpi(&world, &problem, &f, &mo).expect("morris mpi");
    assert_bits("morris", &a, &b);
    digest.f64s(&b.mu_star[0]);
    let dopts = gsa::DgsmOptions {
        samples: 200,
        seed: 2,
        progress: false,
        ..Default::default()
    };
    let a = gsa::dgsm(&problem, &f, &dopts).expect("dgsm");
    let b = gsa::dgsm_mpi(&world, &problem, &f, &dopts).expect("dgsm mpi");
    assert_bits("dgsm", &a, &b);
    digest.f64s(&b.nu[0]);

    // optim: the iterates of a multi-experiment fit (7 experiments: uneven blocks).
    let fit = MultiFit::new(experiments(7)).expect("multi fit");
    let fopts = Options::default().with_max_iterations(25);
    let start = [1.2, 0.8, 1.2, 2.6];
    let mut it_local = Iterates(Vec::new());
    let a = fit
        .fit_observed(&start, &fopts, &mut it_local)
        .expect("fit");
    let mut it_mpi = Iterates(Vec::new());
    let b = fit
        .fit_mpi(&world, &start, &fopts, &mut it_mpi)
        .expect("fit mpi");
    assert_bits("fit iterates", &it_local.0, &it_mpi.0);
    assert_bits("fit result", &a.params, &b.params);
    assert!(
        it_mpi.0.len() > 3,
        "the fit took too few iterations to test"
    );
    digest.f64s(&b.params).u64(it_mpi.0.len() as u64);

    // A failing sample: parameter sets 23 and 30 give NaN; every rank reports 23.
    let mut bad = params.clone();
    bad[23][0] = f64::NAN;
    bad[30][0] = f64::NAN;
    let e = ode::solve_ensemble_mpi(&world, &LotkaVolterra, &y0, &bad, 0.0, &save_at, &opts)
        .expect_err("a NaN parameter fails");
    match &e {
        distributed::Error::SampleFailed { index, rank: r, .. } => {
            assert_eq!(*index, 23);
            assert_eq!(*r, distributed::owner(23, bad.len(), size));
        }
        other => panic!("expected SampleFailed, got {other:?}"),
    }
    same_on_every_rank(&world, "failing ensemble", &e.to_string());
    // gsa: the same SampleFailed (index, input, reason) as without MPI.
    let a = gsa::sobol(&problem, &FailingIshigami, &so).expect_err("fails");
    let b = gsa::sobol_mpi(&world, &problem, &FailingIshigami, &so).expect_err("fails");
    assert!(matches!(b, gsa::Error::SampleFailed { .. }), "{b:?}");
    assert_bits("failing sobol", &a, &b);
    same_on_every_rank(&world, "failing sobol", &b.to_string());
    // ...and with OnFailure::Drop the same indices from the kept samples.
    let drop = gsa::SobolOptions {
        on_failure: gsa::OnFailure::Drop,
        ..so.clone()
    };
    let a = gsa::sobol(&problem, &FailingIshigami, &drop).expect("drop");
    let b = gsa::sobol_mpi(&world, &problem, &FailingIshigami, &drop).expect("drop mpi");
    assert_bits("sobol with dropped samples", &a, &b);
    assert!(b.dropped > 0);

    // Mismatched problems (needs 2 ranks): the last rank has one parameter set changed, then
    // one fewer; every rank reports the mismatch instead of computing (or hanging).
    if size > 1 {
        let mut mine = params.clone();
        if rank == size - 1 {
            mine[5][1] = 1.5;
        }
        let e = ode::solve_ensemble_mpi(&world, &LotkaVolterra, &y0, &mine, 0.0, &save_at, &opts)
            .expect_err("different inputs");
        assert!(
            matches!(e, distributed::Error::ProblemMismatch { rank: r, what: "problem fingerprint", .. } if r == size - 1),
            "{e:?}"
        );
        same_on_every_rank(&world, "mismatched inputs", &e.to_string());
        if rank == size - 1 {
            mine.pop();
        }
        let e = ode::solve_ensemble_mpi(&world, &LotkaVolterra, &y0, &mine, 0.0, &save_at, &opts)
            .expect_err("different counts");
        assert!(
            matches!(
                e,
                distributed::Error::ProblemMismatch {
                    what: "sample count",
                    ..
                }
            ),
            "{e:?}"
        );
        same_on_every_rank(&world, "mismatched counts", &e.to_string());
        // gsa: a different seed on one rank.
        let mut seeded = so.clone();
        if rank == size - 1 {
            seeded.seed += 1;
        }
        let e = gsa::sobol_mpi(&world, &problem, &f, &seeded).expect_err("different seeds");
        assert!(matches!(e, gsa::Error::Distributed(_)), "{e:?}");
        same_on_every_rank(&world, "mismatched seeds", &e.to_string());
        // optim: a different start on one rank.
        let mut s2 = start;
        if rank == size - 1 {
            s2[0] = 1.3;
        }
        let e = fit
            .fit_mpi(&world, &s2, &fopts, &mut optim::observer::Silent)
            .expect_err("different starts");
        assert!(matches!(e, optim::Error::Distributed(_)), "{e:?}");
        same_on_every_rank(&world, "mismatched fits", &e.to_string());
    }

    let d = digest.finish();
    same_on_every_rank(&world, "digest", &format!("{d:016x}"));
    if rank == 0 {
        println!("mpi_check: {size} rank(s), every check passed");
        println!("digest {d:016x}");
    }
}
