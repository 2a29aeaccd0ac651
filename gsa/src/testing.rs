//! Test functions with known sensitivity indices, shared by the tests, the examples and the
//! benchmarks: Ishigami, the Sobol' G-function and a polynomial with known DGSM.

use ad_core::{Function, Real};

use crate::problem::Problem;

/// The Ishigami function `sin x1 + a sin^2 x2 + b x3^4 sin x1` on `[-pi, pi]^3`
/// (Ishigami & Homma 1990).
#[derive(Clone, Copy, Debug)]
pub struct Ishigami {
    /// `a` (7 in the usual benchmark).
    pub a: f64,
    /// `b` (0.1 in the usual benchmark).
    pub b: f64,
}

impl Default for Ishigami {
    fn default() -> Self {
        Ishigami { a: 7.0, b: 0.1 }
    }
}

impl Function for Ishigami {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let s1 = x[0].sin();
        let s2 = x[1].sin();
        vec![s1 + s2 * s2 * self.a + x[2].powi(4) * s1 * self.b]
    }
}

impl Ishigami {
    /// Its problem: three uniform inputs on `[-pi, pi]`.
    pub fn problem() -> Problem {
        let pi = std::f64::consts::PI;
        Problem::from_inputs(vec![
            crate::Input::uniform("x1", -pi, pi),
            crate::Input::uniform("x2", -pi, pi),
            crate::Input::uniform("x3", -pi, pi),
        ])
        .unwrap_or_else(|_| unreachable!("valid bounds"))
    }

    /// The variance, `a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2`.
    pub fn variance(&self) -> f64 {
        let pi = std::f64::consts::PI;
        let (a, b) = (self.a, self.b);
        a * a / 8.0 + b * pi.powi(4) / 5.0 + b * b * pi.powi(8) / 18.0 + 0.5
    }

    /// The analytic first-order and total indices.
    pub fn indices(&self) -> ([f64; 3], [f64; 3]) {
        let pi = std::f64::consts::PI;
        let (a, b) = (self.a, self.b);
        let v = self.variance();
        let v1 = 0.5 * (1.0 + b * pi.powi(4) / 5.0).powi(2);
        let v2 = a * a / 8.0;
        let v13 = b * b * pi.powi(8) * (1.0 / 18.0 - 1.0 / 50.0);
        ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
    }

    /// The analytic DGSM `nu_i = E[(df/dx_i)^2]` for `x` uniform on `[-pi, pi]^3`:
    /// `nu_1 = (1/2)(1 + b pi^4/5 + b^2 pi^8/9)`, `nu_2 = a^2/2`, `nu_3 = 8 b^2 pi^6/7`.
    pub fn dgsm(&self) -> [f64; 3] {
        let pi = std::f64::consts::PI;
        let (a, b) = (self.a, self.b);
        // E[cos^2 x1] = 1/2; E[(1 + b x3^4)^2] = 1 + 2 b pi^4/5 + b^2 pi^8/9;
        // E[(2 a sin x2 cos x2)^2] = a^2 E[sin^2 2x2] = a^2/2;
        // E[(4 b x3^3 sin x1)^2] = 16 b^2 E[x3^6] / 2 = 8 b^2 pi^6 / 7.
        [
            0.5 * (1.0 + 2.0 * b * pi.powi(4) / 5.0 + b * b * pi.powi(8) / 9.0),
            a * a / 2.0,
            8.0 * b * b * pi.powi(6) / 7.0,
        ]
    }
}

/// Sobol's G-function `prod_i (|4 x_i - 2| + a_i) / (1 + a_i)` on `[0, 1]^k` (Saltelli & Sobol'
/// 1995): input `i` matters less as `a_i` grows.
#[derive(Clone, Debug)]
pub struct GFunction {
    /// The coefficients `a_i >= 0`.
    pub a: Vec<f64>,
}

impl Function for GFunction {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let mut y = S::one();
        for (xi, &ai) in x.iter().zip(&self.a) {
            y = y * ((*xi * 4.0 - 2.0).abs() + ai) / (1.0 + ai);
        }
        vec![y]
    }
}

impl GFunction {
    /// Its problem: `k` uniform inputs on `[0, 1]`.
    pub fn problem(&self) -> Problem {
        Problem::new(&vec![(0.0, 1.0); self.a.len()])
            .unwrap_or_else(|_| unreachable!("valid bounds"))
    }

    /// The analytic first-order and total indices: with `V_i = 1 / (3 (1 + a_i)^2)` and
    /// `V = prod (1 + V_i) - 1`, `S_i = V_i / V`, `ST_i = V_i prod_{j != i} (1 + V_j) / V`.
    pub fn indices(&self) -> (Vec<f64>, Vec<f64>) {
        let vi: Vec<f64> = self
            .a
            .iter()
            .map(|a| 1.0 / (3.0 * (1.0 + a).powi(2)))
            .collect();
        let prod: f64 = vi.iter().map(|v| 1.0 + v).product();
        let v = prod - 1.0;
        let first = vi.iter().map(|x| x / v).collect();
        let total = vi.iter().map(|x| x * prod / (1.0 + x) / v).collect();
        (first, total)
    }
}

/// A polynomial with known DGSM: `f(x) = x1 + x1 x2 + x2^2 x3^3` on `[0, 1]^3`, uniform.
/// `nu = (E[(1 + x2)^2], E[(x1 + 2 x2 x3^3)^2], E[9 x2^4 x3^4]) = (7/3, 1/3 + 1/4 + 4/21, 9/25)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Polynomial;

impl Function for Polynomial {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        vec![x[0] + x[0] * x[1] + x[1] * x[1] * x[2].powi(3)]
    }
}

impl Polynomial {
    /// The analytic `nu_i`.
    pub fn dgsm() -> [f64; 3] {
        // E[(x1 + 2 x2 x3^3)^2] = E[x1^2] + 4 E[x1] E[x2] E[x3^3] + 4 E[x2^2] E[x3^6]
        //                       = 1/3 + 4 (1/2)(1/2)(1/4) + 4 (1/3)(1/7) = 1/3 + 1/4 + 4/21.
        [7.0 / 3.0, 1.0 / 3.0 + 0.25 + 4.0 / 21.0, 9.0 / 25.0]
    }
}
