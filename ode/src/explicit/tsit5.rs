//! Tsitouras 5(4) (Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first
//! column simplifying assumption", Comput. Math. Appl. 62, 2011), coefficients to double
//! precision as in the paper's table and its interpolant.
//!
//! Seven stages, FSAL, fifth-order propagation, error `err = h sum_i ẽ_i k_i`. Dense output by
//! the method's own fourth-order interpolant `y(t0 + θh) = y0 + h sum_i b_i(θ) k_i` with
//! `b_1(θ) = θ (r11 + θ (r12 + θ (r13 + θ r14)))` and `b_i(θ) = θ² (ri2 + θ (ri3 + θ ri4))`
//! for `i >= 2`; `b_i(1) = b_i`.

use super::{Dense, Tableau};

/// The Tsitouras tableau; the last row is `b` (FSAL).
pub(crate) static TABLEAU: Tableau = Tableau {
    c: &[0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
    a: &[
        &[],
        &[0.161],
        &[-0.008480655492356989, 0.335480655492357],
        &[2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        &[
            5.325864828439257,
            -11.748883564062828,
            7.4955393428898365,
            -0.09249506636175525,
        ],
        &[
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ],
        &[
            0.09646076681806523,
            0.01,
            0.4798896504144996,
            1.379008574103742,
            -3.290069515436081,
            2.324710524099774,
        ],
    ],
    e: &[
        -0.001_780_011_052_225_777,
        -0.0008164344596567469,
        0.007880878010261995,
        -0.1447110071732629,
        0.5823571654525552,
        -0.45808210592918697,
        1.0 / 66.0,
    ],
    dense: Dense::Tsit5,
};

/// Interpolant coefficients `[r_i1, r_i2, r_i3, r_i4]` per stage.
const R: [[f64; 4]; 7] = [
    [
        1.0,
        -2.763706197274826,
        2.9132554618219126,
        -1.0530884977290216,
    ],
    [0.0, 0.13169999999999998, -0.2234, 0.1017],
    [
        0.0,
        3.9302962368947516,
        -5.941033872131505,
        2.490627285651253,
    ],
    [
        0.0,
        -12.411077166933676,
        30.33818863028232,
        -16.548102889244902,
    ],
    [0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928],
    [
        0.0,
        -27.896526289197286,
        65.09189467479366,
        -34.87065786149661,
    ],
    [0.0, 1.5, -4.0, 2.5],
];

/// The interpolant's weights `b_i(θ)`: `y(t0 + θh) = y0 + h sum_i b_i(θ) k_i`.
pub(crate) fn weights(theta: f64, w: &mut [f64]) {
    for (bi, r) in w.iter_mut().zip(&R) {
        *bi = theta * (r[0] + theta * (r[1] + theta * (r[2] + theta * r[3])));
    }
}
