//! Ordinary code, written only against `num_traits::Float` (not `Real`), differentiated with
//! `ad_core::gradient` unchanged: a struct with a `&mut self` update loop, a branch on the
//! state, data-dependent `while` loops, recursion, trait objects, sorting.
//!
//! Each model runs on `f64` (its finite difference), on `Var` (through `gradient`) and on
//! `Dual<1>` (forward mode, one direction per input); where the gradient is easy to write down
//! it is checked against that too. Models record their control flow in `path` so the tests can
//! check that the finite-difference stencil stayed on the path that was differentiated.

use crate::common::{assert_all_close, assert_close, fd_directional};
use ad_core::{gradient, Dual};
use num_traits::Float;

/// A model written against `Float` alone. `path` records the control flow taken (branches,
/// orders) that must not change under the finite-difference perturbation.
trait Model {
    fn eval<T: Float>(&self, p: &[T], path: &mut Vec<usize>) -> T;
}

/// `T::from(c)`: a constant in generic `Float` code.
fn c<T: Float>(x: f64) -> T {
    T::from(x).unwrap()
}

/// Differentiates `m` at `p` by `gradient` and checks it: the value equals the `f64` value, the
/// gradient matches a fourth-order central difference (step `h max(1, |p_j|)`) to `tol` and
/// forward mode (`Dual<1>`) to 1e-12. Returns the gradient.
#[track_caller]
fn check_model<M: Model>(name: &str, m: &M, p: &[f64], h: f64, tol: f64) -> Vec<f64> {
    let mut path = Vec::new();
    let value = m.eval(p, &mut path);
    let (v, g) = gradient(|x| m.eval(x, &mut Vec::new()), p);
    assert_eq!(
        v, value,
        "{name}: the taped value differs from the f64 value"
    );

    for j in 0..p.len() {
        let mut e = vec![0.0; p.len()];
        e[j] = 1.0;
        let hj = h * p[j].abs().max(1.0);
        let f = |x: &[f64]| {
            let mut other = Vec::new();
            let y = m.eval(x, &mut other);
            assert_eq!(
                other, path,
                "{name}: the finite-difference stencil left the control-flow path at {x:?}"
            );
            vec![y]
        };
        let fd = fd_directional(f, p, &e, hj)[0];
        assert_close(&format!("{name}: d/dp{j} vs FD"), g[j], fd, tol);

        let duals: Vec<Dual<1>> = p
            .iter()
            .enumerate()
            .map(|(k, &x)| Dual::new(x, [if k == j { 1.0 } else { 0.0 }]))
            .collect();
        let d = m.eval(&duals, &mut Vec::new());
        assert_eq!(
            d.v, value,
            "{name}: the Dual value differs from the f64 value"
        );
        assert_close(&format!("{name}: d/dp{j} Dual vs Var"), d.d[0], g[j], 1e-12);
    }
    g
}

// ---------------------------------------------------------------- a struct with &mut self

/// A damped oscillator with a cubic spring, stepped in place by semi-implicit Euler.
struct Oscillator<T> {
    x: T,
    v: T,
    k: T,
    c: T,
    a: T,
}

impl<T: Float> Oscillator<T> {
    fn force(&self) -> T {
        -self.k * self.x - self.c * self.v - self.a * self.x.powi(3)
    }

    fn step(&mut self, dt: T) {
        self.v = self.v + self.force() * dt;
        self.x = self.x + self.v * dt;
    }

    fn energy(&self) -> T {
        (self.v * self.v + self.k * self.x * self.x) * c(0.5) + self.a * self.x.powi(4) * c(0.25)
    }
}

struct Simulate;

impl Model for Simulate {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        let mut o = Oscillator {
            x: p[0],
            v: T::zero(),
            k: p[1],
            c: p[2],
            a: p[3],
        };
        for _ in 0..400 {
            o.step(c(0.01));
        }
        o.energy() + o.x
    }
}

#[test]
fn struct_with_mut_self_update_loop() {
    for p in [
        [1.0, 4.0, 0.3, 0.5],
        [-0.5, 2.0, 0.05, 1.5],
        [2.0, 9.0, 1.0, 0.0],
    ] {
        check_model("oscillator", &Simulate, &p, 1e-4, 1e-7);
    }
}

/// Two steps of the oscillator by hand: the gradient of x_2 in x_0 is a product of the two
/// step Jacobians' first rows.
#[test]
fn struct_update_matches_the_analytic_derivative_of_two_steps() {
    struct TwoSteps;
    impl Model for TwoSteps {
        fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
            let mut o = Oscillator {
                x: p[0],
                v: p[1],
                k: c(3.0),
                c: c(0.5),
                a: T::zero(),
            };
            o.step(c(0.1));
            o.step(c(0.1));
            o.x
        }
    }
    // One step: v' = v + (-k x - c v) dt, x' = x + v' dt, i.e. (x', v') = A (x, v) with
    // A = [[1 - k dt^2, dt (1 - c dt)], [-k dt, 1 - c dt]].
    let (k, cc, dt) = (3.0, 0.5, 0.1);
    let a = [
        [1.0 - k * dt * dt, dt * (1.0 - cc * dt)],
        [-k * dt, 1.0 - cc * dt],
    ];
    let row = [
        a[0][0] * a[0][0] + a[0][1] * a[1][0],
        a[0][0] * a[0][1] + a[0][1] * a[1][1],
    ];
    let g = check_model("two steps", &TwoSteps, &[0.7, -0.2], 1e-3, 1e-9);
    assert_all_close("two steps: analytic", &g, &row, 1e-14);
}

// ---------------------------------------------------------------- a branch on the state

/// The oscillator with a thermostat: whenever the energy exceeds a limit the velocity is
/// scaled down. The branch is taken on the state, step by step.
struct Thermostat;

impl Model for Thermostat {
    fn eval<T: Float>(&self, p: &[T], path: &mut Vec<usize>) -> T {
        let mut o = Oscillator {
            x: p[0],
            v: p[1],
            k: p[2],
            c: c(0.0),
            a: c(0.2),
        };
        let limit = p[3];
        for step in 0..300 {
            o.step(c(0.01));
            if o.energy() > limit {
                o.v = o.v * c(0.97);
                path.push(step);
            }
        }
        o.x * o.x + o.v
    }
}

#[test]
fn branch_on_state() {
    let p = [1.3, 0.4, 2.0, 1.5];
    let mut path = Vec::new();
    Thermostat.eval(&p, &mut path);
    assert!(
        !path.is_empty() && path.len() < 300,
        "the test must take both branches: {path:?}"
    );
    check_model("thermostat", &Thermostat, &p, 1e-6, 1e-6);
    // The limit matters only through the branch: locally its derivative is exactly 0.
    let (_, g) = gradient(|x| Thermostat.eval(x, &mut Vec::new()), &p);
    assert_eq!(g[3], 0.0);
}

// ---------------------------------------------------------------- data-dependent while loops

/// Newton's iteration for sqrt(a), run until the residual is tiny.
fn newton_sqrt<T: Float>(a: T, iterations: &mut usize) -> T {
    // (a + 1) / 2 >= sqrt(a): Newton decreases monotonically from there.
    let mut y = (a + T::one()) * c(0.5);
    while (y * y - a).abs() > c::<T>(4.0) * T::epsilon() * a {
        y = (y + a / y) * c(0.5);
        *iterations += 1;
    }
    y
}

/// exp(x) by its Taylor series, summed until the terms no longer change the sum.
fn series_exp<T: Float>(x: T, terms: &mut usize) -> T {
    let (mut sum, mut term, mut k) = (T::one(), T::one(), 0.0);
    while term.abs() > T::epsilon() * c(1e-2) * sum.abs() {
        k += 1.0;
        term = term * x / c(k);
        sum = sum + term;
        *terms += 1;
    }
    sum
}

struct WhileLoops;

impl Model for WhileLoops {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        let (mut n1, mut n2) = (0, 0);
        newton_sqrt(p[0], &mut n1) * series_exp(p[1], &mut n2)
    }
}

#[test]
fn data_dependent_while_loops() {
    for p in [[2.0, 0.5], [0.3, -1.2], [50.0, 2.5], [1.0, 0.0]] {
        let g = check_model("while loops", &WhileLoops, &p, 1e-3, 1e-8);
        let (s, e) = (p[0].sqrt(), p[1].exp());
        assert_all_close("while loops: analytic", &g, &[e / (2.0 * s), s * e], 1e-13);
    }
    // The loops really are data dependent.
    let (mut a, mut b) = (0, 0);
    newton_sqrt(2.0, &mut a);
    newton_sqrt(50.0, &mut b);
    assert_ne!(a, b);
}

// ---------------------------------------------------------------- recursion

/// The continued fraction 1 + x / (1 + x / (1 + ...)) to the given depth; it converges to
/// (1 + sqrt(1 + 4x)) / 2, whose derivative is 1 / sqrt(1 + 4x).
fn continued_fraction<T: Float>(x: T, depth: usize) -> T {
    if depth == 0 {
        T::one()
    } else {
        T::one() + x / continued_fraction(x, depth - 1)
    }
}

/// Adaptive Simpson quadrature of `f` on `[a, b]`: recursion whose depth depends on the data.
#[allow(clippy::too_many_arguments)]
fn simpson<T: Float>(
    f: &dyn Fn(T) -> T,
    a: T,
    b: T,
    fa: T,
    fm: T,
    fb: T,
    whole: T,
    tol: T,
    path: &mut Vec<usize>,
) -> T {
    let m = (a + b) * c(0.5);
    let (lm, rm) = ((a + m) * c(0.5), (m + b) * c(0.5));
    let (flm, frm) = (f(lm), f(rm));
    let left = (m - a) / c(6.0) * (fa + flm * c(4.0) + fm);
    let right = (b - m) / c(6.0) * (fm + frm * c(4.0) + fb);
    let delta = left + right - whole;
    if delta.abs() <= tol * c(15.0) {
        path.push(1);
        left + right + delta / c(15.0)
    } else {
        path.push(0);
        simpson(f, a, m, fa, flm, fm, left, tol * c(0.5), path)
            + simpson(f, m, b, fm, frm, fb, right, tol * c(0.5), path)
    }
}

/// int_0^1 (exp(p0 t) + p1 t^2) dt by adaptive Simpson.
struct Quadrature;

impl Model for Quadrature {
    fn eval<T: Float>(&self, p: &[T], path: &mut Vec<usize>) -> T {
        let f = |t: T| (p[0] * t).exp() + p[1] * t * t;
        let (a, b) = (T::zero(), T::one());
        let (fa, fm, fb) = (f(a), f(c(0.5)), f(b));
        let whole = (fa + fm * c(4.0) + fb) / c(6.0);
        simpson(&f, a, b, fa, fm, fb, whole, c(1e-10), path)
    }
}

struct ContinuedFraction;

impl Model for ContinuedFraction {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        continued_fraction(p[0], 80)
    }
}

#[test]
fn recursion() {
    for x in [0.2, 1.0, 3.0] {
        let g = check_model("continued fraction", &ContinuedFraction, &[x], 1e-3, 1e-8);
        assert_close(
            "continued fraction: analytic",
            g[0],
            1.0 / (1.0 + 4.0 * x).sqrt(),
            1e-12,
        );
    }
    for p in [[1.5, 2.0], [-2.0, 0.5], [4.0, -1.0]] {
        let mut path = Vec::new();
        Quadrature.eval(&p, &mut path);
        assert!(path.len() > 3, "the quadrature must recurse: {path:?}");
        let g = check_model("adaptive Simpson", &Quadrature, &p, 1e-5, 1e-7);
        let a: f64 = p[0];
        let d_a = (a.exp() * (a - 1.0) + 1.0) / (a * a);
        assert_all_close("adaptive Simpson: analytic", &g, &[d_a, 1.0 / 3.0], 1e-8);
    }
}

// ---------------------------------------------------------------- trait objects

/// A force law, used through `Box<dyn Force<T>>`.
trait Force<T> {
    fn force(&self, x: T, v: T) -> T;
}

struct Spring<T>(T);
struct Damper<T>(T);
struct Hardening<T>(T);

impl<T: Float> Force<T> for Spring<T> {
    fn force(&self, x: T, _: T) -> T {
        -self.0 * x
    }
}
impl<T: Float> Force<T> for Damper<T> {
    fn force(&self, _: T, v: T) -> T {
        -self.0 * v
    }
}
impl<T: Float> Force<T> for Hardening<T> {
    fn force(&self, x: T, _: T) -> T {
        -self.0 * x * x * x
    }
}

fn forces<'a, T: Float + 'a>(p: &[T]) -> Vec<Box<dyn Force<T> + 'a>> {
    vec![
        Box::new(Spring(p[0])),
        Box::new(Damper(p[1])),
        Box::new(Hardening(p[2])),
    ]
}

/// The total force at a fixed state: `-k x - c v - a x^3`, gradient `(-x, -v, -x^3)`.
struct TotalForce;

impl Model for TotalForce {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        let (x, v) = (c(0.7), c(-1.3));
        forces(p)
            .iter()
            .map(|f| f.force(x, v))
            .fold(T::zero(), |a, b| a + b)
    }
}

/// A trajectory under the boxed forces.
struct Trajectory;

impl Model for Trajectory {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        let laws = forces(p);
        let (mut x, mut v) = (T::one(), T::zero());
        let dt = c::<T>(0.02);
        for _ in 0..200 {
            let f = laws
                .iter()
                .fold(T::zero(), |acc, law| acc + law.force(x, v));
            v = v + f * dt;
            x = x + v * dt;
        }
        x
    }
}

#[test]
fn box_dyn_trait_objects() {
    let g = check_model("boxed forces", &TotalForce, &[2.0, 0.5, 1.0], 1e-3, 1e-9);
    assert_all_close("boxed forces: analytic", &g, &[-0.7, 1.3, -0.343], 1e-15);
    check_model(
        "boxed trajectory",
        &Trajectory,
        &[2.0, 0.5, 1.0],
        1e-4,
        1e-7,
    );
}

// ---------------------------------------------------------------- sorting

/// A rank-weighted sum (an L-statistic) of `p`: sort by value, weight by rank.
struct RankWeighted;

const WEIGHTS: [f64; 6] = [0.0, 1.0, 2.0, 4.0, 8.0, 0.0];

impl Model for RankWeighted {
    fn eval<T: Float>(&self, p: &[T], path: &mut Vec<usize>) -> T {
        let mut v: Vec<(T, usize)> = p.iter().copied().zip(0..).collect();
        v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        path.extend(v.iter().map(|&(_, i)| i));
        v.iter()
            .zip(WEIGHTS)
            .map(|(&(x, _), w)| x * x * c(w))
            .fold(T::zero(), |a, b| a + b)
    }
}

/// The trimmed mean: sort a copy of the values, drop the smallest and largest.
struct TrimmedMean;

impl Model for TrimmedMean {
    fn eval<T: Float>(&self, p: &[T], _: &mut Vec<usize>) -> T {
        let mut v = p.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let inner = &v[1..v.len() - 1];
        inner.iter().fold(T::zero(), |a, &b| a + b) / c(inner.len() as f64)
    }
}

#[test]
fn sorting_by_value() {
    let p = [0.3, -1.2, 2.5, 0.9, -0.4, 1.7];
    let g = check_model("rank-weighted", &RankWeighted, &p, 1e-3, 1e-9);
    // Ranks of p: -1.2 (0), -0.4 (1), 0.3 (2), 0.9 (3), 1.7 (4), 2.5 (5).
    let rank = [2, 0, 5, 3, 1, 4];
    let want: Vec<f64> = (0..6).map(|j| 2.0 * p[j] * WEIGHTS[rank[j]]).collect();
    assert_all_close("rank-weighted: analytic", &g, &want, 1e-15);

    let g = check_model("trimmed mean", &TrimmedMean, &p, 1e-3, 1e-9);
    let want = [0.25, 0.0, 0.0, 0.25, 0.25, 0.25];
    assert_all_close("trimmed mean: analytic", &g, &want, 1e-15);
}
