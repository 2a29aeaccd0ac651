//! Events: state events located on the dense output, time events, stop and reset, the jump of
//! the derivatives at each event; against closed forms and central differences of the solver.

use ad_core::{Dual, Tape, Var};
use ode::problems::BouncingBall;
use ode::{
    solve, Action, Direction, Error, Event, EventSpec, Method, OdeSystem, Options, Real,
    Sensitivity,
};
use proptest::prelude::*;

fn tight(method: Method) -> Options {
    Options {
        method,
        rtol: 1e-12,
        atol: 1e-12,
        ..Default::default()
    }
}

const BALL_Y0: [f64; 4] = [0.0, 1.0, 0.5, 0.0];
const BALL_P: [f64; 2] = [9.81, 0.8];

#[test]
fn bouncing_ball_matches_its_closed_form_with_every_explicit_method() {
    let exact = BouncingBall::closed_form(BALL_Y0, BALL_P, 2.0);
    assert_eq!(exact.landings.len(), 3);
    for method in [Method::Tsit5, Method::Dopri5, Method::Rk4 { dt: 1e-3 }] {
        let sol = solve(
            &BouncingBall::default(),
            &BALL_Y0,
            &BALL_P,
            0.0,
            &[0.5, 2.0],
            &tight(method),
        )
        .unwrap();
        assert_eq!(sol.y.len(), 2);
        assert_eq!(sol.events.len(), 3, "{method:?}");
        for (hit, t) in sol.events.iter().zip(&exact.landings) {
            assert_eq!(hit.event, Event::State(0));
            assert!((hit.t - t).abs() < 1e-12, "{method:?}: {} vs {t}", hit.t);
            assert!(
                hit.y[1].abs() < 1e-12,
                "{method:?}: height at landing {}",
                hit.y[1]
            );
        }
        for (a, b) in sol.y[1].iter().zip(&exact.state) {
            assert!(
                (a - b).abs() < 1e-11,
                "{method:?}: {:?} vs {:?}",
                sol.y[1],
                exact.state
            );
        }
    }
}

#[test]
fn bouncing_ball_with_the_stiff_methods_matches_its_closed_form() {
    let exact = BouncingBall::closed_form(BALL_Y0, BALL_P, 2.0);
    for method in [Method::Bdf, Method::Rodas4] {
        let opts = Options {
            method,
            rtol: 1e-10,
            atol: 1e-10,
            ..Default::default()
        };
        let sol = solve(
            &BouncingBall::default(),
            &BALL_Y0,
            &BALL_P,
            0.0,
            &[2.0],
            &opts,
        )
        .unwrap();
        assert_eq!(sol.events.len(), 3, "{method:?}");
        for (hit, t) in sol.events.iter().zip(&exact.landings) {
            assert!((hit.t - t).abs() < 1e-7, "{method:?}: {} vs {t}", hit.t);
        }
        for (a, b) in sol.y[0].iter().zip(&exact.state) {
            assert!(
                (a - b).abs() < 1e-6,
                "{method:?}: {:?} vs {:?}",
                sol.y[0],
                exact.state
            );
        }
    }
}

/// The solver's gradient of (final height, final speed, second landing time) with respect to
/// `(h0, v0, g, e)`, on the tape.
fn ball_gradients(method: Method) -> Vec<Vec<f64>> {
    let tape = Tape::new();
    let h0 = tape.var(BALL_Y0[1]);
    let v0 = tape.var(BALL_Y0[3]);
    let p = tape.vars(&BALL_P);
    let y0 = [Var::cst(BALL_Y0[0]), h0, Var::cst(BALL_Y0[2]), v0];
    let sol = solve(
        &BouncingBall::default(),
        &y0,
        &p,
        0.0,
        &[2.0],
        &tight(method),
    )
    .unwrap();
    let outs = [sol.y[0][1], sol.y[0][3], sol.events[1].t];
    outs.iter()
        .map(|&o| {
            let g = tape.gradient(o);
            vec![g.wrt(h0), g.wrt(v0), g.wrt(p[0]), g.wrt(p[1])]
        })
        .collect()
}

/// The same derivatives of the closed form.
fn ball_closed_gradients() -> Vec<Vec<f64>> {
    (0..3)
        .map(|k| {
            ad_core::gradient(
                |x| {
                    let y0 = [Var::cst(BALL_Y0[0]), x[0], Var::cst(BALL_Y0[2]), x[1]];
                    let m = BouncingBall::closed_form(y0, [x[2], x[3]], 2.0);
                    [m.state[1], m.state[3], m.landings[1]][k]
                },
                &[BALL_Y0[1], BALL_Y0[3], BALL_P[0], BALL_P[1]],
            )
            .1
        })
        .collect()
}

#[test]
fn gradients_through_bounces_match_the_closed_form() {
    let exact = ball_closed_gradients();
    for method in [Method::Tsit5, Method::Dopri5, Method::Rk4 { dt: 1e-3 }] {
        let got = ball_gradients(method);
        for (g, e) in got.iter().zip(&exact) {
            for (a, b) in g.iter().zip(e) {
                assert!(
                    (a - b).abs() < 1e-9 * (1.0 + b.abs()),
                    "{method:?}: {got:?} vs {exact:?}"
                );
            }
        }
    }
}

#[test]
fn forward_mode_through_events_equals_reverse_mode() {
    // Dual inputs: the tangent along (h0, e) of the final state equals the tape's gradient
    let rev = ball_gradients(Method::Tsit5);
    let y0 = [
        Dual::<2>::constant(BALL_Y0[0]),
        Dual::new(BALL_Y0[1], [1.0, 0.0]),
        Dual::constant(BALL_Y0[2]),
        Dual::constant(BALL_Y0[3]),
    ];
    let p = [Dual::constant(BALL_P[0]), Dual::new(BALL_P[1], [0.0, 1.0])];
    let sol = solve(
        &BouncingBall::default(),
        &y0,
        &p,
        0.0,
        &[2.0],
        &tight(Method::Tsit5),
    )
    .unwrap();
    let h = sol.y[0][1];
    assert!((h.d[0] - rev[0][0]).abs() < 1e-12 * (1.0 + rev[0][0].abs()));
    assert!((h.d[1] - rev[0][3]).abs() < 1e-12 * (1.0 + rev[0][3].abs()));
    let t2 = sol.events[1].t;
    assert!((t2.d[1] - rev[2][3]).abs() < 1e-12 * (1.0 + rev[2][3].abs()));
}

#[test]
fn a_terminal_event_ends_the_solve_and_its_range_is_differentiable() {
    // a projectile from the ground: lands at T = 2 v / g, range R = u T
    let (u, v, g) = (3.0, 4.0, 9.81);
    let tape = Tape::new();
    let uv = tape.vars(&[u, v]);
    let gv = tape.var(g);
    let y0 = [Var::cst(0.0), Var::cst(0.0), uv[0], uv[1]];
    let p = [gv, Var::cst(0.5)];
    let save_at = [0.1, 0.5, 1.0, 2.0];
    let ball = BouncingBall { terminal: true };
    let sol = solve(&ball, &y0, &p, 0.0, &save_at, &tight(Method::Tsit5)).unwrap();
    let t_land = 2.0 * v / g;
    assert_eq!(
        sol.y.len(),
        2,
        "saves after the landing at {t_land} are not computed"
    );
    assert_eq!(sol.t, vec![0.1, 0.5]);
    assert_eq!(sol.events.len(), 1);
    let hit = &sol.events[0];
    assert!((hit.t.value() - t_land).abs() < 1e-14);
    assert!((hit.y[0].value() - u * t_land).abs() < 1e-13);
    let gt = tape.gradient(hit.t);
    let expect_t = [0.0, 2.0 / g, -2.0 * v / (g * g)];
    let gr = tape.gradient(hit.y[0]);
    let expect_r = [t_land, 2.0 * u / g, -2.0 * u * v / (g * g)];
    for (i, x) in [uv[0], uv[1], gv].into_iter().enumerate() {
        assert!((gt.wrt(x) - expect_t[i]).abs() < 1e-12, "dT: {i}");
        assert!((gr.wrt(x) - expect_r[i]).abs() < 1e-12, "dR: {i}");
    }
    // the height at the landing is zero whatever the inputs: its derivative too
    let gh = tape.gradient(hit.y[1]);
    assert!(gh.wrt(uv[1]).abs() < 1e-12 && gh.wrt(gv).abs() < 1e-12);
}

/// One-compartment elimination `y' = -k y` with doses `D` at given times (time events) and,
/// with `threshold`, a terminal state event when `y` falls to `c`; `p = (k, D, c)`.
#[derive(Clone)]
struct Dosing {
    times: Vec<f64>,
    threshold: bool,
}

impl OdeSystem for Dosing {
    fn dim(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        3
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = -p[0] * y[0];
    }
    fn state_events(&self) -> Vec<EventSpec> {
        if self.threshold {
            vec![EventSpec {
                direction: Direction::Falling,
                action: Action::Stop,
            }]
        } else {
            Vec::new()
        }
    }
    fn event_functions<S: Real>(&self, _t: S, y: &[S], p: &[S], g: &mut [S]) {
        g[0] = y[0] - p[2];
    }
    fn time_events(&self) -> Vec<f64> {
        self.times.clone()
    }
    fn apply_event<S: Real>(&self, event: Event, _t: S, y: &mut [S], p: &[S]) {
        assert!(matches!(event, Event::Time(_)));
        y[0] += p[1];
    }
}

/// `y(T) = y0 exp(-k T) + sum_{t_j <= T} D exp(-k (T - t_j))`.
fn dosing_exact<S: Real>(times: &[f64], y0: S, k: S, d: S, t: f64) -> S {
    let mut y = y0 * (-k * S::cst(t)).exp();
    for &tj in times.iter().filter(|&&tj| tj <= t) {
        y += d * (-k * S::cst(t - tj)).exp();
    }
    y
}

#[test]
fn doses_at_given_times_match_the_closed_form_and_a_save_at_a_dose_sees_it() {
    let sys = Dosing {
        times: vec![3.5, 1.0, 2.0, 9.0],
        threshold: false,
    };
    let save_at = [0.5, 1.0, 1.5, 2.0, 4.0];
    let (y0, k, d) = (0.0, 0.7, 2.0);
    let opts = Options {
        rtol: 1e-11,
        atol: 1e-12,
        ..Default::default()
    };
    let sol = solve(&sys, &[y0], &[k, d, 0.0], 0.0, &save_at, &opts).unwrap();
    // time events in time order; the one after the last save never fires
    let fired: Vec<Event> = sol.events.iter().map(|h| h.event).collect();
    assert_eq!(fired, vec![Event::Time(1), Event::Time(2), Event::Time(0)]);
    for (row, &t) in sol.y.iter().zip(&save_at) {
        let e = dosing_exact(&sys.times, y0, k, d, t);
        assert!((row[0] - e).abs() < 1e-9, "t = {t}: {} vs {e}", row[0]);
    }
    // the save at the dose time 1.0 holds the state after the dose, the hit the one before
    assert!((sol.y[1][0] - d).abs() < 1e-12);
    assert_eq!(sol.events[0].y[0], 0.0);
}

#[test]
fn dose_gradients_match_the_closed_form() {
    let sys = Dosing {
        times: vec![1.0, 2.0, 3.5],
        threshold: false,
    };
    let opts = Options {
        rtol: 1e-11,
        atol: 1e-12,
        ..Default::default()
    };
    let x = [0.3, 0.7, 2.0];
    let tape = Tape::new();
    let xv = tape.vars(&x);
    let sol = solve(
        &sys,
        &xv[..1],
        &[xv[1], xv[2], Var::cst(0.0)],
        0.0,
        &[5.0],
        &opts,
    )
    .unwrap();
    let g = tape.gradient(sol.y[0][0]);
    let (_, e) = ad_core::gradient(|v| dosing_exact(&sys.times, v[0], v[1], v[2], 5.0), &x);
    for (i, &ei) in e.iter().enumerate() {
        assert!(
            (g.wrt(xv[i]) - ei).abs() < 1e-8,
            "{i}: {} vs {ei}",
            g.wrt(xv[i])
        );
    }
}

#[test]
fn the_time_of_a_threshold_crossing_and_its_gradient_match_the_closed_form() {
    // after the dose at 1, y = (y0 e^{-k} + D) e^{-k (t - 1)} falls to c at
    // t* = 1 + ln((y0 e^{-k} + D) / c) / k
    let sys = Dosing {
        times: vec![1.0],
        threshold: true,
    };
    let opts = tight(Method::Tsit5);
    let x = [1.0, 0.7, 2.0, 0.3]; // y0, k, D, c: y(1-) = 0.50 > c
    fn t_star<S: Real>(v: &[S]) -> S {
        let top = v[0] * (-v[1]).exp() + v[2];
        S::one() + (top / v[3]).ln() / v[1]
    }
    let (t_exact, g_exact) = ad_core::gradient(|v| t_star(v), &x);
    let tape = Tape::new();
    let xv = tape.vars(&x);
    let sol = solve(&sys, &xv[..1], &xv[1..], 0.0, &[10.0], &opts).unwrap();
    assert!(sol.y.is_empty());
    let hit = sol.events.last().unwrap();
    assert_eq!(hit.event, Event::State(0));
    assert!((hit.t.value() - t_exact).abs() < 1e-10);
    let g = tape.gradient(hit.t);
    for (i, &e) in g_exact.iter().enumerate() {
        assert!(
            (g.wrt(xv[i]) - e).abs() < 1e-8,
            "{i}: {} vs {e}",
            g.wrt(xv[i])
        );
    }
    // and against central differences of the solver itself
    let solve_t = |x: &[f64]| {
        let s = solve(&sys, &x[..1], &x[1..], 0.0, &[10.0], &opts).unwrap();
        s.events.last().unwrap().t
    };
    for i in 0..4 {
        let h = 1e-6 * x[i].abs();
        let (mut up, mut dn) = (x, x);
        up[i] += h;
        dn[i] -= h;
        let fd = (solve_t(&up) - solve_t(&dn)) / (2.0 * h);
        assert!(
            (g.wrt(xv[i]) - fd).abs() < 1e-6 * (1.0 + fd.abs()),
            "{i}: {fd}"
        );
    }
}

/// Probes of the event machinery: state `(a, z)` with `a' = 1` (so `a = t` from 0), `z' = 0`.
#[derive(Clone)]
struct Probe {
    kind: u8,
    direction: Direction,
}

impl OdeSystem for Probe {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        1
    }
    fn rhs<S: Real>(&self, _t: S, _y: &[S], _p: &[S], dy: &mut [S]) {
        dy[0] = S::one();
        dy[1] = S::zero();
    }
    fn state_events(&self) -> Vec<EventSpec> {
        let reset = EventSpec {
            direction: self.direction,
            action: Action::Reset,
        };
        match self.kind {
            1 => vec![reset; 2],
            _ => vec![reset],
        }
    }
    fn event_functions<S: Real>(&self, _t: S, y: &[S], _p: &[S], g: &mut [S]) {
        match self.kind {
            // 0: sin(a); 1: a - 1 and 2 (a - 1), crossing together; 2: NaN after a = 0.5;
            // 3: a - 1 with a reset to NaN
            0 => g[0] = y[0].sin(),
            1 => {
                g[0] = y[0] - S::one();
                g[1] = (y[0] - S::one()) * S::cst(2.0);
            }
            2 if y[0].value() > 0.5 => g[0] = S::cst(f64::NAN),
            // 4: (a - 1)^2 - 1e-8, a near-grazing pair of crossings at 1 -+ 1e-4
            4 => g[0] = (y[0] - S::one()) * (y[0] - S::one()) - S::cst(1e-8),
            _ => g[0] = y[0] - S::one(),
        }
    }
    fn apply_event<S: Real>(&self, event: Event, _t: S, y: &mut [S], _p: &[S]) {
        match (self.kind, event) {
            (1, Event::State(0)) => y[1] += S::one(),
            (1, _) => y[1] *= S::cst(2.0),
            (3, _) => y[1] = S::cst(-1.0).sqrt(),
            _ => {}
        }
    }
}

#[test]
fn direction_filters_pick_the_crossings() {
    use std::f64::consts::PI;
    let cases = [
        (Direction::Rising, vec![2.0 * PI]),
        (Direction::Falling, vec![PI, 3.0 * PI]),
        (Direction::Either, vec![PI, 2.0 * PI, 3.0 * PI]),
    ];
    for (direction, expect) in cases {
        // sin starts on zero at t = 0: unsigned, so no event there. `a' = 1` is integrated
        // exactly, so the steps grow without bound: h_max keeps them shorter than the
        // crossings' spacing (two crossings in one step are not seen)
        let sys = Probe { kind: 0, direction };
        let opts = Options {
            h_max: 0.5,
            ..tight(Method::Tsit5)
        };
        let sol = solve(&sys, &[0.0, 0.0], &[0.0], 0.0, &[10.0], &opts).unwrap();
        let times: Vec<f64> = sol.events.iter().map(|h| h.t).collect();
        assert_eq!(times.len(), expect.len(), "{direction:?}: {times:?}");
        for (t, e) in times.iter().zip(&expect) {
            assert!((t - e).abs() < 1e-12, "{direction:?}: {times:?}");
        }
    }
}

#[test]
fn a_near_grazing_pair_of_crossings_inside_one_step_is_found() {
    // `a' = 1` is integrated exactly, so a few steps cover [0, 10]: both crossings, 2e-4
    // apart, fall inside one step, where the signs at the step's ends agree; the extremum of
    // g inside the step (the root of dg/dt) reveals them
    let cases = [
        (Direction::Falling, vec![1.0 - 1e-4]),
        (Direction::Rising, vec![1.0 + 1e-4]),
        (Direction::Either, vec![1.0 - 1e-4, 1.0 + 1e-4]),
    ];
    for (direction, expect) in cases {
        let sys = Probe { kind: 4, direction };
        let sol = solve(
            &sys,
            &[0.0, 0.0],
            &[0.0],
            0.0,
            &[10.0],
            &tight(Method::Tsit5),
        )
        .unwrap();
        assert!(sol.stats.steps < 20, "{}", sol.stats.steps);
        let times: Vec<f64> = sol.events.iter().map(|h| h.t).collect();
        assert_eq!(times.len(), expect.len(), "{direction:?}: {times:?}");
        for (t, e) in times.iter().zip(&expect) {
            assert!((t - e).abs() < 1e-12, "{direction:?}: {times:?}");
        }
    }
}

#[test]
fn simultaneous_events_fire_in_index_order() {
    let sys = Probe {
        kind: 1,
        direction: Direction::Either,
    };
    let sol = solve(
        &sys,
        &[0.0, 0.0],
        &[0.0],
        0.0,
        &[2.0],
        &tight(Method::Tsit5),
    )
    .unwrap();
    let fired: Vec<Event> = sol.events.iter().map(|h| h.event).collect();
    assert_eq!(fired, vec![Event::State(0), Event::State(1)]);
    assert_eq!(sol.events[0].t, sol.events[1].t);
    // z = (0 + 1) * 2, not 0 * 2 + 1
    assert_eq!(sol.y[0][1], 2.0);
}

#[test]
fn non_finite_event_functions_and_resets_are_typed_errors() {
    let opts = tight(Method::Tsit5);
    let nan_g = Probe {
        kind: 2,
        direction: Direction::Either,
    };
    match solve(&nan_g, &[0.0, 0.0], &[0.0], 0.0, &[2.0], &opts) {
        Err(Error::Event { event, t, .. }) => {
            assert_eq!(event, Event::State(0));
            assert!(t > 0.5 && t <= 2.0);
        }
        other => panic!("{other:?}"),
    }
    let nan_reset = Probe {
        kind: 3,
        direction: Direction::Either,
    };
    match solve(&nan_reset, &[0.0, 0.0], &[0.0], 0.0, &[2.0], &opts) {
        Err(Error::Event {
            event, component, ..
        }) => {
            assert_eq!(event, Event::State(0));
            assert_eq!(component, Some(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn accumulating_bounces_end_in_a_typed_error_not_a_hang() {
    // e = 0.5: the bounces accumulate at t = 3 sqrt(2 / g) ~ 1.35
    let p = [9.81, 0.5];
    for max_events in [20, 10_000] {
        let opts = Options {
            max_events,
            ..tight(Method::Tsit5)
        };
        let r = solve(&BouncingBall::default(), &BALL_Y0, &p, 0.0, &[3.0], &opts);
        match r {
            Err(Error::TooManyEvents { count, t }) => {
                assert_eq!(count, max_events + 1);
                assert!(t < 1.36);
            }
            Err(Error::Event { t, event, .. }) if max_events > 20 => {
                assert_eq!(event, Event::State(0));
                assert!((t - 3.0 * (2.0f64 / 9.81).sqrt()).abs() < 1e-9, "{t}");
            }
            other => panic!("max_events {max_events}: {other:?}"),
        }
    }
}

#[test]
fn every_sensitivity_and_the_stiff_methods_differentiate_through_bounces() {
    // the adjoints, BDF and Rodas4 go by segments between the events: the derivative of each
    // segment's numerical solution, so within the tolerance of the closed form
    let exact = ball_closed_gradients();
    let cases = [
        (
            Method::Tsit5,
            Sensitivity::DiscreteAdjoint { checkpoints: 8 },
            1e-9,
        ),
        (
            Method::Dopri5,
            Sensitivity::InterpolatingAdjoint { checkpoints: 8 },
            1e-7,
        ),
        (Method::Bdf, Sensitivity::Forward, 1e-5),
        (
            Method::Bdf,
            Sensitivity::DiscreteAdjoint { checkpoints: 8 },
            1e-5,
        ),
        (Method::Rodas4, Sensitivity::Auto, 1e-5),
    ];
    for (method, sensitivity, tol) in cases {
        let opts = Options {
            sensitivity,
            ..tight(method)
        };
        let tape = Tape::new();
        let h0 = tape.var(BALL_Y0[1]);
        let v0 = tape.var(BALL_Y0[3]);
        let p = tape.vars(&BALL_P);
        let y0 = [Var::cst(BALL_Y0[0]), h0, Var::cst(BALL_Y0[2]), v0];
        let sol = solve(&BouncingBall::default(), &y0, &p, 0.0, &[1.0, 2.0], &opts).unwrap();
        assert_eq!(sol.events.len(), 3, "{method:?} {sensitivity:?}");
        assert_eq!(sol.y.len(), 2);
        let outs = [sol.y[1][1], sol.y[1][3], sol.events[1].t];
        for (o, e) in outs.iter().zip(&exact) {
            let g = tape.gradient(*o);
            let got = [g.wrt(h0), g.wrt(v0), g.wrt(p[0]), g.wrt(p[1])];
            for (a, b) in got.iter().zip(e) {
                assert!(
                    (a - b).abs() < tol * (1.0 + b.abs()),
                    "{method:?} {sensitivity:?}: {got:?} vs {e:?}"
                );
            }
        }
    }
}

#[test]
fn dose_gradients_with_the_adjoints_and_bdf() {
    let sys = Dosing {
        times: vec![0.0, 1.0, 2.0, 3.5],
        threshold: false,
    };
    let x = [0.3, 0.7, 2.0];
    let (_, e) = ad_core::gradient(|v| dosing_exact(&sys.times, v[0], v[1], v[2], 5.0), &x);
    for (method, sensitivity, tol) in [
        (
            Method::Tsit5,
            Sensitivity::DiscreteAdjoint { checkpoints: 4 },
            1e-8,
        ),
        (Method::Bdf, Sensitivity::Auto, 1e-5),
    ] {
        let opts = Options {
            method,
            sensitivity,
            rtol: 1e-11,
            atol: 1e-12,
            ..Default::default()
        };
        let tape = Tape::new();
        let xv = tape.vars(&x);
        let p = [xv[1], xv[2], Var::cst(0.0)];
        let sol = solve(&sys, &xv[..1], &p, 0.0, &[1.0, 5.0], &opts).unwrap();
        // the save at the dose time 1.0 holds the state after the dose
        let after = dosing_exact(&sys.times, x[0], x[1], x[2], 1.0);
        assert!((sol.y[0][0].value() - after).abs() < tol, "{method:?}");
        let g = tape.gradient(sol.y[1][0]);
        for (i, &ei) in e.iter().enumerate() {
            let gi = g.wrt(xv[i]);
            assert!(
                (gi - ei).abs() < tol * (1.0 + ei.abs()),
                "{method:?} {i}: {gi} vs {ei}"
            );
        }
    }
}

#[test]
fn what_cannot_cross_events_yet_is_a_typed_error() {
    let ball = BouncingBall::default();
    // the tape-free pullback with an adjoint
    let opts = Options {
        sensitivity: Sensitivity::DiscreteAdjoint { checkpoints: 8 },
        ..tight(Method::Tsit5)
    };
    let r = ode::vjp(
        &ball,
        &BALL_Y0,
        &BALL_P,
        0.0,
        &[2.0],
        &opts,
        &[vec![1.0; 4]],
    );
    assert!(matches!(r, Err(Error::IncompatibleOptions { .. })), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random dose schedules: values and gradients against the closed form.
    #[test]
    fn random_dose_schedules_match_the_closed_form(
        times in proptest::collection::vec(0.0f64..6.0, 0..6),
        k in 0.05f64..2.0,
        d in 0.1f64..5.0,
        y0 in 0.0f64..3.0,
    ) {
        let sys = Dosing { times: times.clone(), threshold: false };
        let opts = Options { rtol: 1e-10, atol: 1e-12, ..Default::default() };
        let tape = Tape::new();
        let xv = tape.vars(&[y0, k, d]);
        let sol = solve(&sys, &xv[..1], &[xv[1], xv[2], Var::cst(0.0)], 0.0, &[2.5, 6.0], &opts)
            .unwrap();
        prop_assert_eq!(sol.events.len(), times.len());
        for (row, t) in sol.y.iter().zip([2.5, 6.0]) {
            let e = dosing_exact(&times, y0, k, d, t);
            prop_assert!((row[0].value() - e).abs() < 1e-8 * (1.0 + e.abs()));
        }
        let g = tape.gradient(sol.y[1][0]);
        let (_, e) = ad_core::gradient(|v| dosing_exact(&times, v[0], v[1], v[2], 6.0), &[y0, k, d]);
        for (i, &ei) in e.iter().enumerate() {
            prop_assert!((g.wrt(xv[i]) - ei).abs() < 1e-7 * (1.0 + ei.abs()), "{} vs {}", g.wrt(xv[i]), ei);
        }
    }
}
