//! W5 of BENCHMARKS.md (reaction-diffusion on a 128 x 128 periodic grid, 16 384 states and
//! 16 384 diffusivities, classic RK4 with dt = 1e-3 for 2000 steps): primal and value+gradient
//! with the checkpointed discrete adjoint, with the right-hand side written once generic over
//! `Real` (its vector-Jacobian products replayed from a trace, from a compressed Jacobian or
//! taped) and with a hand-written `OdeSystem::vjp`. Prints suite-style lines with the peak RSS of the process so far.
//!
//! `cargo run --release -p ode --example w5 [generic|hand|array|map|all|products] [checkpoints] [auto|trace|compressed|tape]`
//!
//! `checkpoints` defaults to 256 (see `docs/ode.md`, "Memory").
//!
//! The third argument chooses how the generic and array right-hand sides' products are
//! computed (`Options::rhs_products`; default `auto`: the trace when `rhs` records as one, else
//! the compressed Jacobian when its pattern holds everywhere, else the tape — a fixed rule,
//! never a timing).

use std::time::Instant;

use ad_core::{RealArray, Tape, Var};
use ode::{solve, Method, OdeSystem, Options, Real, RhsProducts, Sensitivity};

const M: usize = 128;
/// W5's scalar form, with or without its hand-written product.
type W5 = ode::problems::ReactionDiffusion<M>;

/// W5's system, `u' = div(D grad u) + u (1 - u)` on the 128 x 128 torus, in four forms: the
/// generic scalar `rhs` of `ode::problems::ReactionDiffusion`, with its hand-written product,
/// and array-style or fused-map code for taped evaluations.
#[derive(Clone, Copy)]
struct ReactionDiffusion {
    hand_vjp: bool,
    array: bool,
    /// With `array`: the fused-map form (`ode::problems::ReactionDiffusionMaps`) instead of
    /// [`rhs_array`].
    map: bool,
}

/// The same right-hand side in array style (`Real::Array`): on `Var` one tape node per array
/// operation instead of ~20 per cell.
fn rhs_array<S: Real>(u: &[S], d: &[S], du: &mut [S]) {
    let (u, d) = (S::Array::from_slice(u), S::Array::from_slice(d));
    let k = 0.5 * (M * M) as f64;
    // f = k sum_q (D + D_q)(u_q - u) + u (1 - u), in flux form: along each axis
    // g = (D + D_next)(u_next - u) is the flux through the face to the next cell, and the face to
    // the previous cell carries minus the previous cell's g, so the axis contributes
    // g - roll(g): one product per face instead of one per cell side (19 array operations, not
    // 27).
    let mut flux: Option<S::Array> = None;
    for (dr, dc) in [(-1, 0), (0, -1)] {
        // roll2 by (-1, 0) or (0, -1): element c holds the next cell's value
        let g = d
            .add(&d.roll2(M, M, dr, dc))
            .mul(&u.roll2(M, M, dr, dc).sub(&u));
        let axis = g.sub(&g.roll2(M, M, -dr, -dc));
        flux = Some(match flux {
            Some(acc) => acc.add(&axis),
            None => axis,
        });
    }
    let flux = flux.expect("two axes");
    let f = flux.mul_f64(k).add(&u.mul(&u.rsub_f64(1.0)));
    du.copy_from_slice(&f.to_vec());
}

impl ReactionDiffusion {
    /// The scalar form and the hand-written product: `ode::problems::ReactionDiffusion`.
    fn scalar(&self) -> W5 {
        W5 {
            hand_vjp: self.hand_vjp,
        }
    }
}

impl OdeSystem for ReactionDiffusion {
    fn dim(&self) -> usize {
        M * M
    }
    fn n_params(&self) -> usize {
        M * M
    }
    fn rhs<S: Real>(&self, t: S, u: &[S], d: &[S], du: &mut [S]) {
        // f64 (the primal) takes the scalar loop; taped evaluations the array code
        if self.array && !u.iter().chain(d).all(|x| x.is_constant()) {
            return if self.map {
                ode::problems::ReactionDiffusionMaps::<M>.rhs(t, u, d, du)
            } else {
                rhs_array(u, d, du)
            };
        }
        self.scalar().rhs(t, u, d, du)
    }

    fn vjp(
        &self,
        t: f64,
        u: &[f64],
        d: &[f64],
        w: &[f64],
        u_bar: &mut [f64],
        d_bar: &mut [f64],
    ) -> bool {
        self.scalar().vjp(t, u, d, w, u_bar, d_bar)
    }
}

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

/// `w5 products`: the cost of one product `J^T w` at the initial state by each way — the
/// generic right-hand side by compressed forward mode and taped, the array-style and
/// fused-map ones taped (median and best of 101 each, interleaved) — and the largest
/// difference of each from the compressed product; then the replayed trace's.
fn products(u0: &[f64], d: &[f64]) {
    use ad_core::sparsity::{jacobian_sparsity, CompressedJacobian, Tracer};
    use ad_core::{Adjoints, Dual};
    let generic = ReactionDiffusion {
        hand_vjp: false,
        array: false,
        map: false,
    };
    let n = u0.len();
    let x: Vec<f64> = u0.iter().chain(d).copied().collect();
    let w: Vec<f64> = (0..n).map(|i| (i as f64).cos()).collect();
    let s = jacobian_sparsity(&x, n, 64, |x: &[Tracer], out| {
        generic.rhs(Tracer::constant(0.0), &x[..n], &x[n..], out)
    })
    .expect("sparse");
    let mut jac = CompressedJacobian::new(s);
    println!(
        "pattern: {} entries, {} colours, {} evaluations on Dual<8>",
        jac.sparsity().nnz(),
        jac.n_colours(),
        jac.evaluations()
    );
    let taped = [
        ("taped scalar", generic),
        (
            "taped array",
            ReactionDiffusion {
                array: true,
                ..generic
            },
        ),
        (
            "taped map",
            ReactionDiffusion {
                array: true,
                map: true,
                ..generic
            },
        ),
    ];
    let mut xb = vec![0.0; 2 * n];
    let (mut tape, mut adj) = (Tape::new(), Adjoints::default());
    let mut times = vec![Vec::new(); 1 + taped.len()];
    let mut err = vec![0.0f64; taped.len()];
    for _ in 0..101 {
        xb.fill(0.0);
        let c = Instant::now();
        jac.vjp(
            &x,
            |x: &[Dual<8>], out| generic.rhs(Dual::constant(0.0), &x[..n], &x[n..], out),
            &w,
            &mut xb,
        );
        times[0].push(c.elapsed().as_secs_f64() * 1e3);
        for (k, (_, sys)) in taped.iter().enumerate() {
            let c = Instant::now();
            tape.clear();
            let xs = tape.vars(&x);
            let mut f = vec![Var::constant(0.0); n];
            sys.rhs(Var::constant(0.0), &xs[..n], &xs[n..], &mut f);
            // seeded as the solver's taped products seed (RhsVjp::taped): one weighted sum if
            // the outputs are one run of slots
            match ad_core::VarArray::from_run(&f) {
                Some(run) => tape.vjp_into(&[run.dot_f64s(&w)], &[1.0], &mut adj),
                None => tape.vjp_into(&f, &w, &mut adj),
            }
            times[k + 1].push(c.elapsed().as_secs_f64() * 1e3);
            let s0 = xs[0].index() as usize;
            let g = &adj.as_slice()[s0..s0 + 2 * n];
            err[k] = g
                .iter()
                .zip(&xb)
                .map(|(a, b)| (a - b).abs())
                .fold(err[k], f64::max);
        }
    }
    for (k, t) in times.iter_mut().enumerate() {
        t.sort_by(f64::total_cmp);
        let (label, e) = match k {
            0 => ("compressed", 0.0),
            _ => (taped[k - 1].0, err[k - 1]),
        };
        println!(
            "one product, {label}: {:.3} ms (best {:.3}); max difference {e:.1e}",
            t[50], t[0]
        );
    }
    // the operation trace, recorded once and replayed (what `RhsProducts::Auto` picks here)
    let mut trace = ad_core::trace::Trace::record(&x, n, |x, out| {
        generic.rhs(
            ad_core::trace::TraceVar::constant(0.0),
            &x[..n],
            &x[n..],
            out,
        )
    })
    .expect("the scalar stencil does not branch on values");
    let mut xt = vec![0.0; 2 * n];
    let mut t: Vec<f64> = (0..101)
        .map(|_| {
            xt.fill(0.0);
            let c = Instant::now();
            trace.vjp(&x, &w, &mut xt);
            c.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let e = xt
        .iter()
        .zip(&xb)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "one product, trace ({} operations in {} runs): {:.3} ms (best {:.3}); max difference {e:.1e}",
        trace.n_ops(),
        trace.n_runs(),
        t[50],
        t[0]
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    let checkpoints: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        // 256: the forward pass keeps 250 of the 2000 states and every 8-step segment's stage
        // arguments fit the bound (8 * 5 <= 256), so the reverse pass steps each segment once
        // (47-82 MB peak, against 23-56 MB with 64, which steps them twice)
        .unwrap_or(256);
    let rhs_products = match std::env::args().nth(3).as_deref() {
        None | Some("auto") => RhsProducts::Auto,
        Some("tape") => RhsProducts::Tape,
        Some("compressed") => RhsProducts::Compressed,
        Some("trace") => RhsProducts::Trace,
        Some(other) => panic!("unknown products {other:?}: auto, tape, compressed or trace"),
    };
    let w5 = W5 { hand_vjp: false };
    let (d, u0) = (w5.w5_diffusivities(), w5.w5_initial_state());
    let opts = Options {
        method: Method::Rk4 { dt: 1e-3 },
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints },
        rhs_products,
        ..Default::default()
    };
    if which == "products" {
        return products(&u0, &d);
    }
    let save_at = [2.0];
    let (hand, array, map) = (
        ReactionDiffusion {
            hand_vjp: true,
            array: false,
            map: false,
        },
        ReactionDiffusion {
            hand_vjp: false,
            array: true,
            map: false,
        },
        ReactionDiffusion {
            hand_vjp: false,
            array: true,
            map: true,
        },
    );
    let generic = ReactionDiffusion {
        array: false,
        ..array
    };
    let variants = match which.as_str() {
        "generic" => vec![generic],
        "hand" => vec![hand],
        "array" => vec![array],
        "map" => vec![map],
        _ => vec![hand, array, map, generic],
    };
    for sys in variants {
        let t = Instant::now();
        let sol = solve(&sys, &u0, &d, 0.0, &save_at, &opts).unwrap();
        let primal_ms = t.elapsed().as_secs_f64() * 1e3;
        let loss_primal: f64 = sol.y[0].iter().map(|v| (v - 0.5) * (v - 0.5)).sum();

        let t = Instant::now();
        let tape = Tape::new();
        let dv = tape.vars(&d);
        let uv: Vec<Var> = u0.iter().map(|&v| Var::constant(v)).collect();
        let sol = solve(&sys, &uv, &dv, 0.0, &save_at, &opts).unwrap();
        let loss: Var = sol.y[0].iter().map(|&v| (v - 0.5) * (v - 0.5)).sum();
        let g = tape.gradient(loss).wrt_all(&dv);
        let grad_ms = t.elapsed().as_secs_f64() * 1e3;
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        println!(
            "W5 wengert-rk4-adjoint-c{checkpoints}-{} primal_ms={primal_ms:.1} grad_ms={grad_ms:.1} ratio={:.2} peak_rss_mb={:.1} loss={:.11} gradnorm={gnorm:.10} steps={} (reference loss 2260.95904998, gradnorm 71.1215797121; primal loss {loss_primal:.11})",
            if sys.hand_vjp {
                "hand-vjp"
            } else if sys.map {
                "map-rhs"
            } else if sys.array {
                "array-rhs"
            } else {
                "generic-rhs"
            },
            grad_ms / primal_ms,
            peak_rss_mb(),
            loss.value(),
            sol.stats.steps,
        );
    }
}
