//! The shared gradient checker, used by the tests of every crate in the workspace.
//!
//! [`check_function`] draws a random tangent `t` and cotangent `c` and compares three numbers
//! that must agree: `c . (J t)` from forward mode, `(J^T c) . t` from reverse mode, and
//! `c . (f(x + h t) - f(x - h t)) / 2h` from a fourth-order central difference of the `f64`
//! function. One check costs one finite difference whatever the dimension (JAX's `check_vjp`).

use crate::drivers::{jvp, vjp};
use crate::function::Function;

/// A small deterministic random generator (SplitMix64) for tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// A vector of `n` uniform numbers in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// The three estimates of `c^T J t` compared by [`check_function`].
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// `c . (f(x + h t) - f(x - h t)) / 2h`, fourth-order central difference on `f64`.
    pub finite_difference: f64,
    /// `(J^T c) . t` from reverse mode (`Var`).
    pub reverse: f64,
    /// `c . (J t)` from forward mode (`Dual`).
    pub forward: f64,
    /// The round-off level of the finite difference: `eps (|g(2)| + 8|g(1)| + 8|g(-1)| +
    /// |g(-2)|) / 12h` for `g(s) = c . f(x + s h t)`. Below it the difference cannot tell a
    /// derivative from zero.
    pub roundoff: f64,
}

impl Check {
    /// The largest disagreement of reverse and forward mode with the finite difference,
    /// relative to `max(|fd|, floor)`: `floor` is the absolute level below which a
    /// disagreement counts as absolute, not relative. The caller sets it (the derivative's
    /// expected size, or [`Check::roundoff`] times a margin).
    pub fn error(&self, floor: f64) -> f64 {
        let scale = self.finite_difference.abs().max(floor);
        ((self.reverse - self.finite_difference).abs())
            .max((self.forward - self.finite_difference).abs())
            / scale
    }

    /// Panics with the numbers unless [`Check::error`] is at most `rtol` with the floor
    /// `10 roundoff / rtol` ([`Check::roundoff`]): relative down to the size where ten times
    /// the finite difference's round-off would exceed `rtol`, absolute (within ten round-off
    /// levels) below. So a 100% error on a derivative of size 1e-7 fails wherever the
    /// difference resolves 1e-7 (with a floor of 1 it would pass at `rtol = 1e-6`). Use
    /// [`Check::assert_close_with_floor`] to set the floor.
    #[track_caller]
    pub fn assert_close(&self, rtol: f64) {
        self.assert_close_with_floor(rtol, 10.0 * self.roundoff / rtol);
    }

    /// Panics with the numbers unless [`Check::error`] with the given absolute `floor` is at
    /// most `rtol` (and finite).
    #[track_caller]
    pub fn assert_close_with_floor(&self, rtol: f64, floor: f64) {
        let e = self.error(floor.max(f64::MIN_POSITIVE));
        assert!(
            e <= rtol && e.is_finite(),
            "gradient check failed: error {e:.3e} > {rtol:.1e} relative to max(|fd|, {floor:.1e}) \
             ({self:?})"
        );
    }
}

/// Checks forward and reverse mode of `f` at `x` against a central finite difference along a
/// random tangent, contracted with a random cotangent (both from `seed`, entries in [-1, 1]).
///
/// The step is `h = 1e-3 max(1, |x|_inf)`; the stencil
/// `(-f(x+2ht) + 8 f(x+ht) - 8 f(x-ht) + f(x-2ht)) / 12h` has error O(h^4), so smooth
/// functions agree to about 1e-9 relative.
pub fn check_function<F: Function>(f: &F, x: &[f64], seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let t = rng.vec(x.len(), -1.0, 1.0);
    let y = f.eval(x);
    let c = rng.vec(y.len(), -1.0, 1.0);
    let h = 1e-3 * x.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let at = |s: f64| -> f64 {
        let xs: Vec<f64> = x.iter().zip(&t).map(|(&xi, &ti)| xi + s * h * ti).collect();
        f.eval(&xs).iter().zip(&c).map(|(yi, ci)| yi * ci).sum()
    };
    let g = [at(2.0), at(1.0), at(-1.0), at(-2.0)];
    let finite_difference = (-g[0] + 8.0 * g[1] - 8.0 * g[2] + g[3]) / (12.0 * h);
    let roundoff =
        f64::EPSILON * (g[0].abs() + 8.0 * g[1].abs() + 8.0 * g[2].abs() + g[3].abs()) / (12.0 * h);
    let (_, x_bar) = vjp(f, x, &c);
    let reverse = x_bar.iter().zip(&t).map(|(a, b)| a * b).sum();
    let (_, y_dot) = jvp(f, x, &t);
    let forward = y_dot.iter().zip(&c).map(|(a, b)| a * b).sum();
    Check {
        finite_difference,
        reverse,
        forward,
        roundoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Real;

    /// `f(x) = 1e-7 x0 x1`: a small derivative, which a floor of 1 would not check at all.
    struct Tiny;
    impl Function for Tiny {
        fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
            vec![x[0] * x[1] * 1e-7]
        }
    }

    #[test]
    fn a_small_derivative_is_checked_relatively() {
        let c = check_function(&Tiny, &[0.7, -1.3], 3);
        assert!(c.finite_difference.abs() < 1e-6 && c.finite_difference != 0.0);
        c.assert_close(1e-8);
        // the same numbers with reverse mode 100% off
        let wrong = Check {
            reverse: 2.0 * c.reverse,
            ..c
        };
        assert!(wrong.error(1.0) < 1e-6, "a floor of 1 hides it");
        let caught = std::panic::catch_unwind(|| wrong.assert_close(1e-6));
        assert!(caught.is_err(), "assert_close let a 100% error through");
        let caught = std::panic::catch_unwind(|| wrong.assert_close_with_floor(1e-6, 1e-12));
        assert!(caught.is_err());
    }

    #[test]
    fn round_off_sets_the_default_floor() {
        // a zero derivative of a large function: the difference is round-off only
        struct Flat;
        impl Function for Flat {
            fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
                vec![S::cst(1e8) + x[0] * 0.0]
            }
        }
        let c = check_function(&Flat, &[1.0], 5);
        assert!(c.roundoff > 0.0);
        c.assert_close(1e-6);
    }
}
