//! Sobol' indices against analytic values (Ishigami, G-function), against SALib's estimator
//! formulas written out here as an independent oracle, and across thread counts.
#![allow(clippy::needless_range_loop)] // indices name inputs and outputs here

use ad_core::{Function, Real};
use gsa::testing::{GFunction, Ishigami};
use gsa::{
    analyze_sobol, saltelli, sobol, sobol_model, Error, Model, OnFailure, Problem, Sampling,
    SobolOptions,
};

fn opts(samples: usize, seed: u64) -> SobolOptions {
    SobolOptions {
        samples,
        seed,
        progress: false,
        ..Default::default()
    }
}

/// Each estimate is within its confidence half-width and within `tol` of the truth.
fn check(got: &[f64], conf: &[f64], want: &[f64], tol: f64, what: &str) {
    for i in 0..want.len() {
        let err = (got[i] - want[i]).abs();
        assert!(
            err < tol,
            "{what}[{i}] = {} vs {} (tol {tol})",
            got[i],
            want[i]
        );
        assert!(
            err <= conf[i],
            "{what}[{i}] = {} ± {} misses {}",
            got[i],
            conf[i],
            want[i]
        );
    }
}

#[test]
fn ishigami_matches_analytic_indices() {
    let f = Ishigami::default();
    let (s1, st) = f.indices();
    let s = sobol(&Ishigami::problem(), &f, &opts(1 << 14, 3)).unwrap();
    check(&s.first[0], &s.first_conf[0], &s1, 0.01, "S1");
    check(&s.total[0], &s.total_conf[0], &st, 0.01, "ST");
    assert_eq!(s.evaluations, (1 << 14) * 5);
    assert!((s.variance[0] - f.variance()).abs() < 0.02 * f.variance());
}

#[test]
fn g_function_matches_analytic_indices() {
    for a in [
        vec![0.0, 1.0, 4.5, 9.0, 99.0, 99.0],
        vec![0.0, 0.0, 0.0, 0.0],
        vec![0.5, 2.0, 6.0],
    ] {
        let g = GFunction { a: a.clone() };
        let (s1, st) = g.indices();
        let s = sobol(&g.problem(), &g, &opts(1 << 14, 5)).unwrap();
        check(
            &s.first[0],
            &s.first_conf[0],
            &s1,
            0.01,
            &format!("S1 a={a:?}"),
        );
        check(
            &s.total[0],
            &s.total_conf[0],
            &st,
            0.01,
            &format!("ST a={a:?}"),
        );
    }
}

#[test]
fn second_order_of_ishigami_is_the_x1_x3_interaction() {
    let f = Ishigami::default();
    let (s1, st) = f.indices();
    let o = SobolOptions {
        second_order: true,
        ..opts(1 << 13, 9)
    };
    let s = sobol(&Ishigami::problem(), &f, &o).unwrap();
    let s2 = &s.second.as_ref().unwrap()[0];
    let s2c = &s.second_conf.as_ref().unwrap()[0];
    let s13 = st[0] - s1[0];
    assert!(
        (s2[0][2] - s13).abs() < 0.03 && (s2[0][2] - s13).abs() <= s2c[0][2],
        "{s2:?}"
    );
    assert!(s2[0][1].abs() < 0.03 && s2[1][2].abs() < 0.03, "{s2:?}");
    assert_eq!(s.evaluations, (1 << 13) * 8);
}

/// SALib 1.x `sobol.analyze` (calc_second_order = False), written out: outputs standardised by
/// the mean and std of all runs, then `S1 = mean(B (AB - A)) / var([A; B])`,
/// `ST = mean((A - AB)^2) / 2 / var([A; B])`, `var` with ddof = 0.
fn salib_oracle(y: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let n = y.len() / (k + 2);
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let std = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64).sqrt();
    let z: Vec<f64> = y.iter().map(|v| (v - mean) / std).collect();
    let a: Vec<f64> = (0..n).map(|j| z[j * (k + 2)]).collect();
    let b: Vec<f64> = (0..n).map(|j| z[j * (k + 2) + k + 1]).collect();
    let ab = |i: usize| -> Vec<f64> { (0..n).map(|j| z[j * (k + 2) + 1 + i]).collect() };
    let ab_cat: Vec<f64> = a.iter().chain(&b).copied().collect();
    let m = ab_cat.iter().sum::<f64>() / (2 * n) as f64;
    let var = ab_cat.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (2 * n) as f64;
    let s1 = (0..k)
        .map(|i| {
            ab(i)
                .iter()
                .zip(&a)
                .zip(&b)
                .map(|((abi, ai), bi)| bi * (abi - ai))
                .sum::<f64>()
                / n as f64
                / var
        })
        .collect();
    let st = (0..k)
        .map(|i| {
            0.5 * ab(i)
                .iter()
                .zip(&a)
                .map(|(abi, ai)| (ai - abi).powi(2))
                .sum::<f64>()
                / n as f64
                / var
        })
        .collect();
    (s1, st)
}

#[test]
fn estimators_match_salib_formulas_on_a_fixed_design() {
    let f = Ishigami::default();
    let problem = Ishigami::problem();
    let design = saltelli(&problem, 512, 17, Sampling::MonteCarlo, false).unwrap();
    // An offset output: the centring step matters for the first-order estimator.
    let y: Vec<Vec<f64>> = design
        .x
        .iter()
        .map(|x| vec![f.eval(x)[0], f.eval(x)[0] * 3.0 + 100.0])
        .collect();
    let s = analyze_sobol(&problem, &y, &opts(512, 1)).unwrap();
    for o in 0..2 {
        let col: Vec<f64> = y.iter().map(|r| r[o]).collect();
        let (s1, st) = salib_oracle(&col, 3);
        for i in 0..3 {
            assert!(
                (s.first[o][i] - s1[i]).abs() < 1e-12,
                "S1 {o} {i}: {} vs {}",
                s.first[o][i],
                s1[i]
            );
            assert!((s.total[o][i] - st[i]).abs() < 1e-12, "ST {o} {i}");
        }
    }
}

#[test]
fn results_are_bit_identical_for_1_2_and_8_threads() {
    let g = GFunction {
        a: vec![0.0, 1.0, 9.0],
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| sobol(&g.problem(), &g, &opts(1024, 42)).unwrap())
    };
    let one = run(1);
    for t in [2, 8] {
        let other = run(t);
        assert_eq!(one, other, "{t} threads");
    }
    assert_ne!(
        one.first,
        sobol(&g.problem(), &g, &opts(1024, 43)).unwrap().first
    );
}

/// Fails (returns NaN) where x1 > 0.9.
struct Fragile;
impl Function for Fragile {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        if x[0].value() > 0.9 {
            vec![S::nan()]
        } else {
            vec![x[0] + x[1]]
        }
    }
}

#[test]
fn failed_samples_stop_with_their_index_or_are_dropped_and_counted() {
    let problem = Problem::new(&[(0.0, 1.0), (0.0, 1.0)]).unwrap();
    match sobol(&problem, &Fragile, &opts(256, 1)) {
        Err(Error::SampleFailed { index, input, .. }) => {
            assert!(input[0] > 0.9);
            let design = saltelli(&problem, 256, 1, Sampling::Sobol, false).unwrap();
            assert_eq!(design.x[index], input);
            assert!(design.x[..index].iter().all(|x| x[0] <= 0.9));
        }
        other => panic!("expected SampleFailed, got {other:?}"),
    }
    let o = SobolOptions {
        on_failure: OnFailure::Drop,
        ..opts(256, 1)
    };
    let s = sobol(&problem, &Fragile, &o).unwrap();
    assert!(s.dropped > 0 && s.samples + s.dropped == 256);
    assert!(s.first[0].iter().chain(&s.total[0]).all(|v| v.is_finite()));
    // a model whose every run fails
    struct Broken;
    impl Model for Broken {
        fn evaluate(&self, _: &[f64]) -> Result<Vec<f64>, String> {
            Err("no".into())
        }
        fn jacobian(
            &self,
            _: &[f64],
            _: gsa::GradientMode,
        ) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
            Err("no".into())
        }
    }
    assert!(matches!(
        sobol_model(&problem, &Broken, &o),
        Err(Error::TooFewSamples { remaining: 0, .. })
    ));
}

#[test]
fn bad_options_are_typed_errors() {
    let problem = Problem::new(&[(0.0, 1.0)]).unwrap();
    let g = GFunction { a: vec![1.0] };
    assert!(matches!(
        sobol(&problem, &g, &opts(1, 0)),
        Err(Error::InvalidOption(_))
    ));
    let o = SobolOptions {
        confidence_level: 1.0,
        ..opts(64, 0)
    };
    assert!(matches!(
        sobol(&problem, &g, &o),
        Err(Error::InvalidOption(_))
    ));
    assert!(matches!(
        sobol(&problem, &g, &opts(1 << 17, 0)),
        Err(Error::SobolLimit { .. })
    ));
    assert!(matches!(
        analyze_sobol(&problem, &vec![vec![1.0]; 4], &opts(2, 0)),
        Err(Error::DimensionMismatch { .. })
    ));
    // a constant output: zero indices, not NaN
    struct Constant;
    impl Function for Constant {
        fn eval<S: Real>(&self, _: &[S]) -> Vec<S> {
            vec![S::cst(2.0)]
        }
    }
    let s = sobol(&problem, &Constant, &opts(64, 0)).unwrap();
    assert_eq!((s.first[0][0], s.total[0][0]), (0.0, 0.0));
}

#[test]
fn saved_runs_reload_and_give_the_same_indices() {
    let problem = Ishigami::problem();
    let f = Ishigami::default();
    let o = opts(512, 8);
    let direct = sobol(&problem, &f, &o).unwrap();
    let design = saltelli(&problem, 512, 8, Sampling::Sobol, false).unwrap();
    let mut y = gsa::evaluate(&gsa::FunctionModel(&f), &design.x, false);
    let dir = std::env::temp_dir().join(format!("gsa-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (xs, ys) = (dir.join("x.csv"), dir.join("y.csv"));
    gsa::io::write_csv(&xs, &problem.names(), &design.x).unwrap();
    gsa::io::write_csv(&ys, &["y"], &y).unwrap();
    let (names, x_back) = gsa::io::read_csv(&xs).unwrap();
    assert_eq!(
        (names, x_back),
        (
            vec!["x1".to_string(), "x2".into(), "x3".into()],
            design.x.clone()
        )
    );
    let (_, y_back) = gsa::io::read_csv(&ys).unwrap();
    let again = analyze_sobol(&problem, &y_back, &o).unwrap();
    assert_eq!(
        (&direct.first, &direct.total, &direct.total_conf),
        (&again.first, &again.total, &again.total_conf)
    );
    // a failed run saved as NaN is a failed sample when reloaded
    y[7] = Vec::new();
    gsa::io::write_csv(&ys, &["y"], &y).unwrap();
    let (_, y_back) = gsa::io::read_csv(&ys).unwrap();
    assert!(y_back[7][0].is_nan());
    assert!(matches!(
        analyze_sobol(&problem, &y_back, &o),
        Err(Error::SampleFailed { index: 7, .. })
    ));
    let dropped = analyze_sobol(
        &problem,
        &y_back,
        &SobolOptions {
            on_failure: OnFailure::Drop,
            ..o
        },
    )
    .unwrap();
    assert_eq!(dropped.dropped, 1);
    std::fs::write(&ys, "y\n1.0\nfoo\n").unwrap();
    assert!(matches!(
        gsa::io::read_csv(&ys),
        Err(Error::Parse { line: 3, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
