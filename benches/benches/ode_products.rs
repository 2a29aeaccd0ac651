//! Criterion benches of W5's kernels at a quarter of its size (64 x 64 cells: 4 096 states and
//! 4 096 diffusivities), for tracking regressions: one vector-Jacobian product `J^T w` of the
//! generic right-hand side by each way the adjoints can take it (hand-written, replayed
//! operation trace, compressed forward mode, taped), the fused-map form's taped product, the
//! `f64` right-hand side, and a 50-step RK4 discrete adjoint with the generic (compressed,
//! traced) and the hand-written products.

use std::hint::black_box;

use ad_core::sparsity::{jacobian_sparsity, CompressedJacobian, Tracer};
use ad_core::trace::{Trace, TraceVar};
use ad_core::{Adjoints, Dual, Tape, Var};
use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use ode::problems::{ReactionDiffusion, ReactionDiffusionMaps};
use ode::{vjp, Method, OdeSystem, Options, RhsProducts, Sensitivity};

const M: usize = 64;
const N: usize = M * M;

fn inputs() -> (ReactionDiffusion<M>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let sys = ReactionDiffusion::<M> { hand_vjp: true };
    let (u, d) = (sys.w5_initial_state(), sys.w5_diffusivities());
    let w = (0..N).map(|i| (i as f64).cos()).collect();
    (sys, u, d, w)
}

fn products(c: &mut Criterion) {
    let (sys, u, d, w) = inputs();
    let generic = ReactionDiffusion::<M> { hand_vjp: false };
    let mut g = c.benchmark_group("w5_product_64x64");
    g.throughput(Throughput::Elements(N as u64));

    g.bench_function("rhs_f64", |b| {
        let mut du = vec![0.0; N];
        b.iter(|| sys.rhs(0.0, black_box(&u), &d, &mut du))
    });

    g.bench_function("vjp_hand_written", |b| {
        let (mut ub, mut db) = (vec![0.0; N], vec![0.0; N]);
        b.iter(|| sys.vjp(0.0, black_box(&u), &d, &w, &mut ub, &mut db))
    });

    g.bench_function("vjp_compressed", |b| {
        let x: Vec<f64> = u.iter().chain(&d).copied().collect();
        let s = jacobian_sparsity(&x, N, 64, |x: &[Tracer], out| {
            generic.rhs(Tracer::constant(0.0), &x[..N], &x[N..], out)
        })
        .expect("a sparse pattern");
        let mut jac = CompressedJacobian::new(s);
        let mut x_bar = vec![0.0; 2 * N];
        b.iter(|| {
            jac.vjp(
                black_box(&x),
                |x: &[Dual<8>], out| generic.rhs(Dual::constant(0.0), &x[..N], &x[N..], out),
                &w,
                &mut x_bar,
            )
        })
    });

    let x: Vec<f64> = u.iter().chain(&d).copied().collect();
    g.bench_function("vjp_trace", |b| {
        let mut trace = Trace::record(&x, N, |x: &[TraceVar], out| {
            generic.rhs(TraceVar::constant(0.0), &x[..N], &x[N..], out)
        })
        .expect("a trace that holds everywhere");
        let mut x_bar = vec![0.0; 2 * N];
        b.iter(|| trace.vjp(black_box(&x), &w, &mut x_bar))
    });
    g.bench_function("vjp_taped", |b| taped_product(b, &generic, &x, &w));
    g.bench_function("vjp_taped_fused_maps", |b| {
        taped_product(b, &ReactionDiffusionMaps::<M>, &x, &w)
    });
    g.finish();
}

/// Times `J^T w` of `sys` at `x = (u, D)` recorded on a reused tape.
fn taped_product(b: &mut Bencher, sys: &impl OdeSystem, x: &[f64], w: &[f64]) {
    let (mut tape, mut adj) = (Tape::new(), Adjoints::default());
    b.iter(|| {
        tape.clear();
        let xs = tape.vars(black_box(x));
        let mut f = vec![Var::constant(0.0); N];
        sys.rhs(Var::constant(0.0), &xs[..N], &xs[N..], &mut f);
        tape.vjp_into(&f, w, &mut adj);
        black_box(adj.wrt(xs[0]))
    })
}

fn adjoint(c: &mut Criterion) {
    let (hand, u, d, _) = inputs();
    let generic = ReactionDiffusion::<M> { hand_vjp: false };
    let save_at = [0.05];
    let y_bar = vec![u.iter().map(|v| 2.0 * (v - 0.5)).collect::<Vec<f64>>()];
    let opts = Options {
        method: Method::Rk4 { dt: 1e-3 },
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 256 },
        rhs_products: RhsProducts::Compressed,
        ..Default::default()
    };
    let mut g = c.benchmark_group("w5_rk4_discrete_adjoint_64x64_50_steps");
    g.sample_size(20);
    g.bench_function("generic_rhs_compressed", |b| {
        b.iter(|| vjp(&generic, black_box(&u), &d, 0.0, &save_at, &opts, &y_bar).unwrap())
    });
    let traced = Options {
        rhs_products: RhsProducts::Trace,
        ..opts.clone()
    };
    g.bench_function("generic_rhs_trace", |b| {
        b.iter(|| vjp(&generic, black_box(&u), &d, 0.0, &save_at, &traced, &y_bar).unwrap())
    });
    g.bench_function("hand_written_vjp", |b| {
        b.iter(|| vjp(&hand, black_box(&u), &d, 0.0, &save_at, &opts, &y_bar).unwrap())
    });
    g.finish();
}

criterion_group!(benches, products, adjoint);
criterion_main!(benches);
