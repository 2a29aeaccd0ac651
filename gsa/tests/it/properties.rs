//! Property tests: the indices of random additive models (known exactly), invariance of the
//! estimators under affine changes of the output, and plots that are written.

use ad_core::{Function, Real};
use gsa::{analyze_sobol, saltelli, sobol, Problem, Sampling, SobolOptions};
use proptest::prelude::*;

/// `y = sum c_i x_i` on `[0, 1]^k`: `S_i = ST_i = c_i^2 / sum c_j^2`.
struct Additive(Vec<f64>);
impl Function for Additive {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        vec![x
            .iter()
            .zip(&self.0)
            .fold(S::zero(), |acc, (&xi, &c)| acc + xi * c)]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn additive_models_get_their_exact_shares(
        c in proptest::collection::vec(-5.0f64..5.0, 1..6),
        seed in 0u64..1000,
    ) {
        let total: f64 = c.iter().map(|v| v * v).sum();
        prop_assume!(total > 0.5);
        let problem = Problem::new(&vec![(0.0, 1.0); c.len()]).unwrap();
        let o = SobolOptions { samples: 2048, seed, bootstrap: 0, progress: false, ..Default::default() };
        let s = sobol(&problem, &Additive(c.clone()), &o).unwrap();
        for (i, ci) in c.iter().enumerate() {
            let want = ci * ci / total;
            prop_assert!((s.first[0][i] - want).abs() < 0.02, "S1[{}] = {} vs {}", i, s.first[0][i], want);
            prop_assert!((s.total[0][i] - want).abs() < 0.02, "ST[{}] = {} vs {}", i, s.total[0][i], want);
        }
    }

    #[test]
    fn indices_do_not_change_under_affine_maps_of_the_output(
        scale in prop_oneof![-100.0f64..-0.01, 0.01f64..100.0],
        shift in -1e3f64..1e3,
        seed in 0u64..1000,
    ) {
        let problem = Problem::new(&[(-3.0, 3.0); 3]).unwrap();
        let d = saltelli(&problem, 256, seed, Sampling::Sobol, false).unwrap();
        let f = gsa::testing::Ishigami::default();
        let y: Vec<Vec<f64>> = d.x.iter().map(|x| f.eval(x)).collect();
        let z: Vec<Vec<f64>> = y.iter().map(|v| vec![v[0] * scale + shift]).collect();
        let o = SobolOptions { bootstrap: 10, seed, progress: false, ..Default::default() };
        let a = analyze_sobol(&problem, &y, &o).unwrap();
        let b = analyze_sobol(&problem, &z, &o).unwrap();
        for i in 0..3 {
            prop_assert!((a.first[0][i] - b.first[0][i]).abs() < 1e-9);
            prop_assert!((a.total[0][i] - b.total[0][i]).abs() < 1e-9);
            prop_assert!((a.first_conf[0][i] - b.first_conf[0][i]).abs() < 1e-9);
        }
    }
}

#[test]
fn plots_are_written_and_bad_output_indices_are_errors() {
    let f = gsa::testing::Ishigami::default();
    let problem = gsa::testing::Ishigami::problem();
    let s = sobol(
        &problem,
        &f,
        &SobolOptions {
            samples: 256,
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let m = gsa::morris(
        &problem,
        &f,
        &gsa::MorrisOptions {
            progress: false,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("gsa-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |name: &str| dir.join(name).display().to_string();
    gsa::plot::sobol_bars(&p("bars.svg"), &s, 0, "Ishigami").unwrap();
    gsa::plot::morris_scatter(&p("morris.svg"), &m, 0, "Ishigami").unwrap();
    gsa::plot::indices_over_time(&p("time.svg"), &s, &[0.0], "one time").unwrap();
    for name in ["bars.svg", "morris.svg", "time.svg"] {
        let text = std::fs::read_to_string(p(name)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("x1"), "{name}");
    }
    assert!(gsa::plot::sobol_bars(&p("x.svg"), &s, 1, "").is_err());
    assert!(gsa::plot::indices_over_time(&p("x.svg"), &s, &[0.0, 1.0], "").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
