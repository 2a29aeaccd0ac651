//! Derivatives of the user's generic right-hand side by forward mode (`Dual<W>` in chunks of up
//! to 8 directions): the dense Jacobian `∂f/∂y` for the iteration matrix, and the products
//! `(∂f/∂y) S + ∂f/∂p` of the forward sensitivity equations.

use ad_core::Dual;

use crate::system::OdeSystem;

/// Runs `f` on `Dual<W>` with `W` chosen for `width` remaining directions (1, 2, 4, 6 or 8);
/// returns the number of directions covered.
macro_rules! by_width {
    ($width:expr, $call:ident ( $($arg:expr),* )) => {
        match $width {
            0 | 1 => $call::<1, _>($($arg),*),
            2 => $call::<2, _>($($arg),*),
            3 | 4 => $call::<4, _>($($arg),*),
            5 | 6 => $call::<6, _>($($arg),*),
            _ => $call::<8, _>($($arg),*),
        }
    };
}

/// Writes the row-major `n x n` Jacobian `∂f/∂y` at `(t, y, p)` into `jac`; returns the number
/// of right-hand-side evaluations (one per chunk of 8 columns).
pub(crate) fn dense_jacobian<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    jac: &mut [f64],
) -> usize {
    let n = y.len();
    let mut c0 = 0;
    let mut evals = 0;
    while c0 < n {
        c0 += by_width!(n - c0, jac_chunk(sys, t, y, p, c0, jac));
        evals += 1;
    }
    evals
}

fn jac_chunk<const W: usize, Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    c0: usize,
    jac: &mut [f64],
) -> usize {
    let n = y.len();
    let yd: Vec<Dual<W>> = y
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let mut d = Dual::<W>::constant(v);
            if (c0..c0 + W).contains(&i) {
                d.d[i - c0] = 1.0;
            }
            d
        })
        .collect();
    let pd: Vec<Dual<W>> = p.iter().map(|&v| Dual::constant(v)).collect();
    let mut out = vec![Dual::<W>::constant(0.0); n];
    sys.rhs(Dual::constant(t), &yd, &pd, &mut out);
    for (i, o) in out.iter().enumerate() {
        for w in 0..W.min(n - c0) {
            jac[i * n + c0 + w] = o.d[w];
        }
    }
    W
}

/// The forward sensitivity right-hand side for `m` directions: with `s` the `n x m` row-major
/// sensitivity matrix (`s[i * m + k] = ∂y_i/∂x_k`, `x = (y0, p)`, so `m = n + n_params`),
/// writes `out = (∂f/∂y) s + ∂f/∂p` (row-major `n x m`) and the value `f(t, y, p)` into `f`.
/// Returns the number of right-hand-side evaluations.
pub(crate) fn sens_rhs<Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    s: &[f64],
    out: &mut [f64],
) -> usize {
    let n = y.len();
    let m = n + p.len();
    let mut c0 = 0;
    let mut evals = 0;
    while c0 < m {
        c0 += by_width!(m - c0, sens_chunk(sys, t, y, p, s, c0, out));
        evals += 1;
    }
    evals
}

fn sens_chunk<const W: usize, Sys: OdeSystem>(
    sys: &Sys,
    t: f64,
    y: &[f64],
    p: &[f64],
    s: &[f64],
    c0: usize,
    out: &mut [f64],
) -> usize {
    let n = y.len();
    let m = n + p.len();
    let width = W.min(m - c0);
    let yd: Vec<Dual<W>> = y
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let mut d = Dual::<W>::constant(v);
            d.d[..width].copy_from_slice(&s[i * m + c0..i * m + c0 + width]);
            d
        })
        .collect();
    let pd: Vec<Dual<W>> = p
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let mut d = Dual::<W>::constant(v);
            if (c0..c0 + width).contains(&(n + i)) {
                d.d[n + i - c0] = 1.0;
            }
            d
        })
        .collect();
    let mut f = vec![Dual::<W>::constant(0.0); n];
    sys.rhs(Dual::constant(t), &yd, &pd, &mut f);
    for (i, o) in f.iter().enumerate() {
        out[i * m + c0..i * m + c0 + width].copy_from_slice(&o.d[..width]);
    }
    W
}
