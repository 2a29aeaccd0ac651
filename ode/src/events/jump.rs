//! The jump at an event, generic over the scalar: with `Dual` (or `Var`) state and parameters
//! the result carries the derivatives through the event (the event time's tangent from the
//! implicit function theorem, the state change's Jacobian from the user's generic code, the
//! restart's correction); on `f64` it is the plain state change. The formulas: `docs/events.md`.

use ad_core::{Dual, Real};

use super::Event;
use crate::error::Error;
use crate::system::OdeSystem;

pub(crate) fn values<S: Real>(x: &[S]) -> Vec<f64> {
    x.iter().map(|v| v.value()).collect()
}

/// `d/dt g_k(t, y(t), p) = ∂g_k/∂t + ∂g_k/∂y · f(t, y)` at `(t, y)` for every `k`, by one
/// evaluation of the event functions on `Dual<1>`.
pub(crate) fn rates<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    yv: &[f64],
    pv: &[f64],
    n_g: usize,
) -> Vec<f64> {
    if n_g == 0 {
        return Vec::new(); // event_functions is only called for systems with state events
    }
    let mut f = vec![0.0; yv.len()];
    sys.rhs(t, yv, pv, &mut f);
    let td = Dual::<1>::new(t, [1.0]);
    let yd: Vec<Dual<1>> = yv
        .iter()
        .zip(&f)
        .map(|(&v, &d)| Dual::new(v, [d]))
        .collect();
    let pd: Vec<Dual<1>> = pv.iter().map(|&v| Dual::constant(v)).collect();
    let mut gd = vec![Dual::<1>::constant(0.0); n_g];
    sys.event_functions(td, &yd, &pd, &mut gd);
    gd.iter().map(|g| g.d[0]).collect()
}

/// `y <- h_e(t, y, p)`, checked for non-finite values.
pub(crate) fn apply<Sys: OdeSystem, S: Real>(
    sys: &Sys,
    e: Event,
    t_s: S,
    y: &mut [S],
    p: &[S],
) -> Result<(), Error> {
    sys.apply_event(e, t_s, y, p);
    if let Some(c) = y.iter().position(|v| !v.value().is_finite()) {
        return Err(Error::Event {
            t: t_s.value(),
            event: e,
            component: Some(c),
            why: "the state change gave a non-finite value",
        });
    }
    Ok(())
}

/// State events at one time: the event time and the state there as functions of the inputs,
/// and the state the method restarts from (none for a terminal event).
pub(crate) struct StateJump<S> {
    /// `t* + dt*`: the value `t*`, the tangent `dt*/dx`.
    pub t: S,
    /// `y(t*) + f dt*`: the state at the event as a function of the inputs through `t*`.
    pub y: Vec<S>,
    /// `h(t*, y-, p) - f(t*, y+) dt*`, the state changes of `ks` applied in order.
    pub restart: Option<Vec<S>>,
}

/// The jump of the state events `ks` (all located at `t`, fired together; the event time's
/// derivative is the first one's) from `y_minus = y(t)`. `stop`: no state change.
///
/// `dt* = -(g_k(t, y, p) - value) / (∂g_k/∂t + ∂g_k/∂y · f)`: the implicit function theorem
/// for `g_k(t*(x), y(t*(x); x), p) = 0`, to first order (zero when nothing is differentiated).
pub(crate) fn state_jump<Sys: OdeSystem, S: Real>(
    sys: &Sys,
    t: f64,
    ks: &[usize],
    stop: bool,
    y_minus: &[S],
    p: &[S],
) -> Result<StateJump<S>, Error> {
    let n_g = sys.state_events().len();
    let mut y = y_minus.to_vec();
    let differentiated = !y_minus.iter().chain(p).all(|v| v.is_constant());
    let (pv, yv) = (values(p), values(y_minus));
    let mut dt = S::zero();
    if differentiated {
        let k = ks[0];
        let rate = rates(sys, t, &yv, &pv, n_g)[k];
        if !(rate.is_finite() && rate != 0.0) {
            return Err(Error::Event {
                t,
                event: Event::State(k),
                component: None,
                why: "dg/dt along the solution is zero or not finite at the crossing (a grazing \
                      event): the event time has no derivative",
            });
        }
        let mut gs = vec![S::zero(); n_g];
        sys.event_functions(S::cst(t), y_minus, p, &mut gs);
        dt = -(gs[k] - S::cst(gs[k].value())) / S::cst(rate);
        let mut f = vec![0.0; yv.len()];
        sys.rhs(t, &yv, &pv, &mut f);
        for (yi, &fi) in y.iter_mut().zip(&f) {
            *yi += S::cst(fi) * dt;
        }
    }
    let t_s = S::cst(t) + dt;
    if stop {
        return Ok(StateJump {
            t: t_s,
            y,
            restart: None,
        });
    }
    let mut plus = y.clone();
    for &k in ks {
        apply(sys, Event::State(k), t_s, &mut plus, p)?;
    }
    if differentiated {
        // back to the sensitivity at the fixed time t*: y+ - f(t*, y+) dt*
        let mut f_plus = vec![0.0; plus.len()];
        sys.rhs(t, &values(&plus), &pv, &mut f_plus);
        for (yi, &fi) in plus.iter_mut().zip(&f_plus) {
            *yi -= S::cst(fi) * dt;
        }
    }
    Ok(StateJump {
        t: t_s,
        y,
        restart: Some(plus),
    })
}

/// The time events `js` at `t`, applied in order to `y` (their times are constants: no
/// correction).
pub(crate) fn time_jump<Sys: OdeSystem, S: Real>(
    sys: &Sys,
    t: f64,
    js: &[usize],
    y: &[S],
    p: &[S],
) -> Result<Vec<S>, Error> {
    let mut plus = y.to_vec();
    for &j in js {
        apply(sys, Event::Time(j), S::cst(t), &mut plus, p)?;
    }
    Ok(plus)
}
