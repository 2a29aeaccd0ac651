//! The test zoo: More-Garbow-Hillstrom problems (More, Garbow & Hillstrom, "Testing
//! unconstrained optimization software", ACM TOMS 7, 1981) as residual functions written once,
//! generic over `Real`, so both the least-squares methods (Jacobian by ad_core) and `minimize`
//! (gradient of `sum r^2` by ad_core) use them.
#![allow(dead_code)]

use optim::{Function, Real};

/// One MGH problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mgh {
    Rosenbrock,
    FreudensteinRoth,
    PowellBadlyScaled,
    BrownBadlyScaled,
    Beale,
    HelicalValley,
    Bard,
    Box3d,
    PowellSingular,
    Wood,
    KowalikOsborne,
    /// MGH 21, extended Rosenbrock with n variables.
    ExtendedRosenbrock(usize),
}

pub const ALL: [Mgh; 12] = [
    Mgh::Rosenbrock,
    Mgh::FreudensteinRoth,
    Mgh::PowellBadlyScaled,
    Mgh::BrownBadlyScaled,
    Mgh::Beale,
    Mgh::HelicalValley,
    Mgh::Bard,
    Mgh::Box3d,
    Mgh::PowellSingular,
    Mgh::Wood,
    Mgh::KowalikOsborne,
    Mgh::ExtendedRosenbrock(10),
];

const BARD_Y: [f64; 15] = [
    0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39,
];
const KO_Y: [f64; 11] = [
    0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246,
];
const KO_U: [f64; 11] = [
    4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625,
];

impl Mgh {
    /// The standard starting point.
    pub fn start(&self) -> Vec<f64> {
        match self {
            Mgh::Rosenbrock => vec![-1.2, 1.0],
            Mgh::FreudensteinRoth => vec![0.5, -2.0],
            Mgh::PowellBadlyScaled => vec![0.0, 1.0],
            Mgh::BrownBadlyScaled => vec![1.0, 1.0],
            Mgh::Beale => vec![1.0, 1.0],
            Mgh::HelicalValley => vec![-1.0, 0.0, 0.0],
            Mgh::Bard => vec![1.0, 1.0, 1.0],
            Mgh::Box3d => vec![0.0, 10.0, 20.0],
            Mgh::PowellSingular => vec![3.0, -1.0, 0.0, 1.0],
            Mgh::Wood => vec![-3.0, -1.0, -3.0, -1.0],
            Mgh::KowalikOsborne => vec![0.25, 0.39, 0.415, 0.39],
            Mgh::ExtendedRosenbrock(n) => (0..*n)
                .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
                .collect(),
        }
    }

    /// The minimum values `sum r^2` accepted from the standard start (the global minimum, and
    /// for Freudenstein-Roth also the local minimum that methods commonly reach from there).
    pub fn minima(&self) -> Vec<f64> {
        match self {
            Mgh::FreudensteinRoth => vec![0.0, 48.98425367924],
            Mgh::Bard => vec![8.214877306578e-3],
            Mgh::KowalikOsborne => vec![3.075056038492e-4],
            _ => vec![0.0],
        }
    }

    /// The minimiser where it is unique and known in closed form.
    pub fn minimiser(&self) -> Option<Vec<f64>> {
        match self {
            Mgh::Rosenbrock => Some(vec![1.0, 1.0]),
            Mgh::BrownBadlyScaled => Some(vec![1e6, 2e-6]),
            Mgh::Beale => Some(vec![3.0, 0.5]),
            Mgh::HelicalValley => Some(vec![1.0, 0.0, 0.0]),
            Mgh::Box3d => Some(vec![1.0, 10.0, 1.0]),
            Mgh::Wood => Some(vec![1.0; 4]),
            Mgh::ExtendedRosenbrock(n) => Some(vec![1.0; *n]),
            _ => None,
        }
    }

    /// `sum r^2` on any scalar.
    pub fn value<S: Real>(&self, x: &[S]) -> S {
        self.eval(x).iter().map(|r| *r * *r).sum()
    }

    /// `minimize`'s objective: value and gradient of `sum r^2` by ad_core's reverse mode.
    pub fn objective(self) -> impl FnMut(&[f64], &mut [f64]) -> f64 {
        move |x, g| {
            let (v, grad) = ad_core::gradient(|x| self.value(x), x);
            g.copy_from_slice(&grad);
            v
        }
    }
}

impl Function for Mgh {
    fn eval<S: Real>(&self, x: &[S]) -> Vec<S> {
        let one = S::one();
        match self {
            Mgh::Rosenbrock => vec![(x[1] - x[0] * x[0]) * 10.0, one - x[0]],
            Mgh::FreudensteinRoth => vec![
                x[0] - 13.0 + ((-x[1] + 5.0) * x[1] - 2.0) * x[1],
                x[0] - 29.0 + ((x[1] + 1.0) * x[1] - 14.0) * x[1],
            ],
            Mgh::PowellBadlyScaled => vec![
                x[0] * x[1] * 1e4 - 1.0,
                (-x[0]).exp() + (-x[1]).exp() - 1.0001,
            ],
            Mgh::BrownBadlyScaled => vec![x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0],
            Mgh::Beale => [1.5, 2.25, 2.625]
                .iter()
                .enumerate()
                .map(|(i, &y)| -x[0] * (one - x[1].powi(i as i32 + 1)) + y)
                .collect(),
            Mgh::HelicalValley => {
                let tpi = 2.0 * std::f64::consts::PI;
                let theta = if x[0] > 0.0 {
                    (x[1] / x[0]).atan() / tpi
                } else if x[0] < 0.0 {
                    (x[1] / x[0]).atan() / tpi + 0.5
                } else {
                    S::cst(0.25_f64.copysign(x[1].value()))
                };
                vec![
                    (x[2] - theta * 10.0) * 10.0,
                    ((x[0] * x[0] + x[1] * x[1]).sqrt() - 1.0) * 10.0,
                    x[2],
                ]
            }
            Mgh::Bard => (0..15)
                .map(|i| {
                    let u = (i + 1) as f64;
                    let v = 15.0 - i as f64;
                    let w = u.min(v);
                    -(x[0] + (x[1] * v + x[2] * w).recip() * u) + BARD_Y[i]
                })
                .collect(),
            Mgh::Box3d => (1..=10)
                .map(|i| {
                    let t = 0.1 * i as f64;
                    (x[0] * -t).exp() - (x[1] * -t).exp() - x[2] * ((-t).exp() - (-10.0 * t).exp())
                })
                .collect(),
            Mgh::PowellSingular => vec![
                x[0] + x[1] * 10.0,
                (x[2] - x[3]) * 5f64.sqrt(),
                (x[1] - x[2] * 2.0).powi(2),
                (x[0] - x[3]).powi(2) * 10f64.sqrt(),
            ],
            Mgh::Wood => vec![
                (x[1] - x[0] * x[0]) * 10.0,
                one - x[0],
                (x[3] - x[2] * x[2]) * 90f64.sqrt(),
                one - x[2],
                (x[1] + x[3] - 2.0) * 10f64.sqrt(),
                (x[1] - x[3]) * 10f64.sqrt().recip(),
            ],
            Mgh::KowalikOsborne => (0..11)
                .map(|i| {
                    let u = KO_U[i];
                    -(x[0] * (x[1] * u + u * u)) / (x[2] * u + x[3] + u * u) + KO_Y[i]
                })
                .collect(),
            Mgh::ExtendedRosenbrock(n) => (0..*n)
                .map(|i| {
                    if i % 2 == 0 {
                        (x[i + 1] - x[i] * x[i]) * 10.0
                    } else {
                        one - x[i - 1]
                    }
                })
                .collect(),
        }
    }
}

/// `|a - b|_inf`.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}
