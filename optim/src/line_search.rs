//! The More-Thuente line search (More & Thuente 1994, "Line search algorithms with guaranteed
//! sufficient decrease", ACM TOMS 20; a port of MINPACK-2's `dcsrch`/`dcstep`, the search used
//! by L-BFGS-B). It finds a step `a` with
//! `phi(a) <= phi(0) + c1 a phi'(0)` and `|phi'(a)| <= c2 |phi'(0)|` (strong Wolfe) by
//! safeguarded cubic and quadratic interpolation inside a shrinking bracket.

use crate::options::LineSearch;

/// How a line search ended. In every case the last point evaluated is at `step`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Strong Wolfe conditions hold.
    Converged,
    /// Stopped early (rounding, bracket too small, at stpmax/stpmin); the point may still
    /// decrease the value.
    Warning(&'static str),
    /// The evaluation budget ran out.
    MaxEvaluations,
}

/// Result of one line search.
#[derive(Clone, Debug)]
pub(crate) struct Search {
    pub outcome: Outcome,
    /// Step length of the last evaluated point.
    pub step: f64,
    /// Value at `step`.
    pub value: f64,
}

const XTOL: f64 = 0.1;
const XTRAPL: f64 = 1.1;
const XTRAPU: f64 = 4.0;

/// Runs the search on `phi(a) -> (value, derivative)` from `(f0, g0 = phi'(0) < 0)` with the
/// first trial `stp` and `0 < a <= stpmax`. A non-finite value or derivative shrinks the step
/// towards the best point seen (objectives that blow up far from the start are common in
/// fitting).
pub(crate) fn more_thuente(
    mut phi: impl FnMut(f64) -> (f64, f64),
    f0: f64,
    g0: f64,
    mut stp: f64,
    stpmax: f64,
    p: &LineSearch,
) -> Search {
    debug_assert!(g0 < 0.0);
    let (ftol, gtol) = (p.c1, p.c2);
    let stpmin = 0.0;
    stp = stp.min(stpmax);
    let mut brackt = false;
    let mut stage = 1;
    let gtest = ftol * g0;
    let mut width = stpmax - stpmin;
    let mut width1 = width / 0.5;
    let (mut stx, mut fx, mut gx) = (0.0, f0, g0);
    let (mut sty, mut fy, mut gy) = (0.0, f0, g0);
    let mut stmin = 0.0;
    let mut stmax = stp + XTRAPU * stp;
    let mut stpmax = stpmax;
    let mut evaluations = 0;
    loop {
        let (f, g) = phi(stp);
        evaluations += 1;
        let done = |outcome, value, step| Search {
            outcome,
            step,
            value,
        };
        if !(f.is_finite() && g.is_finite()) {
            if evaluations >= p.max_evaluations {
                return done(Outcome::MaxEvaluations, f, stp);
            }
            // Treat as "far too long": cut back towards the best point and cap the search there.
            stpmax = stx + 0.5 * (stp - stx);
            stp = stpmax;
            stmax = stmax.min(stpmax);
            if stp <= 1e-300 {
                return done(
                    Outcome::Warning("non-finite values down to a zero step"),
                    f,
                    stp,
                );
            }
            continue;
        }
        let ftest = f0 + stp * gtest;
        if stage == 1 && f <= ftest && g >= 0.0 {
            stage = 2;
        }
        if f <= ftest && g.abs() <= gtol * (-g0) {
            return done(Outcome::Converged, f, stp);
        }
        let warning = if brackt && (stp <= stmin || stp >= stmax) {
            Some("rounding errors prevent progress")
        } else if brackt && stmax - stmin <= XTOL * stmax {
            Some("bracket below xtol")
        } else if stp == stpmax && f <= ftest && g <= gtest {
            Some("step at the largest allowed length")
        } else if stp == stpmin && (f > ftest || g >= gtest) {
            Some("step at zero")
        } else {
            None
        };
        if let Some(w) = warning {
            return done(Outcome::Warning(w), f, stp);
        }
        if evaluations >= p.max_evaluations {
            return done(Outcome::MaxEvaluations, f, stp);
        }
        let mut bracket = Bracket {
            stx,
            fx,
            dx: gx,
            sty,
            fy,
            dy: gy,
            brackt,
        };
        if stage == 1 && f <= fx && f > ftest {
            // Modified function psi(a) = phi(a) - phi(0) - gtest a while no point satisfies
            // the sufficient decrease condition with a positive derivative.
            bracket.fx -= stx * gtest;
            bracket.fy -= sty * gtest;
            bracket.dx -= gtest;
            bracket.dy -= gtest;
            stp = bracket.step(stp, f - stp * gtest, g - gtest, stmin, stmax);
            bracket.fx += bracket.stx * gtest;
            bracket.fy += bracket.sty * gtest;
            bracket.dx += gtest;
            bracket.dy += gtest;
        } else {
            stp = bracket.step(stp, f, g, stmin, stmax);
        }
        Bracket {
            stx,
            fx,
            dx: gx,
            sty,
            fy,
            dy: gy,
            brackt,
        } = bracket;
        if brackt {
            if (sty - stx).abs() >= 0.66 * width1 {
                stp = stx + 0.5 * (sty - stx);
            }
            width1 = width;
            width = (sty - stx).abs();
            stmin = stx.min(sty);
            stmax = stx.max(sty);
        } else {
            stmin = stp + XTRAPL * (stp - stx);
            stmax = stp + XTRAPU * (stp - stx);
        }
        stp = stp.clamp(stpmin, stpmax);
        if brackt && (stp <= stmin || stp >= stmax || stmax - stmin <= XTOL * stmax) {
            stp = stx;
        }
    }
}

/// The interval of uncertainty of `dcstep`: `stx` is the best step so far, `sty` the other end.
struct Bracket {
    stx: f64,
    fx: f64,
    dx: f64,
    sty: f64,
    fy: f64,
    dy: f64,
    brackt: bool,
}

impl Bracket {
    /// MINPACK-2 `dcstep`: updates the interval with the trial `(stp, fp, dp)` and returns the
    /// next trial step, safeguarded in `[stpmin, stpmax]`.
    fn step(&mut self, stp: f64, fp: f64, dp: f64, stpmin: f64, stpmax: f64) -> f64 {
        let (stx, fx, dx) = (self.stx, self.fx, self.dx);
        let (sty, fy, dy) = (self.sty, self.fy, self.dy);
        let sgnd = dp * dx.signum();
        let cubic_gamma = |theta: f64, a: f64, b: f64, clamp: bool| {
            let s = theta.abs().max(a.abs()).max(b.abs());
            let disc = (theta / s).powi(2) - (a / s) * (b / s);
            s * if clamp { disc.max(0.0) } else { disc }.sqrt()
        };
        let stpf;
        if fp > fx {
            // Case 1: higher value; the minimum is bracketed.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let mut gamma = cubic_gamma(theta, dx, dp, true);
            if stp < stx {
                gamma = -gamma;
            }
            let p = (gamma - dx) + theta;
            let q = ((gamma - dx) + gamma) + dp;
            let stpc = stx + (p / q) * (stp - stx);
            let stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
            stpf = if (stpc - stx).abs() < (stpq - stx).abs() {
                stpc
            } else {
                stpc + (stpq - stpc) / 2.0
            };
            self.brackt = true;
        } else if sgnd < 0.0 {
            // Case 2: lower value, derivatives of opposite sign; bracketed.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let mut gamma = cubic_gamma(theta, dx, dp, true);
            if stp > stx {
                gamma = -gamma;
            }
            let p = (gamma - dp) + theta;
            let q = ((gamma - dp) + gamma) + dx;
            let stpc = stp + (p / q) * (stx - stp);
            let stpq = stp + (dp / (dp - dx)) * (stx - stp);
            stpf = if (stpc - stp).abs() > (stpq - stp).abs() {
                stpc
            } else {
                stpq
            };
            self.brackt = true;
        } else if dp.abs() < dx.abs() {
            // Case 3: lower value, same sign, derivative decreasing in magnitude.
            let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
            let mut gamma = cubic_gamma(theta, dx, dp, true);
            if stp > stx {
                gamma = -gamma;
            }
            let p = (gamma - dp) + theta;
            let q = (gamma + (dx - dp)) + gamma;
            let r = p / q;
            let stpc = if r < 0.0 && gamma != 0.0 {
                stp + r * (stx - stp)
            } else if stp > stx {
                stpmax
            } else {
                stpmin
            };
            let stpq = stp + (dp / (dp - dx)) * (stx - stp);
            if self.brackt {
                let mut s = if (stpc - stp).abs() < (stpq - stp).abs() {
                    stpc
                } else {
                    stpq
                };
                s = if stp > stx {
                    s.min(stp + 0.66 * (sty - stp))
                } else {
                    s.max(stp + 0.66 * (sty - stp))
                };
                stpf = s;
            } else {
                let s = if (stpc - stp).abs() > (stpq - stp).abs() {
                    stpc
                } else {
                    stpq
                };
                stpf = s.clamp(stpmin, stpmax);
            }
        } else {
            // Case 4: lower value, same sign, derivative not decreasing.
            stpf = if self.brackt {
                let theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
                let mut gamma = cubic_gamma(theta, dy, dp, false);
                if stp > sty {
                    gamma = -gamma;
                }
                let p = (gamma - dp) + theta;
                let q = ((gamma - dp) + gamma) + dy;
                stp + (p / q) * (sty - stp)
            } else if stp > stx {
                stpmax
            } else {
                stpmin
            };
        }
        if fp > fx {
            self.sty = stp;
            self.fy = fp;
            self.dy = dp;
        } else {
            if sgnd < 0.0 {
                self.sty = stx;
                self.fy = fx;
                self.dy = dx;
            }
            self.stx = stp;
            self.fx = fp;
            self.dx = dp;
        }
        stpf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratic_converges_near_minimiser() {
        // phi(a) = (a - 3)^2: minimiser 3.
        let s = more_thuente(
            |a| ((a - 3.0).powi(2), 2.0 * (a - 3.0)),
            9.0,
            -6.0,
            1.0,
            1e10,
            &LineSearch {
                c1: 1e-4,
                c2: 0.1,
                max_evaluations: 20,
            },
        );
        assert_eq!(s.outcome, Outcome::Converged);
        assert!((s.step - 3.0).abs() < 0.3, "{s:?}");
    }

    #[test]
    fn non_finite_values_shrink_the_step() {
        // Finite only for a < 2; minimiser at 1.
        let s = more_thuente(
            |a| {
                if a < 2.0 {
                    ((a - 1.0).powi(2), 2.0 * (a - 1.0))
                } else {
                    (f64::NAN, f64::NAN)
                }
            },
            1.0,
            -2.0,
            100.0,
            1e10,
            &LineSearch::default(),
        );
        assert!(s.value < 1.0 && s.step < 2.0, "{s:?}");
    }
}
