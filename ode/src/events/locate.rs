//! Locating a zero crossing inside one step: the Illinois variant of regula falsi (Dowell &
//! Jarratt 1971) on the method's dense output, to machine precision in `t`.

use super::Direction;

/// Whether `g` going from `g_prev` to `g_new` over one step is a crossing that fires an event
/// with this direction. A function that starts a step exactly at zero (at `t0`, or just after
/// its own event) does not fire in that step: its sign is not known yet.
pub(crate) fn crosses(g_prev: f64, g_new: f64, dir: Direction) -> bool {
    let rising = g_prev < 0.0 && g_new >= 0.0;
    let falling = g_prev > 0.0 && g_new <= 0.0;
    match dir {
        Direction::Rising => rising,
        Direction::Falling => falling,
        Direction::Either => rising || falling,
    }
}

/// A located crossing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Root {
    /// The time: the end of the final bracket on the side where `g` has its new sign (or an
    /// exact zero).
    pub t: f64,
    /// `|g|` at the other end of the final bracket: the size of `g` that rounding in `t`
    /// cannot resolve.
    pub g_resolution: f64,
}

/// The root of `g` in `[a, b]`, where `g(a) = ga` and `g(b) = gb` have opposite signs (or
/// `gb == 0`): Illinois steps (the retained end's value halved when the same end is kept
/// twice), bisection when a secant point falls outside the bracket or after 60 iterations,
/// until the bracket is at most 4 ulp of `t` wide. Returns the end with `g`'s new sign, so `g`
/// there has the sign it has after the crossing. Errors of `g` pass through.
pub(crate) fn illinois<E>(
    mut a: f64,
    mut ga: f64,
    mut b: f64,
    mut gb: f64,
    mut g: impl FnMut(f64) -> Result<f64, E>,
) -> Result<Root, E> {
    // `fa`, `fb`: the values the secant uses (halved by the Illinois rule); `ga`, `gb`: true.
    let (mut fa, mut fb) = (ga, gb);
    let mut kept = 0i8; // +1: `a` kept last time, -1: `b` kept last time
    for iter in 0..200 {
        if gb == 0.0 {
            break;
        }
        let width = b - a;
        if width <= 4.0 * f64::EPSILON * a.abs().max(b.abs()) || width <= f64::MIN_POSITIVE {
            break;
        }
        let mut c = if iter < 60 {
            (a * fb - b * fa) / (fb - fa)
        } else {
            f64::NAN
        };
        if !(c > a && c < b) {
            c = a + 0.5 * width;
        }
        if !(c > a && c < b) {
            break; // no floating-point number strictly inside
        }
        let gc = g(c)?;
        if gc == 0.0 {
            return Ok(Root {
                t: c,
                g_resolution: 0.0,
            });
        }
        if (gc > 0.0) == (gb > 0.0) {
            // the root is in [a, c]: c replaces b, a is kept
            (b, gb, fb) = (c, gc, gc);
            if kept == 1 {
                fa *= 0.5;
            }
            kept = 1;
        } else {
            (a, ga, fa) = (c, gc, gc);
            if kept == -1 {
                fb *= 0.5;
            }
            kept = -1;
        }
    }
    Ok(Root {
        t: b,
        g_resolution: if gb == 0.0 { 0.0 } else { ga.abs() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(a: f64, b: f64, g: impl Fn(f64) -> f64) -> Root {
        illinois::<()>(a, g(a), b, g(b), |t| Ok(g(t))).unwrap()
    }

    #[test]
    fn crossings_respect_the_direction_and_a_zero_start() {
        assert!(crosses(-1.0, 1.0, Direction::Rising));
        assert!(!crosses(-1.0, 1.0, Direction::Falling));
        assert!(crosses(1.0, 0.0, Direction::Falling));
        assert!(crosses(1.0, -1.0, Direction::Either));
        assert!(!crosses(0.0, 1.0, Direction::Either));
        assert!(!crosses(0.0, -1.0, Direction::Either));
        assert!(!crosses(1.0, 2.0, Direction::Either));
    }

    #[test]
    fn roots_to_machine_precision_on_the_new_side() {
        // sqrt(2) as the root of t^2 - 2: the returned end has g >= 0 and is within 4 ulp
        let r = root(1.0, 2.0, |t| t * t - 2.0);
        assert!(r.t * r.t - 2.0 >= 0.0);
        assert!((r.t - 2f64.sqrt()).abs() <= 4.0 * f64::EPSILON * 2f64.sqrt());
        // falling: cos on [0, 3], root pi/2, the returned end has g <= 0
        let r = root(0.0, 3.0, f64::cos);
        assert!(r.t.cos() <= 0.0);
        assert!((r.t - std::f64::consts::FRAC_PI_2).abs() <= 8.0 * f64::EPSILON);
        // a very flat function (regula falsi's slow case): still converges
        let r = root(0.0, 1.0, |t| (t - 0.3f64).powi(9) + 1e-30 * (t - 0.3));
        assert!((r.t - 0.3).abs() < 1e-3, "{r:?}");
        // an exact zero at the end of the step
        let r = root(0.0, 1.0, |t| t - 1.0);
        assert_eq!(r.t, 1.0);
        // a step function: the jump's location to the bracket width
        let r = root(0.0, 1.0, |t| if t < 0.7 { -1.0 } else { 1.0 });
        assert!((r.t - 0.7).abs() <= 4.0 * f64::EPSILON, "{r:?}");
    }

    #[test]
    fn errors_of_g_pass_through() {
        let e = illinois(0.0, -1.0, 1.0, 1.0, |_| Err("nan"));
        assert_eq!(e, Err("nan"));
    }
}
