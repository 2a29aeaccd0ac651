//! Standard test problems with known answers, shared by the tests, the examples and the
//! benchmark suite (BENCHMARKS.md's W3-W7), so each is written once.

use ad_core::{ElementFn, Real, RealArray};

use crate::events::{Action, Direction, Event, EventSpec};
use crate::system::OdeSystem;

/// Lotka-Volterra predator-prey: `x' = a x - b x z`, `z' = d x z - g z`, `p = (a, b, d, g)`
/// (W3, W6, W7).
#[derive(Clone, Copy, Debug, Default)]
pub struct LotkaVolterra;

impl LotkaVolterra {
    /// W3's parameters `(a, b, d, g)`.
    pub const P: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
    /// W3's initial state `(x, z)`.
    pub const Y0: [f64; 2] = [1.0, 1.0];
}

impl OdeSystem for LotkaVolterra {
    fn dim(&self) -> usize {
        2
    }
    fn n_params(&self) -> usize {
        4
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
        dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
    }
}

/// A ball thrown over flat ground: state `(x, h, u, v)` (distance, height, horizontal and
/// vertical speed), `x' = u`, `h' = v`, `u' = 0`, `v' = -g`, `p = (g, e)` (gravity, coefficient
/// of restitution). State event 0 is the ground, `h = 0` falling: with `terminal` the solve
/// stops there (a projectile's landing), else the ball bounces, `v+ = -e v-`.
/// [`BouncingBall::closed_form`] is the exact motion, generic over the scalar so its
/// derivatives check the solver's.
#[derive(Clone, Copy, Debug, Default)]
pub struct BouncingBall {
    /// Stop at the first landing instead of bouncing.
    pub terminal: bool,
}

/// The exact motion of a [`BouncingBall`] up to a time.
#[derive(Clone, Debug)]
pub struct BallMotion<S> {
    /// The state `(x, h, u, v)` at the final time (after the last bounce).
    pub state: [S; 4],
    /// The landing times before the final time.
    pub landings: Vec<S>,
}

impl BouncingBall {
    /// The state `(x, h, u, v)` at `t_end` from `y0 = (x0, h0, u0, v0)` at `t = 0`, and the
    /// landing times, for `p = (g, e)` (a terminal ball is not handled: use the first
    /// landing). Each flight from height `h >= 0` with vertical speed `v` lasts
    /// `(v + sqrt(v^2 + 2 g h)) / g`; a bounce turns the landing speed `w` into `-e w`.
    pub fn closed_form<S: Real>(y0: [S; 4], p: [S; 2], t_end: f64) -> BallMotion<S> {
        let [x0, mut h, u, mut v] = y0;
        let [g, e] = p;
        let two = S::cst(2.0);
        let mut t = S::zero();
        let mut landings = Vec::new();
        loop {
            let flight = (v + (v * v + two * g * h).sqrt()) / g;
            if (t + flight).value() > t_end || landings.len() > 1000 {
                let dt = S::cst(t_end) - t;
                return BallMotion {
                    state: [
                        x0 + u * S::cst(t_end),
                        h + v * dt - g * dt * dt / two,
                        u,
                        v - g * dt,
                    ],
                    landings,
                };
            }
            t += flight;
            v = -e * (v - g * flight);
            h = S::zero();
            landings.push(t);
        }
    }
}

impl OdeSystem for BouncingBall {
    fn dim(&self) -> usize {
        4
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        dy[0] = y[2];
        dy[1] = y[3];
        dy[2] = S::zero();
        dy[3] = -p[0];
    }
    fn state_events(&self) -> Vec<EventSpec> {
        vec![EventSpec {
            direction: Direction::Falling,
            action: if self.terminal {
                Action::Stop
            } else {
                Action::Reset
            },
        }]
    }
    fn event_functions<S: Real>(&self, _t: S, y: &[S], _p: &[S], g: &mut [S]) {
        g[0] = y[1];
    }
    fn apply_event<S: Real>(&self, _event: Event, _t: S, y: &mut [S], p: &[S]) {
        y[3] = -p[1] * y[3];
    }
}

/// Robertson's stiff chemical kinetics: `y1' = -k1 y1 + k3 y2 y3`,
/// `y2' = k1 y1 - k2 y2^2 - k3 y2 y3`, `y3' = k2 y2^2`, `p = (k1, k2, k3)` (W4).
#[derive(Clone, Copy, Debug, Default)]
pub struct Robertson;

impl Robertson {
    /// The classic rate constants `(0.04, 3e7, 1e4)`.
    pub const K: [f64; 3] = [0.04, 3e7, 1e4];
    /// The initial state `(1, 0, 0)`.
    pub const Y0: [f64; 3] = [1.0, 0.0, 0.0];
}

impl OdeSystem for Robertson {
    fn dim(&self) -> usize {
        3
    }
    fn n_params(&self) -> usize {
        3
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let r1 = p[0] * y[0];
        let r2 = p[1] * y[1] * y[1];
        let r3 = p[2] * y[1] * y[2];
        dy[0] = r3 - r1;
        dy[1] = r1 - r2 - r3;
        dy[2] = r2;
    }
}

/// The 1D Brusselator (Hairer & Wanner II, IV.1, BRUSS) with `n` interior points on [0, 1]:
/// `u_i' = 1 + u_i^2 v_i - (B + 1) u_i + c (u_{i-1} - 2 u_i + u_{i+1})`,
/// `v_i' = B u_i - u_i^2 v_i + c (v_{i-1} - 2 v_i + v_{i+1})`, `c = α (n + 1)^2`, boundary
/// values `u = 1`, `v = 3`, states interleaved `(u_i, v_i)`, `p = (α, B)`. Its Jacobian is
/// banded (`2 n` states, sparse for large `n`): the stiff solvers' sparse-path test problem.
#[derive(Clone, Copy, Debug)]
pub struct Brusselator1d {
    /// Interior grid points (`2 n` states).
    pub n: usize,
}

impl Brusselator1d {
    /// The initial state of Hairer & Wanner's BRUSS: `u_i = 1 + sin(2π x_i)`, `v_i = 3` at
    /// `x_i = i / (n + 1)`, `i = 1..=n`.
    pub fn initial_state(&self) -> Vec<f64> {
        let n = self.n;
        (1..=n)
            .flat_map(|i| {
                let x = i as f64 / (n + 1) as f64;
                [1.0 + (2.0 * std::f64::consts::PI * x).sin(), 3.0]
            })
            .collect()
    }
}

impl OdeSystem for Brusselator1d {
    fn dim(&self) -> usize {
        2 * self.n
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let n = self.n;
        let c = p[0] * ((n + 1) * (n + 1)) as f64;
        for i in 0..n {
            let (u, v) = (y[2 * i], y[2 * i + 1]);
            let (ul, vl) = if i == 0 {
                (S::cst(1.0), S::cst(3.0))
            } else {
                (y[2 * i - 2], y[2 * i - 1])
            };
            let (ur, vr) = if i + 1 == n {
                (S::cst(1.0), S::cst(3.0))
            } else {
                (y[2 * i + 2], y[2 * i + 3])
            };
            let uuv = u * u * v;
            dy[2 * i] = uuv + 1.0 - u * (p[1] + 1.0) + c * (ul - u * 2.0 + ur);
            dy[2 * i + 1] = u * p[1] - uuv + c * (vl - v * 2.0 + vr);
        }
    }
}

/// Upwind advection-reaction on a periodic 1D grid of `n` cells (`h = 1/n`), the advection
/// velocity depending on the state, so that the upwind difference branches on it:
/// `u_i' = -v_i (u_i - u_{i-1}) / h` if `v_i > 0`, else `-v_i (u_{i+1} - u_i) / h`, minus
/// `k (u_i - g_i)`, with `v_i = a (u_i - s)`, the target `g_i = 1.3 + 0.5 cos(2π x_i)`,
/// `x_i = (i + 1/2) h`, and `p = (s, k, a)`. The right-hand side is continuous (the advection
/// term vanishes where `v_i` changes sign) but its Jacobian's pattern is not fixed: row `i`
/// holds `(i - 1, i)` where `v_i > 0` and `(i, i + 1)` elsewhere.
///
/// From [`UpwindAdvection::initial_state`] (`1 + 0.5 sin(2π x_i)`) with
/// [`UpwindAdvection::P`] the reaction pulls `u` toward `g`, and the sign of `v_i` flips in many
/// cells during `t ∈ [0, 1]`: the pattern traced at the start misses entries the Jacobian has
/// later. It is the test problem for the rule that a pattern traced through a branch is never
/// used for derivatives (`ad_core::sparsity::global_jacobian_sparsity`): stiff (`k = 100`
/// against advection rates up to `a |u - s| / h ~ 40` at `n = 80`), large enough for the
/// stiff solvers' sparse path (`n >= 64`).
#[derive(Clone, Copy, Debug)]
pub struct UpwindAdvection {
    /// Cells (states).
    pub n: usize,
}

impl UpwindAdvection {
    /// The parameters `(s, k, a) = (1, 100, 1)`.
    pub const P: [f64; 3] = [1.0, 100.0, 1.0];

    /// The initial state `u_i = 1 + 0.5 sin(2π x_i)`.
    pub fn initial_state(&self) -> Vec<f64> {
        let tp = 2.0 * std::f64::consts::PI / self.n as f64;
        (0..self.n)
            .map(|i| 1.0 + 0.5 * (tp * (i as f64 + 0.5)).sin())
            .collect()
    }
}

impl OdeSystem for UpwindAdvection {
    fn dim(&self) -> usize {
        self.n
    }
    fn n_params(&self) -> usize {
        3
    }
    fn rhs<S: Real>(&self, _t: S, y: &[S], p: &[S], dy: &mut [S]) {
        let n = self.n;
        let inv_h = n as f64;
        let tp = 2.0 * std::f64::consts::PI / n as f64;
        for i in 0..n {
            let (l, r) = ((i + n - 1) % n, (i + 1) % n);
            let v = p[2] * (y[i] - p[0]);
            // the upwind difference: from the side the flow comes from
            let slope = if v > 0.0 { y[i] - y[l] } else { y[r] - y[i] };
            let g = 1.3 + 0.5 * (tp * (i as f64 + 0.5)).cos();
            dy[i] = -(v * slope) * inv_h - p[1] * (y[i] - g);
        }
    }
}

/// W5: reaction-diffusion `u' = div(D grad u) + u (1 - u)` on an `M × M` periodic grid with one
/// diffusivity per cell (`p = D`), 5-point stencil, `h = 1/M`, the diffusivity of a face the
/// mean of its two cells:
/// `f_c = (M² / 2) Σ_q (D_c + D_q)(u_q - u_c) + u_c (1 - u_c)` over the four neighbours `q` of
/// cell `c = M i + j` (row `i`, column `j`). W5 is `ReactionDiffusion::<128>`; the side is a
/// constant so that the `f64` loops vectorise (a run-time side measured 2x slower).
///
/// `rhs` is written once, generic, as a user would; with `hand_vjp` the system also has a
/// hand-written [`OdeSystem::vjp`] (the gather form of the transposed stencil), the practical
/// limit the generic products are measured against.
#[derive(Clone, Copy, Debug)]
pub struct ReactionDiffusion<const M: usize> {
    /// Whether [`OdeSystem::vjp`] is the hand-written product (else the default: none).
    pub hand_vjp: bool,
}

impl<const M: usize> ReactionDiffusion<M> {
    /// W5's diffusivities `D[c] = 0.01 (1 + 0.5 sin c)`.
    pub fn w5_diffusivities(&self) -> Vec<f64> {
        (0..M * M)
            .map(|c| 0.01 * (1.0 + 0.5 * (c as f64).sin()))
            .collect()
    }

    /// W5's initial state `u0[c] = 0.5 + 0.4 sin(2π i/M) cos(2π j/M)`.
    pub fn w5_initial_state(&self) -> Vec<f64> {
        let m = M;
        let tp = 2.0 * std::f64::consts::PI / m as f64;
        (0..m * m)
            .map(|c| 0.5 + 0.4 * (tp * (c / m) as f64).sin() * (tp * (c % m) as f64).cos())
            .collect()
    }
}

/// Runs `$body` for every cell `$c` of the `$m × $m` torus with `$q = [up, down, left, right]`
/// its neighbours. A row's interior is a plain loop (no wrap-around) with the slices' indices
/// in view, so that it vectorises on `f64`: the same loop as a closure taking the indices
/// measured 2x slower (W5's primal 0.6 s against 0.28 s).
macro_rules! for_cells {
    ($m:expr, $c:ident, $q:ident, $body:block) => {
        let m: usize = $m;
        for i in 0..m {
            let (up, row, down) = (((i + m - 1) % m) * m, i * m, ((i + 1) % m) * m);
            // the first and the last column (one column if `m == 1`)
            for j in [0, m - 1].into_iter().take(m.min(2)) {
                let (l, r) = ((j + m - 1) % m, (j + 1) % m);
                let ($c, $q) = (row + j, [up + j, down + j, row + l, row + r]);
                $body
            }
            for j in 1..m.saturating_sub(1) {
                let ($c, $q) = (row + j, [up + j, down + j, row + j - 1, row + j + 1]);
                $body
            }
        }
    };
}

impl<const M: usize> OdeSystem for ReactionDiffusion<M> {
    fn dim(&self) -> usize {
        M * M
    }
    fn n_params(&self) -> usize {
        M * M
    }
    fn rhs<S: Real>(&self, _t: S, u: &[S], d: &[S], du: &mut [S]) {
        let k = 0.5 * (M * M) as f64;
        for_cells!(M, c, q, {
            let [up, down, l, r] = q;
            let (uc, dc) = (u[c], d[c]);
            let acc = (dc + d[up]) * (u[up] - uc)
                + (dc + d[down]) * (u[down] - uc)
                + (dc + d[l]) * (u[l] - uc)
                + (dc + d[r]) * (u[r] - uc);
            du[c] = acc * k + uc - uc * uc;
        });
    }

    /// `ū_c += w_c (1 - 2 u_c) + k Σ_q (D_c + D_q)(w_q - w_c)`,
    /// `D̄_c += k Σ_q (u_q - u_c)(w_c - w_q)`, `k = M²/2` (the stencil is symmetric, so the
    /// transposed product is a gather).
    fn vjp(
        &self,
        _t: f64,
        u: &[f64],
        d: &[f64],
        w: &[f64],
        u_bar: &mut [f64],
        d_bar: &mut [f64],
    ) -> bool {
        if !self.hand_vjp {
            return false;
        }
        let k = 0.5 * (M * M) as f64;
        for_cells!(M, c, qs, {
            let (uc, dc, wc) = (u[c], d[c], w[c]);
            let mut su = wc * (1.0 - 2.0 * uc);
            let mut sd = 0.0;
            for q in qs {
                su += k * (dc + d[q]) * (w[q] - wc);
                sd += k * (u[q] - uc) * (wc - w[q]);
            }
            u_bar[c] += su;
            d_bar[c] += sd;
        });
        true
    }
}

/// W5's system with its right-hand side written a second way for taped evaluations: array code
/// with fused element-wise maps ([`RealArray::map`]), nine tape nodes per evaluation (six
/// shifts, three maps) instead of ~20 per cell. Along each axis `g = (D + D_next)(u_next - u)`
/// is the flux through the face to the next cell and the face to the previous cell carries
/// minus the previous cell's `g`, so `f = k (g_x - g_x,prev + g_y - g_y,prev) + u (1 - u)`,
/// `k = M²/2`. On `f64` (the primal) and on constants it is [`ReactionDiffusion`]'s scalar loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReactionDiffusionMaps<const M: usize>;

/// The flux `(D + D_next)(u_next - u)` through a cell's face to the next cell.
struct Flux;

impl ElementFn<4> for Flux {
    #[inline]
    fn eval<S: Real>(&self, [d, d_next, u, u_next]: [S; 4]) -> S {
        (d + d_next) * (u_next - u)
    }
}

/// `k (g_x - g_x,prev + g_y - g_y,prev) + u (1 - u)` from the two axes' face fluxes.
struct Balance {
    k: f64,
}

impl ElementFn<5> for Balance {
    #[inline]
    fn eval<S: Real>(&self, [gx, gx_prev, gy, gy_prev, u]: [S; 5]) -> S {
        (gx - gx_prev + (gy - gy_prev)) * self.k + u * (S::cst(1.0) - u)
    }
}

impl<const M: usize> OdeSystem for ReactionDiffusionMaps<M> {
    fn dim(&self) -> usize {
        M * M
    }
    fn n_params(&self) -> usize {
        M * M
    }
    fn rhs<S: Real>(&self, t: S, u: &[S], d: &[S], du: &mut [S]) {
        if u.iter().chain(d).all(|x| x.is_constant()) {
            return ReactionDiffusion::<M> { hand_vjp: false }.rhs(t, u, d, du);
        }
        let (u, d) = (S::Array::from_slice(u), S::Array::from_slice(d));
        // roll2 by (-1, 0) or (0, -1): element c holds the next cell's value along that axis
        let flux = |dr, dc| {
            let (dn, un) = (d.roll2(M, M, dr, dc), u.roll2(M, M, dr, dc));
            S::Array::map([&d, &dn, &u, &un], &Flux)
        };
        let (gx, gy) = (flux(-1, 0), flux(0, -1));
        let (gx_prev, gy_prev) = (gx.roll2(M, M, 1, 0), gy.roll2(M, M, 0, 1));
        let k = 0.5 * (M * M) as f64;
        let f = S::Array::map([&gx, &gx_prev, &gy, &gy_prev, &u], &Balance { k });
        du.copy_from_slice(&f.to_vec());
    }
}
