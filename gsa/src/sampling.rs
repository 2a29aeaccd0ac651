//! Designs on the unit cube (scrambled Sobol', Monte Carlo, Latin hypercube) and Saltelli's
//! A/B/AB_i scheme built from them. Every design is a pure function of its seed.

use crate::error::Error;
use crate::problem::Problem;
use crate::rng::Rng;

/// How points of the unit cube are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sampling {
    /// Owen-scrambled Sobol' points (Joe & Kuo 2008 direction numbers, Burley 2020's hashed
    /// nested-uniform scrambling and index shuffling, from the `sobol_burley` crate): a
    /// randomised quasi-Monte Carlo design, every power-of-two prefix a (t, m, s)-net. At most
    /// 2^16 points and 256 dimensions; the seed is folded to 32 bits (`seed ^ seed >> 32`).
    /// The default.
    #[default]
    Sobol,
    /// Independent uniform points.
    MonteCarlo,
    /// Latin hypercube: each coordinate has exactly one point in each of the `n` equal strata,
    /// at a uniform position inside it; the columns are paired by independent permutations.
    LatinHypercube,
}

/// Most points of the scrambled Sobol' generator.
pub const SOBOL_MAX_POINTS: usize = 1 << 16;
/// Most dimensions of the scrambled Sobol' generator.
pub const SOBOL_MAX_DIMENSIONS: usize = sobol_burley::NUM_DIMENSIONS as usize;

/// One coordinate of the Owen-scrambled Sobol' sequence at full 32-bit resolution (the
/// crate's `sample` rounds to `f32`): the centre of the point's 2^-32 cell, so never 0 or 1.
fn sobol_point(index: u32, dimension: u32, seed: u32) -> f64 {
    use sobol_burley::parts::{hash, owen_scramble_rev, sobol_rev};
    // The same steps as `sobol_burley::sample`, kept as an integer.
    let shuffled_rev_index = owen_scramble_rev(index.reverse_bits(), hash(seed ^ 0x79c6_8e4a));
    let sobol = sobol_rev(shuffled_rev_index, dimension);
    let scramble = {
        let seed = seed.wrapping_mul(0x9c8f_2d3b);
        let ds = dimension >> 2;
        ds ^ seed ^ [0x912f_69ba, 0x174f_18ab, 0x691e_72ca, 0xb40c_c1b8][dimension as usize & 0b11]
    };
    let bits = owen_scramble_rev(sobol, hash(scramble)).reverse_bits();
    (bits as f64 + 0.5) * (1.0 / 4_294_967_296.0)
}

/// `n` points of the unit cube `(0, 1)^d` (rows), drawn by `sampling` for `seed`.
///
/// ```
/// use gsa::{unit_design, Sampling};
///
/// let u = unit_design(8, 2, 1, Sampling::Sobol)?;
/// // one point in each eighth of every axis (a scrambled Sobol' net)
/// let mut cells: Vec<usize> = u.iter().map(|p| (p[0] * 8.0) as usize).collect();
/// cells.sort();
/// assert_eq!(cells, (0..8).collect::<Vec<_>>());
/// # Ok::<(), gsa::Error>(())
/// ```
///
/// # Errors
/// [`Error::SobolLimit`] past 2^16 Sobol' points or 256 dimensions; [`Error::InvalidOption`]
/// for `n = 0` or `d = 0`.
pub fn unit_design(
    n: usize,
    d: usize,
    seed: u64,
    sampling: Sampling,
) -> Result<Vec<Vec<f64>>, Error> {
    if n == 0 || d == 0 {
        return Err(Error::InvalidOption(format!(
            "a design needs at least one point and one dimension (n = {n}, d = {d})"
        )));
    }
    match sampling {
        Sampling::Sobol => {
            if n > SOBOL_MAX_POINTS {
                return Err(Error::SobolLimit {
                    what: "points",
                    got: n,
                    max: SOBOL_MAX_POINTS,
                });
            }
            if d > SOBOL_MAX_DIMENSIONS {
                return Err(Error::SobolLimit {
                    what: "dimensions",
                    got: d,
                    max: SOBOL_MAX_DIMENSIONS,
                });
            }
            let s = (seed ^ (seed >> 32)) as u32;
            Ok((0..n as u32)
                .map(|i| (0..d as u32).map(|j| sobol_point(i, j, s)).collect())
                .collect())
        }
        Sampling::MonteCarlo => {
            let mut rng = Rng::new(seed, 1);
            Ok((0..n)
                .map(|_| (0..d).map(|_| rng.uniform()).collect())
                .collect())
        }
        Sampling::LatinHypercube => {
            let mut rng = Rng::new(seed, 2);
            let mut rows = vec![vec![0.0; d]; n];
            for j in 0..d {
                let perm = rng.permutation(n);
                for (row, &stratum) in rows.iter_mut().zip(&perm) {
                    row[j] = (stratum as f64 + rng.uniform()) / n as f64;
                }
            }
            Ok(rows)
        }
    }
}

/// Saltelli's design for Sobol' indices (Saltelli 2002, 2010), in SALib's row order.
///
/// Two independent `N x k` matrices `A` and `B` (the first and last `k` columns of one
/// `2k`-dimensional design); `AB_i` is `A` with column `i` taken from `B` (and, for second
/// order, `BA_i` is `B` with column `i` from `A`). Base point `j` owns the consecutive rows
/// `A_j, AB_1j, ..., AB_kj, [BA_1j, ..., BA_kj,] B_j`: `N (k + 2)` rows, or `N (2k + 2)` with
/// second order. This is the layout of SALib's `sobol.sample`, so outputs computed elsewhere
/// on such a design can be analysed here ([`crate::analyze_sobol`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SaltelliDesign {
    /// Base sample size `N`.
    pub n: usize,
    /// Number of inputs `k`.
    pub k: usize,
    /// Whether the `BA_i` rows are present.
    pub second_order: bool,
    /// The points on the unit cube, one row per model run.
    pub unit: Vec<Vec<f64>>,
    /// The model inputs (the unit points through the marginals' inverse CDFs).
    pub x: Vec<Vec<f64>>,
}

impl SaltelliDesign {
    /// Rows per base point: `k + 2`, or `2k + 2` with second order.
    pub fn rows_per_base(&self) -> usize {
        rows_per_base(self.k, self.second_order)
    }
}

pub(crate) fn rows_per_base(k: usize, second_order: bool) -> usize {
    if second_order {
        2 * k + 2
    } else {
        k + 2
    }
}

/// Builds Saltelli's design with `n` base points for `problem`.
///
/// ```
/// use gsa::{saltelli, Problem, Sampling};
///
/// let p = Problem::new(&[(0.0, 1.0), (10.0, 20.0)])?;
/// let d = saltelli(&p, 16, 3, Sampling::Sobol, false)?;
/// assert_eq!(d.x.len(), 16 * (2 + 2));
/// let (a, ab1, ab2, b) = (&d.x[0], &d.x[1], &d.x[2], &d.x[3]);
/// assert_eq!((ab1[0], ab1[1]), (b[0], a[1]));
/// assert_eq!((ab2[0], ab2[1]), (a[0], b[1]));
/// # Ok::<(), gsa::Error>(())
/// ```
///
/// # Errors
/// As [`unit_design`] (with `2k` dimensions).
pub fn saltelli(
    problem: &Problem,
    n: usize,
    seed: u64,
    sampling: Sampling,
    second_order: bool,
) -> Result<SaltelliDesign, Error> {
    let k = problem.dim();
    let base = unit_design(n, 2 * k, seed, sampling)?;
    let per = rows_per_base(k, second_order);
    let mut unit = Vec::with_capacity(n * per);
    for row in &base {
        let (a, b) = row.split_at(k);
        unit.push(a.to_vec());
        for i in 0..k {
            let mut ab = a.to_vec();
            ab[i] = b[i];
            unit.push(ab);
        }
        if second_order {
            for i in 0..k {
                let mut ba = b.to_vec();
                ba[i] = a[i];
                unit.push(ba);
            }
        }
        unit.push(b.to_vec());
    }
    let x = unit
        .iter()
        .map(|u| {
            let mut x = vec![0.0; k];
            problem.transform(u, &mut x);
            x
        })
        .collect();
    Ok(SaltelliDesign {
        n,
        k,
        second_order,
        unit,
        x,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambled_sobol_matches_joe_kuo() {
        use sobol_burley::parts::{sobol_rev, u32_to_f32_norm};
        let plain = |i: u32, d: u32| u32_to_f32_norm(sobol_rev(i.reverse_bits(), d).reverse_bits());
        // The first points in natural (not Gray-code) order, x_i = XOR of the direction numbers
        // v_b over the set bits b of i, from Joe & Kuo's published initial numbers: dimension 1
        // v = (1/2, 1/4, 1/8); dimension 2 (s = 1, a = 0, m = 1) v = (1/2, 3/4, 5/8);
        // dimension 3 (s = 2, a = 1, m = (1, 3)) v = (1/2, 3/4, 3/8).
        let d0 = [0.0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875];
        let d1 = [0.0, 0.5, 0.75, 0.25, 0.625, 0.125, 0.375, 0.875];
        let d2 = [0.0, 0.5, 0.75, 0.25, 0.375, 0.875, 0.625, 0.125];
        for i in 0..8 {
            assert_eq!(plain(i, 0), d0[i as usize]);
            assert_eq!(plain(i, 1), d1[i as usize]);
            assert_eq!(plain(i, 2), d2[i as usize]);
        }
    }

    #[test]
    fn the_first_two_sobol_dimensions_form_a_0_m_2_net() {
        // Owen scrambling and Burley's index shuffle keep the net: every elementary box of
        // volume 2^-m holds exactly one of the first 2^m points (t = 0 for dimensions 1-2).
        let m = 10;
        for seed in [0, 7, 123_456_789] {
            let u = unit_design(1 << m, 2, seed, Sampling::Sobol).unwrap();
            for a in 0..=m {
                let mut seen = vec![false; 1 << m];
                for p in &u {
                    let i = (p[0] * (1u64 << a) as f64) as usize;
                    let j = (p[1] * (1u64 << (m - a)) as f64) as usize;
                    let cell = (i << (m - a)) | j;
                    assert!(
                        !seen[cell],
                        "seed {seed}: box 2^-{a} x 2^-{} holds two points",
                        m - a
                    );
                    seen[cell] = true;
                }
            }
        }
    }

    #[test]
    fn designs_are_stratified_and_deterministic() {
        for s in [Sampling::Sobol, Sampling::LatinHypercube] {
            let u = unit_design(64, 5, 11, s).unwrap();
            for j in 0..5 {
                let mut cells: Vec<usize> = u.iter().map(|p| (p[j] * 64.0) as usize).collect();
                cells.sort_unstable();
                assert_eq!(cells, (0..64).collect::<Vec<_>>(), "{s:?} column {j}");
            }
            assert_eq!(u, unit_design(64, 5, 11, s).unwrap());
            assert_ne!(u, unit_design(64, 5, 12, s).unwrap());
        }
        assert!(matches!(
            unit_design(SOBOL_MAX_POINTS + 1, 2, 0, Sampling::Sobol),
            Err(Error::SobolLimit { .. })
        ));
        assert!(matches!(
            unit_design(4, 257, 0, Sampling::Sobol),
            Err(Error::SobolLimit { .. })
        ));
        assert!(unit_design(0, 2, 0, Sampling::MonteCarlo).is_err());
    }
}
