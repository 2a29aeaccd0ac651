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
}

impl Check {
    /// The largest relative disagreement of reverse and forward mode with the finite
    /// difference, relative to `max(|fd|, floor)`.
    pub fn error(&self, floor: f64) -> f64 {
        let scale = self.finite_difference.abs().max(floor);
        ((self.reverse - self.finite_difference).abs())
            .max((self.forward - self.finite_difference).abs())
            / scale
    }

    /// Panics with the three numbers unless [`Check::error`] with floor 1 is at most `tol`.
    #[track_caller]
    pub fn assert_close(&self, tol: f64) {
        let e = self.error(1.0);
        assert!(
            e <= tol && e.is_finite(),
            "gradient check failed: relative error {e:.3e} > {tol:.1e} ({self:?})"
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
    let finite_difference = (-at(2.0) + 8.0 * at(1.0) - 8.0 * at(-1.0) + at(-2.0)) / (12.0 * h);
    let (_, x_bar) = vjp(f, x, &c);
    let reverse = x_bar.iter().zip(&t).map(|(a, b)| a * b).sum();
    let (_, y_dot) = jvp(f, x, &t);
    let forward = y_dot.iter().zip(&c).map(|(a, b)| a * b).sum();
    Check {
        finite_difference,
        reverse,
        forward,
    }
}
