//! Helpers shared by the ad-core integration tests: finite differences and tolerant comparisons.
#![allow(dead_code)]

/// Fourth-order central difference of `f` at `x` along `t` with step `h`:
/// `(-f(x+2ht) + 8 f(x+ht) - 8 f(x-ht) + f(x-2ht)) / 12h`, one entry per output.
pub fn fd_directional(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], t: &[f64], h: f64) -> Vec<f64> {
    let at = |s: f64| -> Vec<f64> {
        let xs: Vec<f64> = x.iter().zip(t).map(|(&xi, &ti)| xi + s * h * ti).collect();
        f(&xs)
    };
    let (p2, p1, m1, m2) = (at(2.0), at(1.0), at(-1.0), at(-2.0));
    (0..p1.len())
        .map(|i| (-p2[i] + 8.0 * p1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
        .collect()
}

/// The gradient of a scalar `f64` function by fourth-order central differences, one input at a
/// time, with step `h max(1, |x_j|)`.
pub fn fd_gradient(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|j| {
            let mut e = vec![0.0; x.len()];
            e[j] = 1.0;
            let hj = h * x[j].abs().max(1.0);
            fd_directional(|xs| vec![f(xs)], x, &e, hj)[0]
        })
        .collect()
}

/// The Jacobian (one row per output) of an `f64` vector function by fourth-order central
/// differences, with step `h max(1, |x_j|)` for column `j`.
pub fn fd_jacobian(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], h: f64) -> Vec<Vec<f64>> {
    let m = f(x).len();
    let mut jac = vec![vec![0.0; x.len()]; m];
    for j in 0..x.len() {
        let mut e = vec![0.0; x.len()];
        e[j] = 1.0;
        let col = fd_directional(&f, x, &e, h * x[j].abs().max(1.0));
        for (row, c) in jac.iter_mut().zip(col) {
            row[j] = c;
        }
    }
    jac
}

/// `a . b`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Panics unless `|got - want| <= tol max(1, |want|)` (and both are finite).
#[track_caller]
pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs();
    assert!(
        got.is_finite() && want.is_finite() && err <= tol * want.abs().max(1.0),
        "{what}: got {got:e}, want {want:e} (difference {err:.3e}, tolerance {tol:.1e})"
    );
}

/// [`assert_close`] entry by entry; the lengths must agree.
#[track_caller]
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), g, w, tol);
    }
}
