//! The modified divided differences of the NDF/BDF method (Shampine & Reichelt 1997): the
//! coefficients, the exact rescaling of the difference array when the step size changes, and
//! the interpolating polynomial (dense output).

/// Highest order.
pub(crate) const MAX_ORDER: usize = 5;

/// The NDF coefficients: `κ_k`, `γ_k = Σ_{j<=k} 1/j`, `α_k = (1 - κ_k) γ_k` and the error
/// constants `κ_k γ_k + 1/(k+1)` (Shampine & Reichelt 1997, Table 1; `κ_5 = 0`: BDF5).
pub(crate) struct Coefs {
    pub(crate) gamma: [f64; MAX_ORDER + 1],
    pub(crate) alpha: [f64; MAX_ORDER + 1],
    pub(crate) error_const: [f64; MAX_ORDER + 2],
}

pub(crate) fn coefs() -> Coefs {
    let kappa = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];
    let mut gamma = [0.0; MAX_ORDER + 1];
    for k in 1..=MAX_ORDER {
        gamma[k] = gamma[k - 1] + 1.0 / k as f64;
    }
    let mut alpha = [0.0; MAX_ORDER + 1];
    let mut error_const = [0.0; MAX_ORDER + 2];
    for k in 0..=MAX_ORDER {
        alpha[k] = (1.0 - kappa[k]) * gamma[k];
        error_const[k] = kappa[k] * gamma[k] + 1.0 / (k + 1) as f64;
    }
    error_const[MAX_ORDER + 1] = 1.0 / (MAX_ORDER + 2) as f64;
    Coefs {
        gamma,
        alpha,
        error_const,
    }
}

/// `R(r)[i][j] = Π_{l=1..i} (l - 1 - r j) / l` (row 0 all ones), `(order+1)^2` row-major.
fn compute_r(order: usize, factor: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut r = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for j in 0..=order {
        r[0][j] = 1.0;
    }
    for i in 1..=order {
        for j in 0..=order {
            let m = if j == 0 {
                0.0
            } else {
                (i as f64 - 1.0 - factor * j as f64) / i as f64
            };
            r[i][j] = r[i - 1][j] * m;
        }
    }
    r
}

/// The rescaling matrix `RU = R(r) U` (`U = R(1)`): a step-size change by `factor` maps
/// `D[j] <- Σ_i RU[i][j] D[i]` (`i, j <= order`).
fn ru_matrix(order: usize, factor: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let r = compute_r(order, factor);
    let u = compute_r(order, 1.0);
    let mut ru = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for i in 0..=order {
        for j in 0..=order {
            ru[i][j] = (0..=order).map(|l| r[i][l] * u[l][j]).sum();
        }
    }
    ru
}

/// The transpose of [`change_d`] (its adjoint): `D̄[i] <- Σ_j RU[i][j] D̄[j]` on rows
/// `0..=order` of width `w` (the other rows are left alone, as `change_d` leaves them).
pub(crate) fn change_d_transposed(
    d_bar: &mut [f64],
    w: usize,
    order: usize,
    factor: f64,
    tmp: &mut [f64],
) {
    let ru = ru_matrix(order, factor);
    let tmp = &mut tmp[..(order + 1) * w];
    tmp.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..=order {
        let out = &mut tmp[i * w..(i + 1) * w];
        for j in 0..=order {
            let c = ru[i][j];
            if c != 0.0 {
                for (o, v) in out.iter_mut().zip(&d_bar[j * w..(j + 1) * w]) {
                    *o += c * v;
                }
            }
        }
    }
    d_bar[..(order + 1) * w].copy_from_slice(tmp);
}

/// Rescales the differences `D[0..=order]` (rows of width `w`) to a step size `factor` times
/// the current one.
pub(crate) fn change_d(d: &mut [f64], w: usize, order: usize, factor: f64, tmp: &mut [f64]) {
    let ru = ru_matrix(order, factor);
    let tmp = &mut tmp[..(order + 1) * w];
    tmp.iter_mut().for_each(|v| *v = 0.0);
    for j in 0..=order {
        let out = &mut tmp[j * w..(j + 1) * w];
        for i in 0..=order {
            let c = ru[i][j];
            if c != 0.0 {
                for (o, v) in out.iter_mut().zip(&d[i * w..(i + 1) * w]) {
                    *o += c * v;
                }
            }
        }
    }
    d[..(order + 1) * w].copy_from_slice(tmp);
}

/// The interpolating polynomial of the last step (order `order`, size `h`, ending at `t`) at
/// `ts`, all `w` columns.
pub(crate) fn interpolate(
    d: &[f64],
    w: usize,
    order: usize,
    t: f64,
    h: f64,
    ts: f64,
    out: &mut [f64],
) {
    out.copy_from_slice(&d[..w]);
    let mut prod = 1.0;
    for i in 0..order {
        prod *= (ts - (t - h * i as f64)) / (h * (i + 1) as f64);
        for (o, v) in out.iter_mut().zip(&d[(i + 1) * w..(i + 2) * w]) {
            *o += prod * v;
        }
    }
}

/// The interpolating polynomial of one accepted step (values only): the dense output of the
/// forward solve kept for the adjoint.
#[derive(Clone, Debug)]
pub(crate) struct StepPoly {
    /// End of the step.
    pub(crate) t: f64,
    /// Its size.
    pub(crate) h: f64,
    /// Its order.
    pub(crate) order: usize,
    /// `D[0..=order]`, rows of width `n`.
    pub(crate) d: Vec<f64>,
}

impl StepPoly {
    /// The polynomial at `ts` into `out` (length `n`).
    pub(crate) fn eval(&self, ts: f64, out: &mut [f64]) {
        interpolate(&self.d, out.len(), self.order, self.t, self.h, ts, out);
    }
}
