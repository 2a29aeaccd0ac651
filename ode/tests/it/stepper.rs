//! The stepper API below a full solve: manual stepping with interpolation gives `solve`'s saved
//! states bit for bit (the same steps), a reset continues as a fresh solve from the new state,
//! and no step passes the stop time.

use ode::problems::{LotkaVolterra, Robertson};
use ode::stepper::{BdfStepper, ExplicitStepper, Stepper};
use ode::{solve, Method, Options};

fn explicit_methods() -> [Options; 3] {
    let o = |method| Options {
        method,
        rtol: 1e-8,
        atol: 1e-8,
        ..Default::default()
    };
    [
        o(Method::Rk4 { dt: 0.01 }),
        o(Method::Dopri5),
        o(Method::Tsit5),
    ]
}

fn bdf() -> Options {
    Options {
        method: Method::Bdf,
        rtol: 1e-6,
        atol: 1e-10,
        ..Default::default()
    }
}

/// Steps `st` to the last save time by hand, interpolating at the save times inside each step.
fn step_and_save<St: Stepper<Scalar = f64>>(st: &mut St, save_at: &[f64]) -> Vec<Vec<f64>> {
    st.set_stop_time(*save_at.last().unwrap()).unwrap();
    let n = st.state().len();
    let mut out = Vec::new();
    let mut next = 0;
    while next < save_at.len() && save_at[next] <= st.t() {
        out.push(st.state().to_vec());
        next += 1;
    }
    loop {
        let step = st.step().unwrap();
        assert!(
            step.t <= save_at[save_at.len() - 1],
            "stepped past the stop time"
        );
        assert_eq!(step.t, st.t());
        while next < save_at.len() && save_at[next] <= step.t {
            let mut y = vec![0.0; n];
            st.interpolate(save_at[next], &mut y).unwrap();
            out.push(y);
            next += 1;
        }
        if step.reached_stop {
            return out;
        }
    }
}

#[test]
fn explicit_stepping_matches_solve_bit_for_bit() {
    let save_at: Vec<f64> = (0..=40).map(|k| 0.25 * k as f64).collect();
    let (y0, p) = (LotkaVolterra::Y0, LotkaVolterra::P);
    for opts in explicit_methods() {
        let sol = solve(&LotkaVolterra, &y0, &p, 0.0, &save_at, &opts).unwrap();
        let mut st = ExplicitStepper::new(&LotkaVolterra, &y0, &p, 0.0, &opts).unwrap();
        let y = step_and_save(&mut st, &save_at);
        assert_eq!(y, sol.y, "{:?}", opts.method);
        assert_eq!(st.stats(), sol.stats, "{:?}", opts.method);
        assert_eq!(st.t(), 10.0);
    }
}

#[test]
fn bdf_stepping_matches_solve_bit_for_bit() {
    let save_at = [0.0, 0.4, 4.0, 40.0, 400.0];
    let sol = solve(
        &Robertson,
        &Robertson::Y0,
        &Robertson::K,
        0.0,
        &save_at,
        &bdf(),
    )
    .unwrap();
    let opts = bdf();
    let mut st = BdfStepper::new(&Robertson, &Robertson::Y0, &Robertson::K, 0.0, &opts).unwrap();
    let y = step_and_save(&mut st, &save_at);
    assert_eq!(y, sol.y);
    assert_eq!(st.stats(), sol.stats);
    assert_eq!(st.t(), 400.0);
}

#[test]
fn explicit_reset_continues_as_a_fresh_solve() {
    let (y0, p) = (LotkaVolterra::Y0, LotkaVolterra::P);
    let (t1, y1) = (2.5, [0.7, 1.9]);
    let save_at: Vec<f64> = (10..=40).map(|k| 0.25 * k as f64).collect();
    for opts in explicit_methods() {
        let mut st = ExplicitStepper::new(&LotkaVolterra, &y0, &p, 0.0, &opts).unwrap();
        st.set_stop_time(t1).unwrap();
        while !st.step().unwrap().reached_stop {}
        st.reset(t1, &y1).unwrap();
        assert_eq!((st.t(), st.state(), st.h()), (t1, &y1[..], 0.0));
        let y = step_and_save(&mut st, &save_at);
        let fresh = solve(&LotkaVolterra, &y1, &p, t1, &save_at, &opts).unwrap();
        assert_eq!(y, fresh.y, "{:?}", opts.method);
    }
}

#[test]
fn bdf_reset_continues_as_a_fresh_solve() {
    let (t1, y1) = (1.0, [0.9, 1e-5, 0.1 - 1e-5]);
    let save_at = [1.0, 10.0, 100.0];
    let opts = bdf();
    let mut st = BdfStepper::new(&Robertson, &Robertson::Y0, &Robertson::K, 0.0, &opts).unwrap();
    st.set_stop_time(t1).unwrap();
    while !st.step().unwrap().reached_stop {}
    st.reset(t1, &y1).unwrap();
    let y = step_and_save(&mut st, &save_at);
    let fresh = solve(&Robertson, &y1, &Robertson::K, t1, &save_at, &opts).unwrap();
    for (a, b) in y.iter().flatten().zip(fresh.y.iter().flatten()) {
        assert!((a - b).abs() <= 1e-6 * b.abs() + 1e-10, "{a} vs {b}");
    }
}

#[test]
fn steps_end_at_the_stop_time_and_no_later() {
    let (y0, p) = (LotkaVolterra::Y0, LotkaVolterra::P);
    for opts in explicit_methods() {
        let mut st = ExplicitStepper::new(&LotkaVolterra, &y0, &p, 0.0, &opts).unwrap();
        check_stops(&mut st);
    }
    let opts = bdf();
    let mut st = BdfStepper::new(&LotkaVolterra, &y0, &p, 0.0, &opts).unwrap();
    check_stops(&mut st);
}

/// Steps through increasing stop times: each is reached exactly, a step there fails.
fn check_stops<St: Stepper<Scalar = f64>>(st: &mut St) {
    for ts in [0.3, 1.0 / 3.0, 2.0, 2.0 + 1e-3, 7.77] {
        let (t, again_fails) = run_to(st, ts);
        assert_eq!(t, ts);
        assert!(again_fails, "a step at the stop time must fail");
    }
}

/// Steps to `ts` checking every step; returns the time reached and whether one more step fails.
fn run_to<St: Stepper<Scalar = f64>>(st: &mut St, ts: f64) -> (f64, bool) {
    st.set_stop_time(ts).unwrap();
    loop {
        let s = st.step().unwrap();
        assert!(s.t <= ts && s.t_prev < s.t);
        let mut y = vec![0.0; st.state().len()];
        assert!(st.interpolate(s.t_prev, &mut y).is_ok());
        assert!(st.interpolate(s.t + 1e-9, &mut y).is_err());
        if s.reached_stop {
            return (st.t(), st.step().is_err());
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let opts = Options::default();
    let lv = LotkaVolterra;
    assert!(ExplicitStepper::new(&lv, &[1.0], &LotkaVolterra::P, 0.0, &opts).is_err());
    assert!(ExplicitStepper::new(&lv, &[f64::NAN, 1.0], &LotkaVolterra::P, 0.0, &opts).is_err());
    assert!(BdfStepper::new(&lv, &LotkaVolterra::Y0, &LotkaVolterra::P, 0.0, &opts).is_err());
    let mut st =
        ExplicitStepper::new(&lv, &LotkaVolterra::Y0, &LotkaVolterra::P, 1.0, &opts).unwrap();
    assert!(st.set_stop_time(0.5).is_err());
    assert!(st.set_stop_time(f64::NAN).is_err());
    assert!(st.reset(1.0, &[1.0]).is_err());
    assert!(st.reset(1.0, &[f64::INFINITY, 1.0]).is_err());
    let mut y = [0.0; 3];
    assert!(st.interpolate(1.0, &mut y).is_err());
}

#[test]
fn the_guide_shows_the_compiled_example() {
    let src = include_str!("../../src/stepper.rs");
    let doc: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc.iter().position(|l| *l == "```").unwrap() + 1;
    let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
    let guide = include_str!("../../../docs/ode.md");
    let section = &guide[guide.find("## Stepping by hand").unwrap()..];
    let code = &section[section.find("```rust\n").unwrap() + 8..];
    let code = &code[..code.find("\n```").unwrap()];
    assert_eq!(code, doc[start..end].join("\n"));
}
