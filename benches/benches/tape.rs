//! Criterion benches of the tape at small sizes (W1 objective, n = 1000), for tracking
//! regressions: recording on a reused tape, the reverse sweep alone, the whole gradient, a
//! `Dual<4>` forward pass and the f64 primal.

use std::hint::black_box;

use ad_core::{Adjoints, Dual, Tape};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wengert_benches::workloads::w1::{rosenbrock, rosenbrock_value_grad, x0};

const N: usize = 1000;

fn tape_benches(c: &mut Criterion) {
    let x = x0(N);
    let mut g = c.benchmark_group("tape_w1_n1000");
    g.throughput(Throughput::Elements(N as u64));

    g.bench_function("f64_primal", |b| {
        b.iter(|| rosenbrock::<f64>(black_box(&x)))
    });

    g.bench_function("hand_written_gradient", |b| {
        let mut grad = vec![0.0; N];
        b.iter(|| rosenbrock_value_grad(black_box(&x), &mut grad))
    });

    g.bench_function("record_reused_tape", |b| {
        let mut tape = Tape::new();
        b.iter(|| {
            tape.clear();
            let xs = tape.vars(black_box(&x));
            rosenbrock(&xs).value()
        })
    });

    g.bench_function("reverse_sweep", |b| {
        let tape = Tape::new();
        let xs = tape.vars(&x);
        let y = rosenbrock(&xs);
        let mut adj = Adjoints::default();
        b.iter(|| {
            tape.vjp_into(&[y], &[1.0], &mut adj);
            black_box(adj.as_slice()[0])
        })
    });

    g.bench_function("gradient_reused_tape", |b| {
        let mut tape = Tape::new();
        let mut adj = Adjoints::default();
        b.iter(|| {
            tape.clear();
            let xs = tape.vars(black_box(&x));
            let y = rosenbrock(&xs);
            tape.vjp_into(&[y], &[1.0], &mut adj);
            black_box(adj.wrt(xs[0]))
        })
    });

    g.bench_function("ad_core_gradient", |b| {
        b.iter(|| ad_core::gradient(|x| rosenbrock(x), black_box(&x)))
    });

    g.bench_function("dual4_forward", |b| {
        // Tangents seeded on the first four inputs.
        let xd: Vec<Dual<4>> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if i < 4 {
                    Dual::variable(v, i)
                } else {
                    Dual::constant(v)
                }
            })
            .collect();
        b.iter(|| rosenbrock(black_box(&xd)))
    });

    g.finish();
}

criterion_group!(benches, tape_benches);
criterion_main!(benches);
