//! # Differentiating ordinary code
//!
//! A driven pendulum with quadratic air drag and stiff end stops, integrated by a hand-written
//! adaptive Dormand–Prince 5(4) method (error control, step rejection, first-same-as-last),
//! and a loss: the distance of the bob to a target at the final time.
//!
//! The model and the integrator below are written only against `num_traits::Float`: no Wengert
//! type appears in them. They contain what real simulation code contains — a struct updated
//! through `&mut self`, a branch on the state (the end stops), a data-dependent `while` loop
//! (integrate until `t_end`) around a `loop` that retries rejected steps, step sizes chosen from
//! the state's error estimate. The same source then runs on `f64` (the primal), on `Var` (reverse mode: the
//! tape records what ran) and on `Dual<5>` (forward mode), and a central finite difference
//! checks both.
//!
//! ```text
//! cargo run --release --example ordinary_code
//! cargo test --release --example ordinary_code     # its tests (also run by the workspace tests)
//! ```

use std::time::{Duration, Instant};

use num_traits::Float;
use wengert::{Dual, Tape};

// ------------------------------------------------------------------ the model (Float only)

/// Number of parameters the loss is differentiated with respect to.
pub const N_PARAMS: usize = 5;
/// Their names, in order.
pub const PARAM_NAMES: [&str; N_PARAMS] = [
    "g/L [1/s^2]",
    "damping [1/s]",
    "drag [1/rad]",
    "drive amp [1/s^2]",
    "drive freq [1/s]",
];
/// The point at which the gradient is computed.
pub const P0: [f64; N_PARAMS] = [9.81, 0.8, 0.08, 4.0, 2.2];

/// Fixed settings (constants of the model, not differentiated).
pub const THETA0: f64 = 1.2;
pub const OMEGA0: f64 = 1.5;
pub const STOP_ANGLE: f64 = 1.3;
pub const STOP_STIFFNESS: f64 = 400.0;
pub const T_END: f64 = 10.0;
pub const TARGET: (f64, f64) = (0.5, -0.8);
pub const RTOL: f64 = 1e-11;
pub const ATOL: f64 = 1e-11;
const H0: f64 = 1e-3;

/// An `f64` constant in any float type (for `Var` and `Dual` it carries no derivative).
#[inline(always)]
fn c<T: Float>(x: f64) -> T {
    T::from(x).expect("every Float represents an f64 constant")
}

/// `theta'' = -(g/L) sin theta - c theta' - d theta' |theta'| + A cos(w t) + stop force`, where
/// the stop force is a stiff one-sided spring acting only while `|theta| > STOP_ANGLE`.
pub struct Pendulum<T> {
    pub g_over_l: T,
    pub damping: T,
    pub drag: T,
    pub drive_amp: T,
    pub drive_freq: T,
}

impl<T: Float> Pendulum<T> {
    pub fn from_params(p: &[T]) -> Self {
        assert_eq!(p.len(), N_PARAMS, "the pendulum has {N_PARAMS} parameters");
        Pendulum {
            g_over_l: p[0],
            damping: p[1],
            drag: p[2],
            drive_amp: p[3],
            drive_freq: p[4],
        }
    }

    /// The state's time derivative `(theta', omega')` at time `t`.
    pub fn rhs(&self, t: T, [theta, omega]: [T; 2]) -> [T; 2] {
        let mut acc =
            -self.g_over_l * theta.sin() - self.damping * omega - self.drag * omega * omega.abs()
                + self.drive_amp * (self.drive_freq * t).cos();
        let overshoot = theta.abs() - c(STOP_ANGLE);
        if overshoot > T::zero() {
            // Pressing into an end stop: a stiff spring pushes back.
            acc = acc - theta.signum() * overshoot * c(STOP_STIFFNESS);
        }
        [omega, acc]
    }
}

/// Counters of what the adaptive integrator did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub accepted: usize,
    pub rejected: usize,
    pub rhs_evals: usize,
    /// Accepted steps that ended with the pendulum inside an end stop.
    pub in_contact: usize,
}

/// The Dormand–Prince 5(4) tableau: stage times `C`, coupling rows `A` (the last row is the
/// 5th-order solution, whose derivative is the next step's first stage), and the weights `E` of
/// the error estimate (5th- minus 4th-order solution).
const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A: [&[f64]; 7] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
    &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// `y + h * sum_j a_j k_j` (zero coefficients skipped).
fn combine<T: Float>(y: [T; 2], h: T, a: &[f64], k: &[[T; 2]]) -> [T; 2] {
    std::array::from_fn(|i| {
        let mut s = T::zero();
        for (&aj, kj) in a.iter().zip(k) {
            if aj != 0.0 {
                s = s + kj[i] * c(aj);
            }
        }
        y[i] + h * s
    })
}

/// An adaptive Dormand–Prince 5(4) integrator; its state is updated in place.
///
/// The state `y` has the model's scalar type; time and step size are plain `f64`. The step size
/// is a numerical choice, not part of the model: the controller reads the error estimate's
/// *value*, so no derivative flows through it, and the gradient is that of the solution for the
/// steps that were taken. (Letting derivatives flow through the controller is possible, but the
/// result is the derivative of the discretization error: tiny in value, wildly varying in the
/// parameters, and it can swamp the model's gradient.)
pub struct Integrator<T> {
    pub t: f64,
    pub y: [T; 2],
    /// The derivative at `(t, y)`, reused as the first stage of the next step (FSAL).
    dy: [T; 2],
    /// The next step size to try.
    h: f64,
    pub stats: Stats,
}

/// The plain value of a scalar.
fn value<T: Float>(x: T) -> f64 {
    x.to_f64().unwrap_or(f64::NAN)
}

impl<T: Float> Integrator<T> {
    pub fn new(model: &Pendulum<T>, y0: [T; 2]) -> Self {
        Integrator {
            t: 0.0,
            y: y0,
            dy: model.rhs(T::zero(), y0),
            h: H0,
            stats: Stats {
                rhs_evals: 1,
                ..Stats::default()
            },
        }
    }

    /// Takes one accepted step, not past `t_end`: tries the current step size and, while the
    /// error estimate exceeds the tolerance, rejects the attempt and retries with a smaller one.
    pub fn step(&mut self, model: &Pendulum<T>, t_end: f64) {
        loop {
            let last = self.h >= t_end - self.t;
            let h = if last { t_end - self.t } else { self.h };
            assert!(h > 1e-14, "step size underflow at t = {}", self.t);

            let (t, y) = (self.t, self.y);
            let mut k = [self.dy; 7];
            for i in 1..7 {
                let ti = if i == 6 && last { t_end } else { t + C[i] * h };
                k[i] = model.rhs(c(ti), combine(y, c(h), A[i], &k[..i]));
            }
            self.stats.rhs_evals += 6;
            let y_new = combine(y, c(h), A[6], &k[..6]);

            // The error estimate (5th- minus 4th-order solution) relative to the tolerance.
            let err = (0..2)
                .map(|i| {
                    let e: f64 = E.iter().zip(&k).map(|(&ej, kj)| ej * value(kj[i])).sum();
                    let scale = ATOL + RTOL * value(y[i]).abs().max(value(y_new[i]).abs());
                    (h * e).abs() / scale
                })
                .fold(0.0, f64::max);
            // The classic controller: h_new = 0.9 h err^(-1/5), limited to [0.2 h, 5 h].
            self.h = h * (0.9 * err.max(1e-10).powf(-0.2)).clamp(0.2, 5.0);

            if err <= 1.0 {
                self.t = if last { t_end } else { t + h };
                self.y = y_new;
                self.dy = k[6];
                self.stats.accepted += 1;
                if y_new[0].abs() > c(STOP_ANGLE) {
                    self.stats.in_contact += 1;
                }
                return;
            }
            self.stats.rejected += 1;
        }
    }
}

/// The outcome of one simulation.
pub struct Run<T> {
    pub loss: T,
    pub theta: T,
    pub omega: T,
    pub stats: Stats,
}

/// Integrates the pendulum with parameters `p` to `T_END`; the loss is the distance of the bob
/// (on an arm of unit length) to `TARGET`.
pub fn simulate<T: Float>(p: &[T]) -> Run<T> {
    let model = Pendulum::from_params(p);
    let mut sim = Integrator::new(&model, [c(THETA0), c(OMEGA0)]);
    while sim.t < T_END {
        sim.step(&model, T_END);
    }
    let [theta, omega] = sim.y;
    let (x, y) = (theta.sin(), -theta.cos());
    let loss = (x - c(TARGET.0)).hypot(y - c(TARGET.1));
    Run {
        loss,
        theta,
        omega,
        stats: sim.stats,
    }
}

/// The loss alone.
pub fn loss<T: Float>(p: &[T]) -> T {
    simulate(p).loss
}

// ------------------------------------------------------------------ derivatives of it

/// A reverse-mode gradient and the size of the tape that produced it.
pub struct Reverse {
    pub value: f64,
    pub grad: Vec<f64>,
    pub nodes: usize,
    pub operands: usize,
    pub bytes: usize,
}

/// Reverse mode: run `loss` on `Var`s, sweep the tape back once.
pub fn reverse_gradient(p: &[f64]) -> Reverse {
    let tape = Tape::new();
    let vars = tape.vars(p);
    let l = loss(&vars);
    let adj = tape.gradient(l);
    Reverse {
        value: l.value(),
        grad: adj.wrt_all(&vars),
        nodes: tape.len(),
        operands: tape.operands(),
        bytes: tape.bytes(),
    }
}

/// Forward mode: one run on `Dual<5>`, parameter `j` seeded in direction `j`.
pub fn forward_gradient(p: &[f64; N_PARAMS]) -> (f64, [f64; N_PARAMS]) {
    let duals: Vec<Dual<N_PARAMS>> = (0..N_PARAMS).map(|j| Dual::variable(p[j], j)).collect();
    let l = loss(&duals);
    (l.v, l.d)
}

/// Fourth-order central differences on `f64`, `h = rel_step * max(|p_j|, 1)`:
/// `(-f(p + 2h e_j) + 8 f(p + h e_j) - 8 f(p - h e_j) + f(p - 2h e_j)) / 12h`.
///
/// The step is large because the `f64` loss is not exactly smooth: the step sizes the
/// integrator picks change with the parameters, which moves the result by amounts of the
/// order of the tolerance. A difference quotient divides that by `h`; the O(h^4) stencil keeps
/// the truncation error small at a step where that noise is negligible.
pub fn central_differences(p: &[f64], rel_step: f64) -> Vec<f64> {
    (0..p.len())
        .map(|j| {
            let h = rel_step * p[j].abs().max(1.0);
            let at = |s: f64| {
                let mut q = p.to_vec();
                q[j] = p[j] + s * h;
                loss(&q)
            };
            (-at(2.0) + 8.0 * at(1.0) - 8.0 * at(-1.0) + at(-2.0)) / (12.0 * h)
        })
        .collect()
}

/// The relative step of the finite-difference check.
pub const FD_STEP: f64 = 1e-3;

/// `|a - b| / max(|a|, |b|, floor)`.
pub fn rel_err(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(floor)
}

// ------------------------------------------------------------------ the program

/// The fastest of `reps` runs of `f`, and its last result.
fn timed<R>(reps: usize, mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..reps {
        let start = Instant::now();
        let r = f();
        best = best.min(start.elapsed());
        out = Some(r);
    }
    (best, out.expect("reps >= 1"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let wall = Instant::now();
    println!("Wengert: differentiating ordinary generic Rust (examples/ordinary_code.rs)\n");
    println!("Model: a driven pendulum with quadratic air drag and stiff end stops,");
    println!("  theta'' = -(g/L) sin theta - c theta' - d theta'|theta'| + A cos(w t)");
    println!("            - {STOP_STIFFNESS} (|theta| - {STOP_ANGLE})+ sign(theta)   [end stops]");
    println!(
        "  from theta = {THETA0} rad, theta' = {OMEGA0} rad/s to t = {T_END} s, by a hand-written adaptive"
    );
    println!("  Dormand-Prince 5(4) integrator (rtol {RTOL:e}, atol {ATOL:e}, step rejection).");
    println!("Loss: distance of the bob (unit arm) to the target {TARGET:?} at t = {T_END} s.");
    println!("The model and integrator are written only against num_traits::Float.\n");

    println!("[1/4] primal on f64 ...");
    let (t_primal, run) = timed(20, || simulate(&P0));
    let s = run.stats;
    println!(
        "      loss = {:.12}   theta(T) = {:.6} rad   theta'(T) = {:.6} rad/s",
        run.loss, run.theta, run.omega
    );
    println!(
        "      {} accepted steps, {} rejected, {} rhs evaluations, {} steps ending in a stop",
        s.accepted, s.rejected, s.rhs_evals, s.in_contact
    );

    println!("[2/4] gradient by reverse mode (Var: record the run, sweep the tape back) ...");
    let (t_reverse, rev) = timed(20, || reverse_gradient(&P0));
    assert_eq!(rev.value, run.loss, "the taped run computes the same value");

    println!("[3/4] gradient by forward mode (Dual<{N_PARAMS}>: one run, {N_PARAMS} tangents) ...");
    let (t_forward, (fwd_value, fwd)) = timed(20, || forward_gradient(&P0));
    assert_eq!(fwd_value, run.loss, "the dual run computes the same value");

    println!(
        "[4/4] 4th-order central differences on f64 (relative step {FD_STEP:e}, 4 runs per parameter) ..."
    );
    let (t_fd, fd) = timed(3, || central_differences(&P0, FD_STEP));

    println!(
        "\n{:<18} {:>8} {:>22} {:>22} {:>22} {:>9}",
        "parameter", "value", "reverse (Var)", "forward (Dual)", "central FD", "rel. err"
    );
    let mut worst: f64 = 0.0;
    for j in 0..N_PARAMS {
        let e = rel_err(rev.grad[j], fd[j], 1e-8);
        worst = worst.max(e);
        println!(
            "{:<18} {:>8} {:>22.14e} {:>22.14e} {:>22.14e} {:>9.1e}",
            PARAM_NAMES[j], P0[j], rev.grad[j], fwd[j], fd[j], e
        );
    }
    let rev_vs_fwd = (0..N_PARAMS)
        .map(|j| rel_err(rev.grad[j], fwd[j], 1e-12))
        .fold(0.0, f64::max);
    println!(
        "largest relative difference: reverse vs FD {worst:.1e}, reverse vs forward {rev_vs_fwd:.1e}"
    );

    println!("\ntimings (best of repeated runs):");
    let row = |label: &str, d: Duration, note: &str| {
        let ratio = d.as_secs_f64() / t_primal.as_secs_f64();
        let line = format!(
            "  {label:<28} {:>8.3} ms  {ratio:>6.1} x primal  {note}",
            ms(d)
        );
        println!("{}", line.trim_end());
    };
    row("primal (f64)", t_primal, "");
    row(
        "gradient, reverse (Var)",
        t_reverse,
        "record + reverse sweep",
    );
    row(
        &format!("gradient, forward (Dual<{N_PARAMS}>)"),
        t_forward,
        "one run carrying 5 tangents",
    );
    row(
        "finite differences (f64)",
        t_fd,
        &format!("{} runs", 4 * N_PARAMS),
    );
    println!(
        "\ntape: {} nodes, {} operands, {} bytes = {:.1} MB",
        rev.nodes,
        rev.operands,
        rev.bytes,
        rev.bytes as f64 / 1e6
    );
    println!(
        "      {:.1} bytes per node, {:.0} nodes per accepted step",
        rev.bytes as f64 / rev.nodes as f64,
        rev.nodes as f64 / s.accepted as f64
    );
    println!("\ndone in {:.0} ms", ms(wall.elapsed()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_forward_and_finite_differences_agree() {
        let rev = reverse_gradient(&P0);
        let (fwd_value, fwd) = forward_gradient(&P0);
        let fd = central_differences(&P0, FD_STEP);
        let primal = loss(&P0);
        assert_eq!(rev.value, primal);
        assert_eq!(fwd_value, primal);
        for j in 0..N_PARAMS {
            let e_fd = rel_err(rev.grad[j], fd[j], 1e-8);
            assert!(
                e_fd < 1e-5,
                "{}: reverse {} vs finite difference {} (rel. err {e_fd:.1e})",
                PARAM_NAMES[j],
                rev.grad[j],
                fd[j]
            );
            let e_fwd = rel_err(rev.grad[j], fwd[j], 1e-12);
            assert!(
                e_fwd < 1e-10,
                "{}: reverse {} vs forward {} (rel. err {e_fwd:.1e})",
                PARAM_NAMES[j],
                rev.grad[j],
                fwd[j]
            );
        }
    }

    #[test]
    fn the_run_exercises_rejection_and_the_end_stops() {
        let run = simulate(&P0);
        assert!(run.stats.rejected > 0, "{:?}", run.stats);
        assert!(run.stats.in_contact > 0, "{:?}", run.stats);
        assert!(run.stats.accepted > 100, "{:?}", run.stats);
    }
}
