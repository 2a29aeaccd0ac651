//! W3 (BENCHMARKS.md): Lotka-Volterra loss and gradient against the tight-tolerance reference,
//! for every adaptive method and sensitivity method.

use crate::common::*;
use ad_core::Tape;
use ode::{solve, Method, Options, Sensitivity};

fn w3(method: Method, sensitivity: Sensitivity) -> (f64, Vec<f64>) {
    let opts = Options {
        method,
        rtol: 1e-8,
        atol: 1e-8,
        sensitivity,
        ..Default::default()
    };
    let tape = Tape::new();
    let p = tape.vars(&W3_P);
    let y0 = tape.vars(&W3_Y0);
    let sol = solve(&LotkaVolterra, &y0, &p, 0.0, &w3_save_at(), &opts).unwrap();
    let loss = w3_loss(&sol.y);
    let adj = tape.gradient(loss);
    let mut g = adj.wrt_all(&p);
    g.extend(adj.wrt_all(&y0));
    (loss.value(), g)
}

#[test]
fn w3_matches_reference() {
    for method in [Method::Tsit5, Method::Dopri5] {
        for sens in [
            Sensitivity::Auto,
            Sensitivity::Forward,
            Sensitivity::DiscreteAdjoint { checkpoints: 16 },
            Sensitivity::InterpolatingAdjoint { checkpoints: 16 },
        ] {
            let (loss, g) = w3(method, sens);
            let e_loss = rel_err(loss, W3_LOSS);
            let e_grad = g
                .iter()
                .zip(&W3_GRAD)
                .map(|(a, b)| rel_err(*a, *b))
                .fold(0.0, f64::max);
            println!("{method:?} {sens:?}: loss rel err {e_loss:.2e}, grad rel err {e_grad:.2e}");
            assert!(e_loss < 1e-5, "{method:?} {sens:?}: loss {loss}");
            assert!(e_grad < 1e-4, "{method:?} {sens:?}: gradient {g:?}");
        }
    }
}

#[test]
fn w3_primal_f64() {
    let opts = Options {
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    let sol = solve(&LotkaVolterra, &W3_Y0, &W3_P, 0.0, &w3_save_at(), &opts).unwrap();
    assert_eq!(sol.y.len(), 101);
    assert_eq!(sol.y[0], W3_Y0.to_vec());
    assert!(rel_err(w3_loss(&sol.y), W3_LOSS) < 1e-5);
    println!("{:?}", sol.stats);
}
